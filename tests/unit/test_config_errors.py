"""Every config error is a UsageError naming the file, the line and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfaudit.config import load_config
from perfaudit.errors import UsageError
from tests.unit.test_config import MINIMAL, error, write


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL + "defaults:\n  concurency: 8\n",
            'perf.yaml:7: defaults.concurency: "concurency" is not a key here; '
            'did you mean "concurrency"?',
            id="nearest-key",
        ),
        pytest.param(
            MINIMAL + "scenarioz: []\n",
            'perf.yaml:6: scenarioz: "scenarioz" is not a key here; did you mean "scenarios"?',
            id="top-level-typo",
        ),
        pytest.param(
            MINIMAL + "flavour: x\n",
            'perf.yaml:6: flavour: "flavour" is not a key here.',
            id="unknown-without-suggestion",
        ),
        pytest.param(
            MINIMAL.replace("routes: [GET /items]", "routes: [GET /items]\n    requests: many"),
            'perf.yaml:6: scenarios[0].requests: expected a whole number, got "many" (a string).',
            id="wrong-type",
        ),
        pytest.param(
            MINIMAL.replace("routes: [GET /items]", "routes: [GET /items]\n    timeout: -1"),
            "perf.yaml:6: scenarios[0].timeout: must be positive (seconds), got -1.",
            id="negative-timeout",
        ),
        pytest.param(
            MINIMAL.replace("routes: [GET /items]", "routes: GET /items"),
            'perf.yaml:5: scenarios[0].routes: expected a list of routes, got "GET /items" '
            "(a string).",
            id="routes-not-a-list",
        ),
        pytest.param(
            """\
target: {app: main:app}
scenarios:
  - name: a
    routes: [/x]
  - name: b
    routes:
      - /y
      - path: /orders
        method: FETCH
""",
            'perf.yaml:9: scenarios[1].routes[1].method: "FETCH" is not an HTTP method.',
            id="bad-method",
        ),
        pytest.param(
            MINIMAL.replace("GET /items", "FETCH /items"),
            'perf.yaml:5: scenarios[0].routes[0]: "FETCH" is not an HTTP method.',
            id="bad-method-short-form",
        ),
        pytest.param(
            MINIMAL.replace("GET /items", "GET items"),
            'perf.yaml:5: scenarios[0].routes[0]: "items" is not a route path.',
            id="path-without-slash",
        ),
        pytest.param(
            "target:\n  app: main:app\n  url: http://x:1\n" + MINIMAL.split("\n", 2)[2],
            'perf.yaml:3: target.url: two targets ("app" and "url").',
            id="two-targets",
        ),
        pytest.param(
            "target:\n  pid: 12\n  spawn: uvicorn main:app\n" + MINIMAL.split("\n", 2)[2],
            'perf.yaml:3: target.spawn: two targets ("pid" and "spawn").',
            id="pid-and-spawn",
        ),
        pytest.param(
            "target:\n  spawn: uvicorn main:app\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:2: target.spawn: no url: where does the server answer?",
            id="spawn-without-url",
        ),
        pytest.param(
            "target:\n  url: 127.0.0.1:8000\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:2: target.url: '127.0.0.1:8000' is not an http:// or https:// URL.",
            id="bad-url",
        ),
        pytest.param(
            "target:\n  url: http://x:1\n  lifespan: false\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:3: target.lifespan: lifespan applies only to an in-process `app:` target.",
            id="app-option-on-url",
        ),
        pytest.param(
            "target:\n  url: http://x:1\n  factory: true\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:3: target.factory: factory applies only to an in-process `app:` target "
            "(or beside `routes_from:`).",
            id="factory-on-url-without-routes-from",
        ),
        pytest.param(
            "target:\n  app: main:app\n  routes_from: main:app\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:3: target.routes_from: routes_from applies to a server target "
            "(url, spawn or pid).",
            id="routes-from-on-app",
        ),
        pytest.param(
            "target:\n  url: http://x:1\n  routes_from: main\n" + MINIMAL.split("\n", 2)[2],
            'perf.yaml:3: target.routes_from: "main" is not an app.',
            id="routes-from-not-an-app",
        ),
        pytest.param(
            "target: {}\n" + MINIMAL.split("\n", 2)[2],
            "perf.yaml:1: target: no target: expected one of app, url, pid or spawn.",
            id="empty-target",
        ),
        pytest.param(
            "target: {app: main:app}\n",
            "perf.yaml:1: no scenario: nothing would be measured.",
            id="no-scenario",
        ),
        pytest.param(
            "target: {app: main:app}\nscenarios: []\n",
            "perf.yaml:2: scenarios: no scenario: nothing would be measured.",
            id="empty-scenarios",
        ),
        pytest.param(
            MINIMAL + "  - name: browse\n    routes: [/other]\n",
            'perf.yaml:6: scenarios[1]: "browse" already names the scenario at line 4.',
            id="duplicate-scenario",
        ),
        pytest.param(
            MINIMAL.replace("name: browse", "name: my scenario"),
            'perf.yaml:4: scenarios[0].name: "my scenario" is not a scenario name.',
            id="bad-scenario-name",
        ),
        pytest.param(
            MINIMAL + "defaults:\n  requests: 10\n  duration: 5\n",
            "perf.yaml:8: defaults.duration: requests and duration are both set.",
            id="requests-and-duration",
        ),
        pytest.param(
            MINIMAL.replace("[GET /items]", "[{path: /items, weight: 3}]"),
            "perf.yaml:5: scenarios[0].routes[0].weight: weights apply only to a live server's mix",
            id="weight-in-process",
        ),
        pytest.param(
            MINIMAL.replace("[GET /items]", "[{path: /items, body: {a: 1}}]"),
            "perf.yaml:5: scenarios[0].routes[0].body: a GET request sends no body.",
            id="body-on-get",
        ),
        pytest.param(
            MINIMAL.replace("[GET /items]", '[{path: /i, method: POST, body: "x", form: {a: 1}}]'),
            "perf.yaml:5: scenarios[0].routes[0].body: expected a JSON body (a mapping or a list), "
            'got "x" (a string).',
            id="body-not-json",
        ),
        pytest.param(
            MINIMAL.replace("[GET /items]", "[{path: /i, method: PUT, body: [1], form: {a: 1}}]"),
            "perf.yaml:5: scenarios[0].routes[0].form: body and form are both set.",
            id="body-and-form",
        ),
        pytest.param(
            MINIMAL + "budgets:\n  global:\n    p95: 250\n",
            'perf.yaml:8: budgets.global.p95: "p95" is not a key here; did you mean "p95_ms"?',
            id="budget-key-typo",
        ),
        pytest.param(
            MINIMAL + "budgets:\n  global: {max_error_rate: 5}\n",
            "perf.yaml:7: budgets.global.max_error_rate: must lie between 0 and 1, got 5.",
            id="error-rate-range",
        ),
        pytest.param(
            MINIMAL + "budgets:\n  global: {max_severity: severe}\n",
            'perf.yaml:7: budgets.global.max_severity: "severe" is not a severity.',
            id="bad-severity",
        ),
        pytest.param(
            MINIMAL + "budgets:\n  routes:\n    /items: {p95_ms: 0}\n",
            'perf.yaml:8: budgets.routes["/items"]: "/items" is not a route.',
            id="budget-route-without-method",
        ),
        pytest.param(
            MINIMAL + 'budgets:\n  routes:\n    "GET /items": {p95_ms: 0}\n',
            'perf.yaml:8: budgets.routes["GET /items"].p95_ms: must be positive (milliseconds), '
            "got 0.",
            id="budget-zero",
        ),
        pytest.param(
            MINIMAL + "ignore:\n  - id: default-event-lop\n    reason: x\n",
            'perf.yaml:7: ignore[0].id: "default-event-lop" is not a finding id; '
            'did you mean "default-event-loop"?',
            id="unknown-finding-id",
        ),
        pytest.param(
            MINIMAL + "ignore:\n  - id: cpu-hotspot\n",
            "perf.yaml:7: ignore[0]: this ignore rule has no reason.",
            id="ignore-without-reason",
        ),
        pytest.param(
            MINIMAL + 'ignore:\n  - {id: cpu-hotspot, reason: "  "}\n',
            "perf.yaml:7: ignore[0].reason: the reason is empty.",
            id="ignore-empty-reason",
        ),
        pytest.param(
            MINIMAL + "regression: {metric: p75_ms}\n",
            'perf.yaml:6: regression.metric: "p75_ms" is not a regression metric.',
            id="bad-metric",
        ),
        pytest.param(
            MINIMAL + "regression: {confidence: 95}\n",
            "perf.yaml:6: regression.confidence: must lie between 0 and 1, got 95.",
            id="confidence-range",
        ),
        pytest.param(
            MINIMAL + "verify: yes please\n",
            'perf.yaml:6: verify: expected true or false, got "yes please" (a string).',
            id="verify-not-bool",
        ),
        pytest.param(
            MINIMAL + "reports:\n  pdf: r.pdf\n",
            'perf.yaml:7: reports.pdf: "pdf" is not a key here.',
            id="unknown-report",
        ),
        pytest.param(
            MINIMAL + "target: {app: other:app}\n",
            'perf.yaml:6: target: "target" is set twice in this mapping.',
            id="duplicate-key",
        ),
        pytest.param(
            "target:\n  app: main:app\nscenarios:\n  - name: x\n   routes: [/]\n",
            "perf.yaml:5: not valid YAML: ",
            id="malformed-yaml",
        ),
        pytest.param("", "perf.yaml:1: the file is empty.", id="empty-file"),
        pytest.param("# only a comment\n", "perf.yaml:1: the file is empty.", id="only-comments"),
        pytest.param(
            "- a\n- b\n", "perf.yaml:1: expected a mapping of keys at the top.", id="top-list"
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text).startswith(expected)


def test_an_unknown_key_lists_the_known_ones_as_remedy(tmp_path: Path) -> None:
    message = error(tmp_path, MINIMAL + "defaults:\n  concurency: 8\n")
    assert "Known keys: requests, duration, concurrency, warmup, timeout, headers." in message


def test_a_bad_method_suggests_the_methods(tmp_path: Path) -> None:
    message = error(tmp_path, MINIMAL.replace("GET /items", "FETCH /items"))
    assert message.endswith("Use one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT.")


def test_a_live_server_scenario_needs_routes(tmp_path: Path) -> None:
    text = "target: {url: http://x:1}\nscenarios:\n  - name: a\n"
    assert error(tmp_path, text).startswith(
        "perf.yaml:3: scenarios[0]: this scenario names no route, and a live server's routes"
    )


def test_an_in_process_scenario_may_leave_routes_to_discovery(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "target: {app: m:app}\nscenarios:\n  - name: all\n"))
    assert config.scenarios[0].routes == ()


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such config file") as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value).startswith(f"{tmp_path}/nope.yaml: no such config file.")


def test_a_file_of_another_kind(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not a config file \(expected .yaml, .yml or .toml\)"):
        load_config(write(tmp_path, "{}", name="perf.json"))
