"""A latency histogram per route, from the measured phase's raw durations.

Bins are equal in width from the fastest request to the slowest. A long tail (the slowest
request more than TAIL_FACTOR times the p99) would squeeze every other bar into the first
few bins: then the bins stop at the slowest request under TAIL_FACTOR × p99, and the
requests beyond are counted apart, as `overflow`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from perfaudit.analysis.stats import percentile

MAX_BINS = 30
MIN_BINS = 5
TAIL_FACTOR = 4.0


@dataclass(frozen=True, slots=True)
class Histogram:
    """Milliseconds. `edges_ms` has one more entry than `counts`; bin i holds the requests
    from edges_ms[i] (inclusive) to edges_ms[i + 1] (inclusive for the last bin)."""

    edges_ms: tuple[float, ...]
    counts: tuple[int, ...]
    overflow: int = 0  # requests slower than edges_ms[-1]
    max_ms: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts) + self.overflow


def latency_histogram(durations_s: Sequence[float], *, bins: int | None = None) -> Histogram | None:
    if not durations_s:
        return None
    values = sorted(d * 1000.0 for d in durations_s)
    low, slowest = values[0], values[-1]
    high = slowest
    cut = TAIL_FACTOR * percentile(values, 99)
    if slowest > cut:
        high = max(value for value in values if value <= cut)
    count = bins or max(MIN_BINS, min(MAX_BINS, math.ceil(math.sqrt(len(values)))))
    if high <= low:
        return Histogram((low, high), (len(values),), 0, slowest)
    width = (high - low) / count
    counts = [0] * count
    overflow = 0
    for value in values:
        if value > high:
            overflow += 1
        else:
            counts[min(int((value - low) / width), count - 1)] += 1
    edges = (*(low + i * width for i in range(count)), high)
    return Histogram(edges, tuple(counts), overflow, slowest)
