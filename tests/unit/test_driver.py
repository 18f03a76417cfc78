"""The in-process driver on small raw ASGI apps: what it records, and that it stays in
control (progress, timeouts) whatever the handler does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.load.plan import RequestSpec

Scope = dict[str, Any]


async def respond(send: Any, status: int = 200, body: bytes = b"ok") -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def run(app: Any, **kwargs: Any) -> tuple[PhaseResult, list[int]]:
    ticks: list[int] = []
    driver = InProcessDriver(
        app, timeout_s=kwargs.pop("timeout_s", 5.0), on_tick=lambda: ticks.append(1)
    )
    result = asyncio.run(driver.run(RequestSpec("GET", "/"), **kwargs))
    return result, ticks


def test_records_every_request_and_its_status() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send, 201)

    result, _ = run(app, count=25, concurrency=4)
    assert result.requests == 25
    assert result.status_counts == {"201": 25}
    assert result.errors == 0


def test_cpu_bound_handler_does_not_starve_the_supervisor() -> None:
    """A handler that never awaits must not keep the driver from ticking (progress,
    timeouts and the hang guard's heartbeat all run on the tick)."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        end = time.perf_counter() + 0.003
        while time.perf_counter() < end:
            pass
        await respond(send)

    result, ticks = run(app, count=60)
    assert result.requests == 60
    assert len(ticks) >= 2


def test_background_time_is_measured_apart() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send)
        await asyncio.sleep(0.02)  # work after the response, like BackgroundTasks

    result, _ = run(app, count=3)
    assert all(b >= 0.015 for b in result.background_s)
    assert all(d < b for d, b in zip(result.durations_s, result.background_s, strict=True))


def test_exception_and_http_errors_are_sampled() -> None:
    calls = {"n": 0}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        calls["n"] += 1
        if calls["n"] % 2:
            await respond(send, 404, b'{"detail":"Not Found"}')
        else:
            raise LookupError("no such order")

    result, _ = run(app, count=4)
    assert result.errors == 4
    assert result.status_counts == {"404": 2, "500": 2}
    assert result.error_sample is not None
    assert result.error_sample.kind == "exception"  # preferred over an HTTP status
    assert "LookupError: no such order" in result.error_sample.message


def test_hung_request_times_out_and_the_route_is_given_up() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await asyncio.sleep(3600)

    result, _ = run(app, count=10, timeout_s=0.2)
    assert result.timeouts == 3
    assert result.gave_up
    assert result.requests == 0
    assert result.error_sample is not None and result.error_sample.kind == "timeout"


def test_second_receive_waits_for_the_response_like_a_connected_client() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        listener = asyncio.ensure_future(receive())
        await asyncio.sleep(0.01)
        seen.append("disconnected early" if listener.done() else "still connected")
        await respond(send)
        await listener

    result, _ = run(app, count=1)
    assert seen == ["still connected"]
    assert result.status_counts == {"200": 1}


def test_a_timed_out_request_s_teardown_waits_for_its_worker_thread() -> None:
    """Issue 16 #5: cancelling a request at its timeout ran its yield dependency's teardown
    (closing a SQLModel session) while its `def` endpoint still used that session in a
    worker thread: "IllegalStateChangeError" in the app's output, 5-11 times a run."""
    events: list[str] = []

    def endpoint() -> None:
        time.sleep(0.5)
        events.append("thread done")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await asyncio.to_thread(endpoint)
        finally:
            events.append("teardown")

    result, _ = run(app, count=1, timeout_s=0.2)

    assert result.timeouts == 1
    assert events == ["thread done", "teardown"]
    assert result.abandoned == 0


def test_a_request_that_never_finishes_is_cancelled_at_the_end_of_its_phase() -> None:
    unwound: list[bool] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            unwound.append(True)

    result, _ = run(app, count=1, timeout_s=0.2)

    assert result.timeouts == 1
    assert unwound == [True]
    assert result.abandoned == 0


def test_a_request_that_cannot_unwind_is_counted_as_abandoned() -> None:
    holding = [True]

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        while holding[0]:  # swallows cancellation, until the test lets go
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    async def go() -> tuple[PhaseResult, int]:
        driver = InProcessDriver(app, timeout_s=0.2)
        result = await driver.run(RequestSpec("GET", "/"), count=1)
        holding[0] = False  # leave nothing behind
        left = asyncio.all_tasks() - {asyncio.current_task()}
        for task in left:
            task.cancel()
        await asyncio.wait(left)
        return result, driver.abandoned

    result, abandoned = asyncio.run(go())

    assert result.abandoned == 1
    assert abandoned == 1
