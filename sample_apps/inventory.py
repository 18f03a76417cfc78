"""An inventory API that asks a warehouse service for stock levels with `requests`.

Planted bottleneck: `fetch_stock_level()` calls the warehouse with `requests.get(...)` from
inside the `async def` GET /stock/{sku}. `requests` is synchronous, so the event loop is
frozen for the whole round trip (~20 ms) and every other request, /health included, waits
behind it. perfaudit should report event-loop-blocked at `fetch_stock_level` and suggest an
async client shared from the lifespan.

The warehouse service is a stand-in: the lifespan starts a small HTTP server on 127.0.0.1
(a free port; sample_apps/_remote.py) that answers after 20 ms, and stops it at shutdown.

    perfaudit profile sample_apps.inventory:app /stock/A1 /health -c 8
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import requests
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sample_apps._remote import remote_service

WAREHOUSE_LATENCY_S = 0.02
WAREHOUSE_REPLY = '{"sku": "{id}", "warehouse": "ams-1", "on_hand": 42, "reserved": 3}'


class StockLevel(BaseModel):
    sku: str
    warehouse: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Availability(BaseModel):
    sku: str
    available: int
    in_stock: bool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    with remote_service(delay_s=WAREHOUSE_LATENCY_S, body=WAREHOUSE_REPLY) as warehouse_url:
        yield {"warehouse_url": warehouse_url}


app = FastAPI(title="inventory", lifespan=lifespan)


def fetch_stock_level(warehouse_url: str, sku: str) -> StockLevel:
    """Ask the warehouse service how many units of `sku` it holds."""
    response = requests.get(f"{warehouse_url}/levels/{sku}", timeout=2.0)
    response.raise_for_status()
    return StockLevel.model_validate(response.json())


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/stock/{sku}")
async def stock(sku: str, request: Request) -> Availability:
    if not sku.isalnum():
        raise HTTPException(status_code=422, detail="sku must be alphanumeric")
    level = fetch_stock_level(request.state.warehouse_url, sku)
    return Availability(sku=sku, available=level.available, in_stock=level.available > 0)
