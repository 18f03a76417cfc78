"""PostgreSQL query plans: the sequential scans an index would spare.

The input is the text of `EXPLAIN (FORMAT JSON) <statement>` (never ANALYZE: estimates, not
measurements) — a JSON array holding one object with a "Plan" — and each scanned table's
size, `{relation name: rows}` (pg_class.reltuples, as the planner scales it): a Seq Scan node
says how many rows it returns ("Plan Rows"), not how many it reads. The plan may be generic
(a prepared statement's `$1` in its conditions) or made for the recorded values ('paid').

Two shapes are reported:

- a Seq Scan whose Filter keeps few of the table's rows (MAX_RETURNED_SHARE of a table of at
  least MIN_TABLE_ROWS): an index on the filter's columns finds those rows without reading
  the others. Equality columns come first in the index, then one range column (a b-tree
  narrows on its leading equalities and one range: columns after a range only filter),
  then, under `Limit → Sort`, the ORDER BY's columns, which spare the sort;
- a join that reads a whole table to match few rows of the other side (a Hash Join's hashed
  side, a Nested Loop's outer side, of at most JOIN_MAX_SHARE of the big table's rows): its
  join column (named by the Hash Cond, Merge Cond or Join Filter) has no index, which would
  let a Nested Loop look up each match instead.

Index Scan, Index Only Scan and Bitmap Heap Scan nodes already use an index: nothing to say.
Everything here is standard library: the conditions are PostgreSQL's own deparsed
expressions (`((status)::text = 'paid'::text)`), read by a small parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A table under ~1,000 rows is a few pages: reading it whole costs microseconds, and the
# planner prefers that to an index anyway.
MIN_TABLE_ROWS = 1_000
# Above ~10% of a table's rows, PostgreSQL's own cost model reads the whole table even when
# an index exists (a bitmap scan would visit most pages anyway, in random order): an index
# suggested there would not be used.
MAX_RETURNED_SHARE = 0.10
# A Nested Loop with an index makes one index lookup (a few random page reads) per row of
# the other side, where the scan reads ~50-100 rows per page in order: it wins only when
# the lookups are few next to the table (≤ 1% of its rows).
JOIN_MAX_SHARE = 0.01
# PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
MAX_NAME = 63
MAX_LINES = 12
MAX_LINE_CHARS = 400

SCAN_TYPES = frozenset({"Seq Scan"})
JOIN_TYPES = frozenset({"Hash Join", "Merge Join", "Nested Loop"})
# Nodes between a join and the scan that feeds it, and between a Limit and a scan's Sort.
JOIN_WRAPPERS = frozenset({"Hash", "Materialize", "Memoize", "Sort", "Incremental Sort"})
SORT_PATH = frozenset({"Sort", "Incremental Sort", "Gather", "Gather Merge", "Result"})
GATHERS = frozenset({"Gather", "Gather Merge"})
RANGE_OPS = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}  # and each one's mirror
# Operators of GIN indexes (jsonb, arrays, full text): no b-tree serves them.
GIN_OPS = frozenset({"@>", "<@", "&&", "?", "?|", "?&", "@@", "@?"})
# Casts of a column that an index on the column serves: varchar and char are read as text.
RELABELS = frozenset({"text", "character varying", "varchar", "bpchar", "name"})
CONSTANT_WORDS = frozenset(
    {"NULL", "TRUE", "FALSE", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP",
     "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE",
     "CURRENT_CATALOG", "CURRENT_SCHEMA", "USER", "DEFAULT"}
)  # fmt: skip
TYPE_WORDS = frozenset({"varying", "precision", "with", "without", "time", "zone"})
# Words that must be quoted as identifiers (PostgreSQL's reserved key words).
RESERVED = frozenset(
    {"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both",
     "case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog",
     "current_date", "current_role", "current_time", "current_timestamp", "current_user",
     "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false",
     "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially",
     "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not",
     "null", "offset", "on", "only", "or", "order", "placing", "primary", "references",
     "returning", "select", "session_user", "some", "symmetric", "table", "then", "to",
     "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where",
     "window", "with"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IndexAdvice:
    """One sequential scan an index would spare, and the index to try."""

    table: str  # the relation, schema-qualified when the plan names its schema (VERBOSE)
    alias: str  # as the statement names it (the table's name when it has no alias)
    kind: str  # "filter": a Filter keeps few rows; "join": a join column without an index
    condition: str  # the plan's Filter, or the join's Hash Cond / Merge Cond / Join Filter
    # Every column the condition tests on this table, equality columns first, then range
    # columns, then the others; an expression (`lower(email)`) stands for its column.
    columns: tuple[str, ...]
    # The ORDER BY's columns when `Limit → Sort` sits above the scan and the index can end
    # with them (then it returns the rows in order: no sort); empty otherwise.
    sort_columns: tuple[str, ...]
    index_columns: tuple[str, ...]  # the suggested index's key, in order; () when none
    table_rows: float  # the table's estimated rows
    rows: float  # estimated rows wanted: the scan's output, or the join's for "join"
    create: tuple[str, ...]  # CREATE INDEX CONCURRENTLY statements to try; () if none helps
    note: str = ""  # why several indexes or none, an operator class, an extension


def missing_indexes(plan_json: str, table_rows: Mapping[str, float]) -> list[IndexAdvice]:
    """The sequential scans of this plan that an index would spare, in plan order.

    `table_rows` maps each scanned relation's name (or "schema.name") to its estimated
    rows; a scan of a table missing there is not judged. Text that is not an EXPLAIN
    (FORMAT JSON) result gives []."""
    root = _root(plan_json)
    if root is None:
        return []
    found: list[IndexAdvice] = []
    reported: set[int] = set()
    for node, ancestors in _walk(root, ()):
        if node.get("Node Type") in SCAN_TYPES and node.get("Filter"):
            advice = _filter_advice(node, ancestors, table_rows)
            if advice is not None:
                found.append(advice)
                reported.add(id(node))
    for node, ancestors in _walk(root, ()):
        if node.get("Node Type") in JOIN_TYPES:
            found.extend(_join_advice(node, ancestors, table_rows, reported))
    unique: dict[tuple[str, tuple[str, ...]], IndexAdvice] = {}
    for advice in found:
        unique.setdefault((advice.table, advice.create or (advice.condition,)), advice)
    return list(unique.values())


def describe_plan(plan_json: str, table_rows: Mapping[str, float] | None = None) -> tuple[str, ...]:
    """The plan in a few readable lines: a chain of single-input nodes on one line
    (`Limit → Sort (created_at DESC) → Seq Scan on pgo_orders (Filter: customer_email = $1;
    ~24 of 120,000 rows)`), each input of a join on a line of its own, indented."""
    root = _root(plan_json)
    if root is None:
        return ()
    lines: list[str] = []
    _describe(root, (), "", table_rows or {}, lines)
    if len(lines) > MAX_LINES:
        lines[MAX_LINES - 1 :] = [f"… ({len(lines) - MAX_LINES + 1} more plan lines)"]
    return tuple(
        line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…" for line in lines
    )


# --- the plan tree ---------------------------------------------------------------------

Node = dict[str, Any]


def _root(plan_json: str) -> Node | None:
    try:
        document = json.loads(plan_json)
    except (ValueError, TypeError):
        return None
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]
    plan = document.get("Plan") if isinstance(document, dict) else None
    return plan if isinstance(plan, dict) else None


def _children(node: Node) -> list[Node]:
    plans = node.get("Plans")
    return [child for child in plans if isinstance(child, dict)] if isinstance(plans, list) else []


def _walk(node: Node, ancestors: tuple[Node, ...]) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    yield node, ancestors
    for child in _children(node):
        yield from _walk(child, (*ancestors, node))


def _number(node: Node, key: str) -> float:
    value = node.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _partial(node: Node) -> bool:
    """A node run by every parallel worker on its share of the rows: its Plan Rows are one
    process's (a Parallel Seq Scan, and the nodes above it up to the Gather)."""
    if node.get("Parallel Aware") is True:
        return True
    children = _children(node)
    outer = [c for c in children if c.get("Parent Relationship") == "Outer"]
    return bool(outer) and _partial(outer[0])


def _rows(node: Node, ancestors: Sequence[Node]) -> float:
    """Estimated rows of all processes together: below a Gather, a partial node's Plan Rows
    are per process, divided as PostgreSQL divides them (workers plus the leader's share,
    1 - 0.3 per worker, with parallel_leader_participation on, its default)."""
    rows = _number(node, "Plan Rows")
    gather = next((a for a in reversed(ancestors) if a.get("Node Type") in GATHERS), None)
    if gather is None or not _partial(node):
        return rows
    workers = _number(gather, "Workers Planned")
    return rows * (workers + max(0.0, 1.0 - 0.3 * workers))


def _table(node: Node) -> str:
    name = str(node.get("Relation Name", ""))
    schema = node.get("Schema")
    return f"{schema}.{name}" if schema else name


def _table_rows(node: Node, table_rows: Mapping[str, float]) -> float | None:
    for key in (_table(node), str(node.get("Relation Name", ""))):
        rows = table_rows.get(key)
        if isinstance(rows, int | float) and rows >= 0:
            return float(rows)
    return None


def _aliases(node: Node) -> frozenset[str]:
    names = {str(node.get("Alias", "")), str(node.get("Relation Name", ""))}
    return frozenset(name for name in names if name)


# --- the filter rule --------------------------------------------------------------------


def _filter_advice(
    node: Node, ancestors: tuple[Node, ...], table_rows: Mapping[str, float]
) -> IndexAdvice | None:
    total = _table_rows(node, table_rows)
    rows = _rows(node, ancestors)
    if total is None or total < MIN_TABLE_ROWS or rows > MAX_RETURNED_SHARE * total:
        return None
    condition = str(node["Filter"])
    aliases = _aliases(node)
    tree = _parse(condition)
    sort = _sort_columns(node, ancestors, aliases)
    plan = _plan_index(tree, aliases, sort) if tree is not None else None
    table = _table(node)
    if plan is None:
        plan = _IndexPlan(
            (), (), (), (), f"perfaudit could not read the filter `{_strip(condition)}`."
        )
    note = " ".join(n for n in (_subplan_note(node, ancestors), plan.note) if n)
    return IndexAdvice(
        table=table,
        alias=_alias(node),
        kind="filter",
        condition=condition,
        columns=plan.columns,
        sort_columns=plan.sort,
        index_columns=plan.index_columns,
        table_rows=total,
        rows=rows,
        create=tuple(_create(table, index) for index in plan.indexes),
        note=note,
    )


def _subplan_note(node: Node, ancestors: tuple[Node, ...]) -> str:
    """A scan inside a correlated subquery runs again for each row of the query around it."""
    path = (*ancestors, node)
    for depth in range(len(path) - 1, 0, -1):
        if path[depth].get("Parent Relationship") == "SubPlan":
            name = path[depth].get("Subplan Name") or "a SubPlan"
            outer = _rows_text(_rows(path[depth - 1], path[: depth - 1]))
            return (
                f"The scan is in {name}, which runs once for each row of the query around it "
                f"({outer}): each run reads the whole table."
            )
    return ""


def _alias(node: Node) -> str:
    return str(node.get("Alias") or node.get("Relation Name", ""))


def _sort_columns(
    node: Node, ancestors: tuple[Node, ...], aliases: frozenset[str]
) -> tuple[str, ...]:
    """The ORDER BY's columns when `Limit → Sort` (through Gathers) sits right above the
    scan and sorts only on this table's plain columns; directions kept when mixed."""
    sort_keys: list[str] | None = None
    for ancestor in reversed(ancestors):
        kind = ancestor.get("Node Type")
        if kind == "Limit":
            break
        if kind not in SORT_PATH:
            return ()
        if kind in ("Sort", "Incremental Sort") and sort_keys is None:
            keys = ancestor.get("Sort Key")
            sort_keys = [str(k) for k in keys] if isinstance(keys, list) else []
    else:
        return ()
    if not sort_keys:
        return ()
    columns: list[tuple[str, str]] = []
    for key in sort_keys:
        match = re.fullmatch(r"(.+?)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(?:FIRST|LAST))?", key.strip())
        tree = _parse(match.group(1)) if match else None
        if match is None or tree is None or tree.kind != "col" or not _mine(tree, aliases):
            return ()
        columns.append((tree.name, match.group(2) or "ASC"))
    if len({direction for _, direction in columns}) == 1:  # a b-tree reads backwards too
        return tuple(_ident(name) for name, _ in columns)
    return tuple(f"{_ident(name)} {direction}" for name, direction in columns)


@dataclass(frozen=True, slots=True)
class _Term:
    """One condition of a filter on a column (or an expression over this table's columns)."""

    key: str  # the column, quoted if need be, or the expression as SQL
    expression: bool
    kind: str  # "eq", "null", "range", "prefix", "contains", "pattern", "ilike", "gin", "none"
    text: str  # the condition as the plan prints it


@dataclass(frozen=True, slots=True)
class _IndexPlan:
    columns: tuple[str, ...]
    index_columns: tuple[str, ...]
    sort: tuple[str, ...]
    indexes: tuple[tuple[str, str], ...]  # (name suffix, "USING … (…)" or "(…)")
    note: str


ORDER = {"eq": 0, "null": 1, "range": 2, "prefix": 2}


def _plan_index(tree: _Expr, aliases: frozenset[str], sort: tuple[str, ...]) -> _IndexPlan:
    conjuncts = _flatten(tree, "and")
    terms = [_term(c, aliases) for c in conjuncts if c.kind != "or"]
    ors = [c for c in conjuncts if c.kind == "or"]
    columns = _columns_of(terms, ors, aliases)
    key = _btree_key(terms)
    if key:
        served, appended = _with_sort(key, sort)
        note = _btree_note(terms, key)
        if served:
            ends = ", ".join(appended or served)
            note = (note + " " if note else "") + (
                f"The index ends with the ORDER BY's {ends}: it can return the rows in order, "
                "so the LIMIT stops after the first few, without a sort."
            )
        index_columns = tuple(k.key for k in key) + tuple(s.split(" ")[0] for s in appended)
        index = _btree_index(key, appended)
        return _IndexPlan(columns, index_columns, served, (index,), note)
    if ors:
        return _or_plan(ors[0], aliases, columns)
    return _fallback_plan(terms, columns)


def _columns_of(terms: list[_Term], ors: list[_Expr], aliases: frozenset[str]) -> tuple[str, ...]:
    every = list(terms)
    for disjunction in ors:
        for branch in _flatten(disjunction, "or"):
            every.extend(_term(c, aliases) for c in _flatten(branch, "and"))
    ranked = sorted((t for t in every if t.key), key=lambda t: ORDER.get(t.kind, 3))
    return tuple(dict.fromkeys(t.key for t in ranked))


def _btree_key(terms: list[_Term]) -> list[_Term]:
    """Equalities (IS NULL after them), then the first range or LIKE prefix: what a b-tree
    narrows on."""
    key: list[_Term] = []
    for kind in ("eq", "null"):
        key.extend(t for t in terms if t.kind == kind and t.key not in {k.key for k in key})
    ranged = [
        t for t in terms if t.kind in ("range", "prefix") and t.key not in {k.key for k in key}
    ]
    return key + ranged[:1]


def _with_sort(key: list[_Term], sort: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the ORDER BY columns the index returns rows in, those to append to it for that).
    After equalities, any sort columns (an equality column is constant among the matches);
    after a range column, only a sort on that one column (the index is in its order)."""
    if not sort:
        return (), ()
    last = key[-1]
    if last.kind in ("range", "prefix"):
        if last.kind == "range" and len(sort) == 1 and sort[0].split(" ")[0] == last.key:
            return sort, ()
        return (), ()
    equal = {k.key for k in key}
    return sort, tuple(s for s in sort if s.split(" ")[0] not in equal)


def _btree_index(key: list[_Term], appended: tuple[str, ...] = ()) -> tuple[str, str]:
    parts = []
    for term in key:
        part = _paren(term)
        if term.kind == "prefix":
            part += " text_pattern_ops"
        parts.append(part)
    return "", "(" + ", ".join([*parts, *appended]) + ")"


def _btree_note(terms: list[_Term], key: list[_Term]) -> str:
    notes = []
    if any(t.kind == "prefix" for t in key):
        notes.append(
            "`text_pattern_ops` lets a b-tree serve `LIKE 'abc%'` whatever the database's "
            "collation (with the C collation a plain index would do too)."
        )
    if any(t.expression for t in key):
        notes.append(
            "An expression index: the query must use the same expression, and its functions "
            "must be IMMUTABLE."
        )
    unserved = [
        t.text for t in terms if t.kind in ("contains", "ilike", "pattern") and t not in key
    ]
    if unserved:
        notes.append(
            f"The index narrows the rows; `{_strip(unserved[0])}` is then checked on those."
        )
    return " ".join(notes)


def _or_plan(disjunction: _Expr, aliases: frozenset[str], columns: tuple[str, ...]) -> _IndexPlan:
    """OR: PostgreSQL combines one index per branch (a BitmapOr), but only if every branch
    has one: a single branch without reads the whole table anyway."""
    indexes: list[tuple[str, str]] = []
    keys: list[str] = []
    notes: list[str] = []
    for branch in _flatten(disjunction, "or"):
        terms = [_term(c, aliases) for c in _flatten(branch, "and") if c.kind != "or"]
        key = _btree_key(terms)
        if key:
            index, branch_keys, note = _btree_index(key), [k.key for k in key], ""
        else:
            fallback = _fallback_plan(terms, columns)
            if not fallback.indexes:
                note = (
                    f"The filter is an OR, and its branch `{_strip(_source(branch))}` can use "
                    "no index: PostgreSQL must read the whole table whatever indexes the other "
                    "branches get. Split the query into a UNION of one query per branch, or "
                    "change that condition."
                )
                return _IndexPlan(columns, (), (), (), note)
            index, branch_keys, note = fallback.indexes[0], [*fallback.index_columns], fallback.note
        if index not in indexes:
            indexes.append(index)
            keys.extend(branch_keys)
            notes.append(note)
    if len(indexes) > 1:
        notes.insert(
            0,
            f"The filter is an OR: one index per branch ({len(indexes)}), which PostgreSQL "
            "combines with a BitmapOr. One index on all the columns would not serve an OR.",
        )
    note = " ".join(n for n in notes if n)
    return _IndexPlan(columns, tuple(dict.fromkeys(keys)), (), tuple(indexes), note)


def _fallback_plan(terms: list[_Term], columns: tuple[str, ...]) -> _IndexPlan:
    """No b-tree key: a trigram index for patterns, GIN for containment, or nothing."""
    trigram = [t for t in terms if t.kind in ("contains", "ilike")]
    if trigram:
        term = trigram[0]
        what = "ILIKE" if term.kind == "ilike" else "A pattern that starts with a wildcard"
        note = (
            f"{what} (`{_strip(term.text)}`) can use no b-tree index. A trigram index "
            "can: it needs the pg_trgm extension (`CREATE EXTENSION IF NOT EXISTS pg_trgm`, "
            "by a superuser or the database owner). For word search, full-text search "
            "(tsvector and a GIN index) is the better fit."
        )
        index = ("trgm", f"USING gin ({_paren(term)} gin_trgm_ops)")
        return _IndexPlan(columns, (term.key,), (), (index,), note)
    unknown = [t for t in terms if t.kind == "pattern"]
    if unknown:
        term = unknown[0]
        note = (
            f"The LIKE pattern (`{_strip(term.text)}`) is a parameter: this b-tree index "
            "serves it only when the pattern starts with a fixed prefix ('abc%') and "
            "PostgreSQL plans with the value known — not in a prepared statement's generic "
            "plan (asyncpg's, after its fifth run), which reads the whole table whatever the "
            "index. A trigram index (pg_trgm: `USING gin (… gin_trgm_ops)`) serves any "
            "pattern, in both plans."
        )
        index = ("", f"({_paren(term)} text_pattern_ops)")
        return _IndexPlan(columns, (term.key,), (), (index,), note)
    gin = [t for t in terms if t.kind == "gin"]
    if gin:
        term = gin[0]
        note = (
            f"`{_strip(term.text)}` is a containment operator: a GIN index serves it, not a "
            "b-tree (jsonb, arrays, tsvector)."
        )
        return _IndexPlan(columns, (term.key,), (), (("gin", f"USING gin ({_paren(term)})"),), note)
    shown = "; ".join(_strip(t.text) for t in terms[:3])
    note = (
        f"No index serves this filter (`{shown}`): it has no equality, range or prefix "
        "condition of a column against a value (`<>`, NOT LIKE and comparisons between "
        "columns read every row)."
    )
    return _IndexPlan(columns, (), (), (), note)


def _paren(term: _Term) -> str:
    """An index's expression goes in parentheses (once)."""
    key = term.key
    if not term.expression or (key.startswith("(") and _strip(key) != key):
        return key
    return f"({key})"


def _create(table: str, index: tuple[str, str]) -> str:
    """CREATE INDEX CONCURRENTLY: a plain CREATE INDEX holds a lock that blocks every
    INSERT, UPDATE and DELETE on the table for the whole build — minutes, on the large tables
    this is about, of a live app's writes failing or queueing. CONCURRENTLY builds without
    blocking writes (it reads the table twice, so it is slower), but cannot run inside a
    transaction block (migration tools need it outside theirs), and one that fails leaves
    an INVALID index to DROP before retrying."""
    suffix, columns = index
    name_parts = [
        table.rsplit(".", 1)[-1],
        *re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _key_text(columns)),
    ]
    if suffix:
        name_parts.append(suffix)
    name = re.sub(r"_+", "_", "ix_" + "_".join(name_parts).lower())[:MAX_NAME].rstrip("_")
    target = ".".join(_ident(part) for part in table.split("."))
    return f"CREATE INDEX CONCURRENTLY {_ident(name)} ON {target} {columns}"


# Words in an index definition that name no column.
NAME_NOISE = frozenset({"using", "gin", "text_pattern_ops", "gin_trgm_ops", "asc", "desc"})


def _key_text(columns: str) -> str:
    words = re.findall(r"\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*", columns)
    return " ".join(w.strip('"') for w in words if w.lower() not in NAME_NOISE)


def _ident(name: str) -> str:
    """A name as SQL needs it: plain if lower case and not reserved, else quoted."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


# --- the join rule ----------------------------------------------------------------------


def _join_advice(
    join: Node, ancestors: tuple[Node, ...], table_rows: Mapping[str, float], reported: set[int]
) -> Iterator[IndexAdvice]:
    condition = join.get("Hash Cond") or join.get("Merge Cond") or join.get("Join Filter")
    children = _children(join)
    if not isinstance(condition, str) or len(children) != 2:
        return
    tree = _parse(condition)
    if tree is None:
        return
    path = (*ancestors, join)
    for side, other in ((children[0], children[1]), (children[1], children[0])):
        scan = _feeding_scan(side)
        if scan is None or id(scan) in reported:
            continue
        total = _table_rows(scan, table_rows)
        lookups = _rows(other, path)
        if total is None or total < MIN_TABLE_ROWS or lookups > JOIN_MAX_SHARE * total:
            continue
        aliases = _aliases(scan)
        key = [t for t in (_join_term(c, aliases) for c in _flatten(tree, "and")) if t is not None]
        key = list({t.key: t for t in key}.values())
        if not key:
            continue
        table = _table(scan)
        index = _btree_index(key)
        columns = tuple(t.key for t in key)
        note = (
            f"{join.get('Node Type')} reads all of `{table}` to match "
            f"{_rows_text(lookups)} of the other side: with an index on {', '.join(columns)}, "
            "PostgreSQL can look each one up instead (a Nested Loop with an Index Scan)."
        )
        yield IndexAdvice(
            table=table,
            alias=_alias(scan),
            kind="join",
            condition=condition,
            columns=columns,
            sort_columns=(),
            index_columns=columns,
            table_rows=total,
            rows=_rows(join, ancestors),
            create=(_create(table, index),),
            note=note,
        )


def _feeding_scan(node: Node) -> Node | None:
    """The Seq Scan that feeds a join input directly (through Hash, Materialize, Sort…)."""
    while node.get("Node Type") in JOIN_WRAPPERS:
        children = _children(node)
        if len(children) != 1:
            return None
        node = children[0]
    return node if node.get("Node Type") in SCAN_TYPES else None


def _join_term(expr: _Expr, aliases: frozenset[str]) -> _Term | None:
    """`big.col = other.col`: the big table's side, if the other is another table's."""
    if expr.kind != "op" or expr.name != "=" or len(expr.args) != 2:
        return None
    for mine, theirs in (expr.args, expr.args[::-1]):
        key = _key_side(mine, aliases)
        refs = _refs(theirs)
        if key is not None and refs and not any(_mine_ref(r, aliases) for r in refs):
            return _Term(key[0], key[1], "eq", _source(expr))
    return None


# --- reading a condition ----------------------------------------------------------------


def _term(expr: _Expr, aliases: frozenset[str]) -> _Term:
    if expr.kind == "op" and len(expr.args) == 2:
        return _comparison(expr, aliases)
    subject = expr.args[0] if expr.kind in ("not", "is", "any") and expr.args else expr
    side = _key_side(subject, aliases)
    kind = "none"
    if side is None:
        side = ("", False)
    elif expr.kind in ("col", "cast", "not"):  # a boolean column, or NOT one
        kind = "eq"
    elif expr.kind == "is":  # IS NULL: b-trees index NULLs; IS [NOT] TRUE/FALSE
        kind = ("none" if expr.negated else "null") if expr.name == "NULL" else "eq"
    elif expr.kind == "any" and expr.name == "=" and expr.quantifier in ("ANY", "SOME"):
        kind = "eq" if _constant(expr.args[1], aliases) else "none"
    return _Term(side[0], side[1], kind, _source(expr))


# What a b-tree (or GIN) makes of an operator between a column and a value.
OPERATOR_KINDS = {
    "=": "eq",
    **dict.fromkeys(RANGE_OPS, "range"),
    **dict.fromkeys(("~~*", "~*"), "ilike"),
    **dict.fromkeys(GIN_OPS, "gin"),
}


def _comparison(expr: _Expr, aliases: frozenset[str]) -> _Term:
    text = _source(expr)
    left, right = expr.args
    op = expr.name
    side, value = _key_side(left, aliases), right
    if side is None or not _constant(right, aliases):
        side, value = _key_side(right, aliases), left
        if side is None or not _constant(left, aliases):  # e.g. two columns compared
            refs = [r for r in _refs(expr) if _mine_ref(r, aliases)]
            return _Term(_ident(refs[0].name) if refs else "", False, "none", text)
        op = RANGE_OPS.get(op, op)  # `$1 < a` is `a > $1`
    if op in ("~~", "~"):
        kind = _pattern_kind(value, regex=op == "~")
    else:
        kind = OPERATOR_KINDS.get(op, "none")
    return _Term(side[0], side[1], kind, text)


def _pattern_kind(value: _Expr, *, regex: bool) -> str:
    """A LIKE or regex pattern: "prefix" ('abc%', '^abc'), "contains" (a leading wildcard),
    or "pattern" (a parameter: unknown)."""
    while value.kind == "cast" and value.args:
        value = value.args[0]
    literal = value.literal
    if value.kind != "const" or literal is None:
        return "pattern"
    if regex:
        return "prefix" if re.match(r"\^[A-Za-z0-9 _@-]", literal) else "contains"
    return "contains" if not literal or literal[0] in "%_" else "prefix"


def _key_side(expr: _Expr, aliases: frozenset[str]) -> tuple[str, bool] | None:
    """(column, False) for a column of this table (through casts to text), (expression
    SQL, True) for an expression over its columns only, else None."""
    bare = expr
    while bare.kind == "cast" and bare.name in RELABELS and bare.args:
        bare = bare.args[0]
    if bare.kind == "col":
        return (_ident(bare.name), False) if _mine(bare, aliases) else None
    refs = _refs(expr)
    if refs and all(_mine_ref(r, aliases) for r in refs) and not _opaque(expr):
        return _render(expr), True
    return None


def _constant(expr: _Expr, aliases: frozenset[str]) -> bool:
    """A value fixed during the scan: literals, parameters, functions of them, and columns
    of other tables (the outer row of a correlated subquery)."""
    return not _opaque(expr) and not any(_mine_ref(r, aliases) for r in _refs(expr))


def _mine(expr: _Expr, aliases: frozenset[str]) -> bool:
    return expr.kind == "col" and _mine_ref(expr, aliases)


def _mine_ref(expr: _Expr, aliases: frozenset[str]) -> bool:
    return expr.qualifier is None or expr.qualifier in aliases


def _refs(expr: _Expr) -> list[_Expr]:
    if expr.kind == "col":
        return [expr]
    return [ref for arg in expr.args for ref in _refs(arg)]


def _opaque(expr: _Expr) -> bool:
    return expr.kind == "other" or any(_opaque(arg) for arg in expr.args)


def _flatten(expr: _Expr, kind: str) -> list[_Expr]:
    if expr.kind == kind:
        return [item for arg in expr.args for item in _flatten(arg, kind)]
    return [expr]


def _strip(condition: str) -> str:
    """`(a = $1)` → `a = $1`: the outer parentheses PostgreSQL prints around a condition."""
    text = condition.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    try:
        tokens = _tokens(text)
    except _ParseError:
        return False
    depth = 0
    for token in tokens:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# --- the expression parser --------------------------------------------------------------
# PostgreSQL prints conditions fully parenthesised (`((a = $1) AND (b > $2))`), operators
# as symbols (LIKE is ~~, IN is `= ANY (…)`), casts as `::type`, names quoted only if
# they need it, and columns qualified by the alias when the plan joins several tables.


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "str", "qident", "param", "num", "word", "cast", "punct", "op"
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<str>[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')
      | (?P<qident>"(?:[^"]|"")*")
      | (?P<param>\$\d+)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<word>[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*)
      | (?P<cast>::)
      | (?P<punct>[(),\[\].:;])
      | (?P<op>[-+*/<>=~!@\#%^&|`?]+)""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _ParseError(text[position:])
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), match.start(), match.end()))
        position = match.end()
    return tokens


class _ParseError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Expr:
    kind: str  # "col", "const", "func", "cast", "op", "any", "is", "and", "or", "not", "other"
    start: int
    end: int
    source: str  # the whole condition's text: this node is source[start:end]
    name: str = ""  # column, function, operator, cast type, or IS's NULL/TRUE/FALSE
    qualifier: str | None = None  # a column's alias
    args: tuple[_Expr, ...] = ()
    quantifier: str = ""  # ANY / ALL
    negated: bool = False  # IS NOT
    literal: str | None = None  # a string constant's value


def _source(expr: _Expr) -> str:
    return expr.source[expr.start : expr.end]


def _parse(text: str) -> _Expr | None:
    try:
        parser = _Parser(text)
        expr = parser.expression()
        if parser.position != len(parser.tokens):
            return None
        return expr
    except (_ParseError, IndexError, RecursionError):
        return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def word(self, *words: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "word" and token.text.upper() in words

    def punct(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind in ("punct", "cast") and token.text == text

    def expect(self, text: str) -> _Token:
        if not self.punct(text):
            raise _ParseError(text)
        return self.next()

    def node(self, kind: str, start: int, **fields: Any) -> _Expr:
        end = self.tokens[self.position - 1].end
        return _Expr(kind, start, end, self.text, **fields)

    def expression(self) -> _Expr:
        return self.boolean("OR", self.conjunction)

    def conjunction(self) -> _Expr:
        return self.boolean("AND", self.negation)

    def boolean(self, word: str, operand: Callable[[], _Expr]) -> _Expr:
        start = self.tokens[self.position].start
        items = [operand()]
        while self.word(word):
            self.next()
            items.append(operand())
        return items[0] if len(items) == 1 else self.node(word.lower(), start, args=tuple(items))

    def negation(self) -> _Expr:
        if self.word("NOT"):
            start = self.next().start
            inner = self.negation()
            return self.node("not", start, args=(inner,))
        return self.comparison()

    def comparison(self) -> _Expr:
        start = self.tokens[self.position].start
        left = self.operand()
        while (token := self.peek()) is not None:
            if token.kind == "op":
                self.next()
                if self.word("ANY", "ALL", "SOME") and self.punct("(", 1):
                    quantifier = self.next().text.upper()
                    self.expect("(")
                    inner = self.expression()
                    self.expect(")")
                    left = self.node(
                        "any", start, name=token.text, args=(left, inner), quantifier=quantifier
                    )
                else:
                    right = self.operand()
                    left = self.node("op", start, name=token.text, args=(left, right))
            elif self.word("IS"):
                self.next()
                negated = self.word("NOT")
                if negated:
                    self.next()
                if self.word("DISTINCT") and self.word("FROM", offset=1):
                    self.position += 2
                    right = self.operand()
                    op = "IS NOT DISTINCT FROM" if negated else "IS DISTINCT FROM"
                    left = self.node("op", start, name=op, args=(left, right))
                elif self.word("NULL", "TRUE", "FALSE", "UNKNOWN"):
                    what = self.next().text.upper()
                    left = self.node("is", start, name=what, args=(left,), negated=negated)
                else:
                    raise _ParseError("IS")
            elif self.word("OPERATOR") and self.punct("(", 1):
                self.position += 1
                op = self.balanced_text()
                right = self.operand()
                name = op.rsplit(".", 1)[-1].strip("() ")
                left = self.node("op", start, name=name, args=(left, right))
            else:
                break
        return left

    def operand(self) -> _Expr:
        token = self.peek()
        if token is None:
            raise _ParseError("end")
        start = token.start
        if token.kind == "op":  # a prefix operator: - x, @ x
            self.next()
            inner = self.operand()
            return self.node("op", start, name=token.text, args=(inner,))
        expr = self.primary()
        while True:
            if self.punct("::"):
                self.next()
                type_name = self.type_name()
                expr = self.node("cast", start, name=type_name, args=(expr,))
            elif self.punct("["):
                self.balanced_text("[", "]")
                expr = self.node("func", start, name="[]", args=(expr,))
            elif (
                self.punct(".")
                and (after := self.peek(1)) is not None
                and after.kind in ("word", "qident")
            ):
                self.position += 2
                expr = self.node("func", start, name="." + after.text, args=(expr,))
            elif self.word("COLLATE"):
                self.next()
                self.type_name()
                expr = self.node("func", start, name="COLLATE", args=(expr,))
            else:
                return expr

    def primary(self) -> _Expr:
        token = self.next()
        start = token.start
        if token.text == "(" and token.kind == "punct":
            return self.parenthesised(start)
        if token.kind == "str":
            return self.node("const", start, literal=_unquote(token.text))
        if token.kind in ("num", "param"):
            return self.node("const", start)
        if token.kind == "qident":
            return self.name(start, token.text[1:-1].replace('""', '"'))
        if token.kind != "word":
            raise _ParseError(token.text)
        return self.keyword(start, token.text)

    def parenthesised(self, start: int) -> _Expr:
        if self.word("ALTERNATIVES") and self.punct(":", 1):  # (alternatives: SubPlan 1 or …)
            self.skip_to_close()
            self.expect(")")
            return self.node("other", start)
        items = [self.expression()]
        while self.punct(","):
            self.next()
            items.append(self.expression())
        self.expect(")")
        if len(items) > 1:
            return self.node("func", start, name="ROW", args=tuple(items))
        return items[0]  # spanning the expression inside

    def keyword(self, start: int, word: str) -> _Expr:
        """A word: a SubPlan, ARRAY[…], CASE, a constant (CURRENT_DATE…), or a name."""
        upper = word.upper()
        if upper in ("SUBPLAN", "INITPLAN") or (upper == "HASHED" and self.word("SUBPLAN")):
            self.position += upper == "HASHED"
            token = self.peek()
            self.position += token is not None and token.kind == "num"
            # An InitPlan runs once: its value is a constant (PostgreSQL 16 prints
            # `(InitPlan 1).col1`; 15 a `$0`); a SubPlan runs again for each row.
            return self.node("const" if upper == "INITPLAN" else "other", start)
        if upper in ("ARRAY", "EXISTS") and self.punct("[" if upper == "ARRAY" else "("):
            self.balanced_text(*(("[", "]") if upper == "ARRAY" else ("(", ")")))
            return self.node("func" if upper == "ARRAY" else "other", start, name=upper)
        if upper == "CASE":
            return self.case(start)
        if upper in CONSTANT_WORDS and not self.punct("("):
            return self.node("const", start)
        return self.name(start, word)

    def name(self, start: int, first: str) -> _Expr:
        parts = [first]
        while (
            self.punct(".")
            and (after := self.peek(1)) is not None
            and after.kind in ("word", "qident")
        ):
            self.position += 2
            parts.append(
                after.text[1:-1].replace('""', '"') if after.kind == "qident" else after.text
            )
        if self.punct("("):
            self.next()
            args: list[_Expr] = []
            while not self.punct(")"):
                if self.word("DISTINCT", "VARIADIC", "ALL"):
                    self.next()
                args.append(self.expression())
                if self.word("ORDER"):  # an ordered-set aggregate: not a filter's concern
                    self.skip_to_close()
                if self.punct(","):
                    self.next()
                elif not self.punct(")"):
                    raise _ParseError("arguments")
            self.expect(")")
            return self.node("func", start, name=".".join(parts), args=tuple(args))
        qualifier = ".".join(parts[:-1]) or None
        return self.node("col", start, name=parts[-1], qualifier=qualifier)

    def case(self, start: int) -> _Expr:
        args: list[_Expr] = []
        if not self.word("WHEN"):
            args.append(self.expression())
        while self.word("WHEN", "THEN", "ELSE"):
            self.next()
            args.append(self.expression())
        if not self.word("END"):
            raise _ParseError("CASE")
        self.next()
        return self.node("func", start, name="CASE", args=tuple(args))

    def type_name(self) -> str:
        token = self.next()
        if token.kind not in ("word", "qident"):
            raise _ParseError("type")
        parts = [token.text.strip('"')]
        while (
            self.punct(".")
            and (after := self.peek(1)) is not None
            and after.kind in ("word", "qident")
        ):
            self.position += 2
            parts.append(after.text.strip('"'))
        while self.word(*(w.upper() for w in TYPE_WORDS)):
            parts.append(self.next().text)
        if self.punct("("):
            parts[-1] += f"({self.balanced_text()})"
        while self.punct("[") and self.punct("]", 1):
            self.position += 2
            parts.append("[]")
        return " ".join(parts).replace(" []", "[]")

    def balanced_text(self, opening: str = "(", closing: str = ")") -> str:
        start = self.expect(opening).end
        depth = 1
        while depth:
            token = self.next()
            if token.text == opening and token.kind == "punct":
                depth += 1
            elif token.text == closing and token.kind == "punct":
                depth -= 1
                if depth == 0:
                    return self.text[start : token.start]
        return ""

    def skip_to_close(self) -> None:
        depth = 0
        while (token := self.peek()) is not None:
            if token.text == "(" and token.kind == "punct":
                depth += 1
            elif token.text == ")" and token.kind == "punct":
                if depth == 0:
                    return
                depth -= 1
            self.next()
        raise _ParseError("unclosed")


def _unquote(literal: str) -> str:
    escaped = literal[0] in "Ee"
    body = literal[2:-1] if escaped else literal[1:-1]
    body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if escaped else body


# Nodes the parser keeps as "func" that are not function calls.
PSEUDO_FUNCTIONS = frozenset({"CASE", "ARRAY", "ROW", "COLLATE"})


def _render(expr: _Expr) -> str:
    """An expression as SQL for an index definition: columns unqualified (an index names no
    alias), casts to text of a column dropped (varchar is read as text anyway)."""
    args = expr.args
    if expr.kind == "col":
        text = _ident(expr.name)
    elif expr.kind == "cast" and expr.name in RELABELS and args[0].kind == "col":
        text = _render(args[0])
    elif expr.kind == "cast":
        text = f"{_render_operand(args[0])}::{expr.name}"
    elif expr.kind == "func" and expr.name not in PSEUDO_FUNCTIONS and expr.name[0] not in ".[":
        text = f"{expr.name}({', '.join(_render(a) for a in args)})"
    elif expr.kind == "op" and len(args) == 2:
        text = f"({_render(args[0])} {expr.name} {_render(args[1])})"
    elif expr.kind == "op" and len(args) == 1:
        text = f"{expr.name}{_render_operand(args[0])}"
    else:
        text = _source(expr)
        for ref in sorted(_refs(expr), key=lambda r: -r.start):  # drop the aliases
            text = text[: ref.start - expr.start] + _ident(ref.name) + text[ref.end - expr.start :]
    return text


def _render_operand(expr: _Expr) -> str:
    text = _render(expr)
    return text if expr.kind in ("col", "const", "func") else f"({text})"


# --- describing a plan ------------------------------------------------------------------


def _describe(
    node: Node,
    ancestors: tuple[Node, ...],
    indent: str,
    table_rows: Mapping[str, float],
    lines: list[str],
) -> None:
    chain = [_label(node, ancestors, table_rows)]
    while len(children := _children(node)) == 1 and not _subquery(children[0]):
        ancestors = (*ancestors, node)
        node = children[0]
        chain.append(_label(node, ancestors, table_rows))
    lines.append(indent + " → ".join(chain))
    for child in children:
        _describe(child, (*ancestors, node), indent + "  ", table_rows, lines)


def _subquery(node: Node) -> bool:
    return node.get("Parent Relationship") in ("SubPlan", "InitPlan")


def _label(node: Node, ancestors: tuple[Node, ...], table_rows: Mapping[str, float]) -> str:
    kind = str(node.get("Node Type", "?"))
    if node.get("Parallel Aware") is True and kind.endswith(("Scan", "Hash", "Append")):
        kind = "Parallel " + kind
    relation = node.get("Relation Name")
    if relation:
        index = node.get("Index Name")
        kind += f" using {index}" if index else ""
        alias = node.get("Alias")
        kind += f" on {_table(node)}" + (f" {alias}" if alias and alias != relation else "")
    elif node.get("Index Name"):
        kind += f" on {node['Index Name']}"
    subplan = node.get("Subplan Name")
    if subplan:
        kind = f"[{subplan}] {kind}"
    details = []
    keys = node.get("Sort Key")
    if isinstance(keys, list) and keys:
        details.append(", ".join(str(k) for k in keys))
    for field in ("Hash Cond", "Merge Cond", "Index Cond", "Recheck Cond", "Join Filter", "Filter"):
        value = node.get(field)
        if isinstance(value, str) and not (field == "Recheck Cond" and "Index Cond" in node):
            shown = _strip(value)
            details.append(shown if field in ("Hash Cond", "Merge Cond") else f"{field}: {shown}")
    workers = node.get("Workers Planned")
    if isinstance(workers, int):
        details.append(f"{workers} worker{'s' * (workers != 1)}")
    rows = _rows(node, ancestors) if "Plan Rows" in node else None
    if rows is not None and (relation or node.get("Node Type") in JOIN_TYPES):
        total = _table_rows(node, table_rows) if relation else None
        of = f" of {_count(total)}" if total is not None else ""
        details.append(f"~{_count(rows)}{of} rows")
    return f"{kind} ({'; '.join(details)})" if details else kind


def _count(rows: float) -> str:
    return f"{round(rows):,}"


def _rows_text(rows: float) -> str:
    return f"~{_count(rows)} row{'s' * (round(rows) != 1)}"
