"""Hand-built memory phases for unit tests: a leaking route and a clean one, every figure
chosen by the test (unit_builders makes the rest of the session)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from unit_builders import APP_ROOT, measurement, session

from perfaudit.model import (
    AllocationSite,
    CodeLocation,
    GrowingContainer,
    RouteKey,
    RouteMemory,
    Session,
)

LEAK = RouteKey("GET", "/leak")
CLEAN = RouteKey("GET", "/clean")
MIB = 1024 * 1024


def site(
    line: int, size: float, *, function: str = "remember", halves: tuple[int, int] = (0, 0)
) -> AllocationSite:
    return AllocationSite(
        location=CodeLocation(f"{APP_ROOT}/app/leaky.py", line, function),
        bytes=size,
        blocks=size / 100,
        stack=(f"{APP_ROOT}/app/leaky.py:{line}", f"{APP_ROOT}/app/main.py:7"),
        halves=halves,
    )


HISTORY = GrowingContainer(
    name="app.leaky.HISTORY",
    kind="module-level",
    type_name="list",
    items_before=10,
    items_after=410,
    requests=400,
    location=CodeLocation("app/leaky.py", 3, "<module>"),
    allocated_at=CodeLocation(f"{APP_ROOT}/app/leaky.py", 12, "remember"),
)


def route_memory(
    route: RouteKey,
    *,
    peak_bytes: int = 40 * 1024,
    retained_per_request: float = 0.0,
    response_bytes: float = 512.0,
    growth_sites: Sequence[AllocationSite] = (),
    containers: Sequence[GrowingContainer] = (),
    rss: tuple[int, int] = (50 * MIB, 52 * MIB),
    note: str = "",
) -> RouteMemory:
    return RouteMemory(
        route=route,
        requests=400,
        warmup_requests=50,
        peak_requests=20,
        peak_bytes=peak_bytes,
        peak_sites=(site(20, peak_bytes * 0.8, function="build_page"),),
        response_bytes=response_bytes,
        retained_bytes_per_request=retained_per_request,
        growth_sites=tuple(growth_sites),
        settled_bytes=4096,
        traced_growth=(int(retained_per_request * 200), int(retained_per_request * 200)),
        containers=tuple(containers),
        rss_before_bytes=rss[0],
        rss_after_bytes=rss[1],
        wall_s=1.5,
        traceback_depth=8,
        note=note,
    )


def leaky_memory() -> RouteMemory:
    """GET /leak keeps 50 KiB per request in HISTORY, allocated at app/leaky.py:12."""
    kept = 50 * 1024
    return route_memory(
        LEAK,
        peak_bytes=120 * 1024,
        retained_per_request=kept,
        growth_sites=(site(12, kept, halves=(kept * 200, kept * 200)), site(30, 100.0)),
        containers=(HISTORY,),
        rss=(50 * MIB, 70 * MIB),
    )


def memory_session(
    memory: Sequence[RouteMemory] | None = None, *, rss_bytes: int = 60 * MIB
) -> Session:
    """GET /leak and GET /clean measured (RSS `rss_bytes` after each), with memory phases."""
    phases = (leaky_memory(), route_memory(CLEAN)) if memory is None else tuple(memory)
    measured = [
        dataclasses.replace(measurement(route), rss_bytes=rss_bytes) for route in (LEAK, CLEAN)
    ]
    base = session(measurements=measured)
    return dataclasses.replace(
        base, memory=phases, settings=dataclasses.replace(base.settings, memory=True)
    )
