"""A blog's tag pages on PostgreSQL, through psycopg 3's async connection.

Planted bottleneck: GET /tags/{tag}/posts runs `posts_with_authors()`, which selects the
tag's 25 latest posts (`WHERE tag = %s`, an indexed lookup, under a millisecond) and then
awaits one more query per post for its author (`SELECT … FROM pgp_authors WHERE id = %s`,
~0.25 ms each, ~6.5 ms for the 25, most of a ~9 ms request): 26 round trips where one join
would do — the N+1 pattern. Each query is cheap; their number is the cost, and the
connection is held for all of them. perfaudit should report n-plus-one-queries at
`posts_with_authors` and suggest a join (or one `WHERE id = ANY(%s)` for the authors).

The app has one `psycopg.AsyncConnection` (autocommit), opened by the lifespan, and an
`asyncio.Lock` around it: a connection runs one query at a time, so requests take turns,
and the N+1 makes each turn 26 round trips long. (psycopg's own pool is another package,
psycopg_pool.) The database comes from $PERFAUDIT_PG_URL (`postgresql://user@host:port/db`);
the lifespan drops and re-creates the app's tables (`pgp_…`, so other apps can share the
database) and seeds 2,000 authors and 50,000 posts over 40 tags with `generate_series`.

    PERFAUDIT_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        perfaudit profile sample_apps.pg_psycopg:app /tags/python/posts /posts/7 /health
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sample_apps._postgres import database_url

AUTHOR_COUNT = 2_000
POST_COUNT = 50_000
PAGE_SIZE = 25
TAGS = ("python", "postgres", "fastapi", "asyncio", "testing", "performance", "docker",
        "linux", "security", "design", "rust", "go", "sql", "caching", "queues", "http",
        "tls", "dns", "git", "ci", "profiling", "memory", "threads", "sockets", "json",
        "pydantic", "sqlalchemy", "redis", "kafka", "grpc", "graphql", "oauth", "jwt",
        "logging", "metrics", "tracing", "kubernetes", "nginx", "uvicorn", "celery")  # fmt: skip

TAG_LIST = ",".join(TAGS)
TAG_OF_G = f"(string_to_array('{TAG_LIST}', ','))[1 + g % {len(TAGS)}]"
SETUP = (
    "SELECT pg_advisory_xact_lock(hashtext('pgp_'))",
    "DROP TABLE IF EXISTS pgp_posts, pgp_authors",
    "CREATE TABLE pgp_authors (id integer PRIMARY KEY, name text NOT NULL, bio text NOT NULL)",
    """CREATE TABLE pgp_posts (
        id integer PRIMARY KEY,
        author_id integer NOT NULL,
        tag text NOT NULL,
        title text NOT NULL,
        published_at timestamptz NOT NULL
    )""",
    "SELECT setseed(0.31)",
    f"""INSERT INTO pgp_authors
    SELECT g, 'Author ' || g, 'Writes about ' || {TAG_OF_G}
    FROM generate_series(1, {AUTHOR_COUNT}) g""",
    f"""INSERT INTO pgp_posts
    SELECT g, 1 + floor(random() * {AUTHOR_COUNT}), {TAG_OF_G},
           'Post number ' || g, timestamptz '2023-01-01 00:00Z' + g * interval '17 minutes'
    FROM generate_series(1, {POST_COUNT}) g""",
    "CREATE INDEX pgp_posts_tag ON pgp_posts (tag, published_at)",
    "ANALYZE pgp_authors, pgp_posts",
)
POSTS = """
SELECT id, author_id, title, published_at FROM pgp_posts
WHERE tag = %s ORDER BY published_at DESC LIMIT %s
"""
AUTHOR = "SELECT name FROM pgp_authors WHERE id = %s"
POST = "SELECT id, author_id, tag, title, published_at FROM pgp_posts WHERE id = %s"


class Post(BaseModel):
    id: int
    title: str
    author: str
    published_at: datetime


class PostDetail(BaseModel):
    id: int
    author_id: int
    tag: str
    title: str
    published_at: datetime


class Database:
    """One connection, one query at a time: the lock makes requests take turns."""

    def __init__(self, connection: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Database]]:
    connection = await psycopg.AsyncConnection.connect(database_url("pg_psycopg"), autocommit=True)
    try:
        async with connection.transaction():
            for statement in SETUP:
                await connection.execute(statement)
        yield {"database": Database(connection)}
    finally:
        await connection.close()


app = FastAPI(title="pg_psycopg", lifespan=lifespan)


async def posts_with_authors(database: Database, tag: str) -> list[Post]:
    async with database.lock:
        cursor = await database.connection.execute(POSTS, (tag, PAGE_SIZE))
        posts = []
        for post_id, author_id, title, published_at in await cursor.fetchall():
            author = await database.connection.execute(AUTHOR, (author_id,))  # one per post
            row = await author.fetchone()
            name = row[0] if row else "unknown"
            posts.append(Post(id=post_id, title=title, author=name, published_at=published_at))
        return posts


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/tags/{tag}/posts")
async def tag_posts(request: Request, tag: str) -> list[Post]:
    return await posts_with_authors(request.state.database, tag)


@app.get("/posts/{post_id}")
async def get_post(request: Request, post_id: int) -> PostDetail:
    database: Database = request.state.database
    async with database.lock:
        cursor = await database.connection.execute(POST, (post_id,))
        row = await cursor.fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="no such post")
    id_, author_id, tag, title, published_at = row
    return PostDetail(id=id_, author_id=author_id, tag=tag, title=title, published_at=published_at)
