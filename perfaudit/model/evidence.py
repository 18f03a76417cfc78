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
    # Mean time from one execution to the next within a request, on one thread: in a loop,
    # what one more query costs with the driver's and ORM's work around it; 0 if it never
    # ran twice in a request.
    interval_s: float = 0.0
    # PostgreSQL: `EXPLAIN (FORMAT JSON)` of the statement as perfaudit ran it on a separate
    # read-only connection ("" if not explained), and the estimated rows (pg_class
    # reltuples) of each table its plan scans.
    pg_plan: str = ""
    table_rows: tuple[tuple[str, float], ...] = ()


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
    same_result: bool  # every repeat returned the result first seen for its arguments
    # Calls whose arguments and result were fingerprinted (the tracer stops after the first
    # few thousand per function); 0 in sessions recorded before it was kept: all of them.
    fingerprinted_calls: int = 0
    # "name: Type" of arguments left out of the fingerprint: per-request state (a request,
    # a session, a connection, a client) and values whose repr is an address.
    context_args: tuple[str, ...] = ()
    opaque_args: tuple[str, ...] = ()
    # "name: Type" of arguments that cannot key a functools.lru_cache (a list, a dict, a
    # model that is not frozen).
    unhashable_args: tuple[str, ...] = ()
    coroutine: bool = False  # an `async def`: its result is what awaiting it returns
    returns_none: bool = False  # every fingerprinted call returned None: run for its effects


@dataclass(frozen=True, slots=True)
class CallEvidence:
    requests: int
    functions: tuple[CallRecord, ...]
    wall_s: float = 0.0  # how long the tracer ran (its requests, one at a time)


@dataclass(frozen=True, slots=True)
class MiddlewareLayer:
    """One of the user's middleware: what it is and where it is defined."""

    name: str  # the class, or the function given to @app.middleware("http")
    kind: str  # "base-http" (BaseHTTPMiddleware or @app.middleware) | "asgi"
    location: CodeLocation | None  # the class or dispatch function; None if not Python code


@dataclass(frozen=True, slots=True)
class MiddlewareEvidence:
    """The route measured through the whole app, and with the user's middleware removed.

    The two runs alternate in rounds of `round_size` requests each (`with_s` and
    `without_s` in the order they ran), so machine noise hits both alike."""

    layers: tuple[str, ...]  # the user's middleware, outermost first
    with_s: tuple[float, ...]
    without_s: tuple[float, ...]
    details: tuple[MiddlewareLayer, ...] = ()  # per layer, in the order of `layers`
    round_size: int = 0
    # Time the app kept the loop busy after the response was sent, per request (a
    # BaseHTTPMiddleware tears down its task group then): no client waits for it.
    with_after_s: tuple[float, ...] = ()
    without_after_s: tuple[float, ...] = ()
    # Requests that failed with, and without, the middleware: a route that needs its
    # middleware (auth setting request.state) cannot be compared without it.
    errors_with: int = 0
    errors_without: int = 0


@dataclass(frozen=True, slots=True)
class RouteEvidence:
    route: RouteKey
    database: DatabaseEvidence | None = None
    calls: CallEvidence | None = None
    middleware: MiddlewareEvidence | None = None
