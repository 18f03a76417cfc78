"""`perfaudit profile` as a library call: import the app, run its lifespan, drive each
route through a warm-up, a measured phase with no profiler, a profiled phase (cProfile and
the database collector), the probe phase (probe_phase.py), a calls phase and the
middleware A/B (evidence_phase.py); after every route, each route's memory phase
(memory_phase.py); and return the raw facts as a Session.

Latency and throughput come only from the measured phase: cProfile costs about 3x on
call-heavy code. The profiled phase runs one request at a time, so the time a function
takes is time a request spent in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from perfaudit import __version__
from perfaudit.agent.capture.database import DatabaseCollector
from perfaudit.agent.capture.memory import rss_bytes
from perfaudit.agent.capture.server_requirements import declared_server
from perfaudit.agent.capture.tracing import TracingCollector, to_function_stats
from perfaudit.agent.driver import DRAIN_S, InProcessDriver, PhaseResult
from perfaudit.agent.eventloop import LOOPS, close_loop, new_loop, quiet_interrupts
from perfaudit.agent.evidence_phase import compare_middleware, trace_calls
from perfaudit.agent.hangguard import HangGuard
from perfaudit.agent.lifespan import STARTUP_TIMEOUT_S, Lifespan
from perfaudit.agent.loader import LoadedApp, load_app
from perfaudit.agent.memory_phase import TRACING_SLOWDOWN, measure_memory, too_slow_to_trace
from perfaudit.agent.probe_phase import probe_route
from perfaudit.agent.routes import RouteTable, discover_routes
from perfaudit.capture.environment import describe_environment
from perfaudit.capture.owners import OwnerClassifier
from perfaudit.errors import UsageError
from perfaudit.load.plan import RequestSpec, build_requests
from perfaudit.model import (
    DEFAULT_DB_RTT_MS,
    INTERRUPTED,
    ErrorSample,
    Experiment,
    RouteDeclaration,
    RouteEvidence,
    RouteKey,
    RouteMeasurement,
    RouteMemory,
    RouteProbe,
    RouteProfile,
    RunSettings,
    Session,
    SkippedRoute,
)
from perfaudit.progress import NoProgress, Progress

# cProfile is deterministic: 50 requests attribute time as well as 500, at a tenth of the wait.
DEFAULT_PROFILE_CAP = 50
# Warm-up stops sending after this long: ten warm-up requests to a 10 s route would spend
# 100 s (and a rate limiter's allowance) before measuring anything.
WARMUP_CAP_S = 2.0


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
    # How long the app's lifespan may take to start (--startup-timeout, as its import).
    startup_timeout_s: float = STARTUP_TIMEOUT_S
    profile_requests: int | None = None
    loop: str = "asyncio"  # or "uvloop"
    probes: bool = True
    memory: bool = True  # the memory phase (tracemalloc), after every route's latency
    # Try each finding's suggested change in memory and measure it (perfaudit/agent/verify/).
    verify: bool = False
    verify_writes_db: bool = False  # … even on a file database the app uses
    db_rtt_ms: float = DEFAULT_DB_RTT_MS
    # Requests built by the caller (`perfaudit ci`: a body and headers per route); when
    # given, `routes`, `method`, `data`, `form` and `headers` are not read.
    request_specs: tuple[RequestSpec, ...] = ()

    def settings(self) -> RunSettings:
        return RunSettings(
            requests=None if self.duration_s else self.requests,
            duration_s=self.duration_s,
            concurrency=self.concurrency,
            warmup=self.warmup,
            timeout_s=self.timeout_s,
            profile_requests=self.profile_requests or 0,
            lifespan=self.lifespan,
            db_rtt_ms=self.db_rtt_ms,
            memory=self.memory,
        )

    def check(self) -> None:
        if self.concurrency < 1:
            raise UsageError("-c/--concurrency must be at least 1.", remedy="Pass -c 1 or more.")
        if self.duration_s is None and (self.requests or 0) < 1:
            raise UsageError("-n/--requests must be at least 1.", remedy="Pass -n 1 or more.")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be positive.", remedy="Pass e.g. --duration 5.")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be positive.", remedy="Pass e.g. --timeout 10.")
        if self.warmup < 0:
            raise UsageError("--warmup cannot be negative.", remedy="Pass --warmup 0 to skip it.")
        if self.profile_requests is not None and self.profile_requests < 1:
            raise UsageError("--profile-requests must be at least 1.", remedy="Pass e.g. 100.")
        if self.loop not in LOOPS:
            raise UsageError(f"--loop {self.loop} is not a loop.", remedy="Pass asyncio or uvloop.")


def run_profile(
    options: ProfileOptions,
    *,
    progress: Progress | None = None,
    on_imported: Callable[[], None] = lambda: None,
    on_checkpoint: Callable[[Session], None] = lambda _: None,
) -> Session:
    """The run's raw facts. `on_imported` is called once the app is imported,
    `on_checkpoint` with the facts so far after start-up and after each route (the agent
    sends them, so a crash of the app's process loses only the route it was on)."""
    options.check()
    requests = list(options.request_specs) or build_requests(
        options.routes,
        method=options.method,
        data=options.data,
        form=options.form,
        headers=options.headers,
    )
    database = DatabaseCollector()
    database.install()  # before the app opens its connections, to learn their databases
    try:
        loaded = load_app(options.target, factory=options.factory, app_dir=options.app_dir)
        on_imported()
        now = datetime.now(timezone.utc)  # noqa: UP017 - datetime.UTC is 3.11+, the agent runs on 3.10
        started_at = now.isoformat(timespec="seconds")
        run = _AuditRun(
            loaded, options, progress or NoProgress(), database, started_at, on_checkpoint
        )
        stopped_early = run.drive(requests)
    finally:
        database.uninstall()
    return run.session(stopped_early)


@dataclass
class _AuditRun:
    """One audit on its own event loop. Results accumulate as routes finish, so a Ctrl-C
    or a hung event loop still reports everything measured before it."""

    loaded: LoadedApp
    options: ProfileOptions
    progress: Progress
    database: DatabaseCollector
    started_at: str
    checkpoint: Callable[[Session], None]
    measurements: list[RouteMeasurement] = field(default_factory=list)
    profiles: list[RouteProfile] = field(default_factory=list)
    skipped: list[SkippedRoute] = field(default_factory=list)
    probes: list[RouteProbe] = field(default_factory=list)
    evidence: list[RouteEvidence] = field(default_factory=list)
    memory: list[RouteMemory] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    experiments: list[Experiment] = field(default_factory=list)
    declarations: dict[RouteKey, RouteDeclaration] = field(default_factory=dict)
    current: tuple[RequestSpec, RouteKey] | None = None
    stage = ""  # "warm-up" | "measure" | "profile" | "probe" | "memory" | "verify": what runs now
    driver: InProcessDriver | None = None
    table: RouteTable = field(default_factory=lambda: RouteTable(routes=()))

    def __post_init__(self) -> None:
        self.guard = HangGuard(self.options.timeout_s)
        self.lifespan = Lifespan(self.loaded.app, self.options.startup_timeout_s)
        self.declared = declared_server(self.loaded.module_dir, self.loaded.app_dir)

    def session(self, stopped_early: str = "") -> Session:
        """The raw facts so far (`--verify` reads the findings of the run before it ends)."""
        options, loaded = self.options, self.loaded
        return Session(
            target=options.target,
            mode="profile",
            started_at=self.started_at,
            tool_version=__version__,
            app_root=str(loaded.app_dir),
            environment=describe_environment(
                "uvloop" if options.loop == "uvloop" else "asyncio",
                self.declared,
                interpreter=sys.executable,
            ),
            settings=options.settings(),
            measurements=tuple(self.measurements),
            profiles=tuple(self.profiles),
            skipped=tuple(self.skipped),
            probes=tuple(self.probes),
            evidence=tuple(self.evidence),
            stopped_early=stopped_early,
            interrupted=stopped_early == INTERRUPTED,
            notes=tuple(self.notes + self._abandoned_note()),
            experiments=tuple(self.experiments),
            declarations=tuple(self.declarations.values()),
            memory=tuple(self.memory),
        )

    def _abandoned_note(self) -> list[str]:
        abandoned = self.driver.abandoned if self.driver else 0
        if not abandoned:
            return []
        return [
            f"{abandoned} request(s) that timed out were still running {DRAIN_S:g} s after "
            "their phase ended (a handler still in a worker thread, or awaiting what never "
            "came): their teardown (a yield dependency closing its session) ran late or not "
            "at all, and the app's output may show errors from it."
        ]

    def drive(self, requests: list[RequestSpec]) -> str:
        """Run the audit on a fresh event loop; return why it stopped early, or ""."""
        loop = new_loop(self.options.loop)
        loop.set_exception_handler(quiet_interrupts)
        asyncio.set_event_loop(loop)
        main = loop.create_task(self._audit(requests))
        try:
            loop.run_until_complete(main)
            return ""
        except KeyboardInterrupt:
            self.progress.end()
            reason = self._salvage()
            self._wind_down(loop, main)
            return reason
        finally:
            close_loop(loop)

    async def _audit(self, requests: list[RequestSpec]) -> None:
        use_lifespan = self.options.lifespan
        if use_lifespan:
            await self.lifespan.startup()
            if not self.lifespan.supported:
                self.notes.append("The app does not implement the ASGI lifespan; skipped it.")
        self.table = table = discover_routes(self.loaded.app)
        requests = requests or self._discovered(table)
        self.driver = driver = InProcessDriver(
            self.loaded.app,
            state=self.lifespan.state if use_lifespan and self.lifespan.supported else None,
            timeout_s=self.options.timeout_s,
            on_progress=self.progress.advance,
            on_tick=self.guard.beat,
        )
        self.checkpoint(self.session())
        with self.guard:
            for request in requests:
                self.current = (request, table.template_for(request.method, request.path))
                await self._audit_route(driver, request, self.current[1])
                self.checkpoint(self.session())
            if self.options.memory:
                await self._memory_phases(driver, requests)
            self.current = None
            if self.options.verify:
                self.stage = "verify"
                await self._verify(requests)
        self.current = None
        if use_lifespan:
            await self.lifespan.shutdown()

    async def _audit_route(
        self, driver: InProcessDriver, request: RequestSpec, route: RouteKey
    ) -> None:
        self._declare(request, route)
        phase = await self._measure(driver, request, route)
        measured = _measurement(route, request, phase, self.options.concurrency)
        self._add_measurement(dataclasses.replace(measured, rss_bytes=rss_bytes()))
        self.stage = "profile"
        if phase.gave_up or not phase.durations_s:
            self.notes.append(f"{route} was not profiled: its requests kept timing out.")
            return
        count = self.options.profile_requests or min(len(phase.durations_s), DEFAULT_PROFILE_CAP)
        self.database.start()
        try:
            profile = await self._profile(driver, request, route, count)
        except BaseException:
            self.database.stop(0)
            raise
        database = self.database.stop(profile.requests)
        if profile.requests:
            self._add_profile(profile)
        if any(e.route == route for e in self.evidence):
            return  # another request to the same template was audited already
        calls = middleware = None
        if self.options.probes:
            self.stage = "probe"
            self.probes.append(await self._probe(driver, request, route, phase))
            calls = await trace_calls(
                driver, request, route, app_dir=self.loaded.app_dir, progress=self.progress
            )
            middleware = await compare_middleware(
                self.loaded.app,
                driver,
                request,
                phase,
                timeout_s=self.options.timeout_s,
                on_tick=self.guard.beat,
            )
        self.evidence.append(RouteEvidence(route, database, calls, middleware))

    async def _memory_phases(self, driver: InProcessDriver, requests: list[RequestSpec]) -> None:
        """Each route's memory phase (one request per template), once no latency is left to
        measure: tracemalloc slows the app, and the heap it grew is not all given back."""
        self.stage = "memory"
        measured = {m.route: m for m in self.measurements if m.requests and not m.timeouts}
        for request in requests:
            route = self.table.template_for(request.method, request.path)
            if route not in measured or any(m.route == route for m in self.memory):
                continue
            durations = measured[route].durations_s
            if too_slow_to_trace(durations, self.options.timeout_s):
                self.notes.append(
                    f"{route} had no memory phase: its requests took up to "
                    f"{max(durations):.2f} s, and tracemalloc can make them "
                    f"{TRACING_SLOWDOWN}x slower, near --timeout {self.options.timeout_s:g} s."
                )
                continue
            self.current = (request, route)
            self.memory.append(
                await measure_memory(
                    driver, request, route, app=self.loaded.app, progress=self.progress
                )
            )
            self.checkpoint(self.session())

    async def _verify(self, requests: list[RequestSpec]) -> None:
        """While the app and its lifespan are still up: each finding's change, measured."""
        from perfaudit.agent.verify.harness import VerifyRun, run_experiments

        use_lifespan = self.options.lifespan and self.lifespan.supported
        run = VerifyRun(
            app=self.loaded.app,
            session=self.session(),
            requests=requests,
            route_of=lambda r: str(self.table.template_for(r.method, r.path)),
            app_root=self.loaded.app_dir,
            concurrency=self.options.concurrency,
            state=self.lifespan.state if use_lifespan else None,
            timeout_s=self.options.timeout_s,
            on_tick=self.guard.beat,
            writes_db=self.options.verify_writes_db,
            app_spec=self.options.target,
            factory=self.options.factory,
            lifespan=self.options.lifespan,
        )
        self.experiments.extend(await run_experiments(run, self.progress))

    async def _probe(
        self, driver: InProcessDriver, request: RequestSpec, route: RouteKey, measured: PhaseResult
    ) -> RouteProbe:
        info = self.table.route_for(request.method, request.path)
        return await probe_route(
            driver,
            request,
            route,
            info=info,
            single=measured if self.options.concurrency == 1 else None,
            user_concurrency=self.options.concurrency,
            progress=self.progress,
        )

    async def _measure(
        self, driver: InProcessDriver, request: RequestSpec, route: RouteKey
    ) -> PhaseResult:
        opts = self.options
        if opts.warmup:
            self.stage = "warm-up"
            self.progress.begin(f"warm-up   {route}", opts.warmup)
            warmup = await driver.run(
                request, count=opts.warmup, duration_s=WARMUP_CAP_S, concurrency=opts.concurrency
            )
            self.progress.end()
            if warmup.requests < opts.warmup and not warmup.gave_up:
                self.notes.append(
                    f"{route}: warm-up stopped after {WARMUP_CAP_S:g} s, at {warmup.requests} of "
                    f"{opts.warmup} requests: the route is slow, and warming it up would spend "
                    "the run's time (and any rate limit) before measuring."
                )
            if warmup.gave_up:
                return warmup  # it hangs: report the warm-up's timeouts rather than wait again
        count = None if opts.duration_s else opts.requests
        self.stage = "measure"
        self.progress.begin(f"measure   {route}", count)
        phase = await driver.run(
            request, count=count, duration_s=opts.duration_s, concurrency=opts.concurrency
        )
        self.progress.end()
        return phase

    async def _profile(
        self, driver: InProcessDriver, request: RequestSpec, route: RouteKey, count: int
    ) -> RouteProfile:
        self.progress.begin(f"profile   {route}", count)
        collector = TracingCollector()
        collector.start()
        try:
            traced = await driver.run(request, count=count, concurrency=1)
        finally:
            raw = collector.stop()
            self.progress.end()
        request_time = sum(traced.durations_s) + sum(traced.background_s)
        functions = to_function_stats(raw, OwnerClassifier(), collector.resumable)
        return RouteProfile(route, collector.name, traced.requests, request_time, functions)

    def _discovered(self, table: RouteTable) -> list[RequestSpec]:
        chosen, skipped = table.drivable_get_routes()
        self.skipped.extend(skipped)
        if not chosen:
            found = "\n".join(f"  {s.route}: {s.reason}" for s in skipped)
            raise UsageError(
                "No route to drive: the app has no GET route without required parameters.",
                remedy="Name the routes to profile, e.g. "
                'perfaudit profile main:app /items/42 "POST /orders".',
                details=f"Its routes, and why none was driven:\n{found}" if found else "",
            )
        return [RequestSpec("GET", route.template) for route in chosen]

    def _declare(self, request: RequestSpec, route: RouteKey) -> None:
        info = self.table.route_for(request.method, request.path)
        if info is None or route in self.declarations:
            return
        self.declarations[route] = RouteDeclaration(
            route=route,
            endpoint=info.endpoint_location,
            endpoint_async=info.endpoint_async,
            response_model=info.response_model,
            uses_threadpool=info.uses_threadpool,
            after_response=info.after_response,
        )

    def _add_measurement(self, new: RouteMeasurement) -> None:
        """Requests under one template (/orders/1, /orders/999) are one route."""
        for i, old in enumerate(self.measurements):
            if old.route == new.route:
                self.measurements[i] = old.merged_with(new)
                return
        self.measurements.append(new)

    def _add_profile(self, new: RouteProfile) -> None:
        for i, old in enumerate(self.profiles):
            if old.route == new.route:
                self.profiles[i] = old.merged_with(new)
                return
        self.profiles.append(new)

    def _salvage(self) -> str:
        """After a Ctrl-C or a hung event loop: keep the unfinished route's measurement
        and say why the run stopped."""
        snapshot = self.driver.snapshot() if self.driver else None
        unmeasured = self.current is not None and self.stage in ("warm-up", "measure")
        if unmeasured and self.current is not None:
            request, route = self.current
            partial = snapshot if self.stage == "measure" else None
            self._add_measurement(self._partial_measurement(request, route, partial))
        if not self.guard.tripped:
            return INTERRUPTED
        where = f" at {self.guard.location}" if self.guard.location else ""
        blocked = f"blocked the event loop for more than {self.options.timeout_s:g} s{where}"
        if self.current is None:
            return f"a handler {blocked}"
        return f"{self.current[1]} {blocked}; the run was stopped there"

    def _partial_measurement(
        self, request: RequestSpec, route: RouteKey, phase: PhaseResult | None
    ) -> RouteMeasurement:
        measured = _measurement(route, request, phase, self.options.concurrency) if phase else None
        if not self.guard.tripped:
            base = measured or _empty_measurement(request, route, self.options.concurrency)
            return dataclasses.replace(base, completed=False)
        limit = self.options.timeout_s
        sample = ErrorSample(
            kind="timeout",
            message=f"the handler blocked the event loop for more than {limit:g} s",
            location=self.guard.location,
            traceback=self.guard.stack,
        )
        base = measured or _empty_measurement(request, route, self.options.concurrency)
        statuses = {**base.status_counts, "timeout": base.status_counts.get("timeout", 0) + 1}
        return dataclasses.replace(
            base,
            status_counts=statuses,
            errors=base.errors + 1,
            timeouts=base.timeouts + 1,
            error_sample=sample,
            completed=False,
        )

    def _wind_down(self, loop: asyncio.AbstractEventLoop, main: asyncio.Task[None]) -> None:
        """After an interrupt: cancel the audit and still try the app's shutdown, briefly."""
        main.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.wait_for(asyncio.shield(main), 1.0))
        if self.options.lifespan:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait_for(self.lifespan.shutdown(), 5.0))


def _measurement(
    route: RouteKey, request: RequestSpec, phase: PhaseResult, concurrency: int
) -> RouteMeasurement:
    return RouteMeasurement(
        route=route,
        urls=(request.url,),
        concurrency=concurrency,
        wall_s=phase.wall_s,
        durations_s=phase.durations_s,
        background_s=phase.background_s,
        status_counts=phase.status_counts,
        errors=phase.errors,
        timeouts=phase.timeouts,
        error_sample=phase.error_sample,
        cpu_s=phase.cpu_s,
    )


def _empty_measurement(request: RequestSpec, route: RouteKey, concurrency: int) -> RouteMeasurement:
    return RouteMeasurement(
        route=route,
        urls=(request.url,),
        concurrency=concurrency,
        wall_s=0.0,
        durations_s=(),
        background_s=(),
        status_counts={},
    )
