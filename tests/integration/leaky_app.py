"""An app that keeps 100 KB of every request forever, in a module-level list: the resident
memory of its process grows with each request. The route waits `LEAKY_APP_MS` (default 5 ms)
first, so the growth's rate has a ceiling (a few hundred requests a second, tens of MB)
however fast the machine."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI

KEPT: list[bytes] = []
LEAK_BYTES = 100_000

app = FastAPI()


@app.get("/leak")
async def leak() -> dict[str, int]:
    await asyncio.sleep(float(os.environ.get("LEAKY_APP_MS", "5")) / 1000)
    # Random bytes: every page is written, so resident (zeroed memory may not be).
    KEPT.append(os.urandom(LEAK_BYTES))
    return {"kept": len(KEPT)}


@app.get("/kept")
async def kept() -> dict[str, int]:
    return {"kept": len(KEPT)}
