"""missing-index: the finding's suggested index created on the app's SQLite database for
the rounds with the change, dropped for the rounds without, and dropped at the end; the
statement's query plan read before and after. Where it is created:

- an in-memory database: on the app's own connection (the only one that sees it), when it
  can be used from the event loop's thread;
- a file database: only with `--verify-writes-db`, on a connection of perfaudit's own to
  the file. perfaudit cannot tell a scratch file from the user's data, so without the flag
  it refuses, whoever made the file. (A copy would not do: the app's connections would
  keep reading the original.)"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from perfaudit.agent.capture.sql import MEMORY, explain_query_plan
from perfaudit.agent.verify.base import Change, Refusal, Switch, Target

_INDEX_NAME = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.IGNORECASE
)
LOCK_TIMEOUT_S = 5.0


class MissingIndexExperiment:
    finding_id = "missing-index"

    def prepare(self, target: Target) -> Change | Refusal:
        evidence = target.finding.evidence
        create = str(evidence.get("index", ""))
        match = _INDEX_NAME.match(create)
        if not create or ";" in create or match is None:
            return Refusal("no single CREATE INDEX to try (the suggested fix is another one)")
        table, statement = str(evidence.get("table", "")), str(evidence.get("statement", ""))
        database = str(evidence.get("database", ""))
        if "://" in database:  # a server: its tables are everyone's connected to it
            return Refusal(
                "not tried on a database server: an index built there changes it for every "
                "client; build it on a copy of the data and compare `EXPLAIN (ANALYZE)` "
                "before and after"
            )
        if database in ("", MEMORY):
            conn = _memory_connection(table)
            if conn is None:
                return Refusal(
                    "the in-memory database's connection cannot be used from the event "
                    "loop's thread (check_same_thread), so the index cannot be created on it"
                )
            opened: Callable[[], Any] = functools.partial(contextlib.nullcontext, conn)
            where = "the in-memory database"
        else:
            path = Path(database)
            if not path.is_file():
                return Refusal(f"the database {database} is not a file perfaudit can open")
            if not target.writes_db:
                return Refusal(
                    f"the index would be created on the file database {database}: pass "
                    "--verify-writes-db to let perfaudit create it there (and drop it after)"
                )
            opened = functools.partial(_own_connection, path)
            where = path.name
        index = Index(create, match.group(1), statement)
        return Change(f"`{create}` on {where}", index.apply(opened), details=index.details)


class Index:
    def __init__(self, create: str, name: str, statement: str) -> None:
        self.create = create
        self.name = name
        self.statement = statement
        self.plans: dict[bool, tuple[str, ...]] = {}

    def details(self) -> tuple[str, ...]:
        return tuple(
            f"plan {side}: {' | '.join(self.plans[on]) or 'not read'}"
            for on, side in ((False, "before"), (True, "after"))
            if on in self.plans
        )

    def apply(self, opened: Callable[[], Any]) -> Callable[[], Any]:
        @asynccontextmanager
        async def apply() -> AsyncIterator[Switch]:
            with opened() as db:
                if _has_index(db, self.name):
                    raise RuntimeError(f"an index named {self.name} exists already")
                self.plans[False] = self._plan(db)
                state = [False]

                def switch(on: bool) -> None:
                    if on == state[0]:
                        return
                    if on:
                        db.execute(self.create)
                        self.plans.setdefault(True, self._plan(db))
                    else:
                        db.execute(f'DROP INDEX IF EXISTS "{self.name}"')
                    state[0] = on

                try:
                    yield switch
                finally:
                    db.execute(f'DROP INDEX IF EXISTS "{self.name}"')

        return apply

    def _plan(self, db: sqlite3.Connection) -> tuple[str, ...]:
        params = (None,) * self.statement.count("?")
        try:
            return explain_query_plan(db, self.statement, params)
        except sqlite3.Error:
            return ()


def _own_connection(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, isolation_level=None))


def _has_index(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _memory_connection(table: str) -> sqlite3.Connection | None:
    """The app's live in-memory connection holding `table`, if this thread may use it."""
    for conn in _live_connections():
        with contextlib.suppress(sqlite3.Error):
            files = [row[2] for row in conn.execute("PRAGMA database_list").fetchall()]
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            if files and files[0] == "" and found is not None:
                return conn
    return None


def _live_connections() -> Iterator[sqlite3.Connection]:
    import gc

    return (obj for obj in gc.get_objects() if isinstance(obj, sqlite3.Connection))


EXPERIMENT = MissingIndexExperiment()
