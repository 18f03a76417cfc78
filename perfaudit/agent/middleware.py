"""What the app's own middleware costs: the route measured through the whole app and with
the user's middleware removed, interleaved.

The app without its middleware is the same app object with a second middleware stack,
built from an empty `user_middleware` (Starlette's framework layers, the router and the
lifespan state stay as they are). The two stacks take turns in short rounds, alternating
which goes first, so a burst of machine noise lands on both alike; the original stack is
put back whatever happens.
"""

from __future__ import annotations

import inspect
import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CodeLocation, MiddlewareEvidence, MiddlewareLayer

ROUNDS = 6
WARMUP = 2  # unmeasured requests through the new stack first: its first call builds things
# The comparison fits in about this long (and well inside the run's hang guard, which
# hears no heartbeat meanwhile unless given `on_tick`): rounds shrink for slower routes,
# and a route too slow for even one request per round (~170 ms) is not compared: there,
# BaseHTTPMiddleware's machinery (a fraction of a millisecond a layer) is under 1% of a
# request, and a middleware's own work shows in the profile anyway.
MAX_PHASE_S = 2.0
MAX_WRAPPERS = 20


async def measure_middleware(
    app: Any,
    request: RequestSpec,
    *,
    state: dict[str, Any] | None,
    count: int,
    timeout_s: float,
    on_tick: Callable[[], None] | None = None,
) -> MiddlewareEvidence | None:
    """None when the app has no middleware of its own (or is not a Starlette app), or when
    the route does not answer or is too slow for the comparison to fit its budget."""
    inner = starlette_app(app)
    if inner is None or not inner.user_middleware:
        return None
    layers = tuple(describe_layer(m) for m in inner.user_middleware)
    driver = InProcessDriver(app, state=state, timeout_s=timeout_s, on_tick=on_tick)
    with _two_stacks(inner) as stacks:
        runs = await _alternate(driver, request, stacks, count, min(MAX_PHASE_S, timeout_s / 2))
    if not runs.with_s or not runs.without_s:
        return None
    return MiddlewareEvidence(
        layers=tuple(layer.name for layer in layers),
        with_s=tuple(runs.with_s),
        without_s=tuple(runs.without_s),
        details=layers,
        round_size=runs.round_size,
        with_after_s=tuple(runs.with_after_s),
        without_after_s=tuple(runs.without_after_s),
        errors_with=runs.errors_with,
        errors_without=runs.errors_without,
    )


def starlette_app(app: Any) -> Any:
    """The Starlette (or FastAPI) app itself, following `.app` through wrappers."""
    for _ in range(MAX_WRAPPERS):
        if app is None:
            return None
        if isinstance(getattr(app, "user_middleware", None), list) and callable(
            getattr(app, "build_middleware_stack", None)
        ):
            return app
        app = getattr(app, "app", None)
    return None


@dataclass(frozen=True, slots=True)
class _Stacks:
    app: Any
    with_middleware: Any
    without_middleware: Any

    def use(self, middleware: bool) -> None:
        self.app.middleware_stack = self.with_middleware if middleware else self.without_middleware


@contextmanager
def _two_stacks(inner: Any) -> Iterator[_Stacks]:
    """The app's own stack and one without its middleware; the original is restored on
    exit, even on error or cancellation (None stays None: the app builds it when it
    next serves a request, as it would have)."""
    original = inner.middleware_stack
    saved = inner.user_middleware
    try:
        with_stack = original if original is not None else inner.build_middleware_stack()
        inner.user_middleware = []
        without_stack = inner.build_middleware_stack()
        inner.user_middleware = saved
        yield _Stacks(inner, with_stack, without_stack)
    finally:
        inner.user_middleware = saved
        inner.middleware_stack = original


@dataclass
class _Runs:
    with_s: list[float] = field(default_factory=list)
    without_s: list[float] = field(default_factory=list)
    with_after_s: list[float] = field(default_factory=list)
    without_after_s: list[float] = field(default_factory=list)
    errors_with: int = 0
    errors_without: int = 0
    round_size: int = 0

    def add(self, middleware: bool, phase: PhaseResult) -> None:
        if middleware:
            self.with_s += phase.durations_s
            self.with_after_s += phase.background_s
            self.errors_with += phase.errors
        else:
            self.without_s += phase.durations_s
            self.without_after_s += phase.background_s
            self.errors_without += phase.errors


async def _alternate(
    driver: InProcessDriver, request: RequestSpec, stacks: _Stacks, count: int, budget_s: float
) -> _Runs:
    runs = _Runs()
    warmup = await _warm_up(driver, request, stacks, too_slow_s=budget_s / (2 * ROUNDS))
    if not warmup:
        return runs
    runs.round_size = _round_size(count, statistics.median(warmup), budget_s)
    for round_index in range(ROUNDS):
        # Alternate which stack goes first, so neither always runs right after the other.
        for middleware in (True, False) if round_index % 2 == 0 else (False, True):
            stacks.use(middleware)
            phase = await driver.run(request, count=runs.round_size, concurrency=1)
            runs.add(middleware, phase)
            if phase.gave_up:
                return runs
    return runs


async def _warm_up(
    driver: InProcessDriver, request: RequestSpec, stacks: _Stacks, *, too_slow_s: float
) -> list[float]:
    """Unmeasured requests: one through the app's own stack (warm already; it tells how
    slow the route is), then WARMUP through the new one. Nothing when the route does not
    answer or is too slow for its middleware's machinery to matter."""
    stacks.use(True)
    first = (await driver.run(request, count=1, concurrency=1)).durations_s
    if not first or first[0] > too_slow_s:
        return []
    stacks.use(False)
    durations = list(first) + list((await driver.run(request, count=WARMUP)).durations_s)
    return durations if len(durations) > WARMUP else []


def _round_size(count: int, request_s: float, budget_s: float) -> int:
    """`count` requests per stack in ROUNDS rounds, fewer when a slow route would take
    longer than the budget (a few still show a middleware's share of a slow route)."""
    wanted = math.ceil(count / ROUNDS)
    affordable = int(budget_s / (2 * ROUNDS * request_s)) if request_s > 0 else wanted
    return max(1, min(wanted, affordable))


def describe_layer(middleware: Any) -> MiddlewareLayer:
    """A `Middleware(cls, *args, **kwargs)` entry of `user_middleware`: its name, whether
    it is a BaseHTTPMiddleware (a decorator's dispatch function is named by the function),
    and where it is defined."""
    cls = getattr(middleware, "cls", middleware)
    options = getattr(middleware, "kwargs", None) or getattr(middleware, "options", None) or {}
    base_http = _is_base_http(cls)
    dispatch = options.get("dispatch") if base_http else None
    if dispatch is not None:
        return MiddlewareLayer(_name(dispatch), "base-http", _function_location(dispatch))
    kind = "base-http" if base_http else "asgi"
    return MiddlewareLayer(_name(cls), kind, _definition(cls))


def _is_base_http(cls: Any) -> bool:
    # By name, so perfaudit does not import Starlette to ask.
    return isinstance(cls, type) and any(
        klass.__name__ == "BaseHTTPMiddleware" and klass.__module__.startswith("starlette.")
        for klass in inspect.getmro(cls)
    )


def _name(obj: Any) -> str:
    return str(getattr(obj, "__name__", None) or type(obj).__name__)


def _function_location(func: Any) -> CodeLocation | None:
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return None
    return CodeLocation(code.co_filename, code.co_firstlineno, code.co_name)


def _definition(obj: Any) -> CodeLocation | None:
    """Where a class (or a middleware factory function) is defined."""
    if not isinstance(obj, type):
        return _function_location(obj)
    try:
        file = inspect.getsourcefile(obj)
        _, line = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None
    return CodeLocation(file, line, obj.__qualname__) if file else None
