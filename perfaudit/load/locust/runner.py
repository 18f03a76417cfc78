"""Running Locust: its command line, the subprocess, stopping it (Ctrl-C included), and
`run_locust`, the engine's entry point.

Locust monkey-patches the whole process with gevent when imported, so perfaudit never
imports it: it writes a locustfile (one FastHttpUser, one task per target) to a temporary
directory and runs `python -m locust` on it as a subprocess. The numbers come back
through files: Locust's own `--json-file` statistics (per request name: counts and a
response-time histogram) and a small sidecar the generated locustfile writes at exit with
what Locust's JSON lacks (status codes, transport failure kinds, an error sample).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from perfaudit.errors import CaptureError, UsageError
from perfaudit.load.engine import interrupt_flag, planned_requests
from perfaudit.load.locust.locustfile import locustfile_for, single_origin
from perfaudit.load.locust.stats import LocustExit, LocustRun, engine_result
from perfaudit.load.outcome import EngineResult
from perfaudit.load.scenario import LoadPlan
from perfaudit.progress import Progress

POLL_S = 0.2
# After SIGINT Locust stops its users and writes its statistics within a second or two
# (a master waits 0.5 s for its workers' last reports); past this it is stuck.
STOP_GRACE_S = 30.0
STDERR_LINES = 15
LOCUSTFILE = "perfaudit_locustfile.py"


def run_locust(
    plan: LoadPlan,
    *,
    progress: Progress,
    processes: int = 1,
    master: bool = False,
    expect_workers: int = 0,
    master_bind_host: str = "127.0.0.1",
    master_bind_port: int = 5557,
) -> EngineResult:
    """Drive `plan` with Locust in a subprocess. `processes`: Locust processes on this
    machine (`--processes`; < 1: one per core). `master`: run only Locust's master here
    and wait for `expect_workers` worker processes started elsewhere with
    `locust -f - --worker --master-host THIS_HOST --master-port PORT`."""
    asked = LocustRun(processes, master, expect_workers, master_bind_host, master_bind_port)
    setup = _checked_setup(plan, asked)
    if importlib.util.find_spec("locust") is None:
        raise CaptureError("Locust is not installed.", remedy="pip install 'perfaudit[locust]'")
    with tempfile.TemporaryDirectory(prefix="perfaudit-locust-") as directory:
        workdir = Path(directory)
        locustfile = workdir / LOCUSTFILE
        locustfile.write_text(locustfile_for(plan, shares=setup.shares), encoding="utf-8")
        command = locust_command(plan, locustfile, workdir / "stats", setup)
        return _run(plan, command, workdir, setup, progress)


def locust_command(plan: LoadPlan, locustfile: Path, prefix: Path, setup: LocustRun) -> list[str]:
    """Locust's command line: headless, quiet, statistics as JSON to `prefix`.json."""
    users = str(plan.connections)
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "-u", users, "-r", users, "--host", single_origin(plan.targets),
        "--only-summary", "--json-file", str(prefix),
        "--loglevel", "WARNING", "--skip-log-setup",
        # Failed requests are results here, not a reason for Locust to exit non-zero.
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    if setup.master:
        command += [
            "--master", "--expect-workers", str(setup.expect_workers),
            "--master-bind-host", setup.bind_host, "--master-bind-port", str(setup.bind_port),
        ]  # fmt: skip
    elif setup.processes > 1:
        # Locust's processes talk over a master port, 5557 unless told: a free one lets
        # two runs on one machine (parallel CI jobs) not collide.
        port = str(_free_port())
        command += ["--processes", str(setup.processes)]
        command += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        command += ["--master-host", "127.0.0.1", "--master-port", port]
    return command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _checked_setup(plan: LoadPlan, setup: LocustRun) -> LocustRun:
    """What Locust can do with this plan, or a UsageError that says why not."""
    single_origin(plan.targets)
    if plan.duration_s is None and plan.requests is None:
        raise UsageError("Nothing bounds the run.", remedy="Pass --duration or -n.")
    if not setup.master:
        count = setup.processes if setup.processes >= 1 else os.cpu_count() or 1
        # Every process needs a user and a request of its own, or its share never ends.
        return replace(
            setup, processes=max(1, min(count, plan.connections, plan.requests or count))
        )
    workers = setup.expect_workers
    if workers < 1:
        raise UsageError("--master needs workers.", remedy="Pass --expect-workers 1 or more.")
    if setup.processes > 1:
        raise UsageError(
            "--processes does not apply to the Locust master.",
            remedy="Start each worker with `locust -f - --worker --processes N` instead.",
        )
    if workers > plan.connections:
        raise UsageError(
            f"{workers} Locust workers need at least {workers} connections, one each.",
            remedy=f"Pass -c {workers} or more.",
        )
    return replace(setup, processes=1)


def _run(
    plan: LoadPlan, command: list[str], workdir: Path, setup: LocustRun, progress: Progress
) -> EngineResult:
    prefix = workdir / "stats"
    tracker = _ProgressFile(Path(f"{prefix}.progress"), progress)
    progress.begin(_label(plan), planned_requests(plan))
    try:
        before = _children_cpu_s()
        with (workdir / "locust.log").open("wb") as output:
            code, interrupted = _supervise(command, workdir, output, tracker.poll)
        cpu_s = _children_cpu_s() - before
        ended = LocustExit(code, interrupted, _tail(workdir / "locust.log"))
        stats = _read_stats(Path(f"{prefix}.json"), ended)
        extra = _read_json(Path(f"{prefix}.perfaudit.json"))
        result = engine_result(plan, stats, extra, setup=setup, cpu_s=cpu_s, ended=ended)
        tracker.finish(sum(t.requests for t in result.tallies))
    finally:
        progress.end()
    return result


def _read_stats(path: Path, ended: LocustExit) -> list[Mapping[str, Any]]:
    """Locust's JSON statistics: a list of entries, one per request name and method."""
    stats = _read_json(path)
    if isinstance(stats, list):
        return stats
    if ended.interrupted:  # stopped before the first request: nothing to report
        return []
    raise CaptureError(
        f"Locust exited with code {ended.code} and wrote no statistics.",
        remedy="Its last lines of output are below.",
        details=ended.log_tail,
    )


def _supervise(
    command: list[str], cwd: Path, output: IO[bytes], on_tick: Callable[[], None]
) -> tuple[int, bool]:
    """Run Locust to its end. The first Ctrl-C is passed on as SIGINT, on which Locust
    stops its users and still writes its statistics; a second one kills it. Locust runs
    in a session of its own, so a terminal's Ctrl-C reaches it only through here."""
    with interrupt_flag() as interrupted:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            start_new_session=True,
        )
        try:
            return _wait(process, interrupted, on_tick), interrupted.is_set()
        finally:
            _reap(process)


def _wait(
    process: subprocess.Popen[bytes], interrupted: threading.Event, on_tick: Callable[[], None]
) -> int:
    signalled_at: float | None = None
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(timeout=POLL_S)
        on_tick()
        if interrupted.is_set() and signalled_at is None:
            os.kill(process.pid, signal.SIGINT)
            signalled_at = time.monotonic()
        if signalled_at is not None and time.monotonic() - signalled_at > STOP_GRACE_S:
            _reap(process)
            return process.wait()


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Kill Locust and the worker processes it forked (its session's group), then wait."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
    process.wait()


def _child_env() -> dict[str, str]:
    """LOCUST_* variables would override the command line (Locust reads its options from
    the environment too)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}


def _children_cpu_s() -> float:
    """CPU of this process's finished children, Locust's forked workers included (it
    waits for them): the difference around a run is what Locust used."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _ProgressFile:
    """The generated locustfile writes its request count to a file twice a second (in
    master mode as the workers report, every 3 s); progress advances by the difference."""

    __slots__ = ("_path", "_progress", "_reported")

    def __init__(self, path: Path, progress: Progress) -> None:
        self._path = path
        self._progress = progress
        self._reported = 0

    def poll(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.finish(int(self._path.read_text(encoding="utf-8")))

    def finish(self, total: int) -> None:
        if total > self._reported:
            self._progress.advance(total - self._reported)
            self._reported = total


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-STDERR_LINES:])
    return ""


def _label(plan: LoadPlan) -> str:
    what = str(plan.targets[0]) if len(plan.targets) == 1 else f"{len(plan.targets)} URLs"
    how = f"c={plan.connections}" + (f", {plan.rate:g}/s" if plan.rate is not None else "")
    return f"locust    {what} ({how})"
