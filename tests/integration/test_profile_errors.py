"""Every way a profile run can go wrong gives one plain sentence, a remedy and the
documented exit code (2 usage, 3 target), never a traceback of ours; partial results are
still reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import FAST

pytestmark = pytest.mark.integration


def assert_clean_error(result, code: int, *phrases: str) -> None:
    assert result.code == code, (result.stdout, result.stderr)
    first_line = result.stderr.strip().splitlines()[0]
    assert first_line.startswith("error: ")
    for phrase in phrases:
        assert phrase in result.stderr
    assert "perfaudit/" not in result.stderr  # no frame of ours
    assert result.report is None  # nothing half-written


@pytest.mark.parametrize(
    ("target", "code", "phrases"),
    [
        ("main", 2, ["'main' is not a target", "module:attribute"]),
        ("no_such_module:app", 3, ["Could not import module 'no_such_module'", "--app-dir"]),
        ("sample_apps.pricing:nope", 3, ["has no attribute 'nope'", "app"]),
        ("tests.fixtures.hangs:not_an_app", 3, ["is a dict, not an ASGI app"]),
        ("tests.fixtures.hangs:build", 3, ["--factory"]),
    ],
)
def test_target_errors(perfaudit, target, code, phrases):
    assert_clean_error(perfaudit("profile", target, *FAST), code, *phrases)


def test_user_import_error_shows_their_frames_only(perfaudit):
    result = perfaudit("profile", "tests.fixtures.broken_import:app", *FAST)
    assert_clean_error(result, 3, "NameError", "load_settings", "broken_import.py")
    assert "importlib" not in result.stderr


def test_lifespan_startup_failure(perfaudit):
    result = perfaudit("profile", "tests.fixtures.bad_lifespan:app", *FAST)
    assert_clean_error(
        result, 3, "lifespan startup failed", "database unreachable", "--no-lifespan"
    )


def test_factory_that_raises(perfaudit):
    result = perfaudit("profile", "tests.fixtures.hangs:not_an_app", "--factory", *FAST)
    assert_clean_error(result, 3, "cannot call it")


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["/x", "-d", "{sku: 1}"], ["not valid JSON", "line 1"]),
        (["/x", "-d", '{"a": 1}'], ["no route sends one", "POST /orders"]),
        (["items"], ["Start it with a slash"]),
        (["http://localhost/x"], ["in-process"]),
        (["FETCH /x"], ["not an HTTP method"]),
        (["/x", "-H", "NoColon"], ["not a header"]),
        (["/x", "-c", "0"], ["--concurrency"]),
        (["/x", "-d", "@/no/such/body.json", "-X", "POST"], ["Cannot read the body file"]),
    ],
)
def test_usage_errors(perfaudit, args, phrases):
    assert_clean_error(perfaudit("profile", "sample_apps.clean:app", *args, *FAST), 2, *phrases)


def test_no_drivable_route(perfaudit, tmp_path: Path):
    (tmp_path / "onlyparams.py").write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n\n"
        "@app.get('/items/{item_id}')\nasync def item(item_id: int):\n    return {}\n"
    )
    result = perfaudit("profile", "onlyparams:app", "--app-dir", str(tmp_path), *FAST)
    assert_clean_error(result, 2, "No route to drive", "/items/42")
    assert "GET /items/{item_id}: needs parameter item_id" in result.stderr


def test_unwritable_report_path_as_a_file_parent(perfaudit, tmp_path: Path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = perfaudit(
        "profile", "sample_apps.clean:app", "/health", *FAST,
        "--pstats", str(a_file / "x.pstats"), json_report=False,
    )  # fmt: skip
    # Issue 17 #12: refused before the run (it used to run, then name a temporary file).
    assert result.code == 2
    assert f"Cannot write {a_file / 'x.pstats'}: {a_file} is a file" in result.stderr
    assert "GET /health" not in result.stdout


def test_route_that_404s_is_reported_not_fatal(perfaudit):
    result = perfaudit("profile", "sample_apps.clean:app", "/nope", "/health", *FAST)
    assert result.code == 0, result.stderr
    top = result.report["findings"][0]
    assert top["id"] == "route-errors"
    assert top["route"] == "GET /nope"
    assert "No route matches" in top["suggestion"]
    assert result.route("GET /health")["errors"] == 0


@pytest.mark.parametrize("route", ["/thread-hang", "/await-hang"])
def test_hanging_handler_is_reported_not_waited_on(perfaudit, route):
    result = perfaudit(
        "profile", "tests.fixtures.hangs:app", "/fast", route, "--timeout", "0.5", *FAST, timeout=60
    )
    assert result.code == 0, result.stderr
    hung = result.route(f"GET {route}")
    assert hung["timeouts"] >= 3
    assert hung["requests"] == 0
    top = result.report["findings"][0]
    assert (top["id"], top["route"]) == ("route-errors", f"GET {route}")
    assert "timed out" in top["title"]
    assert result.route("GET /fast")["requests"] == 30


def test_handler_blocking_the_event_loop_stops_the_run_with_a_report(perfaudit):
    result = perfaudit(
        "profile", "tests.fixtures.hangs:app", "/fast", "/loop-hang", "--timeout", "0.5", *FAST,
        timeout=60,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = result.report
    assert "GET /loop-hang blocked the event loop" in report["stopped_early"]
    assert "hangs.py" in report["stopped_early"]  # names the user's blocking line
    assert result.route("GET /fast")["requests"] == 30
    hung = result.route("GET /loop-hang")
    assert hung["completed"] is False
    assert hung["error_sample"]["location"]["function"] == "loop_hang"


def test_ctrl_c_keeps_what_was_measured(interrupt_after):
    result = interrupt_after(  # the whole run would take minutes: 6 s is mid-measurement
        6.0, "profile", "sample_apps.pricing:app", "/health", "/quotes/featured", "-q",
        "-n", "100000", "--warmup", "0",
    )  # fmt: skip
    assert result.code == 130
    assert result.report is not None
    assert result.report["stopped_early"].startswith("interrupted")
    assert result.route("GET /health")["requests"] > 0
    assert "Traceback" not in result.stderr
    assert "Stopped early" in result.stdout


def test_warm_up_of_a_slow_route_stops_early(perfaudit, monkeypatch):
    """Ten warm-up requests to a slow route would spend the run (and a rate limit) before
    anything is measured: warm-up stops after about two seconds."""
    monkeypatch.setenv("SLOW_APP_MS", "900")
    result = perfaudit(
        "profile", "tests.integration.slow_app:app", "/work", "-q", "-n", "2", "--warmup", "10",
        "--no-probes", timeout=120,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    [note] = [n for n in result.report["notes"] if "warm-up stopped" in n]
    assert "of 10 requests" in note
    assert result.route("GET /work")["requests"] == 2


def test_a_syntax_error_in_the_app_points_at_its_line(perfaudit, tmp_path: Path):
    """Issue 17 #12: it pointed at <frozen importlib._bootstrap>:241."""
    (tmp_path / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\ndef x(:\n")
    result = perfaudit("profile", "main:app", "--app-dir", str(tmp_path), *FAST)
    assert result.code == 3
    assert f"at {tmp_path / 'main.py'}:4." in result.stderr
    assert "importlib" not in result.stderr


def test_a_credential_the_app_echoes_never_reaches_a_report(perfaudit, tmp_path: Path):
    """Issue 17 #11: the app put the token perfaudit sent into its 401 detail, and the
    reports (JSON, Markdown for a PR comment) copied it verbatim."""
    (tmp_path / "echo.py").write_text(
        "from typing import Annotated\n\nfrom fastapi import FastAPI, Header, HTTPException\n\n"
        "app = FastAPI()\n\n\n@app.get('/me')\nasync def me(authorization: Annotated[str, "
        "Header()]):\n    raise HTTPException(401, detail=f'bad token {authorization}')\n"
    )
    result = perfaudit(
        "profile", "echo:app", "/me", "-H", "Authorization: Bearer s3cr3t-token-42",
        "--app-dir", str(tmp_path), *FAST,
    )  # fmt: skip
    assert result.code == 3  # every request failed
    assert result.report is not None
    assert "s3cr3t-token-42" not in json.dumps(result.report)
    assert "s3cr3t-token-42" not in result.stdout + result.stderr
    assert "bad token ***" in json.dumps(result.report)


def test_a_full_disk_loses_only_the_file_that_did_not_fit(tmp_path: Path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: the report that fits is
    written, the one that does not is one sentence, and no half-written file is left."""
    import resource
    import subprocess
    import sys

    from tests.integration.conftest import REPO

    def small_files_only() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "reports"
    # Without the memory phase: its keys would take the JSON report past the limit too.
    proc = subprocess.run(
        [sys.executable, "-m", "perfaudit", "profile", "sample_apps.clean:app", "/health",
         *FAST, "--no-memory", "--json", str(out / "report.json"),
         "--save-session", str(out / "s.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=small_files_only,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"Cannot write {out / 's.json'}: File too large." in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    assert "Traceback" not in proc.stderr
