"""A currency API that opens a new HTTP client for every call to its rates provider.

Planted bottleneck: `fetch_rate()` does `async with httpx2.AsyncClient(...) as client:` on
every request to GET /rates/{currency}. The call to the provider is properly awaited, but
building the client is not free: each one creates an SSL context and loads the CA bundle
(`SSLContext.load_verify_locations`), ~50 ms of CPU on the event loop measured here
(median of 20 constructions on Python 3.11; more than the 5 ms the provider takes to
answer), and opens a fresh connection pool, so nothing is reused. Under load the
constructions queue up on the loop: with a 2 s timeout, 6 of 40 requests at concurrency 100
timed out while their answers sat unread. perfaudit should report client-per-request at
`fetch_rate` and suggest one client created in the lifespan and shared.

The rates provider is a stand-in: the lifespan starts a small HTTP server on 127.0.0.1
(a free port; sample_apps/_remote.py) that answers after 5 ms, and stops it at shutdown.

    perfaudit profile sample_apps.rates:app /rates/USD /health -c 8
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sample_apps._remote import remote_service

PROVIDER_LATENCY_S = 0.005
PROVIDER_REPLY = '{"base": "EUR", "quote": "{id}", "rate": 1.0842, "as_of": "2024-05-14"}'
CURRENCIES = frozenset({"USD", "GBP", "JPY", "CHF", "SEK"})


class Rate(BaseModel):
    base: str
    quote: str
    rate: float
    as_of: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    with remote_service(delay_s=PROVIDER_LATENCY_S, body=PROVIDER_REPLY) as provider_url:
        yield {"provider_url": provider_url}


app = FastAPI(title="rates", lifespan=lifespan)


async def fetch_rate(provider_url: str, currency: str) -> Rate:
    """Ask the rates provider for today's EUR → `currency` rate."""
    async with httpx2.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{provider_url}/latest/{currency}")
    response.raise_for_status()
    return Rate.model_validate(response.json())


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/rates/{currency}")
async def rate(currency: str, request: Request) -> Rate:
    if currency.upper() not in CURRENCIES:
        raise HTTPException(status_code=404, detail=f"no rate for {currency}")
    return await fetch_rate(request.state.provider_url, currency.upper())
