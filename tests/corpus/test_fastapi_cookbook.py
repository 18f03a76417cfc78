"""PacktPublishing/FastAPI-Cookbook @ df208ed6, Chapter08/trip_platform: `GET /sleeping_sync`
runs `time.sleep(10)` inside `async def`, behind slowapi's 5 requests a minute."""

from __future__ import annotations

import pytest

from tests.corpus.conftest import audit, checkout, venv

pytestmark = pytest.mark.corpus
COMMIT = "df208ed6e150d3b24767f0d576e9cc6902a223ed"


def test_a_sleep_in_async_def_is_found_despite_the_rate_limit() -> None:
    repo = checkout("PacktPublishing/FastAPI-Cookbook", COMMIT)
    # The book's own pin (Chapter12's requirements): FastAPI 0.112+ rejects Path(enum=…).
    python = venv(
        "fastapi-cookbook", "3.11", "fastapi~=0.111.0", "uvicorn", "httpx", "babel",
        "pyinstrument", "slowapi", "sqlalchemy>=2",
    )  # fmt: skip
    folder = repo / "Chapter08" / "trip_platform"

    result = audit(folder, python, "app.main:app", "GET /sleeping_sync", "-n", "2")

    first = result.first()
    assert first["id"] == "event-loop-blocked", result.stdout[-3000:]
    assert first["location"]["file"] == "app/profiler.py"
    assert first["location"]["function"] == "sleeping_sync"
    assert first["evidence"]["blocking_call"] == "time.sleep"
    assert "asyncio.sleep" in first["suggestion"]
    assert "route-errors" not in {f["id"] for f in result.findings}  # not only 429s
    # Warm-up stopped early rather than spending slowapi's allowance.
    assert any("warm-up stopped" in note for note in result.report["notes"])
