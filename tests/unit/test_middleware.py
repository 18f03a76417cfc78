"""measure_middleware on small real apps: what it finds of the user's middleware, that it
measures the route with and without it, and that the app's own stack is always put back."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import statistics
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware
from unit_builders import session

from perfaudit.agent.middleware import _round_size, measure_middleware, starlette_app
from perfaudit.load.plan import RequestSpec
from perfaudit.model import MiddlewareEvidence, MiddlewareLayer, RouteEvidence, RouteKey, Session

CallNext = Callable[[Request], Awaitable[Response]]
PING = RequestSpec("GET", "/ping")


class StampMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-stamp"] = "1"
        return response


class PureAsgiMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def make_app(*, slow_middleware_s: float = 0.0) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def add_timing(request: Request, call_next: CallNext) -> Response:
        time.sleep(slow_middleware_s)  # a middleware that costs something measurable
        return await call_next(request)

    app.add_middleware(PureAsgiMiddleware)
    app.add_middleware(StampMiddleware)  # the outermost

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    return app


def measure(app: Any, request: RequestSpec = PING, **kwargs: Any) -> MiddlewareEvidence | None:
    options: dict[str, Any] = {"state": None, "count": 12, "timeout_s": 5.0, **kwargs}
    return asyncio.run(measure_middleware(app, request, **options))


def forget_cancelled_requests() -> None:
    """A request cancelled inside BaseHTTPMiddleware leaves a `call_next` coroutine that
    never ran (Starlette's doing); collect it now, quietly, rather than have its
    RuntimeWarning surface in whichever test runs when the garbage collector does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()


def started(app: FastAPI) -> FastAPI:
    """As after the app served its first request."""
    app.middleware_stack = app.build_middleware_stack()
    return app


def test_names_the_layers_outermost_first_with_kind_and_definition() -> None:
    evidence = measure(started(make_app()))

    assert evidence is not None
    assert evidence.layers == ("StampMiddleware", "PureAsgiMiddleware", "add_timing")
    stamp, pure, timing = evidence.details
    assert (stamp.kind, pure.kind, timing.kind) == ("base-http", "asgi", "base-http")
    assert stamp.location is not None and stamp.location.file == __file__
    assert stamp.location.function == "StampMiddleware"
    assert timing.location is not None and timing.location.function == "add_timing"


def test_measures_the_route_with_and_without_the_middleware_in_rounds() -> None:
    evidence = measure(started(make_app()), count=12)

    assert evidence is not None
    assert len(evidence.with_s) == len(evidence.without_s) == 12
    assert evidence.round_size == 2  # 12 requests each in 6 rounds
    assert len(evidence.with_after_s) == len(evidence.with_s)
    assert evidence.errors_with == evidence.errors_without == 0


def test_the_middleware_cost_shows_in_the_difference() -> None:
    # A relative comparison measured in one run: a 5 ms middleware on a sub-ms route.
    evidence = measure(started(make_app(slow_middleware_s=0.005)), count=12)

    assert evidence is not None
    # Medians, not min/max: one preempted request on a shared machine must not decide it.
    difference = statistics.median(evidence.with_s) - statistics.median(evidence.without_s)
    assert difference > 0.004


def test_the_app_stack_is_restored() -> None:
    app = started(make_app())
    stack, middleware = app.middleware_stack, app.user_middleware
    entries = list(middleware)

    measure(app)

    assert app.middleware_stack is stack
    assert app.user_middleware is middleware
    assert app.user_middleware == entries


def test_an_app_not_started_yet_is_left_unstarted() -> None:
    app = make_app()

    assert measure(app) is not None
    assert app.middleware_stack is None
    assert len(app.user_middleware) == 3


def test_the_stack_is_restored_when_the_measurement_is_cancelled() -> None:
    app = started(make_app())
    stack = app.middleware_stack

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(
            measure_middleware(app, PING, state=None, count=10_000, timeout_s=5.0)
        )
        await asyncio.sleep(0.05)
        assert app.middleware_stack is not None
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    forget_cancelled_requests()

    assert app.middleware_stack is stack
    assert len(app.user_middleware) == 3


def test_no_user_middleware_means_no_evidence() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    assert measure(app) is None


def test_an_app_that_is_not_starlette_means_no_evidence() -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    assert measure(raw) is None


def test_a_wrapped_app_is_followed_to_its_middleware() -> None:
    inner = started(make_app())
    outer = PureAsgiMiddleware(PureAsgiMiddleware(inner))
    stack = inner.middleware_stack

    evidence = measure(outer)

    assert starlette_app(outer) is inner
    assert evidence is not None and evidence.layers[0] == "StampMiddleware"
    assert inner.middleware_stack is stack


def test_lifespan_state_reaches_both_runs() -> None:
    app = make_app()

    @app.get("/greeting")
    async def greeting(request: Request) -> dict[str, str]:
        return {"text": request.state.greeting}

    evidence = measure(app, RequestSpec("GET", "/greeting"), state={"greeting": "hi"})

    assert evidence is not None
    assert evidence.errors_with == evidence.errors_without == 0


def test_a_route_that_needs_its_middleware_fails_without_it() -> None:
    app = FastAPI()

    class Auth(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: CallNext) -> Response:
            request.state.user = "ada"
            return await call_next(request)

    app.add_middleware(Auth)

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"user": request.state.user}

    evidence = measure(app, RequestSpec("GET", "/me"))

    assert evidence is not None
    assert evidence.errors_with == 0
    assert evidence.errors_without == len(evidence.without_s)


def test_rounds_shrink_for_a_slow_route() -> None:
    assert _round_size(60, 0.0001, 2.0) == 10
    assert _round_size(60, 0.05, 2.0) == 3  # 2 stacks x 6 rounds x 3 x 50 ms ≈ 2 s
    assert _round_size(60, 0.5, 2.0) == 1  # never fewer than one per round


def test_the_evidence_survives_a_saved_session() -> None:
    evidence = measure(started(make_app()))
    assert evidence is not None
    route = RouteEvidence(RouteKey("GET", "/ping"), middleware=evidence)
    saved = dataclasses.replace(session(), evidence=(route,))

    again = Session.from_json(saved.to_json()).evidence[0].middleware

    assert again == evidence
    assert again is not None and isinstance(again.details[0], MiddlewareLayer)


def test_a_route_that_never_answers_gives_no_evidence() -> None:
    app = started(make_app())
    stack = app.middleware_stack

    @app.get("/stuck")
    async def stuck() -> None:
        await asyncio.sleep(60)

    assert measure(app, RequestSpec("GET", "/stuck"), timeout_s=0.05) is None
    forget_cancelled_requests()
    assert app.middleware_stack is stack


def test_a_route_too_slow_for_middleware_to_matter_is_not_compared() -> None:
    app = make_app()

    @app.get("/report")
    async def report() -> dict[str, bool]:
        await asyncio.sleep(0.3)  # rounds of even one request would outlast the budget
        return {"done": True}

    assert measure(app, RequestSpec("GET", "/report")) is None
