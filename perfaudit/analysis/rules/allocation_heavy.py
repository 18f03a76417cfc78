"""allocation-heavy: a request builds far more in memory than it sends back (a whole table
or file read to return a page of it), so memory per request, not data, sets how many
requests a worker can hold at once."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import EvidenceValue, Finding, Grades, Grading, Severity
from perfaudit.analysis.memory import MIB, size_text
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.paths import displayed
from perfaudit.model import AllocationSite, RouteMemory

MIN_PEAK_BYTES = 1 * MIB  # below it, a request's working memory is not worth a finding
# The peak must be this many times the response: a route that builds a 2 MiB page to send
# 1 MiB of it does what it must.
MIN_RATIO = 50
# The figure read is the peak in MiB (in Grading's ms slot).
GRADES: Grades = (
    (Severity.HIGH, 0.0, 64.0),
    (Severity.MEDIUM, 0.0, 8.0),
    (Severity.LOW, 0.0, 0.0),
)


class AllocationHeavy:
    id = "allocation-heavy"
    needs = Needs(in_process="needs tracemalloc, in the app's process")
    title = "A request allocates far more than it returns"
    explanation = (
        "The route builds much more in memory than its response carries: a query without "
        "LIMIT read whole to return a page, a file read into memory to send part of it, a "
        "list comprehension where a generator would do. The memory is freed after the "
        "response, so nothing leaks, but every request in flight holds it at once (a worker "
        "at 40 concurrent requests holding 20 MiB each needs 800 MiB more), and building it "
        "costs CPU and time. perfaudit's memory phase reads each request's peak of traced "
        "memory above what it started with, and which of the app's lines held it then.\n\n"
        "Example: `rows = [catalogue_row(i) for i in range(20_000)]` peaks at 20 MiB to send "
        "450 bytes. Ask only for the page (LIMIT/OFFSET, a WHERE), or iterate lazily "
        "(`itertools.islice`) instead of building the list."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.memory is not None:
                finding = self._finding(ctx, view, view.memory)
                if finding is not None:
                    yield finding

    def _finding(
        self, ctx: AnalysisContext, view: RouteView, memory: RouteMemory
    ) -> Finding | None:
        peak, sent = memory.peak_bytes, memory.response_bytes
        if peak < MIN_PEAK_BYTES or peak < MIN_RATIO * max(sent, 1.0):
            return None
        grading = Grading(1.0, peak / MIB, GRADES)
        sites = [s for s in memory.peak_sites if s.owner == "app"] or list(memory.peak_sites)
        site = sites[0] if sites else None
        root = ctx.session.app_root
        concurrency = view.measurement.concurrency if view.measurement else 1
        evidence: dict[str, EvidenceValue] = {
            "peak_per_request": size_text(peak),
            "peak_bytes_per_request": peak,
            "response_bytes": round(sent),
            "peak_to_response": round(peak / max(sent, 1.0)),
            "requests_traced": memory.peak_requests,
        }
        if concurrency > 1:
            evidence[f"held_at_{concurrency}_concurrent"] = size_text(peak * concurrency)
        if site is not None:
            evidence["held_by_line"] = size_text(site.bytes)
            evidence["line_share_of_peak"] = round(min(site.bytes / peak, 1.0), 3)
            evidence["blocks_at_line"] = round(site.blocks)
            evidence["source_line"] = site.code or "?"
            if len(site.stack) > 1:
                evidence["reached_from"] = " ← ".join(
                    frame.rsplit("/", 1)[-1] for frame in site.stack[:4]
                )
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.LOW,
            grading=grading,
            title=(
                f"{view.route} holds {size_text(peak)} at its peak per request to send "
                f"{size_text(sent)}"
            ),
            route=str(view.route),
            location=displayed(site.location, root) if site is not None else None,
            evidence=evidence,
            suggestion=_suggestion(site, peak, sent),
            impact=min(1.0, peak / (256 * MIB)),
            confidence=0.8,
        )


def _suggestion(site: AllocationSite | None, peak: float, sent: float) -> str:
    where = "The app builds it"
    if site is not None and site.code:
        where = (
            f"At line {site.location.line} (`{site.code}`), {site.location.function}() builds "
            f"{size_text(site.bytes)} of it"
        )
        if len(site.stack) > 1:
            where += f", reached from {site.stack[1].rsplit('/', 1)[-1]}"
    return (
        f"Each request holds {size_text(peak)} to send {size_text(sent)}. {where}. Build only "
        "what the response needs: ask the database for the page (LIMIT/OFFSET, or a WHERE "
        "on what is shown), iterate lazily (a generator, `itertools.islice`) instead of "
        "materialising a list, and stream a large file or export (`StreamingResponse`) "
        "instead of reading it whole. If the whole is needed and never changes, build it "
        "once in the lifespan, not per request."
    )


RULE = AllocationHeavy()
