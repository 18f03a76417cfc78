"""client-per-request: the client, engine or connection the finding's function builds on
every request, built once and shared. The name the function calls it by (`AsyncClient`
after `from httpx import AsyncClient`, or `httpx.AsyncClient` through the module) is
rebound in the function's module only, to a factory that hands out one instance per set of
constructor arguments; while shared, the instance's `close`/`aclose`/`dispose` and context
manager exits do nothing (its class is swapped for a subclass that says so). Afterwards the
module is put back and each shared instance gets its own class back and is closed for real."""

from __future__ import annotations

import dis
import inspect
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from types import CodeType, ModuleType
from typing import Any

from perfaudit.agent.verify.base import Change, Refusal, Switch, Target
from perfaudit.agent.verify.patching import function_at, rebound
from perfaudit.analysis.constructors import CONSTRUCTORS, Constructor

CLOSERS = ("close", "aclose", "dispose")


class ClientPerRequestExperiment:
    finding_id = "client-per-request"

    def prepare(self, target: Target) -> Change | Refusal:
        location = target.finding.location
        if location is None:
            return Refusal("the finding names no function")
        label = str(target.finding.evidence.get("constructor", ""))
        constructor = next((c for c in CONSTRUCTORS if c.label == label), None)
        if constructor is None:
            return Refusal(f"no experiment for a {label or 'constructor'} per request")
        function = function_at(target.absolute(location.file), location.function, target.app_root)
        module = sys.modules.get(getattr(function, "__module__", ""), None)
        if function is None or module is None:
            return Refusal(f"{location.function}() is not a module-level function")
        found = constructor_names(function, module, constructor)
        if not found:
            return Refusal(
                f"{location.function}() does not call {label} by a name of its module "
                "(a library call builds it), so there is nothing to share"
            )
        name, attribute, build = found
        if not _shareable(build):
            return Refusal(f"{label} is built in C: its instances cannot be marked shared")
        called = f"{name}.{attribute}" if attribute else name
        return Change(
            f"one `{called}` shared across requests", shared(module, name, attribute, build)
        )


def constructor_names(
    function: Callable[..., Any], module: ModuleType, constructor: Constructor
) -> tuple[str, str, Callable[..., Any]] | None:
    """(global name, attribute or "", the constructor) as `function` calls it: a global bound
    to the constructor itself, or to a module holding it under an attribute it names."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    if not isinstance(code, CodeType):
        return None
    space = vars(module)
    for name, attribute in _global_reads(code):
        value = space.get(name)
        if attribute and isinstance(value, ModuleType):
            held = getattr(value, attribute, None)
            if held is not None and _is(held, constructor):
                return name, attribute, held
        elif not attribute and value is not None and _is(value, constructor):
            return name, "", value
    return None


def _global_reads(code: CodeType) -> Iterator[tuple[str, str]]:
    """(name, "") for each global the code reads, and (name, attribute) for `name.attribute`."""
    previous = ""
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_GLOBAL":
            previous = str(instruction.argval)
            yield previous, ""
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and previous:
            yield previous, str(instruction.argval)
            previous = ""
        else:
            previous = ""
    for const in code.co_consts:
        if isinstance(const, CodeType):  # a comprehension, a nested function
            yield from _global_reads(const)


def _is(value: Any, constructor: Constructor) -> bool:
    if inspect.isclass(value):
        if "__init__" not in constructor.names:
            return False
        # The profiler saw its `__init__` run, in the constructor's file (the class's
        # __module__ may be the package that re-exports it).
        init = getattr(value.__init__, "__code__", None)
        file = init.co_filename if isinstance(init, CodeType) else ""
    elif inspect.isfunction(value):
        if value.__name__ not in constructor.names:
            return False
        file = value.__code__.co_filename
    else:
        return False
    return file.replace("\\", "/").endswith(constructor.file_suffixes)


def _shareable(build: Callable[..., Any]) -> bool:
    return not inspect.isclass(build) or bool(build.__flags__ & (1 << 9))  # Py_TPFLAGS_HEAPTYPE


def shared(
    module: ModuleType, name: str, attribute: str, build: Callable[..., Any]
) -> Callable[[], Any]:
    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        pool = _Shared(build)
        on = [False]

        def factory(*args: Any, **kwargs: Any) -> Any:
            return pool.get(args, kwargs) if on[0] else build(*args, **kwargs)

        replacement: Any = factory
        if attribute:
            replacement = _ModuleWith(getattr(module, name), attribute, factory)

        def switch(value: bool) -> None:
            on[0] = value

        try:
            with rebound([(module, name)], replacement):
                yield switch
        finally:
            await pool.close()

    return apply


class _ModuleWith:
    """A module seen through one replaced attribute: everything else is the module's."""

    def __init__(self, module: ModuleType, attribute: str, value: Any) -> None:
        self._module = module
        self._attribute = attribute
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if name == self._attribute:
            return self._value
        return getattr(self._module, name)


class _Shared:
    """One instance per set of (hashable) constructor arguments; others are built fresh."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self.build = build
        self.instances: dict[Any, Any] = {}
        self.marked: list[tuple[Any, type]] = []  # (instance, its own class)
        self.lock = threading.Lock()  # `def` routes build from worker threads

    def get(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:
            return self.build(*args, **kwargs)
        with self.lock:
            instance = self.instances.get(key)
            if instance is None:
                instance = self.instances[key] = self.build(*args, **kwargs)
                self._mark(instance)
            return instance

    def _mark(self, instance: Any) -> None:
        own = type(instance)
        try:
            instance.__class__ = _shared_class(own)
        except TypeError:  # a layout that cannot take a subclass: left as it is
            return
        self.marked.append((instance, own))

    async def close(self) -> None:
        for instance, own in self.marked:
            instance.__class__ = own
        instances, self.instances, self.marked = list(self.instances.values()), {}, []
        for instance in instances:
            await _close(instance)


_CLASSES: dict[type, type] = {}


def _shared_class(own: type) -> type:
    """A subclass of `own` whose closing and context-manager methods do nothing (and whose
    `with`/`async with` hands back the instance itself)."""
    if own in _CLASSES:
        return _CLASSES[own]
    namespace: dict[str, Any] = {"__slots__": (), "__module__": own.__module__}

    def returns_self(self: Any) -> Any:
        return self

    async def returns_self_async(self: Any) -> Any:
        return self

    def nothing(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    async def nothing_async(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    for method in CLOSERS:
        original = getattr(own, method, None)
        if original is not None:
            is_async = inspect.iscoroutinefunction(original)
            namespace[method] = nothing_async if is_async else nothing
    if hasattr(own, "__enter__"):
        namespace |= {"__enter__": returns_self, "__exit__": nothing}
    if hasattr(own, "__aenter__"):
        namespace |= {"__aenter__": returns_self_async, "__aexit__": nothing_async}
    made: type = type(own)(own.__name__, (own,), namespace)
    _CLASSES[own] = made
    return made


async def _close(instance: Any) -> None:
    for method in ("aclose", "close", "dispose"):
        closer = getattr(instance, method, None)
        if callable(closer):
            result = closer()
            if inspect.isawaitable(result):
                await result
            return


EXPERIMENT = ClientPerRequestExperiment()
