"""A route whose latency the test sets: `SLOW_APP_MS` milliseconds of `await asyncio.sleep`
per request, read at each request. Run at 10 ms and at 20 ms, it plants a 2× slowdown."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/work")
async def work() -> dict[str, float]:
    delay_ms = float(os.environ["SLOW_APP_MS"])
    await asyncio.sleep(delay_ms / 1000)
    return {"slept_ms": delay_ms}
