"""The PostgreSQL sample apps (sample_apps/pg_*.py) start on a real server, seed their own
tables, and serve every route: each in uvicorn on 127.0.0.1, against the session's private
PostgreSQL, all four sharing one database (their tables' prefixes differ)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from tests.integration.conftest import REPO
from tests.integration.live_server import free_port, live_server
from tests.postgres import Postgres

pytestmark = pytest.mark.integration

Check = Callable[[Any], bool]
ROUTES: dict[str, list[tuple[str, int, Check]]] = {
    "pg_orders": [
        ("/customers/customer42@example.com/orders", 200,
         lambda body: len(body) == 20 and all(len(order["items"]) == 2 for order in body)),
        ("/customers/nobody@example.com/orders", 200, lambda body: body == []),
        ("/customers/42", 200, lambda body: body["email"] == "customer42@example.com"),
        ("/customers/999999", 404, lambda body: True),
    ],
    "pg_pool": [
        ("/reports/7", 200, lambda body: body["id"] == 7 and body["revenue"] > 0),
        ("/reports/7/sync", 200, lambda body: body["id"] == 7),
        ("/reports/999999", 404, lambda body: True),
    ],
    "pg_psycopg": [
        ("/tags/python/posts", 200,
         lambda body: len(body) == 25 and all(p["author"].startswith("Author ") for p in body)),
        ("/posts/7", 200, lambda body: body["id"] == 7),
        ("/posts/999999", 404, lambda body: True),
    ],
    "pg_clean": [
        ("/products/7", 200, lambda body: body["sku"] == "SKU-000007"),
        ("/products/sku/SKU-000042", 200, lambda body: body["id"] == 42),
        ("/categories/garden/products", 200,
         lambda body: len(body) == 20 and body == sorted(body, key=lambda p: p["price"])),
        ("/products/sku/none", 404, lambda body: True),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def database_url(postgres_server: Postgres) -> str:
    return postgres_server.create_database("sample_apps")


@pytest.mark.parametrize("app", sorted(ROUTES))
def test_the_app_serves_its_routes_on_postgresql(database_url: str, app: str) -> None:
    env = {"PERFAUDIT_PG_URL": database_url}
    with (
        live_server(f"sample_apps.{app}:app", env=env) as server,
        httpx2.Client(base_url=server.url, timeout=30) as client,
    ):
        for path, status, check in [
            *ROUTES[app],
            ("/health", 200, lambda b: b == {"status": "ok"}),
        ]:
            response = client.get(path)
            assert response.status_code == status, (path, response.text)
            assert check(response.json()), (path, response.text[:500])


def test_without_a_database_url_the_app_says_so_at_startup() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PERFAUDIT_PG_URL"}
    command = [sys.executable, "-m", "uvicorn", "sample_apps.pg_clean:app",
               "--host", "127.0.0.1", "--port", str(free_port())]  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "set PERFAUDIT_PG_URL to a database's URL" in result.stderr
