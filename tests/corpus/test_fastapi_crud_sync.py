"""testdrivenio/fastapi-crud-sync @ d0e0b644, src: FastAPI 0.87, pydantic v1, SQLAlchemy
1.4, on Python 3.10 — run through the agent, in the project's own old stack."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.corpus.conftest import audit, checkout, venv

pytestmark = pytest.mark.corpus
COMMIT = "d0e0b644bd914b63da95600c81a29c18825295ec"
SEED = """
from app.db import SessionLocal
from app.api.models import Note
session = SessionLocal()
session.add_all(Note(title=f"title {i}", description=f"note number {i}") for i in range(2000))
session.commit()
"""


def test_listing_2000_notes_is_the_orm_and_serialisation_not_a_missing_type() -> None:
    repo = checkout("testdrivenio/fastapi-crud-sync", COMMIT)
    python = venv(
        "fastapi-crud-sync", "3.10", "SQLAlchemy==1.4.41", "fastapi==0.87.0",
        "uvicorn==0.20.0", "httpx==0.23.1", "anyio<4",
    )  # fmt: skip
    src = repo / "src"
    env = {"DATABASE_URL": "sqlite:///./notes.db"}
    (src / "notes.db").unlink(missing_ok=True)
    subprocess.run(
        [str(python), "-c", "import app.main\n" + SEED], cwd=src, env={**os.environ, **env},
        check=True,
    )  # fmt: skip

    result = audit(src, python, "app.main:app", "GET /notes/", "-n", "20", env=env)

    assert result.code == 0, result.stderr
    assert result.report["environment"]["pydantic"].startswith("1.")
    first = result.first()
    assert first["id"] in ("slow-serialization", "cpu-hotspot"), first
    advice = result.advice()
    assert "no declared type" not in advice  # it declares response_model=List[NoteDB]
    assert "in Rust, several times faster" not in advice  # pydantic v1 has no Rust core
    for finding in result.findings:
        location = finding["location"] or {}
        assert "perfaudit" not in location.get("file", ""), finding
    cached = [f for f in result.findings if "lru_cache" in f["suggestion"]]
    assert not cached, cached  # get_all(db_session: Session) is per-request state
    # get_all() runs Query.all() once per request: less data, not "call it less often".
    assert "call it less often" not in advice
