from __future__ import annotations

import asyncio
import sys
import threading

from fastapi import FastAPI

from perfaudit.agent.capture.tracing import RawStats, TracingCollector, to_function_stats
from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.load.plan import RequestSpec
from perfaudit.model import FunctionStats

REQUESTS = 5


def crunch_numbers(n: int) -> int:
    return sum(i * i for i in range(n))


async def crunch_async() -> int:
    return crunch_numbers(5_000)


app = FastAPI()


@app.get("/sync-work")
def sync_work() -> dict[str, int]:  # a `def` route: FastAPI runs it on a worker thread
    return {"value": crunch_numbers(5_000)}


@app.get("/async-work")
async def async_work() -> dict[str, int]:
    return {"value": await crunch_async()}


def profile_route(path: str) -> tuple[PhaseResult, RawStats]:
    async def drive() -> tuple[PhaseResult, RawStats]:
        driver = InProcessDriver(app, timeout_s=30.0)
        collector = TracingCollector()
        collector.start()
        try:
            result = await driver.run(RequestSpec("GET", path), count=REQUESTS)
        finally:
            raw = collector.stop()
        return result, raw

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
