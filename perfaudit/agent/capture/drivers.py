"""Statement hooks for the drivers no SQLite trace callback sees: asyncpg and psycopg 3,
sync and async. Each is patched on its classes for the profiled phase only (install() at
its start, uninstall() at its end), so the other phases run the drivers untouched.

What is hooked: asyncpg's `Connection._execute` and `_executemany` (every `fetch`,
`fetchrow`, `fetchval`, `execute` with arguments, `executemany`, on a pool's connections
too) and `Connection.execute` without arguments (the simple-query path); psycopg's
`Cursor.execute`/`executemany` and `AsyncCursor.execute`/`executemany` (its connections'
`execute` go through them); psycopg2, whose cursor is a C type no method of which can be
replaced, through a cursor class of perfaudit's own that its open connections create
while the phase runs (`connection.cursor_factory`, where the app set none). Prepared
statements (`conn.prepare(...)`), server-side cursors and psycopg2 connections opened
during the phase are not seen.

aiosqlite runs sqlite3 in a thread of its own, where SQLite's trace callback (database.py)
records each statement but no frame of the app is on the stack: its `Connection._execute`,
through which every call passes, hands the app's call site to that thread with the work
(`stage`), for the statement the work runs.

Timing: from the call to its return, measured around the driver's own method. For an
async driver that is the await: the round trip to the server, its work, and the wait for
the loop to resume the request, which is what the request spends on the statement.

SQLAlchemy runs psycopg and asyncpg underneath and records its statements by its own
events, with the app's call site: a statement it is running (`busy()`) is left to it, so
none is counted twice.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from perfaudit.agent.capture.patches import ClassPatches
from perfaudit.model import CodeLocation


@dataclass(frozen=True, slots=True)
class DriverCall:
    """One statement a driver ran."""

    sql: str
    driver: str  # "asyncpg" | "psycopg"
    database: str  # a URL without its password
    params: Any  # as the driver got them: for EXPLAIN
    started: float
    own_s: float
    callsite: CodeLocation | None
    connection: Any  # the driver's connection: where EXPLAIN connects to (never on it)


Record = Callable[[DriverCall], None]


class DriverHooks:
    def __init__(
        self,
        record: Record,
        *,
        busy: Callable[[], bool],
        callsite: Callable[[], CodeLocation | None],
        stage: Callable[[CodeLocation | None], None],
    ) -> None:
        self._record = record
        self._busy = busy
        self._callsite = callsite
        self._stage = stage
        self._patches = ClassPatches()
        self._psycopg2: list[Any] = []  # connections given our cursor class

    def install(self) -> None:
        """Patch the drivers the app has imported (one it never imported runs nothing)."""
        if self._patches.active or self._psycopg2:
            return
        for owner, name, wrap in self._targets():
            self._patches.wrap(owner, name, wrap)
        self._psycopg2 = self._timed_psycopg2_cursors()

    def uninstall(self) -> None:
        self._patches.undo()
        for conn in self._psycopg2:
            with contextlib.suppress(Exception):  # closed meanwhile
                conn.cursor_factory = None
        self._psycopg2 = []

    def _timed_psycopg2_cursors(self) -> list[Any]:
        extensions = sys.modules.get("psycopg2.extensions")
        if extensions is None:
            return []
        timed = self._sync_wrapper("psycopg2", _psycopg2_database)
        base = extensions.cursor
        cursor = type(
            "PerfauditTimedCursor",
            (base,),
            {"execute": timed(base.execute), "executemany": timed(base.executemany)},
        )
        given = []
        for conn in gc.get_objects():
            if isinstance(conn, extensions.connection) and conn.cursor_factory is None:
                with contextlib.suppress(Exception):
                    conn.cursor_factory = cursor
                    given.append(conn)
        return given

    def _targets(self) -> Iterator[tuple[type, str, Callable[[Any], Any]]]:
        asyncpg = sys.modules.get("asyncpg.connection")
        if asyncpg is not None:
            conn = asyncpg.Connection
            yield conn, "_execute", self._async_wrapper("asyncpg", _asyncpg_database)
            yield conn, "_executemany", self._async_wrapper("asyncpg", _asyncpg_database)
            yield conn, "execute", self._asyncpg_simple_query
        aiosqlite = sys.modules.get("aiosqlite.core")
        if aiosqlite is not None:
            yield aiosqlite.Connection, "_execute", self._aiosqlite_call_site
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None:
            for name in ("execute", "executemany"):
                yield psycopg.Cursor, name, self._sync_wrapper("psycopg", _psycopg_database)
                yield psycopg.AsyncCursor, name, self._async_wrapper("psycopg", _psycopg_database)

    def _sync_wrapper(
        self, driver: str, database: Callable[[Any], tuple[str, Any]]
    ) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            @functools.wraps(original)
            def hooked(target: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                if self._busy():
                    return original(target, query, *args, **kwargs)
                callsite, started = self._callsite(), perf_counter()
                try:
                    return original(target, query, *args, **kwargs)
                finally:
                    params = args[0] if args else kwargs.get("params")
                    where = _where(database, target)
                    self._done(driver, where, query, params, callsite=callsite, started=started)

            return hooked

        return wrap

    def _async_wrapper(
        self, driver: str, database: Callable[[Any], tuple[str, Any]]
    ) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            @functools.wraps(original)
            async def hooked(target: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                if self._busy():
                    return await original(target, query, *args, **kwargs)
                callsite, started = self._callsite(), perf_counter()
                try:
                    return await original(target, query, *args, **kwargs)
                finally:
                    params = args[0] if args else kwargs.get("params")
                    where = _where(database, target)
                    self._done(driver, where, query, params, callsite=callsite, started=started)

            return hooked

        return wrap

    def _asyncpg_simple_query(self, original: Any) -> Any:
        """`Connection.execute(query)` with no arguments; with them it calls `_execute`."""
        timed = self._async_wrapper("asyncpg", _asyncpg_database)(original)

        @functools.wraps(original)
        async def execute(conn: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if args:
                return await original(conn, query, *args, **kwargs)
            return await timed(conn, query, **kwargs)

        return execute

    def _aiosqlite_call_site(self, original: Any) -> Any:
        """The work aiosqlite queues for its thread, run there with the app's call site."""

        @functools.wraps(original)
        async def execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            site = self._callsite()
            if site is None:
                return await original(conn, fn, *args, **kwargs)

            def at_site(*inner: Any, **named: Any) -> Any:
                self._stage(site)
                try:
                    return fn(*inner, **named)
                finally:
                    self._stage(None)

            return await original(conn, at_site, *args, **kwargs)

        return execute

    def _done(
        self,
        driver: str,
        where: tuple[str, Any],
        query: Any,
        params: Any,
        *,
        callsite: CodeLocation | None,
        started: float,
    ) -> None:
        database, connection = where
        call = DriverCall(
            _text(query), driver, database, params, started, perf_counter() - started,
            callsite, connection,
        )  # fmt: skip
        self._record(call)


def _where(database: Callable[[Any], tuple[str, Any]], target: Any) -> tuple[str, Any]:
    """The statement's database, or none: a connection closed by the statement itself (or
    a driver version with other attributes) must not turn into an error of the app's."""
    try:
        return database(target)
    except Exception:
        return "", None


def _text(query: Any) -> str:
    """A statement as text: psycopg takes `sql.Composed` objects and bytes too."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", errors="replace")
    as_string = getattr(query, "as_string", None)
    if as_string is not None:
        with contextlib.suppress(Exception):  # a composed query that needs its connection
            return str(as_string(None))
    return str(query)


def _asyncpg_database(conn: Any) -> tuple[str, Any]:
    """(URL without the password, the connection) of an asyncpg connection."""
    params, addr = getattr(conn, "_params", None), getattr(conn, "_addr", None)
    user = getattr(params, "user", "") or ""
    name = getattr(params, "database", "") or ""
    host = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)
    return f"postgresql://{user}@{host}/{name}", conn


def _psycopg2_database(cursor: Any) -> tuple[str, Any]:
    conn = cursor.connection
    params = conn.get_dsn_parameters()
    host = params.get("host", "")
    where = f"{host}:{params.get('port', '')}" if host else ""
    return f"postgresql://{params.get('user', '')}@{where}/{params.get('dbname', '')}", conn


def _psycopg_database(cursor: Any) -> tuple[str, Any]:
    conn = cursor.connection
    info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}", conn
