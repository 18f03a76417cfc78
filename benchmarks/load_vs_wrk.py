"""perfaudit load's built-in engine against wrk, on the same uvicorn hello-world, in one run.

A load generator must not be the bottleneck: against one uvicorn worker on 127.0.0.1,
perfaudit's requests/s divided by wrk's should be at least 0.95. The server is pinned to
core 0 and each client to core 1 (taskset), so neither steals the other's CPU; the two
clients alternate round by round (their order rotating) and each ratio is taken per round
before the median, because this machine is shared and noisy. Each client's CPU per
request is measured from the kernel's accounting of its process (wait4), startup included.

The open model: at a fixed rate of 80% of the capacity perfaudit just measured, the rate
it achieved divided by the rate asked for (goal: within 2%).

    .venv/bin/python benchmarks/load_vs_wrk.py            # --seconds 5 --rounds 3 -c 50

Needs `wrk` (Debian: apt-get install wrk) and `taskset` (util-linux), on a machine with at
least 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
APP = "benchmarks.hello_app:app"


@dataclass(frozen=True)
class Run:
    rps: float
    cpu_s: float
    requests: int

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")


def main() -> None:
    args = _parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: apt-get install {tool}).")
    with _server(args.connections) as url:
        stack = _server_stack()
        print(f"server: uvicorn {stack} on core 0; clients on core 1; {args.connections} "
              f"connections, {args.seconds:g} s per run, {args.rounds} rounds")  # fmt: skip
        ratios, runs = _closed_rounds(url, args)
        _report_closed(ratios, runs)
        capacity = statistics.median(r.rps for r in runs["perfaudit"])
        _open_model(url, capacity * 0.8, args)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-c", "--connections", type=int, default=50)
    return parser.parse_args()


def _closed_rounds(url: str, args: argparse.Namespace) -> tuple[list[float], dict[str, list[Run]]]:
    clients = {"wrk": _wrk, "perfaudit": _perfaudit}
    runs: dict[str, list[Run]] = {name: [] for name in clients}
    ratios = []
    for round_no in range(args.rounds):
        order = list(clients) if round_no % 2 == 0 else list(reversed(clients))
        this_round = {name: clients[name](url, args.connections, args.seconds) for name in order}
        for name, run in this_round.items():
            runs[name].append(run)
        ratios.append(this_round["perfaudit"].rps / this_round["wrk"].rps)
        print(f"round {round_no + 1}: " + ", ".join(
            f"{name} {run.rps:,.0f} req/s ({run.cpu_us_per_request:.0f} µs CPU/request)"
            for name, run in this_round.items()
        ))  # fmt: skip
    return ratios, runs


def _report_closed(ratios: list[float], runs: dict[str, list[Run]]) -> None:
    print()
    for name, client_runs in runs.items():
        rps = [r.rps for r in client_runs]
        cpu = [r.cpu_us_per_request for r in client_runs]
        print(f"{name:>9}: median {statistics.median(rps):,.0f} req/s "
              f"(min {min(rps):,.0f}, max {max(rps):,.0f}); client CPU per request: median "
              f"{statistics.median(cpu):.0f} µs")  # fmt: skip
    print(f"perfaudit / wrk requests/s: median of per-round ratios {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}; goal >= 0.95)")  # fmt: skip


def _open_model(url: str, rate: float, args: argparse.Namespace) -> None:
    report = _perfaudit_report(url, args.connections, args.seconds, rate=rate)
    load, route = report["load"], report["routes"][0]
    achieved = route["requests"] / load["wall_s"]
    late = load["late_requests"]
    print(f"\nopen model at {rate:,.0f} req/s (80% of perfaudit's closed-model median): "
          f"achieved {achieved:,.0f} req/s = {achieved / rate:.3f} of the target "
          f"(goal within 2%); late requests: {late}; p99 {route['latency_ms']['p99']:.2f} ms "
          f"corrected, {route['latency_uncorrected_ms']['p99']:.2f} ms uncorrected")  # fmt: skip


def _wrk(url: str, connections: int, seconds: float) -> Run:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    out, cpu_s = _run_measured(command)
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", out))
    requests = int(_search(r"(\d+) requests in", out))
    return Run(rps, cpu_s, requests)


def _perfaudit(url: str, connections: int, seconds: float) -> Run:
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "report.json"
        command = [
            "taskset", "-c", "1", sys.executable, "-m", "perfaudit", "load", url,
            "-c", str(connections), "--duration", f"{seconds:g}", "-q",
            "--json", str(report_path),
        ]  # fmt: skip
        _, cpu_s = _run_measured(command)
        report = json.loads(report_path.read_text())
    route, load = report["routes"][0], report["load"]
    return Run(route["requests"] / load["wall_s"], cpu_s, route["requests"])


def _perfaudit_report(url: str, connections: int, seconds: float, *, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "report.json"
        command = [
            "taskset", "-c", "1", sys.executable, "-m", "perfaudit", "load", url,
            "-c", str(connections), "--duration", f"{seconds:g}", "--rate", f"{rate:.0f}",
            "-q", "--json", str(report_path),
        ]  # fmt: skip
        _run_measured(command)
        report: dict[str, Any] = json.loads(report_path.read_text())
        return report


def _run_measured(command: list[str]) -> tuple[str, float]:
    """Its stdout and the CPU seconds it (and its children) used, from the kernel."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} exited with {process.returncode}")
    return out, usage.ru_utime + usage.ru_stime


def _search(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        sys.exit(f"unexpected output:\n{text}")
    return match.group(1)


def _server_stack() -> str:
    return f"--loop {_loop()} --http {_http()}"


def _loop() -> str:
    return "uvloop" if _installed("uvloop") else "asyncio"


def _http() -> str:
    return "httptools" if _installed("httptools") else "h11"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@contextlib.contextmanager
def _server(backlog: int) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        "taskset", "-c", "0", sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
        "--loop", _loop(), "--http", _http(), "--backlog", str(max(backlog * 2, 128)),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO)
    try:
        _wait_for(port)
        subprocess.run(  # warm the server up
            ["taskset", "-c", "1", "wrk", "-t1", "-c10", "-d1s", f"http://127.0.0.1:{port}/"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    sys.exit(f"uvicorn did not start on port {port}")


if __name__ == "__main__":
    main()
