"""The Locust engine against a real uvicorn server: Locust runs as a subprocess (never
imported here: it patches the process with gevent), locally, in several processes, and
as a master with a worker on 127.0.0.1."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfaudit.errors import CaptureError
from perfaudit.load.locust import run_locust
from perfaudit.load.scenario import LoadPlan, Target
from perfaudit.model import INTERRUPTED
from perfaudit.progress import NoProgress
from tests.integration.live_server import LiveServer, free_port, live_server

pytestmark = [
    pytest.mark.integration,
    # find_spec only looks the package up; importing it would patch this process.
    pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust not installed"),
]
WORKER_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server() as running:
        yield running


class RecordedProgress:
    def __init__(self) -> None:
        self.labels: list[str] = []
        self.advanced = 0
        self.ended = False

    def begin(self, label: str, total: int | None) -> None:
        self.labels.append(label)

    def advance(self, count: int) -> None:
        self.advanced += count

    def end(self) -> None:
        self.ended = True


@contextlib.contextmanager
def ctrl_c_after(seconds: float) -> Iterator[None]:
    """Send this process SIGINT (a user's Ctrl-C) after `seconds`, unless done by then."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def test_local_run_measures_every_target(server: LiveServer) -> None:
    plan = LoadPlan(
        targets=(Target(f"{server.url}/hello"), Target(f"{server.url}/sleep/20")),
        connections=5,
        duration_s=2.0,
    )
    progress = RecordedProgress()
    result = run_locust(plan, progress=progress)
    hello, sleep = result.tallies
    for tally in (hello, sleep):
        assert tally.requests > 0
        assert set(tally.status_counts) == {"200"}
        assert tally.errors == 0
        assert len(tally.durations_s) == tally.requests
    # Locust rounds to whole milliseconds here, and the server's timer may fire up to a
    # millisecond early: a 20 ms sleep never reads below 18 ms.
    assert min(sleep.durations_s) >= 0.018
    assert (result.engine, result.processes) == ("locust", 1)
    # 1 ms below 100 ms; a busy machine can push a response past 100 ms, where Locust
    # keeps two significant digits (10 ms steps).
    assert result.resolution_ms in (1.0, 10.0)
    assert result.wall_s > 0
    assert result.cpu_s > 0
    assert result.stopped_early == ""
    assert progress.advanced == hello.requests + sleep.requests
    assert progress.ended
    assert progress.labels[0].startswith("locust")


def test_error_statuses_are_errors_and_the_request_count_is_exact(server: LiveServer) -> None:
    plan = LoadPlan(
        targets=(Target(f"{server.url}/status/503"), Target(f"{server.url}/hello")),
        connections=3,
        duration_s=None,
        requests=40,
    )
    unavailable, hello = run_locust(plan, progress=NoProgress()).tallies
    assert unavailable.requests + hello.requests == 40
    assert unavailable.status_counts == {"503": unavailable.requests}
    assert unavailable.errors == unavailable.requests > 0
    assert unavailable.error_sample == "HTTP 503 Service Unavailable"
    assert hello.errors == 0


def test_a_closed_port_is_refused_with_no_durations() -> None:
    plan = LoadPlan(targets=(Target(f"http://127.0.0.1:{free_port()}/x"),), duration_s=1.0)
    (tally,) = run_locust(plan, progress=NoProgress()).tallies
    assert set(tally.status_counts) == {"refused"}
    assert tally.errors == tally.requests > 0
    assert tally.durations_s == ()
    assert "Connection refused" in tally.error_sample


def test_processes_share_the_request_count(server: LiveServer) -> None:
    plan = LoadPlan(
        targets=(Target(f"{server.url}/hello"),), connections=4, duration_s=None, requests=41
    )
    result = run_locust(plan, progress=NoProgress(), processes=2)
    assert result.processes == 2
    assert result.tallies[0].status_counts == {"200": 41}


def test_ctrl_c_stops_locust_and_keeps_what_it_measured(server: LiveServer) -> None:
    plan = LoadPlan(targets=(Target(f"{server.url}/hello"),), connections=2, duration_s=60.0)
    with ctrl_c_after(2.5):
        result = run_locust(plan, progress=NoProgress())
    assert result.stopped_early == INTERRUPTED
    assert result.tallies[0].requests > 0


def test_master_with_one_worker(server: LiveServer, tmp_path: Path) -> None:
    port = free_port()
    plan = LoadPlan(
        targets=(Target(f"{server.url}/hello"), Target(f"{server.url}/sleep/20")),
        connections=2,
        duration_s=2.0,
    )
    with worker(port, tmp_path) as process, ctrl_c_after(WORKER_TIMEOUT_S):
        result = run_locust(
            plan,
            progress=NoProgress(),
            master=True,
            expect_workers=1,
            master_bind_port=port,
        )
        assert process.wait(timeout=WORKER_TIMEOUT_S) == 0  # the master told it to quit
    assert result.stopped_early == ""
    assert all(tally.requests > 0 for tally in result.tallies)
    assert all(tally.errors == 0 for tally in result.tallies)
    assert result.processes == 1
    assert result.cpu_s > 0  # the worker's own CPU, reported through the master


@contextlib.contextmanager
def worker(port: int, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Locust worker that fetches its locustfile from the master (`-f -`); it writes the
    file to its temporary directory, here `directory`. Killed by PID if still running."""
    command = [
        sys.executable, "-m", "locust", "-f", "-", "--worker",
        "--master-host", "127.0.0.1", "--master-port", str(port),
        "--headless", "--loglevel", "WARNING", "--skip-log-setup",
    ]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(directory)}
    with (directory / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_locust_failing_to_start_is_a_capture_error(server: LiveServer) -> None:
    plan = LoadPlan(targets=(Target(f"{server.url}/hello"),), duration_s=1.0)
    with pytest.raises(CaptureError, match="wrote no statistics") as caught:
        run_locust(
            plan, progress=NoProgress(), master=True, expect_workers=1, master_bind_host="256.1.1.1"
        )
    assert "bind" in caught.value.details
