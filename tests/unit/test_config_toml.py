"""The CI config from a [tool.perfaudit] table (lines found by a text search), finding the
config file, and the examples in configs/."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perfaudit.config import AppTarget, UrlTarget, find_config, load_config
from perfaudit.errors import UsageError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

PYPROJECT = """\
[project]
name = "svc"

[tool.ruff]
line-length = 100

[tool.perfaudit]
baseline = "perf/base.json"

[tool.perfaudit.target]
app = "main:app"

[tool.perfaudit.defaults]
requests = 50

[[tool.perfaudit.scenarios]]
name = "a"
routes = ["GET /x"]

[[tool.perfaudit.scenarios]]
name = "b"
concurrency = 4
routes = [
    "/y",
    { path = "/orders", method = "POST", body = { sku = "A1" } },
]

[tool.perfaudit.budgets.routes]
"GET /x" = { p95_ms = 25 }
"""


def toml_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_config(path)
    return str(info.value).replace(f"{tmp_path}/", "")


def test_a_pyproject_table_loads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT, encoding="utf-8")
    config = load_config(path)
    assert config.target == AppTarget(app="main:app", app_dir=tmp_path.resolve())
    a, b = config.scenarios
    assert (a.name, a.requests, str(a.routes[0])) == ("a", 50, "GET /x")
    assert (b.concurrency, [str(r) for r in b.routes]) == (4, ["GET /y", "POST /orders"])
    assert b.routes[1].json_body == '{"sku":"A1"}'
    assert b.routes[1].origin.line == 25
    assert b.routes[1].origin.key_path == "tool.perfaudit.scenarios[1].routes[1]"
    assert config.budgets.routes[0].origin.line == 29
    assert config.baseline == tmp_path.resolve() / "perf/base.json"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "requests = 50",
            "requests = 50\nconcurency = 2",
            'pyproject.toml:15: tool.perfaudit.defaults.concurency: "concurency" is not a key '
            'here; did you mean "concurrency"?',
            id="table-key",
        ),
        pytest.param(
            'name = "b"\n',
            'name = "b"\nwarmup = "ten"\n',
            "pyproject.toml:22: tool.perfaudit.scenarios[1].warmup: expected a whole number, "
            'got "ten" (a string).',
            id="array-of-tables-key",
        ),
        pytest.param(
            'method = "POST"',
            'method = "FETCH"',
            'pyproject.toml:25: tool.perfaudit.scenarios[1].routes[1].method: "FETCH" is not an '
            "HTTP method.",
            id="inline-table-in-multiline-array",
        ),
        pytest.param(
            '"GET /x" = { p95_ms = 25 }',
            '"GET /x" = { p95_ms = 25, p99 = 40 }',
            'pyproject.toml:29: tool.perfaudit.budgets.routes["GET /x"].p99: "p99" is not a key '
            'here; did you mean "p99_ms"?',
            id="quoted-key-inline-table",
        ),
        pytest.param(
            'app = "main:app"',
            'app = "main:app"\nurl = "http://x:1"',
            'pyproject.toml:12: tool.perfaudit.target.url: two targets ("app" and "url").',
            id="two-targets",
        ),
        pytest.param(
            'baseline = "perf/base.json"',
            'baseline = "perf/base.json"\nverify = 1',
            "pyproject.toml:9: tool.perfaudit.verify: expected true or false, got 1 (a number).",
            id="top-level-key",
        ),
        pytest.param(
            "[tool.perfaudit.defaults]\nrequests = 50",
            "[tool.perfaudit.defaults]\nrequests = 50\nduration = 3",
            "pyproject.toml:15: tool.perfaudit.defaults.duration: requests and duration are both "
            "set.",
            id="requests-and-duration",
        ),
        pytest.param(
            'name = "b"',
            'name = "a"',
            'pyproject.toml:20: tool.perfaudit.scenarios[1]: "a" already names the scenario at '
            "line 16.",
            id="duplicate-scenario",
        ),
        pytest.param(
            "requests = 50",
            "requests = 50 50",
            "pyproject.toml:14: not valid TOML: ",
            id="malformed",
        ),
    ],
)
def test_toml_errors_name_the_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in PYPROJECT
    assert toml_error(tmp_path, PYPROJECT.replace(old, new, 1)).startswith(expected)


def test_dotted_keys_get_their_line(tmp_path: Path) -> None:
    text = PYPROJECT.replace('baseline = "perf/base.json"', 'regression.metric = "p99_ms"')
    assert toml_error(tmp_path, text).startswith(
        'pyproject.toml:8: tool.perfaudit.regression.metric: "p99_ms" is not a regression metric.'
    )


def test_a_value_inside_an_inline_table_gets_its_line(tmp_path: Path) -> None:
    text = PYPROJECT.replace('body = { sku = "A1" }', 'body = "plain"')
    assert toml_error(tmp_path, text).startswith(
        "pyproject.toml:25: tool.perfaudit.scenarios[1].routes[1].body: expected a JSON body"
    )


def test_an_error_about_the_whole_table_names_its_header(tmp_path: Path) -> None:
    text = PYPROJECT.replace('[tool.perfaudit.target]\napp = "main:app"\n', "")
    assert toml_error(tmp_path, text).startswith(
        "pyproject.toml:7: tool.perfaudit: no target: say what to measure."
    )


def test_without_its_own_header_the_table_starts_at_its_first_subtable(tmp_path: Path) -> None:
    text = PYPROJECT.replace('[tool.perfaudit]\nbaseline = "perf/base.json"\n', "")
    text = text.replace('[tool.perfaudit.target]\napp = "main:app"\n', "")
    assert text.splitlines()[8] == "[tool.perfaudit.defaults]"
    assert toml_error(tmp_path, text).startswith("pyproject.toml:9: tool.perfaudit: no target")


def test_a_toml_file_without_the_table(tmp_path: Path) -> None:
    message = toml_error(tmp_path, '[project]\nname = "svc"\n')
    assert message.startswith("pyproject.toml: has no [tool.perfaudit] table.")


def test_find_config_prefers_yaml_then_pyproject(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "svc"\n', encoding="utf-8")
    assert find_config(tmp_path) is None  # a pyproject without [tool.perfaudit] is not one
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    (tmp_path / ".perfaudit.yaml").write_text("", encoding="utf-8")
    assert find_config(tmp_path) == tmp_path / ".perfaudit.yaml"
    (tmp_path / "perfaudit.yml").write_text("", encoding="utf-8")
    assert find_config(tmp_path) == tmp_path / "perfaudit.yml"
    (tmp_path / "perfaudit.yaml").write_text("", encoding="utf-8")
    assert find_config(tmp_path) == tmp_path / "perfaudit.yaml"


@pytest.mark.parametrize("name", ["pricing.yaml", "live-server.yaml", "pyproject-example.toml"])
def test_the_examples_load(name: str) -> None:
    config = load_config(CONFIGS / name)
    assert config.scenarios


def test_the_pricing_example_runs_the_sample_app_in_process() -> None:
    config = load_config(CONFIGS / "pricing.yaml")
    assert isinstance(config.target, AppTarget)
    assert (config.target.app_dir / "sample_apps" / "pricing.py").is_file()
    assert [s.name for s in config.scenarios] == ["browse", "quotes"]
    assert config.ignore and config.budgets.routes


def test_the_live_server_example_targets_a_url() -> None:
    config = load_config(CONFIGS / "live-server.yaml")
    assert isinstance(config.target, UrlTarget)
    routes_from = config.target.routes_from
    assert routes_from is not None  # it names routes by template: the app must be importable
    assert (routes_from.app_dir / "sample_apps" / "orders.py").is_file()
    weights = [route.weight for route in config.scenarios[0].routes]
    assert weights == [5, 2, 2, 1]
