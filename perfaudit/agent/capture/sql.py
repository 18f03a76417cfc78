"""SQL as text: a statement's shape, which SQLite database a connection names, and its
query plan. Only EXPLAIN QUERY PLAN is ever run here."""

from __future__ import annotations

import re
import sqlite3
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MEMORY = ":memory:"

_LITERAL = re.compile(
    r"""(?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`)
      | [xX]?'(?:[^']|'')*'
      | \?\d* | (?<!:)[:@$][A-Za-z_]\w* | \$\d+ | %\(\w+\)s | %s
      | (?<![\w$.])(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?!\w)""",
    re.VERBOSE | re.DOTALL,
)
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"(\bVALUES\s*\([?,\s]*\))(?:\s*,\s*\([?,\s]*\))+", re.IGNORECASE)
_EXPLAINABLE = re.compile(r"\s*(?:SELECT|WITH|UPDATE|DELETE)\b", re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE\b", re.IGNORECASE)


def normalize_sql(sql: str) -> str:
    """The statement's shape: literals and parameters become ?, an IN list or a VALUES
    list one item, comments go and whitespace collapses, so `… WHERE author_id = 7` and
    `… = 8` are one shape."""

    def replace(match: re.Match[str]) -> str:
        if match.group("comment"):
            return " "
        return match.group("quoted") or "?"

    shape = " ".join(_LITERAL.sub(replace, sql).split())
    shape = _IN_LIST.sub("IN (?)", shape)
    return _VALUES_ROWS.sub(r"\1", shape).rstrip("; ")


def sqlite_database(database: object, *, uri: bool = False) -> str:
    """A SQLite database as connect() names it → its absolute path, or ":memory:" for one
    no other connection can open (":memory:", "", a memory URI)."""
    name = database.decode() if isinstance(database, bytes) else str(database)
    if uri and name.startswith("file:"):
        path, _, query = name[len("file:") :].partition("?")
        if path.startswith("//"):  # file://host/path: only an empty or local host is valid
            path = "/" + path[2:].partition("/")[2]
        if path in ("", MEMORY) or "mode=memory" in query:
            return MEMORY
        name = unquote(path)
    return MEMORY if name in ("", MEMORY) else str(Path(name).absolute())


def explain_query_plan(
    db: sqlite3.Connection, sql: str, params: tuple[Any, ...] | dict[str, Any]
) -> tuple[str, ...]:
    cursor = sqlite3.Cursor(db)  # not db.cursor(): the app may have overridden it
    cursor.row_factory = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. 3.12's named-placeholder deprecation
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return tuple(str(row[3]) for row in cursor.fetchall())
    finally:
        cursor.close()


_INDEXABLE = re.compile(r"\b(?:WHERE|JOIN|ORDER\s+BY)\b", re.IGNORECASE)


def pg_explainable(shape: str) -> bool:
    """A read whose plan an index can change: a WHERE, a JOIN or an ORDER BY."""
    return bool(re.match(r"\s*(?:SELECT|WITH)\b", shape, re.IGNORECASE)) and bool(
        _INDEXABLE.search(shape)
    )


def explainable(shape: str) -> bool:
    return bool(_EXPLAINABLE.match(shape) and _WHERE.search(shape)) and ";" not in shape


def bindable(params: Any) -> tuple[Any, ...] | dict[str, Any] | None:
    """Parameters EXPLAIN can bind: none (the trace's SQL has its literals), one row."""
    if params is None:
        return ()
    if isinstance(params, dict):
        return params
    rows = tuple(params)
    return None if rows and isinstance(rows[0], tuple | list | dict) else rows


def connect_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, bool]:
    """(database, check_same_thread) from connect(database, timeout, detect_types,
    isolation_level, check_same_thread, factory, cached_statements, uri, …)."""
    database = args[0] if args else kwargs.get("database", "")
    same_thread_only = args[4] if len(args) > 4 else kwargs.get("check_same_thread", True)
    uri = args[7] if len(args) > 7 else kwargs.get("uri", False)
    return sqlite_database(database, uri=bool(uri)), bool(same_thread_only)


def url_database(url: Any) -> tuple[str, bool]:
    """(database, is SQLite) of a SQLAlchemy URL; other databases keep the URL, no password."""
    if url.get_backend_name() != "sqlite":
        return url.render_as_string(hide_password=True), False
    uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    return sqlite_database(url.database or MEMORY, uri=uri), True
