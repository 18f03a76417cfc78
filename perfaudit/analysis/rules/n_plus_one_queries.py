"""n-plus-one-queries: one query per row — the same statement, with a different literal,
run many times within one request (a loop, or an ORM's lazy loads)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.statements import (
    on_this_machine,
    profiled_request_s,
    short_sql,
    statement_location,
)
from perfaudit.model import StatementShape

MIN_PER_REQUEST = 10
# (severity, minimum share of route time, minimum ms per request)
GRADES = ((Severity.HIGH, 0.3, 1.0), (Severity.MEDIUM, 0.1, 0.3), (Severity.LOW, 0.0, 0.0))
_SELECT = re.compile(r"\s*(?:SELECT|WITH)\b", re.IGNORECASE)
_TABLE = re.compile(r"\bFROM\s+\"?(\w+)\"?", re.IGNORECASE)
_JOIN_OR_SUBQUERY = re.compile(r"\bJOIN\b|\(\s*SELECT\b", re.IGNORECASE)
_LIST_PARAM = {"asyncpg": "`= ANY($1)`", "psycopg": "`= ANY(%s)`", "psycopg2": "`= ANY(%s)`"}
_KEY = re.compile(r"\bWHERE\s+(?:\"?\w+\"?\.)?\"?(\w+)\"?\s*==?\s*\?", re.IGNORECASE)


class NPlusOneQueries:
    id = "n-plus-one-queries"
    needs = Needs(in_process="needs the SQL statements an in-process run records")
    title = "The same query runs once per row"
    explanation = (
        "A request that lists N rows and then runs one more query per row (to fetch each "
        "row's author, price, owner…) pays N round trips, each with the driver's and the "
        "ORM's overhead, where one query would do. perfaudit records every statement of "
        "the profiled phase, normalises it (literals become ?), and flags a SELECT run at "
        f"least {MIN_PER_REQUEST} times per request. The gain is (N − 1) × what one more "
        "execution costs, measured as the mean time from one to the next within a request "
        "(the ORM's work around each query included).\n\n"
        "Example: `books_with_authors` reads `book.author.name` for 100 books; `author` is "
        "a lazy relationship, so `SELECT … FROM authors WHERE authors.id = ?` runs 100 "
        "times per request, 80% of GET /books. Eager-load it: "
        "`select(Book).options(selectinload(Book.author))` (with sqlite3: one "
        "`WHERE id IN (…)` query, then a dict lookup)."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            database = view.evidence.database if view.evidence else None
            if database is None or database.requests == 0:
                continue
            repeated = [
                s
                for s in database.statements
                if s.executions / database.requests >= MIN_PER_REQUEST and _SELECT.match(s.shape)
            ]
            for statement in repeated:
                per_request = statement.executions / database.requests
                cost_s = _cost_per_execution(statement, repeated)
                yield self._finding(
                    ctx, view, statement, per_request, cost_s=cost_s, requests=database.requests
                )

    def _finding(
        self,
        ctx: AnalysisContext,
        view: RouteView,
        statement: StatementShape,
        per_request: float,
        *,
        cost_s: float,
        requests: int,
    ) -> Finding:
        saved_s = (per_request - 1) * cost_s
        request_s = profiled_request_s(view)
        share = min(saved_s / request_s, 1.0) if request_s else 0.0
        gain_ms = view.share_ms(share)
        # A database on this machine answers without the network's round trip: graded at
        # what the same queries would cost across one (--db-rtt-ms), and both are shown.
        rtt_ms = ctx.session.settings.db_rtt_ms if on_this_machine(statement.database) else 0.0
        production_ms = gain_ms + (per_request - 1) * rtt_ms
        route_ms = view.share_ms(1.0) + per_request * rtt_ms
        production_share = min(production_ms / route_ms, 1.0) if route_ms else share
        grading = Grading(production_share, production_ms, GRADES)
        location = statement_location(ctx, statement)
        where = f"{location.function}()" if location else "The route"
        sql = short_sql(statement.shape)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.LOW,
            grading=grading,
            title=f"{where} runs the same query {per_request:.0f} times per request in "
            f"{view.route}: `{sql}`",
            route=str(view.route),
            location=location,
            evidence={
                "statement": statement.shape[:300],
                "executions_per_request": round(per_request, 1),
                "profiled_ms_per_query": round(cost_s * 1000, 3),
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                "profiled_requests": requests,
                "driver": statement.driver,
                "database": statement.database,
                **(
                    {
                        "db_rtt_ms": rtt_ms,
                        "ms_per_request_at_rtt": round(production_ms, 3),
                        "share_at_rtt": round(production_share, 4),
                    }
                    if rtt_ms
                    else {}
                ),
            },
            suggestion=_suggestion(statement, where, per_request),
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=production_share,
            confidence=0.9,
            # The queries are the time a cache would hide: one query instead of N removes it
            # without serving stale rows (pg_psycopg's N+1 also "returned the same result").
            supersedes=("cpu-hotspot", "cacheable-call"),
        )


def _cost_per_execution(statement: StatementShape, repeated: list[StatementShape]) -> float:
    """What one more execution costs: the time from one to the next within a request (the
    driver's and the ORM's work around it included). Statements repeated in the same loop
    (about as often per request: an author, tags and a count per article) share that interval,
    so each takes its part of it by its own time; else every one of them would claim the
    whole loop (three findings of 50% each, seen on the RealWorld example app)."""
    own_s = statement.total_s / statement.executions
    if not statement.interval_s:
        return own_s
    partners = [s for s in repeated if _same_loop(s.executions, statement.executions)]
    partners_own_s = sum(s.total_s for s in partners)
    if len(partners) < 2 or partners_own_s <= 0:
        return statement.interval_s
    return statement.interval_s * statement.total_s / partners_own_s


def _same_loop(executions: int, others: int) -> bool:
    """As often, give or take a tenth (the user's own lookup once more than their 20
    articles' authors)."""
    return abs(executions - others) <= 0.1 * max(executions, others)


def _suggestion(statement: StatementShape, where: str, per_request: float) -> str:
    table_match, key_match = _TABLE.search(statement.shape), _KEY.search(statement.shape)
    table = table_match.group(1) if table_match else "the table"
    key = key_match.group(1) if key_match else "id"
    found = f"{where} runs this query once per row, {per_request:.0f} times per request."
    if statement.driver == "sqlalchemy":
        return (
            f"{found} If it is a lazy-loaded relationship (to `{table}`), eager-load it in the "
            "query that lists the rows: `.options(selectinload(Model.relationship))` fetches "
            f"them all with one more query (`WHERE {key} IN (…)`), `joinedload()` within the "
            'same one; `lazy="raise"` on the relationship turns the next N+1 into an error. '
            "If it is `session.get()` in a loop, select them all at once with `.in_()`."
        )
    if not _simple(statement.shape):  # a join or a subquery: no table.key to name
        return (
            f"{found} Run it once for all the rows: give it the list of keys the rows "
            f"already have ({_LIST_PARAM.get(statement.driver, '`IN (…)`')}), return the key "
            "with each result, and look them up in a dict; or JOIN it into the query that "
            "lists the rows."
        )
    one_query = {
        "asyncpg": f"`SELECT … FROM {table} WHERE {key} = ANY($1)` with the list of them",
        "psycopg": f"`SELECT … FROM {table} WHERE {key} = ANY(%s)` with the list of them",
        "psycopg2": f"`SELECT … FROM {table} WHERE {key} = ANY(%s)` with the list of them",
    }.get(statement.driver, f"`SELECT … FROM {table} WHERE {key} IN (…)`")
    return (
        f"{found} Load them in one query: collect the {key} values of the rows you already "
        f"have, run {one_query} once (or JOIN {table} into the query that lists the rows), "
        "and look each one up in a dict."
    )


def _simple(shape: str) -> bool:
    """One table, no join and no subquery: `FROM t WHERE key = ?` says all there is."""
    return _JOIN_OR_SUBQUERY.search(shape) is None


RULE = NPlusOneQueries()
