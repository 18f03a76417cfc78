"""The agent in the app's own interpreter: an app that crashes it, exits, or hangs in import
is one sentence, the partial report and exit code 3; the app's interpreter is named."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAST, REPO, left_running, running_with

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("route", "how"),
    [("/segfault", "was killed by SIGSEGV"), ("/exit", "exited with code 3")],
)
def test_an_app_that_kills_its_interpreter_still_gets_a_report(
    perfaudit: Any, route: str, how: str
) -> None:
    result = perfaudit("profile", "tests.fixtures.crashes:app", "/fine", route, *FAST)

    assert result.code == 3, result.stderr
    assert f"error: The app's Python process {how} during warm-up GET {route}" in result.stderr
    assert "Traceback" not in result.stderr
    # The route measured before the crash is reported, with why the run stopped.
    assert result.report is not None
    assert [r["path"] for r in result.report["routes"]] == ["/fine"]
    assert result.report["routes"][0]["requests"] == 30
    assert how in result.report["stopped_early"]
    assert "GET /fine" in result.stdout


def test_an_import_that_hangs_is_stopped(perfaudit: Any) -> None:
    result = perfaudit(
        "profile", "tests.fixtures.import_hangs:app", "--startup-timeout", "3", *FAST
    )

    assert result.code == 3, result.stderr
    assert "Importing tests.fixtures.import_hangs:app did not finish within 3 s" in result.stderr
    assert result.report is None
    assert "Traceback" not in result.stderr


def test_a_package_missing_from_the_interpreter_is_not_blamed_on_the_app(perfaudit: Any) -> None:
    result = perfaudit("profile", "tests.fixtures.needs_missing_package:app", *FAST)

    assert result.code == 3
    assert "needs 'fastapi_users_not_installed_here', which is not installed in" in result.stderr
    assert "--python .venv/bin/python" in result.stderr
    assert "Fix the error in your app" not in result.stderr


def test_python_that_is_not_an_interpreter_is_a_usage_error(perfaudit: Any) -> None:
    result = perfaudit("profile", "sample_apps.clean:app", "--python", "/nonexistent/python")

    assert result.code == 2
    assert "--python /nonexistent/python is not a Python interpreter." in result.stderr


def test_the_report_names_the_interpreter_that_ran_the_app(perfaudit: Any) -> None:
    import sys

    result = perfaudit("profile", "sample_apps.clean:app", *FAST)

    assert result.code == 0, result.stderr
    assert result.report is not None
    assert result.report["environment"]["interpreter"] == sys.executable
    assert f"({sys.executable})" in result.stdout


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # the parent's PID, after the state
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_agent_does_not_outlive_a_killed_cli() -> None:
    """SIGKILL leaves the CLI no chance to clean up: the agent notices its pipe close and
    stops by itself, rather than loading the app on as an orphan."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "perfaudit", "profile", "sample_apps.pricing:app", "/health",
         "-q", "-n", "1000000", "--warmup", "0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (agents := _children(cli.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert agents, "the agent never started"
        time.sleep(1.0)  # well into the measured phase
        cli.kill()
        cli.wait()
        deadline = time.monotonic() + 20
        while any(_alive(a) for a in agents) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(a) for a in agents), "the agent outlived the CLI"
    finally:
        if cli.poll() is None:
            cli.kill()
        for agent in _children(cli.pid):
            with contextlib.suppress(OSError):
                os.kill(agent, signal.SIGKILL)


def test_ctrl_c_stops_the_agent_too(interrupt_after: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mark = f"PERFAUDIT_TEST_RUN={uuid.uuid4()}"
    monkeypatch.setenv(*mark.split("="))  # inherited by the CLI and its agent

    result = interrupt_after(
        4.0, "profile", "sample_apps.pricing:app", "/health", "-q", "-n", "1000000",
        "--warmup", "0",
    )  # fmt: skip

    assert result.code == 130, result.stderr
    assert result.report is not None and result.report["interrupted"] is True
    assert running_with(mark) == []


def test_sigterm_stops_the_agent_and_keeps_the_partial_report(
    interrupt_after: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 #2: what CI cancellation, `timeout` and `docker stop` send."""
    mark = f"PERFAUDIT_TEST_RUN={uuid.uuid4()}"
    monkeypatch.setenv(*mark.split("="))

    result = interrupt_after(
        4.0, "profile", "sample_apps.pricing:app", "/health", "-q", "-n", "1000000",
        "--warmup", "0", signum=signal.SIGTERM,
    )  # fmt: skip

    assert result.code == 143, result.stderr
    assert result.report is not None and result.report["interrupted"] is True
    assert "Stopped early: stopped by SIGTERM" in result.stdout
    assert left_running(mark) == []


def test_the_app_s_output_is_kept_apart_from_the_report(perfaudit: Any) -> None:
    result = perfaudit("profile", "tests.fixtures.chatty_stdout:app", *FAST)

    assert result.code == 0, result.stderr
    assert "SELECT" not in result.stdout + result.stderr  # not between the report's lines
    [note] = [n for n in result.report["notes"] if "lines to stdout/stderr" in n]
    path = Path(note.split("kept in ")[1].split(".log")[0] + ".log")
    try:
        assert "echo=True" in note
        assert path.read_text().count("SELECT") >= 30
    finally:
        path.unlink(missing_ok=True)


def test_a_crash_shows_the_app_s_last_words(perfaudit: Any) -> None:
    result = perfaudit("profile", "tests.fixtures.crashes:app", "/fine", "/exit", *FAST)

    assert result.code == 3
    assert "The app's last output (all of it in " in result.stderr
    assert "exiting now" in result.stderr


def test_an_app_that_exits_at_import_is_its_doing_not_ours(perfaudit: Any) -> None:
    result = perfaudit("profile", "tests.fixtures.exits_on_import:app", *FAST)

    assert result.code == 3
    assert "The app called sys.exit('DATABASE_URL is not set')" in result.stderr
    assert "bug in perfaudit" not in result.stderr


def test_a_run_that_fails_leaves_no_empty_output_file(
    perfaudit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the app's output file would go

    result = perfaudit("profile", "tests.fixtures.needs_missing_package:app", *FAST)

    assert result.code == 3
    assert list(scratch.iterdir()) == []


ROUTER = (
    "from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n"
    "@router.get('/me')\nasync def me() -> dict[str, str]:\n    return {'name': 'ada'}\n"
)


def _app_importing(tmp_path: Path, module: str) -> Path:
    """An app whose router is its own top-level `module`.py, as `import module`."""
    (tmp_path / f"{module}.py").write_text(ROUTER)
    (tmp_path / "main.py").write_text(
        f"from fastapi import FastAPI\n\nimport {module}\n\n"
        f"app = FastAPI()\napp.include_router({module}.router)\n"
    )
    return tmp_path


def test_an_app_s_own_profile_py_is_not_taken_by_perfaudit_s_imports(
    perfaudit: Any, tmp_path: Path
) -> None:
    """Issue 17 #4: cProfile had imported the standard library's `profile` before the app,
    so the app's `import profile` (its router) got Python's: "Fix the error in your app"."""
    app_dir = _app_importing(tmp_path, "profile")

    result = perfaudit("profile", "main:app", "/me", "--app-dir", str(app_dir), *FAST)

    assert result.code == 0, result.stderr
    assert result.route("GET /me")["errors"] == 0


def test_a_module_python_loaded_at_start_up_is_named_when_the_app_s_file_loses_to_it(
    perfaudit: Any, tmp_path: Path
) -> None:
    app_dir = _app_importing(tmp_path, "stat")  # `stat` is loaded before any code runs

    result = perfaudit("profile", "main:app", "/me", "--app-dir", str(app_dir), *FAST)

    assert result.code == 3
    assert "Your stat.py has the name of a standard-library module" in result.stderr


def test_a_lifespan_that_hangs_follows_the_startup_timeout(perfaudit: Any, tmp_path: Path) -> None:
    """Issue 17 #12: the lifespan's start-up had a fixed 60 s of its own."""
    (tmp_path / "main.py").write_text(
        "import asyncio\nfrom contextlib import asynccontextmanager\n\n"
        "from fastapi import FastAPI\n\n\n@asynccontextmanager\nasync def lifespan(app):\n"
        "    await asyncio.sleep(3600)\n    yield\n\n\napp = FastAPI(lifespan=lifespan)\n"
    )
    result = perfaudit(
        "profile", "main:app", "--app-dir", str(tmp_path), "--startup-timeout", "2", *FAST,
        json_report=False,
    )  # fmt: skip
    assert result.code == 3
    assert "lifespan startup did not finish within 2 s" in result.stderr
    assert "--startup-timeout" in result.stderr
