"""The last two steps for each route, after the probe phase: a short run under the call
tracer (which app calls repeat with the same arguments) and, for fast routes, the A/B of
the app's own middleware. Each runs apart from the others because each costs something
the others must not see: the tracer slows every call, the A/B swaps the middleware stack.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfaudit.agent.capture.calls import CallTracer
from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.agent.middleware import measure_middleware
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CallEvidence, MiddlewareEvidence, RouteKey
from perfaudit.progress import Progress

CALLS_REQUESTS = 20
CALLS_MAX_S = 2.0
MIDDLEWARE_REQUESTS = 60
MIDDLEWARE_BUDGET_S = 1.0
# Above this, BaseHTTPMiddleware's fraction of a millisecond per layer is under 1% of a
# request, and a middleware's own work shows in the profile anyway.
MIDDLEWARE_MAX_ROUTE_S = 0.05


async def trace_calls(
    driver: InProcessDriver,
    request: RequestSpec,
    route: RouteKey,
    *,
    app_dir: Path,
    progress: Progress,
) -> CallEvidence | None:
    """A few requests one at a time under the call tracer (it costs more than cProfile,
    so it runs on few requests, apart from the profiled phase)."""
    progress.begin(f"calls     {route}", CALLS_REQUESTS)
    tracer = CallTracer(app_dir)
    tracer.start()
    traced: PhaseResult | None = None
    try:
        traced = await driver.run(
            request, count=CALLS_REQUESTS, duration_s=CALLS_MAX_S, concurrency=1
        )
    finally:
        calls = tracer.stop(traced.requests if traced else 0)
        progress.end()
    return calls if traced.requests else None


async def compare_middleware(
    app: Any,
    driver: InProcessDriver,
    request: RequestSpec,
    measured: PhaseResult,
    *,
    timeout_s: float,
    on_tick: Callable[[], None],
) -> MiddlewareEvidence | None:
    """The A/B costs two runs of the route: only worth it (and affordable) where a
    middleware's fraction of a millisecond can matter."""
    typical_s = statistics.median(measured.durations_s)
    if typical_s > MIDDLEWARE_MAX_ROUTE_S:
        return None
    count = max(10, min(MIDDLEWARE_REQUESTS, int(MIDDLEWARE_BUDGET_S / (2 * typical_s))))
    return await measure_middleware(
        app, request, state=driver.state, count=count, timeout_s=timeout_s, on_tick=on_tick
    )
