"""Memory of two reports, route by route: a request's peak allocation, what requests
retain, and the app process's RSS, baseline against current (`perfaudit compare`).

The memory phase gives one figure per run, not samples, so there is no interval to test:
a change counts when it clears a noise margin both ways, relative and absolute. ×1.5
because tracemalloc's peak moves with what the interpreter happens to hold at a request's
start (free lists, a dict resized a request earlier) and RSS with the allocator's arenas;
64 KiB because below it a doubling is a few small objects, nothing to act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfaudit.model.saved_report import SavedReport

GROWTH_RATIO = 1.5
GROWTH_MIN_BYTES = 64 * 1024
METRICS = ("peak_bytes_per_request", "retained_bytes_per_1k_requests", "rss_bytes")


@dataclass(frozen=True, slots=True)
class MemoryChange:
    """One route's memory figure (bytes) in both reports. `grew` when the current one is
    at least GROWTH_RATIO × and GROWTH_MIN_BYTES above the baseline's; `shrank` mirrors it."""

    route: str
    metric: str  # one of METRICS
    baseline: float
    current: float
    grew: bool
    shrank: bool

    @property
    def ratio(self) -> float:
        return self.current / self.baseline if self.baseline > 0 else math.nan


def memory_changes(baseline: SavedReport, current: SavedReport) -> tuple[MemoryChange, ...]:
    """Per route of the current report (in its order) whose figure both reports have."""
    labels = dict.fromkeys([*(r.label for r in current.routes), *(m.route for m in current.memory)])
    return tuple(change for label in labels for change in _route_changes(baseline, current, label))


def _route_changes(baseline: SavedReport, current: SavedReport, label: str) -> list[MemoryChange]:
    changes = []
    old, new = baseline.memory_of(label), current.memory_of(label)
    if old is not None and new is not None:
        changes.append(
            _change(label, METRICS[0], old.peak_bytes_per_request, new.peak_bytes_per_request)
        )
        changes.append(
            _change(
                label,
                METRICS[1],
                old.retained_bytes_per_1k_requests,
                new.retained_bytes_per_1k_requests,
            )
        )
    old_route, new_route = baseline.route(label), current.route(label)
    if old_route and new_route and old_route.rss_bytes and new_route.rss_bytes:
        changes.append(_change(label, METRICS[2], old_route.rss_bytes, new_route.rss_bytes))
    return changes


def _change(route: str, metric: str, before: float, after: float) -> MemoryChange:
    return MemoryChange(
        route=route,
        metric=metric,
        baseline=before,
        current=after,
        grew=_beyond_noise(before, after),
        shrank=_beyond_noise(after, before),
    )


def _beyond_noise(low: float, high: float) -> bool:
    return high - low >= GROWTH_MIN_BYTES and high >= GROWTH_RATIO * low


def memory_notes(baseline: SavedReport, current: SavedReport) -> tuple[str, ...]:
    """Why allocations are not compared, when one report has a memory phase and the other
    not (RSS, read after each route's measured phase, still is)."""
    why = "(written before perfaudit measured memory, or its memory phase was skipped)"
    what = "allocations and retained memory are not compared"
    if current.memory and not baseline.memory:
        return (f"The baseline report has no memory phase {why}: {what}.",)
    if baseline.memory and not current.memory:
        return (f"The current report has no memory phase {why}: {what}.",)
    return ()
