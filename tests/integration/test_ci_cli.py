"""`perfaudit ci` and `perfaudit baseline update` end to end: the sample config passes and
writes every report, a budget fails the build, a baseline catches a planted 2× slowdown
and does not flag the same code, a bad config is one sentence with its line, and the
GitHub workflow in the README calls only options that exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from tests.integration.live_server import free_port, live_server

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "perfaudit.yml"


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> Any:
    # GitHub's own step summary stays out unless a test sets one.
    outer = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    environ = {**outer, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "perfaudit", *args],
        check=False,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def slow_app_config(tmp_path: Path, **budgets: float) -> Path:
    """A config driving tests/integration/slow_app.py's /work (its delay set per run)."""
    config = {
        "target": {"app": "tests.integration.slow_app:app", "app_dir": str(REPO)},
        "scenarios": [
            {"name": "work", "routes": ["/work"], "requests": 60, "concurrency": 2, "warmup": 3}
        ],
        "budgets": {"routes": {"GET /work": budgets}} if budgets else {},
        "baseline": str(tmp_path / "baseline.json"),
        "reports": {
            "json": str(tmp_path / "report.json"),
            "junit": str(tmp_path / "junit.xml"),
            "markdown": str(tmp_path / "summary.md"),
        },
    }
    path = tmp_path / "perfaudit.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_the_sample_config_passes_and_writes_every_report(tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    out = {name: tmp_path / name for name in ("r.json", "s.md", "j.xml")}
    result = cli(
        "ci",
        "--config",
        "configs/pricing.yaml",
        "-q",
        "--json",
        str(out["r.json"]),
        "--markdown",
        str(out["s.md"]),
        "--junit",
        str(out["j.xml"]),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    document = json.loads(out["r.json"].read_text())
    assert document["mode"] == "ci" and document["verdict"]["passed"] is True
    assert [s["name"] for s in document["scenarios"]] == ["browse", "quotes"]
    assert {r["scenario"] for r in document["routes"]} == {"browse", "quotes"}
    suites = list(JUnitXml.fromfile(str(out["j.xml"])))
    assert [suite.name for suite in suites] == ["browse", "quotes"]
    assert sum(suite.tests for suite in suites) == len(document["verdict"]["checks"])
    assert sum(suite.failures for suite in suites) == 0
    assert "perfaudit: all" in out["s.md"].read_text()
    assert summary.read_text().startswith("earlier step\n")  # appended, not replaced
    assert "perfaudit" in summary.read_text()


def test_a_budget_that_fails_fails_the_build(tmp_path: Path) -> None:
    config = slow_app_config(tmp_path, p95_ms=1.0)
    result = cli("ci", "--config", str(config), "-q", env={"SLOW_APP_MS": "5"})
    assert result.returncode == 1, result.stderr
    assert "GET /work p95 ≤ 1 ms" in result.stdout
    (suite,) = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    assert suite.failures == 1


def test_a_baseline_catches_a_2x_slowdown_and_not_the_same_code(tmp_path: Path) -> None:
    config = slow_app_config(tmp_path)
    update = cli("baseline", "update", "--config", str(config), "-q", env={"SLOW_APP_MS": "10"})
    assert update.returncode == 0, update.stderr
    same = cli("ci", "--config", str(config), "-q", env={"SLOW_APP_MS": "10"})
    assert same.returncode == 0, same.stdout[-3000:]
    slower = cli("ci", "--config", str(config), "-q", env={"SLOW_APP_MS": "20"})
    assert slower.returncode == 1, slower.stdout[-3000:]
    checks = json.loads((tmp_path / "report.json").read_text())["verdict"]["checks"]
    (regression,) = [c for c in checks if c["kind"] == "regression"]
    assert not regression["passed"] and regression["route"] == "GET /work"
    ratio = re.search(r"\+(\d+)%", regression["measured"])
    assert ratio is not None and 70 <= int(ratio.group(1)) <= 130, regression["measured"]


def test_a_config_error_names_the_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "perfaudit.yaml"
    config.write_text(
        "target:\n  app: sample_apps.clean:app\nscenarios:\n  - name: x\n    concurency: 2\n",
        encoding="utf-8",
    )
    result = cli("ci", "--config", str(config), "-q")
    assert result.returncode == 2
    assert "perfaudit.yaml:5" in result.stderr and 'did you mean "concurrency"' in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_baseline_named_by_the_user_is_an_error(tmp_path: Path) -> None:
    config = slow_app_config(tmp_path)
    result = cli(
        "ci",
        "--config",
        str(config),
        "--baseline",
        str(tmp_path / "none.json"),
        "-q",
        env={"SLOW_APP_MS": "1"},
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_the_github_workflow_calls_only_options_that_exist() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    scripts = "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    calls = re.findall(r"perfaudit ((?:baseline update|ci)\b[^\n]*(?:\\\n[^\n]*)*)", scripts)
    assert {call.split()[0] for call in calls} == {"baseline", "ci"}
    for call in calls:
        words = call.replace("\\\n", " ").split()
        command = words[:2] if words[0] == "baseline" else words[:1]
        options = {word for word in words if word.startswith("--")}
        help_text = cli(*command, "--help").stdout
        missing = {option for option in options if option not in help_text}
        assert not missing, f"perfaudit {' '.join(command)} has no {missing}"


def test_a_spawned_server_is_driven_over_http(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "perfaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "target": {
                    "spawn": f"{sys.executable} -m uvicorn sample_apps.orders:app --port {port}",
                    "url": f"http://127.0.0.1:{port}",
                },
                "scenarios": [
                    {
                        "name": "orders",
                        "duration": 2,
                        "concurrency": 4,
                        "routes": [
                            {"path": "/orders/1", "weight": 3},
                            {"path": "/orders", "method": "POST", "body": {"sku": "A1", "qty": 2}},
                        ],
                    }
                ],
                "budgets": {"routes": {"GET /orders/1": {"max_error_rate": 0}}},
            }
        ),
        encoding="utf-8",
    )
    report = tmp_path / "r.json"
    result = cli("ci", "--config", str(config), "-q", "--json", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    (scenario,) = json.loads(report.read_text())["scenarios"]
    routes = {f"{r['method']} {r['path']}": r for r in scenario["report"]["routes"]}
    assert routes["GET /orders/1"]["requests"] > 3 * routes["POST /orders"]["requests"] / 2
    assert routes["POST /orders"]["status_counts"] == {"201": routes["POST /orders"]["requests"]}


STOREFRONT = "sample_apps.storefront.main:app"


def test_routes_from_names_a_live_servers_paths_by_template(tmp_path: Path) -> None:
    """Over HTTP perfaudit sees paths; `routes_from:` imports the app for its route table,
    so two products' paths are one route and a budget can name the template."""
    port = free_port()
    config = tmp_path / "perfaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "target": {
                    "spawn": f"{sys.executable} -m uvicorn {STOREFRONT} --port {port}",
                    "url": f"http://127.0.0.1:{port}",
                    "routes_from": STOREFRONT,
                },
                "scenarios": [{"name": "products", "requests": 200, "concurrency": 4,
                               "routes": ["/products/SKU-001", "/products/SKU-002"]}],
                "budgets": {"routes": {"GET /products/{sku}": {"max_error_rate": 0}}},
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    report = tmp_path / "r.json"
    result = cli("ci", "--config", str(config), "-q", "--json", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    (scenario,) = json.loads(report.read_text())["scenarios"]
    routes = {f"{r['method']} {r['path']}": r["requests"] for r in scenario["report"]["routes"]}
    assert routes == {"GET /products/{sku}": 200}


def test_a_pid_target_is_sampled_while_loaded(tmp_path: Path) -> None:
    with live_server("sample_apps.logs:app") as server:
        config = tmp_path / "perfaudit.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "target": {"pid": server.process.pid, "url": server.url},
                    "scenarios": [
                        {
                            "name": "logs",
                            "duration": 2,
                            "concurrency": 8,
                            "routes": ["/errors/count"],
                        }
                    ],
                    "budgets": {"global": {"max_severity": "medium"}},
                }
            ),
            encoding="utf-8",
        )
        report = tmp_path / "r.json"
        result = cli("ci", "--config", str(config), "-q", "--json", str(report))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    document = json.loads(report.read_text())
    assert document["scenarios"][0]["report"]["mode"] == "attach"
    (gate,) = [c for c in document["verdict"]["checks"] if c["kind"] == "findings"]
    assert not gate["passed"] and "event-loop-blocked" in gate["measured"]
