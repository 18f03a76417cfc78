"""connection-pool-saturation: requests under load wait for a database connection; and
threadpool-saturation, which must not advise more threads when they wait on that pool."""

from __future__ import annotations

import dataclasses

import pytest
from probe_builders import (
    app_frame,
    lib_frame,
    probe_session,
    route_probe,
    stack,
    stdlib_frame,
    threadpool,
)
from unit_builders import APP_ROOT, measurement

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules.connection_pool_saturation import RULE as POOL_SATURATION
from perfaudit.analysis.rules.threadpool_saturation import RULE as THREADPOOL_SATURATION
from perfaudit.model import CodeLocation, PoolEvidence, RouteKey, SampledStack, Session

REPORTS = RouteKey("GET", "/reports/{n}")
ENDPOINT = CodeLocation(f"{APP_ROOT}/app/reports.py", 12, "report")


def pool(
    *, size: int = 2, overflow: int = 0, wait_s: float = 0.0, held_s: float = 2.1
) -> PoolEvidence:
    return PoolEvidence(
        kind="SQLAlchemy QueuePool", size=size, max_overflow=overflow, timeout_s=30.0,
        checkouts=100, waited=90, wait_s=wait_s, max_wait_s=0.4, held_s=held_s, returned=100,
        timeouts=0,
    )  # fmt: skip


def held(wall_s: float) -> SampledStack:
    """Worker threads inside the app's `report` (waiting on the pool, as it happens)."""
    return stack(
        stdlib_frame("threading.py", "wait", line=320),
        app_frame(
            "report", line=12, code="with engine.connect() as conn:", module="app/reports.py"
        ),
        lib_frame("anyio/_backends/_asyncio.py", "run", line=1000, owner="framework"),
        stdlib_frame("threading.py", "_bootstrap_inner", line=1045),
        wall_s=wall_s,
    )


def reports_session(*pools: PoolEvidence, endpoint_async: bool = False) -> Session:
    """100 requests of 160 ms at concurrency 16 (16 s of request time), threads busy."""
    probe = route_probe(
        REPORTS, requests=100, loaded_ms=160.0, single_ms=21.0, concurrency=16, wall_s=1.0,
        endpoint=ENDPOINT, endpoint_async=endpoint_async,
        pool=threadpool(saturated=80, waiting=70, max_waiting=20, worker_stacks=(held(32.0),)),
    )  # fmt: skip
    probe = dataclasses.replace(probe, pools=pools)
    return probe_session([probe], measurements=[measurement(REPORTS)], concurrency=16)


def findings(rule: object, s: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(s)))  # type: ignore[attr-defined]


def test_requests_waiting_on_a_two_connection_pool_are_found() -> None:
    s = reports_session(pool(wait_s=13.6))  # 85% of the 16 s

    [finding] = findings(POOL_SATURATION, s)

    assert finding.severity is Severity.HIGH
    assert finding.location == CodeLocation("app/reports.py", 12, "report")
    assert finding.evidence["pool_size"] == 2 and finding.evidence["concurrency"] == 16
    assert finding.evidence["wait_share"] == pytest.approx(0.85)
    assert finding.evidence["wait_ms_per_request"] == pytest.approx(136.0)
    assert finding.evidence["held_ms_per_checkout"] == pytest.approx(21.0)
    assert "16 requests at a time share 2 connection(s)" in finding.suggestion
    assert "pool_size=N" in finding.suggestion
    assert "Do not raise AnyIO's 40 threads" in finding.suggestion


def test_an_async_route_is_not_told_about_threads() -> None:
    [finding] = findings(POOL_SATURATION, reports_session(pool(wait_s=13.6), endpoint_async=True))
    assert "AnyIO" not in finding.suggestion
    assert "anyio_thread_tokens" not in finding.evidence


def test_a_pool_that_keeps_up_is_no_finding() -> None:
    assert findings(POOL_SATURATION, reports_session(pool(size=20, wait_s=0.05))) == []


def test_threads_waiting_on_the_pool_are_not_threadpool_saturation() -> None:
    """The issue's case: raising AnyIO's limiter cannot help a 2-connection pool."""
    waiting = reports_session(pool(wait_s=13.6))
    free = reports_session(pool(size=20, wait_s=0.05))

    assert findings(THREADPOOL_SATURATION, waiting) == []
    assert [f.id for f in findings(THREADPOOL_SATURATION, free)] == ["threadpool-saturation"]
    report = build_report(waiting)
    assert report.findings[0].id == "connection-pool-saturation"
    assert "threadpool-saturation" not in {f.id for f in report.findings}


def test_a_cpu_bound_route_is_not_told_to_grow_its_pool() -> None:
    """SQLite behind SQLAlchemy's pool at c=60 (the library sample): requests wait for
    connections only because they share the CPU (10 ms of it each, 100 requests/s: a
    core full); more connections would not serve more of them."""
    s = reports_session(pool(wait_s=13.6))
    (probe,) = s.probes
    single = len(probe.single_durations_s)
    busy = dataclasses.replace(s, probes=(dataclasses.replace(probe, single_cpu_s=0.010 * single),))
    idle = dataclasses.replace(s, probes=(dataclasses.replace(probe, single_cpu_s=0.001 * single),))

    assert findings(POOL_SATURATION, busy) == []
    assert [f.id for f in findings(POOL_SATURATION, idle)] == ["connection-pool-saturation"]


def test_a_pool_smaller_than_the_threadpool_that_stalls_every_request() -> None:
    """The full-stack template at 60 concurrent requests: a pool of 5 + 10, 40 threads, no
    request completed in 30 s, 45 checkouts still waiting at the end."""
    stalled = dataclasses.replace(
        pool(size=5, overflow=10, wait_s=45 * 29.0), checkouts=15, stuck=45, returned=0
    )
    s = reports_session(stalled)
    (probe,) = s.probes
    probe = dataclasses.replace(probe, durations_s=(), wall_s=30.0, concurrency=60)
    s = dataclasses.replace(s, probes=(probe,))

    [finding] = findings(POOL_SATURATION, s)

    assert finding.severity is Severity.HIGH
    assert "completed 0 request(s) at 60 concurrent requests" in finding.title
    assert finding.evidence["checkouts_still_waiting"] == 45
    assert "here 60 ≥ 40 + 15" in finding.suggestion
    assert (
        "Keep a request from waiting for a thread while it holds a connection" in finding.suggestion
    )
    assert "total_tokens" not in finding.suggestion  # fewer threads would not help either
