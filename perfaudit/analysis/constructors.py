"""Constructors of clients, engines and connections that belong in the lifespan, not in a
request: client-per-request finds them in a profile, --verify builds them once."""

from __future__ import annotations

from dataclasses import dataclass

HTTP_ADVICE = (
    "create one client when the app starts (in the lifespan, yielded as state or stored on "
    "app.state), reuse it here, and close it at shutdown: it keeps connections alive and "
    "loads the SSL context once"
)
ENGINE_ADVICE = (
    "create the engine once at startup (module level or the lifespan) and open a session or "
    "connection per request from its pool"
)
CONNECTION_ADVICE = (
    "open a pool once at startup (in the lifespan) and take a connection from it per request"
)


@dataclass(frozen=True, slots=True)
class Constructor:
    label: str  # what users call it
    file_suffixes: tuple[str, ...]  # where its code lives ("~" for built-ins)
    names: tuple[str, ...]
    advice: str


CONSTRUCTORS = (
    Constructor(
        "httpx.AsyncClient / httpx.Client",
        ("/httpx/_client.py", "/httpx2/_client.py"),
        ("__init__",),
        HTTP_ADVICE,
    ),
    Constructor("aiohttp.ClientSession", ("/aiohttp/client.py",), ("__init__",), HTTP_ADVICE),
    Constructor("requests.Session", ("/requests/sessions.py",), ("__init__",), HTTP_ADVICE),
    Constructor(
        "sqlalchemy create_engine",
        ("/sqlalchemy/engine/create.py",),
        ("create_engine",),
        ENGINE_ADVICE,
    ),
    Constructor(
        "sqlalchemy create_async_engine",
        ("/sqlalchemy/ext/asyncio/engine.py",),
        ("create_async_engine",),
        ENGINE_ADVICE,
    ),
    Constructor(
        "sqlite3.connect",
        ("~",),
        ("<built-in method _sqlite3.connect>", "<built-in method connect>"),
        CONNECTION_ADVICE,
    ),
    Constructor("asyncpg.connect", ("/asyncpg/connection.py",), ("connect",), CONNECTION_ADVICE),
    Constructor("asyncpg.create_pool", ("/asyncpg/pool.py",), ("create_pool",), CONNECTION_ADVICE),
    Constructor("psycopg2.connect", ("/psycopg2/__init__.py",), ("connect",), CONNECTION_ADVICE),
    Constructor("psycopg.connect", ("/psycopg/connection.py",), ("connect",), CONNECTION_ADVICE),
    Constructor("redis.Redis", ("/redis/client.py",), ("__init__",), CONNECTION_ADVICE),
)
