"""`perfaudit view` on every kind of file it reads, each showing the planted
`tariff_table`; findings for a saved report; one sentence and exit 2 for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One profile run of the pricing app, saved in every format."""
    import subprocess
    import sys

    from tests.integration.conftest import REPO, _env

    folder = tmp_path_factory.mktemp("saved")
    files = {
        "speedscope": folder / "s.json", "collapsed": folder / "c.txt",
        "pstats": folder / "p.pstats", "json": folder / "report.json",
        "save-session": folder / "session.json",
    }  # fmt: skip
    args = [arg for name, path in files.items() for arg in (f"--{name}", str(path))]
    subprocess.run(
        [sys.executable, "-m", "perfaudit", "profile", "sample_apps.pricing:app",
         "/quotes/featured", "-n", "20", "-q", *args],
        check=True, cwd=REPO, capture_output=True, timeout=120, env=_env(),
    )  # fmt: skip
    return files


def view(perfaudit: Any, *args: str) -> Any:
    return perfaudit("view", *args, json_report=False)


def hotspot_rows(stdout: str) -> list[str]:
    """The hotspot table's rows: the lines between its dashed rule and the blank line."""
    lines = stdout.split("Hotspots", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("---")) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize(
    ("kind", "described"),
    [
        ("pstats", ".pstats profile"),
        ("speedscope", "speedscope profile"),
        ("collapsed", "collapsed stacks"),
        ("save-session", "perfaudit session"),
    ],
)
def test_each_kind_shows_the_planted_hotspot_and_its_path(
    perfaudit: Any, saved: dict[str, Path], kind: str, described: str
) -> None:
    result = view(perfaudit, str(saved[kind]))

    assert result.code == 0, result.stderr
    assert described in result.stdout
    first_row = hotspot_rows(result.stdout)[0]
    assert "tariff_table" in first_row and "sample_apps/pricing.py" in first_row
    tree = result.stdout.split("Call tree of the heaviest path")[1]
    assert "featured_quotes" in tree and "tariff_table" in tree


def test_a_saved_report_shows_its_findings(perfaudit: Any, saved: dict[str, Path]) -> None:
    result = view(perfaudit, str(saved["json"]))

    assert result.code == 0, result.stderr
    assert "perfaudit JSON report" in result.stdout
    assert "tariff_table" in result.stdout.split("Hotspots")[1]
    findings = result.stdout.split("Findings")[1]
    assert "event-loop-blocked" in findings and "cacheable-call" in findings


def test_a_session_shows_its_findings(perfaudit: Any, saved: dict[str, Path]) -> None:
    result = view(perfaudit, str(saved["save-session"]))

    assert "Fix first: HIGH" in result.stdout
    assert "cacheable-call" in result.stdout


def test_sort_limit_and_route(perfaudit: Any, saved: dict[str, Path]) -> None:
    result = view(
        perfaudit, str(saved["pstats"]), "--sort", "calls", "--limit", "3",
        "--route", "p.pstats",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    rows = hotspot_rows(result.stdout)
    assert "builtins.round" in rows[0]  # called 4,000 times a request
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sort", "size"), "--sort 'size' is not one of self, cumulative, calls"),
        (("--route", "GET /nowhere"), "has no route 'GET /nowhere'"),
        (("--limit", "0"), "--limit must be at least 1"),
    ],
)
def test_bad_options_are_usage_errors(
    perfaudit: Any, saved: dict[str, Path], args: tuple[str, ...], message: str
) -> None:
    result = view(perfaudit, str(saved["speedscope"]), *args)

    assert result.code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pstats", b"", "it is empty"),
        ("garbage.pstats", bytes(range(256)) * 8, "not a .pstats, speedscope"),
        ("notes.xyz", b"remember the milk\n", "not a .pstats, speedscope"),
        ("broken.json", b'{"profiles": [', "not valid JSON"),
        ("other.json", b'{"hello": "world"}', "not a report, session or speedscope"),
        ("half.txt", b"a;b 3\nb;c\n", "line 2 is not"),
    ],
)
def test_unreadable_files_are_one_sentence_and_exit_2(
    perfaudit: Any, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    result = view(perfaudit, str(path))

    assert result.code == 2
    assert message in result.stderr
    assert result.stderr.startswith(f"error: {path} is not a file perfaudit can view")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_missing_file_is_a_usage_error(perfaudit: Any, tmp_path: Path) -> None:
    result = view(perfaudit, str(tmp_path / "nope.pstats"))

    assert result.code == 2
    assert "Cannot read" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["json", "save-session", "pstats", "speedscope", "collapsed"])
def test_each_kind_renders_as_html(
    perfaudit: Any, saved: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    page = tmp_path / "view.html"
    result = view(perfaudit, str(saved[kind]), "--html", str(page))
    assert result.code == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "tariff_table" in html  # in the flame graph's data, or the saved findings
    if kind in ("json", "save-session"):
        assert "cacheable-call" in html  # findings: re-judged (session) or as saved (report)


@pytest.mark.parametrize("command", [("view",), ("report",), ("compare", "/dev/zero")])
def test_a_device_is_refused_not_read_until_memory_runs_out(
    perfaudit: Any, command: tuple[str, ...]
) -> None:
    """Issue 17 #1: `perfaudit view /dev/zero` grew until the kernel's OOM killer fired."""
    result = perfaudit(*command, "/dev/zero", json_report=False, timeout=60)

    assert result.code == 2
    assert "/dev/zero is not a regular file" in result.stderr
