"""Evidence the data-and-stack collectors gather per route (issue: queries, caching,
serialization and the stack): what the app does with its database, which of its calls
repeat with the same arguments, and what its middleware costs. Raw facts only."""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.requests import CodeLocation, RouteKey


@dataclass(frozen=True, slots=True)
class StatementShape:
    """One normalised SQL statement (literals replaced by ?) and how it ran."""

    shape: str
    example: str  # one statement as executed, literals included
    driver: str  # "sqlite3" | "sqlalchemy" | "asyncpg"
    executions: int  # over the phase's requests
    total_s: float
    callsite: CodeLocation | None  # the innermost app frame that issued it
    plan: tuple[str, ...] = ()  # EXPLAIN QUERY PLAN rows (SQLite); empty if not explained
    database: str = ""  # a file path or a URL without its password


@dataclass(frozen=True, slots=True)
class DatabaseEvidence:
    requests: int
    statements: tuple[StatementShape, ...]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One app function over the calls phase: how often it ran with arguments it had
    already been called with, and whether those repeats returned the same result."""

    function: CodeLocation
    calls: int
    total_s: float
    distinct_args: int
    repeated_calls: int
    same_result: bool


@dataclass(frozen=True, slots=True)
class CallEvidence:
    requests: int
    functions: tuple[CallRecord, ...]


@dataclass(frozen=True, slots=True)
class MiddlewareEvidence:
    """The route measured through the whole app, and with the user's middleware removed."""

    layers: tuple[str, ...]  # the user's middleware, outermost first
    with_s: tuple[float, ...]
    without_s: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RouteEvidence:
    route: RouteKey
    database: DatabaseEvidence | None = None
    calls: CallEvidence | None = None
    middleware: MiddlewareEvidence | None = None
