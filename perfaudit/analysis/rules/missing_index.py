"""missing-index: a statement filters with WHERE, its plan reads the whole table (SQLite:
`SCAN <table>`, not `SEARCH … USING INDEX`; PostgreSQL: a Seq Scan that keeps few of the
table's rows, or a join that reads a big table for few matches), and the scan is a real
share of the route."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis import pg_plans
from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.statements import profiled_request_s, short_sql, statement_location
from perfaudit.model import CodeLocation, StatementShape

# (severity, minimum share of route time, minimum ms per request)
GRADES = ((Severity.HIGH, 0.3, 2.0), (Severity.MEDIUM, 0.1, 0.5), (Severity.LOW, 0.05, 0.2))
EQUALITY = frozenset({"=", "==", "IN", "IS"})
RANGE = frozenset({"<", ">", "<=", ">=", "BETWEEN"})
PATTERN = frozenset({"LIKE", "GLOB"})
SQL_WORDS = frozenset(
    {"AND", "OR", "NOT", "WHERE", "ON", "USING", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER",
     "CROSS", "NATURAL", "GROUP", "ORDER", "LIMIT", "HAVING", "WINDOW", "UNION", "EXCEPT",
     "INTERSECT", "SET", "RETURNING", "INDEXED", "SELECT", "EXISTS", "CASE", "WHEN", "THEN",
     "ELSE", "END", "NULL", "AS"}
)  # fmt: skip
_SCAN = re.compile(r"^SCAN (?:TABLE )?(\w+)(?: AS (\w+))?$")
_SORTS = "USE TEMP B-TREE FOR ORDER BY"
_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+\"?(\w+)\"?(?:\s+(?:AS\s+)?\"?(\w+)\"?)?", re.I)
_WHERE = re.compile(
    r"\bWHERE\b(.*?)(?=\b(?:GROUP\s+BY|ORDER\s+BY|LIMIT|HAVING|WINDOW|RETURNING|UNION|EXCEPT"
    r"|INTERSECT)\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_PREDICATE = re.compile(
    r"(?:\"?(\w+)\"?\.)?\"?([A-Za-z_]\w*)\"?\s*(?:NOT\s+)?"
    r"(==|=|!=|<>|<=|>=|<|>|\bIN\b|\bLIKE\b|\bGLOB\b|\bBETWEEN\b|\bIS\b)",
    re.IGNORECASE,
)
# A single sort column: an index on (filter columns…, it) returns rows already sorted.
_ORDER_BY = re.compile(
    r"\bORDER\s+BY\s+(?:\"?\w+\"?\.)?\"?(\w+)\"?(?:\s+(?:ASC|DESC))?\s*(?:LIMIT\b|$)", re.I
)
# A pattern literal: group 2 is its first character (a wildcard defeats any index).
# A quoted literal in a plan: the value a request sent (an email, a token) has no place in
# a report; the plan explained with it shows it bound.
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_PATTERN_LITERAL = re.compile(r"\"?(\w+)\"?\s+(?:NOT\s+)?(?:LIKE|GLOB)\s+'(.?)", re.I)


@dataclass(frozen=True, slots=True)
class Predicate:
    qualifier: str | None
    column: str
    op: str  # upper case: "=", "IN", "<", "LIKE", …


@dataclass(frozen=True, slots=True)
class IndexAdvice:
    table: str
    columns: tuple[str, ...]  # the WHERE's columns on that table
    create: tuple[str, ...]  # CREATE INDEX statements; none when no index can help
    note: str = ""
    # PostgreSQL: the scan as its plan says it ("Seq Scan on orders (Filter: …; ~20 of
    # 120,000 rows)"), and what the index is for: "filter" (WHERE) or "join".
    postgres_plan: tuple[str, ...] = ()
    kind: str = "filter"


class MissingIndex:
    id = "missing-index"
    needs = Needs(in_process="needs the SQL statements and their query plans, recorded in-process")
    title = "A query reads the whole table to find a few rows"
    explanation = (
        "A statement with a WHERE clause whose SQLite plan (EXPLAIN QUERY PLAN, run by "
        "perfaudit on a read-only connection) says `SCAN <table>` reads every row to find "
        "the matching ones; `SEARCH <table> USING INDEX` would go straight to them. "
        "perfaudit names the table and the WHERE's columns, suggests the index, and "
        "estimates the gain from the statement's measured time. A `LIKE '%…'` pattern "
        "cannot use an index: then it suggests full-text search (FTS5).\n\n"
        "Example: `recent_events` runs `SELECT … FROM events WHERE account = ? ORDER BY "
        "created_at DESC LIMIT ?` on 200,000 rows: plan `SCAN events`, 15 ms, 90% of GET "
        "/accounts/{account}/events. `CREATE INDEX ix_events_account ON events(account)`."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            database = view.evidence.database if view.evidence else None
            request_s = profiled_request_s(view)
            if database is None or database.requests == 0 or not request_s:
                continue
            for location, advice, statements in _scans(ctx, database.statements):
                finding = self._finding(
                    view,
                    location,
                    advice,
                    statements,
                    requests=database.requests,
                    request_s=request_s,
                )
                if finding is not None:
                    yield finding

    def _finding(
        self,
        view: RouteView,
        location: CodeLocation | None,
        advice: IndexAdvice,
        statements: list[StatementShape],
        *,
        requests: int,
        request_s: float,
    ) -> Finding | None:
        scan_s = sum(s.total_s for s in statements) / requests
        share = min(scan_s / request_s, 1.0)
        gain_ms = view.share_ms(share)
        grading = Grading(share, gain_ms, GRADES)
        severity = grading.severity
        if severity is None:
            return None
        if not advice.create:  # the fix is a full-text index: a bigger change
            severity = min(severity, Severity.MEDIUM)
        where = f"{location.function}()" if location else "The route"
        first = statements[0]
        executions = sum(s.executions for s in statements)
        clause = "JOIN" if advice.kind == "join" else "WHERE"
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"{where} scans the whole `{advice.table}` table in {view.route} "
            f"({clause} on {', '.join(advice.columns)}): {share:.0%} of its time",
            route=str(view.route),
            location=location,
            evidence={
                "table": advice.table,
                "columns": ", ".join(advice.columns),
                "plan": " | ".join(advice.postgres_plan or first.plan),
                "statement": first.shape[:300],
                "executions_per_request": round(executions / requests, 2),
                "profiled_statement_ms": round(scan_s * 1000, 3),
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                "index": "; ".join(advice.create),
                "database": first.database,
            },
            suggestion=_suggestion(advice, first, scan_s),
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.85 if advice.create else 0.6,
            supersedes=("cpu-hotspot",),
        )


def _scans(
    ctx: AnalysisContext, statements: tuple[StatementShape, ...]
) -> Iterator[tuple[CodeLocation | None, IndexAdvice, list[StatementShape]]]:
    """Statements whose plan scans a table their WHERE filters, grouped by the function
    that runs them and the fix (a search and its facet count: one finding)."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[StatementShape]] = defaultdict(list)
    first: dict[tuple[str, str, tuple[str, ...]], tuple[CodeLocation | None, IndexAdvice]] = {}
    for statement in statements:
        if statement.pg_plan:
            advice = postgres_advice(statement)
        else:
            advice = advise(statement.shape, statement.example, statement.plan)
        if advice is None:
            continue
        location = statement_location(ctx, statement)
        where = f"{location.file}:{location.function}" if location else ""
        key = (where, advice.table, advice.create)
        first.setdefault(key, (location, advice))
        groups[key].append(statement)
    for key, grouped in groups.items():
        yield *first[key], grouped


def postgres_advice(statement: StatementShape) -> IndexAdvice | None:
    """The first scan of a PostgreSQL plan an index would spare (pg_plans.py decides)."""
    rows = dict(statement.table_rows)
    found = pg_plans.missing_indexes(statement.pg_plan, rows)
    if not found:
        return None
    first = found[0]
    note = f" {first.note}" if first.note else ""
    return IndexAdvice(
        table=first.table,
        columns=first.columns,
        create=first.create,
        note=note,
        postgres_plan=tuple(
            _QUOTED.sub("?", line) for line in pg_plans.describe_plan(statement.pg_plan, rows)
        ),
        kind=first.kind,
    )


def _suggestion(advice: IndexAdvice, statement: StatementShape, scan_s: float) -> str:
    if advice.postgres_plan:
        return _postgres_suggestion(advice, statement, scan_s)
    scan = (
        f"SQLite reads every row of `{advice.table}` to find the matching ones "
        f"(`{short_sql(statement.shape)}`, plan `SCAN {advice.table}`), "
        f"{scan_s * 1000:.1f} ms per request."
    )
    if not advice.create:
        return f"{scan} {advice.note}"
    indexes = " and ".join(f"`{create}`" for create in advice.create)
    return (
        f"{scan} Index the column(s) the WHERE filters on: {indexes} (in a migration, or "
        f"at startup with CREATE INDEX IF NOT EXISTS).{advice.note}"
    )


def _postgres_suggestion(advice: IndexAdvice, statement: StatementShape, scan_s: float) -> str:
    what = (
        "to find the few rows its WHERE keeps"
        if advice.kind == "filter"
        else ("to match the few rows the join needs")
    )
    scan = (
        f"PostgreSQL reads every row of `{advice.table}` {what} (`{short_sql(statement.shape)}`, "
        f"plan: {advice.postgres_plan[0]}), {scan_s * 1000:.1f} ms per request."
    )
    if not advice.create:
        return f"{scan}{advice.note}"
    indexes = " and ".join(f"`{create}`" for create in advice.create)
    return (
        f"{scan} Try {indexes}. CONCURRENTLY builds it without blocking the table's writes, "
        "but cannot run inside a transaction: in an Alembic migration, run it in "
        "`with op.get_context().autocommit_block():`. Then check the plan with `EXPLAIN` "
        f"on real data.{advice.note}"
    )


def advise(shape: str, example: str, plan: tuple[str, ...]) -> IndexAdvice | None:
    """The index a scanned table needs for this statement's WHERE, if its plan scans one."""
    where_match = _WHERE.search(shape)
    if where_match is None:
        return None
    where = where_match.group(1)
    names = _tables(shape)
    for row in plan:
        scan = _SCAN.match(row.strip())
        if scan is None:
            continue
        table = names.get(scan.group(1), scan.group(1))
        predicates = _predicates_on(table, names, where)
        if predicates:
            has_or = " OR " in where.upper()
            return _advice(table, predicates, shape, example, plan=plan, has_or=has_or)
    return None


def _advice(
    table: str,
    predicates: list[Predicate],
    shape: str,
    example: str,
    *,
    plan: tuple[str, ...],
    has_or: bool,
) -> IndexAdvice | None:
    columns = tuple(dict.fromkeys(p.column for p in predicates))
    equal = list(dict.fromkeys(p.column for p in predicates if p.op in EQUALITY))
    ranged = [p.column for p in predicates if p.op in RANGE and p.column not in equal]
    keys = equal + ranged[:1]
    if keys and has_or:
        creates = tuple(_create(table, [key]) for key in keys)
        return IndexAdvice(table, columns, creates, " SQLite can use one index per OR branch.")
    if keys:
        note = _sort_note(table, keys, shape, plan, has_range=bool(ranged))
        return IndexAdvice(table, columns, (_create(table, keys),), note)
    patterns = [p.column for p in predicates if p.op in PATTERN]
    if not patterns:
        return None  # only != / <>: no index helps
    if not set(patterns) <= _prefix_patterns(example):  # '%…', or a bound value not seen
        return IndexAdvice(table, columns, (), _full_text_note(table, patterns))
    return IndexAdvice(
        table,
        columns,
        (f"CREATE INDEX ix_{table}_{patterns[0]} ON {table}({patterns[0]} COLLATE NOCASE)",),
        " (LIKE is case-insensitive: SQLite uses an index for `LIKE 'abc%'` only if it is "
        "COLLATE NOCASE.)",
    )


def _create(table: str, columns: list[str]) -> str:
    return f"CREATE INDEX ix_{table}_{'_'.join(columns)} ON {table}({', '.join(columns)})"


def _sort_note(
    table: str, keys: list[str], shape: str, plan: tuple[str, ...], *, has_range: bool
) -> str:
    order = _ORDER_BY.search(shape)
    if has_range or order is None or not any(_SORTS in row for row in plan):
        return ""
    column = order.group(1)
    if column in keys:
        return ""
    both = _create(table, [*keys, column])
    return f" `{both}` also spares the sort (the plan sorts the matches: {_SORTS})."


def _full_text_note(table: str, patterns: list[str]) -> str:
    columns = ", ".join(patterns)
    return (
        f"A pattern that starts with a wildcard (`{patterns[0]} LIKE '%…'`) cannot use an "
        "index, so an index on it will not help. For word search, use SQLite's full-text "
        f"index: `CREATE VIRTUAL TABLE {table}_fts USING fts5({columns}, content='{table}')` "
        f"and `WHERE {table}_fts MATCH ?`; if users search by prefix, `LIKE 'abc%'` on a "
        "`COLLATE NOCASE` index works."
    )


def _tables(shape: str) -> dict[str, str]:
    """Table names and aliases in FROM/JOIN/UPDATE → the table."""
    names: dict[str, str] = {}
    for table, alias in _TABLE.findall(shape):
        names[table] = table
        if alias and alias.upper() not in SQL_WORDS:
            names[alias] = table
    return names


def _predicates_on(table: str, names: dict[str, str], where: str) -> list[Predicate]:
    aliases = {name for name, t in names.items() if t == table}
    single = len(set(names.values())) <= 1
    return [
        p for p in _predicates(where) if p.qualifier in aliases or (p.qualifier is None and single)
    ]


def _predicates(where: str) -> list[Predicate]:
    return [
        Predicate(qualifier or None, column, op.upper())
        for qualifier, column, op in _PREDICATE.findall(where)
        if column.upper() not in SQL_WORDS
    ]


def _prefix_patterns(example: str) -> set[str]:
    """Columns matched against a pattern literal that starts with a fixed prefix."""
    return {column for column, first in _PATTERN_LITERAL.findall(example) if first not in "%*_?"}


RULE = MissingIndex()
