"""What the app's own dependency file installs to serve it.

perfaudit runs where the developer works, often with `uvicorn[standard]` pulled in by
`fastapi[standard]`; the image that serves the app is built from the project's
requirements.txt or pyproject.toml, which may list plain `uvicorn`. That file, not this
environment, decides whether production runs on uvloop and httptools."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perfaudit.model import DeclaredServer

FILES = ("requirements.txt", "pyproject.toml")
# Extras that install uvicorn[standard] (uvloop and httptools) along with the package.
STANDARD_EXTRAS = {
    "uvicorn": {"standard"},
    "fastapi": {"standard", "all", "standard-no-fastapi-cloud-cli"},
}
REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def declared_server(module_dir: Path, app_root: Path) -> DeclaredServer | None:
    """The first dependency file that installs uvicorn, looking from the app module's
    folder up to the app's root; None when none does (the run's environment is then the
    best guess). A file that does not install uvicorn says nothing about the server."""
    for folder in _folders(module_dir.resolve(), app_root.resolve()):
        for name in FILES:
            path = folder / name
            if path.is_file():
                found = _declared_in(path, app_root)
                if found is not None:
                    return found
    return None


def _folders(start: Path, root: Path) -> Iterator[Path]:
    folder = start
    while True:
        yield folder
        if root not in folder.parents:  # at the root, or outside it
            return
        folder = folder.parent


def _declared_in(path: Path, app_root: Path) -> DeclaredServer | None:
    try:
        text = path.read_text(encoding="utf-8")
        lines = _requirements(text) if path.suffix == ".txt" else _pyproject_requirements(text)
    except (OSError, ValueError):  # ValueError: UnicodeDecodeError, TOMLDecodeError
        return None  # unreadable: it cannot tell, and the run must not fail over it
    parsed = [(line, *_parse(line)) for line in lines]
    server = next((p for p in parsed if _installs_uvicorn(p[1], p[2])), None)
    if server is None:
        return None
    names = {name for _, name, _ in parsed}
    standard = any(extras & STANDARD_EXTRAS.get(name, set()) for _, name, extras in parsed)
    shown = path.relative_to(app_root) if app_root in path.parents else path
    return DeclaredServer(
        file=str(shown),
        requirement=server[0],
        uvloop=standard or "uvloop" in names,
        httptools=standard or "httptools" in names,
    )


def _installs_uvicorn(name: str, extras: set[str]) -> bool:
    return name == "uvicorn" or bool(extras & STANDARD_EXTRAS.get(name, set()))


def _parse(requirement: str) -> tuple[str, set[str]]:
    """("uvicorn", {"standard"}) from "uvicorn[standard]>=0.30; python_version>'3.8'"."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        return "", set()
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    extras = {e.strip().lower() for e in (match.group(2) or "").split(",") if e.strip()}
    return name, extras


def _requirements(text: str) -> list[str]:
    """Requirement lines of a requirements.txt: no comments, options (-r, -e, --hash…) or
    blank lines."""
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def _pyproject_requirements(text: str) -> list[str]:
    """The runtime dependencies of a pyproject.toml: PEP 621's `[project] dependencies` and
    Poetry's `[tool.poetry.dependencies]` (extras written as a table); not dev groups."""
    document = _load_toml(text)
    project: Any = document.get("project", {})
    lines = [str(d) for d in project.get("dependencies", []) if isinstance(d, str)]
    poetry: Any = document.get("tool", {}).get("poetry", {}).get("dependencies", {})
    for name, spec in poetry.items() if isinstance(poetry, dict) else ():
        extras = spec.get("extras", []) if isinstance(spec, dict) else []
        lines.append(f"{name}[{','.join(map(str, extras))}]" if extras else str(name))
    return lines


def _load_toml(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 has no tomllib: a pyproject.toml says nothing
        raise ValueError("no TOML parser in this Python") from None
    return tomllib.loads(text)
