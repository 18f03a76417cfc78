"""The database collector: every SQL statement the app runs (sqlite3, SQLAlchemy), with its
normalised shape, time and call site, and the plan of SQLite statements with a WHERE.

Timing. sqlite3 says when a statement starts (the trace callback) but not when it ends, so
during the phase each connection also gets a progress handler, called every TICK_OPS
SQLite instructions while a statement runs — through the fetches after `execute` too. A
statement lasts from its trace callback to its last tick. One too short to tick (under
~0.1 ms of SQLite work) lasts until the next statement on its connection, at most one
tick's worth (calibrated at the first start): the bare gap would also count the app's
Python between statements and, after a request's last statement, the wait for the next
request. SQLAlchemy statements no trace callback sees (other databases, async drivers) are
timed exactly by before/after_cursor_execute.

Connections. start() gives every live connection (found by gc) a trace callback and a
progress handler, and stop() takes them off, so the unprofiled phases run without them:
each callback makes SQLite's thread take the GIL back, which costs 10-20% of a long scan,
more under load. A connection refuses calls from other threads unless
check_same_thread=False, so one opened in a worker thread gets its trace callback as it
opens (install() wraps `sqlite3.connect`) and keeps it, doing nothing outside the phase;
in the phase its own thread turns the progress handler on at its first statement (timed
by the gap to the next) and off at its first statement after. (One opened in a worker
thread during the phase keeps both.) sqlite3 connections take no weak references: each
one's state lives in a hook that only its callbacks reference, so it dies with the
connection. Ours replace any trace callback or progress handler the app set itself.

Only EXPLAIN QUERY PLAN ever runs against the app's databases: on a separate read-only
connection for a file, on the app's own connection for ":memory:".
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import sqlite3
import statistics
import sys
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from time import perf_counter
from types import CodeType, FrameType, ModuleType
from typing import Any

from perfaudit.agent.capture.drivers import DriverCall, DriverHooks
from perfaudit.agent.capture.pg_explain import dsn_from_connection, explain
from perfaudit.agent.capture.sql import (
    MEMORY,
    bindable,
    connect_arguments,
    explain_query_plan,
    explainable,
    normalize_sql,
    pg_explainable,
    url_database,
)
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import NESTED_CODE, CodeLocation, DatabaseEvidence, StatementShape

TICK_OPS = 4000  # SQLite instructions per progress tick: ~0.1 ms of a table scan here
CALIBRATION = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 10000) "
    "SELECT sum(x) FROM n"
)
EXAMPLE_CHARS = 2000
MAX_EXPLAINED = 50
# PostgreSQL statements explained per phase, the slowest first: each EXPLAIN opens a
# connection of its own (20-100 ms), while the app's loop waits after the phase.
MAX_PG_EXPLAINED = 8
# SQLAlchemy's pysqlite dialect calls sqlite3.dbapi2.connect.
CONNECT_MODULES: tuple[ModuleType, ...] = (sqlite3, sqlite3.dbapi2)


@dataclass(slots=True, eq=False)
class _Run:
    """One execution of a statement."""

    sql: str
    driver: str
    database: str
    callsite: CodeLocation | None
    thread: int
    started: float
    hook: _Hook | None = None  # the hooked sqlite3 connection it ran on
    params: Any = None  # bound apart from the SQL (SQLAlchemy's view): for EXPLAIN
    sqlite: bool = True
    ended: float = 0.0  # its last progress tick
    ticked: bool = False
    ticking: bool = True  # its connection has a progress handler: untimed means short
    own_s: float | None = None  # None while it runs
    source: Any = None  # a PostgreSQL run's connection or engine URL: where EXPLAIN connects


@dataclass(slots=True, eq=False)
class _Pending:
    """A SQLAlchemy cursor execute in flight."""

    cursor_id: int
    started: float
    statement: str
    params: Any
    database: str
    sqlite: bool
    is_async: bool
    callsite: CodeLocation | None
    source: Any = None  # the engine's URL
    seen: bool = False  # a sqlite3 trace callback recorded it


class _Hook:
    """One sqlite3 connection's callbacks and the statement running on it."""

    __slots__ = ("__weakref__", "conn", "current", "database", "pinned", "recorder", "ticking")

    def __init__(self, recorder: _Recorder, database: str, *, pinned: bool) -> None:
        self.recorder = recorder
        self.database = database
        self.pinned = pinned  # hooked for life: only its own thread may touch it
        self.ticking = not pinned  # has our progress handler
        # A pinned connection, held during the phase so that its own thread can turn its
        # progress handler on, and off after the phase.
        self.conn: sqlite3.Connection | None = None
        self.current: _Run | None = None

    def on_statement(self, sql: str) -> None:
        if self.recorder.recording:
            self.recorder.statement(self, sql)
            if self.conn is not None and not self.ticking:
                self._tick(on=True)
        elif self.conn is not None:
            self._tick(on=False)

    def on_tick(self) -> int:
        run = self.current
        if run is not None:
            run.ended = perf_counter()
            run.ticked = True
        return 0  # non-zero would abort the app's statement

    def _tick(self, *, on: bool) -> None:
        assert self.conn is not None
        with contextlib.suppress(sqlite3.Error):
            self.conn.set_progress_handler(self.on_tick if on else None, TICK_OPS)
            self.ticking = on
        if not on:
            self.conn = None


class _CallSites:
    """The innermost frame of the app's own code: the line that issued the statement."""

    def __init__(self) -> None:
        self._owners = OwnerClassifier()
        # Whether a code object is the app's, by the object itself: a statement walks the
        # same dozen frames every time, and this runs for every statement in the phase.
        self._is_app: dict[CodeType, bool] = {}

    def find(self) -> CodeLocation | None:
        return self._walk(sys._getframe()) or self._walk(_greenlet_parent_frame())

    def _app_code(self, code: CodeType) -> bool:
        known = self._is_app.get(code)
        if known is None:
            # "<sqlalchemy generated …>", "<string>": code made at runtime is not the app's.
            generated = code.co_filename.startswith("<")
            owner = "" if generated else self._owners.owner(code.co_filename, code.co_name)
            known = self._is_app[code] = owner == "app"
        return known

    def _walk(self, frame: FrameType | None) -> CodeLocation | None:
        nested: FrameType | None = None
        while frame is not None:
            code = frame.f_code
            if self._app_code(code):
                if code.co_name not in NESTED_CODE:  # a comprehension: name its function
                    return _location(frame)
                nested = nested or frame
            frame = frame.f_back
        return _location(nested) if nested else None


def _location(frame: FrameType) -> CodeLocation:
    return CodeLocation(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _greenlet_parent_frame() -> FrameType | None:
    """SQLAlchemy's asyncio mode runs the driver in a greenlet whose stack ends at
    greenlet_spawn: the app's frames are on the parent greenlet's, suspended."""
    module = sys.modules.get("greenlet")
    parent = module.getcurrent().parent if module is not None else None
    frame: FrameType | None = getattr(parent, "gr_frame", None)
    return frame


class _Recorder:
    """Statement runs of the current phase, fed by the hooks and SQLAlchemy's events."""

    def __init__(self) -> None:
        self.recording = False
        self.tick_s = 0.0
        self.runs: list[_Run] = []
        self.hooks: weakref.WeakValueDictionary[int, _Hook] = weakref.WeakValueDictionary()
        self.databases: dict[int, str] = {}  # by id(connection), for those seen opening
        self._sites = _CallSites()
        self._local = threading.local()
        self._pending: dict[int, _Pending] = {}
        self._async_in_flight = 0

    def opened(self, conn: sqlite3.Connection, database: str, *, pinned: bool) -> None:
        """A connection the app just opened, in its own thread. (Its id may be a dead
        connection's whose hook a run still holds: it is new all the same.)"""
        self.databases[id(conn)] = database
        if self.recording or pinned:
            self._attach(conn, pinned=pinned and not self.recording)

    def hook(self, conn: sqlite3.Connection) -> None:
        """At start: hook a connection, or hand a pinned one's to its hook."""
        hook = self.hooks.get(id(conn))
        if hook is None:
            self._attach(conn, pinned=False)
        elif hook.pinned:
            hook.conn = conn

    def unhook(self, conn: sqlite3.Connection, *, pinned_too: bool = False) -> None:
        hook = self.hooks.get(id(conn))
        if hook is None or (hook.pinned and not pinned_too):
            return
        hook.conn = None
        with contextlib.suppress(sqlite3.Error):
            conn.set_trace_callback(None)
            conn.set_progress_handler(None, 0)
            del self.hooks[id(conn)]

    def _attach(self, conn: sqlite3.Connection, *, pinned: bool) -> None:
        hook = _Hook(self, self.databases.get(id(conn), ""), pinned=pinned)
        try:
            conn.set_trace_callback(hook.on_statement)
            if hook.ticking:
                conn.set_progress_handler(hook.on_tick, TICK_OPS)
        except sqlite3.Error:  # closed, or another thread's
            return
        self.hooks[id(conn)] = hook

    def forget_dead(self, live: list[sqlite3.Connection]) -> None:
        """Connections take no weak references: drop the databases of those gone, before
        another reuses their id."""
        alive = {id(conn) for conn in live}
        for key in [key for key in self.databases if key not in alive]:
            del self.databases[key]

    def start(self) -> None:
        self.runs = []
        self.recording = True

    def statement(self, hook: _Hook, sql: str) -> None:
        now = perf_counter()
        if hook.current is not None:
            self._close(hook.current, now)
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is not None and self._pending.get(pending.cursor_id) is not pending:
            pending = None  # left over from an execute that failed
        callsite = pending.callsite if pending else self._sites.find() or self._staged()
        if pending is None and callsite is None and self._async_in_flight:
            hook.current = None  # an async driver's own thread: SQLAlchemy's events record it
            return
        if pending is not None:
            pending.seen = True
        database = hook.database or (pending.database if pending else "")
        driver = "sqlalchemy" if pending else "sqlite3"
        thread = threading.get_ident()
        run = _Run(sql, driver, database, callsite, thread, now, hook, ended=now)
        run.ticking = hook.ticking
        hook.current = run
        self.runs.append(run)

    def busy(self) -> bool:
        """SQLAlchemy is running a statement here: the driver underneath is its, not the
        app's directly."""
        return self._async_in_flight > 0 or getattr(self._local, "pending", None) is not None

    def callsite(self) -> CodeLocation | None:
        return self._sites.find()

    def stage(self, site: CodeLocation | None) -> None:
        """The app's call site of the work this thread runs for it (aiosqlite's thread)."""
        self._local.site = site

    def _staged(self) -> CodeLocation | None:
        site: CodeLocation | None = getattr(self._local, "site", None)
        return site

    def driver_call(self, call: DriverCall) -> None:
        if not self.recording:
            return
        run = _Run(
            call.sql, call.driver, call.database, call.callsite, threading.get_ident(),
            call.started, params=call.params, sqlite=False, own_s=call.own_s,
            source=call.connection,
        )  # fmt: skip
        self.runs.append(run)

    def before(
        self,
        cursor: object,
        statement: str,
        params: Any,
        *,
        database: str,
        sqlite: bool,
        is_async: bool,
        source: Any = None,
    ) -> None:
        if not self.recording:
            return
        callsite = self._sites.find()
        pending = _Pending(
            id(cursor), perf_counter(), statement, params, database, sqlite, is_async, callsite,
            source,
        )  # fmt: skip
        self._pending[id(cursor)] = self._local.pending = pending
        self._async_in_flight += is_async

    def after(self, cursor: object) -> None:
        pending = self._pending.pop(id(cursor), None)
        self._local.pending = None
        if pending is None:
            return
        self._async_in_flight -= pending.is_async
        if not pending.seen and self.recording:
            own_s = perf_counter() - pending.started
            run = _Run(
                pending.statement,
                "sqlalchemy",
                pending.database,
                pending.callsite,
                threading.get_ident(),
                pending.started,
                params=pending.params,
                sqlite=pending.sqlite,
                own_s=own_s,
                source=pending.source,
            )
            self.runs.append(run)

    def finish(self) -> list[_Run]:
        self.recording = False
        now = perf_counter()
        for hook in list(self.hooks.values()):
            hook.current = None
        for run in self.runs:
            self._close(run, now)
        self._pending.clear()
        self._async_in_flight = 0
        runs, self.runs = self.runs, []
        return runs

    def _close(self, run: _Run, now: float) -> None:
        if run.own_s is not None:
            return
        if run.ticked:
            run.own_s = run.ended - run.started
        elif run.ticking:
            run.own_s = min(now - run.started, self.tick_s)
        else:
            run.own_s = now - run.started


class DatabaseCollector:
    def __init__(self) -> None:
        self._recorder = _Recorder()
        self._connect: Callable[..., sqlite3.Connection] | None = None
        self._engines: weakref.WeakKeyDictionary[Any, tuple[str, bool]] = (
            weakref.WeakKeyDictionary()
        )
        self._unlisten: Callable[[], None] | None = None
        recorder = self._recorder
        self._drivers = DriverHooks(
            recorder.driver_call,
            busy=recorder.busy,
            callsite=recorder.callsite,
            stage=recorder.stage,
        )

    def install(self) -> None:
        """Before the app is imported: learn the database of every connection it opens."""
        if self._connect is not None:
            return
        original: Callable[..., sqlite3.Connection] = sqlite3.connect
        self._connect = original
        recorder, installer = self._recorder, threading.get_ident()

        @functools.wraps(original)
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = original(*args, **kwargs)
            database, same_thread_only = connect_arguments(args, kwargs)
            # stop() could not unhook it, nor start() hook it: hooked now, for life.
            pinned = same_thread_only and threading.get_ident() != installer
            recorder.opened(conn, database, pinned=pinned)
            return conn

        for module in CONNECT_MODULES:
            setattr(module, "connect", connect)  # noqa: B010 - typed modules lack it

    def start(self) -> None:
        """Start recording statements (around the profiled phase)."""
        if not self._recorder.tick_s:
            self._recorder.tick_s = _calibrate_tick()
        live = _live_connections()
        self._recorder.forget_dead(live)
        for conn in live:
            self._recorder.hook(conn)
        self._unlisten = self._listen_sqlalchemy()
        self._drivers.install()
        self._recorder.start()

    def stop(self, requests: int) -> DatabaseEvidence | None:
        """Stop recording; None when the app ran no SQL."""
        runs = self._recorder.finish()
        self._drivers.uninstall()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        live = _live_connections()
        try:
            if not runs:
                return None
            return DatabaseEvidence(requests, tuple(self._shapes(runs, live, requests)))
        finally:
            for conn in live:
                self._recorder.unhook(conn)

    def uninstall(self) -> None:
        """Undo install(), and unhook every connection that lets us."""
        if self._connect is not None:
            for module in CONNECT_MODULES:
                if getattr(module.connect, "__wrapped__", None) is self._connect:
                    setattr(module, "connect", self._connect)  # noqa: B010
            self._connect = None
        for conn in _live_connections():
            self._recorder.unhook(conn, pinned_too=True)

    def _shapes(
        self, runs: list[_Run], live: list[sqlite3.Connection], requests: int
    ) -> list[StatementShape]:
        groups: dict[tuple[str, str, str, CodeLocation | None], list[_Run]] = defaultdict(list)
        for run in runs:
            groups[(run.driver, run.database, normalize_sql(run.sql), run.callsite)].append(run)
        ranked = sorted(groups.items(), key=lambda item: -sum(r.own_s or 0.0 for r in item[1]))
        explainer = _Explainer(self._recorder.hooks, live)
        shapes = [
            StatementShape(
                shape=shape,
                example=group[0].sql[:EXAMPLE_CHARS],
                driver=driver,
                executions=len(group),
                total_s=sum(r.own_s or 0.0 for r in group),
                callsite=callsite,
                plan=explainer.plan(group[0], shape) if i < MAX_EXPLAINED else (),
                database=database,
                interval_s=_interval(group, requests),
            )
            for i, ((driver, database, shape, callsite), group) in enumerate(ranked)
        ]
        on_postgres = [i for i, (_, group) in enumerate(ranked) if _postgres(group[0])]
        for i in on_postgres[:MAX_PG_EXPLAINED]:
            shapes[i] = _with_pg_plan(shapes[i], ranked[i][1][0])
        return shapes

    def _listen_sqlalchemy(self) -> Callable[[], None] | None:
        """Listen on the Engine class (async engines' sync core too), if the app uses it."""
        if "sqlalchemy" not in sys.modules:
            return None
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        listeners: tuple[tuple[str, Callable[..., None]], ...] = (
            ("before_cursor_execute", self._before_execute),
            ("after_cursor_execute", self._after_execute),
            ("handle_error", self._execute_failed),
        )
        for name, listener in listeners:
            event.listen(Engine, name, listener)

        def unlisten() -> None:
            for name, listener in listeners:
                event.remove(Engine, name, listener)

        return unlisten

    def _before_execute(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        database, sqlite = self._engine_database(conn.engine)
        is_async = bool(conn.dialect.is_async)
        self._recorder.before(
            cursor, statement, params, database=database, sqlite=sqlite, is_async=is_async,
            source=None if sqlite else conn.engine.url,
        )  # fmt: skip

    def _after_execute(self, conn: Any, cursor: Any, *_: Any) -> None:
        self._recorder.after(cursor)

    def _execute_failed(self, context: Any) -> None:
        if context.cursor is not None:
            self._recorder.after(context.cursor)

    def _engine_database(self, engine: Any) -> tuple[str, bool]:
        known = self._engines.get(engine)
        if known is None:
            known = self._engines[engine] = url_database(engine.url)
        return known


class _Explainer:
    """EXPLAIN QUERY PLAN for SQLite statements with a WHERE: nothing else, ever."""

    def __init__(
        self, hooks: weakref.WeakValueDictionary[int, _Hook], live: list[sqlite3.Connection]
    ) -> None:
        self._hooks = hooks
        self._live = live
        self._connections: dict[_Hook, sqlite3.Connection] | None = None

    def plan(self, run: _Run, shape: str) -> tuple[str, ...]:
        params = bindable(run.params)
        if not run.sqlite or params is None or not explainable(shape):
            return ()
        if run.database not in ("", MEMORY):
            uri = f"{Path(run.database).as_uri()}?mode=ro"
            with (
                contextlib.suppress(sqlite3.Error),
                contextlib.closing(sqlite3.Connection(uri, uri=True, timeout=0.5)) as db,
            ):
                return explain_query_plan(db, run.sql, params)
            return ()
        conn = self._app_connection(run.hook) if run.hook else None
        with contextlib.suppress(sqlite3.Error):  # e.g. another thread's connection
            return explain_query_plan(conn, run.sql, params) if conn is not None else ()
        return ()

    def _app_connection(self, hook: _Hook) -> sqlite3.Connection | None:
        """The live connection the statement ran on (its hook is still the one at its id)."""
        if self._connections is None:
            self._connections = {}
            for conn in self._live:
                found = self._hooks.get(id(conn))
                if found is not None:
                    self._connections[found] = conn
        return self._connections.get(hook)


def _postgres(run: _Run) -> bool:
    return run.source is not None and run.database.startswith("postgresql")


def _with_pg_plan(shape: StatementShape, run: _Run) -> StatementShape:
    """The statement's plan from a separate read-only connection (pg_explain.py says what
    runs there), for those with something an index can serve."""
    if not pg_explainable(shape.shape):
        return shape
    dsn = dsn_from_connection(run.source)
    explained = explain(dsn, run.sql, run.params) if dsn is not None else None
    if explained is None:
        return shape
    return replace(
        shape, pg_plan=explained.plan_json, table_rows=tuple(explained.table_rows.items())
    )


def _interval(group: list[_Run], requests: int) -> float:
    """Mean time from one execution to the next within a request. Requests run one at a
    time, so each adds at most one gap that spans the rest of a request and the start of
    the next: the `requests` longest gaps are left out."""
    starts: dict[int, list[float]] = defaultdict(list)
    for run in group:
        starts[run.thread].append(run.started)
    gaps = sorted(b - a for times in starts.values() for a, b in itertools.pairwise(times))
    within = gaps[: len(gaps) - requests]
    return statistics.fmean(within) if within else 0.0


def _live_connections() -> list[sqlite3.Connection]:
    return [obj for obj in gc.get_objects() if isinstance(obj, sqlite3.Connection)]


def _calibrate_tick() -> float:
    """Seconds of SQLite work between two progress ticks, on a private connection."""
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0

    with contextlib.closing(sqlite3.Connection(MEMORY)) as db:
        db.set_progress_handler(tick, TICK_OPS)
        started = perf_counter()
        db.execute(CALIBRATION).fetchall()
        elapsed = perf_counter() - started
    return elapsed / max(ticks, 1)
