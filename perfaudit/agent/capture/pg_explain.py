"""The plan of a PostgreSQL statement the app ran, asked on a connection of perfaudit's own.

What runs against the app's database, and nothing else:

1. A NEW connection — never one of the app's — with the app's own address, user and
   password (`dsn_from_connection`), `application_name = 'perfaudit-explain'`, a connect
   timeout, and no server-side prepared statements of its own (pgbouncer-safe). It is made
   with asyncpg if the app has it installed, else psycopg (3), else psycopg2.
2. `BEGIN TRANSACTION READ ONLY`
3. `SET LOCAL statement_timeout = <ms>`, `SET LOCAL lock_timeout = <ms>` and
   `SET LOCAL idle_in_transaction_session_timeout = <ms>`: nothing waits long, nothing
   holds the transaction open if perfaudit stalls.
4. `EXPLAIN (FORMAT JSON) <statement>` with the recorded parameters bound (a plan for
   those values) — except on PostgreSQL 16 and later through psycopg or psycopg2:
   `EXPLAIN (GENERIC_PLAN, FORMAT JSON) <statement>`, no values, `$1` left to the server
   (the simple query protocol; asyncpg binds every `$1`, so there it binds the recorded
   values, or leaves a statement without them to psycopg). PostgreSQL 15 and older cannot
   plan a `$1` without its value: no plan then. Never ANALYZE: PostgreSQL plans the
   statement and does not run it (only IMMUTABLE and STABLE functions of constants may be
   evaluated while planning, and PostgreSQL lets those not write).
5. `SELECT relname, <rows>, pg_table_is_visible(oid) FROM pg_catalog.pg_class WHERE
   relname = ANY(<the relations the plan scans>)`: each table's rows as the planner counts
   them (reltuples scaled to the table's current size, or the live-row count of a table
   never analysed).
6. `ROLLBACK`, and the connection is closed.

Statements other than a single SELECT are refused before any connection is made: the
check is conservative (no `;` inside, no INSERT/UPDATE/DELETE/MERGE/INTO/COPY/TRUNCATE
anywhere outside quotes — so no data-modifying CTE, no SELECT … INTO, no FOR UPDATE — and
no literal whose meaning depends on standard_conforming_strings), and the read-only
transaction would stop a write anyway.

Everything runs in a thread of its own ("perfaudit-pg-explain"), under a deadline: with
asyncpg, on a private event loop made there (an asyncio.SelectorEventLoop, not the event
loop policy's, which may be uvloop's), never the app's, which may be running elsewhere.
Any failure — no driver, no server, a timeout, a statement the driver cannot bind — gives
None: "no plan".

Runs in the app's interpreter: the standard library only; drivers are imported when used.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

APPLICATION_NAME = "perfaudit-explain"
DRIVERS = ("asyncpg", "psycopg", "psycopg2")
DEFAULT_PORT = 5432
# PostgreSQL's first version with EXPLAIN (GENERIC_PLAN): plans `$1` without values.
GENERIC_PLAN_VERSION = 16
# Outside quotes, any of these makes a statement more than a plain read.
FORBIDDEN = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "COPY", "TRUNCATE"})
ROWS_SQL = (
    "SELECT c.relname::text, "
    "CASE WHEN c.reltuples > 0 AND c.relpages > 0 "
    "THEN c.reltuples / c.relpages * (pg_catalog.pg_relation_size(c.oid) "
    "/ pg_catalog.current_setting('block_size')::float8) "
    "ELSE pg_catalog.pg_stat_get_live_tuples(c.oid)::float8 END, "
    "pg_catalog.pg_table_is_visible(c.oid) "
    "FROM pg_catalog.pg_class c "
    "WHERE c.relname = ANY({names}::text[]) AND c.relkind IN ('r', 'm', 'p')"
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_PLACEHOLDER = re.compile(r"\$(\d+)|%\((\w+)\)s|%s|%%")


@dataclass(frozen=True, slots=True)
class PgDsn:
    """Where a PostgreSQL database is, and as whom to connect."""

    host: str | None = None  # a host name or address; None: socket_dir, or libpq's default
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    socket_dir: str | None = None  # a unix-socket directory (/var/run/postgresql)
    sslmode: str | None = None  # disable … verify-full; None: the driver's default (prefer)

    @property
    def safe_url(self) -> str:
        """postgresql://user@host:port/database, without the password."""
        user = f"{self.user}@" if self.user else ""
        where = self.host or (f"[{self.socket_dir}]" if self.socket_dir else "")
        return f"postgresql://{user}{where}:{self.port}/{self.database or ''}"


@dataclass(frozen=True, slots=True)
class PgExplained:
    plan_json: str  # EXPLAIN (FORMAT JSON)'s text: a JSON array with one {"Plan": …}
    table_rows: dict[str, float]  # each scanned relation's estimated rows, by name
    server_version: int  # the server's major version (15)
    driver: str  # "asyncpg", "psycopg" or "psycopg2"
    # True: EXPLAIN (GENERIC_PLAN), the plan for any values of $1…; False: planned for the
    # recorded values (or the statement had no parameters).
    generic: bool


def explain(
    dsn: PgDsn,
    statement: str,
    params: Sequence[object] | Mapping[str, object] | None,
    *,
    timeout_s: float = 2.0,
    drivers: Sequence[str] = DRIVERS,
) -> PgExplained | None:
    """The plan of `statement` (a single SELECT, with its parameters as the app bound them:
    `$1` and a sequence, `%s` and a sequence, or `%(name)s` and a mapping), or None.
    `drivers`: those to try, in order, of DRIVERS (the first importable one is used)."""
    query = _Statement.read(statement, params)
    if query is None:
        return None
    timeout_s = min(max(timeout_s, 0.1), 60.0)
    runners = {"asyncpg": _with_asyncpg, "psycopg": _with_psycopg, "psycopg2": _with_psycopg2}
    for runner in (runners[name] for name in drivers if name in runners):
        try:
            return _in_thread(functools.partial(runner, dsn, query, timeout_s), 3 * timeout_s + 2)
        except _TryAnother:
            continue
        except (Exception, asyncio.CancelledError):  # the driver's errors, timeouts: no plan
            return None
    return None


def is_plain_select(statement: str) -> bool:
    """A single SELECT that cannot write (conservative: a false "no" only costs a plan)."""
    segments = _segments(statement)
    return segments is not None and _plain_select(segments)


class _TryAnother(Exception):
    """This driver is missing, or cannot run this EXPLAIN: try the next one."""


def _in_thread(work: Callable[[], PgExplained | None], deadline_s: float) -> PgExplained | None:
    """Run `work` in a thread of its own and wait at most `deadline_s`: the caller's thread
    (and any event loop running in it or elsewhere) is never used for the connection."""
    outcome: list[PgExplained | None] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except (Exception, asyncio.CancelledError) as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name="perfaudit-pg-explain", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None


# --- the statement ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Statement:
    segments: tuple[tuple[str, str], ...]  # ("code" | "literal" | "identifier" | "comment", text)
    style: str  # "none", "numeric" ($1), "format" (%s), "named" (%(name)s)
    params: Sequence[object] | Mapping[str, object] | None

    @classmethod
    def read(
        cls, statement: str, params: Sequence[object] | Mapping[str, object] | None
    ) -> _Statement | None:
        """The statement if it is a plain SELECT whose placeholders `params` fill."""
        segments = _segments(statement)
        if segments is None or not _plain_select(segments) or isinstance(params, str | bytes):
            return None
        segments = _without_final_semicolon(segments)
        found = {
            "numeric" if m.group(1) else "named" if m.group(2) else "format"
            for kind, text in segments
            if kind == "code"
            for m in _PLACEHOLDER.finditer(text)
            if m.group() != "%%"
        }
        if len(found) > 1:
            return None
        style = found.pop() if found else "none"
        query = cls(segments, style, params or None)
        return query if query._fits() else None

    def _fits(self) -> bool:
        """The parameters fill the placeholders (or there are none: a generic plan)."""
        params = self.params
        if self.style == "none" or params is None:
            return self.style != "none" or params is None
        names = self._names()
        if self.style == "named":
            return isinstance(params, Mapping) and set(names) <= set(params)
        if isinstance(params, Mapping):
            return False
        if self.style == "format":
            return len(names) == len(params)
        return max(int(name) for name in names) <= len(params)

    def _names(self) -> list[str]:
        return [
            m.group(1) or m.group(2) or "%s"
            for kind, text in self.segments
            if kind == "code"
            for m in _PLACEHOLDER.finditer(text)
            if m.group() != "%%"
        ]

    @property
    def bound(self) -> bool:
        return self.params is not None

    def numeric(self) -> tuple[str, list[object]]:
        """As asyncpg and the server take it: `$1`, and the values in order (none when
        no values were recorded)."""
        params = self.params
        if self.style in ("none", "numeric"):
            values = list(params) if params is not None and not isinstance(params, Mapping) else []
            return self._join(), values
        numbers: dict[str, int] = {}
        values = []

        def number(match: re.Match[str]) -> str:
            if match.group() == "%%":
                return "%"
            key = match.group(2) or str(len(numbers))  # each %s a new one
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                if isinstance(params, Mapping):
                    values.append(params[key])
                elif params is not None:
                    values.append(params[numbers[key] - 1])
            return f"${numbers[key]}"

        # psycopg reads a %% anywhere (quotes and comments too) as one %.
        return self._join(
            code=lambda text: _PLACEHOLDER.sub(number, text),
            other=lambda text: text.replace("%%", "%"),
        ), values

    def pyformat(self) -> tuple[str, Sequence[object] | Mapping[str, object] | None]:
        """As psycopg and psycopg2 take it: `%s` (or `%(name)s`) and `%%` for a % — when
        there are values to bind; without, the statement goes as it is."""
        params = self.params
        if self.style != "numeric" or params is None or isinstance(params, Mapping):
            return self._join(), params
        values: list[object] = []

        def placeholder(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return match.group()  # a %% made below
            values.append(params[int(match.group(1)) - 1])
            return "%s"

        return self._join(
            code=lambda text: _PLACEHOLDER.sub(placeholder, text.replace("%", "%%")),
            other=lambda text: text.replace("%", "%%"),
        ), values

    def _join(
        self,
        code: Callable[[str], str] = str,
        other: Callable[[str], str] = str,
    ) -> str:
        return "".join(code(t) if kind == "code" else other(t) for kind, t in self.segments)


def _segments(sql: str) -> tuple[tuple[str, str], ...] | None:
    """The statement cut into code, string literals, quoted identifiers and comments; None
    if one is unterminated, or a plain literal holds a backslash (whose meaning depends on
    standard_conforming_strings: the server might see a quote end elsewhere)."""
    segments: list[tuple[str, str]] = []
    code_from = position = 0
    length = len(sql)
    while position < length:
        end, kind = _token_end(sql, position)
        if end is None:
            return None
        if kind == "code":
            position = end
            continue
        if position > code_from:
            segments.append(("code", sql[code_from:position]))
        segments.append((kind, sql[position:end]))
        position = code_from = end
    if length > code_from:
        segments.append(("code", sql[code_from:]))
    return tuple(segments)


def _token_end(sql: str, at: int) -> tuple[int | None, str]:  # noqa: PLR0911 - one per token
    """Where the quoted or commented token at `at` ends (None: never), or (at + 1, "code")."""
    char = sql[at]
    follows_word = at > 0 and (sql[at - 1].isalnum() or sql[at - 1] in "_$")
    if sql.startswith("--", at):
        newline = sql.find("\n", at)
        return (len(sql) if newline < 0 else newline + 1), "comment"
    if sql.startswith("/*", at):
        depth, position = 0, at
        while position < len(sql):
            if sql.startswith("/*", position):
                depth, position = depth + 1, position + 2
            elif sql.startswith("*/", position):
                depth, position = depth - 1, position + 2
                if depth == 0:
                    return position, "comment"
            else:
                position += 1
        return None, "comment"
    if char == "'":
        escaped = at > 0 and sql[at - 1] in "eE" and not (at > 1 and _word_char(sql[at - 2]))
        return _literal_end(sql, at, escaped=escaped), "literal"
    if char == '"':
        match = re.compile(r'"(?:[^"]|"")*"').match(sql, at)
        return (match.end() if match else None), "identifier"
    if char == "$" and not follows_word:
        tag = _DOLLAR_TAG.match(sql, at)
        if tag is not None:
            close = sql.find(tag.group(), tag.end())
            return (None if close < 0 else close + len(tag.group())), "literal"
    return at + 1, "code"


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _literal_end(sql: str, at: int, *, escaped: bool) -> int | None:
    position = at + 1
    while position < len(sql):
        char = sql[position]
        if char == "\\":
            if not escaped:
                return None  # ambiguous: refuse
            position += 2
        elif char == "'":
            if sql.startswith("''", position):
                position += 2
            else:
                return position + 1
        else:
            position += 1
    return None


def _plain_select(segments: Sequence[tuple[str, str]]) -> bool:
    code = " ".join(text if kind == "code" else " " for kind, text in segments).strip()
    code = code.removesuffix(";")
    if ";" in code:
        return False
    words = [word.upper() for word in _WORD.findall(code)]
    return bool(words) and words[0] in ("SELECT", "WITH") and not FORBIDDEN.intersection(words)


def _without_final_semicolon(segments: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    last = max((i for i, (kind, _) in enumerate(segments) if kind != "comment"), default=-1)
    if last < 0 or segments[last][0] != "code":
        return segments
    kind, text = segments[last]
    stripped = text.rstrip()
    if not stripped.endswith(";"):
        return segments
    return (*segments[:last], (kind, stripped[:-1]), *segments[last + 1 :])


# --- the drivers ------------------------------------------------------------------------


def _driver(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # not installed, or broken (a missing libpq)
        raise _TryAnother(name) from None


def _settings_sql(timeout_s: float) -> list[str]:
    ms = max(1, int(timeout_s * 1000))
    return [
        "BEGIN TRANSACTION READ ONLY",
        f"SET LOCAL statement_timeout = {ms}",
        f"SET LOCAL lock_timeout = {ms}",
        f"SET LOCAL idle_in_transaction_session_timeout = {max(ms * 5, 1000)}",
    ]


def _with_asyncpg(dsn: PgDsn, query: _Statement, timeout_s: float) -> PgExplained | None:
    asyncpg = _driver("asyncpg")
    # A loop of our own, never the policy's (the app may have installed uvloop's) nor the
    # app's: this thread is ours.
    loop = asyncio.SelectorEventLoop()
    try:
        work = _asyncpg_explain(asyncpg, dsn, query, timeout_s)
        return loop.run_until_complete(asyncio.wait_for(work, 3 * timeout_s))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _asyncpg_explain(
    asyncpg: Any, dsn: PgDsn, query: _Statement, timeout_s: float
) -> PgExplained | None:
    options: dict[str, Any] = {
        "host": dsn.socket_dir or dsn.host,
        "port": dsn.port,
        "user": dsn.user,
        "password": dsn.password,
        "database": dsn.database,
        "timeout": timeout_s,
        "command_timeout": timeout_s,
        "statement_cache_size": 0,
        "server_settings": {"application_name": APPLICATION_NAME},
    }
    if dsn.sslmode:
        options["ssl"] = dsn.sslmode
    conn = await asyncpg.connect(**{k: v for k, v in options.items() if v is not None})
    try:
        version = int(conn.get_server_version().major)
        if not query.bound and query.style != "none":
            if version >= GENERIC_PLAN_VERSION:
                # GENERIC_PLAN needs the simple query protocol (asyncpg binds every $1):
                # psycopg and psycopg2 have it.
                raise _TryAnother("asyncpg")
            return None  # $1 without values, and no GENERIC_PLAN to plan it
        sql, args = query.numeric()
        for setting in _settings_sql(timeout_s):
            await conn.execute(setting)
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        plan_json = plan if isinstance(plan, str) else json.dumps(plan)
        names = _relations(plan_json)
        rows = await conn.fetch(ROWS_SQL.format(names="$1"), names) if names else []
        await conn.execute("ROLLBACK")
        table_rows = _table_rows([tuple(r) for r in rows])
        return PgExplained(plan_json, table_rows, version, "asyncpg", generic=False)
    finally:
        try:
            await asyncio.wait_for(conn.close(), timeout_s)
        except BaseException:
            conn.terminate()
            raise


def _with_psycopg(dsn: PgDsn, query: _Statement, timeout_s: float) -> PgExplained | None:
    psycopg = _driver("psycopg")
    conn = psycopg.connect(
        **_libpq_options(dsn, timeout_s), autocommit=True, prepare_threshold=None
    )
    try:
        version = int(conn.info.server_version) // 10000
        return _explain_dbapi(conn, version, query, timeout_s, "psycopg")
    finally:
        conn.close()


def _with_psycopg2(dsn: PgDsn, query: _Statement, timeout_s: float) -> PgExplained | None:
    psycopg2 = _driver("psycopg2")
    conn = psycopg2.connect(**_libpq_options(dsn, timeout_s))
    try:
        conn.autocommit = True
        version = int(conn.server_version) // 10000
        return _explain_dbapi(conn, version, query, timeout_s, "psycopg2")
    finally:
        conn.close()


def _libpq_options(dsn: PgDsn, timeout_s: float) -> dict[str, Any]:
    options = {
        "host": dsn.socket_dir or dsn.host,
        "port": dsn.port,
        "user": dsn.user,
        "password": dsn.password,
        "dbname": dsn.database,
        "sslmode": dsn.sslmode,
        "connect_timeout": max(2, math.ceil(timeout_s)),  # libpq's minimum is 2 s
        "application_name": APPLICATION_NAME,
    }
    return {key: value for key, value in options.items() if value is not None}


def _explain_dbapi(
    conn: Any, version: int, query: _Statement, timeout_s: float, driver: str
) -> PgExplained | None:
    generic = query.style != "none" and (version >= GENERIC_PLAN_VERSION or not query.bound)
    if generic and version < GENERIC_PLAN_VERSION:
        return None  # $1 without values, and no GENERIC_PLAN to plan it
    cursor = conn.cursor()
    try:
        for setting in _settings_sql(timeout_s):
            cursor.execute(setting)
        if generic:  # no values: the simple query protocol, $1 left for the server
            sql, _ = query.numeric()
            cursor.execute(f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {sql}")
        else:
            sql, params = query.pyformat()
            explain_sql = f"EXPLAIN (FORMAT JSON) {sql}"
            if params is None:
                cursor.execute(explain_sql)
            else:
                cursor.execute(explain_sql, params)
        plan = cursor.fetchone()[0]
        plan_json = plan if isinstance(plan, str) else json.dumps(plan)
        names = _relations(plan_json)
        rows: list[tuple[Any, ...]] = []
        if names:
            cursor.execute(ROWS_SQL.format(names="%s"), (names,))
            rows = [tuple(row) for row in cursor.fetchall()]
        cursor.execute("ROLLBACK")
        return PgExplained(plan_json, _table_rows(rows), version, driver, generic=generic)
    finally:
        cursor.close()


def _relations(plan_json: str) -> list[str]:
    """The relations a plan scans, by name."""
    names: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("Relation Name")
            if isinstance(name, str):
                names[name] = None
            for child in node.get("Plans") or ():
                walk(child)

    document = json.loads(plan_json)
    for entry in document if isinstance(document, list) else [document]:
        if isinstance(entry, dict):
            walk(entry.get("Plan"))
    return list(names)


def _table_rows(rows: Sequence[tuple[Any, ...]]) -> dict[str, float]:
    """{name: rows}, the table the search_path sees first when several share a name."""
    found: dict[str, float] = {}
    for name, count, _ in sorted(rows, key=lambda row: not row[2]):
        if count is not None:
            found.setdefault(str(name), float(round(count)))
    return found


# --- where the app's database is --------------------------------------------------------


def dsn_from_connection(obj: object) -> PgDsn | None:
    """The database an app's connection object reaches, to open another one there:
    an asyncpg Connection, pool connection or Pool; a psycopg (3) Connection or
    AsyncConnection, or a psycopg_pool pool; a psycopg2 connection; a SQLAlchemy URL,
    Engine, AsyncEngine or Connection (and its driver-level adapters); or a
    postgresql:// URL. None when it is none of these or names no PostgreSQL database."""
    try:
        return _dsn(obj, depth=0)
    except Exception:
        return None


def _dsn(obj: object, *, depth: int) -> PgDsn | None:  # noqa: PLR0911 - one per kind
    if depth > 4 or obj is None:
        return None
    if isinstance(obj, str):
        return dsn_from_url(obj)
    if hasattr(obj, "_addr") and hasattr(obj, "_params"):  # asyncpg.Connection
        return _from_asyncpg(obj)
    holders = getattr(obj, "_holders", None)
    if isinstance(holders, list):  # asyncpg.Pool
        return _from_asyncpg_pool(obj, holders)
    info = getattr(obj, "info", None)
    if info is not None and hasattr(info, "dbname") and hasattr(info, "host"):
        return _from_libpq_info(info)  # psycopg and psycopg2 connections
    conninfo = getattr(obj, "conninfo", None)
    if isinstance(conninfo, str):  # psycopg_pool
        return _from_conninfo(conninfo, getattr(obj, "kwargs", None) or {})
    if hasattr(obj, "drivername") and hasattr(obj, "get_backend_name"):  # sqlalchemy URL
        return _from_sqlalchemy_url(obj)
    for attribute in ("url", "engine", "sync_engine", "_con", "driver_connection", "_connection"):
        inner = getattr(obj, attribute, None)
        if inner is not None and inner is not obj:
            found = _dsn(inner, depth=depth + 1)
            if found is not None:
                return found
    return None


def _from_asyncpg(conn: Any) -> PgDsn | None:
    params = conn._params
    address = conn._addr
    host: str | None
    socket_dir: str | None = None
    if isinstance(address, str):  # a unix socket: /dir/.s.PGSQL.5432
        socket_dir, _, name = address.rpartition("/")
        port_text = name.rpartition(".")[2]
        port = int(port_text) if port_text.isdigit() else DEFAULT_PORT
        host = None
    else:
        host, port = str(address[0]), int(address[1])
    sslmode = getattr(getattr(params, "sslmode", None), "name", None)
    return PgDsn(
        host=host,
        port=port,
        user=params.user,
        password=_password(params.password),
        database=params.database,
        socket_dir=socket_dir or None,
        sslmode=sslmode.replace("_", "-") if isinstance(sslmode, str) else None,
    )


def _password(password: object) -> str | None:
    """asyncpg takes a password, or a function that returns one (a cloud IAM token)."""
    if callable(password):
        password = password()
        if asyncio.iscoroutine(password):
            password.close()
            return None
    return password if isinstance(password, str) else None


def _from_asyncpg_pool(pool: Any, holders: list[Any]) -> PgDsn | None:
    for holder in holders:
        conn = getattr(holder, "_con", None)
        if conn is not None and hasattr(conn, "_addr"):
            return _from_asyncpg(conn)
    args = list(getattr(pool, "_connect_args", None) or ())
    kwargs = dict(getattr(pool, "_connect_kwargs", None) or {})
    dsn = args[0] if args else kwargs.pop("dsn", None)
    base = dsn_from_url(dsn) if isinstance(dsn, str) else PgDsn()
    if base is None:
        return None
    host = kwargs.get("host", base.host)
    host = host[0] if isinstance(host, list | tuple) else host
    port = kwargs.get("port", base.port)
    port = port[0] if isinstance(port, list | tuple) else port
    on_socket = isinstance(host, str) and host.startswith("/")
    return PgDsn(
        host=None if on_socket else host,
        port=int(port),
        user=kwargs.get("user", base.user),
        password=_password(kwargs.get("password", base.password)),
        database=kwargs.get("database", base.database),
        socket_dir=host if on_socket else base.socket_dir,
        sslmode=kwargs["ssl"] if isinstance(kwargs.get("ssl"), str) else base.sslmode,
    )


def _from_libpq_info(info: Any) -> PgDsn:
    host = str(info.host or "") or None
    on_socket = bool(host and host.startswith("/"))
    parameters: dict[str, Any] = {}
    for getter in ("get_parameters", "dsn_parameters"):  # psycopg, psycopg2
        value = getattr(info, getter, None)
        with contextlib.suppress(Exception):
            parameters = dict(value() if callable(value) else value or {})
        if parameters:
            break
    return PgDsn(
        host=None if on_socket else host,
        port=int(info.port or DEFAULT_PORT),
        user=info.user or None,
        password=info.password or None,
        database=info.dbname or None,
        socket_dir=host if on_socket else None,
        sslmode=parameters.get("sslmode"),
    )


def _from_conninfo(conninfo: str, kwargs: Mapping[str, Any]) -> PgDsn | None:
    if conninfo.startswith(("postgresql://", "postgres://")) and not kwargs:
        return dsn_from_url(conninfo)
    to_dict = _driver("psycopg.conninfo").conninfo_to_dict
    values: dict[str, Any] = to_dict(conninfo, **kwargs)
    host = str(values.get("host") or "").split(",")[0] or None
    on_socket = bool(host and host.startswith("/"))
    port = str(values.get("port") or DEFAULT_PORT).split(",")[0]
    return PgDsn(
        host=None if on_socket else host,
        port=int(port),
        user=values.get("user"),
        password=values.get("password"),
        database=values.get("dbname"),
        socket_dir=host if on_socket else None,
        sslmode=values.get("sslmode"),
    )


def _from_sqlalchemy_url(url: Any) -> PgDsn | None:
    if url.get_backend_name() not in ("postgresql", "postgres"):
        return None
    query = dict(url.query)
    host = query.get("host") or url.host
    host = host[0] if isinstance(host, list | tuple) else host
    on_socket = isinstance(host, str) and host.startswith("/")
    sslmode = query.get("sslmode") or query.get("ssl")
    return PgDsn(
        host=None if on_socket else host,
        port=int(url.port or query.get("port") or DEFAULT_PORT),
        user=url.username,
        password=str(url.password) if url.password is not None else None,
        database=url.database,
        socket_dir=host if on_socket else None,
        sslmode=sslmode if isinstance(sslmode, str) and sslmode not in ("true", "false") else None,
    )


def dsn_from_url(url: str) -> PgDsn | None:
    """postgresql[+driver]://user:password@host:port/database?host=/socket/dir&sslmode=…"""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        return None
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    first = parts.netloc.rpartition("@")[2].split(",")[0]  # several hosts: the first
    address = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?", first)
    host_text, port_text = (address.group(1), address.group(2) or "") if address else ("", "")
    host = unquote(host_text.strip("[]")) or query.get("host") or None
    on_socket = bool(host and host.startswith("/"))
    port = port_text or query.get("port") or str(DEFAULT_PORT)
    return PgDsn(
        host=None if on_socket else host,
        port=int(port.split(",")[0]),
        user=unquote(parts.username) if parts.username else query.get("user"),
        password=unquote(parts.password) if parts.password else query.get("password"),
        database=unquote(parts.path.lstrip("/")) or query.get("dbname") or None,
        socket_dir=host if on_socket else None,
        sslmode=query.get("sslmode") or query.get("ssl"),
    )
