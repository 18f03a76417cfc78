"""`perfaudit profile` as a library call: import the app, run its lifespan, drive each
route through a warm-up, a measured phase with no profiler, and a profiled phase, and
return the raw facts as a Session.

Latency and throughput come only from the measured phase: cProfile costs about 3x on
call-heavy code. The profiled phase runs one request at a time, so the time a function
takes is time a request spent in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from perfaudit import __version__
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.capture.tracing import TracingCollector, to_function_stats
from perfaudit.errors import UsageError
from perfaudit.load.driver import InProcessDriver, PhaseResult
from perfaudit.load.hangguard import HangGuard
from perfaudit.load.plan import RequestSpec, build_requests
from perfaudit.model import (
    Environment,
    ErrorSample,
    RouteKey,
    RouteMeasurement,
    RouteProfile,
    RunSettings,
    Session,
    SkippedRoute,
)
from perfaudit.progress import NoProgress, Progress
from perfaudit.target.lifespan import Lifespan
from perfaudit.target.loader import LoadedApp, load_app
from perfaudit.target.routes import RouteTable, discover_routes

PACKAGES = ("fastapi", "starlette", "pydantic", "anyio", "uvicorn", "uvloop", "httptools")
DEFAULT_PROFILE_CAP = 200


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    target: str
    routes: tuple[str, ...] = ()
    method: str = "GET"
    data: str | None = None
    form: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    factory: bool = False
    app_dir: Path = Path(".")
    lifespan: bool = True
    requests: int | None = 100
    duration_s: float | None = None
    concurrency: int = 1
    warmup: int = 10
    timeout_s: float = 30.0
    profile_requests: int | None = None

    def settings(self) -> RunSettings:
        return RunSettings(
            requests=None if self.duration_s else self.requests,
            duration_s=self.duration_s,
            concurrency=self.concurrency,
            warmup=self.warmup,
            timeout_s=self.timeout_s,
            profile_requests=self.profile_requests or 0,
            lifespan=self.lifespan,
        )


@dataclass
class _Results:
    """What has been measured so far: a Ctrl-C or a hang still reports all of it."""

    measurements: list[RouteMeasurement] = field(default_factory=list)
    profiles: list[RouteProfile] = field(default_factory=list)
    skipped: list[SkippedRoute] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current: tuple[RequestSpec, RouteKey] | None = None


def profile_app(options: ProfileOptions, *, progress: Progress | None = None) -> Session:
    _check_options(options)
    requests = build_requests(
        options.routes, method=options.method, data=options.data, form=options.form, headers=options.headers
    )
    loaded = load_app(options.target, factory=options.factory, app_dir=options.app_dir)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    results = _Results()
    guard = HangGuard(options.timeout_s)
    stopped_early = _drive(loaded, requests, options, results, guard, progress or NoProgress())
    return Session(
        target=options.target,
        mode="profile",
        started_at=started_at,
        tool_version=__version__,
        app_root=str(loaded.app_dir),
        environment=_environment(),
        settings=options.settings(),
        measurements=tuple(results.measurements),
        profiles=tuple(results.profiles),
        skipped=tuple(results.skipped),
        stopped_early=stopped_early,
        notes=tuple(results.notes),
    )


def _check_options(options: ProfileOptions) -> None:
    if options.concurrency < 1:
        raise UsageError("-c/--concurrency must be at least 1.", remedy="Pass -c 1 or more.")
    if options.duration_s is None and (options.requests or 0) < 1:
        raise UsageError("-n/--requests must be at least 1.", remedy="Pass -n 1 or more.")
    if options.duration_s is not None and options.duration_s <= 0:
        raise UsageError("--duration must be positive.", remedy="Pass e.g. --duration 5.")
    if options.timeout_s <= 0:
        raise UsageError("--timeout must be positive.", remedy="Pass e.g. --timeout 10.")
    if options.warmup < 0:
        raise UsageError("--warmup cannot be negative.", remedy="Pass --warmup 0 to skip it.")


def _drive(
    loaded: LoadedApp,
    requests: list[RequestSpec],
    options: ProfileOptions,
    results: _Results,
    guard: HangGuard,
    progress: Progress,
) -> str:
    """Run the audit on a fresh event loop; return why it stopped early, or ""."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    lifespan = Lifespan(loaded.app)
    main = loop.create_task(_audit(loaded, requests, options, results, guard, progress, lifespan))
    try:
        loop.run_until_complete(main)
        return ""
    except KeyboardInterrupt:
        progress.end()
        reason = _hang_reason(results, guard, options) if guard.tripped else "interrupted (Ctrl-C)"
        _finish(loop, main, lifespan, options.lifespan)
        return reason
    finally:
        _close(loop)


async def _audit(
    loaded: LoadedApp,
    requests: list[RequestSpec],
    options: ProfileOptions,
    results: _Results,
    guard: HangGuard,
    progress: Progress,
    lifespan: Lifespan,
) -> None:
    if options.lifespan:
        await lifespan.startup()
        if not lifespan.supported:
            results.notes.append("The app does not implement the ASGI lifespan; startup was skipped.")
    table = discover_routes(loaded.app)
    requests = requests or _discovered_requests(table, results)
    driver = InProcessDriver(
        loaded.app,
        state=lifespan.state if lifespan.supported and options.lifespan else None,
        timeout_s=options.timeout_s,
        on_progress=progress.advance,
        on_tick=guard.beat,
    )
    with guard:
        for request in requests:
            results.current = (request, table.template_for(request.method, request.path))
            await _audit_route(driver, request, results.current[1], options, results, progress)
    results.current = None
    if options.lifespan:
        await lifespan.shutdown()


async def _audit_route(
    driver: InProcessDriver,
    request: RequestSpec,
    route: RouteKey,
    options: ProfileOptions,
    results: _Results,
    progress: Progress,
) -> None:
    if options.warmup:
        progress.begin(f"warm-up   {route}", options.warmup)
        await driver.run(request, count=options.warmup, concurrency=options.concurrency)
        progress.end()
    count = None if options.duration_s else options.requests
    progress.begin(f"measure   {route}", count)
    phase = await driver.run(
        request, count=count, duration_s=options.duration_s, concurrency=options.concurrency
    )
    progress.end()
    results.measurements.append(_measurement(route, request, phase, options.concurrency))
    profiled = options.profile_requests or min(max(len(phase.durations_s), 1), DEFAULT_PROFILE_CAP)
    progress.begin(f"profile   {route}", profiled)
    collector = TracingCollector()
    collector.start()
    try:
        traced = await driver.run(request, count=profiled, concurrency=1)
    finally:
        raw = collector.stop()
        progress.end()
    request_time = sum(traced.durations_s) + sum(traced.background_s)
    functions = to_function_stats(raw, OwnerClassifier())
    results.profiles.append(RouteProfile(route, collector.name, len(traced.durations_s), request_time, functions))


def _measurement(route: RouteKey, request: RequestSpec, phase: PhaseResult, concurrency: int) -> RouteMeasurement:
    return RouteMeasurement(
        route=route,
        url=request.url,
        concurrency=concurrency,
        wall_s=phase.wall_s,
        durations_s=phase.durations_s,
        background_s=phase.background_s,
        status_counts=phase.status_counts,
        errors=phase.errors,
        timeouts=phase.timeouts,
        error_sample=phase.error_sample,
    )


def _discovered_requests(table: RouteTable, results: _Results) -> list[RequestSpec]:
    chosen, skipped = table.drivable_get_routes()
    results.skipped.extend(skipped)
    if not chosen:
        raise UsageError(
            "No route to drive: the app has no GET route without required parameters.",
            remedy='Name the routes to profile, e.g. perfaudit profile main:app /items/42 "POST /orders".',
        )
    return [RequestSpec("GET", route.template) for route in chosen]


def _hang_reason(results: _Results, guard: HangGuard, options: ProfileOptions) -> str:
    where = f" at {guard.location}" if guard.location else ""
    if results.current is None:
        return f"the event loop was blocked for more than {options.timeout_s:g} s{where}"
    request, route = results.current
    if all(m.route != route for m in results.measurements):
        sample = ErrorSample(
            kind="timeout",
            message=f"the handler blocked the event loop for more than {options.timeout_s:g} s{where}",
            location=guard.location,
            traceback=guard.stack,
        )
        results.measurements.append(_hung_measurement(request, route, sample, options))
    return (
        f"{route} blocked the event loop for more than {options.timeout_s:g} s{where}; "
        "the run was stopped there"
    )


def _hung_measurement(
    request: RequestSpec, route: RouteKey, sample: ErrorSample, options: ProfileOptions
) -> RouteMeasurement:
    return RouteMeasurement(
        route=route,
        url=request.url,
        concurrency=options.concurrency,
        wall_s=0.0,
        durations_s=(),
        background_s=(),
        status_counts={"timeout": 1},
        errors=1,
        timeouts=1,
        error_sample=sample,
        completed=False,
    )


def _finish(loop: asyncio.AbstractEventLoop, main: asyncio.Task[None], lifespan: Lifespan, run_lifespan: bool) -> None:
    """After an interrupt: cancel the audit and still try the app's shutdown, briefly."""
    main.cancel()
    with contextlib.suppress(BaseException):
        loop.run_until_complete(asyncio.wait_for(asyncio.shield(main), 1.0))
    if run_lifespan:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.wait_for(lifespan.shutdown(), 5.0))


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop without waiting on handlers stuck in threads (they are reported)."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
    with contextlib.suppress(BaseException):
        loop.run_until_complete(loop.shutdown_asyncgens())
    asyncio.set_event_loop(None)
    loop.close()


def _environment() -> Environment:
    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return Environment(
        python=platform.python_version(),
        implementation=sys.implementation.name,
        platform=platform.platform(terse=True),
        loop="asyncio",
        packages=packages,
    )
