"""fastapi/full-stack-fastapi-template @ f459c20a, backend: SQLModel on PostgreSQL (psycopg 3),
a JWT login, `GET /api/v1/items/` for the first superuser. Expected: whatever is true,
explained; nothing wrong; with the database down, why every request failed and no other
finding."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus.conftest import audit, checkout, venv

pytestmark = pytest.mark.corpus
COMMIT = "f459c20a173cf629b3d57b5b2e2de290d96b5698"
ITEMS = "GET /api/v1/items/"
TOKEN = """
from fastapi.testclient import TestClient
from app.main import app
from app.core.config import settings
form = {"username": settings.FIRST_SUPERUSER, "password": settings.FIRST_SUPERUSER_PASSWORD}
print(TestClient(app).post("/api/v1/login/access-token", data=form).json()["access_token"])
"""
ROWS = """
INSERT INTO item (id, title, description, owner_id)
SELECT gen_random_uuid(), 'Item ' || g, 'Description of item number ' || g,
       (SELECT id FROM "user" LIMIT 1)
FROM generate_series(1, 200) g
"""


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
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
    server = Postgres(binaries, data, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[Path, Path, dict[str, str], Postgres]]:
    repo = checkout("fastapi/full-stack-fastapi-template", COMMIT)
    python = venv(
        "full-stack-fastapi-template", "3.11", "fastapi[standard]", "python-multipart>=0.0.27",
        "email-validator", "tenacity", "pydantic>2", "emails", "jinja2", "alembic", "httpx<1",
        "psycopg[binary]", "sqlmodel", "pydantic-settings", "sentry-sdk[fastapi]<3", "pyjwt",
        "pwdlib[argon2,bcrypt]",
    )  # fmt: skip
    folder = repo / "backend"
    with postgres() as server:
        env = {
            "POSTGRES_SERVER": "127.0.0.1", "POSTGRES_PORT": str(server.port),
            "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "changethis",
            "POSTGRES_DB": "app", "PYTHONPATH": str(folder),
        }  # fmt: skip
        server.psql("-c", "CREATE DATABASE app")
        environ = {**os.environ, **env}
        for step in (["-m", "alembic", "upgrade", "head"], ["app/initial_data.py"]):
            subprocess.run([str(python), *step], cwd=folder, env=environ, check=True)
        server.psql("-d", "app", "-c", ROWS)
        token = subprocess.run(
            [str(python), "-c", TOKEN], cwd=folder, env=environ, check=True,
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        env["PERFAUDIT_TEST_TOKEN"] = token
        yield folder, python, env, server


def test_listing_items_is_explained_with_nothing_wrong(backend: tuple) -> None:  # type: ignore[type-arg]
    folder, python, env, _ = backend
    auth = f"Authorization: Bearer {env['PERFAUDIT_TEST_TOKEN']}"

    result = audit(folder, python, "app.main:app", ITEMS, "-H", auth, "-n", "20", env=env)

    assert result.code == 0, result.stderr
    [route] = result.report["routes"]
    assert route["status_counts"] == {"200": 20}
    assert "route-errors" not in {f["id"] for f in result.findings}
    for finding in result.findings:  # read_items(session: SessionDep, …) is per-request state
        assert "lru_cache" not in finding["suggestion"], finding
        assert "perfaudit" not in str(finding["location"]), finding


def test_with_the_database_down_only_the_failure_is_reported(backend: tuple) -> None:  # type: ignore[type-arg]
    folder, python, env, server = backend
    auth = f"Authorization: Bearer {env['PERFAUDIT_TEST_TOKEN']}"
    server.stop()
    try:
        result = audit(folder, python, "app.main:app", ITEMS, "-H", auth, "-n", "20", env=env)
    finally:
        server.start()

    assert result.code == 3
    assert "Every request failed" in result.stderr
    assert {f["id"] for f in result.findings} <= {"route-errors", "measurement-quality"}
    first = result.first()
    assert "is the database (or the service it calls) running" in first["suggestion"]
    assert result.report["hotspots"] == []
