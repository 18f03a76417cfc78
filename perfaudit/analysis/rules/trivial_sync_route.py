"""trivial-sync-route: a `def` route does sub-millisecond, non-blocking work and still pays
the hop to a worker thread and back (and holds one of the threadpool's tokens)."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.model import FunctionStats

MAX_WORK_MS = 0.5
BLOCKING_CALLEES = ("sleep", "_socket", "_ssl", "sqlite3", "_io.", "posix.", "select")


class TrivialSyncRoute:
    id = "trivial-sync-route"
    needs = Needs(in_process="needs the thread hop timed in-process")
    title = "A trivial `def` route pays the thread hop"
    explanation = (
        "FastAPI runs a `def` endpoint on a worker thread: a hop there and back on every "
        "request, and one of the threadpool's 40 tokens held meanwhile. For an endpoint that "
        "does sub-millisecond work and no blocking I/O, `async def` is cheaper. perfaudit "
        "compares the endpoint's own time (profiled phase) with the measured cost of one "
        "hop.\n\n"
        "Example: `get_flags` returns a dict in 0.01 ms; the hop costs 0.08 ms. Make it "
        "`async def`. (Never do this for an endpoint that blocks: then `def` is right.)"
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            finding = self._check_route(ctx, view)
            if finding is not None:
                yield finding

    def _check_route(self, ctx: AnalysisContext, view: RouteView) -> Finding | None:
        probe, profile = view.probe, view.profile
        if probe is None or profile is None or probe.endpoint_async is not False:
            return None
        hop = probe.threadpool.hop_s if probe.threadpool else None
        endpoint = _endpoint_stats(view)
        if hop is None or endpoint is None or profile.requests == 0 or _blocks(view, endpoint):
            return None
        work_ms = endpoint.cumulative_s / profile.requests * 1000
        if work_ms >= MAX_WORK_MS:
            return None
        hop_ms = hop * 1000
        mean_ms = view.latency.mean if view.latency else hop_ms
        e = probe.endpoint
        assert e is not None
        return Finding(
            id=self.id,
            severity=Severity.LOW,
            title=f"{e.function}() is a `def` route doing {work_ms:.2f} ms of work; the thread "
            f"hop costs {hop_ms:.2f} ms",
            route=str(view.route),
            location=displayed(e, ctx.session.app_root),
            evidence={
                "endpoint_ms_per_request": round(work_ms, 4),
                "thread_hop_ms": round(hop_ms, 4),
                "route_mean_ms": round(mean_ms, 4),
            },
            suggestion=(
                f"{e.function}() does no blocking I/O: declare it `async def` so FastAPI calls "
                "it on the event loop, with no hop to a worker thread and no threadpool token."
            ),
            estimated_gain=Gain(
                latency_ms=round(hop_ms, 4), share=round(min(hop_ms / mean_ms, 1.0), 4)
            ),
            impact=min(hop_ms / mean_ms, 1.0) if mean_ms else 0.0,
            confidence=0.6,
        )


def _endpoint_stats(view: RouteView) -> FunctionStats | None:
    assert view.probe is not None and view.profile is not None
    e = view.probe.endpoint
    if e is None:
        return None
    return next(
        (
            fn
            for fn in view.profile.functions
            if (fn.function.file, fn.function.line, fn.function.name)
            == (e.file, e.line, e.function)
        ),
        None,
    )


def _blocks(view: RouteView, endpoint: FunctionStats) -> bool:
    """Whether anything the endpoint calls directly could block (then `def` is right)."""
    assert view.profile is not None
    return any(
        any(edge.caller == endpoint.function for edge in fn.callers)
        and any(marker in fn.function.name for marker in BLOCKING_CALLEES)
        for fn in view.profile.functions
    )


RULE = TrivialSyncRoute()
