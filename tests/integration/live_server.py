"""A real uvicorn server on 127.0.0.1 for tests: started on a free port, waited for until
it accepts connections, stopped by its PID at the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def served(self) -> int:
        """Requests load_target's app has answered (its /served counter)."""
        with urllib.request.urlopen(f"{self.url}/served", timeout=5) as response:
            return int(json.loads(response.read())["served"])

    def wait_until_served(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.served() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer {count} requests in time")
            time.sleep(0.05)

    def kill(self) -> None:
        """Stop it abruptly (a server dying mid-run)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(
    app: str = "tests.integration.load_target:app",
    *extra_args: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[LiveServer]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", *extra_args,
    ]  # fmt: skip
    environ = {**os.environ, **(env or {})}
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, env=environ)
    server = LiveServer(process, port)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_listening(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(server.address, 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"uvicorn did not listen on port {server.port} in {START_TIMEOUT_S} s")
