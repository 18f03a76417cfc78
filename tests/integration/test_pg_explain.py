"""pg_explain against a private PostgreSQL server (tests/postgres.py): the plan of a SELECT
on a 50,000-row table without an index, through asyncpg, psycopg (and psycopg2 where it
is installed), read by pg_plans into the table, its column and the CREATE INDEX; writes
refused before any connection; every wait time-boxed; no connection left open; the
server stopped afterwards."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from perfaudit.agent.capture.pg_explain import (
    APPLICATION_NAME,
    PgDsn,
    PgExplained,
    dsn_from_connection,
    dsn_from_url,
    explain,
    is_plain_select,
)
from perfaudit.analysis.pg_plans import describe_plan, missing_indexes
from tests.postgres import Postgres, postgres

pytestmark = pytest.mark.integration

asyncpg = pytest.importorskip("asyncpg")
psycopg = pytest.importorskip("psycopg")

ROWS = 50_000
SETUP = f"""
CREATE TABLE pge_orders (
    id serial PRIMARY KEY,
    customer_email text NOT NULL,
    status varchar(20) NOT NULL,
    created_at timestamptz NOT NULL,
    total numeric(10, 2) NOT NULL
);
INSERT INTO pge_orders (customer_email, status, created_at, total)
SELECT 'c' || (g % 2500) || '@example.com', CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'new' END,
       now() - g * interval '1 minute', g % 1000
FROM generate_series(1, {ROWS}) g;
"""
BY_EMAIL = (
    "SELECT id, total FROM pge_orders WHERE customer_email = $1 ORDER BY created_at DESC LIMIT 10"
)
INDEX = (
    "CREATE INDEX CONCURRENTLY ix_pge_orders_customer_email_created_at "
    "ON pge_orders (customer_email, created_at)"
)


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    """A server of this module's own (the table is left un-ANALYZEd, as a freshly loaded one
    is: its size then comes from the live-row count); stopped and removed at the end."""
    with postgres() as started:
        started.psql("-v", "ON_ERROR_STOP=1", "-c", SETUP)
        yield started
    assert not _accepts(started.port), "the PostgreSQL server still runs after the tests"
    assert not started.data.exists()


@pytest.fixture
def dsn(server: Postgres) -> PgDsn:
    return PgDsn(host="127.0.0.1", port=server.port, user="postgres", database="postgres")


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _query(server: Postgres, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows: list[tuple[object, ...]] = conn.execute(sql).fetchall()
    return rows


def _assert_advises_the_index(explained: PgExplained | None, driver: str) -> None:
    assert explained is not None
    assert explained.driver == driver
    assert explained.server_version >= 15
    assert explained.table_rows["pge_orders"] == pytest.approx(ROWS, rel=0.2)
    (advice,) = missing_indexes(explained.plan_json, explained.table_rows)
    assert (advice.table, advice.kind) == ("pge_orders", "filter")
    assert advice.columns == ("customer_email",)
    assert advice.sort_columns == ("created_at",)
    assert advice.create == (INDEX,)
    (line,) = describe_plan(explained.plan_json, explained.table_rows)
    assert line.startswith("Limit → Sort (created_at DESC) → ")
    assert "Seq Scan on pge_orders" in line


# --- the plan, through each driver ------------------------------------------------------


def test_asyncpg_explains_a_select_with_its_recorded_values(dsn: PgDsn) -> None:
    explained = explain(dsn, BY_EMAIL, ("c7@example.com",))
    _assert_advises_the_index(explained, "asyncpg")
    assert explained is not None and not explained.generic
    assert "'c7@example.com'::text" in explained.plan_json  # planned for the value


def test_psycopg_explains_the_same_statement_in_its_own_placeholders(dsn: PgDsn) -> None:
    pyformat = BY_EMAIL.replace("$1", "%s")
    _assert_advises_the_index(
        explain(dsn, pyformat, ("c7@example.com",), drivers=("psycopg",)), "psycopg"
    )
    _assert_advises_the_index(
        explain(dsn, BY_EMAIL, ["c7@example.com"], drivers=("psycopg",)), "psycopg"
    )
    named = BY_EMAIL.replace("$1", "%(email)s")
    _assert_advises_the_index(
        explain(dsn, named, {"email": "c7@example.com"}, drivers=("psycopg",)), "psycopg"
    )


def test_asyncpg_takes_psycopg_placeholders_too(dsn: PgDsn) -> None:
    named = BY_EMAIL.replace("$1", "%(email)s").replace("SELECT id", "SELECT id, '100%%' AS p")
    _assert_advises_the_index(explain(dsn, named, {"email": "c7@example.com"}), "asyncpg")


def test_psycopg2_explains_where_it_is_installed(dsn: PgDsn) -> None:
    pytest.importorskip("psycopg2")
    _assert_advises_the_index(
        explain(dsn, BY_EMAIL, ("c7@example.com",), drivers=("psycopg2",)), "psycopg2"
    )


def test_a_statement_with_its_values_inline_needs_no_parameters(dsn: PgDsn) -> None:
    inline = BY_EMAIL.replace("$1", "'c7@example.com'")
    for driver in ("asyncpg", "psycopg"):
        _assert_advises_the_index(explain(dsn, inline, None, drivers=(driver,)), driver)


def test_parameters_without_values_need_postgresql_16(dsn: PgDsn) -> None:
    """15 has no EXPLAIN (GENERIC_PLAN): a `$1` without its value cannot be planned there."""
    explained = explain(dsn, BY_EMAIL, ("c7@example.com",))
    assert explained is not None
    for driver in ("asyncpg", "psycopg"):
        generic = explain(dsn, BY_EMAIL, None, drivers=(driver,))
        if explained.server_version >= 16:
            assert generic is not None and generic.generic
        else:
            assert generic is None


def test_it_runs_in_its_own_thread_while_the_apps_event_loop_runs(dsn: PgDsn) -> None:
    """From a worker thread of a running loop (as the agent calls it) and from the loop's
    own thread: a private loop in a thread of its own each time, the app's loop untouched."""
    ticks = 0

    async def app() -> tuple[PgExplained | None, PgExplained | None]:
        nonlocal ticks
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = loop.create_task(ticker())
        from_worker = await loop.run_in_executor(None, explain, dsn, BY_EMAIL, ("c7@example.com",))
        from_loop = explain(dsn, BY_EMAIL, ("c7@example.com",))  # blocks this loop, still works
        task.cancel()
        return from_worker, from_loop

    from_worker, from_loop = asyncio.run(app())
    _assert_advises_the_index(from_worker, "asyncpg")
    _assert_advises_the_index(from_loop, "asyncpg")
    assert ticks > 1  # the app's loop ran while the worker thread explained
    assert not [t for t in threading.enumerate() if t.name == "perfaudit-pg-explain"]


# --- nothing but a read -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM pge_orders WHERE customer_email = $1",
        "UPDATE pge_orders SET total = 0 WHERE customer_email = $1",
        "SELECT * FROM pge_orders WHERE customer_email = $1; DELETE FROM pge_orders",
        "SELECT $1::text; UPDATE pge_orders SET total = 0",
        "WITH gone AS (DELETE FROM pge_orders WHERE customer_email = $1 RETURNING id) "
        "SELECT count(*) FROM gone",
        "SELECT * INTO pge_copy FROM pge_orders WHERE customer_email = $1",
        "SELECT * FROM pge_orders WHERE customer_email = $1 FOR UPDATE",
        "select * from pge_orders where customer_email = $1 /* ; */ ; truncate pge_orders",
        "SELECT * FROM pge_orders WHERE customer_email = 'x\\'; DELETE FROM pge_orders; --'"
        " AND id = $1",
        "INSERT INTO pge_orders (customer_email, status, created_at, total) "
        "SELECT $1, 'x', now(), 0",
    ],
)
def test_anything_but_a_single_select_is_refused_and_the_table_is_untouched(
    server: Postgres, dsn: PgDsn, statement: str
) -> None:
    assert not is_plain_select(statement)
    for driver in ("asyncpg", "psycopg"):
        assert explain(dsn, statement, ("c7@example.com",), drivers=(driver,)) is None
    assert _query(server, "SELECT count(*), sum(total) FROM pge_orders") == [
        (ROWS, sum(g % 1000 for g in range(1, ROWS + 1)))
    ]
    assert _query(server, "SELECT to_regclass('pge_copy')") == [(None,)]


@pytest.mark.parametrize(
    "statement",
    [
        BY_EMAIL,
        BY_EMAIL + ";",
        "  -- the app's comment\n" + BY_EMAIL,
        "WITH recent AS (SELECT * FROM pge_orders WHERE customer_email = $1) SELECT * FROM recent",
        "SELECT 'a;b', \"weird;name\" FROM (SELECT 1 AS \"weird;name\") t WHERE $1::text <> ''",
        "SELECT $$;DELETE$$, $tag$ ; $tag$ WHERE $1::text IS NOT NULL",
    ],
)
def test_a_single_select_is_accepted(dsn: PgDsn, statement: str) -> None:
    assert is_plain_select(statement)
    assert explain(dsn, statement, ("c7@example.com",)) is not None


def test_the_explain_runs_read_only_and_time_boxed(server: Postgres, dsn: PgDsn) -> None:
    """An IMMUTABLE function of constants runs while PostgreSQL plans: this one reports the
    transaction it runs in, by failing (the server logs its message)."""
    server.psql(
        "-c",
        "CREATE FUNCTION pge_probe(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN "
        "RAISE EXCEPTION 'pge-probe read_only=% statement_timeout=% lock_timeout=% app=%', "
        "current_setting('transaction_read_only'), current_setting('statement_timeout'), "
        "current_setting('lock_timeout'), current_setting('application_name'); END $$",
    )
    try:
        statement = "SELECT * FROM pge_orders WHERE id = pge_probe($1)"
        for driver in ("asyncpg", "psycopg"):
            assert explain(dsn, statement, (1,), timeout_s=1.5, drivers=(driver,)) is None
    finally:
        server.psql("-c", "DROP FUNCTION pge_probe(int)")
    log = (server.data / "log").read_text(errors="replace")
    probes = [line for line in log.splitlines() if "ERROR:  pge-probe" in line]
    assert len(probes) == 2, log[-3000:]
    for probe in probes:
        assert probe.endswith(
            "read_only=on statement_timeout=1500ms lock_timeout=1500ms app=perfaudit-explain"
        )


def test_no_connection_is_left_open(server: Postgres, dsn: PgDsn) -> None:
    for driver in ("asyncpg", "psycopg"):
        assert explain(dsn, BY_EMAIL, ("c7@example.com",), drivers=(driver,)) is not None
    activity = (
        f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}'"
    )
    deadline = time.monotonic() + 5
    while _query(server, activity) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _query(server, activity) == [(0,)]


# --- time-boxed -------------------------------------------------------------------------


def test_a_locked_table_gives_no_plan_within_the_timeout(server: Postgres, dsn: PgDsn) -> None:
    """A migration holds ACCESS EXCLUSIVE: EXPLAIN would wait for its lock; lock_timeout and
    statement_timeout end the wait."""
    with psycopg.connect(server.url()) as migration:
        migration.execute("LOCK TABLE pge_orders IN ACCESS EXCLUSIVE MODE")
        for driver in ("asyncpg", "psycopg"):
            started = time.monotonic()
            assert (
                explain(dsn, BY_EMAIL, ("c7@example.com",), timeout_s=0.5, drivers=(driver,))
                is None
            )
            assert time.monotonic() - started < 3
        migration.rollback()


def test_no_server_gives_no_plan_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    dsn = PgDsn(host="127.0.0.1", port=port, user="postgres", database="postgres")
    for driver in ("asyncpg", "psycopg"):
        started = time.monotonic()
        assert explain(dsn, BY_EMAIL, ("c7@example.com",), timeout_s=0.5, drivers=(driver,)) is None
        assert time.monotonic() - started < 5


# --- the app's database, from its connection --------------------------------------------


def _assert_reaches_the_server(dsn: PgDsn | None, server: Postgres) -> None:
    """The DSN names the test server's address, user and database, and explains there."""
    assert dsn is not None
    assert (dsn.host, dsn.port, dsn.user, dsn.database) == (
        "127.0.0.1",
        server.port,
        "postgres",
        "postgres",
    )
    _assert_advises_the_index(explain(dsn, BY_EMAIL, ("c7@example.com",)), "asyncpg")


def test_dsn_from_asyncpg_connections_and_pools(server: Postgres, dsn: PgDsn) -> None:
    async def found() -> list[PgDsn | None]:
        conn = await asyncpg.connect(server.url())
        pool = await asyncpg.create_pool(server.url(), min_size=1, max_size=1)
        try:
            async with pool.acquire() as pooled:
                return [
                    dsn_from_connection(conn),
                    dsn_from_connection(pool),
                    dsn_from_connection(pooled),
                ]
        finally:
            await pool.close()
            await conn.close()

    for each in asyncio.run(found()):
        _assert_reaches_the_server(each, server)


def test_dsn_from_an_asyncpg_connection_on_a_unix_socket(server: Postgres) -> None:
    async def found() -> PgDsn | None:
        conn = await asyncpg.connect(host=str(server.data), port=server.port, user="postgres")
        try:
            return dsn_from_connection(conn)
        finally:
            await conn.close()

    dsn = asyncio.run(found())
    assert dsn is not None
    assert (dsn.host, dsn.socket_dir, dsn.port) == (None, str(server.data), server.port)
    _assert_advises_the_index(explain(dsn, BY_EMAIL, ("c7@example.com",)), "asyncpg")
    _assert_advises_the_index(
        explain(dsn, BY_EMAIL, ("c7@example.com",), drivers=("psycopg",)), "psycopg"
    )


def test_dsn_from_psycopg_connections(server: Postgres) -> None:
    async def from_async() -> PgDsn | None:
        async with await psycopg.AsyncConnection.connect(server.url()) as conn:
            return dsn_from_connection(conn)

    with psycopg.connect(server.url()) as conn:
        sync = dsn_from_connection(conn)
    for each in (sync, asyncio.run(from_async())):
        _assert_reaches_the_server(each, server)


def test_dsn_from_sqlalchemy_urls_and_engines(server: Postgres) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.ext.asyncio import create_async_engine

    url = f"postgresql+psycopg://postgres:s%40cret@127.0.0.1:{server.port}/postgres"
    engine = sqlalchemy.create_engine(url)
    async_engine = create_async_engine(url.replace("+psycopg", "+asyncpg"))
    try:
        for obj in (sqlalchemy.make_url(url), engine, async_engine, url):
            found = dsn_from_connection(obj)
            assert found == PgDsn("127.0.0.1", server.port, "postgres", "s@cret", "postgres"), obj
    finally:
        engine.dispose()
        asyncio.run(async_engine.dispose())
    assert dsn_from_connection(sqlalchemy.make_url("sqlite:///x.db")) is None
    assert dsn_from_connection(object()) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://app:pw@db.internal:6432/shop?sslmode=require",
            PgDsn("db.internal", 6432, "app", "pw", "shop", sslmode="require"),
        ),
        (
            "postgres://app@/shop?host=/var/run/postgresql",
            PgDsn(None, 5432, "app", None, "shop", "/var/run/postgresql"),
        ),
        ("postgresql+asyncpg://u@h1:5433,h2:5434/d", PgDsn("h1", 5433, "u", None, "d")),
        ("postgresql://[::1]:5439/d", PgDsn("::1", 5439, None, None, "d")),
        ("mysql://u@h/d", None),
    ],
)
def test_dsn_from_url(url: str, expected: PgDsn | None) -> None:
    assert dsn_from_url(url) == expected


def test_the_password_stays_out_of_repr_and_url() -> None:
    dsn = PgDsn("h", 5432, "u", "secret", "d")
    assert "secret" not in repr(dsn)
    assert dsn.safe_url == "postgresql://u@h:5432/d"
