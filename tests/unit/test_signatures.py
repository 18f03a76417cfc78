"""The app's functions' parameters, read from their source for advice to check."""

from __future__ import annotations

from pathlib import Path

from perfaudit.agent.capture.signatures import parameters

SOURCE = """
from fastapi import APIRouter
router = APIRouter()


@router.get("/notes/", response_model=list)
def read_all_notes(db_session: Session = Depends(get_db), *, limit: int = 50):
    return get_all(db_session)


async def read_items(session: SessionDep, skip, /, *rest, **options) -> None:
    pass
"""


def test_parameters_by_the_def_line_or_the_first_decorator_s(tmp_path: Path) -> None:
    source = tmp_path / "notes.py"
    source.write_text(SOURCE)
    expected = ("db_session: Session", "limit: int")

    assert parameters(str(source), 6, "read_all_notes") == expected  # the decorator's line
    assert parameters(str(source), 7, "read_all_notes") == expected
    assert parameters(str(source), 11, "read_items") == ("session: SessionDep", "skip")


def test_no_parameters_where_the_source_cannot_tell(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")

    assert parameters(str(broken), 1, "f") == ()
    assert parameters(str(tmp_path / "missing.py"), 1, "f") == ()
    assert parameters("<string>", 1, "f") == ()
