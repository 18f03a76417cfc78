"""A news feed whose main endpoint returns 2,000 posts as plain dicts, with no response
model and no return type.

Planted bottleneck: GET /feed returns the whole feed (2,000 posts, each with a title, an
author and a timestamp) as plain dicts. With no return type, FastAPI runs every value
through `jsonable_encoder` in Python, recursively, and then `json.dumps`: tens of
milliseconds per request, more than everything else. Declaring the return type
(`-> list[Post]`) lets FastAPI validate and serialise it with pydantic in Rust, and a
page of 50 would do less still. perfaudit should report slow-serialization first, at
`latest_posts`.

    perfaudit profile sample_apps.feed:app /feed /health -c 8
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, HTTPException, Request

FEED_SIZE = 2_000


def load_posts() -> list[dict[str, Any]]:
    """The feed as the storage layer hands it over: newest first, plain dicts."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        {
            "id": i,
            "title": f"Post number {i}: what happened on day {i % 365}",
            "author": f"author-{i % 50}",
            "published_at": start + timedelta(minutes=17 * (FEED_SIZE - i)),
        }
        for i in range(FEED_SIZE)
    ]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, list[dict[str, Any]]]]:
    yield {"posts": load_posts()}


app = FastAPI(title="feed", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


# No return type and no response_model: the planted bottleneck.
@app.get("/feed")
async def latest_posts(request: Request, q: str | None = None):  # type: ignore[no-untyped-def]
    posts = request.state.posts
    if q is not None:
        posts = [post for post in posts if q in post["title"]]
    return posts


@app.get("/posts/{post_id}")
async def get_post(post_id: int, request: Request):  # type: ignore[no-untyped-def]
    posts = request.state.posts
    if not 0 <= post_id < len(posts):
        raise HTTPException(status_code=404, detail="no such post")
    return posts[post_id]
