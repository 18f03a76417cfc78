"""Run the real CLI in a subprocess, from the repository root, as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import Postgres, postgres

REPO = Path(__file__).resolve().parents[2]
# perfaudit's agent runs the sample apps in the interpreter that runs the tests (each CI leg
# its own), not in the .venv it would find in the repository: every CLI the tests start
# inherits this.
os.environ["VIRTUAL_ENV"] = sys.prefix
# Small runs: these tests check behaviour, not performance.
# A short run, without the memory phase: tracemalloc's few seconds per route add up over
# the hundred-odd runs of the suite, and tests that are not about memory are not changed
# by it (it runs after every other phase). Tests of the memory phase, and the demo, the
# other interpreters and the HTML report, which users run as is, use FAST_WITH_MEMORY.
FAST_WITH_MEMORY = ("-q", "-n", "30", "--warmup", "2")
FAST = (*FAST_WITH_MEMORY, "--no-memory")


def running_with(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment holds `mark` ("NAME=value"): set it in
    a test's environment, and whatever the CLI started inherits it."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() not in environ.read_bytes().split(b"\0"):
                continue
            state = (environ.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and int(environ.parent.name) != os.getpid():
            found.append(int(environ.parent.name))
    return found


def left_running(mark: str, grace_s: float = 5.0) -> list[str]:
    """The command lines of processes holding `mark` still alive after `grace_s` (a child
    that noticed its parent go a moment later is not left behind)."""
    deadline = time.monotonic() + grace_s
    while (pids := running_with(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return lines


def concurrencies(*levels: int) -> tuple[int, ...]:
    """The concurrencies a findings test runs the sample apps at: all of `levels`, or only
    those also listed in $PERFAUDIT_TEST_CONCURRENCY ("8"): CI's second interpreter checks
    the version-sensitive code at one concurrency, the first one at every level."""
    chosen = {int(c) for c in os.environ.get("PERFAUDIT_TEST_CONCURRENCY", "").split(",") if c}
    return tuple(level for level in levels if level in chosen) or levels


def memory_phase_at(concurrency: int) -> tuple[str, ...]:
    """The findings tests run the memory phase (and check that no sample app's planted
    bottleneck is outranked by a false leak) at the one concurrency both CI legs run, 8:
    it takes a few seconds per route, and runs one request at a time whatever -c is."""
    return () if concurrency == 8 else ("--no-memory",)


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def finding_ids(self) -> list[str]:
        assert self.report is not None
        return [f["id"] for f in self.report["findings"]]

    def route(self, label: str) -> dict[str, Any]:
        assert self.report is not None
        for route in self.report["routes"]:
            if f"{route['method']} {route['path']}" == label:
                return dict(route)
        raise AssertionError(f"{label} not in {[r['path'] for r in self.report['routes']]}")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "FORCE_COLOR"}}
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture
def perfaudit(tmp_path: Path) -> Any:
    """perfaudit("profile", ...) → CliResult, with the JSON report parsed when written."""

    def run(*args: str, timeout: float = 120, json_report: bool = True) -> CliResult:
        report_path = tmp_path / "report.json"
        report_path.unlink(missing_ok=True)
        extra = ("--json", str(report_path)) if json_report else ()
        proc = subprocess.run(
            [sys.executable, "-m", "perfaudit", *args, *extra],
            check=False,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env(),
        )
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return CliResult(proc.returncode, proc.stdout, proc.stderr, report)

    return run


@pytest.fixture
def interrupt_after(tmp_path: Path) -> Any:
    """Start perfaudit, send it SIGINT (Ctrl-C; or `signum`) once `when` says it is at work,
    return the result. `when`: seconds to wait, or a function that returns once the run is under way
    (a server has answered its requests): on a busy machine start-up alone can take seconds."""

    def run(
        when: float | Callable[[], object], *args: str, signum: int = signal.SIGINT
    ) -> CliResult:
        report_path = tmp_path / "report.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "perfaudit", *args, "--json", str(report_path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            if callable(when):
                when()
            else:
                time.sleep(when)
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # it ignored Ctrl-C: fail the test, leave no process behind
            out, err = proc.communicate()
            pytest.fail(f"perfaudit ignored signal {signum} for 60 s; stderr: {err[-2000:]}")
        finally:
            if proc.poll() is None:  # `when` failed: leave no process behind
                proc.kill()
                proc.communicate()
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return CliResult(proc.returncode, out, err, report)

    return run


# A private PostgreSQL server for the whole session (tests/postgres.py): the sample apps on
# the production data tier (sample_apps/pg_*.py) and their tests share it.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One private PostgreSQL server (initdb in a temporary folder, 127.0.0.1, a free port,
    trust auth, user `postgres`), started on first use and stopped and removed when the
    session ends: `.url(database)`, `.create_database(name)` (returns its URL), `.psql(...)`.
    Skips (with the reason) where no PostgreSQL binaries are installed."""
    with postgres() as server:
        yield server
