"""SQL statements as the rules show them: where they ran, how long a request took while they
were recorded."""

from __future__ import annotations

from urllib.parse import urlsplit

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.paths import display_function, display_path
from perfaudit.model import CodeLocation, StatementShape

SHOWN_SQL = 90


def profiled_request_s(view: RouteView) -> float:
    """Mean request time in the profiled phase, the one the statements were recorded in."""
    profile = view.profile
    if profile is None or profile.requests == 0 or profile.request_time_s <= 0:
        return 0.0
    return profile.request_time_s / profile.requests


def statement_location(ctx: AnalysisContext, statement: StatementShape) -> CodeLocation | None:
    site = statement.callsite
    if site is None:
        return None
    file = display_path(site.file, ctx.session.app_root)
    return CodeLocation(file, site.line, display_function(site.function))


def short_sql(shape: str) -> str:
    return shape if len(shape) <= SHOWN_SQL else shape[: SHOWN_SQL - 1] + "…"


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})


def on_this_machine(database: str) -> bool:
    """A client-server database reached without the network (localhost, a unix socket):
    its queries here lack the round trip they will pay in production. SQLite is no server:
    it has no round trip anywhere."""
    split = urlsplit(database)
    if "://" not in database or split.scheme.startswith("sqlite"):
        return False
    host = split.hostname or ""
    return host in LOCAL_HOSTS or host.startswith("/") or "%2f" in host.lower()


def server_time_by_function(view: RouteView) -> dict[tuple[str, str], float]:
    """Seconds the app's functions (by file and name) spent in statements a database
    server ran: time waiting on the server, however a driver waits for it (psycopg's
    `wait` shows in a profile as its own time), not time on this process's CPU. SQLite's
    run on the CPU and are not counted."""
    database = view.evidence.database if view.evidence else None
    waited: dict[tuple[str, str], float] = {}
    for statement in database.statements if database else ():
        site = statement.callsite
        if site is not None and not in_process(statement):
            key = (site.file, site.function)
            waited[key] = waited.get(key, 0.0) + statement.total_s
    return waited


def in_process(statement: StatementShape) -> bool:
    """SQLite (a file path or ":memory:"), not a server's URL."""
    return statement.driver == "sqlite3" or "://" not in statement.database
