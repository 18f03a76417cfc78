"""fastapi/full-stack-fastapi-template @ f459c20a, backend: SQLModel on PostgreSQL (psycopg 3),
a JWT login, `GET /api/v1/items/` for the first superuser. Expected: whatever is true,
explained; nothing wrong; with the database down, why every request failed and no other
finding."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.conftest import audit, checkout, venv
from tests.postgres import Postgres, postgres

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
    # The memory phase, after the probe's stalled pool: SQLModel's and pydantic's caches
    # settle, nothing grows with the requests.
    [memory] = result.report["memory"]
    assert memory["requests"] >= 4, memory
    assert not {"memory-growth", "allocation-heavy"} & {f["id"] for f in result.findings}


def test_under_load_the_small_pool_and_the_threadpool_stall_each_other(backend: tuple) -> None:  # type: ignore[type-arg]
    """Issue 18, seen here first: at the probe's 60 requests (def routes: the threadpool's
    40 + 20), CurrentUser's `def` lookup checks a connection out and the `def` endpoint
    then waits for a thread while holding it; every thread waits for a connection from the
    pool of 5 + 10. No request completes until the pool's 30 s timeout."""
    folder, python, env, _ = backend
    auth = f"Authorization: Bearer {env['PERFAUDIT_TEST_TOKEN']}"

    result = audit(folder, python, "app.main:app", ITEMS, "-H", auth, "-n", "20", env=env)

    pool = next(f for f in result.findings if f["id"] == "connection-pool-saturation")
    assert pool["severity"] == "high"
    assert pool["evidence"]["pool_size"] == 5 and pool["evidence"]["max_overflow"] == 10
    assert "≥ 40 + 15" in pool["suggestion"]
    assert "threadpool-saturation" not in {f["id"] for f in result.findings}


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
