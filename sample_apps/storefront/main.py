"""A storefront whose code is fine and whose deployment is not: its requirements.txt
installs plain `uvicorn`, so the image serves it on asyncio's event loop and the h11
parser. Its routes are cheap, so the server's own per-request work (parsing HTTP, running
the loop) is a large share of each request: where uvloop and httptools pay off most.

    perfaudit profile sample_apps.storefront.main:app --verify
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, dict[str, Product]]]:
    products = [
        Product(sku=f"SKU-{i:03d}", name=f"product {i}", price_cents=100 + i) for i in range(20)
    ]
    yield {"products": {p.sku: p for p in products}}


app = FastAPI(title="storefront", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/products/{sku}")
async def product(sku: str, request: Request) -> Product:
    found: Product | None = request.state.products.get(sku)
    if found is None:
        raise HTTPException(404, f"no product {sku}")
    return found
