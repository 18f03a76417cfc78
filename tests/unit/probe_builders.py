"""Hand-built probe evidence for unit tests of the concurrency rules: loop stacks, worker
stacks, the limiter's figures and a RouteProbe around them. No loop is run; every number is
chosen by the test."""

from __future__ import annotations

import dataclasses
import sysconfig
from collections.abc import Sequence

from unit_builders import APP_ROOT, SITE, session

from perfaudit.model import (
    CodeLocation,
    LoopEvidence,
    RouteKey,
    RouteMeasurement,
    RouteProbe,
    RouteProfile,
    SampledStack,
    Session,
    StackFrame,
    ThreadpoolEvidence,
)

STDLIB = sysconfig.get_paths()["stdlib"]


def app_frame(
    function: str, *, line: int = 20, code: str = "", module: str = "app/stock.py"
) -> StackFrame:
    return StackFrame(f"{APP_ROOT}/{module}", line, function, "app", code)


def lib_frame(module: str, function: str, *, line: int = 100, owner: str = "library") -> StackFrame:
    return StackFrame(f"{SITE}/{module}", line, function, owner)


def stdlib_frame(module: str, function: str, *, line: int = 100) -> StackFrame:
    return StackFrame(f"{STDLIB}/{module}", line, function, "stdlib")


# What sits above the endpoint on the loop thread while a request runs.
FRAMEWORK_TAIL = (
    lib_frame("fastapi/routing.py", "run_endpoint_function", line=212, owner="framework"),
    lib_frame("starlette/routing.py", "app", line=73, owner="framework"),
    stdlib_frame("asyncio/events.py", "_run", line=84),
    stdlib_frame("asyncio/base_events.py", "run_forever", line=608),
)


def stack(
    *frames: StackFrame, wall_s: float, cpu_s: float = 0.0, samples: int | None = None
) -> SampledStack:
    """Frames innermost first, as the watchdog records them."""
    count = samples if samples is not None else max(1, round(wall_s / 0.01))
    return SampledStack(tuple(frames), count, wall_s, cpu_s)


def loop_evidence(stacks: Sequence[SampledStack] = ()) -> LoopEvidence:
    blocked = sum(s.wall_s for s in stacks)
    return LoopEvidence(
        heartbeat_s=0.005,
        late_after_s=0.005,
        heartbeats=100,
        lag_ms_buckets={"<1": 90, "1-5": 5, "5-10": 0, "10-50": 5},
        max_lag_s=0.05 if stacks else 0.001,
        blocked_s=blocked,
        stacks=tuple(stacks),
        watchdog_cpu_s=0.002,
    )


def threadpool(
    *,
    total_tokens: int = 40,
    samples: int = 100,
    saturated: int = 0,
    waiting: int = 0,
    max_waiting: int = 0,
    hop_s: float | None = 0.0001,
    worker_stacks: Sequence[SampledStack] = (),
) -> ThreadpoolEvidence:
    return ThreadpoolEvidence(
        total_tokens=total_tokens,
        samples=samples,
        saturated_samples=saturated,
        waiting_samples=waiting,
        max_borrowed=total_tokens if saturated else total_tokens // 4,
        max_waiting=max_waiting,
        hop_s=hop_s,
        worker_stacks=tuple(worker_stacks),
    )


def route_probe(
    route: RouteKey,
    *,
    stacks: Sequence[SampledStack] = (),
    wall_s: float = 1.0,
    requests: int = 100,
    concurrency: int = 8,
    endpoint: CodeLocation | None = None,
    endpoint_async: bool | None = True,
    pool: ThreadpoolEvidence | None = None,
    single_ms: float = 10.0,
    loaded_ms: float = 80.0,
    probe_idle_ms: float = 0.2,
    probe_loaded_ms: float = 50.0,
) -> RouteProbe:
    """`requests` requests of `loaded_ms` in `wall_s` under load; the route alone one at a
    time takes `single_ms`; an unrelated probe request takes `probe_idle_ms` idle and
    `probe_loaded_ms` meanwhile."""
    return RouteProbe(
        route=route,
        endpoint=endpoint,
        endpoint_async=endpoint_async,
        concurrency=concurrency,
        wall_s=wall_s,
        durations_s=(loaded_ms / 1000,) * requests,
        single_durations_s=(single_ms / 1000,) * 30,
        single_wall_s=single_ms * 30 / 1000,
        probe_idle_s=(probe_idle_ms / 1000,) * 5,
        probe_loaded_s=(probe_loaded_ms / 1000,) * 20,
        loop=loop_evidence(stacks),
        threadpool=pool,
    )


def probe_session(
    probes: Sequence[RouteProbe],
    *,
    profiles: Sequence[RouteProfile] = (),
    measurements: Sequence[RouteMeasurement] = (),
    concurrency: int = 1,
) -> Session:
    """A session with probes, and the user's run at `concurrency`."""
    base = session(measurements=measurements, profiles=profiles)
    return dataclasses.replace(
        base,
        probes=tuple(probes),
        settings=dataclasses.replace(base.settings, concurrency=concurrency),
    )
