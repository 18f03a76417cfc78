"""`defaults:` and `scenarios:`: load settings merged per scenario, and each scenario's routes
in their short ("POST /orders?x=1") or long (a mapping) form."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TypeVar

from perfaudit.config.model import RouteConfig, Scenario
from perfaudit.config.nodes import ListNode, MapNode, Node, Reader, ScalarNode, describe, plain
from perfaudit.load.plan import BODY_METHODS, METHODS

SETTING_KEYS = ("requests", "duration", "concurrency", "warmup", "timeout", "headers")
SCENARIO_KEYS = ("name", "routes", *SETTING_KEYS)
ROUTE_KEYS = ("path", "method", "body", "form", "headers", "weight")
DEFAULT_REQUESTS = 100
_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
T = TypeVar("T")
_METHOD_REMEDY = f"Use one of {', '.join(sorted(METHODS))}."


@dataclass(frozen=True, slots=True)
class _Settings:
    """What one mapping (`defaults:` or a scenario) sets; None where it is silent."""

    requests: int | None = None
    duration_s: float | None = None
    concurrency: int | None = None
    warmup: int | None = None
    timeout_s: float | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def bounded(self) -> bool:
        return self.requests is not None or self.duration_s is not None


def read_settings(reader: Reader, node: MapNode) -> _Settings:
    requests, duration = node.get("requests"), node.get("duration")
    if requests is not None and duration is not None:
        raise reader.error(
            duration, "requests and duration are both set.", remedy="Bound the run by one of them."
        )
    return _Settings(
        requests=_at_least(reader, requests, 1),
        duration_s=_positive(reader, duration),
        concurrency=_at_least(reader, node.get("concurrency"), 1),
        warmup=_at_least(reader, node.get("warmup"), 0),
        timeout_s=_positive(reader, node.get("timeout")),
        headers=_headers(reader, node.get("headers")),
    )


def read_scenarios(
    reader: Reader, root: MapNode, defaults: _Settings, *, in_process: bool
) -> tuple[Scenario, ...]:
    node = root.get("scenarios")
    items = reader.expect_list(node, "a list of scenarios").items if node is not None else ()
    if not items:
        raise reader.error(
            node or root,
            "no scenario: nothing would be measured.",
            remedy="Add one under `scenarios:`, e.g. `- {name: browse, routes: [GET /items]}`.",
        )
    scenarios: list[Scenario] = []
    for item in items:
        scenario = _scenario(reader, item, defaults, in_process=in_process)
        first = next((s for s in scenarios if s.name == scenario.name), None)
        if first is not None:
            raise reader.error(
                item,
                f'"{scenario.name}" already names the scenario at line {first.origin.line}.',
                remedy="Give each scenario its own name.",
            )
        scenarios.append(scenario)
    return tuple(scenarios)


def _scenario(reader: Reader, node: Node, defaults: _Settings, *, in_process: bool) -> Scenario:
    mapping = reader.expect_map(node, "a scenario (a mapping with name and routes)")
    reader.check_keys(mapping, SCENARIO_KEYS)
    name = _name(reader, mapping)
    own = read_settings(reader, mapping)
    bound = own if own.bounded else defaults
    headers = _merge_headers(defaults.headers, own.headers)
    routes = _routes(reader, mapping, headers, in_process=in_process)
    return Scenario(
        name=name,
        routes=routes,
        requests=bound.requests if bound.bounded else DEFAULT_REQUESTS,
        duration_s=bound.duration_s,
        concurrency=_first(own.concurrency, defaults.concurrency, 1),
        warmup=_first(own.warmup, defaults.warmup, 10),
        timeout_s=_first(own.timeout_s, defaults.timeout_s, 30.0),
        origin=reader.origin(mapping),
    )


def _name(reader: Reader, mapping: MapNode) -> str:
    node = mapping.get("name")
    if node is None:
        raise reader.error(mapping, "this scenario has no name.", remedy="Add `name: browse`.")
    name = reader.string(node)
    if not _NAME.match(name):
        raise reader.error(
            node,
            f'"{name}" is not a scenario name.',
            remedy="Use letters, digits, '_', '.' and '-' only (it names reports and JUnit cases).",
        )
    return name


def _routes(
    reader: Reader, mapping: MapNode, headers: tuple[tuple[str, str], ...], *, in_process: bool
) -> tuple[RouteConfig, ...]:
    node = mapping.get("routes")
    items = reader.expect_list(node, "a list of routes").items if node is not None else ()
    if not items and not in_process:
        raise reader.error(
            node or mapping,
            "this scenario names no route, and a live server's routes cannot be discovered.",
            remedy="List them, e.g. `routes: [GET /items]`.",
        )
    return tuple(_route(reader, item, headers, in_process=in_process) for item in items)


def _route(
    reader: Reader, node: Node, headers: tuple[tuple[str, str], ...], *, in_process: bool
) -> RouteConfig:
    if isinstance(node, ScalarNode) and isinstance(node.value, str):
        method, path, query = _short_route(reader, node)
        return RouteConfig(
            method=method, path=path, query=query, headers=headers, origin=reader.origin(node)
        )
    mapping = reader.expect_map(node, 'a route ("GET /path" or a mapping with path:)')
    reader.check_keys(mapping, ROUTE_KEYS)
    path_node = mapping.get("path")
    if path_node is None:
        raise reader.error(mapping, "this route has no path.", remedy="Add `path: /items`.")
    path, query = _path(reader, path_node, reader.string(path_node))
    method_node = mapping.get("method")
    method = _method(reader, method_node) if method_node is not None else "GET"
    return RouteConfig(
        method=method,
        path=path,
        query=query,
        headers=_merge_headers(headers, _headers(reader, mapping.get("headers"))),
        json_body=_body(reader, mapping, method),
        form=_form(reader, mapping, method),
        weight=_weight(reader, mapping.get("weight"), in_process=in_process),
        origin=reader.origin(mapping),
    )


def _short_route(reader: Reader, node: ScalarNode) -> tuple[str, str, str]:
    text = reader.string(node)
    parts = text.split()
    if len(parts) not in (1, 2):
        raise reader.error(
            node, f'"{text}" is not a route.', remedy='Write "/path?query" or "METHOD /path".'
        )
    method = _method(reader, node, parts[0]) if len(parts) == 2 else "GET"
    return (method, *_path(reader, node, parts[-1]))


def _method(reader: Reader, node: Node, text: str | None = None) -> str:
    method = (text if text is not None else reader.string(node)).upper()
    if method not in METHODS:
        raise reader.error(node, f'"{method}" is not an HTTP method.', remedy=_METHOD_REMEDY)
    return method


def _path(reader: Reader, node: Node, text: str) -> tuple[str, str]:
    if "://" in text:
        raise reader.error(
            node,
            f'"{text}" is a URL; routes are paths.',
            remedy="Give the path only (e.g. /items); the target says where the server is.",
        )
    if not text.startswith("/") or any(ch.isspace() for ch in text):
        raise reader.error(
            node, f'"{text}" is not a route path.', remedy="Start it with a slash, e.g. /items."
        )
    path, _, query = text.partition("?")
    return path, query


def _body(reader: Reader, mapping: MapNode, method: str) -> str | None:
    node = mapping.get("body")
    if node is None:
        return None
    _check_sends_body(reader, node, method)
    if not isinstance(node, MapNode | ListNode):
        raise reader.error(
            node,
            f"expected a JSON body (a mapping or a list), got {describe(node)}.",
            remedy="Write e.g. `body: {sku: A1, qty: 2}`; for form fields use `form:`.",
        )
    return json.dumps(plain(node), separators=(",", ":"))


def _form(reader: Reader, mapping: MapNode, method: str) -> tuple[tuple[str, str], ...]:
    node = mapping.get("form")
    if node is None:
        return ()
    if mapping.get("body") is not None:
        raise reader.error(
            node, "body and form are both set.", remedy="Send a JSON body or a form, not both."
        )
    _check_sends_body(reader, node, method)
    return reader.string_pairs(node, "form field names to values")


def _check_sends_body(reader: Reader, node: Node, method: str) -> None:
    if method not in BODY_METHODS:
        raise reader.error(
            node,
            f"a {method} request sends no body.",
            remedy=f"Use one of {', '.join(sorted(BODY_METHODS))}, or put the values in the query.",
        )


def _weight(reader: Reader, node: Node | None, *, in_process: bool) -> float:
    if node is None:
        return 1.0
    if in_process:
        raise reader.error(
            node,
            "weights apply only to a live server's mix (url, spawn or pid targets).",
            remedy="Remove it: an in-process run measures each route on its own.",
        )
    weight = reader.number(node)
    if weight <= 0:
        raise reader.error(
            node, f"the weight must be positive, got {weight:g}.", remedy="Use e.g. 3."
        )
    return weight


def _headers(reader: Reader, node: Node | None) -> tuple[tuple[str, str], ...]:
    return reader.string_pairs(node, "header names to values") if node is not None else ()


def _merge_headers(
    base: tuple[tuple[str, str], ...], own: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """`own` headers replace `base` ones of the same name (names are case-insensitive)."""
    names = {name.lower() for name, _ in own}
    return (*(pair for pair in base if pair[0].lower() not in names), *own)


def _at_least(reader: Reader, node: Node | None, minimum: int) -> int | None:
    if node is None:
        return None
    value = reader.integer(node)
    if value < minimum:
        raise reader.error(node, f"must be at least {minimum}, got {value}.")
    return value


def _positive(reader: Reader, node: Node | None) -> float | None:
    if node is None:
        return None
    value = reader.number(node)
    if value <= 0:
        raise reader.error(node, f"must be positive (seconds), got {value:g}.")
    return value


def _first(own: T | None, default: T | None, fallback: T) -> T:
    if own is not None:
        return own
    return default if default is not None else fallback
