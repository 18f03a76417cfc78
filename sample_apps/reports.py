"""A reporting API built by a factory, with nested routers and a sync `def` endpoint.

Planted bottleneck: `summarise_orders()` regenerates and aggregates 20,000 orders in pure
Python on every call to GET /v1/api/reports/daily. The endpoint is a plain `def`, so FastAPI runs it
on an AnyIO worker thread: perfaudit must still see it (cProfile on Python 3.11 only
watches the thread that enabled it).

    perfaudit profile sample_apps.reports:create_app --factory
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, FastAPI

reports = APIRouter(prefix="/reports", tags=["reports"])
api = APIRouter(prefix="/api")

ORDER_COUNT = 20_000


def summarise_orders() -> dict[str, float]:
    """Top five customers by order value, recomputed from scratch on every call."""
    totals: dict[str, float] = defaultdict(float)
    for order_id in range(ORDER_COUNT):
        customer = f"customer-{order_id % 97}"
        totals[customer] += (order_id * 7919) % 1000 / 10
    top = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return dict(top[:5])


@reports.get("/daily")
def daily_report() -> dict[str, float]:
    return summarise_orders()


@reports.get("/{report_id}")
def report_by_id(report_id: int) -> dict[str, int]:
    return {"id": report_id}


@api.get("/ping")
async def ping() -> dict[str, bool]:
    return {"pong": True}


def create_app() -> FastAPI:
    app = FastAPI(title="reports")
    api.include_router(reports)  # nested: /api + /v1 + /reports
    app.include_router(api, prefix="/v1")
    return app
