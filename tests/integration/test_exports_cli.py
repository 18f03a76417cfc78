"""`--speedscope`, `--collapsed` and `--pstats` from `perfaudit profile` and `perfaudit
attach`: each file is written, opens in its format's own reader where one exists in
Python (pstats), and holds the planted bottleneck."""

from __future__ import annotations

import io
import json
import os
import pstats
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.live_server import live_server

pytestmark = pytest.mark.integration
SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def exports(tmp_path: Path) -> tuple[Path, Path, Path]:
    return tmp_path / "s.json", tmp_path / "c.txt", tmp_path / "p.pstats"


def export_args(tmp_path: Path) -> tuple[str, ...]:
    speedscope, collapsed, pstats_path = exports(tmp_path)
    return (
        "--speedscope", str(speedscope), "--collapsed", str(collapsed),
        "--pstats", str(pstats_path),
    )  # fmt: skip


def check_speedscope(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    assert doc["$schema"] == SCHEMA
    frames = doc["shared"]["frames"]
    assert all(isinstance(f["name"], str) for f in frames)
    for profile in doc["profiles"]:
        assert profile["type"] == "sampled"
        assert profile["unit"] == "microseconds"
        assert len(profile["samples"]) == len(profile["weights"]) > 0
        assert all(0 <= i < len(frames) for s in profile["samples"] for i in s)
        assert profile["startValue"] <= profile["endValue"]
    return doc


def heaviest_line(path: Path) -> str:
    lines = [line.rpartition(" ") for line in path.read_text().splitlines()]
    return max(lines, key=lambda parts: int(parts[2]))[0]


def test_profile_writes_all_three(perfaudit: Any, tmp_path: Path) -> None:
    result = perfaudit(
        "profile", "sample_apps.pricing:app", "/quotes/featured", "-n", "20", "-q",
        *export_args(tmp_path),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    speedscope, collapsed, pstats_path = exports(tmp_path)

    doc = check_speedscope(speedscope)
    assert [p["name"] for p in doc["profiles"]] == ["GET /quotes/featured"]
    assert any(f["name"] == "tariff_table" for f in doc["shared"]["frames"])
    assert "tariff_table (" in heaviest_line(collapsed)
    assert heaviest_line(collapsed).startswith("GET /quotes/featured;")
    stats = pstats.Stats(str(pstats_path), stream=io.StringIO())
    assert any(name == "tariff_table" for _, _, name in stats.stats)  # type: ignore[attr-defined]
    for label in ("speedscope", "collapsed", ".pstats"):
        assert label in result.stdout


def test_an_unwritable_export_is_a_usage_error(perfaudit: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = perfaudit(
        "profile", "sample_apps.pricing:app", "/quotes/featured", "-n", "5", "-q",
        "--warmup", "1", "--no-probes", "--collapsed", str(blocker / "c.txt"),
        json_report=False,
    )  # fmt: skip

    assert result.code == 2
    assert "Cannot write" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    shutil.which("py-spy", path=os.path.dirname(sys.executable)) is None
    and shutil.which("py-spy") is None,
    reason="py-spy is not installed (pip install 'perfaudit[attach]')",
)
def test_attach_writes_all_three(perfaudit: Any, tmp_path: Path) -> None:
    with live_server("sample_apps.logs:app") as server:
        result = perfaudit(
            "attach", str(server.process.pid), "--url", server.url, "--load", "/errors/count",
            "--duration", "3", "-q", "--app", "sample_apps.logs:app", *export_args(tmp_path),
            timeout=90,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    speedscope, collapsed, pstats_path = exports(tmp_path)

    doc = check_speedscope(speedscope)
    assert all(p["name"].startswith("thread ") for p in doc["profiles"])
    assert any(f["name"] == "count_errors" for f in doc["shared"]["frames"])
    assert "count_errors (" in collapsed.read_text()
    out = io.StringIO()
    stats = pstats.Stats(str(pstats_path), stream=out)
    stats.sort_stats("cumulative").print_stats(5)  # samples count no calls: still prints
    assert any(name == "count_errors" for _, _, name in stats.stats)  # type: ignore[attr-defined]
