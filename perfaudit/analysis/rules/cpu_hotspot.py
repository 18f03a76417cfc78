"""cpu-hotspot: an app function dominates a route's time and no narrower rule explains it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis.context import (
    AnalysisContext,
    Attribution,
    RouteView,
    waiting_by_app_function,
)
from perfaudit.analysis.findings import HOTSPOT_GRADES, Finding, Gain, Grading, Severity
from perfaudit.analysis.groups import slow_by_design
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import display_function
from perfaudit.analysis.per_request_state import per_request_state
from perfaudit.analysis.sampling import PROFILER as SAMPLED
from perfaudit.analysis.statements import server_time_by_function
from perfaudit.model import CodeLocation, FunctionStats


class CpuHotspot:
    id = "cpu-hotspot"
    needs = Needs(latency="needs each route's latency: drive load at the server (with --app)")
    title = "An app function dominates the route's time"
    explanation = (
        "One function of your app (with the library calls it makes directly) takes a large "
        "share of a route's request time in the profiled phase. The estimated gain is that "
        "share of the latency measured without the profiler.\n\n"
        "Example: `tariff_table()` rebuilds a price table on every GET /quote/{sku}: 70% of "
        "the route's time. Cache it with functools.lru_cache, build it once at startup, or "
        "make it cheaper. A password hash (pbkdf2, bcrypt, argon2, scrypt) is slow on "
        "purpose: perfaudit never suggests caching it, only moving it off the event loop."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            finding = self._check_route(ctx, view)
            if finding is not None:
                yield finding

    def _check_route(self, ctx: AnalysisContext, view: RouteView) -> Finding | None:
        attributions = view.app_attributions()
        if not attributions or view.profile is None or view.latency is None:
            return None
        if view.profile.request_time_s <= 0:
            return None
        waiting = waiting_by_app_function(view.profile)
        on_server = server_time_by_function(view)

        def busy(a: Attribution) -> float:
            fid = a.function.function
            return a.time_s - waiting.get(fid, 0.0) - on_server.get((fid.file, fid.name), 0.0)

        top = max(attributions, key=busy)
        busy_s = busy(top)
        # Time spent sleeping or waiting on a socket is no CPU hotspot: event-loop-blocked
        # and threadpool-saturation say what that waiting costs.
        share = min(max(busy_s, 0.0) / view.profile.request_time_s, 1.0)
        gain_ms = view.cost_ms(max(busy_s, 0.0))
        grading = Grading(share, gain_ms, HOTSPOT_GRADES)
        severity = grading.severity
        if severity is None:
            return None
        calls_per_request = view.calls_per_request(top.function)
        name = display_function(top.function.function.name)
        location = ctx.location(top.function.function)
        evidence: dict[str, float | int | str] = {
            "share_of_route_time": round(share, 4),
            "ms_per_request": round(gain_ms, 3),
            "calls_per_request": round(calls_per_request or 0.0, 2),
            "self_share": round(top.function.self_s / view.profile.request_time_s, 4),
            "profiled_requests": view.profile.requests,
            "route_mean_ms": round(view.latency.mean, 3),
        }
        if view.profile.profiler == SAMPLED or calls_per_request is None:  # not counted
            del evidence["calls_per_request"]
            evidence["profiler"] = SAMPLED
        if top.callees:
            callee, callee_time = top.callees[0]
            evidence["top_callee"] = display_function(callee.function.name)
            evidence["top_callee_share"] = round(callee_time / view.profile.request_time_s, 4)
        state = _per_request_state(view, top.function)
        if state:
            evidence["takes"] = state
        by_design = bool(top.callees) and slow_by_design(top.callees[0][0].function)
        gain = None if by_design else Gain(latency_ms=round(gain_ms, 3), share=round(share, 4))
        facts = _Facts(name, location.line, calls_per_request, view.endpoint_async, state)
        return Finding(
            id=self.id,
            # Slow on purpose: nothing to remove, only to keep off the loop and budget.
            severity=min(severity, Severity.LOW) if by_design else severity,
            grading=grading,
            title=f"{name}() takes {share:.0%} of {view.route} ({gain_ms:.1f} ms per request)",
            route=str(view.route),
            location=location,
            evidence=evidence,
            suggestion=_suggestion(
                top, facts, view.profile.request_time_s, _callee_label(ctx, top)
            ),
            estimated_gain=gain,
            impact=share,
            confidence=0.8,
        )


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the advice must fit: the function, and what the run knows of its route."""

    name: str
    line: int
    calls_per_request: float | None  # None: a coroutine whose starts were not counted
    endpoint_async: bool | None  # the route's endpoint: `async def`, `def`, or unknown
    state: str  # a parameter holding per-request state ("db: Session"), or ""


def _per_request_state(view: RouteView, function: FunctionStats) -> str:
    """A parameter of per-request state: from the source (the profile), or from the calls
    phase, which saw the arguments' types."""
    found = per_request_state(function.params)
    calls = view.evidence.calls if view.evidence else None
    if found is None and calls is not None:
        record = next((r for r in calls.functions if _same(r.function, function)), None)
        found = record.context_args[0] if record and record.context_args else None
    return found or ""


def _same(location: CodeLocation, function: FunctionStats) -> bool:
    fid = function.function
    return location.file == fid.file and location.function == fid.name


def _callee_suggestion(
    top: Attribution, facts: _Facts, total_s: float, callee_label: str
) -> str | None:
    """Advice about the one callee that takes most of the function's time, if one does."""
    if not top.callees:
        return None
    name, line = facts.name, facts.line
    callee, callee_time = top.callees[0]
    if slow_by_design(callee.function):
        return _by_design(name, display_function(callee.function.name), facts.endpoint_async)
    if callee_time < 0.6 * top.time_s:
        return None
    where = (
        f"Most of {name}()'s time is in {callee_label} ({callee_time / total_s:.0%} of "
        f"the route), called near line {line}"
    )
    if _commits(callee):  # a write's durability: no rows to fetch fewer of
        return f"{where}: {COMMIT_ADVICE}" + _not_cacheable(name, facts.state)
    if facts.state:  # a session's query: less data per request, not fewer calls
        return (
            f"{where}: fetch fewer rows (paginate) and only the columns the response "
            "needs, and convert each row once (not into a model and then again into the "
            "response model)." + _not_cacheable(name, facts.state)
        )
    return (
        f"{where}: call it less often (once per request, or once at startup in the "
        "lifespan), cache its result if the inputs repeat (functools.lru_cache), or "
        "pass it less data."
    )


def _callee_label(ctx: AnalysisContext, top: Attribution) -> str:
    """The top callee as a reader can find it: `all` alone says little, `all() of
    sqlalchemy/orm/query.py` says it is SQLAlchemy's Query.all."""
    if not top.callees:
        return ""
    callee = top.callees[0][0]
    name = display_function(callee.function.name)
    if callee.function.file == "~":
        return name
    return f"{name}() of {ctx.location(callee.function).file}"


def _suggestion(top: Attribution, facts: _Facts, total_s: float, callee_label: str) -> str:
    name, line = facts.name, facts.line
    by_callee = _callee_suggestion(top, facts, total_s, callee_label)
    if by_callee:
        return by_callee
    if facts.calls_per_request is not None and facts.calls_per_request >= 2:
        return (
            f"{name}() runs {facts.calls_per_request:.0f} times per request: hoist the repeated "
            "work out of the loop that calls it, or compute it once per request and reuse the "
            "result."
        )
    if facts.state:
        return (
            f"Make the work near line {line} cheaper: fetch fewer rows (paginate) and only the "
            "columns the response needs, and convert each row once (not into a model and then "
            "again into the response model)." + _not_cacheable(name, facts.state)
        )
    return (
        f"If {name}()'s result depends only on its arguments, cache it (functools.lru_cache; "
        "cachetools.TTLCache when the data changes; Redis when several workers must share it; "
        "invalidate when the source changes). If it can be computed once, build it in the "
        f"lifespan startup. Otherwise make the work near line {line} cheaper."
    )


# A commit writes the transaction out (on SQLite, syncs the file to disk): "fetch fewer
# rows" was the advice for fastapi-crud-sync's one-row insert, whose time was its commit.
COMMIT_ADVICE = (
    "a commit writes the transaction to the database and waits until it is durable (on "
    "SQLite, a sync of the file to disk). One commit per write request is what the write "
    "costs: group a request's writes into one transaction rather than committing each, and "
    "on SQLite use write-ahead logging (`PRAGMA journal_mode=WAL` with `PRAGMA "
    "synchronous=NORMAL`), which syncs far less often."
)


def _commits(callee: FunctionStats) -> bool:
    return display_function(callee.function.name).rsplit(".", 1)[-1] in ("commit", "flush")


def _not_cacheable(name: str, state: str) -> str:
    if not state:
        return ""
    return f" Do not cache {name}(): it takes `{state}`, per-request state its result depends on."


def _by_design(name: str, callee: str, endpoint_async: bool | None) -> str:
    said = (
        f"{name}() spends its time in {callee}, which is slow on purpose (a password hash or "
        "key derivation): never cache it, and there is nothing to remove."
    )
    if endpoint_async is False:
        return (
            f"{said} The route is `def`, so it already runs in the threadpool and holds a "
            "worker thread, not the event loop: budget its cost per login (rate-limit the "
            "route; keep the hash's work factor at the recommended level, not above)."
        )
    return (
        f"{said} Keep it off the event loop: make the route `def` or call it through "
        "`await anyio.to_thread.run_sync(...)`, and budget its cost per login."
    )


RULE = CpuHotspot()
