"""The dependency rules of DESIGN §1, checked on the source: a stage imports only what it
may, and each third-party dependency enters through one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "perfaudit"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(stage: str) -> list[Path]:
    return sorted((PACKAGE / stage).rglob("*.py"))


def perfaudit_imports(path: Path) -> set[str]:
    return {name for name in imports_of(path) if name.startswith("perfaudit")}


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        ("model", ("perfaudit.model",)),
        ("analysis", ("perfaudit.model", "perfaudit.analysis")),
        ("formats", ("perfaudit.model", "perfaudit.fileio", "perfaudit.formats")),
        ("capture", ("perfaudit.model", "perfaudit.capture", "perfaudit.errors")),
    ],
)
def test_stage_imports_only_what_it_may(stage: str, allowed: tuple[str, ...]) -> None:
    for path in modules(stage):
        bad = {name for name in perfaudit_imports(path) if not name.startswith(allowed)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_model_uses_only_the_standard_library() -> None:
    import sys

    for path in modules("model"):
        third_party = {
            name
            for name in imports_of(path)
            if not name.startswith("perfaudit")
            and name.split(".")[0] not in sys.stdlib_module_names
        }
        assert not third_party, f"{path.name} imports {third_party}"


def test_nothing_imports_the_cli() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        assert not any(n.startswith("perfaudit.cli") for n in perfaudit_imports(path)), path


@pytest.mark.parametrize(
    ("dependency", "homes"),
    [
        (
            "rich",
            (
                "render/terminal.py",
                "render/compare.py",
                "render/verdict_terminal.py",
                "render/view.py",
                "cli/console.py",
            ),
        ),
        ("cProfile", ("agent/capture/tracing.py",)),
        ("typer", ("cli/",)),
        ("aiohttp", ("load/engine.py",)),
        ("locust", ()),  # only ever run as a subprocess: it monkey-patches with gevent
        ("gevent", ()),
    ],
)
def test_each_dependency_enters_through_one_place(dependency: str, homes: tuple[str, ...]) -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == dependency for name in imports_of(path))
    }
    strays = {user for user in users if not user.startswith(homes)}
    assert not strays, f"{dependency} imported by {strays}"
