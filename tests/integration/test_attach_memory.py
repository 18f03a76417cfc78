"""`perfaudit attach` reads the resident memory of every process it follows from /proc while
py-spy records: a uvicorn app that keeps 100 KB of each request (tests/integration/
leaky_app.py) shows a steadily growing series in the saved session, one per worker with
--subprocesses, and Ctrl-C keeps the readings gathered so far. Every server is started on
127.0.0.1 and stopped by its PID; no wall time is asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from perfaudit.analysis.rss import RssTrend, rss_trend
from perfaudit.model import RssSeries
from tests.integration.leaky_app import LEAK_BYTES
from tests.integration.live_server import LiveServer, live_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("py-spy", path=os.path.dirname(sys.executable)) is None
        and shutil.which("py-spy") is None,
        reason="py-spy is not installed (pip install 'perfaudit[attach]')",
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS is read from /proc"),
]
APP = "tests.integration.leaky_app:app"
MIB = 1024 * 1024


def memory(session: Path) -> dict[int, list[int]]:
    document = json.loads(session.read_text())
    series = document["sampling"]["memory"]
    assert all(s["interval_s"] == 0.5 for s in series), series
    return {s["pid"]: s["rss_bytes"] for s in series}


def trend(pid: int, rss_bytes: list[int]) -> RssTrend:
    found = rss_trend(RssSeries(pid, 0.5, tuple(rss_bytes)))
    assert found is not None, f"too few readings: {rss_bytes}"
    return found


def kept(server: LiveServer) -> int:
    """Requests whose 100 KB the app has kept (every request to /leak)."""
    with urllib.request.urlopen(f"{server.url}/kept", timeout=10) as response:
        return int(json.loads(response.read())["kept"])


def test_a_leaking_server_grows_steadily(perfaudit: Any, tmp_path: Path) -> None:
    session = tmp_path / "attach.session.json"
    with live_server(APP) as server:
        result = perfaudit(
            "attach", str(server.process.pid), "--url", server.url, "--load", "/leak",
            "-c", "2", "--duration", "5", "-q", "--save-session", str(session), timeout=120,
        )  # fmt: skip
        requests = kept(server)
    assert result.code == 0, result.stderr
    series = memory(session)
    assert list(series) == [server.process.pid]  # no --subprocesses: the target alone
    grown = trend(server.process.pid, series[server.process.pid])
    assert grown.steady_growth, (grown, series)
    # The readings start at py-spy's first sample, a moment after the load: most of the
    # requests' 100 KB, not all of it.
    assert grown.growth_bytes >= max(10 * MIB, 0.25 * requests * LEAK_BYTES), (grown, requests)
    assert grown.peak_bytes >= grown.end_bytes > grown.start_bytes
    assert result.report is not None and result.report["sampling"]["samples"] > 0


def test_each_worker_has_its_own_series(perfaudit: Any, tmp_path: Path) -> None:
    session = tmp_path / "attach.session.json"
    with live_server(APP, "--workers", "2") as server:
        _wait_for_workers(server, 2)
        result = perfaudit(
            "attach", str(server.process.pid), "--subprocesses", "--url", server.url,
            "--load", "/leak", "-c", "4", "--duration", "5", "-q",
            "--save-session", str(session), timeout=120,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    series = memory(session)
    # uvicorn's supervisor, multiprocessing's resource tracker, and the two workers.
    assert server.process.pid in series and len(series) >= 3, series
    trends = [trend(pid, readings) for pid, readings in series.items()]
    supervisor = next(t for t in trends if t.pid == server.process.pid)
    assert not supervisor.steady_growth  # it serves no request
    # The kernel hands the connections to the workers unevenly: one of them at least leaks.
    workers = [t for t in trends if t.pid != server.process.pid and t.steady_growth]
    assert workers, trends
    assert sum(t.growth_bytes for t in trends) >= 10 * MIB, trends


@pytest.mark.parametrize("load", [True, False], ids=["with-load", "without-load"])
def test_ctrl_c_keeps_the_readings_so_far(interrupt_after: Any, tmp_path: Path, load: bool) -> None:
    """With --load, Ctrl-C ends the load, which stops the recording; without, it reaches the
    py-spy watch itself (the server is then loaded from another process)."""
    session = tmp_path / "attach.session.json"
    with live_server(APP) as server, _requests_from_another_process(server, not load):
        pid = server.process.pid

        def recording_a_while() -> None:
            deadline = time.monotonic() + 60
            while not _py_spy_records(pid):
                assert time.monotonic() < deadline, "py-spy never started"
                time.sleep(0.1)
            # py-spy runs: once it has attached, the readings begin. However long that
            # takes here, 30 MB more and 1.5 s later some readings have seen the growth.
            start = kept(server)
            while kept(server) < start + 300:
                assert time.monotonic() < deadline, "the server served too few requests"
                time.sleep(0.2)
            time.sleep(1.5)

        args = ("--url", server.url, "--load", "/leak", "-c", "2") if load else ()
        result = interrupt_after(
            recording_a_while, "attach", str(pid), *args, "--duration", "60", "-q",
            "--save-session", str(session),
        )  # fmt: skip
    assert result.code == 130, result.stderr
    assert result.report is not None and "Ctrl-C" in result.report["stopped_early"]
    readings = memory(session)[pid]
    assert len(readings) >= 3, readings
    assert readings[-1] - readings[0] >= 5 * MIB, readings


def _wait_for_workers(server: LiveServer, count: int) -> None:
    """Until `count` workers of uvicorn's supervisor have started and imported the app."""
    deadline = time.monotonic() + 60
    while len(_workers(server.process.pid)) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    with urllib.request.urlopen(f"{server.url}/kept", timeout=30):
        pass
    time.sleep(1.0)  # the other one too


def _workers(pid: int) -> list[int]:
    """The children of `pid` that are multiprocessing's spawned workers."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _py_spy_records(pid: int) -> bool:
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command and command[0].endswith(b"py-spy") and str(pid).encode() in command:
            return True
    return False


class _requests_from_another_process:
    """Requests to /leak one after another, from a child process, while the block runs (when
    `wanted`): a load attach itself does not drive."""

    def __init__(self, server: LiveServer, wanted: bool) -> None:
        self._url, self._wanted = f"{server.url}/leak", wanted
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        if not self._wanted:
            return
        code = (
            "import urllib.request\n"
            "while True:\n"
            f"    urllib.request.urlopen('{self._url}', timeout=30).read()\n"
        )
        self._process = subprocess.Popen([sys.executable, "-c", code])

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
