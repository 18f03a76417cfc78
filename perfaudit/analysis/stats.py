"""Latency statistics from raw samples, computed exactly (no histogram rounding)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks, as
    numpy's default does. `sorted_values` must be sorted and non-empty."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    weight = rank - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Milliseconds."""

    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float
    min: float
    p99_9: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary | None:
        if not seconds:
            return None
        values = sorted(s * 1000.0 for s in seconds)
        return cls(
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            max=values[-1],
            mean=sum(values) / len(values),
            min=values[0],
            p99_9=percentile(values, 99.9),
        )
