"""cacheable-call: an app function is called again and again with the same arguments and
returns the same result each time, at a real cost: a candidate for a cache."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from perfaudit.analysis.context import (
    WAITING_BUILTINS,
    AnalysisContext,
    RouteView,
    app_attributions,
    app_caller,
)
from perfaudit.analysis.findings import HOTSPOT_GRADES, Finding, Gain, Grading
from perfaudit.analysis.groups import slow_by_design
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import display_function
from perfaudit.analysis.setups import setup_sites
from perfaudit.model import CallEvidence, CallRecord, FunctionId, FunctionStats, RouteProfile

MIN_REPEAT_RATIO = 0.5
MIN_REPEATS = 5
# I/O under a function means its result can change behind its arguments (a file, a
# database, a remote service), or that it is run for its effects: not a pure function.
MAX_IO_SHARE = 0.2
IO_CALLS = (*WAITING_BUILTINS, "_io.", "io.open", "sqlite3.", "_sqlite3.", "posix.")
# A callee that keeps this much of its caller's time, called about as often, is the
# narrower thing to cache (tariff_table under price_for), not a helper in a loop.
NARROWER_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Candidate:
    record: CallRecord  # the tracer's repeats
    stats: FunctionStats  # the profile's cost
    share: float  # of the route's time, callees included: what a cache hit saves


class CacheableCall:
    id = "cacheable-call"
    needs = Needs(in_process="needs the calls' argument fingerprints, traced in-process")
    title = "The same call repeats with the same arguments and result"
    explanation = (
        "An app function is called again with arguments it has already seen, returns the "
        "same result each time, and takes a real share of the route's time. A short traced "
        "phase fingerprints each call's arguments and result (a hash of a bounded repr; no "
        "value is kept); the profiled phase gives the function's share of the route. It is "
        "a candidate: the test's inputs may repeat more than production's, so check that "
        "the result depends only on the arguments. Never suggested for password hashing or "
        "key derivation (slow on purpose), for functions taking a request, session or "
        "connection, for functions doing I/O, or when the same arguments gave different "
        "results.\n\n"
        "Example: `rate_table(region, carrier)` builds a 2,000-row rate table on every GET "
        "/quotes, called 40 times over 20 requests with 2 distinct argument sets (95% "
        "repeats), the same table each time: 85% of the route. Decorate it with "
        "`@functools.lru_cache(maxsize=128)`; use `cachetools.TTLCache` if the rates change, "
        "Redis if several workers must share them, and clear the cache when they change."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            calls = view.evidence.calls if view.evidence else None
            profile = view.profile
            if calls is None or profile is None or profile.request_time_s <= 0:
                continue
            candidates = candidates_in(view, calls, profile)
            if candidates:
                finding = self._finding(ctx, view, calls, narrowest(candidates, profile))
                if finding is not None:
                    yield finding

    def _finding(
        self, ctx: AnalysisContext, view: RouteView, calls: CallEvidence, chosen: Candidate
    ) -> Finding | None:
        profile, record, share = view.profile, chosen.record, chosen.share
        assert profile is not None
        cost_ms = view.share_ms(share)  # at stake per request
        # cpu-hotspot's grades: never lower than that finding at the same function, which
        # this one must be able to supersede.
        grading = Grading(share, cost_ms, HOTSPOT_GRADES)
        severity = grading.severity
        if severity is None:
            return None
        ratio = repeat_ratio(record)
        location = ctx.location(chosen.stats.function)
        name = location.function
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"{name}() is a caching candidate in {view.route}: {ratio:.0%} of its calls "
            f"repeat earlier arguments, with the same result ({share:.0%} of the route's time)",
            route=str(view.route),
            location=location,
            evidence={
                "calls": record.calls,
                "calls_per_request": round(
                    view.calls_per_request(chosen.stats) or record.calls / calls.requests, 2
                ),
                "distinct_args": record.distinct_args,
                "repeat_ratio": round(ratio, 3),
                "same_result": "yes",
                "share_of_route_time": round(share, 4),
                "ms_per_call": round(cost_ms * profile.requests / chosen.stats.calls, 3),
                "ms_per_request": round(cost_ms, 3),
                "traced_requests": calls.requests,
                "profiled_requests": profile.requests,
            },
            suggestion=_suggestion(name, location.line, record),
            estimated_gain=Gain(
                latency_ms=round(cost_ms * ratio, 3), share=round(share * ratio, 4)
            ),
            impact=share * ratio,
            confidence=0.8,
            # The same function's cpu-hotspot says "cache it if it repeats": this says it does.
            supersedes=("cpu-hotspot",),
        )


def candidates_in(view: RouteView, calls: CallEvidence, profile: RouteProfile) -> list[Candidate]:
    """App functions that repeat with the same results and pass every guard, costliest
    first."""
    endpoint = view.probe.endpoint if view.probe else None
    by_id = {fn.function: fn for fn in profile.functions}
    # per-request-setup names a settings object or a template built per request better.
    explained = {site.caller for site in setup_sites(profile)}
    # cpu-hotspot's measure of the same function: never below it (3.12's cProfile, one
    # for all threads, can under-count a worker thread's cumulative time).
    attributed = {a.function.function: a.time_s for a in app_attributions(profile)}
    io = time_under(profile, _does_io)
    slow = time_under(profile, slow_by_design)
    found = []
    for record in calls.functions:
        fid = FunctionId(record.function.file, record.function.line, record.function.function)
        stats = by_id.get(fid)
        if stats is None or record.function == endpoint or fid in explained:
            continue  # unprofiled, or the endpoint itself (the route is what repeats)
        cost_s = max(stats.cumulative_s, attributed.get(fid, 0.0))
        hashes = slow.get(fid, 0.0) > 0 or slow_by_design(fid)
        does_io = io.get(fid, 0.0) > MAX_IO_SHARE * cost_s
        if cost_s > 0 and repeats(record) and not hashes and not does_io:
            found.append(Candidate(record, stats, min(cost_s / profile.request_time_s, 1.0)))
    return sorted(found, key=lambda c: c.share, reverse=True)


def repeats(record: CallRecord) -> bool:
    """Called again with seen arguments, always with the result first seen, returning a
    value (a function returning None runs for its effects), taking no per-request state."""
    return (
        record.same_result
        and not record.returns_none
        and not record.context_args
        and record.repeated_calls >= MIN_REPEATS
        and repeat_ratio(record) >= MIN_REPEAT_RATIO
    )


def repeat_ratio(record: CallRecord) -> float:
    fingerprinted = record.fingerprinted_calls or record.calls
    return record.repeated_calls / fingerprinted if fingerprinted else 0.0


def narrowest(candidates: list[Candidate], profile: RouteProfile) -> Candidate:
    """The costliest candidate, or a candidate under it that holds most of its time and is
    called about as often: the narrower cache (its arguments are simpler)."""
    chosen = candidates[0]
    for other in candidates[1:]:
        if (
            other.share >= NARROWER_SHARE * chosen.share
            and other.record.calls <= 2 * chosen.record.calls
            and chosen.stats.function in app_chain(profile, other.stats.function)
        ):
            chosen = other
    return chosen


def time_under(
    profile: RouteProfile, matches: Callable[[FunctionId], bool]
) -> dict[FunctionId, float]:
    """Seconds spent in matching functions, credited to every app function above them."""
    credit: dict[FunctionId, float] = defaultdict(float)
    for fn in profile.functions:
        if matches(fn.function):
            for above in app_chain(profile, fn.function):
                credit[above] += fn.cumulative_s
    return credit


def app_chain(profile: RouteProfile, function: FunctionId) -> list[FunctionId]:
    """The app functions above `function`, nearest first, along the heaviest caller edges
    (not every edge: on 3.12 one cProfile watches all threads, and the threads' calls
    interleaving leave light, spurious edges between them)."""
    chain: list[FunctionId] = []
    above = app_caller(profile, function)
    while above is not None and above not in chain:
        chain.append(above)
        above = app_caller(profile, above)
    return chain


def _does_io(function: FunctionId) -> bool:
    return function.file == "~" and display_function(function.name).startswith(IO_CALLS)


def _suggestion(name: str, line: int, record: CallRecord) -> str:
    ratio = repeat_ratio(record)
    seen = (
        f"{name}() (line {line}) ran {record.calls} times with {record.distinct_args} distinct "
        f"argument set(s), {ratio:.0%} of them repeats, and returned the same result for the "
        "same arguments: a caching candidate (production inputs may repeat less than the "
        "test's). If its result depends only on its arguments, "
    )
    return (
        seen
        + _how(name, record)
        + ". When the data behind it changes, use `cachetools.TTLCache(maxsize=…, ttl=…)` "
        "with `@cachetools.cached(cache)`; when several workers must share it, Redis with an "
        "expiry. Invalidate it when its source changes, and never cache per-user or "
        "must-be-fresh data." + _not_compared(record)
    )


def _how(name: str, record: CallRecord) -> str:
    if record.coroutine:
        return (
            "cache the awaited result, not the coroutine (`functools.lru_cache` on an "
            "`async def` caches a coroutine that can be awaited only once): async-lru's "
            "`@alru_cache(maxsize=…)`, or a dict keyed by the arguments"
        )
    maxsize = 1 << max(7, (record.distinct_args * 4 - 1).bit_length())
    how = (
        f"decorate it with `@functools.lru_cache(maxsize={maxsize})` (size it to the number "
        f"of distinct inputs in production; `{name}.cache_clear()` empties it)"
    )
    if record.unhashable_args:
        args = ", ".join(record.unhashable_args)
        how += (
            f"; lru_cache needs hashable arguments and {args} is not: pass a tuple or a frozen "
            "model, or use `cachetools.cached(cache, key=…)`"
        )
    return how


def _not_compared(record: CallRecord) -> str:
    if not record.opaque_args:
        return ""
    args = ", ".join(record.opaque_args)
    return f" ({args} could not be compared between calls: a cache would key on identity.)"


RULE = CacheableCall()
