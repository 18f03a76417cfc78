"""What rules read: the session, joined per route with its statistics and profile."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from perfaudit.analysis.paths import display_function, display_path
from perfaudit.analysis.stats import LatencySummary
from perfaudit.model import (
    NESTED_CODE,
    CallEvidence,
    CodeLocation,
    FunctionId,
    FunctionStats,
    RouteDeclaration,
    RouteEvidence,
    RouteKey,
    RouteMeasurement,
    RouteMemory,
    RouteProbe,
    RouteProfile,
    Session,
)

IGNORED_OWNERS = frozenset({"perfaudit", "idle"})


@dataclass(frozen=True, slots=True)
class Attribution:
    """An app function and the time it is responsible for: its own, plus that of the
    library, framework and standard-library functions it calls directly."""

    function: FunctionStats
    time_s: float
    callees: tuple[
        tuple[FunctionStats, float], ...
    ]  # (callee, time from this caller), largest first


@dataclass(frozen=True)
class RouteView:
    route: RouteKey
    measurement: RouteMeasurement | None
    profile: RouteProfile | None
    probe: RouteProbe | None = None
    evidence: RouteEvidence | None = None
    declaration: RouteDeclaration | None = None
    memory: RouteMemory | None = None  # the route's memory phase

    @property
    def endpoint_async(self) -> bool | None:
        """`async def` (True), `def` (False), or unknown (None): the route table's, else the
        probe's."""
        if self.declaration is not None:
            return self.declaration.endpoint_async
        return self.probe.endpoint_async if self.probe else None

    @cached_property
    def latency(self) -> LatencySummary | None:
        return LatencySummary.of(self.measurement.durations_s) if self.measurement else None

    @property
    def throughput_rps(self) -> float:
        m = self.measurement
        return m.requests / m.wall_s if m and m.wall_s > 0 else 0.0

    def app_attributions(self) -> list[Attribution]:
        return app_attributions(self.profile) if self.profile else []

    def calls_per_request(self, fn: FunctionStats) -> float | None:
        """How often `fn` ran per profiled request. A coroutine's or generator's every
        resumption is a call to cProfile (an endpoint awaiting 22 times: "23 calls"): for
        those the calls phase's count of its starts, else None (not known)."""
        return calls_per_request(fn, self.profile, self.evidence.calls if self.evidence else None)

    def share_ms(self, share: float) -> float:
        """What a share of the route's work costs each request, in ms: that share of the
        mean latency measured without the profiler, at most of the time a request took in
        the profiled phase (one at a time): under concurrency the latency also holds the
        time requests queued behind each other, which is no work of theirs. (A sampled
        profile's time per request served caps it the same way: a function seen in 3
        samples among 4,000 requests costs microseconds, not the whole latency.) Every
        rule's "up to N ms per request" comes from here, so two findings about the same
        time state the same figure."""
        bounds = []
        if self.latency is not None:
            bounds.append(self.latency.mean)
        profile = self.profile
        if profile is not None and profile.requests > 0 and profile.request_time_s > 0:
            bounds.append(profile.request_time_s / profile.requests * 1000)
        return min(max(share, 0.0), 1.0) * min(bounds) if bounds else 0.0

    def cost_ms(self, time_s: float) -> float:
        """What `time_s` of the route's profiled time costs each request, in ms."""
        profile = self.profile
        if profile is None or self.latency is None or profile.request_time_s <= 0:
            return 0.0
        return self.share_ms(time_s / profile.request_time_s)


class AnalysisContext:
    def __init__(self, session: Session) -> None:
        self.session = session
        measurements = {m.route: m for m in session.measurements}
        profiles = {p.route: p for p in session.profiles}
        probes = {p.route: p for p in session.probes}
        evidence = {e.route: e for e in session.evidence}
        declared = {d.route: d for d in session.declarations}
        memory = {m.route: m for m in session.memory}
        keys = list(dict.fromkeys([*measurements, *profiles, *probes, *evidence]))
        self.routes = [
            RouteView(
                key,
                measurements.get(key),
                profiles.get(key),
                probes.get(key),
                evidence.get(key),
                declared.get(key),
                memory.get(key),
            )
            for key in keys
        ]

    def location(self, function: FunctionId) -> CodeLocation:
        return CodeLocation(
            file=display_path(function.file, self.session.app_root),
            line=function.line,
            function=display_function(function.name),
        )


def app_attributions(profile: RouteProfile) -> list[Attribution]:
    app = {fn.function: fn for fn in profile.functions if fn.owner == "app"}
    callees: dict[FunctionId, list[tuple[FunctionStats, float]]] = defaultdict(list)
    for fn in profile.functions:
        if fn.owner == "app" or fn.owner in IGNORED_OWNERS:
            continue
        for edge in fn.callers:
            if edge.caller in app and edge.cumulative_s > 0:
                callees[edge.caller].append((fn, edge.cumulative_s))
    times = {fid: fn.self_s + sum(t for _, t in callees[fid]) for fid, fn in app.items()}
    for fid in [f for f in app if f.name in NESTED_CODE]:
        parent = _enclosing_app_caller(app[fid], app)
        if parent is not None:
            times[parent] += times.pop(fid)
            callees[parent] += callees.pop(fid, [])
    result = [
        Attribution(
            app[fid], time_s, tuple(sorted(callees[fid], key=lambda pair: pair[1], reverse=True))
        )
        for fid, time_s in times.items()
    ]
    result.sort(key=lambda a: a.time_s, reverse=True)
    return result


def _enclosing_app_caller(
    fn: FunctionStats, app: dict[FunctionId, FunctionStats]
) -> FunctionId | None:
    """A comprehension or lambda belongs to the app function that calls it (on 3.11 a list
    comprehension is its own code object; 3.12 inlines it)."""
    callers = [
        edge for edge in fn.callers if edge.caller in app and edge.caller.name not in NESTED_CODE
    ]
    return max(callers, key=lambda edge: edge.cumulative_s).caller if callers else None


def calls_per_request(
    fn: FunctionStats, profile: RouteProfile | None, calls: CallEvidence | None
) -> float | None:
    """RouteView.calls_per_request, for a route's profile and calls phase."""
    if profile is None or profile.requests == 0:
        return None
    if not fn.resumable:
        return fn.calls / profile.requests
    if calls is None or calls.requests == 0:
        return None
    record = next(
        (
            r
            for r in calls.functions
            if r.function.file == fn.function.file and r.function.function == fn.function.name
        ),
        None,
    )
    return record.calls / calls.requests if record else None


def app_caller(profile: RouteProfile, function: FunctionId) -> FunctionId | None:
    """The nearest app function up the call graph (following the heaviest caller edge),
    e.g. the app's `fetch_rate` above httpx's `__init__` above `ssl.create_default_context`.
    A comprehension or lambda is passed through to the function that holds it: that is
    what a user can change (and what `--verify` can patch)."""
    by_id = {fn.function: fn for fn in profile.functions}
    current, seen = function, set()
    while current not in seen:
        seen.add(current)
        fn = by_id.get(current)
        if fn is None or not fn.callers:
            return None
        edge = max(fn.callers, key=lambda e: e.cumulative_s)
        caller = by_id.get(edge.caller)
        if caller is not None and caller.owner == "app" and edge.caller.name not in NESTED_CODE:
            return caller.function
        current = edge.caller
    return None


# Built-ins in which a thread waits rather than computes (sleeping, sockets, locks, child
# processes): time there is a request's, but no CPU hotspot.
WAITING_BUILTINS = (
    "time.sleep",
    "_socket.socket.",
    "_ssl._SSLSocket.",
    "select.",
    "_thread.lock.acquire",
    "_thread.RLock.acquire",
    "posix.waitpid",
    "_posixsubprocess.",
)


def waiting_by_app_function(profile: RouteProfile) -> dict[FunctionId, float]:
    """Seconds each app function spent (through any depth of library calls) in built-ins
    that wait, credited to the nearest app function above them."""
    app = {fn.function: fn for fn in profile.functions if fn.owner == "app"}
    waiting: dict[FunctionId, float] = defaultdict(float)
    for fn in profile.functions:
        if fn.function.file == "~" and display_function(fn.function.name).startswith(
            WAITING_BUILTINS
        ):
            caller = app_caller(profile, fn.function)
            if caller is not None and caller.name in NESTED_CODE:
                caller = (
                    _enclosing_app_caller(app[caller], app) or caller
                )  # as attributions fold it
            if caller is not None:
                waiting[caller] += fn.self_s
    return waiting
