"""Record real processes with the real py-spy: a uvicorn server with a blocking `async def`
route, and each way a recording fails or ends early. Every process started here is stopped
by its PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfaudit.capture.pyspy import (
    NotPythonError,
    ProcessNotFoundError,
    PtraceDeniedError,
    PySpyMissingError,
    RecordOptions,
    find_pyspy,
    record,
)
from perfaudit.errors import EXIT_TARGET, PerfauditError
from perfaudit.model.samples import SamplingRun, ThreadSamples

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("py-spy", path=str(Path(sys.executable).parent)) is None
        and shutil.which("py-spy") is None,
        reason="needs py-spy (pip install 'perfaudit[attach]')",
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ptrace tests run on Linux"),
]

APP = textwrap.dedent(
    """
    import time
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/block")
    async def block():
        time.sleep(0.02)  # blocks the event loop
        return {"ok": True}
    """
)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def started(*command: str, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop(process)


def python_sleeping(seconds: float) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    code = f"import time\nfor _ in range({int(seconds * 20)}): time.sleep(0.05)"
    return started(sys.executable, "-c", code)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(tmp_path: Path, *extra: str) -> Iterator[tuple[int, int]]:
    (tmp_path / "blocking_app.py").write_text(APP)
    port = free_port()
    command = (
        sys.executable, "-m", "uvicorn", "blocking_app:app", "--app-dir", str(tmp_path),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        *extra,
    )  # fmt: skip
    with started(*command, cwd=tmp_path) as process:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "uvicorn exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "uvicorn did not listen"
            time.sleep(0.05)
        yield process.pid, port


@contextlib.contextmanager
def load(port: int) -> Iterator[None]:
    """Requests to /block, one after another, until the block ends."""
    done = threading.Event()

    def hit() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/block", timeout=5).read()

    thread = threading.Thread(target=hit, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=10)


def loop_threads(run: SamplingRun) -> list[ThreadSamples]:
    return [t for p in run.processes for t in p.threads if t.role == "loop"]


def test_records_the_loop_thread_blocked_in_an_async_route(tmp_path: Path) -> None:
    ticks: list[float] = []
    with uvicorn_server(tmp_path) as (pid, port), load(port):
        run = record(RecordOptions(pid=pid, duration_s=2), on_tick=lambda e, d: ticks.append(e))
    assert run.tool.startswith("py-spy 0.")
    assert run.idle_included and run.ended_early == "" and 1.5 <= run.duration_s <= 2.0
    assert run.errors <= run.samples // 10  # --nonblocking: a few torn reads at most
    [process] = run.processes
    assert process.pid == pid and "uvicorn" in process.command
    [loop] = loop_threads(run)
    assert loop.samples >= 100  # about rate × duration: --idle counts waiting ticks too
    blocked = [
        frame
        for stack in loop.stacks
        for frame in stack.frames
        if frame.function == "block" and frame.owner == "app"
    ]
    assert blocked and blocked[0].code == "time.sleep(0.02)  # blocks the event loop"
    assert ticks and ticks == sorted(ticks)


def test_follows_uvicorn_workers(tmp_path: Path) -> None:
    with uvicorn_server(tmp_path, "--workers", "2") as (pid, port), load(port):
        time.sleep(2)  # the workers import the app
        run = record(RecordOptions(pid=pid, duration_s=1, subprocesses=True))
    assert len({p.pid for p in run.processes}) >= 3  # the supervisor and two workers
    assert len(loop_threads(run)) >= 2


def test_a_process_exiting_mid_recording_keeps_its_samples() -> None:
    with python_sleeping(1.0) as process:
        time.sleep(0.2)
        run = record(RecordOptions(pid=process.pid, duration_s=4))
    assert run.ended_early.startswith("the process exited after")
    assert run.samples > 20 and run.duration_s < 3


def test_stop_flag_and_fractional_duration_keep_what_was_sampled() -> None:
    flag = threading.Event()
    threading.Timer(1.0, flag.set).start()
    with python_sleeping(30) as process:
        began = time.monotonic()
        run = record(RecordOptions(pid=process.pid, duration_s=20), stop_flag=flag)
        assert time.monotonic() - began < 10
        # The caller ended it, and says why if it was early (attach: its load's end).
        assert run.ended_early == "" and run.samples > 20
        short = record(RecordOptions(pid=process.pid, duration_s=0.5))
    assert short.ended_early == "" and short.duration_s <= 0.5 and short.samples > 10


def test_stopped_while_attaching_is_an_empty_run() -> None:
    flag = threading.Event()
    flag.set()
    with python_sleeping(30) as process:
        run = record(RecordOptions(pid=process.pid, duration_s=5), stop_flag=flag)
    assert run.ended_early == ""
    assert run.duration_s < 5


def test_dead_pid() -> None:
    with python_sleeping(0) as process:
        process.wait(timeout=10)
    with pytest.raises(ProcessNotFoundError, match=f"No process has PID {process.pid}") as caught:
        record(RecordOptions(pid=process.pid, duration_s=1))
    assert caught.value.exit_code == EXIT_TARGET and caught.value.remedy


def test_not_a_python_process() -> None:
    with (
        started("sleep", "100") as process,
        pytest.raises(NotPythonError, match="no Python interpreter") as caught,
    ):
        record(RecordOptions(pid=process.pid, duration_s=1))
    assert "(sleep)" in caught.value.message


def test_missing_py_spy(tmp_path: Path) -> None:
    with pytest.raises(PySpyMissingError) as caught:
        find_pyspy([tmp_path])
    assert "pip install 'perfaudit[attach]'" in caught.value.remedy
    assert caught.value.exit_code == EXIT_TARGET


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_permission_denied_without_cap_sys_ptrace(tmp_path: Path) -> None:
    wrapper = tmp_path / "py-spy"
    wrapper.write_text(
        "#!/bin/sh\nexec setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace "
        f'{find_pyspy()} "$@"\n'
    )
    wrapper.chmod(0o755)
    with python_sleeping(30) as process, pytest.raises(PtraceDeniedError) as caught:
        record(RecordOptions(pid=process.pid, duration_s=1), pyspy=wrapper)
    assert "CAP_SYS_PTRACE" in caught.value.remedy
    assert isinstance(caught.value, PerfauditError) and caught.value.exit_code == EXIT_TARGET
