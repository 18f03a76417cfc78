"""A pricing service whose price list is slow: every request rebuilds the tariff table.

Planted bottleneck: `tariff_table()` recomputes 4,000 tariff rows in pure Python on every
call, though its result depends on nothing but constants, and does it on the event loop.
perfaudit should rank it first: event-loop-blocked (CPU-bound Python) and cacheable-call
(the same result every time), suggesting `functools.lru_cache` or building it at startup.

    perfaudit profile sample_apps.pricing:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

REGIONS = ("eu", "us", "apac", "latam")


class Product(BaseModel):
    sku: str
    name: str
    base_price: float


class Quote(BaseModel):
    sku: str
    region: str
    price: float


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, dict[str, Product]]]:
    catalog = {
        f"SKU{i:03d}": Product(sku=f"SKU{i:03d}", name=f"Product {i}", base_price=5.0 + i % 40)
        for i in range(120)
    }
    yield {"catalog": catalog}


app = FastAPI(title="pricing", lifespan=lifespan)


def tariff_table() -> dict[tuple[str, int], float]:
    """Tariff multiplier per (region, weight band): pure, and rebuilt on every call."""
    table: dict[tuple[str, int], float] = {}
    for region_index, region in enumerate(REGIONS):
        for band in range(1000):
            rate = 1.0
            for step in range(12):
                rate = rate * 1.0007 + ((band * step + region_index) % 7) * 0.0001
            table[(region, band)] = round(rate, 6)
    return table


def price_for(product: Product, region: str) -> float:
    band = int(product.base_price * 10) % 1000
    return round(product.base_price * tariff_table()[(region, band)], 2)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/products")
async def products(request: Request) -> list[Product]:
    return list(request.state.catalog.values())[:20]


@app.get("/quotes/featured")
async def featured_quotes(request: Request, region: str = "eu") -> list[Quote]:
    featured = list(request.state.catalog.values())[:3]
    return [Quote(sku=p.sku, region=region, price=price_for(p, region)) for p in featured[:1]]


@app.get("/quote/{sku}")
async def quote(sku: str, request: Request, region: str = "eu") -> Quote:
    product = request.state.catalog.get(sku)
    if product is None:
        raise HTTPException(status_code=404, detail=f"unknown sku {sku}")
    return Quote(sku=sku, region=region, price=price_for(product, region))
