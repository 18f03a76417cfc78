"""fastapi-users/fastapi-users @ 9ef8cd82, examples/sqlalchemy: registration and login hash
passwords with Argon2 inside the library's own `async def` routes (pwdlib), on the loop."""

from __future__ import annotations

import pytest

from tests.corpus.conftest import audit, checkout, venv

pytestmark = pytest.mark.corpus
COMMIT = "9ef8cd82619856772ac06a178b114eb47c79586c"


@pytest.fixture(scope="module")
def app() -> tuple:  # type: ignore[type-arg]
    repo = checkout("fastapi-users/fastapi-users", COMMIT)
    python = venv(
        "fastapi-users", "3.11", f"{repo}[sqlalchemy]", "fastapi", "aiosqlite",
        "uvicorn[standard]", "httpx",
    )  # fmt: skip
    folder = repo / "examples" / "sqlalchemy"
    (folder / "test.db").unlink(missing_ok=True)  # created at startup
    return folder, python


def test_register_blocks_the_loop_in_the_library_s_password_hash(app: tuple) -> None:  # type: ignore[type-arg]
    folder, python = app
    # A distinct e-mail per request: the same one twice is refused with 400.
    body = '{"email": "u{n}@example.com", "password": "pw-123456"}'
    result = audit(folder, python, "app.app:app", "POST /auth/register", "-d", body, "-n", "20")

    assert result.code == 0, result.stderr
    assert result.report["routes"][0]["status_counts"] == {"201": 20}
    first = result.first()
    assert first["id"] == "event-loop-blocked"
    assert first["evidence"]["kind"] == "hash"
    assert "pwdlib" in first["title"] and "fastapi_users" in first["title"]
    assert "never cache" in first["suggestion"]
    assert "lru_cache" not in result.advice()


def test_login_blocks_the_loop_verifying_the_hash(app: tuple) -> None:  # type: ignore[type-arg]
    folder, python = app
    result = audit(
        folder, python, "app.app:app", "POST /auth/jwt/login",
        "--form", "username=u1@example.com", "--form", "password=pw-123456", "-n", "20",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    first = result.first()
    assert first["id"] == "event-loop-blocked"
    assert "verify" in first["title"]
    assert first["location"]["file"] == "fastapi_users/router/auth.py"
    assert "lru_cache" not in result.advice()
    # What runs after the response is the yield dependencies' teardown, not BackgroundTasks.
    assert not any("background tasks" in f["title"] for f in result.findings)
