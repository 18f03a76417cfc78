"""The concurrency signature of a route, from its probe phase: what a blocked event loop
and a saturated threadpool look like in numbers."""

from __future__ import annotations

import statistics

from perfaudit.model import RouteProbe


def median_ms(seconds: tuple[float, ...]) -> float | None:
    return statistics.median(seconds) * 1000 if seconds else None


def signature(probe: RouteProbe) -> dict[str, float | int | str]:
    """Evidence every concurrency finding shows: throughput one at a time vs under load, and
    how long an unrelated cheap request took, idle and while this route was loaded."""
    evidence: dict[str, float | int | str] = {
        "probe_concurrency": probe.concurrency,
        "rps_one_at_a_time": round(probe.single_throughput_rps, 1),
        "rps_under_load": round(probe.throughput_rps, 1),
        "max_loop_lag_ms": round(probe.loop.max_lag_s * 1000, 1),
    }
    idle, loaded = median_ms(probe.probe_idle_s), median_ms(probe.probe_loaded_s)
    if idle is not None:
        evidence["other_request_idle_ms"] = round(idle, 2)
    if loaded is not None:
        evidence["other_request_under_load_ms"] = round(loaded, 2)
    return evidence
