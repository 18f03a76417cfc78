"""Where a route's request time goes: on the CPU, awaiting the database, waiting on
anything else (HTTP calls, sleeps, files); and, under the probe's load, waiting for a
database connection from the pool.

One request at a time, so that no request's time holds another's:

- the request: the probe's one-at-a-time latency (no profiler, no probes), else the
  measured phase's when it ran at -c 1;
- CPU: the app process's CPU time over the same requests, per request;
- database: the statements' share of the profiled requests' time (timed at the driver in
  the profiled phase), of the request. SQLite runs inside the process, so its time is CPU
  time, shown as part of it; a server's (PostgreSQL…) is time the request awaits, the
  driver's own work on the results included, so the CPU shown beside it is the rest;
- waiting on other things: what remains.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from perfaudit.analysis.context import RouteView
from perfaudit.analysis.pools import pool_wait_share
from perfaudit.analysis.statements import in_process
from perfaudit.model import DatabaseEvidence


@dataclass(frozen=True, slots=True)
class UnderLoad:
    concurrency: int
    request_ms: float  # mean latency under the probe's load
    pool_wait_ms: float  # of which waiting for a database connection


@dataclass(frozen=True, slots=True)
class Waterfall:
    route: str
    request_ms: float  # mean, one request at a time
    cpu_ms: float | None  # None where the process's CPU was not measured
    database_ms: float  # the statements' share of the profiled requests, of request_ms
    database_in_process: bool  # SQLite: database_ms is CPU time, inside cpu_ms
    waiting_ms: float  # neither CPU nor the database: HTTP calls, sleeps, files
    under_load: UnderLoad | None = None

    @property
    def parts(self) -> tuple[tuple[str, float], ...]:
        """(what, ms) adding up to request_ms: the bars renderers draw."""
        if self.database_in_process:
            cpu = max((self.cpu_ms or 0.0) - self.database_ms, 0.0)
            return (
                ("CPU", cpu),
                ("in SQLite (on the CPU)", self.database_ms),
                ("waiting on other things", self.waiting_ms),
            )
        return (
            ("CPU", self.cpu_ms or 0.0),
            ("awaiting the database", self.database_ms),
            ("waiting on other things", self.waiting_ms),
        )

    @property
    def dominant(self) -> tuple[str, float] | None:
        """The part that takes most of the request (over half), with its share."""
        if self.request_ms <= 0:
            return None
        what, ms = max(self.parts, key=lambda part: part[1])
        share = ms / self.request_ms
        return (what, share) if share > 0.5 else None


def waterfall(view: RouteView) -> Waterfall | None:
    request_ms = _one_at_a_time_ms(view)
    if request_ms is None or request_ms <= 0:
        return None
    cpu_ms = _cpu_ms(view, request_ms)
    database = view.evidence.database if view.evidence else None
    database_ms, local = _database_ms(view, database, request_ms)
    if cpu_ms is None and not database_ms:
        return None  # nothing to break the time into
    if cpu_ms is not None and not local:  # the driver's CPU is inside the awaits
        cpu_ms = min(cpu_ms, request_ms - database_ms)
    busy = (cpu_ms or 0.0) + (0.0 if local else database_ms)
    return Waterfall(
        route=str(view.route),
        request_ms=request_ms,
        cpu_ms=cpu_ms,
        database_ms=database_ms,
        database_in_process=local,
        waiting_ms=max(request_ms - busy, 0.0) if cpu_ms is not None else 0.0,
        under_load=_under_load(view),
    )


def _one_at_a_time_ms(view: RouteView) -> float | None:
    probe, measurement = view.probe, view.measurement
    if probe is not None and probe.single_durations_s:
        return statistics.fmean(probe.single_durations_s) * 1000
    if measurement is not None and measurement.concurrency == 1 and measurement.durations_s:
        return statistics.fmean(measurement.durations_s) * 1000
    return None


def _cpu_ms(view: RouteView, request_ms: float) -> float | None:
    """In the same requests as `_one_at_a_time_ms`: their CPU and wall time agree."""
    probe, measurement = view.probe, view.measurement
    if probe is not None and probe.single_durations_s:
        cpu_s, requests = probe.single_cpu_s, len(probe.single_durations_s)
    elif measurement is not None:
        cpu_s, requests = measurement.cpu_s, measurement.requests
    else:
        return None
    return min(cpu_s / requests * 1000, request_ms) if cpu_s is not None and requests else None


def _database_ms(
    view: RouteView, database: DatabaseEvidence | None, request_ms: float
) -> tuple[float, bool]:
    """The statements' share of the profiled requests (the phase they were timed in: the
    profiler slows the Python around them, not the server), applied to `request_ms`."""
    profile = view.profile
    if database is None or not database.statements or profile is None:
        return 0.0, False
    if profile.request_time_s <= 0 or profile.requests != database.requests:
        return 0.0, False
    local = all(in_process(s) for s in database.statements)
    share = sum(s.total_s for s in database.statements) / profile.request_time_s
    return min(share, 1.0) * request_ms, local


def _under_load(view: RouteView) -> UnderLoad | None:
    probe = view.probe
    if probe is None or not probe.durations_s or probe.concurrency <= 1:
        return None
    request_ms = statistics.fmean(probe.durations_s) * 1000
    wait_share = sum(pool_wait_share(probe, pool) for pool in probe.pools)
    return UnderLoad(probe.concurrency, request_ms, min(wait_share, 1.0) * request_ms)
