"""A shipping-quote service that rebuilds the same rate tables on every request.

Planted bottleneck: `rate_table(region, carrier)` computes a carrier's rate for each of
2,000 weight bands in a region (~7 ms of pure Python), and every quote asks for it for two
carriers. Its result depends only on its arguments, and those repeat on every request (a
handful of regions times two carriers). perfaudit should rank cacheable-call first at
`rate_table`, with the repeat ratio it saw, and suggest `functools.lru_cache`.

The quote route is a plain `def`: FastAPI runs it on a worker thread, so its CPU work does
not also stall the event loop. (As `async def` it would, and event-loop-blocked would be
reported beside cacheable-call: a cache removes the blocking on every hit, but a miss still
blocks the loop.)

    perfaudit profile sample_apps.shipping:app "/quotes?country=DE&weight_kg=3.5" /health -c 8
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

CARRIERS = ("parcelnet", "swiftpost")
REGION_OF = {"DE": "eu", "FR": "eu", "NL": "eu", "US": "na", "CA": "na", "JP": "apac"}
BANDS = 2_000  # 50 g weight bands, up to 100 kg


class Quote(BaseModel):
    carrier: str
    region: str
    weight_kg: float
    price: float


app = FastAPI(title="shipping")


def rate_table(region: str, carrier: str) -> dict[int, float]:
    """Price per 50 g weight band for one carrier in one region: pure, and rebuilt on
    every call."""
    base = 3.5 + len(region) * 0.4 + len(carrier) * 0.1
    offset = len(carrier)
    table: dict[int, float] = {}
    for band in range(BANDS):
        price = base
        for step in range(12):
            price += ((band * 31 + step * 7 + offset) % 11) * 0.003 * (1 + step / 10)
        table[band] = round(price, 2)
    return table


def quote_for(carrier: str, region: str, weight_kg: float) -> Quote:
    band = min(int(weight_kg * 20), BANDS - 1)
    return Quote(
        carrier=carrier,
        region=region,
        weight_kg=weight_kg,
        price=rate_table(region, carrier)[band],
    )


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/quotes")
def quotes(country: str = "DE", weight_kg: float = 2.0) -> list[Quote]:
    region = REGION_OF.get(country.upper())
    if region is None:
        raise HTTPException(status_code=404, detail=f"no shipping to {country}")
    return [quote_for(carrier, region, weight_kg) for carrier in CARRIERS]
