"""Memory figures as every format shows them: sizes in binary units (1 KiB = 1,024 bytes,
as the budgets count them; analysis/memory.py, shared with the memory rules), and per route
one row of what the memory phase found. Plain strings: each renderer escapes them its own
way."""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.analysis.memory import KIB, MIB, holding_container, size_text
from perfaudit.analysis.paths import displayed
from perfaudit.model import AllocationSite, RouteMemory, RssSeries, Session

__all__ = ["KIB", "MIB", "size_text"]  # re-exported: the renderers' one import for sizes


def rss_text(before: int, after: int) -> str:
    """As "48.2 → 52.0 MiB"; "–" where the kernel's figure is not known (0)."""
    if not before and not after:
        return "–"
    return f"{_mib(before)} → {_mib(after)} MiB"


def _mib(size: int) -> str:
    return f"{size / MIB:,.1f}" if size else "?"


@dataclass(frozen=True, slots=True)
class MemoryRow:
    """One route's memory phase as the tables show it."""

    route: str
    peak_bytes: int  # a request's peak, above what it began with
    response_bytes: float
    retained_per_1k: float  # bytes kept per 1,000 requests
    grows_at: str  # the app line retaining most ("" when nothing is retained)
    held_by: str  # the container holding it ("" when none was found)
    rss_before: int
    rss_after: int
    note: str

    @property
    def keeps(self) -> bool:
        """Requests leave memory behind: the row to look at."""
        return self.retained_per_1k > 0

    @property
    def where(self) -> str:
        """Where it grows and what holds it ("app/x.py:12 in f · app.x.HISTORY (list)"), or ""."""
        return " · ".join(part for part in (self.grows_at, self.held_by) if part)


def memory_rows(session: Session) -> tuple[MemoryRow, ...]:
    return tuple(_row(memory, session.app_root) for memory in session.memory)


def _row(memory: RouteMemory, app_root: str) -> MemoryRow:
    # Lines and containers matter only where something is kept: a cache that filled up in
    # the first half of the phase is listed in the JSON but is no growth.
    retained = memory.retained_bytes_per_request > 0
    site = top_site(memory.growth_sites) if retained else None
    # The container the memory rules name too, so the table and the finding agree.
    container = holding_container(memory) if retained else None
    return MemoryRow(
        route=str(memory.route),
        peak_bytes=memory.peak_bytes,
        response_bytes=memory.response_bytes,
        retained_per_1k=memory.retained_bytes_per_request * 1000,
        grows_at=str(displayed(site.location, app_root)) if site else "",
        held_by=f"{container.name} ({container.type_name})" if container else "",
        rss_before=memory.rss_before_bytes,
        rss_after=memory.rss_after_bytes,
        note=memory.note,
    )


def top_site(sites: tuple[AllocationSite, ...]) -> AllocationSite | None:
    """The app's own line holding the most (the one to open), else any line's."""
    app = [site for site in sites if site.owner == "app"]
    return max(app or sites, key=lambda site: site.bytes, default=None)


@dataclass(frozen=True, slots=True)
class ProcessRss:
    """One attached process's resident memory over the recording."""

    pid: int
    start: int
    end: int
    peak: int
    seconds: float  # from its first reading to its last

    @property
    def text(self) -> str:
        """As "61.2 → 75.0 MiB (peak 80.1)"."""
        return f"{_mib(self.start)} → {_mib(self.end)} MiB (peak {_mib(self.peak)})"


def process_rss(series: tuple[RssSeries, ...]) -> tuple[ProcessRss, ...]:
    """Each series with a reading, as start, end and peak."""
    return tuple(
        ProcessRss(
            s.pid,
            s.rss_bytes[0],
            s.rss_bytes[-1],
            max(s.rss_bytes),
            s.interval_s * (len(s.rss_bytes) - 1),
        )
        for s in series
        if s.rss_bytes
    )
