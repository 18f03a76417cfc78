"""Where a route's time goes, one request at a time: CPU, the database, other waits."""

from __future__ import annotations

import dataclasses

import pytest
from probe_builders import probe_session, route_probe
from unit_builders import measurement, profile

from perfaudit.analysis.report import build_report
from perfaudit.model import (
    DatabaseEvidence,
    PoolEvidence,
    RouteEvidence,
    RouteKey,
    Session,
    StatementShape,
)

ORDERS = RouteKey("GET", "/orders")


def orders_session(
    database: str, *, db_s: float, cpu_ms: float, pools: tuple[PoolEvidence, ...] = ()
) -> Session:
    """30 one-at-a-time requests of 10 ms using `cpu_ms` of CPU each; 50 profiled requests
    of 10 ms whose statements took `db_s` in all; under load (c=8) 80 ms each."""
    probe = route_probe(ORDERS, single_ms=10.0, loaded_ms=80.0, concurrency=8)
    probe = dataclasses.replace(probe, single_cpu_s=cpu_ms / 1000 * 30, pools=pools)
    statement = StatementShape(
        "SELECT * FROM orders WHERE email = ?", "…", "asyncpg", 50, db_s, None, database=database
    )
    profiled = profile(ORDERS, [], requests=50, request_time_s=0.5)  # 10 ms each
    s = probe_session([probe], measurements=[measurement(ORDERS)], profiles=[profiled])
    evidence = RouteEvidence(ORDERS, DatabaseEvidence(50, (statement,)))
    return dataclasses.replace(s, evidence=(evidence,))


def test_a_route_awaiting_postgresql_is_mostly_database() -> None:
    """6 ms of the 10 awaiting the server, 1 ms on the CPU, 3 ms waiting on other things."""
    (w,) = build_report(
        orders_session("postgresql://app@127.0.0.1/shop", db_s=0.3, cpu_ms=1.0)
    ).waterfalls

    assert w.request_ms == pytest.approx(10.0)
    assert not w.database_in_process
    assert dict(w.parts) == pytest.approx(
        {"CPU": 1.0, "awaiting the database": 6.0, "waiting on other things": 3.0}
    )
    assert w.dominant == ("awaiting the database", pytest.approx(0.6))
    assert w.under_load is not None and w.under_load.request_ms == pytest.approx(80.0)


def test_the_driver_s_work_inside_the_awaits_is_not_counted_twice() -> None:
    """9 ms of CPU beside 6 ms awaiting the server in a 10 ms request: the awaits hold the
    driver's own decoding; 4 ms of CPU remain outside them, and nothing waits."""
    (w,) = build_report(
        orders_session("postgresql://app@127.0.0.1/shop", db_s=0.3, cpu_ms=9.0)
    ).waterfalls

    assert dict(w.parts) == pytest.approx(
        {"CPU": 4.0, "awaiting the database": 6.0, "waiting on other things": 0.0}
    )


def test_sqlite_s_time_is_part_of_the_cpu() -> None:
    (w,) = build_report(orders_session("/srv/shop.db", db_s=0.3, cpu_ms=9.0)).waterfalls

    assert w.database_in_process
    assert dict(w.parts) == pytest.approx(
        {"CPU": 3.0, "in SQLite (on the CPU)": 6.0, "waiting on other things": 1.0}
    )


def test_under_load_names_the_wait_for_a_pool_connection() -> None:
    pool = PoolEvidence("asyncpg Pool", 2, 0, None, 100, 90, 4.0, 0.2, 2.0, 100, 0)
    s = orders_session("postgresql://app@127.0.0.1/shop", db_s=0.3, cpu_ms=1.0, pools=(pool,))

    (w,) = build_report(s).waterfalls

    # 4 s of the probe's 100 × 80 ms = 8 s: half of each request's 80 ms
    assert w.under_load is not None and w.under_load.pool_wait_ms == pytest.approx(40.0)


def test_every_format_shows_the_split() -> None:
    from perfaudit.render.html import render_html
    from perfaudit.render.json_report import report_to_dict

    report = build_report(orders_session("postgresql://app@127.0.0.1/shop", db_s=0.3, cpu_ms=1.0))

    (row,) = report_to_dict(report)["waterfalls"]
    assert row["database_ms"] == pytest.approx(6.0) and row["cpu_ms"] == pytest.approx(1.0)
    page = render_html(report)
    assert 'class="waterfall"' in page and "awaiting the database 60%" in page
