"""The probe phase: each route under concurrent load with the event-loop watchdog, the
threadpool sampler and a stream of cheap probe requests, and no profiler.

It answers what the latency phase cannot: does this route block the event loop (every
other request waits: the probe's latency jumps, throughput stays flat as concurrency
grows), or queue behind AnyIO's threadpool (the probe stays fast, latency steps up by
about (C / tokens) · T)? `def` routes are driven past the threadpool's limit on purpose,
so saturation shows even when the user's own run used one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from dataclasses import dataclass
from time import perf_counter

from perfaudit.agent.capture.pools import PoolWatch
from perfaudit.agent.capture.threadpool import (
    LimiterSampler,
    default_thread_tokens,
    measure_thread_hop,
)
from perfaudit.agent.capture.watchdog import LoopWatchdog
from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.agent.routes import RouteInfo
from perfaudit.load.plan import RequestSpec
from perfaudit.model import RouteKey, RouteProbe, SampledStack, ThreadpoolEvidence
from perfaudit.progress import Progress

# A path no app serves: its 404 runs through the app's middleware and router on the event
# loop and never needs a thread, so it tells a blocked loop from a busy threadpool.
PROBE_PATH = "/__perfaudit_probe__"
MIN_CONCURRENCY = 8
SECONDS = 0.5  # long enough for a few dozen probe requests and heartbeats
MAX_SECONDS = 3.0
PROBE_EVERY_S = 0.02
SINGLE_REQUESTS = 30
IDLE_PROBES = 5


@dataclass(frozen=True, slots=True)
class ProbePlan:
    concurrency: int
    min_requests: int


def plan_probe(
    user_concurrency: int, info: RouteInfo | None, request_s: float, tokens: int
) -> ProbePlan:
    """How hard to push: above the user's concurrency, past the threadpool for routes that
    use it, but never so hard that the requests already in flight when time is up take
    longer than MAX_SECONDS to drain. `request_s`: one request's latency, alone."""
    threaded = info is not None and info.uses_threadpool
    concurrency = max(user_concurrency, MIN_CONCURRENCY)
    if threaded:
        concurrency = max(concurrency, tokens + tokens // 2)
    # In the worst case (a blocked loop) in-flight requests run one after another; on the
    # threadpool, `tokens` at a time.
    parallel = tokens if threaded else 1
    affordable = int(MAX_SECONDS * parallel / request_s) if request_s > 0 else concurrency
    concurrency = max(2, min(concurrency, affordable))
    return ProbePlan(concurrency=concurrency, min_requests=2 * concurrency)


async def probe_route(
    driver: InProcessDriver,
    request: RequestSpec,
    route: RouteKey,
    *,
    info: RouteInfo | None,
    single: PhaseResult | None,
    user_concurrency: int,
    progress: Progress,
) -> RouteProbe:
    """`single`: the route measured one request at a time without probes, if the latency
    phase already did that (-c 1); otherwise it is measured here first."""
    if single is None:
        single = await driver.run(
            request, count=SINGLE_REQUESTS, duration_s=MAX_SECONDS, concurrency=1
        )
    request_s = statistics.median(single.durations_s) if single.durations_s else 0.0
    plan = plan_probe(user_concurrency, info, request_s, default_thread_tokens())
    probe = RequestSpec("GET", PROBE_PATH)
    idle = [await driver.time_request(probe) for _ in range(IDLE_PROBES)]
    hop = await measure_thread_hop() if info is not None and info.uses_threadpool else None
    progress.begin(f"probe     {route} (c={plan.concurrency})", None)
    watchdog, limiter, loaded = (
        LoopWatchdog(info.endpoint_location if info else None),
        LimiterSampler(),
        list[float](),
    )
    pools = PoolWatch()
    watchdog.start()
    limiter.start()
    pools.start()
    prober = asyncio.get_running_loop().create_task(probe_stream(driver, probe, loaded))
    try:
        phase = await driver.run(
            request,
            duration_s=SECONDS,
            min_count=plan.min_requests,
            max_duration_s=MAX_SECONDS,
            concurrency=plan.concurrency,
        )
    finally:
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
        limiter.stop()
        pool_evidence = pools.stop()
        loop_evidence, worker_stacks = watchdog.stop()
        progress.end()
    return RouteProbe(
        route=route,
        endpoint=info.endpoint_location if info else None,
        endpoint_async=info.endpoint_async if info else None,
        concurrency=plan.concurrency,
        wall_s=phase.wall_s,
        durations_s=phase.durations_s,
        single_durations_s=single.durations_s,
        single_wall_s=single.wall_s,
        probe_idle_s=tuple(idle),
        probe_loaded_s=tuple(loaded),
        loop=loop_evidence,
        threadpool=_threadpool(limiter, hop, worker_stacks),
        status_counts=phase.status_counts,
        pools=pool_evidence,
        single_cpu_s=single.cpu_s,
    )


async def probe_stream(driver: InProcessDriver, probe: RequestSpec, out: list[float]) -> None:
    """A probe request every PROBE_EVERY_S, timed from when it was due, not from when the
    loop got round to sending it (else a blocked loop would hide its own delay)."""
    while True:
        due = perf_counter() + PROBE_EVERY_S
        await asyncio.sleep(PROBE_EVERY_S)
        await driver.time_request(probe)
        out.append(perf_counter() - due)


def _threadpool(
    limiter: LimiterSampler, hop: float | None, worker_stacks: tuple[SampledStack, ...]
) -> ThreadpoolEvidence | None:
    if not limiter.samples:
        return None
    return ThreadpoolEvidence(
        total_tokens=limiter.total_tokens,
        samples=limiter.samples,
        saturated_samples=limiter.saturated,
        waiting_samples=limiter.waiting,
        max_borrowed=limiter.max_borrowed,
        max_waiting=limiter.max_waiting,
        hop_s=hop,
        worker_stacks=worker_stacks,
    )
