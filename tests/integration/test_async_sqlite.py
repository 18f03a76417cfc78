"""aiosqlite runs SQLite in a thread of its own: its statements are recorded by SQLite's
trace callback there, and carry the app's call site, handed over with the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAST

pytestmark = pytest.mark.integration

APP = """
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from fastapi import FastAPI

DATABASE = Path(__file__).with_name("authors.db")


@asynccontextmanager
async def lifespan(app):
    db = await aiosqlite.connect(DATABASE)
    await db.execute("DROP TABLE IF EXISTS authors")
    await db.execute("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT)")
    await db.executemany("INSERT INTO authors VALUES (?, ?)", [(i, f"A{i}") for i in range(100)])
    await db.commit()
    app.state.db = db
    yield
    await db.close()


app = FastAPI(lifespan=lifespan)


async def names(db):
    found = []
    for author_id in range(30):
        async with db.execute("SELECT name FROM authors WHERE id = ?", (author_id,)) as cursor:
            found.append((await cursor.fetchone())[0])
    return found


@app.get("/authors")
async def authors():
    return await names(app.state.db)
"""


def test_an_aiosqlite_n_plus_one_is_found_at_its_line(perfaudit: Any, tmp_path: Path) -> None:
    (tmp_path / "aioapp.py").write_text(APP)

    result = perfaudit("profile", "aioapp:app", "/authors", "--app-dir", str(tmp_path), *FAST)

    assert result.code == 0, result.stderr
    first = result.report["findings"][0]
    assert first["id"] == "n-plus-one-queries"
    assert first["evidence"]["executions_per_request"] == 30
    query = next(n for n, line in enumerate(APP.splitlines(), 1) if 'db.execute("SELECT' in line)
    assert first["location"] == {"file": "aioapp.py", "line": query, "function": "names"}
