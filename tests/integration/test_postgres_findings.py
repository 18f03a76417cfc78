"""perfaudit on the PostgreSQL sample apps, against a real server (tests/postgres.py): the
planted missing index and N+1 on asyncpg, the 2-connection pool at concurrency 16, the N+1
on psycopg 3, and the clean app. Each run's every route gets a time split."""

from __future__ import annotations

from typing import Any

import pytest

from tests.postgres import Postgres

pytestmark = pytest.mark.integration
ORDERS = "/customers/customer42@example.com/orders"


@pytest.fixture
def database(postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch) -> str:
    url = postgres_server.url()
    monkeypatch.setenv("PERFAUDIT_PG_URL", url)
    return url


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["findings"]}


def test_asyncpg_unindexed_filter_and_n_plus_one(perfaudit: Any, database: str) -> None:
    result = perfaudit("profile", "sample_apps.pg_orders:app", ORDERS, "-q", timeout=240)

    assert result.code == 0, result.stderr
    findings = by_id(result.report)
    index = findings["missing-index"]
    assert index["evidence"]["table"] == "pgo_orders"
    assert index["evidence"]["columns"] == "customer_email"
    assert index["location"]["function"] == "recent_orders"
    assert "CREATE INDEX CONCURRENTLY" in index["evidence"]["index"]
    assert "customer42" not in index["evidence"]["plan"]  # the request's value is not kept
    n_plus_one = findings["n-plus-one-queries"]
    assert n_plus_one["location"]["function"] == "orders_with_items"
    assert n_plus_one["evidence"]["executions_per_request"] == 20
    assert n_plus_one["evidence"]["driver"] == "asyncpg"
    assert "ANY($1)" in n_plus_one["suggestion"]
    (split,) = result.report["waterfalls"]
    assert split["database_ms"] > split["cpu_ms"]  # it mostly awaits PostgreSQL
    assert not split["database_in_process"]


@pytest.mark.parametrize("path", ["/reports/7", "/reports/7/sync"])
def test_a_two_connection_pool_at_concurrency_16(perfaudit: Any, database: str, path: str) -> None:
    """The issue's case: not threadpool-saturation, and never advice to add threads."""
    result = perfaudit("profile", "sample_apps.pg_pool:app", path, "-c", "16", "-q", timeout=240)

    assert result.code == 0, result.stderr
    first = result.report["findings"][0]
    assert first["id"] == "connection-pool-saturation"
    assert first["evidence"]["pool_size"] == 2 and first["evidence"]["max_overflow"] == 0
    assert "threadpool-saturation" not in by_id(result.report)
    advice = " ".join(f["suggestion"] for f in result.report["findings"])
    assert "total_tokens" not in advice  # how the threadpool advice raises the limiter
    (probe,) = result.report["route_probes"]
    assert probe["connection_pools"][0]["size"] == 2


def test_psycopg_n_plus_one(perfaudit: Any, database: str) -> None:
    result = perfaudit("profile", "sample_apps.pg_psycopg:app", "/tags/python/posts", "-q")

    assert result.code == 0, result.stderr
    first = result.report["findings"][0]
    assert first["id"] == "n-plus-one-queries"
    assert first["evidence"]["driver"] == "psycopg"
    assert first["evidence"]["executions_per_request"] == 25


def test_the_clean_app_stays_clean(perfaudit: Any, database: str) -> None:
    result = perfaudit("profile", "sample_apps.pg_clean:app", "/products/7", "-q")

    assert result.code == 0, result.stderr
    assert [f["id"] for f in result.report["findings"] if f["severity"] != "info"] == []
    assert result.report["waterfalls"][0]["database_ms"] > 0


PSYCOPG2_APP = """
import os
from contextlib import asynccontextmanager

import psycopg2
from fastapi import FastAPI

SETUP = (
    "DROP TABLE IF EXISTS p2_authors; CREATE TABLE p2_authors (id int PRIMARY KEY, name text);"
    " INSERT INTO p2_authors SELECT g, 'Author ' || g FROM generate_series(1, 100) g"
)


@asynccontextmanager
async def lifespan(app):
    conn = psycopg2.connect(os.environ["PERFAUDIT_PG_URL"])
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(SETUP)
    app.state.conn = conn
    yield
    conn.close()


app = FastAPI(lifespan=lifespan)


def author_names(conn):
    names = []
    with conn.cursor() as cursor:
        for author_id in range(1, 31):
            cursor.execute("SELECT name FROM p2_authors WHERE id = %s", (author_id,))
            names.append(cursor.fetchone()[0])
    return names


@app.get("/authors")
def authors():
    return author_names(app.state.conn)
"""


def test_psycopg2_queries_are_seen_through_a_cursor_class_of_perfaudit_s_own(
    perfaudit: Any, database: str, tmp_path: Any
) -> None:
    (tmp_path / "p2app.py").write_text(PSYCOPG2_APP)

    result = perfaudit("profile", "p2app:app", "/authors", "--app-dir", str(tmp_path), "-q")

    assert result.code == 0, result.stderr
    first = result.report["findings"][0]
    assert first["id"] == "n-plus-one-queries"
    assert first["evidence"]["driver"] == "psycopg2"
    assert first["evidence"]["executions_per_request"] == 30
    assert first["location"]["function"] == "author_names"
