"""nsidnev/fastapi-realworld-example-app @ 029eb77: asyncpg's pool with raw SQL through
aiosql, on PostgreSQL. `GET /api/articles` lists 20 articles and, per article, reads its
author, whether the user follows them, its tags, its favourites count and whether the user
favourited it: five N+1s, each found at its repository method, together most of the route,
none of them claiming the whole loop alone."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.conftest import audit, checkout, venv
from tests.postgres import postgres

pytestmark = pytest.mark.corpus
COMMIT = "029eb7781c60d5f563ee8990a0cbfb79b244538c"
ARTICLES = "GET /api/articles?limit=20"
# 20 users write 5 articles each with 3 of 6 tags, through the app's own API; prints the
# first user's token.
SEED = """
import random
from fastapi.testclient import TestClient
from app.main import app
random.seed(1)
tags = ["python", "fastapi", "sql", "async", "web", "db"]
with TestClient(app) as client:
    tokens = []
    for i in range(20):
        user = {"username": f"user{i}", "email": f"u{i}@example.com", "password": "password123"}
        tokens.append(client.post("/api/users", json={"user": user}).json()["user"]["token"])
    for i, token in enumerate(tokens):
        for j in range(5):
            article = {"title": f"Article {i}-{j}", "description": "d", "body": "body " * 50,
                       "tagList": random.sample(tags, 3)}
            client.post("/api/articles", headers={"Authorization": f"Token {token}"},
                        json={"article": article})
    print(tokens[0])
"""


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[Path, Path, dict[str, str]]]:
    repo = checkout("nsidnev/fastapi-realworld-example-app", COMMIT)
    python = venv(
        "fastapi-realworld-example-app", "3.10", "uvicorn==0.18.3", "fastapi==0.79.1",
        "pydantic[email,dotenv]==1.10.2", "passlib[bcrypt]==1.7.4", "bcrypt==3.2.2",
        "pyjwt==2.4.0", "databases==0.6.1", "asyncpg==0.26.0", "psycopg2-binary==2.9.3",
        "aiosql==6.2", "pypika==0.48.9", "alembic==1.8.1", "sqlalchemy<1.5",
        "python-slugify==6.1.2", "Unidecode==1.3.4", "loguru==0.6.0", "httpx==0.23.0",
        "requests",
    )  # fmt: skip
    with postgres() as server:
        url = server.create_database("rwdb").replace("postgres@", "postgres:postgres@")
        env = {
            "APP_ENV": "dev", "DATABASE_URL": url, "SECRET_KEY": "s" * 32,
            "PYTHONPATH": str(repo),
        }  # fmt: skip
        environ = {**os.environ, **env}
        subprocess.run(
            [str(python), "-m", "alembic", "upgrade", "head"], cwd=repo, env=environ, check=True
        )
        token = subprocess.run(
            [str(python), "-c", SEED], cwd=repo, env=environ, check=True,
            capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        env["PERFAUDIT_TEST_TOKEN"] = token
        yield repo, python, env


def test_the_article_list_s_five_n_plus_ones(backend: tuple) -> None:  # type: ignore[type-arg]
    repo, python, env = backend
    auth = f"Authorization: Token {env['PERFAUDIT_TEST_TOKEN']}"

    result = audit(repo, python, "app.main:app", ARTICLES, "-H", auth, env=env)

    assert result.code == 0, result.stderr
    repeated = [f for f in result.findings if f["id"] == "n-plus-one-queries"]
    assert {f["location"]["function"] for f in repeated} == {
        "get_user_by_username",
        "is_user_following_for_another_user",
        "get_tags_for_article_by_slug",
        "get_favorites_count_for_article_by_slug",
        "is_article_favorited_by_user",
    }
    assert all(f["evidence"]["driver"] == "asyncpg" for f in repeated)
    shares = [f["evidence"]["share_of_route_time"] for f in repeated]
    assert sum(shares) < 1.0  # one loop's time, shared: none claims all of it
    tags = next(f for f in repeated if f["location"]["function"] == "get_tags_for_article_by_slug")
    assert "FROM tags WHERE slug" not in tags["suggestion"]
    (split,) = result.report["waterfalls"]
    assert split["database_ms"] > 0.2 * split["request_ms"]
    # The memory phase on a real app (asyncpg's pool, pydantic v1, loguru): its caches and
    # the pool settle, nothing grows with the requests, and a 20-article page is no heavy
    # allocation.
    [memory] = result.report["memory"]
    assert memory["requests"] >= 4, memory
    assert not [f for f in result.findings if f["id"] in {"memory-growth", "allocation-heavy"}]
