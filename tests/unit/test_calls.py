"""The call tracer on real code: argument and result fingerprints, repeats, results that
change, what is left out of a fingerprint, coroutines, `def` endpoints on AnyIO's worker
threads, and the profile hooks put back as they were."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from perfaudit.agent.capture import calls
from perfaudit.agent.capture.calls import CallTracer, fingerprint
from perfaudit.agent.driver import InProcessDriver
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CallEvidence, CallRecord

# -- code the tracer watches (this file counts as the app's: it is not a library's) ----------


def shipping_rate(region: str, weight: int) -> float:
    return round(sum(i * 0.5 for i in range(200)) + len(region) + weight, 2)


def random_discount(code: str) -> float:
    return random.random()  # the same argument, a different result each time


def log_visit(page: str) -> None:
    return None


def total(prices: list[float]) -> float:
    return sum(prices)


def user_agent(request: Request, default: str) -> str:
    return request.headers.get("user-agent", default)


class Opaque:  # no __repr__: its repr is an address
    pass


def describe(thing: Opaque, label: str) -> str:
    return label


class Catalog:
    def price(self, sku: str) -> float:
        return len(sku) * 1.5


async def fetch_price(sku: str) -> float:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return len(sku) * 2.0


def countdown(n: int) -> Iterator[int]:
    yield from range(n)


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


def convert(money: Money) -> Money:
    return Money(money.amount * 2, money.currency)


# -- helpers -------------------------------------------------------------------------------


def traced(work: Callable[[], object]) -> CallEvidence:
    tracer = CallTracer(Path("."))
    tracer.start()
    try:
        work()
    finally:
        evidence = tracer.stop(1)
    assert evidence is not None
    return evidence


def record_of(evidence: CallEvidence, name: str) -> CallRecord:
    found = [r for r in evidence.functions if r.function.function == name]
    assert len(found) == 1, (
        f"{name} not traced: {[r.function.function for r in evidence.functions]}"
    )
    assert found[0].function.file == __file__
    return found[0]


# -- fingerprints --------------------------------------------------------------------------


def test_fingerprint_is_stable_and_tells_values_apart() -> None:
    assert fingerprint(("eu", 3)) == fingerprint(("eu", 3))
    assert fingerprint({"b": 2, "a": 1}) == fingerprint({"a": 1, "b": 2})
    assert fingerprint(("eu", 3)) != fingerprint(("eu", 4))
    assert fingerprint(Money(5, "EUR")) != fingerprint(Money(6, "EUR"))


def test_fingerprint_of_a_cut_value_still_differs_by_size_and_content() -> None:
    # Long containers are cut, but keep their length and items from all over them; long
    # strings are hashed whole.
    assert fingerprint(list(range(100))) != fingerprint(list(range(101)))
    table = {band: band * 1.5 for band in range(2_000)}
    changed_past_its_head = {band: rate if band < 100 else rate + 1 for band, rate in table.items()}
    assert fingerprint(table) == fingerprint(dict(table))
    assert fingerprint(table) != fingerprint(changed_past_its_head)
    long_a, long_b = "x" * 500 + "a", "x" * 500 + "b"
    assert fingerprint(long_a) != fingerprint(long_b)


def test_fingerprint_refuses_values_whose_repr_is_an_address() -> None:
    assert fingerprint(Opaque()) is None
    assert fingerprint([1, Opaque()]) is None
    assert fingerprint(print) is not None  # <built-in function print> is fine …
    assert fingerprint(lambda: 1) is None  # … a function's repr has an address


# -- repeats and results -------------------------------------------------------------------


def test_repeats_with_the_same_arguments_and_result_are_counted() -> None:
    def work() -> None:
        for _ in range(5):
            shipping_rate("eu", 2)
            shipping_rate("us", 2)
        shipping_rate("eu", 3)

    record = record_of(traced(work), "shipping_rate")

    assert record.calls == 11
    assert record.fingerprinted_calls == 11
    assert record.distinct_args == 3
    assert record.repeated_calls == 8
    assert record.same_result
    assert record.total_s > 0
    assert not record.coroutine
    assert not record.returns_none


def test_a_function_returning_random_values_is_not_the_same_result() -> None:
    record = record_of(
        traced(lambda: [random_discount("SPRING") for _ in range(5)]), "random_discount"
    )

    assert record.repeated_calls == 4
    assert not record.same_result


def test_a_function_returning_none_is_marked() -> None:
    record = record_of(traced(lambda: [log_visit("/home") for _ in range(3)]), "log_visit")

    assert record.returns_none
    assert record.same_result


def test_self_is_left_out_and_an_opaque_argument_is_named() -> None:
    a, b = Catalog(), Catalog()

    def work() -> None:
        a.price("SKU1")
        b.price("SKU1")
        describe(Opaque(), "x")
        describe(Opaque(), "x")

    evidence = traced(work)
    price = record_of(evidence, "price")
    assert price.repeated_calls == 1  # two instances, the same argument
    assert price.opaque_args == ()
    described = record_of(evidence, "describe")
    assert described.repeated_calls == 1
    assert described.opaque_args == ("thing: Opaque",)


def test_unhashable_arguments_are_named() -> None:
    record = record_of(traced(lambda: [total([1.0, 2.0]) for _ in range(3)]), "total")

    assert record.repeated_calls == 2
    assert record.unhashable_args == ("prices: list",)


def test_equal_dataclass_arguments_repeat() -> None:
    record = record_of(traced(lambda: [convert(Money(5, "EUR")) for _ in range(3)]), "convert")

    assert record.repeated_calls == 2
    assert record.same_result


def test_fingerprints_stop_after_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "MAX_FINGERPRINTED", 3)

    record = record_of(traced(lambda: [shipping_rate("eu", 1) for _ in range(10)]), "shipping_rate")

    assert record.calls == 10
    assert record.fingerprinted_calls == 3
    assert record.repeated_calls == 2


def test_only_the_apps_own_functions_are_traced() -> None:
    import json

    evidence = traced(lambda: [json.dumps({"a": 1}), list(countdown(3))])

    files = {r.function.file for r in evidence.functions}
    assert all("json" not in f for f in files)
    assert "countdown" not in {r.function.function for r in evidence.functions}  # a generator


def test_a_coroutine_is_one_call_however_often_it_awaits() -> None:
    async def work() -> None:
        for _ in range(3):
            await fetch_price("SKU1")

    record = record_of(traced(lambda: asyncio.run(work())), "fetch_price")

    assert record.coroutine
    assert record.calls == 3
    assert record.repeated_calls == 2
    assert record.same_result  # the awaited value, not what each suspension yielded


# -- a FastAPI app: `def` endpoints on worker threads, requests left out ---------------------

app = FastAPI()


@app.get("/rate")
def rate_route() -> dict[str, float]:  # `def`: FastAPI runs it on an AnyIO worker thread
    return {"rate": shipping_rate("eu", 2)}


@app.get("/agent")
async def agent_route(request: Request) -> dict[str, str]:
    return {"agent": user_agent(request, "unknown")}


def drive(path: str, count: int = 6) -> CallEvidence:
    async def run() -> CallEvidence:
        driver = InProcessDriver(app, timeout_s=30.0)
        await driver.run(RequestSpec("GET", path), count=3)  # the worker threads exist first
        tracer = CallTracer(Path("."))
        tracer.start()
        try:
            result = await driver.run(RequestSpec("GET", path), count=count)
        finally:
            evidence = tracer.stop(count)
        assert result.status_counts == {"200": count}
        assert evidence is not None
        return evidence

    return asyncio.run(run())


def test_def_endpoints_on_worker_threads_are_traced() -> None:
    evidence = drive("/rate")

    assert record_of(evidence, "rate_route").calls == 6
    work = record_of(evidence, "shipping_rate")
    assert work.calls == 6
    assert work.repeated_calls == 5
    assert work.same_result
    assert evidence.requests == 6
    assert evidence.wall_s > 0


def test_a_request_argument_is_left_out_and_named() -> None:
    record = record_of(drive("/agent"), "user_agent")

    assert record.context_args == ("request: Request",)
    assert record.repeated_calls == 5  # compared on `default` alone


# -- hooks ---------------------------------------------------------------------------------


def test_stop_restores_the_profile_hooks() -> None:
    import anyio.to_thread

    run_sync = anyio.to_thread.run_sync
    drive("/rate", count=2)

    assert sys.getprofile() is None
    assert threading.getprofile() is None
    assert anyio.to_thread.run_sync is run_sync


def test_stop_restores_a_hook_that_was_there_before() -> None:
    def earlier(frame: Any, event: str, arg: Any) -> None:
        return None

    sys.setprofile(earlier)
    threading.setprofile(earlier)
    try:
        traced(lambda: shipping_rate("eu", 1))
        assert sys.getprofile() is earlier
        assert threading.getprofile() is earlier
    finally:
        if sys.version_info >= (3, 12):  # the tracer gave it back to every thread
            threading.setprofile_all_threads(None)
        sys.setprofile(None)
        threading.setprofile(None)


def test_new_threads_are_traced() -> None:
    def work() -> None:
        thread = threading.Thread(target=shipping_rate, args=("eu", 1))
        thread.start()
        thread.join()

    assert record_of(traced(work), "shipping_rate").calls == 1


def test_stop_without_start_gives_nothing() -> None:
    assert CallTracer(Path(".")).stop(1) is None


def test_a_new_function_is_classified_outside_any_exception_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Code the classification sets off (a finaliser the GC runs) must not find our
    lookup's KeyError as the exception being handled: the app's own tracebacks would
    show perfaudit's frame, chained ("During handling of the above exception…")."""
    tracer = CallTracer(Path("."))
    handled: list[BaseException | None] = []
    classify = tracer._classify

    def spy(code: Any) -> Any:
        handled.append(sys.exc_info()[1])
        return classify(code)

    monkeypatch.setattr(tracer, "_classify", spy)
    tracer._profile(sys._getframe(), "call", None)

    assert handled == [None]
