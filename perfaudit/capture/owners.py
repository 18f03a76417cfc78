"""Who owns a function: the user's app, the web framework, another library, the standard
library, perfaudit itself, or the event loop waiting for work ("idle")."""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

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


class OwnerClassifier:
    def __init__(self) -> None:
        paths = sysconfig.get_paths()
        self._site = tuple({paths["purelib"], paths["platlib"], *_site_dirs()})
        self._stdlib = tuple({paths["stdlib"], paths["platstdlib"]})
        # The `perfaudit` console script that started this process is ours too.
        self._entry_script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""

    @lru_cache(maxsize=8192)  # noqa: B019 - one classifier per run, bounded cache
    def owner(self, file: str, name: str) -> str:
        if file == "~":
            return _builtin_owner(name)
        if file.startswith(_PERFAUDIT_DIR) or file == self._entry_script:
            return "perfaudit"
        for root in self._site:
            if file.startswith(root):
                return _package_owner(file[len(root) :].lstrip("/").split("/", 1)[0])
        if file.startswith(self._stdlib) or file.startswith("<frozen"):
            return "stdlib"
        if file.startswith("<"):
            # Generated code ("<string>" from dataclasses, "<sqlalchemy generated …>"): no
            # source line of the user's to point at.
            return "library"
        return "app"


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
