"""The memory phase end to end, through the CLI in the app's interpreter: the 50 KB-per-
request leak ranks first with its line and the list that keeps it, the 20 MB list built to
return ten items is allocation-heavy, the clean app gets neither, `--no-memory` skips the
phase, and ci's memory budgets fail and pass the build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import FAST_WITH_MEMORY as RUN
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration
MEMORY_IDS = {"memory-growth", "allocation-heavy"}


def _memory(report: dict[str, Any], route: str) -> dict[str, Any]:
    return next(m for m in report["memory"] if m["route"] == route)


def test_a_leak_of_50_kb_per_request_ranks_first_with_its_line_and_list(perfaudit: Any) -> None:
    result = perfaudit("profile", "sample_apps.history:app", "/reports/{n}", "/health", *RUN)
    assert result.code == 0, result.stderr
    first = result.report["findings"][0]
    assert first["id"] == "memory-growth", [f["id"] for f in result.report["findings"]]
    assert first["route"] == "GET /reports/{report_id}"
    assert first["location"]["file"] == "sample_apps/history.py"
    assert first["location"]["function"] == "render"
    assert first["evidence"]["kept_in"] == "sample_apps.history.RENDERED"
    assert first["evidence"]["container"] == "module-level list"
    # ~50 KB of text per report (1,000 lines of 59 characters), kept for good.
    assert 40_000 < first["evidence"]["retained_bytes_per_request"] < 80_000
    assert "deque(maxlen=1000)" in first["suggestion"]
    health = _memory(result.report, "GET /health")
    assert health["retained_bytes_per_request"] < 512
    assert not [f for f in result.report["findings"] if f["route"] == "GET /health"]
    assert "memory-growth" in result.stdout and "RENDERED" in result.stdout


def test_a_20_mb_list_built_to_return_ten_items_is_allocation_heavy(perfaudit: Any) -> None:
    result = perfaudit("profile", "sample_apps.search:app", "/search", "/health", *RUN)
    assert result.code == 0, result.stderr
    found = [f for f in result.report["findings"] if f["id"] == "allocation-heavy"]
    assert [f["route"] for f in found] == ["GET /search"], result.report["findings"]
    [finding] = found
    assert finding["location"]["file"] == "sample_apps/search.py"
    assert finding["evidence"]["peak_bytes_per_request"] > 15 * 2**20
    assert finding["evidence"]["response_bytes"] < 2048
    assert "search.py:27" in finding["suggestion"]  # the list comprehension that holds them
    assert not [f for f in result.report["findings"] if f["id"] == "memory-growth"]


def test_the_clean_app_gets_no_memory_finding_and_no_memory_skips_the_phase(
    perfaudit: Any,
) -> None:
    result = perfaudit("profile", "sample_apps.clean:app", *RUN)
    assert result.code == 0, result.stderr
    assert not [f for f in result.report["findings"] if f["id"] in MEMORY_IDS]
    phases = result.report["memory"]
    routes = {f"{r['method']} {r['path']}" for r in result.report["routes"]}
    assert {m["route"] for m in phases} == routes
    assert all(m["requests"] >= 4 and m["peak_bytes_per_request"] > 0 for m in phases)
    assert all(r["rss_bytes"] > 0 for r in result.report["routes"])

    skipped = perfaudit("profile", "sample_apps.clean:app", *RUN, "--no-memory")
    assert skipped.code == 0, skipped.stderr
    assert skipped.report["memory"] == []


def _ci(tmp_path: Path, budgets: dict[str, float]) -> tuple[int, dict[str, Any]]:
    config = {
        "target": {"app": "sample_apps.history:app", "app_dir": str(REPO)},
        "scenarios": [{"name": "reports", "routes": ["/reports/{n}"], "requests": 30, "warmup": 2}],
        "budgets": {"routes": {"GET /reports/{report_id}": budgets}},
        "reports": {"json": str(tmp_path / "ci.json")},
    }
    path = tmp_path / "perfaudit.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "perfaudit", "ci", "--config", str(path), "-q"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr
    return proc.returncode, json.loads((tmp_path / "ci.json").read_text())


def test_memory_budgets_fail_and_pass_the_build(tmp_path: Path) -> None:
    # The leak keeps ~55 MiB per 1,000 requests; a request peaks well under 1 MiB.
    code, document = _ci(tmp_path, {"max_growth_kb_per_1k_requests": 1000})
    assert code == 1
    [check] = document["verdict"]["checks"]
    assert check["name"] == "GET /reports/{report_id} memory growth ≤ 1000 KiB per 1,000 requests"
    assert not check["passed"] and "RENDERED" in check["detail"]

    code, _ = _ci(
        tmp_path,
        {
            "max_growth_kb_per_1k_requests": 200_000,
            "max_alloc_kb_per_request": 4096,
            "max_rss_mb": 4096,
        },
    )
    assert code == 0
