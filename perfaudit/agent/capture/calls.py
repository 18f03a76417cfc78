"""The call tracer: for the app's own functions, calls, time, and argument and result
fingerprints, so the same expensive call repeated with the same arguments shows.

A Python-level profile hook (sys.setprofile) sees every call and return. Only the app's
functions are kept (decided once per code object, as the profile's owner classification
decides). Arguments are reduced to a hash of a bounded repr at the call, the result to one at
the return: no value is ever kept. The hook costs far more than cProfile, so it runs in a
phase of its own, on a few requests.

Threads: FastAPI runs `def` endpoints and dependencies on AnyIO's worker threads, which
exist before the tracer starts. On 3.12+ threading.setprofile_all_threads reaches them; on
3.11 nothing can, so each job handed to anyio.to_thread.run_sync installs the hook around
itself (as the cProfile collector does). Threads started meanwhile get it through
threading.setprofile on both.
"""

from __future__ import annotations

import dis
import inspect
import re
import reprlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import CallEvidence, CallRecord, CodeLocation

ProfileHook = Callable[[FrameType, str, Any], object]

# Arguments are fingerprinted for the first calls of each function only: enough to see
# repeats, and a helper called thousands of times per request stays cheap to trace.
MAX_FINGERPRINTED = 2_000
RECORDS_KEPT = 200
SKIPPED_PARAMS = frozenset({"self", "cls"})
# Class names (anywhere in the argument's MRO, lower-cased) of per-request state: a request,
# a database session or connection, a client. Caching a function that takes one is wrong.
CONTEXT_CLASSES = frozenset(
    {
        "httpconnection",
        "request",
        "websocket",
        "session",
        "asyncsession",
        "connection",
        "asyncconnection",
        "cursor",
        "engine",
        "asyncengine",
        "pool",
        "client",
        "asyncclient",
        "redis",
    }
)
# Generators and async generators return at every yield; tracing them as calls is noise.
NOT_CALLS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_CUT = 32  # items of a container kept in its fingerprint
_UNSEEN: Any = object()  # a code object not classified yet


class _Opaque(Exception):
    """A value whose repr is an address (or fails): it has no stable fingerprint."""


class _BoundedRepr(reprlib.Repr):
    """reprlib with every cut made visible: long containers keep their length and items
    spread over all of them, long strings and object reprs their length and hash."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxtuple = self.maxlist = self.maxarray = self.maxdict = _CUT
        self.maxset = self.maxfrozenset = self.maxdeque = _CUT
        self.maxlong = 64

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, list | tuple | dict) and len(x) > _CUT:
            # reprlib keeps only the head: a table that differs past its first rows would
            # look the same.
            items = list(x.items()) if isinstance(x, dict) else list(x)
            spread = super().repr1(items[:: len(items) // _CUT], level)
            return f"{type(x).__qualname__}#{len(x)}{spread}"
        text = super().repr1(x, level)
        return f"{text}#{len(x)}" if isinstance(x, set | frozenset) and len(x) > _CUT else text

    def repr_str(self, x: str, level: int) -> str:
        return f"str#{len(x)}#{hash(x)}" if len(x) > 64 else repr(x)

    def repr_instance(self, x: Any, level: int) -> str:
        name = type(x).__qualname__
        if isinstance(x, dict):  # subclasses (defaultdict, OrderedDict) are cut like dicts
            return f"{name}{self.repr_dict(x, level)}"
        if isinstance(x, list | tuple):
            return f"{name}{self.repr_list(list(x), level)}"
        text = repr(x)
        if _ADDRESS.search(text):
            raise _Opaque
        return f"{name}#{len(text)}#{hash(text)}" if len(text) > 200 else text


_BOUNDED = _BoundedRepr()


def fingerprint(value: object) -> int | None:
    """A hash of the value's bounded repr; None when it has no stable one."""
    try:
        return hash(_BOUNDED.repr(value))
    except Exception:  # _Opaque, or a __repr__ that fails: either way, no fingerprint
        return None


def _is_context(cls: type) -> bool:
    return any(base.__name__.lower() in CONTEXT_CLASSES for base in cls.__mro__)


@dataclass(slots=True)
class _Function:
    """What the tracer learns about one app function (mutable: the hook updates it)."""

    location: CodeLocation
    params: tuple[str, ...]
    coroutine: bool
    starts: frozenset[int]  # offsets where a coroutine begins (not resumes) …
    yields: frozenset[int]  # … and where it suspends (not returns)
    calls: int = 0
    total_s: float = 0.0
    fingerprinted: int = 0
    repeated: int = 0
    same_result: bool = True
    returns_none: bool = True
    results: dict[int, int | None] = field(default_factory=dict)  # arguments → first result
    context_args: dict[str, None] = field(default_factory=dict)
    opaque_args: dict[str, None] = field(default_factory=dict)
    unhashable_args: dict[str, None] = field(default_factory=dict)

    def arguments(self, frame: FrameType, context: Callable[[type], bool]) -> int:
        """The fingerprint of the frame's arguments, leaving out `self`, per-request state
        and values without a stable repr (their names are kept as evidence)."""
        values = frame.f_locals
        parts: list[tuple[str, int]] = []
        for name in self.params:
            value = values.get(name)
            kind = type(value)
            if context(kind):
                self.context_args[f"{name}: {kind.__name__}"] = None
                continue
            if kind.__hash__ is None:
                self.unhashable_args[f"{name}: {kind.__name__}"] = None
            digest = fingerprint(value)
            if digest is None:
                self.opaque_args[f"{name}: {kind.__name__}"] = None
            else:
                parts.append((name, digest))
        return hash(tuple(parts))

    def returned(self, arguments: int, result: object) -> None:
        self.fingerprinted += 1
        self.returns_none = self.returns_none and result is None
        digest = fingerprint(result)
        if arguments not in self.results:
            self.results[arguments] = digest
            return
        self.repeated += 1
        if digest is None or self.results[arguments] != digest:
            self.same_result = False

    def record(self) -> CallRecord:
        return CallRecord(
            function=self.location,
            calls=self.calls,
            total_s=self.total_s,
            distinct_args=len(self.results),
            repeated_calls=self.repeated,
            same_result=self.same_result,
            fingerprinted_calls=self.fingerprinted,
            context_args=tuple(self.context_args),
            opaque_args=tuple(self.opaque_args),
            unhashable_args=tuple(self.unhashable_args),
            coroutine=self.coroutine,
            returns_none=self.returns_none and self.fingerprinted > 0,
        )


@dataclass(frozen=True, slots=True)
class _Open:
    function: _Function
    arguments: int | None  # None: past MAX_FINGERPRINTED, only counted and timed
    started: float


class CallTracer:
    def __init__(self, app_root: Path) -> None:
        # Which functions are the app's is the owner classifier's call, as for the profile,
        # so that the tracer and the profile agree; the root itself is not needed for it.
        self._app_root = app_root
        self._classifier = OwnerClassifier()
        self._functions: dict[CodeType, _Function | None] = {}
        self._open: dict[int, _Open] = {}  # id(frame) → its call in progress
        self._context: dict[type, bool] = {}
        self._lock = threading.Lock()
        self._restore: list[Callable[[], None]] = []
        self._started = 0.0

    def start(self) -> None:
        """Start tracing (around the calls phase)."""
        previous_sys, previous_new = sys.getprofile(), threading.getprofile()
        self._restore.append(lambda: threading.setprofile(previous_new))
        if sys.version_info >= (3, 12):
            # Every running thread, AnyIO's idle workers included, gets the hook; they had
            # none before (perfaudit profiles in phases), so they get the caller's back.
            threading.setprofile_all_threads(self._profile)
            self._restore.append(lambda: threading.setprofile_all_threads(previous_sys))
        else:
            self._hook_worker_jobs()
            threading.setprofile(self._profile)
            sys.setprofile(self._profile)
            self._restore.append(lambda: sys.setprofile(previous_sys))
        self._started = time.perf_counter()

    def stop(self, requests: int) -> CallEvidence | None:
        if not self._restore:
            return None  # never started
        wall_s = time.perf_counter() - self._started
        for restore in reversed(self._restore):
            restore()
        self._restore.clear()
        with self._lock:
            seen = [fn for fn in self._functions.values() if fn is not None and fn.calls]
            seen.sort(key=lambda fn: fn.total_s, reverse=True)
            records = tuple(fn.record() for fn in seen[:RECORDS_KEPT])
        return CallEvidence(requests=requests, functions=records, wall_s=wall_s)

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        """The hook: called for every call and return in the process, so the common case
        (not the app's code, or a C call) returns after one comparison or lookup."""
        if event != "call" and event != "return":  # noqa: PLR1714 - cheaper than `in`
            return
        code = frame.f_code
        function = self._functions.get(code, _UNSEEN)
        if function is _UNSEEN:
            # Not inside `except KeyError`: whatever runs meanwhile (a finaliser the GC
            # calls) would show the app's traceback chained to our KeyError.
            function = self._classify(code)
        if function is None:
            return
        try:
            if event == "call":
                self._enter(function, frame)
            else:
                self._leave(function, frame, arg)
        except Exception:
            pass  # raising here would unset the hook, inside the app's code

    def _enter(self, function: _Function, frame: FrameType) -> None:
        if function.coroutine and frame.f_lasti not in function.starts:
            return  # a coroutine resuming after an await: the same call
        with self._lock:
            function.calls += 1
            fingerprinted = function.calls <= MAX_FINGERPRINTED
        arguments = function.arguments(frame, self._is_context) if fingerprinted else None
        self._open[id(frame)] = _Open(function, arguments, time.perf_counter())

    def _leave(self, function: _Function, frame: FrameType, result: object) -> None:
        if function.coroutine and frame.f_lasti in function.yields:
            return  # suspended at an await, not returned
        now = time.perf_counter()
        call = self._open.pop(id(frame), None)
        if call is None or call.function is not function:
            return  # it started before the tracer did
        with self._lock:
            function.total_s += now - call.started
            if call.arguments is not None:
                function.returned(call.arguments, result)

    def _classify(self, code: CodeType) -> _Function | None:
        function = _describe(code) if self._is_app(code) else None
        self._functions[code] = function
        return function

    def _is_app(self, code: CodeType) -> bool:
        file, name = code.co_filename, code.co_name
        if file.startswith("<") or name.startswith("<") or code.co_flags & NOT_CALLS:
            return False  # generated code, module bodies, comprehensions, lambdas, generators
        return self._classifier.owner(file, name) == "app"

    def _is_context(self, cls: type) -> bool:
        known = self._context.get(cls)
        if known is None:
            known = self._context[cls] = _is_context(cls)
        return known

    def _hook_worker_jobs(self) -> None:
        """Python 3.11: run each job handed to AnyIO's worker threads under the hook."""
        import anyio.to_thread

        original = anyio.to_thread.run_sync
        hook = self._profile

        def traced(func: Callable[..., Any]) -> Callable[..., Any]:
            def run_traced(*args: Any) -> Any:
                previous = sys.getprofile()
                sys.setprofile(hook)
                try:
                    return func(*args)
                finally:
                    sys.setprofile(previous)

            return run_traced

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await original(traced(func), *args, **kwargs)

        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        self._restore.append(lambda: setattr(anyio.to_thread, "run_sync", original))


def _describe(code: CodeType) -> _Function:
    flags = code.co_flags
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(flags & inspect.CO_VARARGS) + bool(flags & inspect.CO_VARKEYWORDS)
    params = tuple(name for name in code.co_varnames[:count] if name not in SKIPPED_PARAMS)
    coroutine = bool(flags & inspect.CO_COROUTINE)
    starts, yields = _coroutine_offsets(code) if coroutine else (frozenset(), frozenset())
    location = CodeLocation(code.co_filename, code.co_firstlineno, code.co_name)
    return _Function(location, params, coroutine, starts, yields)


def _coroutine_offsets(code: CodeType) -> tuple[frozenset[int], frozenset[int]]:
    """A coroutine's profile events fire at every resume ('call' at a RESUME) and every
    suspension ('return' at a YIELD_VALUE). RESUME 0 is its start; other RESUMEs follow
    an await. The offsets tell a first call and a final return from the rest."""
    starts: set[int] = set()
    yields: set[int] = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname == "RESUME" and instruction.arg == 0:
            starts.add(instruction.offset)
        elif instruction.opname == "YIELD_VALUE":
            yields.add(instruction.offset)
    return frozenset(starts), frozenset(yields)
