"""Find the live objects a finding names (a function by its file and name, the routes of
an endpoint, a dependency) and swap them for the length of an experiment, always putting
the originals back."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_WRAPPERS = 20


def modules_under(root: Path) -> list[ModuleType]:
    """The imported modules whose file lies under the app's folder."""
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and _under(Path(file), root):
            found.append(module)
    return found


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return ".venv" not in path.parts and "site-packages" not in path.parts


def defined_at(value: Any, file: Path, name: str) -> bool:
    code = getattr(inspect.unwrap(value), "__code__", None) if callable(value) else None
    if code is None or code.co_name != name.rsplit(".", maxsplit=1)[-1]:
        return False
    try:
        return Path(code.co_filename).resolve() == file
    except OSError:
        return False


def function_at(file: Path, name: str, root: Path) -> Any:
    """The module-level function `name` defined in `file`, or None."""
    for module in modules_under(root):
        value = vars(module).get(name.rsplit(".", maxsplit=1)[-1])
        if value is not None and defined_at(value, file, name):
            return value
    return None


def references(value: Any, root: Path) -> list[tuple[ModuleType, str]]:
    """Every module attribute under the app's folder bound to `value` (its own module's,
    and those of modules that did `from … import it`)."""
    return [
        (module, attr)
        for module in modules_under(root)
        for attr, bound in list(vars(module).items())
        if bound is value
    ]


@contextmanager
def rebound(places: list[tuple[Any, str]], value: Any) -> Iterator[None]:
    """Each `obj.attr` set to `value`, and back to what it was on exit."""
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in places]
    try:
        for obj, attr in places:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, original in saved:
            setattr(obj, attr, original)


def fastapi_app(app: Any) -> Any:
    """The FastAPI app (the one holding dependency_overrides), following `.app`."""
    for _ in range(MAX_WRAPPERS):
        if app is None or isinstance(getattr(app, "dependency_overrides", None), dict):
            return app
        app = getattr(app, "app", None)
    return None


def api_routes(app: Any) -> list[Any]:
    """Every route object with a FastAPI dependant, through included routers and mounts."""
    owner = app
    for _ in range(MAX_WRAPPERS):
        if owner is None or isinstance(getattr(owner, "routes", None), list):
            break
        owner = getattr(owner, "app", None)
    found: list[Any] = []
    _collect(list(getattr(owner, "routes", None) or []), found, set())
    return found


def _entries(routes: list[Any]) -> list[Any]:
    # FastAPI >= 0.137 keeps included routers nested; iter_route_contexts flattens them.
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return routes
    return list(iter_route_contexts(routes))


def _collect(entries: list[Any], found: list[Any], seen: set[int]) -> None:
    for entry in _entries(entries):
        route = getattr(entry, "original_route", None) or getattr(entry, "route", entry)
        if id(route) in seen:
            continue
        seen.add(id(route))
        if getattr(route, "dependant", None) is not None:
            found.append(route)
        children = getattr(route, "routes", None)
        if isinstance(children, list):
            _collect(children, found, seen)
