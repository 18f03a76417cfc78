"""default-event-loop: the app served by two real uvicorn processes on 127.0.0.1, compared
over HTTP with perfaudit's load engine on the run's first route: one as the finding says it
is served (what the app's dependency file installs; with no such file, what is installed
here), one with what the finding says is missing (uvloop, httptools). In-process there is
no socket and no HTTP parsing, so only this shows the gain.

Both servers are up at once on two ports: the rounds interleave without a restart between
them (a fresh server per side would cost 3 × 2 starts and put a cold process in every
round), and the idle server takes no CPU while the other one is loaded. Each is stopped by
its PID whatever happens.

Only what is installed here is measured: if requirements.txt lacks both but only uvloop is
installed, both servers use h11 and the details say so, so the report never claims a gain
it did not measure. With nothing missing installed there is nothing to compare; without
uvicorn nothing to serve with."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO

from perfaudit.agent.verify.base import (
    OwnMeasurement,
    Refusal,
    Side,
    Target,
    experiment_of,
    measured,
)
from perfaudit.analysis.findings import Finding
from perfaudit.load.engine import drive
from perfaudit.load.outcome import EngineResult
from perfaudit.load.scenario import LoadPlan
from perfaudit.load.scenario import Target as LoadTarget
from perfaudit.model import DeclaredServer, Experiment

# Interleaved, alternating which side goes first: as many round pairs as the gain rule
# needs (analysis/measured.py MIN_ROUNDS), in about the same 10 s of load as 3 × 1.5 s.
ROUNDS = 5
SIDE_S = 1.0  # per side and round
MIN_CONNECTIONS = 8
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Server:
    loop: str  # uvicorn --loop
    http: str  # uvicorn --http

    def __str__(self) -> str:
        return f"{self.loop} + {self.http}"


# Each package and the uvicorn switch it serves (`--loop uvloop`, `--http httptools`).
SWITCHES = {"uvloop": "loop", "httptools": "http"}


@dataclass(frozen=True, slots=True)
class Plan:
    before: Server  # as the finding says the app is served
    after: Server  # with what it says is missing, where installed here
    compared: str  # what the comparison measures, for the details


def plan(installed: Callable[[str], bool], declared: DeclaredServer | None) -> Plan | Refusal:
    """Which two servers to compare, or why there is nothing to. The finding names what the
    deployed server lacks: what the app's dependency file leaves out, or, with no such file,
    what is not installed here. Only the parts of that installed here can be measured; the
    rest is the same on both sides."""
    if not installed("uvicorn"):
        return Refusal("not available: uvicorn is not installed")
    here = {name: installed(name) for name in SWITCHES}
    lacking = [n for n in SWITCHES if not (getattr(declared, n) if declared else here[n])]
    measurable = [name for name in lacking if here[name]]
    if not measurable:
        return Refusal(
            f"not available: {' and '.join(lacking)} "
            f"{'is' if len(lacking) == 1 else 'are'} not installed here; install "
            "uvicorn[standard] to measure"
        )
    after = Server(
        "uvloop" if here["uvloop"] else "asyncio", "httptools" if here["httptools"] else "h11"
    )
    before = Server(
        "asyncio" if "uvloop" in measurable else after.loop,
        "h11" if "httptools" in measurable else after.http,
    )
    return Plan(before, after, _compared(before, after, measurable, here, declared))


def _compared(
    before: Server,
    after: Server,
    measurable: list[str],
    here: dict[str, bool],
    declared: DeclaredServer | None,
) -> str:
    if len(measurable) == len(SWITCHES):
        return f"{after} vs {before}"
    [name] = measurable
    [other] = [n for n in SWITCHES if n != name]
    switch = SWITCHES[name]
    shared = getattr(after, SWITCHES[other])
    why = (
        f"{other} is not installed here"
        if not here[other]
        else f"{declared.file} already brings {other}"
        if declared
        else f"{other} is installed here"
    )
    return f"{getattr(after, switch)} vs {getattr(before, switch)}, both on {shared}: {why}"


class DefaultEventLoopExperiment:
    finding_id = "default-event-loop"
    app_wide = True  # the finding names no route: tried on the run's first one

    def __init__(self, installed: Callable[[str], bool] | None = None) -> None:
        self._installed = installed or _installed

    def prepare(self, target: Target) -> OwnMeasurement | Refusal:
        chosen = plan(self._installed, target.session.environment.declared)
        if isinstance(chosen, Refusal):
            return chosen
        if not target.app_spec:
            return Refusal("not available: the run did not load the app from a module:app spec")
        description = f"uvicorn on {chosen.after} instead of {chosen.before}"

        async def measure(finding: Finding, tick: Callable[[], None]) -> Experiment:
            return await _compare(target, chosen, description, finding, tick)

        return OwnMeasurement(description, measure)


async def _compare(
    target: Target, chosen: Plan, description: str, finding: Finding, tick: Callable[[], None]
) -> Experiment:
    connections = max(MIN_CONNECTIONS, target.concurrency)
    sides = {False: chosen.before, True: chosen.after}  # keyed by "the change is on"
    async with _serving(target, chosen.before) as before, _serving(target, chosen.after) as after:
        running = {False: before, True: after}
        tick()
        sample = await _same_sample(target, before.port, after.port)
        if sample:
            return experiment_of(finding, description, "changes-behaviour", reason=sample)
        results: dict[bool, list[EngineResult]] = {False: [], True: []}
        for index in range(ROUNDS):
            for on in (False, True) if index % 2 == 0 else (True, False):
                plan = _load(target, running[on].port, connections)
                result = await drive(plan, on_progress=lambda _: tick())
                tick()
                [tally] = result.tallies
                if tally.errors or not tally.requests:
                    failed = f"{tally.errors} request(s) failed on {sides[on]}: "
                    failed += tally.error_sample
                    return experiment_of(finding, description, "failed", reason=failed[:300])
                results[on].append(result)
        pids = " and ".join(f"{running[on].pid} ({sides[on]})" for on in (False, True))
    details = (
        f"compared: {chosen.compared}",
        f"over HTTP on 127.0.0.1, {connections} keep-alive connections, "
        f"{ROUNDS} interleaved rounds of {SIDE_S:g} s per side",
        "sample response: same status and body on both",
        f"uvicorn PIDs {pids}, both stopped",
    )
    every = results[False] + results[True]
    return measured(
        finding,
        description,
        before=[_side(r) for r in results[False]],
        after=[_side(r) for r in results[True]],
        concurrency=connections,
        requests_per_round=int(statistics.median(r.tallies[0].requests for r in every)),
        details=details,
    )


@dataclass(frozen=True, slots=True)
class _Running:
    pid: int
    port: int


@contextlib.asynccontextmanager
async def _serving(target: Target, server: Server) -> AsyncIterator[_Running]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", target.app_spec,
        "--host", "127.0.0.1", "--port", str(port),
        "--app-dir", str(target.app_root),
        "--loop", server.loop, "--http", server.http,
        "--lifespan", "auto" if target.lifespan else "off",
        "--no-access-log", "--log-level", "warning",
        *(["--factory"] if target.factory else []),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            await _wait_until_listening(process, port, server, stderr)
            yield _Running(process.pid, port)
        finally:
            _stop(process)


async def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, server: Server, stderr: IO[bytes]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr.seek(0)
            said = stderr.read().decode(errors="replace").strip().splitlines()
            last = said[-1] if said else "no output"
            raise RuntimeError(f"uvicorn ({server}) exited with {process.returncode}: {last}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"uvicorn ({server}) did not listen on port {port} in {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """By its PID: SIGTERM (uvicorn shuts down and runs the lifespan's end), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _url(target: Target, port: int) -> str:
    return f"http://127.0.0.1:{port}{target.request.url}"


def _load(target: Target, port: int, connections: int) -> LoadPlan:
    request = target.request
    load_target = LoadTarget(_url(target, port), request.method, request.headers, request.body)
    return LoadPlan(
        (load_target,), connections=connections, duration_s=SIDE_S, timeout_s=target.timeout_s
    )


async def _same_sample(target: Target, before_port: int, after_port: int) -> str:
    """ "" when one request gets the same status and body from both servers, else what
    differed."""
    before = await asyncio.to_thread(_fetch, target, before_port)
    after = await asyncio.to_thread(_fetch, target, after_port)
    if before[0] != after[0]:
        return f"status {before[0]} as served now, {after[0]} with the faster server"
    if before[1] != after[1]:
        return "the response body differs between the two servers"
    return ""


def _fetch(target: Target, port: int) -> tuple[int, bytes]:
    request = target.request
    sent = urllib.request.Request(
        _url(target, port),
        data=request.body or None,
        headers=dict(request.headers),
        method=request.method,
    )
    try:
        with urllib.request.urlopen(sent, timeout=target.timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def _side(result: EngineResult) -> Side:
    [tally] = result.tallies
    rps = tally.requests / result.wall_s if result.wall_s > 0 else 0.0
    return Side(rps, tally.durations_s)


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


EXPERIMENT = DefaultEventLoopExperiment()
