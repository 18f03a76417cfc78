"""The app's long-lived containers, counted before and after the growth phase: what keeps
the memory that grows. tracemalloc says which line allocated it; only the container that
holds it says what to bound.

Watched: module globals of the app's modules that are lists, dicts, sets or deques (and
the containers one level inside such a dict), functools caches, class attributes of the
app's classes, attributes of module-level instances of them, app.state and the lifespan
state. Objects reachable some other way are not named (the line still is).
"""

from __future__ import annotations

import collections
import gc
import sys
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from perfaudit.agent.capture.memory import AppLines, assignment_line, function_span
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import CodeLocation, GrowingContainer

CONTAINER_TYPES = (list, dict, set, collections.deque, bytearray)
NEWEST_ITEMS = 20  # items whose allocation tracemalloc is asked for
NESTED_KEYS_LIMIT = 100  # a dict with more keys is data, not a registry of containers


@dataclass(frozen=True)
class _Watched:
    name: str
    kind: str
    type_name: str
    target: Any
    size: Callable[[], int]
    bound: int | None
    location: CodeLocation | None


def _size_of(obj: Any) -> Callable[[], int]:
    return lambda: len(obj)


def _cache_size(cached: Any) -> Callable[[], int]:
    return lambda: int(cached.cache_info().currsize)


def _is_container(value: Any) -> bool:
    return isinstance(value, CONTAINER_TYPES)


def _is_cache(value: Any) -> bool:
    return callable(value) and callable(getattr(value, "cache_info", None))


class ContainerWatch:
    def __init__(
        self, app: Any, state: dict[str, Any] | None, classifier: OwnerClassifier | None = None
    ) -> None:
        self._app = app
        self._state = state
        self._classifier = classifier or OwnerClassifier()
        self._watched: list[_Watched] = []
        self._before: list[int] = []

    def start(self) -> None:
        seen: set[int] = set()
        self._watched = []
        for watched in self._candidates():
            if id(watched.target) not in seen:
                seen.add(id(watched.target))
                self._watched.append(watched)
        self._before = [_safe(w.size) for w in self._watched]

    def grown(self, requests: int, lines: AppLines) -> tuple[GrowingContainer, ...]:
        """The watched containers that gained items since start(), most items first; call
        while tracemalloc still traces (it names the line that allocated their items)."""
        found = []
        for watched, before in zip(self._watched, self._before, strict=True):
            after = _safe(watched.size)
            if before < 0 or after <= before:
                continue
            found.append(
                GrowingContainer(
                    name=watched.name,
                    kind=watched.kind,
                    type_name=watched.type_name,
                    items_before=before,
                    items_after=after,
                    requests=requests,
                    bound=watched.bound,
                    location=watched.location,
                    allocated_at=_allocated_at(watched, lines),
                )
            )
        found.sort(key=lambda c: c.items_after - c.items_before, reverse=True)
        return tuple(found)

    def _candidates(self) -> Iterator[_Watched]:
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if not file or self._classifier.owner(file, "") != "app":
                continue
            for name, value in list(vars(module).items()):
                if not name.startswith("__"):
                    yield from self._module_global(module.__name__, file, name, value)
        state = getattr(getattr(self._app, "state", None), "_state", None)
        for label, holder in (("app.state", state), ("lifespan state", self._state)):
            if isinstance(holder, dict):
                for key, value in list(holder.items()):
                    yield from _watch(value, f"{label}[{key!r}]", label, None)

    def _module_global(self, module: str, file: str, name: str, value: Any) -> Iterator[_Watched]:
        path = f"{module}.{name}"
        where = CodeLocation(file, assignment_line(file, name), name)
        yield from _watch(value, path, "module-level", where)
        if isinstance(value, dict) and len(value) <= NESTED_KEYS_LIMIT:
            for key, item in list(value.items()):
                yield from _watch(item, f"{path}[{key!r}]", "module-level", where)
        if isinstance(value, type) and value.__module__ == module:
            where = CodeLocation(file, function_span(file, value.__qualname__), value.__qualname__)
            for attr, item in list(vars(value).items()):
                yield from _watch(item, f"{path}.{attr}", "class attribute", where)
        elif self._is_app_instance(value):
            for attr, item in list(vars(value).items()):
                yield from _watch(item, f"{path}.{attr}", "instance attribute", where)

    def _is_app_instance(self, value: Any) -> bool:
        if isinstance(value, type) or not hasattr(value, "__dict__"):
            return False
        module = sys.modules.get(type(value).__module__)
        file = getattr(module, "__file__", None)
        return isinstance(file, str) and self._classifier.owner(file, "") == "app"


def _watch(value: Any, name: str, kind: str, where: CodeLocation | None) -> Iterator[_Watched]:
    if _is_container(value):
        bound = getattr(value, "maxlen", None)
        yield _Watched(name, kind, type(value).__name__, value, _size_of(value), bound, where)
    elif _is_cache(value):
        maxsize = _safe(lambda: value.cache_info().maxsize)
        code = getattr(getattr(value, "__wrapped__", None), "__code__", None)
        if code is not None:
            where = CodeLocation(code.co_filename, code.co_firstlineno, code.co_name)
        bound = maxsize if maxsize >= 0 else None
        size = _cache_size(value)
        yield _Watched(f"{name}()", "lru_cache", "lru_cache", value, size, bound, where)


def _safe(size: Callable[[], Any]) -> int:
    """The size, or -1 when it cannot be read now (a worker thread mutating it, a cache
    without maxsize reports None)."""
    try:
        value = size()
    except Exception:  # any container of the app's may misbehave
        return -1
    return value if isinstance(value, int) else -1


def _allocated_at(watched: _Watched, lines: AppLines) -> CodeLocation | None:
    """The app line that allocated most of the container's newest items."""
    votes: Counter[CodeLocation] = Counter()
    for item in _newest(watched.target):
        traceback = _traceback(item)
        if traceback is not None:
            votes[lines.location_of(traceback)] += 1
    return votes.most_common(1)[0][0] if votes else None


def _newest(container: Any) -> list[Any]:
    try:
        if isinstance(container, dict):
            values = list(container.values())[-NEWEST_ITEMS:]
            keys = list(container)[-NEWEST_ITEMS:]
            return values + keys
        if isinstance(container, list | collections.deque):
            return list(container)[-NEWEST_ITEMS:]
        if isinstance(container, set):
            return list(container)[: NEWEST_ITEMS * 10]
    except RuntimeError:  # changed size while read (a worker thread)
        return []
    return []


def _traceback(item: Any) -> tracemalloc.Traceback | None:
    """Where `item` was allocated; for an object from a free list (a dict, a list, a
    tuple: allocated before tracing began, then reused), where its contents were."""
    traceback = tracemalloc.get_object_traceback(item)
    if traceback is not None:
        return traceback
    for referent in gc.get_referents(item)[:NEWEST_ITEMS]:
        traceback = tracemalloc.get_object_traceback(referent)
        if traceback is not None:
            return traceback
    return None
