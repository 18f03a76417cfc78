"""Hand-built sessions for unit tests: no app is run, every number is chosen by the test."""

from __future__ import annotations

from collections.abc import Sequence

from perfaudit.model import (
    CallerStats,
    Environment,
    ErrorSample,
    FunctionId,
    FunctionStats,
    RouteKey,
    RouteMeasurement,
    RouteProfile,
    RunSettings,
    Session,
    SkippedRoute,
)

APP_ROOT = "/srv/shop"
SITE = "/opt/venv/lib/python3.11/site-packages"


def app_fid(name: str, *, module: str = "app/pricing.py", line: int = 12) -> FunctionId:
    return FunctionId(f"{APP_ROOT}/{module}", line, name)


def lib_fid(name: str, *, module: str = "jinja2/environment.py", line: int = 100) -> FunctionId:
    return FunctionId(f"{SITE}/{module}", line, name)


def builtin_fid(name: str) -> FunctionId:
    return FunctionId("~", 0, name)


def edge(caller: FunctionId, cumulative_s: float, *, calls: int = 1) -> CallerStats:
    return CallerStats(
        caller=caller,
        calls=calls,
        primitive_calls=calls,
        self_s=cumulative_s / 2,
        cumulative_s=cumulative_s,
    )


def fn(
    function: FunctionId,
    owner: str,
    *,
    self_s: float,
    cumulative_s: float | None = None,
    calls: int = 1,
    callers: Sequence[CallerStats] = (),
) -> FunctionStats:
    return FunctionStats(
        function=function,
        owner=owner,
        calls=calls,
        primitive_calls=calls,
        self_s=self_s,
        cumulative_s=self_s if cumulative_s is None else cumulative_s,
        callers=tuple(callers),
    )


def measurement(
    route: RouteKey,
    *,
    durations_ms: Sequence[float] = (20.0,) * 100,
    background_ms: Sequence[float] | None = None,
    errors: int = 0,
    timeouts: int = 0,
    status_counts: dict[str, int] | None = None,
    error_sample: ErrorSample | None = None,
    wall_s: float = 2.0,
    url: str | None = None,
) -> RouteMeasurement:
    durations = tuple(ms / 1000 for ms in durations_ms)
    background = (
        tuple(ms / 1000 for ms in background_ms) if background_ms else (0.0,) * len(durations)
    )
    return RouteMeasurement(
        route=route,
        urls=(url or route.template,),
        concurrency=1,
        wall_s=wall_s,
        durations_s=durations,
        background_s=background,
        status_counts=status_counts if status_counts is not None else {"200": len(durations)},
        errors=errors,
        timeouts=timeouts,
        error_sample=error_sample,
    )


def profile(
    route: RouteKey,
    functions: Sequence[FunctionStats],
    *,
    requests: int = 50,
    request_time_s: float = 1.0,
) -> RouteProfile:
    return RouteProfile(
        route=route,
        profiler="cprofile",
        requests=requests,
        request_time_s=request_time_s,
        functions=tuple(functions),
    )


def settings() -> RunSettings:
    return RunSettings(
        requests=100,
        duration_s=None,
        concurrency=1,
        warmup=5,
        timeout_s=30.0,
        profile_requests=50,
    )


def session(
    *,
    measurements: Sequence[RouteMeasurement] = (),
    profiles: Sequence[RouteProfile] = (),
    skipped: Sequence[SkippedRoute] = (),
    stopped_early: str = "",
    notes: Sequence[str] = (),
) -> Session:
    return Session(
        target="shop.main:app",
        mode="profile",
        started_at="2025-01-02T03:04:05+00:00",
        tool_version="0.1.0",
        app_root=APP_ROOT,
        environment=Environment(
            python="3.11.7",
            implementation="CPython",
            platform="Linux-x86_64",
            loop="asyncio",
            packages={"fastapi": "0.115.0", "starlette": "0.41.0"},
        ),
        settings=settings(),
        measurements=tuple(measurements),
        profiles=tuple(profiles),
        skipped=tuple(skipped),
        stopped_early=stopped_early,
        notes=tuple(notes),
    )


QUOTE = RouteKey("GET", "/quote/{sku}")


def hotspot_session(*, app_self_s: float = 0.7) -> Session:
    """GET /quote/{sku}: 100 requests of 20 ms; in the profile `tariff_table` (app) spends
    `app_self_s` of 1.0 s, the framework the rest."""
    tariff = app_fid("tariff_table")
    functions = [
        fn(tariff, "app", self_s=app_self_s, calls=50),
        fn(
            lib_fid("serialize_response", module="fastapi/routing.py", line=150),
            "framework",
            self_s=1.0 - app_self_s,
            calls=50,
        ),
        fn(lib_fid("run", module="perfaudit/load/driver.py"), "perfaudit", self_s=0.9, calls=50),
    ]
    return session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, functions)])
