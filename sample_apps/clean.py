"""A clean app: cheap handlers, state built once in the lifespan. perfaudit should find
nothing above `low` here.

    perfaudit profile sample_apps.clean:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import FastAPI, Request
from pydantic import BaseModel


class Item(BaseModel):
    id: int
    name: str


@lru_cache
def settings() -> dict[str, str]:
    return {"region": "eu", "currency": "EUR"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, list[Item]]]:
    yield {"items": [Item(id=i, name=f"item {i}") for i in range(10)]}


app = FastAPI(title="clean", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items")
async def items(request: Request) -> list[Item]:
    return request.state.items


@app.get("/settings")
async def read_settings() -> dict[str, str]:
    return settings()
