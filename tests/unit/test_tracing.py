from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import replace
from typing import Any

from fastapi import FastAPI

from perfaudit.agent.capture.tracing import RawStats, TracingCollector, to_function_stats
from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.analysis.context import RouteView
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.load.plan import RequestSpec
from perfaudit.model import (
    CallEvidence,
    CallRecord,
    CodeLocation,
    FunctionStats,
    RouteEvidence,
    RouteKey,
    RouteProfile,
)

REQUESTS = 5


def crunch_numbers(n: int) -> int:
    return sum(i * i for i in range(n))


async def crunch_async() -> int:
    return crunch_numbers(5_000)


async def awaits_often() -> int:
    for _ in range(22):
        await asyncio.sleep(0)  # each await suspends, each resumption is a "call"
    return 1


app = FastAPI()


@app.get("/sync-work")
def sync_work() -> dict[str, int]:  # a `def` route: FastAPI runs it on a worker thread
    return {"value": crunch_numbers(5_000)}


@app.get("/async-work")
async def async_work() -> dict[str, int]:
    return {"value": await crunch_async()}


@app.get("/awaits")
async def awaits() -> dict[str, int]:
    return {"value": await awaits_often()}


def profile_route(path: str) -> tuple[PhaseResult, RawStats]:
    result, raw, _ = profile_route_and_resumables(path)
    return result, raw


def profile_route_and_resumables(path: str) -> tuple[PhaseResult, RawStats, frozenset[Any]]:
    async def drive() -> tuple[PhaseResult, RawStats, frozenset[Any]]:
        driver = InProcessDriver(app, timeout_s=30.0)
        collector = TracingCollector()
        collector.start()
        try:
            result = await driver.run(RequestSpec("GET", path), count=REQUESTS)
        finally:
            raw = collector.stop()
        return result, raw, collector.resumable

    return asyncio.run(drive())


def by_name(functions: tuple[FunctionStats, ...], name: str) -> FunctionStats:
    found = [f for f in functions if f.function.name == name and f.function.file == __file__]
    assert len(found) == 1, (
        f"{name} not in the profile: {sorted(f.function.name for f in functions)}"
    )
    return found[0]


def test_sync_route_work_is_seen_on_its_worker_thread() -> None:
    result, raw = profile_route("/sync-work")
    functions = to_function_stats(raw, OwnerClassifier())

    assert result.status_counts == {"200": REQUESTS}
    work = by_name(functions, "crunch_numbers")
    assert work.owner == "app"
    assert work.calls == REQUESTS
    assert work.cumulative_s > 0
    endpoint = by_name(functions, "sync_work")
    assert endpoint.calls == REQUESTS
    assert endpoint.function in {edge.caller for edge in work.callers}


def test_async_route_work_is_seen() -> None:
    result, raw = profile_route("/async-work")
    functions = to_function_stats(raw, OwnerClassifier())

    assert result.errors == 0
    work = by_name(functions, "crunch_numbers")
    assert work.calls == REQUESTS
    assert by_name(functions, "crunch_async").function in {edge.caller for edge in work.callers}


def test_collector_stop_restores_the_thread_hooks() -> None:
    import anyio.to_thread

    original = anyio.to_thread.run_sync

    profile_route("/sync-work")

    assert anyio.to_thread.run_sync is original
    assert threading.getprofile() is None
    assert sys.getprofile() is None


def test_a_coroutine_s_resumptions_are_not_taken_for_calls() -> None:
    """Issue 16 #9: an endpoint awaiting 22 times showed "Calls/req 23.0"."""
    _, raw, resumable = profile_route_and_resumables("/awaits")
    functions = to_function_stats(raw, OwnerClassifier(), resumable)
    coroutine = by_name(functions, "awaits_often")
    assert coroutine.resumable
    assert coroutine.calls > REQUESTS  # what cProfile counts: every resumption
    plain = [f for f in functions if f.function.name == "init_headers"]  # starlette's `def`
    assert plain and not any(f.resumable for f in plain)

    profile = RouteProfile(RouteKey("GET", "/awaits"), "cprofile", REQUESTS, 1.0, functions)
    view = RouteView(profile.route, None, profile)
    assert view.calls_per_request(coroutine) is None  # not known without the calls phase
    counted = CallRecord(
        CodeLocation(__file__, coroutine.function.line, "awaits_often"),
        calls=REQUESTS, total_s=0.01, distinct_args=1, repeated_calls=REQUESTS - 1,
        same_result=True, coroutine=True,
    )  # fmt: skip
    evidence = RouteEvidence(profile.route, calls=CallEvidence(REQUESTS, (counted,)))
    assert replace(view, evidence=evidence).calls_per_request(coroutine) == 1.0
