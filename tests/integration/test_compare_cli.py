"""`perfaudit compare` on real reports: the same code twice is not a regression, a planted
2× slowdown is, and a file that is not a report is exit 2 with one sentence.

The runs are profiled at the same time, in separate processes, on a route whose latency is
an `await asyncio.sleep`: a CPU-bound route (sample_apps.pricing) run twice on a shared,
busy machine measured anywhere from 0.54× to 1.94× itself — the machine's drift between
runs, which no statistic on one run's samples can see (DESIGN §2, "Noise"). A sleep keeps
its length under CPU contention (same code twice: within ±1.5% here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUICK = ("-n", "60", "--warmup", "5", "--no-probes", "--no-memory", "-q")


def profile_together(runs: Sequence[tuple[Sequence[str], dict[str, str], Path]]) -> None:
    """Start every `perfaudit profile` at once; wait for all; fail on any failure."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "perfaudit", "profile", *args, "--json", str(out)],
            cwd=REPO,
            env={**_env(), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env, out in runs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "FORCE_COLOR"}}
    return {**env, "NO_COLOR": "1"}


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfaudit", "compare", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three reports of slow_app: at 10 ms, at 10 ms again, at 20 ms."""
    folder = tmp_path_factory.mktemp("slow")
    paths = {name: folder / f"{name}.json" for name in ("fast", "again", "slow")}
    target = ("tests.integration.slow_app:app", "/work", *QUICK)
    delays = {"fast": "10", "again": "10", "slow": "20"}
    profile_together([(target, {"SLOW_APP_MS": delays[n]}, p) for n, p in paths.items()])
    return paths


@pytest.fixture(scope="module")
def slow_reports(runs: dict[str, Path]) -> tuple[Path, Path]:
    return runs["fast"], runs["slow"]


def test_the_same_code_twice_is_not_a_regression(runs: dict[str, Path], tmp_path: Path) -> None:
    route = json.loads(runs["fast"].read_text())["routes"][0]
    assert route["latency_samples_total"] == 60 and len(route["latency_samples_ms"]) == 60

    result = compare(str(runs["fast"]), str(runs["again"]), "--json", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No route regressed beyond +10%" in result.stdout
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["regressed"] == [] and doc["latency"][0]["judged"]


def test_a_real_report_compared_with_itself(tmp_path: Path) -> None:
    """The sample app end to end: raw samples written, functions and findings read back."""
    report = tmp_path / "A.json"
    args = ("sample_apps.pricing:app", "/quotes/featured", *QUICK, "--profile-requests", "10")
    profile_together([(args, {}, report)])
    result = compare(str(report), str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GET /quotes/featured" in result.stdout and "+0.0%" in result.stdout
    assert "New findings since the baseline: none." in result.stdout


def test_a_planted_2x_slowdown_fails_the_comparison(
    slow_reports: tuple[Path, Path], tmp_path: Path
) -> None:
    fast, slow = slow_reports
    out = tmp_path / "cmp.json"
    result = compare(str(fast), str(slow), "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "GET /work" in result.stdout and "▲ regressed" in result.stdout
    change: dict[str, Any] = json.loads(out.read_text())["latency"][0]
    # 10 → 20 ms of sleep plus the same framework overhead on both sides: just under 2×.
    assert change["route"] == "GET /work" and change["regressed"]
    assert 1.6 < change["ci_low"] <= change["ratio"] <= change["ci_high"] < 2.3


def test_the_reverse_is_an_improvement(slow_reports: tuple[Path, Path]) -> None:
    fast, slow = slow_reports
    result = compare(str(slow), str(fast), "--metric", "mean")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "▼ improved" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "is not a perfaudit JSON report: it is not valid JSON"),
        (b'{"format": "perfaudit-session", "version": 1}', "it has no schema_version"),
        (b'{"schema_version": 1, "routes": "many"}', "routes should be a list"),
    ],
)
def test_a_file_that_is_not_a_report_is_a_usage_error(
    slow_reports: tuple[Path, Path], tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = compare(str(slow_reports[0]), str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad} ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_missing_file_and_a_bad_option_are_usage_errors(
    slow_reports: tuple[Path, Path], tmp_path: Path
) -> None:
    missing = compare(str(tmp_path / "nope.json"), str(slow_reports[1]))
    assert missing.returncode == 2 and "Cannot read" in missing.stderr
    bad_metric = compare(*map(str, slow_reports), "--metric", "p42")
    assert bad_metric.returncode == 2 and "--metric 'p42'" in bad_metric.stderr
