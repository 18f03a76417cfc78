"""The CI config from YAML: the typed model, defaults merging, and errors that name the file,
the line and the key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perfaudit.analysis.findings import Severity
from perfaudit.config import (
    AppTarget,
    Budget,
    CiConfig,
    PidTarget,
    RoutesFrom,
    SpawnTarget,
    UrlTarget,
    check_budget_routes,
    load_config,
    unmatched_budget_routes,
)
from perfaudit.errors import EXIT_USAGE, UsageError

MINIMAL = """\
target:
  app: main:app
scenarios:
  - name: browse
    routes: [GET /items]
"""


def write(tmp_path: Path, text: str, name: str = "perf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> CiConfig:
    return load_config(write(tmp_path, text))


def error(tmp_path: Path, text: str) -> str:
    """The message of the UsageError loading `text` raises, with the tmp dir cut off."""
    with pytest.raises(UsageError) as info:
        load(tmp_path, text)
    assert info.value.exit_code == EXIT_USAGE
    return str(info.value).replace(f"{tmp_path}/", "")


# --- the model ---------------------------------------------------------------------------


def test_a_minimal_config_gets_the_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    assert config.target == AppTarget(app="main:app", app_dir=tmp_path.resolve())
    (scenario,) = config.scenarios
    assert (scenario.requests, scenario.duration_s, scenario.concurrency) == (100, None, 1)
    assert (scenario.warmup, scenario.timeout_s) == (10, 30.0)
    assert config.budgets.overall == Budget()
    assert (config.regression.min_effect, config.regression.confidence) == (0.10, 0.95)
    assert config.regression.metric == "p50_ms"
    assert config.baseline is None
    assert config.reports.json is None
    assert config.verify is False


def test_defaults_apply_where_a_scenario_is_silent(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        target: {app: main:app}
        defaults: {requests: 200, concurrency: 8, warmup: 5, timeout: 12, headers: {X-A: "1"}}
        scenarios:
          - name: a
            routes: [/x]
          - name: b
            routes: [/y]
            duration: 4.5
            concurrency: 2
            headers: {x-a: "2", X-B: b}
        """,
    )
    a, b = config.scenarios
    assert (a.requests, a.duration_s, a.concurrency, a.warmup, a.timeout_s) == (200, None, 8, 5, 12)
    # A scenario's duration replaces the default's request count: the bound is one choice.
    assert (b.requests, b.duration_s, b.concurrency, b.warmup) == (None, 4.5, 2, 5)
    assert a.routes[0].headers == (("X-A", "1"),)
    assert b.routes[0].headers == (("x-a", "2"), ("X-B", "b"))


def test_short_and_long_route_forms(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        target: {app: main:app}
        scenarios:
          - name: s
            routes:
              - /products?page=2
              - delete /orders/1
              - path: /orders
                method: post
                body: {sku: A1, qty: 2}
                headers: {X-Tenant: acme}
              - path: /token
                method: POST
                form: {username: ada, remember: true, n: 3}
        """,
    )
    short, delete, post, form = config.scenarios[0].routes
    assert (short.method, short.path, short.query, str(short)) == (
        "GET",
        "/products",
        "page=2",
        "GET /products?page=2",
    )
    assert (delete.method, delete.path) == ("DELETE", "/orders/1")
    assert post.json_body == '{"sku":"A1","qty":2}'
    spec = post.request_spec()
    assert spec.body == b'{"sku":"A1","qty":2}'
    assert spec.headers == (("X-Tenant", "acme"), ("content-type", "application/json"))
    assert form.form == (("username", "ada"), ("remember", "true"), ("n", "3"))
    assert form.request_spec().body == b"username=ada&remember=true&n=3"
    assert post.origin.line == 7
    assert post.origin.key_path == "scenarios[0].routes[2]"


def test_a_server_target_may_name_its_app_for_route_templates(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        target:
          spawn: uvicorn shop.api:create_app --factory
          url: http://127.0.0.1:8000
          routes_from: shop.api:create_app
          factory: true
          app_dir: src
        scenarios:
          - name: items
            routes: [/items/1]
        """,
    )
    assert config.target == SpawnTarget(
        command="uvicorn shop.api:create_app --factory",
        url="http://127.0.0.1:8000",
        routes_from=RoutesFrom(
            app="shop.api:create_app", factory=True, app_dir=(tmp_path / "src").resolve()
        ),
    )


def test_a_url_target_makes_a_weighted_load_plan(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        target: {url: "http://127.0.0.1:8000/"}
        defaults: {duration: 5, concurrency: 16}
        scenarios:
          - name: mix
            routes:
              - {path: /a, weight: 3}
              - POST /b
        """,
    )
    assert config.target == UrlTarget(url="http://127.0.0.1:8000/")
    plan = config.scenarios[0].load_plan("http://127.0.0.1:8000/")
    assert [(t.url, t.method, t.weight) for t in plan.targets] == [
        ("http://127.0.0.1:8000/a", "GET", 3.0),
        ("http://127.0.0.1:8000/b", "POST", 1.0),
    ]
    assert (plan.connections, plan.duration_s, plan.requests) == (16, 5.0, None)


def test_spawn_and_pid_targets_take_a_url(tmp_path: Path) -> None:
    spawn = load(
        tmp_path, MINIMAL.replace("app: main:app", 'spawn: "uvicorn main:app"\n  url: http://h:1')
    )
    assert spawn.target == SpawnTarget(command="uvicorn main:app", url="http://h:1")
    pid = load(tmp_path, MINIMAL.replace("app: main:app", "pid: 4242\n  url: http://h:1"))
    assert pid.target == PidTarget(pid=4242, url="http://h:1")


def test_budgets_ignores_paths_and_the_rest(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        MINIMAL
        + """\
budgets:
  global: {p95_ms: 250, min_rps: 20, max_error_rate: 0.01, max_severity: medium}
  routes:
    "get /quotes/{sku}": {p50_ms: 20, p95_ms: 60, p99_ms: 120, min_rps: 50, max_error_rate: 0}
ignore:
  - {id: default-event-loop, route: GET /health, reason: "uvicorn[standard] in prod"}
baseline: perf/baseline.json
regression: {min_effect: 0.2, metric: p95_ms}
reports: {json: out/r.json, html: out/r.html}
verify: true
""",
    )
    budgets = config.budgets
    assert budgets.overall.max_severity is Severity.MEDIUM
    (route,) = budgets.routes
    assert route.route == "GET /quotes/{sku}"
    merged = budgets.for_route("GET /quotes/{sku}")
    assert (merged.p95_ms, merged.p50_ms, merged.max_error_rate) == (60, 20, 0)
    assert merged.max_severity is Severity.MEDIUM  # from the global budget
    assert merged.latency_limits() == (("p50_ms", 20), ("p95_ms", 60), ("p99_ms", 120))
    assert budgets.for_route("GET /other") == budgets.overall
    assert config.ignore_reason("default-event-loop", "GET /health") == "uvicorn[standard] in prod"
    assert config.ignore_reason("default-event-loop", "GET /items") is None
    assert config.baseline == tmp_path.resolve() / "perf/baseline.json"
    assert config.reports.html == tmp_path.resolve() / "out/r.html"
    assert (config.regression.min_effect, config.regression.metric) == (0.2, "p95_ms")
    assert config.verify is True


def test_the_budget_route_check_runs_after_the_measurement(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        MINIMAL
        + 'budgets:\n  routes:\n    "GET /items": {p95_ms: 9}\n    "GET /gone": {p95_ms: 9}\n',
    )
    measured = ["GET /items", "GET /other"]
    assert [b.route for b in unmatched_budget_routes(config, measured)] == ["GET /gone"]
    with pytest.raises(UsageError) as info:
        check_budget_routes(config, measured)
    assert (
        str(info.value)
        .replace(f"{tmp_path}/", "")
        .startswith(
            'perf.yaml:9: budgets.routes["GET /gone"]: the budget for GET /gone names no route'
        )
    )
    assert "Measured: GET /items, GET /other." in info.value.remedy
    check_budget_routes(config, ["GET /items", "GET /gone"])


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        target: {app: main:app}
        scenarios:
          - &base {name: a, routes: [/x], concurrency: 3}
          - <<: *base
            name: b
        """,
    )
    assert [(s.name, s.concurrency) for s in config.scenarios] == [("a", 3), ("b", 3)]
