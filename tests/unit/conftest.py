from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WriteModule = Callable[[str], str]


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[WriteModule]:
    """Write a module with a unique name into tmp_path and return its name. sys.path and
    sys.modules are restored afterwards, so tests never see each other's modules."""
    saved_path = list(sys.path)
    names: list[str] = []

    def write(source: str) -> str:
        name = f"usermod_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()
        names.append(name)
        return name

    yield write
    sys.path[:] = saved_path
    for name in names:
        sys.modules.pop(name, None)
