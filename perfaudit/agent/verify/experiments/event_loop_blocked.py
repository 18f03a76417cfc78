"""event-loop-blocked: the route's `async def` endpoint, which makes the blocking call,
run off the event loop: each call goes to a worker thread that owns an event loop of its
own and runs the endpoint's coroutine there, so the blocking call stalls that thread only.
The route's `dependant.call` is swapped for the wrapper (every route serving the same
endpoint), and put back after; the threads and their loops are closed. It is judged by
what the finding claims, the wait of an unrelated request meanwhile, not by the route's
own throughput (one request at a time, that cannot change)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from perfaudit.agent.routes import discover_routes
from perfaudit.agent.verify.base import Change, Refusal, Switch, Target
from perfaudit.agent.verify.patching import api_routes, defined_at


class EventLoopBlockedExperiment:
    finding_id = "event-loop-blocked"

    def prepare(self, target: Target) -> Change | Refusal:
        info = discover_routes(target.app).route_for(target.request.method, target.request.path)
        if info is None or info.endpoint_location is None:
            return Refusal("the route's endpoint is not a Python function perfaudit can find")
        if info.endpoint_async is not True:
            return Refusal("the endpoint is `def`: FastAPI already runs it in a worker thread")
        location = info.endpoint_location
        file = target.absolute(location.file)
        routes = [
            route
            for route in api_routes(target.app)
            if defined_at(route.dependant.call, file, location.function)
        ]
        if not routes:
            return Refusal(f"no route's dependant calls {location.function}()")
        threads = max(target.concurrency, 1)
        return Change(
            f"the `{location.function}` endpoint run in a worker thread with its own event loop",
            offloaded(routes, threads),
            measures_others=True,  # the finding: other requests wait while it blocks
        )


def offloaded(routes: list[Any], threads: int) -> Callable[[], Any]:
    """Each route's endpoint (`route.dependant.call`) replaced by a wrapper that, while
    switched on, awaits it in one of `threads` worker threads, each with its own loop."""

    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        saved = [(route.dependant, route.dependant.call) for route in routes]
        loops = _ThreadLoops()
        executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="perfaudit-verify", initializer=loops.start
        )
        on = [False]

        def wrap(endpoint: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
            @functools.wraps(endpoint)
            async def wrapper(**values: Any) -> Any:
                if not on[0]:
                    return await endpoint(**values)
                context = contextvars.copy_context()  # what the endpoint would have seen
                work = functools.partial(context.run, loops.run, endpoint, values)
                return await asyncio.get_running_loop().run_in_executor(executor, work)

            return wrapper

        def switch(value: bool) -> None:
            on[0] = value

        try:
            for dependant, endpoint in saved:
                dependant.call = wrap(endpoint)
            yield switch
        finally:
            for dependant, endpoint in saved:
                dependant.call = endpoint
            executor.shutdown(wait=True, cancel_futures=True)
            loops.close()

    return apply


class _ThreadLoops:
    """One event loop per worker thread, made when the thread starts."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._local.loop = loop
        with self._lock:
            self._loops.append(loop)

    def run(self, endpoint: Callable[..., Coroutine[Any, Any, Any]], values: dict[str, Any]) -> Any:
        loop: asyncio.AbstractEventLoop = self._local.loop
        return loop.run_until_complete(endpoint(**values))

    def close(self) -> None:
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()


EXPERIMENT = EventLoopBlockedExperiment()
