"""threadpool-saturation: `def` endpoints (and sync dependencies) queue behind AnyIO's
thread limiter (40 tokens by default) when more requests are in flight than it has
threads."""

from __future__ import annotations

import math
from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import HALF_IS_HIGH, Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.paths import display_path
from perfaudit.analysis.pools import waits_on_a_pool
from perfaudit.analysis.sampling import DEFAULT_TOKENS, WorkerLoad, worker_load
from perfaudit.analysis.signature import median_ms, signature
from perfaudit.model import CodeLocation, RouteProbe, ThreadpoolEvidence

MIN_SATURATED_SHARE = 0.3
# Share of the threadpool's capacity the sampled worker threads spent inside the app's
# code: high when threads are held by real work (a slow SDK call), near zero when each
# job is tiny and the queue is only thread hand-off overhead (trivial-sync-route's case).
MIN_OCCUPANCY = 0.3
# Throughput under load ÷ one at a time, below which the threads are not running in
# parallel (Python code holding the GIL, or one lock or connection they all need): more
# threads cannot help there, and the CPU work is what other findings report.
MIN_PARALLEL_SPEEDUP = 2.0
# Attached to a live server, without the samples' time order: the mean number of workers
# busy in the app's code, as a share of the limit, that means they were often all busy.
MIN_MEAN_BUSY = 0.75


class ThreadpoolSaturation:
    id = "threadpool-saturation"
    needs = SAMPLES_SUFFICE
    title = "Requests queue for the threadpool"
    explanation = (
        "FastAPI runs `def` endpoints and sync dependencies on AnyIO's worker threads, at most "
        "40 at a time by default. With more requests in flight, the rest wait for a thread "
        "and latency climbs in steps of about (concurrency / 40) × the time each holds its "
        "thread, while an unrelated async request stays fast (the event loop is free). "
        "perfaudit's probe phase drives `def` routes past the limit, samples the limiter "
        "(tokens borrowed, tasks waiting) and the worker threads' stacks to show where they "
        "are held.\n\n"
        "Example: `upload_to_storage` holds a thread for 30 ms in GET /exports/{export_id}; at "
        "60 concurrent requests all 40 threads are busy and 20 wait: p50 latency goes from "
        "31 ms to 61 ms. Raise the limit in the lifespan "
        "(anyio.to_thread.current_default_thread_limiter().total_tokens = 100), or make the "
        "I/O async."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            probe = view.probe
            pool = probe.threadpool if probe else None
            if probe is None or pool is None or not pool.samples or pool.max_waiting == 0:
                continue
            occupancy = _occupancy(probe, pool)
            if waits_on_a_pool(probe):
                continue  # threads wait on the database pool: connection-pool-saturation's
            if (
                pool.saturated_samples / pool.samples >= MIN_SATURATED_SHARE
                and occupancy >= MIN_OCCUPANCY
                and _parallel_speedup(probe) >= MIN_PARALLEL_SPEEDUP
            ):
                yield self._finding(ctx, view, probe, pool)
        if ctx.session.sampling is not None:  # attach: py-spy's samples of the workers
            for load in worker_load(ctx.session.sampling, ctx.session.app_root):
                saturated = _sampled_saturation(load)
                if saturated is not None:
                    yield self._sampled_finding(ctx, load, saturated)

    def _sampled_finding(self, ctx: AnalysisContext, load: WorkerLoad, saturated: float) -> Finding:
        tokens = max(DEFAULT_TOKENS, load.threads)
        held = load.held_at
        location = (
            CodeLocation(display_path(held.file, ctx.session.app_root), held.line, held.function)
            if held
            else None
        )
        where = f"{location.function}()" if location else "the endpoint"
        route = str(load.route) if load.route else None
        evidence: dict[str, float | int | str] = {
            "thread_tokens": tokens,
            "worker_threads": load.threads,
            "mean_busy_workers": round(load.mean_busy, 1),
            "ticks": load.ticks,
        }
        # With the samples' time order: the share of ticks at the limit; else the mean.
        ordered = bool(load.busy_at_once)
        evidence["saturated_share" if ordered else "mean_busy_share"] = round(saturated, 3)
        how = (
            f"all {tokens} worker threads busy {saturated:.0%} of the recording"
            if ordered
            else f"{load.mean_busy:.0f} of {tokens} worker threads busy on average"
        )
        grading = Grading(saturated, 0.0, HALF_IS_HIGH)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{route or 'The app'} queues for the threadpool: {how}",
            route=route,
            location=location,
            evidence=evidence,
            suggestion=(
                f"{where} holds a worker thread; on average {load.mean_busy:.0f} of "
                f"{tokens} threads were busy in the app's code, so further requests wait for "
                "one. Raise the limit at startup, in the lifespan: "
                "`anyio.to_thread.current_default_thread_limiter().total_tokens = "
                f"{2 * tokens}` (threads waiting on I/O are cheap); or, if {where} has an "
                "async API, make the route `async def` and await it."
            ),
            impact=saturated,
            # Samples do not tell a thread waiting on I/O from one holding the GIL.
            confidence=0.6,
        )

    def _finding(
        self, ctx: AnalysisContext, view: RouteView, probe: RouteProbe, pool: ThreadpoolEvidence
    ) -> Finding:
        single = median_ms(probe.single_durations_s) or 0.0
        loaded = median_ms(probe.durations_s) or 0.0
        location = _held_at(ctx, view, pool)
        where = f"{location.function}()" if location else "the endpoint"
        user_c = ctx.session.settings.concurrency
        suggested = max(10 * math.ceil(max(probe.concurrency, user_c) / 10), 2 * pool.total_tokens)
        share = max(1 - single / loaded, 0.0) if loaded else 0.0
        evidence = {
            "thread_tokens": pool.total_tokens,
            "saturated_share": round(pool.saturated_samples / pool.samples, 3),
            "max_waiting": pool.max_waiting,
            "p50_one_at_a_time_ms": round(single, 2),
            "p50_under_load_ms": round(loaded, 2),
            "expected_step": math.ceil(probe.concurrency / pool.total_tokens),
            "thread_occupancy": round(_occupancy(probe, pool), 3),
            "parallel_speedup": round(_parallel_speedup(probe), 2),
            **signature(probe),
        }
        load = "your load" if user_c > pool.total_tokens else "load beyond the threadpool"
        return Finding(
            id=self.id,
            severity=Severity.HIGH if user_c > pool.total_tokens else Severity.MEDIUM,
            title=f"{view.route} queues for the threadpool under {load}: at "
            f"{probe.concurrency} concurrent requests, p50 {single:.0f} → {loaded:.0f} ms",
            route=str(view.route),
            location=location,
            evidence=evidence,
            suggestion=(
                f"{where} holds a worker thread for about {single:.0f} ms per request; with "
                f"{probe.concurrency} requests in flight all {pool.total_tokens} threads are busy "
                f"and up to {pool.max_waiting} wait. Raise the limit at startup, in the lifespan: "
                "`anyio.to_thread.current_default_thread_limiter().total_tokens = "
                f"{suggested}` (threads waiting on I/O are cheap); or, if {where} has an async "
                "API, make the route `async def` and await it."
            ),
            estimated_gain=Gain(
                latency_ms=round(max(loaded - single, 0.0), 3), share=round(share, 4)
            ),
            impact=share,
            confidence=0.85,
            # No `supersedes`: the time queued for a thread is not the work a cpu-hotspot
            # (or an unindexed scan) of the same function explains; both are reported.
        )


def _sampled_saturation(load: WorkerLoad) -> float | None:
    """Share of the recording with every token's thread busy; without the samples' time
    order, the mean busy share when it is high enough to mean the same. None below."""
    tokens = max(DEFAULT_TOKENS, load.threads)
    if load.threads < tokens:
        return None  # AnyIO starts a thread only when every other one is busy
    at_limit = load.share_at_least(tokens)
    if at_limit is not None:
        return at_limit if at_limit >= MIN_SATURATED_SHARE else None
    mean = load.mean_busy / tokens
    return min(mean, 1.0) if mean >= MIN_MEAN_BUSY else None


def _parallel_speedup(probe: RouteProbe) -> float:
    """Throughput under load ÷ one request at a time."""
    single = probe.single_throughput_rps
    return probe.throughput_rps / single if single else 0.0


def _occupancy(probe: RouteProbe, pool: ThreadpoolEvidence) -> float:
    capacity = probe.wall_s * pool.total_tokens
    return sum(stack.wall_s for stack in pool.worker_stacks) / capacity if capacity else 0.0


def _held_at(
    ctx: AnalysisContext, view: RouteView, pool: ThreadpoolEvidence
) -> CodeLocation | None:
    """Where the worker threads were while busy: the innermost app frame of their
    heaviest stack; when that is only the endpoint (Python 3.11 times jobs instead of
    reading worker stacks), the app function the profile saw most time under."""
    endpoint = view.probe.endpoint if view.probe else None
    for stack in pool.worker_stacks:
        frame = next((f for f in stack.frames if f.owner == "app"), None)
        if frame is None:
            continue
        if endpoint is None or (frame.file, frame.function) != (endpoint.file, endpoint.function):
            return CodeLocation(
                display_path(frame.file, ctx.session.app_root), frame.line, frame.function
            )
        break
    attributions = view.app_attributions()
    if attributions:
        return ctx.location(attributions[0].function.function)
    if endpoint is not None:
        return CodeLocation(
            display_path(endpoint.file, ctx.session.app_root), endpoint.line, endpoint.function
        )
    return None


RULE = ThreadpoolSaturation()
