"""`perfaudit attach --spawn CMD`: start the user's server, wait until it answers, and stop
it (by its PID, with its children) at the end, whatever happened in between.

The server runs in its own session so a Ctrl-C in the terminal reaches perfaudit only:
perfaudit decides when the server stops, after the report's samples are safe.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

from perfaudit.errors import TargetError, UsageError

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
POLL_S = 0.05
ANSWER_TIMEOUT_S = 1.0
LOG_TAIL_LINES = 12


@dataclass(frozen=True, slots=True)
class SpawnedServer:
    pid: int
    url: str  # where it answers, e.g. http://127.0.0.1:8000
    command: str


@contextlib.contextmanager
def spawned_server(
    command: str, url: str, *, start_timeout_s: float = START_TIMEOUT_S
) -> Iterator[SpawnedServer]:
    """Run `command` until the block ends; yield once a request to `url` gets an answer."""
    argv = _split(command)
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise TargetError(
                f"Could not start `{command}`: {exc.strerror or exc}.",
                remedy="Check the command (is it installed in this environment?).",
            ) from exc
        try:
            _wait_until_listening(process, url, start_timeout_s, log)
            yield SpawnedServer(process.pid, url, command)
        finally:
            stop(process)


def _split(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--spawn: {exc}.", remedy="Quote the command as a shell would.") from exc
    if not argv:
        raise UsageError("--spawn needs a command.", remedy='Pass --spawn "uvicorn main:app".')
    return argv


def _wait_until_listening(
    process: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]
) -> None:
    host, port = address_of(url)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise TargetError(
                f"The server exited with code {process.returncode} before it answered at {url}.",
                remedy="Run the command by hand to see why.",
                details=_tail(log),
            )
        if _answers(url, host, port):
            return
        if time.monotonic() > deadline:
            raise TargetError(
                f"The server did not answer at {url} within {timeout_s:g} s.",
                remedy="Pass the URL it listens on with --url (e.g. http://127.0.0.1:8000).",
                details=_tail(log),
            )
        time.sleep(POLL_S)


def address_of(url: str) -> tuple[str, int]:
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise UsageError(f"--url {url} is not an http:// URL.", remedy="Pass http://HOST:PORT.")
    return split.hostname, split.port or (443 if split.scheme == "https" else 80)


def _answers(url: str, host: str, port: int) -> bool:
    """An HTTP answer (any status) to a GET of `url`, not just an accepted connection:
    gunicorn's arbiter and `uvicorn --workers` bind the socket before any worker has
    imported the app, and connections wait in the backlog meanwhile. Over https, where
    speaking HTTP needs TLS, an accepted connection has to do."""
    split = urlsplit(url)
    try:
        with socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S) as sock:
            if split.scheme == "https":
                return True
            request = f"GET {split.path or '/'} HTTP/1.1\r\nHost: {split.netloc}\r\n"
            sock.sendall(f"{request}Connection: close\r\n\r\n".encode("latin-1"))
            return sock.recv(5) == b"HTTP/"
    except OSError:  # refused, or no answer yet (the timeout is an OSError too)
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (uvicorn's --workers, gunicorn's workers),
    SIGKILL if it outlives the grace period."""
    if process.poll() is not None:
        return
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)  # its own session: the group id is its PID


def _tail(log: IO[bytes]) -> str:
    """The server's last lines of output, to show beside the error."""
    log.seek(0)
    lines = log.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])
