"""`budgets:` and `ignore:`. Route keys ("GET /quotes/{sku}") are checked for syntax only:
whether they name a measured route is known after the run (`check_budget_routes`)."""

from __future__ import annotations

import difflib
import math

from perfaudit.analysis.findings import Severity
from perfaudit.config.model import (
    LATENCY_KEYS,
    MEMORY_KEYS,
    Budget,
    Budgets,
    IgnoreRule,
    RouteBudget,
)
from perfaudit.config.nodes import Entry, Node, Reader
from perfaudit.load.plan import METHODS

BUDGETS_KEYS = ("global", "routes")
BUDGET_KEYS = (*LATENCY_KEYS, "min_rps", "max_error_rate", "max_severity", *MEMORY_KEYS)
# Each memory limit's unit, for its error message. Growth may be 0 (nothing retained, the
# way `max_error_rate: 0` allows no error); no request allocates nothing, no process is
# 0 MiB, so those must be positive.
MEMORY_UNITS = {
    "max_alloc_kb_per_request": "KiB per request",
    "max_growth_kb_per_1k_requests": "KiB per 1,000 requests",
    "max_rss_mb": "MiB",
}
IGNORE_KEYS = ("id", "route", "reason")
_SEVERITIES = ", ".join(s.label for s in Severity)


def read_budgets(reader: Reader, node: Node | None) -> Budgets:
    if node is None:
        return Budgets()
    mapping = reader.expect_map(node, "a mapping with global and routes")
    reader.check_keys(mapping, BUDGETS_KEYS)
    overall, routes = mapping.get("global"), mapping.get("routes")
    return Budgets(
        overall=_budget(reader, overall) if overall is not None else Budget(),
        routes=_route_budgets(reader, routes) if routes is not None else (),
    )


def _route_budgets(reader: Reader, node: Node) -> tuple[RouteBudget, ...]:
    mapping = reader.expect_map(node, 'a mapping of routes ("GET /items/{item_id}") to budgets')
    budgets: list[RouteBudget] = []
    for entry in mapping.entries:
        route = route_key(reader, entry, entry.key)
        first = next((b for b in budgets if b.route == route), None)
        if first is not None:
            raise reader.error(
                entry,
                f"{route} has a budget already (line {first.origin.line}).",
                remedy="Merge the two.",
            )
        budget = _budget(reader, entry.value)
        budgets.append(RouteBudget(route=route, budget=budget, origin=reader.origin(entry)))
    return tuple(budgets)


def _budget(reader: Reader, node: Node) -> Budget:
    mapping = reader.expect_map(node, "a budget (a mapping such as {p95_ms: 250})")
    reader.check_keys(mapping, BUDGET_KEYS)
    limits = {key: _limit(reader, key, mapping.get(key)) for key in (*LATENCY_KEYS, "min_rps")}
    rate, severity = mapping.get("max_error_rate"), mapping.get("max_severity")
    memory = {key: _memory_limit(reader, key, mapping.get(key)) for key in MEMORY_KEYS}
    return Budget(
        p50_ms=limits["p50_ms"],
        p90_ms=limits["p90_ms"],
        p95_ms=limits["p95_ms"],
        p99_ms=limits["p99_ms"],
        max_ms=limits["max_ms"],
        mean_ms=limits["mean_ms"],
        min_rps=limits["min_rps"],
        max_error_rate=_error_rate(reader, rate) if rate is not None else None,
        max_severity=_severity(reader, severity) if severity is not None else None,
        max_alloc_kb_per_request=memory["max_alloc_kb_per_request"],
        max_growth_kb_per_1k_requests=memory["max_growth_kb_per_1k_requests"],
        max_rss_mb=memory["max_rss_mb"],
    )


def _limit(reader: Reader, key: str, node: Node | None) -> float | None:
    if node is None:
        return None
    value = reader.number(node)
    if value <= 0:
        unit = "requests per second" if key == "min_rps" else "milliseconds"
        raise reader.error(node, f"must be positive ({unit}), got {value:g}.")
    return value


def _memory_limit(reader: Reader, key: str, node: Node | None) -> float | None:
    if node is None:
        return None
    value = reader.number(node)
    unit = MEMORY_UNITS[key]
    if not math.isfinite(value):
        raise reader.error(node, f"must be a finite number ({unit}), got {value:g}.")
    if key == "max_growth_kb_per_1k_requests" and value < 0:
        raise reader.error(node, f"must be 0 or more ({unit}), got {value:g}.")
    if key != "max_growth_kb_per_1k_requests" and value <= 0:
        raise reader.error(node, f"must be positive ({unit}), got {value:g}.")
    return value


def _error_rate(reader: Reader, node: Node) -> float:
    value = reader.number(node)
    if not 0 <= value <= 1:
        raise reader.error(
            node,
            f"must lie between 0 and 1, got {value:g}.",
            remedy="It is a share of requests: 0.01 allows 1% errors, 0 none.",
        )
    return value


def _severity(reader: Reader, node: Node) -> Severity:
    text = reader.string(node)
    try:
        return Severity.parse(text)
    except ValueError:
        raise reader.error(
            node, f'"{text}" is not a severity.', remedy=f"Use one of {_SEVERITIES}."
        ) from None


def route_key(reader: Reader, where: Node | Entry, text: str) -> str:
    """ "get  /items/{id}" -> "GET /items/{id}", the way reports name routes."""
    parts = text.split()
    remedy = 'Write "METHOD /template", e.g. "GET /items/{item_id}".'
    if len(parts) != 2:
        raise reader.error(where, f'"{text}" is not a route.', remedy=remedy)
    method, template = parts[0].upper(), parts[1]
    if method not in METHODS:
        raise reader.error(where, f'"{parts[0]}" is not an HTTP method.', remedy=remedy)
    if not template.startswith("/") or "?" in template:
        raise reader.error(
            where,
            f'"{template}" is not a route template.',
            remedy="Use the route as declared, e.g. /items/{item_id}, without a query.",
        )
    return f"{method} {template}"


def read_ignore(reader: Reader, node: Node | None) -> tuple[IgnoreRule, ...]:
    if node is None:
        return ()
    items = reader.expect_list(node, "a list of {id, reason} mappings").items
    return tuple(_ignore_rule(reader, item) for item in items)


def _ignore_rule(reader: Reader, node: Node) -> IgnoreRule:
    mapping = reader.expect_map(node, "an ignore rule (a mapping with id and reason)")
    reader.check_keys(mapping, IGNORE_KEYS)
    id_node, route, reason_node = (mapping.get(k) for k in IGNORE_KEYS)
    if id_node is None or reason_node is None:
        missing = "id" if id_node is None else "reason"
        raise reader.error(
            mapping,
            f"this ignore rule has no {missing}.",
            remedy="Give the finding id and why it does not apply, e.g. "
            '`{id: default-event-loop, reason: "we deploy with uvicorn[standard]"}`.',
        )
    reason = reader.string(reason_node).strip()
    if not reason:
        raise reader.error(reason_node, "the reason is empty.", remedy="Say why it does not apply.")
    return IgnoreRule(
        id=_finding_id(reader, id_node),
        reason=reason,
        route=route_key(reader, route, reader.string(route)) if route is not None else None,
        origin=reader.origin(mapping),
    )


def _finding_id(reader: Reader, node: Node) -> str:
    from perfaudit.analysis.rules import all_rules  # imports every rule module: only here

    text = reader.string(node)
    known = sorted(rule.id for rule in all_rules())
    if text in known:
        return text
    close = difflib.get_close_matches(text, known, n=1)
    hint = f'; did you mean "{close[0]}"?' if close else "."
    raise reader.error(
        node,
        f'"{text}" is not a finding id{hint}',
        remedy="`perfaudit rules` lists them.",
    )
