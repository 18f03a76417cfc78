"""Where request time goes, per function, from the profiled phase.

Shares are of the profiled request time (requests ran one at a time). perfaudit's own
frames and the event loop's idle waits are left out, as pyinstrument leaves out its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from perfaudit.analysis.context import calls_per_request
from perfaudit.analysis.paths import display_function, display_path
from perfaudit.model import CallEvidence, FunctionId, FunctionStats, RouteKey, RouteProfile

SHOWN_OWNERS = frozenset({"app", "framework", "library", "stdlib"})


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    file: str
    line: int
    owner: str
    self_share: float
    cumulative_share: float
    calls: int
    calls_per_request: float | None  # None: a coroutine's starts, not counted
    route: str | None = None


CallsPhases = dict[RouteKey, CallEvidence]  # each route's calls phase, where one ran


def route_hotspots(
    profile: RouteProfile, app_root: str, calls: CallEvidence | None = None
) -> list[Hotspot]:
    def per_request(fn: FunctionStats) -> float | None:
        return calls_per_request(fn, profile, calls)

    return _hotspots(
        profile.functions, profile.request_time_s, per_request, app_root, str(profile.route)
    )


def overall_hotspots(
    profiles: Iterable[RouteProfile], app_root: str, calls: CallsPhases | None = None
) -> list[Hotspot]:
    """All routes together: each function's time summed over every route's profile, and
    its calls per request counted over the routes it ran in."""
    profiles = list(profiles)
    merged: dict[FunctionId, FunctionStats] = {}
    requests_seen: dict[FunctionId, int] = defaultdict(int)
    runs: dict[FunctionId, list[float | None]] = defaultdict(list)  # calls, per route
    for profile in profiles:
        for fn in profile.functions:
            old = merged.get(fn.function)
            merged[fn.function] = fn if old is None else old.merged_with(fn)
            requests_seen[fn.function] += profile.requests
            each = calls_per_request(fn, profile, (calls or {}).get(profile.route))
            runs[fn.function].append(None if each is None else each * profile.requests)

    def per_request(fn: FunctionStats) -> float | None:
        counted = runs[fn.function]
        if None in counted:
            return None
        return sum(c for c in counted if c is not None) / max(requests_seen[fn.function], 1)

    request_time = sum(p.request_time_s for p in profiles)
    return _hotspots(merged.values(), request_time, per_request, app_root, None)


def _hotspots(
    functions: Iterable[FunctionStats],
    request_time_s: float,
    per_request: Callable[[FunctionStats], float | None],
    app_root: str,
    route: str | None,
) -> list[Hotspot]:
    if request_time_s <= 0:
        return []
    shown = [fn for fn in functions if fn.owner in SHOWN_OWNERS and fn.self_s > 0]
    shown.sort(key=lambda fn: fn.self_s, reverse=True)
    return [
        Hotspot(
            function=display_function(fn.function.name),
            file=display_path(fn.function.file, app_root),
            line=fn.function.line,
            owner=fn.owner,
            self_share=min(fn.self_s / request_time_s, 1.0),
            cumulative_share=min(fn.cumulative_s / request_time_s, 1.0),
            calls=fn.calls,
            calls_per_request=per_request(fn),
            route=route,
        )
        for fn in shown
    ]
