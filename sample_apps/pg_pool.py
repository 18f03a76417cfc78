"""Sales reports on PostgreSQL through SQLAlchemy 2's async engine (asyncpg), with a small pool.

Planted bottleneck: the engine's pool holds 2 connections (`pool_size=2, max_overflow=0`),
and GET /reports/{n} keeps one for ~20 ms: `build_report()` waits on the database
(`SELECT pg_sleep(0.02)`, a stand-in for a slow report query) and then reads one row by its
primary key. Two requests at a time are served; at concurrency 16 the other 14 queue in the
pool's checkout (up to `pool_timeout=30` s): a request takes ~190 ms instead of ~26 ms, and
the app serves ~85 requests/s whatever the concurrency (2 connections / ~22 ms). Pool
saturation, not a slow database. perfaudit should report the wait for a connection and
suggest a pool as large as the concurrency (`pool_size`/`max_overflow`), or holding the
connection for less time.

GET /reports/{n}/sync is the same report on a sync engine (psycopg 3) with the same 2
connections in a `def` route: there the waiting is done by FastAPI's worker threads.

The database comes from $PERFAUDIT_PG_URL (`postgresql://user@host:port/db`); the lifespan
drops and re-creates the app's table (`pgpool_reports`, so other apps can share the
database) and seeds 10,000 reports with `generate_series`.

    PERFAUDIT_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        perfaudit profile sample_apps.pg_pool:app /reports/7 /health -c 16
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL, Row
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sample_apps._postgres import database_url

REPORT_COUNT = 10_000
POOL = {"pool_size": 2, "max_overflow": 0, "pool_timeout": 30}

SETUP = (
    "SELECT pg_advisory_xact_lock(hashtext('pgpool_'))",
    "DROP TABLE IF EXISTS pgpool_reports",
    """CREATE TABLE pgpool_reports (
        id integer PRIMARY KEY,
        region text NOT NULL,
        quarter text NOT NULL,
        revenue numeric(12, 2) NOT NULL,
        orders integer NOT NULL
    )""",
    "SELECT setseed(0.7)",
    f"""INSERT INTO pgpool_reports
    SELECT g, (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4],
           (2015 + g / 400 % 10) || '-Q' || (1 + g / 100 % 4),
           round((10000 + random() * 990000)::numeric, 2), 100 + floor(random() * 9900)
    FROM generate_series(1, {REPORT_COUNT}) g""",
    "ANALYZE pgpool_reports",
)
WAIT = text("SELECT pg_sleep(0.02)")  # the slow part of the report, done in the database
REPORT = text("SELECT id, region, quarter, revenue, orders FROM pgpool_reports WHERE id = :id")


class Report(BaseModel):
    id: int
    region: str
    quarter: str
    revenue: float
    orders: int


def driver_url(driver: str) -> URL:
    return make_url(database_url("pg_pool")).set(drivername=f"postgresql+{driver}")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, AsyncEngine | Engine]]:
    engine = create_async_engine(driver_url("asyncpg"), **POOL)
    sync_engine = create_engine(driver_url("psycopg"), **POOL)
    try:
        async with engine.begin() as connection:
            for statement in SETUP:
                await connection.exec_driver_sql(statement)
        yield {"engine": engine, "sync_engine": sync_engine}
    finally:
        await engine.dispose()
        sync_engine.dispose()


app = FastAPI(title="pg_pool", lifespan=lifespan)


def _report(row: Row[Any] | None) -> Report:
    if row is None:
        raise HTTPException(status_code=404, detail="no such report")
    return Report(id=row.id, region=row.region, quarter=row.quarter,
                  revenue=float(row.revenue), orders=row.orders)  # fmt: skip


async def build_report(engine: AsyncEngine, n: int) -> Report:
    async with engine.connect() as connection:  # held for the whole ~20 ms
        await connection.execute(WAIT)
        row = (await connection.execute(REPORT, {"id": n})).first()
    return _report(row)


def build_report_sync(engine: Engine, n: int) -> Report:
    with engine.connect() as connection:
        connection.execute(WAIT)
        row = connection.execute(REPORT, {"id": n}).first()
    return _report(row)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/reports/{n}")
async def get_report(request: Request, n: int) -> Report:
    return await build_report(request.state.engine, n)


@app.get("/reports/{n}/sync")
def get_report_sync(request: Request, n: int) -> Report:
    return build_report_sync(request.state.sync_engine, n)
