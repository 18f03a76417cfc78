"""Where request time goes, per function, from the profiled phase.

Shares are of the profiled request time (requests ran one at a time). perfaudit's own
frames and the event loop's idle waits are left out, as pyinstrument leaves out its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from perfaudit.analysis.paths import display_function, display_path
from perfaudit.model import FunctionId, FunctionStats, RouteProfile

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
    calls_per_request: float
    route: str | None = None


def route_hotspots(profile: RouteProfile, app_root: str) -> list[Hotspot]:
    def requests_of(_: FunctionStats) -> int:
        return profile.requests

    return _hotspots(
        profile.functions, profile.request_time_s, requests_of, app_root, str(profile.route)
    )


def overall_hotspots(profiles: Iterable[RouteProfile], app_root: str) -> list[Hotspot]:
    """All routes together: each function's time summed over every route's profile, and
    its calls per request counted over the routes it ran in."""
    profiles = list(profiles)
    merged: dict[FunctionId, FunctionStats] = {}
    requests_seen: dict[FunctionId, int] = defaultdict(int)
    for profile in profiles:
        for fn in profile.functions:
            old = merged.get(fn.function)
            merged[fn.function] = fn if old is None else old.merged_with(fn)
            requests_seen[fn.function] += profile.requests

    def requests_of(fn: FunctionStats) -> int:
        return requests_seen[fn.function]

    request_time = sum(p.request_time_s for p in profiles)
    return _hotspots(merged.values(), request_time, requests_of, app_root, None)


def _hotspots(
    functions: Iterable[FunctionStats],
    request_time_s: float,
    requests_of: Callable[[FunctionStats], int],
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
            calls_per_request=fn.calls / max(requests_of(fn), 1),
            route=route,
        )
        for fn in shown
    ]
