"""Who owns a function: the user's app, the web framework, another library, the standard
library, perfaudit itself, or the event loop waiting for work ("idle")."""

from __future__ import annotations

import json
import os
import re
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

FRAMEWORK_PACKAGES = frozenset(
    {"fastapi", "starlette", "pydantic", "pydantic_core", "anyio", "sniffio", "uvicorn", "h11"}
)
# perfaudit's own machinery (the in-process driver needs no HTTP client, so an app's own
# httpx calls are the app's).
HARNESS_PACKAGES = frozenset({"perfaudit"})
# Built-ins in which the event loop waits for I/O: not time any request spent working.
# (select.poll and select.select are left out: subprocess and user code wait in them.)
# A thread parked on a lock (an idle worker thread: aiosqlite's, a thread pool's, the
# watchdog's) is waiting, not working: on Python 3.12+ cProfile sees every thread, and an
# idle one topped the hotspots with 65-100% "self time". A request that waits on a lock
# still shows it in its own function's cumulative time.
IDLE_BUILTINS = frozenset(
    {
        "<method 'poll' of 'select.epoll' objects>",
        "<method 'control' of 'select.kqueue' objects>",
        "<method 'acquire' of '_thread.lock' objects>",
        "<method 'acquire' of '_thread.RLock' objects>",
    }
)
_BUILTIN_MODULE = re.compile(r"<(?:built-in method |method '[^']+' of ')([A-Za-z_][\w.]*)")
_PERFAUDIT_DIR = str(Path(__file__).resolve().parents[1])
_CACHE_LIMIT = 16384


@dataclass(frozen=True, slots=True)
class AppScope:
    """Whose code a file is, beyond where it lies, once the app is imported.

    `own`: the folders (or files) of the target's own top-level packages, the app's even
    when installed into site-packages. `libraries`: (folder or file, package) of installed
    or framework packages loaded from outside site-packages: a library's source checkout
    the app runs beside (a framework's repository running its docs examples), an editable
    install. Without it everything under the app's folder would be "app"."""

    own: tuple[str, ...] = ()
    libraries: tuple[tuple[str, str], ...] = ()


_scope = AppScope()


def use_scope(scope: AppScope) -> None:
    """Classify by `scope` from now on (the agent's, after importing the target)."""
    global _scope  # noqa: PLW0603 - one app per agent process
    _scope = scope


class OwnerClassifier:
    def __init__(self) -> None:
        paths = sysconfig.get_paths()
        self._site = tuple({paths["purelib"], paths["platlib"], *_site_dirs()})
        self._stdlib = tuple({paths["stdlib"], paths["platstdlib"]})
        # The `perfaudit` console script that started this process is ours too.
        self._entry_script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        self._cache: dict[tuple[str, str], str] = {}
        self._cached_for = _scope

    def owner(self, file: str, name: str) -> str:
        if self._cached_for is not _scope or len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()  # made before the app's scope was known: decide again
            self._cached_for = _scope
        key = (file, name)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._owner(file, name, _scope)
        return found

    def _owner(self, file: str, name: str, scope: AppScope) -> str:
        if file == "~":
            return _builtin_owner(name)
        if file.startswith(_PERFAUDIT_DIR) or file == self._entry_script:
            return "perfaudit"
        if _under(file, scope.own):
            return "app"
        installed = self._installed_owner(file)
        if installed:
            return installed
        for root, package in scope.libraries:
            if _under(file, (root,)):
                return _package_owner(package)
        return "app"

    def _installed_owner(self, file: str) -> str:
        """The owner by where the file lies, or "" for a file outside what is installed."""
        for root in self._site:
            if file.startswith(root):
                return _package_owner(file[len(root) :].lstrip("/").split("/", 1)[0])
        if file.startswith(self._stdlib) or file.startswith("<frozen"):
            return "stdlib"
        if file.startswith("<"):
            # Generated code ("<string>" from dataclasses, "<sqlalchemy generated …>"): no
            # source line of the user's to point at.
            return "library"
        return ""


def scope_of(target_module: str) -> AppScope:
    """The scope of the app whose module `target_module` is imported: call after import."""
    own_top = target_module.partition(".")[0]
    provided = _provided_packages()
    own_names = {own_top} | {
        name for name, dists in provided.items() if dists & provided.get(own_top, set())
    }
    own: list[str] = []
    libraries: list[tuple[str, str]] = []
    installed = OwnerClassifier()
    for name, module in list(sys.modules.items()):
        root = _module_root(module) if "." not in name else None
        if root is None:
            continue
        if name in own_names:
            own.append(root)
        elif installed._owner(root, "", AppScope()) == "app" and _is_a_library(
            name, root, provided
        ):
            libraries.append((root, name))
    return AppScope(own=tuple(sorted(own)), libraries=tuple(sorted(libraries)))


def _is_a_library(package: str, root: str, provided: dict[str, set[str]]) -> bool:
    """A package outside site-packages is a library's when it is a web framework's, or an
    installed distribution of its own name (the app's `utils/` shadowing some wheel's
    top-level `utils` stays the app's), or an editable install whose source holds it."""
    if package in FRAMEWORK_PACKAGES:
        return True
    dists = provided.get(package, set())
    return _normalised(package) in {_normalised(d) for d in dists} or any(
        _editable_source_holds(d, root) for d in dists
    )


def _provided_packages() -> dict[str, set[str]]:
    try:
        return {top: set(dists) for top, dists in metadata.packages_distributions().items()}
    except Exception:  # a broken distribution's metadata must not stop the run
        return {}


def _editable_source_holds(distribution: str, root: str) -> bool:
    """PEP 610: an editable install records the folder it was installed from."""
    try:
        direct = json.loads(
            metadata.distribution(distribution).read_text("direct_url.json") or "{}"
        )
    except Exception:  # not installed from a URL, or unreadable metadata
        return False
    url = direct.get("url", "") if isinstance(direct, dict) else ""
    editable = isinstance(direct, dict) and (direct.get("dir_info") or {}).get("editable") is True
    source = unquote(url.removeprefix("file://")) if url.startswith("file://") else ""
    return editable and bool(source) and _under(root, (source,))


def _module_root(module: ModuleType | None) -> str | None:
    """The folder of a top-level package, or the file of a top-level module."""
    paths = list(getattr(module, "__path__", None) or [])
    if paths:
        return os.path.abspath(paths[0]) if len(paths) == 1 else None  # namespace: ambiguous
    file = getattr(module, "__file__", None)
    return os.path.abspath(file) if isinstance(file, str) else None


def _under(file: str, roots: tuple[str, ...]) -> bool:
    return any(file == root or file.startswith(root.rstrip("/") + "/") for root in roots)


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]


def _package_owner(top: str) -> str:
    top = top.removesuffix(".py")
    if top in HARNESS_PACKAGES:
        return "perfaudit"
    return "framework" if top in FRAMEWORK_PACKAGES else "library"


def _builtin_owner(name: str) -> str:
    if name in IDLE_BUILTINS:
        return "idle"
    match = _BUILTIN_MODULE.match(name)
    qualified = match.group(1) if match else ""
    if "." not in qualified:
        return "stdlib"  # a built-in function or a method of a built-in type (list.append)
    top = qualified.split(".")[0]
    if top == "_lsprof":
        return "perfaudit"  # cProfile's own enable/disable
    if top in FRAMEWORK_PACKAGES or top.lstrip("_") in FRAMEWORK_PACKAGES:
        return "framework"
    if top in sys.stdlib_module_names or top.lstrip("_") in sys.stdlib_module_names:
        return "stdlib"
    return "library"
