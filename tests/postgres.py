"""A private PostgreSQL server for tests: initdb into a temporary folder, started on
127.0.0.1 on a free port with trust auth, stopped and removed afterwards.

The server's commands run as the `postgres` user when the tests run as root (initdb refuses
root). A watchdog started beside the server stops it and removes its folder if the test
process dies without tearing down (SIGTERM, SIGKILL, CI's `kill 0`): the postmaster runs in
a session of its own, so nothing else would ever stop it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server here (apt-get install postgresql)")
    return found[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server's commands as its own user."""
    if os.geteuid() != 0:
        return command
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]


@dataclass(frozen=True)
class Postgres:
    """A throw-away PostgreSQL server: its binaries, data folder and port."""

    binaries: Path
    data: Path
    port: int

    def _ctl(self, *args: str) -> list[str]:
        return [str(self.binaries / "pg_ctl"), "-D", str(self.data), *args]

    def start(self) -> None:
        options = f"'-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1'"
        start = self._ctl("-l", str(self.data / "log"), "-w", "-o", options, "start")
        subprocess.run(_as_postgres(start), check=True, capture_output=True)

    def stop(self) -> None:
        stop = self._ctl("-m", "fast", "-w", "stop")
        subprocess.run(_as_postgres(stop), check=False, capture_output=True)

    def psql(self, *args: str) -> None:
        psql = [str(self.binaries / "psql"), "-h", "127.0.0.1", "-p", str(self.port)]
        subprocess.run([*psql, "-U", "postgres", *args], check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        """postgresql://postgres@127.0.0.1:PORT/DATABASE (trust auth: no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (lower case, digits, `_`; it must not exist yet:
        on a server shared by the session, name it after the test module) and return its URL."""
        if not DATABASE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain lower-case PostgreSQL name")
        try:
            self.psql("-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}")
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"CREATE DATABASE {name} failed: {error.stderr.decode()}") from None
        return self.url(name)


def _watchdog(server: Postgres) -> subprocess.Popen[bytes]:
    """A process that waits for its stdin to close (the test process closes it, or dies),
    then stops the server and removes its folder. It runs in a session of its own, so a
    Ctrl-C or `kill 0` aimed at the tests' process group does not stop it first."""
    fast, immediate = (
        shlex.join(_as_postgres(server._ctl("-m", mode, "-w", "stop")))
        for mode in ("fast", "immediate")
    )
    script = f"cat >/dev/null; {fast} || {immediate}; rm -rf {shlex.quote(str(server.data))}"
    return subprocess.Popen(
        ["/bin/sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A private server on a free port, trust auth; stopped and removed afterwards."""
    binaries = _postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="perfaudit-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    initdb = [str(binaries / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"]
    server = Postgres(binaries, data, port)
    watchdog = _watchdog(server)
    try:
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
        server.start()
        yield server
    finally:
        server.stop()
        assert watchdog.stdin is not None
        watchdog.stdin.close()  # the server is stopped: the watchdog's stop is a no-op
        watchdog.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
