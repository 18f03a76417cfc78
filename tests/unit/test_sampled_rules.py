"""The rules on `perfaudit attach` sessions: findings from py-spy's samples name the same
function, line and fix as in-process, and rules that need in-process probes stay quiet."""

from __future__ import annotations

import pytest
from sampling_builders import (
    ON_LOOP,
    ON_WORKER,
    WORKER_IDLE,
    app,
    attach_session,
    endpoint,
    process,
    recorded,
    run,
    stack,
    thread,
)
from unit_builders import measurement

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules import all_rules, not_run_from_samples
from perfaudit.analysis.rules.cpu_hotspot import RULE as CPU_HOTSPOT
from perfaudit.analysis.rules.default_event_loop import RULE as DEFAULT_LOOP
from perfaudit.analysis.rules.event_loop_blocked import FIXES
from perfaudit.analysis.rules.event_loop_blocked import RULE as LOOP_BLOCKED
from perfaudit.analysis.rules.sync_db_driver import RULE as SYNC_DB
from perfaudit.analysis.rules.threadpool_saturation import RULE as SATURATION
from perfaudit.analysis.sampling import route_profiles
from perfaudit.model import RouteKey, SamplingRun, Session

RECORDINGS = [
    f"{case}_{server}"
    for case in ("sleep_async", "sleep_sync", "clean")
    for server in ("asyncio", "uvloop")
]


def findings(rule: object, session: Session) -> list[Finding]:
    return list(rule.check(AnalysisContext(session)))  # type: ignore[attr-defined]


def attached(sampling: SamplingRun) -> Session:
    return attach_session(sampling, profiles=route_profiles(sampling, "/srv/app"))


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_time_sleep_in_async_def_blocks_the_loop(server: str) -> None:
    (finding,) = findings(LOOP_BLOCKED, attached(recorded(f"sleep_async_{server}")))
    assert finding.severity == Severity.HIGH
    assert finding.route == "sleep_async()"
    assert finding.location is not None
    assert (finding.location.file, finding.location.line, finding.location.function) == (
        "app.py",
        10,
        "sleep_async",
    )
    assert finding.evidence["blocking_call"] == "time.sleep"
    assert float(finding.evidence["blocked_share"]) > 0.95
    assert "run_endpoint_function" in str(finding.evidence["stack"])
    assert FIXES["sleep"] in finding.suggestion


def test_the_route_table_names_the_blocked_route() -> None:
    sampling = recorded("sleep_async_asyncio")
    table = (endpoint("GET", "/sleep-async", "sleep_async", module="app.py"),)
    sampling = SamplingRun(**{**_fields(sampling), "endpoints": table})
    (finding,) = findings(LOOP_BLOCKED, attached(sampling))
    assert finding.route == "GET /sleep-async"


def _fields(sampling: SamplingRun) -> dict[str, object]:
    return {name: getattr(sampling, name) for name in SamplingRun.__dataclass_fields__}


@pytest.mark.parametrize("name", [n for n in RECORDINGS if not n.startswith("sleep_async")])
def test_no_blocked_loop_where_the_loop_ran_no_app_code(name: str) -> None:
    assert findings(LOOP_BLOCKED, attached(recorded(name))) == []


def test_a_short_stall_is_below_the_bar() -> None:
    loop = thread(
        "loop",
        stack(8, app("tidy", 4, "time.sleep(0.01)"), *ON_LOOP),
        stack(92, app("fast", 9), *ON_LOOP),
    )
    blocked = findings(LOOP_BLOCKED, attached(run(process(loop))))
    assert [f.location.function for f in blocked if f.location] == ["fast"]


def test_a_sync_db_query_on_the_loop_is_a_sync_db_driver_finding() -> None:
    query = app("search", 22, 'rows = conn.execute("SELECT * FROM items").fetchall()')
    loop = thread("loop", stack(70, query, *ON_LOOP), stack(30, app("idle_ok", 1), *ON_LOOP))
    session = attached(run(process(loop)))
    (db,) = findings(SYNC_DB, session)
    assert db.location is not None and (db.location.function, db.location.line) == ("search", 22)
    assert db.severity == Severity.HIGH
    assert all(
        f.location and f.location.function != "search" for f in findings(LOOP_BLOCKED, session)
    )


@pytest.mark.parametrize("server", ["asyncio", "uvloop"])
def test_sleeping_def_endpoints_saturate_the_threadpool(server: str) -> None:
    (finding,) = findings(SATURATION, attached(recorded(f"sleep_sync_{server}")))
    assert finding.location is not None
    assert (finding.location.function, finding.location.line) == ("sleep_sync", 16)
    assert finding.route == "sleep_sync()"
    assert finding.evidence["worker_threads"] == 40
    assert "total_tokens = 80" in finding.suggestion


@pytest.mark.parametrize("name", [n for n in RECORDINGS if not n.startswith("sleep_sync")])
def test_no_saturation_without_busy_workers(name: str) -> None:
    assert findings(SATURATION, attached(recorded(name))) == []


def test_saturation_needs_all_threads_busy_at_once_when_the_order_is_known() -> None:
    busy = stack(50, app("upload", 21), *ON_WORKER)
    idle = stack(50, *WORKER_IDLE)
    # Every worker busy 3/4 of the time, but never all at once.
    workers = [
        thread("worker", busy, idle, thread_id=i, timeline=[(1, 25 * (i % 4)), (0, 75)])
        for i in range(40)
    ]
    assert findings(SATURATION, attached(run(process(*workers)))) == []


@pytest.mark.parametrize("name", ["clean_asyncio", "sleep_sync_asyncio"])
def test_asyncio_and_h11_seen_in_the_stacks_are_reported(name: str) -> None:
    (finding,) = findings(DEFAULT_LOOP, attached(recorded(name)))
    assert finding.severity == Severity.LOW
    assert finding.evidence == {"loop_seen": "asyncio", "http_seen": "h11"}


@pytest.mark.parametrize("name", ["clean_uvloop", "sleep_sync_uvloop"])
def test_uvloop_and_httptools_seen_in_the_stacks_are_fine(name: str) -> None:
    assert findings(DEFAULT_LOOP, attached(recorded(name))) == []


def test_cpu_work_in_a_sampled_profile_is_a_cpu_hotspot_and_sleeping_is_not() -> None:
    route = RouteKey("GET", "/quote")
    loop = thread(
        "loop",
        stack(
            60,
            app("tariff_table", 30, "rows = [price(x) for x in range(n)]"),
            app("quote", 12),
            *ON_LOOP,
        ),
        stack(40, app("quote", 13, "time.sleep(0.01)"), *ON_LOOP),
    )
    sampling = run(process(loop), endpoints=[endpoint("GET", "/quote", "quote")])
    session = attach_session(
        sampling,
        profiles=route_profiles(sampling, "/srv/app", requests={route: 100}),
        measurements=[measurement(route)],
    )
    (finding,) = findings(CPU_HOTSPOT, session)
    assert finding.location is not None
    assert (finding.location.function, finding.location.line) == ("tariff_table", 30)
    assert finding.evidence["share_of_route_time"] == pytest.approx(0.6)
    assert "calls_per_request" not in finding.evidence


@pytest.mark.parametrize(("requests", "expected"), [(2, ["cpu-hotspot"]), (4000, [])])
def test_a_sampled_hotspot_costs_its_samples_per_request_served(
    requests: int, expected: list[str]
) -> None:
    """A sampled profile holds only the samples under the endpoint: 3 samples of `items`
    are all of them, but over 4,000 requests that is microseconds per request, not the
    20 ms latency measured over HTTP (the clean app under load, sampled)."""
    route = RouteKey("GET", "/items")
    loop = thread("loop", stack(3, app("items", 42), *ON_LOOP))
    sampling = run(process(loop), endpoints=[endpoint("GET", "/items", "items")])
    session = attach_session(
        sampling,
        profiles=route_profiles(sampling, "/srv/app", requests={route: requests}),
        measurements=[measurement(route)],
    )

    assert [f.id for f in findings(CPU_HOTSPOT, session)] == expected


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_rule_runs_on_an_attach_session(name: str) -> None:
    report = build_report(attached(recorded(name)))
    ids = {f.id for f in report.findings}
    assert ids <= {"event-loop-blocked", "threadpool-saturation", "default-event-loop"}
    assert len(all_rules()) > 10


def test_the_rules_that_cannot_run_from_samples_are_listed() -> None:
    missing = not_run_from_samples(attached(recorded("sleep_async_asyncio")))
    assert {"n-plus-one-queries", "cacheable-call", "cpu-hotspot", "route-errors"} <= set(missing)
    assert "event-loop-blocked" not in missing
    assert set(missing) <= {rule.id for rule in all_rules()}
