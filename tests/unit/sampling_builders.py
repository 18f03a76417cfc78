"""Sampling runs for unit tests: py-spy recordings of a live uvicorn (tests/fixtures/pyspy,
read with perfaudit's own raw parser), and hand-built stacks of the same shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from unit_builders import session

from perfaudit.capture.pyspy_raw import FrameOwners, parse_raw
from perfaudit.model import (
    EndpointRoute,
    ProcessSamples,
    RouteKey,
    RouteMeasurement,
    RouteProfile,
    SampledStack,
    SamplingRun,
    Session,
    StackFrame,
    ThreadSamples,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pyspy"
RECORDED_APP = "/srv/app"  # where the recorded app.py lived (paths rewritten when trimmed)
SITE = "/srv/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
RATE = 100


def recorded(name: str) -> SamplingRun:
    """A recording from tests/fixtures/pyspy, with the app's source lines filled in from
    the app.py kept beside it (the recorder reads them on the machine it records)."""
    lines = (FIXTURES / f"{name}.txt").read_text().splitlines()
    processes = parse_raw(lines, rate_hz=RATE, pid=4242, owners=FrameOwners(source=False))
    return run(*(_with_source(p) for p in processes))


def _with_source(process: ProcessSamples) -> ProcessSamples:
    source = (FIXTURES / "app.py").read_text().splitlines()

    def frame(f: StackFrame) -> StackFrame:
        return dataclasses.replace(f, code=source[f.line - 1].strip()) if f.owner == "app" else f

    def stack(s: SampledStack) -> SampledStack:
        return dataclasses.replace(s, frames=tuple(frame(f) for f in s.frames))

    threads = tuple(
        dataclasses.replace(t, stacks=tuple(stack(s) for s in t.stacks)) for t in process.threads
    )
    return dataclasses.replace(process, threads=threads)


def run(*processes: ProcessSamples, endpoints: Sequence[EndpointRoute] = ()) -> SamplingRun:
    return SamplingRun(
        tool="py-spy 0.4.3",
        pid=processes[0].pid if processes else 0,
        rate_hz=RATE,
        duration_s=3.0,
        idle_included=True,
        native=False,
        processes=processes,
        endpoints=tuple(endpoints),
    )


def attach_session(
    sampling: SamplingRun,
    *,
    profiles: Sequence[RouteProfile] = (),
    measurements: Sequence[RouteMeasurement] = (),
) -> Session:
    base = session(profiles=profiles, measurements=measurements)
    return dataclasses.replace(base, mode="attach", app_root=RECORDED_APP, sampling=sampling)


# --- hand-built stacks, in the shapes of the recordings (innermost frame first) ---


def app(function: str, line: int, code: str = "", module: str = "main.py") -> StackFrame:
    return StackFrame(f"{RECORDED_APP}/{module}", line, function, "app", code)


def fw(module: str, function: str, line: int) -> StackFrame:
    return StackFrame(f"{SITE}/{module}", line, function, "framework")


def lib(module: str, function: str, line: int) -> StackFrame:
    return StackFrame(f"{SITE}/{module}", line, function, "library")


def std(module: str, function: str, line: int) -> StackFrame:
    return StackFrame(f"{STDLIB}/{module}", line, function, "stdlib")


LOOP_BASE = (
    std("asyncio/events.py", "Handle._run", 80),
    std("asyncio/base_events.py", "BaseEventLoop._run_once", 1922),
    std("asyncio/base_events.py", "BaseEventLoop.run_forever", 607),
    std("asyncio/runners.py", "Runner.run", 118),
    fw("uvicorn/server.py", "Server.run", 86),
)
REQUEST = (
    fw("fastapi/routing.py", "get_request_handler.<locals>.app", 762),
    fw("fastapi/routing.py", "request_response.<locals>.app.<locals>.app", 161),
    fw("starlette/routing.py", "Route.handle", 289),
    fw("starlette/applications.py", "Starlette.__call__", 96),
    fw("uvicorn/protocols/http/h11_impl.py", "RequestResponseCycle.run_asgi", 411),
    *LOOP_BASE,
)
ON_LOOP = (fw("fastapi/routing.py", "run_endpoint_function", 381), *REQUEST)
IN_DEPENDENCY = (fw("fastapi/dependencies/utils.py", "solve_dependencies", 699), *REQUEST)
LOOP_IDLE = (StackFrame(f"{STDLIB}/selectors.py", 468, "EpollSelector.select", "idle"), *LOOP_BASE)
ON_WORKER = (
    fw("fastapi/telemetry/_api.py", "_run_sync_endpoint", 244),
    fw("anyio/_backends/_asyncio.py", "WorkerThread.run", 1124),
    std("threading.py", "Thread._bootstrap_inner", 1045),
    std("threading.py", "Thread._bootstrap", 1002),
)
WORKER_IDLE = (
    std("threading.py", "Condition.wait", 327),
    std("queue.py", "Queue.get", 171),
    fw("anyio/_backends/_asyncio.py", "WorkerThread.run", 1113),
    std("threading.py", "Thread._bootstrap_inner", 1045),
    std("threading.py", "Thread._bootstrap", 1002),
)


def stack(samples: int, *frames: StackFrame) -> SampledStack:
    return SampledStack(tuple(frames), samples, samples / RATE, 0.0)


def thread(
    role: str,
    *stacks: SampledStack,
    thread_id: int = 1,
    timeline: Sequence[tuple[int, int]] = (),
) -> ThreadSamples:
    name = {"loop": "MainThread", "worker": "AnyIO worker thread"}.get(role, "")
    return ThreadSamples(thread_id, name, role, tuple(stacks), tuple(timeline))


def process(*threads: ThreadSamples, pid: int = 4242) -> ProcessSamples:
    return ProcessSamples(pid, "uvicorn main:app", tuple(threads))


def endpoint(method: str, template: str, function: str, module: str = "main.py") -> EndpointRoute:
    return EndpointRoute(RouteKey(method, template), f"{RECORDED_APP}/{module}", function)
