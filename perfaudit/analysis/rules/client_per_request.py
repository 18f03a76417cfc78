"""client-per-request: an HTTP client, DB engine or connection is built for every request
instead of once, paying its setup (an SSL context alone costs tens of milliseconds) and
losing connection reuse."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.constructors import CONSTRUCTORS, Constructor
from perfaudit.analysis.context import AnalysisContext, RouteView, app_caller
from perfaudit.analysis.findings import Finding, Gain, Grades, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.model import FunctionStats, RouteProfile

MIN_CALLS_PER_REQUEST = 0.5
# Below both, building it costs nothing worth a finding (SQLite's connect: microseconds).
MIN_SHARE = 0.01
MIN_MS = 0.5
# (severity, minimum share of route time, minimum ms per request)
GRADES: Grades = ((Severity.HIGH, 0.3, 0.0), (Severity.MEDIUM, 0.05, 0.0), (Severity.LOW, 0.0, 0.0))
SQLALCHEMY_NULLPOOL = (
    "the engine is built once, but its pool connects anew on every checkout: SQLAlchemy's "
    "NullPool, the default for a file SQLite database before SQLAlchemy 2.0 (and what "
    "`poolclass=NullPool` asks for). Pass `poolclass=QueuePool` (with SQLite, "
    '`connect_args={"check_same_thread": False}`) to create_engine, or move to SQLAlchemy '
    "2.0, which pools file SQLite connections by default"
)


class ClientPerRequest:
    id = "client-per-request"
    needs = Needs(in_process="needs calls per request, which samples do not count")
    title = "A client, engine or connection is built on every request"
    explanation = (
        "Building an HTTP client (httpx, aiohttp, requests), a database engine or a connection "
        "costs setup on every call — `httpx.AsyncClient()` loads an SSL context, ~40 ms — and "
        "throws away its connection pool, so every request also pays a new TCP (and TLS) "
        "handshake. The profiled phase counts the constructor calls per request, their time, "
        "and the app function that makes them.\n\n"
        "Example: `fetch_rate` does `async with httpx.AsyncClient() as client:` on every GET "
        "/rates/{currency}: 1 construction per request, 35% of the route's time. Create one "
        "AsyncClient in the lifespan and reuse it."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.profile is None or view.profile.requests == 0:
                continue
            seen: set[str] = set()
            for constructor, fn in _constructor_calls(view.profile):
                if constructor.label not in seen:
                    seen.add(constructor.label)
                    finding = self._finding(ctx, view, constructor, fn)
                    if finding is not None:
                        yield finding

    def _finding(
        self, ctx: AnalysisContext, view: RouteView, constructor: Constructor, fn: FunctionStats
    ) -> Finding | None:
        profile = view.profile
        assert profile is not None
        per_request = fn.calls / profile.requests
        if per_request < MIN_CALLS_PER_REQUEST or profile.request_time_s <= 0:
            return None
        share = min(fn.cumulative_s / profile.request_time_s, 1.0)
        gain_ms = view.share_ms(share)
        if share < MIN_SHARE and gain_ms < MIN_MS:
            return None  # a construction per request that costs nothing measurable
        caller = app_caller(profile, fn.function)
        location = ctx.location(caller) if caller else None
        where = f"{location.function}()" if location else "the app"
        grading = Grading(share, gain_ms, GRADES)
        advice = SQLALCHEMY_NULLPOOL if _by_sqlalchemy_pool(fn) else constructor.advice
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.LOW,
            grading=grading,
            title=f"{where} builds a new {constructor.label} on every request to {view.route} "
            f"({per_request:.1f} per request, {share:.0%} of its time)",
            route=str(view.route),
            location=location,
            evidence={
                "constructor": constructor.label,
                "constructions_per_request": round(per_request, 2),
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                "profiled_requests": profile.requests,
            },
            suggestion=f"In {where}: {advice}.",
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.9,
            # Building a client is synchronous (an SSL context is CPU work): when it blocks
            # the loop, this finding's fix is that one's too.
            supersedes=("cpu-hotspot", "event-loop-blocked"),
        )


def _by_sqlalchemy_pool(fn: FunctionStats) -> bool:
    """SQLAlchemy's pool made the connection (its NullPool connects on every checkout):
    the app already builds its engine once, so "open a pool at startup" would be wrong."""
    return any("/sqlalchemy/pool/" in edge.caller.file for edge in fn.callers)


def _constructor_calls(profile: RouteProfile) -> Iterator[tuple[Constructor, FunctionStats]]:
    for fn in sorted(profile.functions, key=lambda f: f.cumulative_s, reverse=True):
        for constructor in CONSTRUCTORS:
            if fn.function.name in constructor.names and fn.function.file.endswith(
                constructor.file_suffixes
            ):
                yield constructor, fn


RULE = ClientPerRequest()
