"""The server the load tests aim at: known latencies, chosen statuses, an echo."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request, Response

app = FastAPI()
# Requests to /hello and /sleep so far: tests wait for load to arrive.
counter = {"served": 0}


@app.get("/served")
async def served() -> dict[str, int]:
    return counter


@app.get("/hello")
async def hello() -> dict[str, str]:
    counter["served"] += 1
    return {"hello": "world"}


@app.get("/sleep/{ms}")
async def sleep(ms: int) -> dict[str, int]:
    counter["served"] += 1
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/status/{code}")
async def status(code: int) -> Response:
    return Response(status_code=code)


@app.post("/echo")
async def echo(request: Request) -> dict[str, object]:
    body = await request.body()
    return {"bytes": len(body), "content_type": request.headers.get("content-type", "")}
