"""per-request-setup: the dependency that builds the object memoised through FastAPI's own
mechanism (`app.dependency_overrides[dependency] = cached`), the overrides put back after;
a plain function called by the route is memoised in its module instead. Only for a
function without parameters: a cache keyed on per-request values would not be the fix."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from perfaudit.agent.verify.base import Change, Refusal, Switch, Target
from perfaudit.agent.verify.experiments.memo import memoised
from perfaudit.agent.verify.patching import api_routes, defined_at, fastapi_app, function_at


class PerRequestSetupExperiment:
    finding_id = "per-request-setup"

    def prepare(self, target: Target) -> Change | Refusal:
        location = target.finding.location
        if location is None:
            return Refusal("the finding names no function")
        file = target.absolute(location.file)
        name = location.function
        dependency = _dependency(target.app, file, name)
        function = dependency or function_at(file, name, target.app_root)
        if function is None:
            return Refusal(f"{name}() is neither a dependency nor a module-level function")
        refusal = _refuse(function)
        if refusal:
            return Refusal(refusal)
        if dependency is not None:
            app = fastapi_app(target.app)
            return Change(f"the `{name}` dependency memoised", _overridden(app, dependency))
        return Change(f"`{name}` memoised", memoised(function, target.app_root))


def _dependency(app: Any, file: Path, name: str) -> Callable[..., Any] | None:
    for route in api_routes(app):
        for call in _calls(route.dependant):
            if defined_at(call, file, name):
                return call  # type: ignore[no-any-return]
    return None


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in getattr(dependant, "dependencies", ()):
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _refuse(function: Callable[..., Any]) -> str:
    unwrapped = inspect.unwrap(function)
    if inspect.iscoroutinefunction(unwrapped) or inspect.isasyncgenfunction(unwrapped):
        return "an async dependency: lru_cache would cache a coroutine, awaitable only once"
    if inspect.isgeneratorfunction(unwrapped):
        return "a generator dependency (yield): its teardown must run per request"
    if inspect.signature(unwrapped).parameters:
        return "it takes parameters: a cache would key on per-request values"
    return ""


def _overridden(app: Any, dependency: Callable[..., Any]) -> Callable[[], Any]:
    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        overrides: dict[Any, Any] = app.dependency_overrides
        saved = dict(overrides)
        cached = functools.lru_cache(maxsize=None)(dependency)

        def switch(on: bool) -> None:
            if on:
                overrides[dependency] = cached
            else:
                overrides.pop(dependency, None)
                if dependency in saved:
                    overrides[dependency] = saved[dependency]

        try:
            yield switch
        finally:
            overrides.clear()
            overrides.update(saved)
            cached.cache_clear()

    return apply


EXPERIMENT = PerRequestSetupExperiment()
