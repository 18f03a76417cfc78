"""Import `module:attr` (uvicorn's convention) and check that it is an ASGI app."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import perfaudit.agent
from perfaudit.capture.owners import OwnerClassifier, scope_of, use_scope
from perfaudit.errors import TargetError, UsageError
from perfaudit.model import CodeLocation

ASGIApp = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class LoadedApp:
    app: ASGIApp
    spec: str
    app_dir: Path
    module_dir: Path  # the folder of the module that defines the app


def load_app(spec: str, *, factory: bool = False, app_dir: Path = Path(".")) -> LoadedApp:
    module_name, attr_path = parse_spec(spec)
    root = app_dir.resolve()
    if not root.is_dir():
        raise UsageError(
            f"The app folder {app_dir} is not a directory.",
            remedy="Pass your project's folder (--app-dir; target.app_dir in a CI config).",
        )
    if str(root) not in sys.path[:1]:
        sys.path.insert(0, str(root))
    module = _import_module(module_name, root)
    use_scope(scope_of(module_name))  # what is the app's, now that its imports are known
    obj = _resolve_attr(module, module_name, attr_path)
    if factory:
        obj = _call_factory(obj, spec)
    _check_asgi(obj, spec, factory=factory)
    module_file = getattr(module, "__file__", None)
    module_dir = Path(module_file).parent if module_file else root
    return LoadedApp(app=obj, spec=spec, app_dir=root, module_dir=module_dir)


def parse_spec(spec: str) -> tuple[str, str]:
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise UsageError(
            f"'{spec}' is not a target.",
            remedy="Write module:attribute, for example main:app or myproject.api:app.",
        )
    return module_name, attr_path


def user_traceback(exc: BaseException) -> tuple[str, CodeLocation | None]:
    """The traceback of an exception trimmed to the user's own frames (no importlib,
    framework or perfaudit frames), and the innermost of those frames."""
    classifier = OwnerClassifier()
    every = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in every if classifier.owner(f.filename, f.name) == "app"]
    if not frames and isinstance(exc, SyntaxError) and exc.filename:
        # Not run, only compiled: the error's own file and line, not importlib's frames.
        return _syntax_error(exc)
    if not frames:  # the error is inside a library: show its frames rather than nothing
        frames = [f for f in every if classifier.owner(f.filename, f.name) != "perfaudit"]
    text = "".join(traceback.format_list(frames))
    text += "".join(traceback.format_exception_only(type(exc), exc))
    location = None
    if frames:
        last = frames[-1]
        location = CodeLocation(file=last.filename, line=last.lineno or 0, function=last.name)
    return text.rstrip(), location


def _syntax_error(exc: SyntaxError) -> tuple[str, CodeLocation]:
    text = "".join(traceback.format_exception_only(type(exc), exc))
    return text.rstrip(), CodeLocation(exc.filename or "", exc.lineno or 0, "<module>")


def _import_module(module_name: str, root: Path) -> Any:
    try:
        with _app_modules_first(root):
            return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise TargetError(
                f"Could not import module '{module_name}': there is no such module in {root} "
                "or on the Python path.",
                remedy="Run perfaudit from your project's folder, or name it (--app-dir; "
                "target.app_dir in a CI config).",
            ) from None
        if exc.name and not _in_project(exc.name, root):
            raise _not_installed(module_name, exc.name) from None
        raise _user_import_error(module_name, exc, root) from None
    except Exception as exc:
        raise _user_import_error(module_name, exc, root) from None


@contextlib.contextmanager
def _app_modules_first(root: Path) -> Iterator[None]:
    """While the app is imported, forget the standard-library modules perfaudit loaded
    whose names the app's own top-level files take (a router `profile.py`, which cProfile's
    `import profile` had taken; `statistics.py`): the app's `import profile` finds its own
    file, as it would under uvicorn. Put back after, for perfaudit's own later imports; the
    app keeps the modules it bound."""
    startup = perfaudit.agent.STARTUP_MODULES
    if startup is None:  # not the agent's process: nothing of ours to step aside for
        yield
        return
    taken = {
        name
        for name in list(sys.modules)
        if "." not in name
        and name not in startup
        and name in sys.stdlib_module_names
        and _module_file_in(root, name)
    }
    released = {
        name: module
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] in taken
    }
    for name in released:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(released)


def _module_file_in(root: Path, name: str) -> bool:
    """A module or regular package of that name (a folder without __init__.py is only a
    namespace portion: the standard library's module wins over it anyway)."""
    return (root / f"{name}.py").is_file() or (root / name / "__init__.py").is_file()


def _in_project(name: str, root: Path) -> bool:
    top = name.partition(".")[0]
    return (root / top).is_dir() or (root / f"{top}.py").is_file()


def _not_installed(module_name: str, missing: str) -> TargetError:
    """A package the app needs is not in this interpreter: the app is healthy, perfaudit
    runs it in the wrong Python."""
    return TargetError(
        f"Importing '{module_name}' needs '{missing}', which is not installed in "
        f"{sys.executable} (the Python perfaudit ran your app in).",
        remedy="Run it in the app's own interpreter: pass --python .venv/bin/python (the "
        "virtualenv your app is installed in), or activate that virtualenv first.",
    )


def _user_import_error(module_name: str, exc: Exception, root: Path) -> TargetError:
    text, location = user_traceback(exc)
    where = f" at {location.file}:{location.line}" if location else ""
    shadowed = _shadowed_by_the_app(exc, root)
    remedy = (
        f"Your {shadowed}.py has the name of a standard-library module the interpreter "
        f"loaded before your app, so `import {shadowed}` gives Python's, not yours: "
        f"rename your file (uvicorn would fail the same way)."
        if shadowed
        else "Fix the error in your app (its traceback is below) and run again."
    )
    return TargetError(
        f"Importing '{module_name}' raised {type(exc).__name__}: {exc}{where}.",
        remedy=remedy,
        details=text,
    )


def _shadowed_by_the_app(exc: Exception, root: Path) -> str:
    """The standard-library module an AttributeError or ImportError names, if the app has
    a file of that name (its own module lost to Python's), else ""."""
    if isinstance(exc, AttributeError):
        name = getattr(getattr(exc, "obj", None), "__name__", "")
    elif isinstance(exc, ImportError):
        name = exc.name or ""
    else:
        return ""
    top = name.partition(".")[0]
    return top if top in sys.stdlib_module_names and _module_file_in(root, top) else ""


def _resolve_attr(module: Any, module_name: str, attr_path: str) -> Any:
    obj = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            candidates = _app_like_names(module)
            hint = (
                f" Names in it that look like apps: {', '.join(candidates)}." if candidates else ""
            )
            raise TargetError(
                f"Module '{module_name}' has no attribute '{attr_path}'.{hint}",
                remedy="Point perfaudit at the variable that holds your app, e.g. main:app.",
            )
        obj = getattr(obj, part)
    return obj


def _app_like_names(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and _is_asgi_callable(value) and not inspect.isclass(value)
    )[:5]


def _call_factory(obj: Any, spec: str) -> Any:
    if not callable(obj):
        raise TargetError(
            f"'{spec}' is a {type(obj).__name__}, not a function, so --factory cannot call it.",
            remedy="Drop --factory, or point at the function that builds your app.",
        )
    try:
        return obj()
    except Exception as exc:
        text, location = user_traceback(exc)
        where = f" at {location.file}:{location.line}" if location else ""
        raise TargetError(
            f"The app factory '{spec}' raised {type(exc).__name__}: {exc}{where}.",
            remedy="Fix the error in your factory (its traceback is below) and run again.",
            details=text,
        ) from None


def _check_asgi(obj: Any, spec: str, *, factory: bool) -> None:
    if _is_asgi_callable(obj):
        return
    if not factory and inspect.isfunction(obj) and not _signature_takes(obj, 3):
        raise TargetError(
            f"'{spec}' is a function that takes no ASGI arguments, not an ASGI app.",
            remedy="If it builds and returns your app, add --factory.",
        )
    raise TargetError(
        f"'{spec}' is a {type(obj).__name__}, not an ASGI app.",
        remedy="Point perfaudit at your FastAPI() (or other ASGI) instance, e.g. main:app.",
    )


def _is_asgi_callable(obj: Any) -> bool:
    # Lenient on purpose: any callable taking (scope, receive, send) may be an ASGI app,
    # including wrapped or partial ones that are not `async def` themselves.
    return callable(obj) and not inspect.isclass(obj) and _signature_takes(obj, 3)


def _signature_takes(func: Any, count: int) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == count or any(p.kind is p.VAR_POSITIONAL for p in params)
