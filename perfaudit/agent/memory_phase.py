"""The memory phase of one route, run after every route's latency was measured (tracemalloc
slows the app 2-4x, and what it frees is not always handed back to the kernel): a warm-up
under tracing, a request's peak, then the growth phase, two halves of as many requests.

How growth is told from noise: each snapshot follows a full collection, and memory is
grouped by the app line that allocated it. A leak keeps about the same bytes per request
in both halves; a cache warming up (re, logging, pydantic's validators, a pool opening its
connections) grows in the first half and stops, and is counted as settled, not retained.
Lines whose two halves differ more than LINEAR_RATIO are neither.
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from time import perf_counter
from typing import Any

from perfaudit.agent.capture.containers import ContainerWatch
from perfaudit.agent.capture.memory import (
    PEAK_DEPTH,
    PEAK_FLOOR_BYTES,
    TRACEBACK_DEPTH,
    AppLines,
    PeakWatch,
    Site,
    Tracing,
    named,
    rss_bytes,
    snapshot,
    top_sites,
)
from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.load.plan import RequestSpec
from perfaudit.model import AllocationSite, RouteKey, RouteMemory
from perfaudit.progress import Progress

PEAK_REQUESTS = 3  # the peak is their median; one more request finds the lines holding it
HALF_REQUESTS = 15  # each half of the growth phase, at most …
MIN_HALF_REQUESTS = 2  # … and at least
# The phase's time per route: a traced request of a route that allocates millions of
# objects takes 40x its time (10 s for a 0.3 s request), so the requests are counted from
# the first one's time. Too few for two halves, growth is not measured, and it says so.
BUDGET_S = 4.0
# A line's bytes per request in the two halves within this ratio of each other: it grows
# with the requests (a leak); below it in the second half, it settled (a cache filled).
LINEAR_RATIO = 1 / 3
NEAR_PEAK = 0.8  # the sites' snapshot is taken once a request holds this much of the peak
# How much slower a request runs traced, at the most (benchmarks/memory_phase.py: 5-10x
# at PEAK_DEPTH, 7-35x at TRACEBACK_DEPTH): a route whose requests would then near the
# timeout, or hold the event loop that long, is not traced.
TRACING_SLOWDOWN = 50


def too_slow_to_trace(durations_s: tuple[float, ...], timeout_s: float) -> bool:
    """Its slower requests (the 90th percentile: not one outlier) traced would take more
    than half the timeout."""
    ordered = sorted(durations_s)
    p90 = ordered[int(0.9 * (len(ordered) - 1))] if ordered else 0.0
    return p90 * TRACING_SLOWDOWN > timeout_s / 2


async def measure_memory(
    driver: InProcessDriver,
    request: RequestSpec,
    route: RouteKey,
    *,
    app: Any,
    progress: Progress,
) -> RouteMemory:
    """The route was warmed up and measured already: what caches it fills untraced are
    not in tracemalloc's view, and the first traced requests (the peak's) warm the rest
    before the growth phase's first snapshot."""
    lines, containers = AppLines(), ContainerWatch(app, driver.state)
    started, rss_before = perf_counter(), rss_bytes()
    progress.begin(f"memory    {route}", None)
    try:
        with Tracing(PEAK_DEPTH):
            peaks, responses = await _peaks(driver, request)
        peak = int(statistics.median(peaks)) if peaks else 0
        with Tracing(TRACEBACK_DEPTH) as tracing:
            peak_sites, traced_s = await _peak_sites(driver, request, lines, peak)
            left = BUDGET_S - (perf_counter() - started)
            half = int(min(HALF_REQUESTS, left / 2 / max(traced_s, 1e-3)))
            halves, growth = await _growth(
                driver, request, lines, containers, count=half, seconds=left / 2
            )
            found = containers.grown(sum(h.requests for h in halves), lines) if halves else ()
    finally:
        progress.end()
    return named(
        RouteMemory(
            route=route,
            requests=sum(h.requests for h in halves),
            warmup_requests=len(peaks),
            peak_requests=len(peaks),
            peak_bytes=peak,
            peak_sites=peak_sites,
            response_bytes=statistics.fmean(responses) if responses else 0.0,
            retained_bytes_per_request=sum(site.bytes for site in growth.linear),
            growth_sites=growth.linear[:5],
            settled_bytes=growth.settled,
            traced_growth=growth.totals,
            containers=found,
            rss_before_bytes=rss_before,
            rss_after_bytes=rss_bytes(),
            wall_s=perf_counter() - started,
            traceback_depth=tracing.depth,
            note="" if halves else _no_growth(traced_s),
        )
    )


def _no_growth(traced_s: float) -> str:
    return (
        f"growth was not measured: a traced request took {traced_s:.1f} s, too long for "
        f"{2 * MIN_HALF_REQUESTS} more in the phase's {BUDGET_S:g} s"
    )


async def _peaks(driver: InProcessDriver, request: RequestSpec) -> tuple[list[int], list[int]]:
    """Each request's peak of traced memory above what was held as it began, one at a
    time (fewer than PEAK_REQUESTS when they are slow)."""
    peaks: list[int] = []
    responses: list[int] = []
    spent = 0.0
    while len(peaks) < PEAK_REQUESTS and spent < BUDGET_S / 4:
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]
        phase = await driver.run(request, count=1)
        spent += phase.wall_s
        if not phase.requests:
            break
        peaks.append(max(tracemalloc.get_traced_memory()[1] - held, 0))
        responses.append(phase.response_bytes)
    return peaks, responses


async def _peak_sites(
    driver: InProcessDriver, request: RequestSpec, lines: AppLines, peak: int
) -> tuple[tuple[AllocationSite, ...], float]:
    """The lines holding most of a request's memory near its peak, from one more request
    snapshotted once it reaches most of the peak the others measured; and that request's
    time (traced with tracebacks, what each request of the growth phase will take)."""
    gc.collect()
    before = snapshot()
    watch = PeakWatch()
    if peak >= PEAK_FLOOR_BYTES:  # below it, nothing worth naming
        watch.start(tracemalloc.get_traced_memory()[0] + int(peak * NEAR_PEAK))
    try:
        phase = await driver.run(request, count=1)
    finally:
        watch.stop()
    sites = top_sites(lines.grown(watch.peak_snapshot, before)) if watch.peak_snapshot else ()
    return sites, phase.wall_s


class _Growth:
    def __init__(self, first: dict[str, Site], second: dict[str, Site], n1: int, n2: int):
        self.linear: tuple[AllocationSite, ...] = ()
        self.settled = 0
        self.totals = (sum(s.bytes for s in first.values()), sum(s.bytes for s in second.values()))
        if not n1 or not n2:
            return
        grown: dict[str, Site] = {}
        for key in first.keys() | second.keys():
            b1, b2 = _bytes(first, key), _bytes(second, key)
            r1, r2 = b1 / n1, b2 / n2
            if r1 > 0 and r2 > 0 and min(r1, r2) >= LINEAR_RATIO * max(r1, r2):
                site = first.get(key) or second[key]
                blocks = _blocks(first, key) + _blocks(second, key)
                grown[key] = Site(b1 + b2, blocks, site.stack, site.location, (b1, b2), site.owner)
            elif b1 > 0 and r2 < LINEAR_RATIO * r1:
                self.settled += b1
        self.linear = top_sites(grown, per=n1 + n2, kept=len(grown))


def _bytes(sites: dict[str, Site], key: str) -> int:
    site = sites.get(key)
    return site.bytes if site else 0


def _blocks(sites: dict[str, Site], key: str) -> int:
    site = sites.get(key)
    return site.blocks if site else 0


async def _growth(
    driver: InProcessDriver,
    request: RequestSpec,
    lines: AppLines,
    containers: ContainerWatch,
    *,
    count: int,
    seconds: float,
) -> tuple[list[PhaseResult], _Growth]:
    """Two halves of `count` requests each, or of `seconds` (a request slower than the
    peaks' makes fewer; each half's bytes are divided by its own requests)."""
    if count < MIN_HALF_REQUESTS:
        return [], _Growth({}, {}, 0, 0)

    async def half() -> PhaseResult:
        return await driver.run(
            request,
            count=count,
            duration_s=seconds,
            min_count=MIN_HALF_REQUESTS,
            max_duration_s=2 * seconds,
        )

    gc.collect()
    start = snapshot()
    containers.start()
    first = await half()
    gc.collect()
    middle = snapshot()
    second = await half()
    gc.collect()
    end = snapshot()
    growth = _Growth(
        lines.grown(middle, start), lines.grown(end, middle), first.requests, second.requests
    )
    return [first, second], growth
