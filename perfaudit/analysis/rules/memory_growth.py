"""memory-growth: each request leaves memory behind that nothing frees, so the process
grows with the number of requests it has served until it is killed or swaps.

In-process, the memory phase's two halves say which of the app's lines keep memory in
proportion to the requests, and which long-lived container holds it. Attached to a live
server, only the process's resident memory over the recording is known: a steady rise is
reported, and where it is allocated needs `perfaudit profile`.
"""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import EvidenceValue, Finding, Grades, Grading, Severity
from perfaudit.analysis.memory import (
    GIB,
    MIB,
    SECONDS_PER_DAY,
    app_growth_sites,
    holding_container,
    size_text,
)
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.paths import displayed
from perfaudit.analysis.rss import rss_trend
from perfaudit.model import AllocationSite, GrowingContainer, RouteMemory

# Below this a route's retained bytes per request are a few small objects, too few to tell
# from what the interpreter and its C modules keep and drop in their own time over a few
# dozen requests (sqlite3 keeps a weak reference per cursor and prunes them every 200:
# about 50-100 bytes per query that looked linear on the catalog and events samples; the
# RealWorld example app kept 485, then 290 bytes per request at a pydantic model's line,
# settling) …
MIN_RETAINED_BYTES = 1024
# … unless a long-lived container of the app's gains the items: then it is the app's own.
MIN_CONTAINED_BYTES = 64
# A bounded container (deque(maxlen=…), lru_cache(maxsize=…)) stops at its bound: worth a
# finding only if it would hold this much there.
MIN_BOUNDED_TOTAL = 64 * MIB
# The figure read is MiB per day at the measured throughput (in Grading's ms slot, whose
# noise, ±30%, is the throughput's): high when a day fills 1 GiB, as the issue put it.
GRADES: Grades = (
    (Severity.HIGH, 0.0, GIB / MIB),
    (Severity.MEDIUM, 0.0, 100.0),
    (Severity.LOW, 0.0, 0.0),
)


class MemoryGrowth:
    id = "memory-growth"
    needs = SAMPLES_SUFFICE  # in-process: the lines; attached: the process's RSS
    title = "Memory grows with every request and is never freed"
    explanation = (
        "Something the app keeps for the life of the process gains memory on every request: "
        "a module-level list that responses are appended to, a dict keyed by request or "
        "user id that nothing removes, an `lru_cache(maxsize=None)` whose arguments differ "
        "per request, a class attribute shared by all instances. The process grows until "
        "the container's memory limit kills it, and restarts hide the cause. perfaudit's "
        "memory phase runs the route in two halves of as many requests under tracemalloc, "
        "after a full collection each: memory that grows alike in both halves grows with "
        "the requests; caches that fill once (re, pydantic's, a pool's connections) grow in "
        "the first half only and are left out.\n\n"
        "Example: `RENDERED.append(report)` keeps 56 KiB per request: 55 MiB per 1,000 "
        "requests, 260 GiB a day at 55 requests/s. Don't keep it, or bound it "
        "(`collections.deque(maxlen=1000)`, `cachetools.TTLCache`)."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.memory is not None and view.memory.requests:
                finding = self._in_process(ctx, view, view.memory)
                if finding is not None:
                    yield finding
        yield from self._attached(ctx)

    def _in_process(
        self, ctx: AnalysisContext, view: RouteView, memory: RouteMemory
    ) -> Finding | None:
        retained = memory.retained_bytes_per_request
        container = holding_container(memory)
        if retained < (MIN_CONTAINED_BYTES if container is not None else MIN_RETAINED_BYTES):
            return None
        if container is not None and _when_full(container, retained) < MIN_BOUNDED_TOTAL:
            return None  # it stops growing at its bound, long before it matters
        rps = view.throughput_rps
        per_day = retained * rps * SECONDS_PER_DAY
        grading = Grading(1.0, per_day / MIB, GRADES)
        sites = app_growth_sites(memory) or list(memory.growth_sites)
        site = sites[0] if sites else None
        root = ctx.session.app_root
        holder = f", kept in {container.name}" if container is not None else ""
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.LOW,
            grading=grading,
            title=(
                f"{view.route} keeps {size_text(retained)} per request that is never freed "
                f"({size_text(retained * 1000)} per 1,000 requests){holder}"
            ),
            route=str(view.route),
            location=displayed(site.location, root) if site is not None else None,
            evidence=_evidence(memory, rps, site, container, root),
            suggestion=_suggestion(site, container, per_day),
            details=_details(memory, sites[1:3], root),
            # Not a share of request time: memory costs availability, ranked by how soon
            # it fills a gigabyte.
            impact=min(1.0, per_day / GIB),
            confidence=0.9 if container is not None else 0.75,
        )

    def _attached(self, ctx: AnalysisContext) -> Iterator[Finding]:
        sampling = ctx.session.sampling
        for series in sampling.memory if sampling else ():
            trend = rss_trend(series)
            if trend is None or not trend.steady_growth:
                continue
            per_day = trend.bytes_per_day
            grading = Grading(1.0, per_day / MIB, GRADES)
            yield Finding(
                id=self.id,
                severity=grading.severity or Severity.LOW,
                grading=grading,
                title=(
                    f"Process {trend.pid}'s resident memory grew {size_text(trend.growth_bytes)} "
                    f"in {trend.duration_s:.0f} s, steadily"
                ),
                route=None,
                location=None,
                evidence={
                    "pid": trend.pid,
                    "rss_start": size_text(trend.start_bytes),
                    "rss_end": size_text(trend.end_bytes),
                    "rss_peak": size_text(trend.peak_bytes),
                    "growth_per_s": size_text(trend.slope_bytes_per_s),
                    "fit_r2": round(trend.r2, 3),
                    "growth_per_day_at_this_load": size_text(per_day),
                },
                suggestion=(
                    f"At this load it would add {size_text(per_day)} a day. RSS says how much, "
                    "not where: run `perfaudit profile` on the app (in-process, its memory "
                    "phase traces allocations) to get the line that allocates it and the "
                    "container that keeps it."
                ),
                impact=min(1.0, per_day / GIB),
                confidence=0.6,
            )


def _suggestion(
    site: AllocationSite | None, container: GrowingContainer | None, per_day: float
) -> str:
    line = f" (`{site.code}`)" if site is not None and site.code else ""
    where = f"What line {site.location.line}{line} allocates" if site else "What each request adds"
    rate = f", {size_text(per_day)} a day at the measured rate" if per_day else ""
    if container is None:
        return (
            f"{where} stays alive after the response{rate}, held by something perfaudit "
            "could not name (not a module global, class attribute, functools cache or "
            "app.state). Find what references it (`gc.get_referrers`), and keep it only as "
            "long as the request, or bound it."
        )
    head = f"{where} is kept in `{container.name}` ({container.kind} {container.type_name})"
    head += f"{rate}, which gains {container.items_per_request:.2g} item(s) per request"
    if container.bound is not None:
        return (
            f"{head}, up to its bound of {container.bound:,} items: it stops growing there, "
            "at about that many times each item's size. That is more than a process should "
            "spare: lower the bound, or keep less per item."
        )
    if container.kind == "lru_cache":
        return (
            f"{head} and has no maxsize: every new argument adds an entry for good. Give it "
            "a bound, `@functools.lru_cache(maxsize=1024)`, or key it on something that "
            "repeats (not a request id or a timestamp)."
        )
    if container.type_name == "dict":
        return (
            f"{head} and is never pruned. Remove entries when they are done with, or bound "
            "it: `cachetools.LRUCache(maxsize=…)` or `cachetools.TTLCache(maxsize=…, ttl=…)`."
        )
    return (
        f"{head} and is never emptied. Don't keep it in the process (log it, or write it to "
        "a database or a queue), or bound it: `collections.deque(maxlen=1000)` keeps the "
        "last thousand."
    )


def _evidence(
    memory: RouteMemory,
    rps: float,
    site: AllocationSite | None,
    container: GrowingContainer | None,
    root: str,
) -> dict[str, EvidenceValue]:
    retained = memory.retained_bytes_per_request
    per_day = retained * rps * SECONDS_PER_DAY
    evidence: dict[str, EvidenceValue] = {
        "retained_kb_per_1k_requests": round(retained * 1000 / 1024, 1),
        "retained_bytes_per_request": round(retained),
        "requests_traced": memory.requests,
        "heap_growth_by_half": " / ".join(size_text(b) for b in memory.traced_growth),
        "settled_bytes": memory.settled_bytes,
        "rps_measured": round(rps, 1),
        "growth_per_day_at_rps": size_text(per_day),
    }
    if per_day > 0:
        evidence["time_to_1_gib_at_rps"] = _duration_text(GIB / per_day * SECONDS_PER_DAY)
    if site is not None:
        evidence["allocated_at"] = str(displayed(site.location, root))
        evidence["allocating_line"] = site.code or "?"
        evidence["line_bytes_per_request"] = round(site.bytes)
    if container is not None:
        evidence["kept_in"] = container.name
        evidence["container"] = f"{container.kind} {container.type_name}"
        evidence["items_per_request"] = round(container.items_per_request, 2)
        evidence["items_now"] = container.items_after
        if container.allocated_at is not None:
            evidence["items_built_at"] = str(displayed(container.allocated_at, root))
    if memory.rss_before_bytes and memory.rss_after_bytes:
        evidence["rss_during_phase"] = (
            f"{size_text(memory.rss_before_bytes)} → {size_text(memory.rss_after_bytes)}"
        )
    return evidence


def _when_full(container: GrowingContainer, retained: float) -> float:
    """What the container would hold at its bound (its bytes per item times the bound);
    without a bound, no end."""
    if container.bound is None:
        return float("inf")
    return container.bound * retained / max(container.items_per_request, 1e-9)


def _duration_text(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * SECONDS_PER_DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / SECONDS_PER_DAY:.0f} days"


def _details(memory: RouteMemory, others: list[AllocationSite], root: str) -> tuple[str, ...]:
    lines = [
        f"also growing: {displayed(s.location, root)} {size_text(s.bytes)} per request"
        for s in others
    ]
    if memory.settled_bytes:
        lines.append(
            f"{size_text(memory.settled_bytes)} grew in the first half only (caches filling) "
            "and is not counted"
        )
    return tuple(lines)


RULE = MemoryGrowth()
