"""`perfaudit attach` as a library call: record a live server with py-spy (started here
with --spawn, or already running), optionally while driving HTTP load at it, and return
the facts as a Session the same rules and renderers read.

Two things run at once: py-spy in a thread (it is a subprocess; the thread only waits on
it) and the load engine on the main thread, which owns Ctrl-C: the first one ends the
load with what it measured, then the recording is stopped and kept. The recording includes
each followed process's resident memory over it (SamplingRun.memory, capture/rss.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from perfaudit import __version__
from perfaudit.agent.routes import RouteTable
from perfaudit.analysis.sampling import PROFILER, route_profiles, server_stack
from perfaudit.capture.environment import describe_environment
from perfaudit.capture.pyspy import RecordOptions, record
from perfaudit.errors import UsageError
from perfaudit.launcher.runs import AppInterpreter, route_table_in_agent
from perfaudit.live.spawn import spawned_server
from perfaudit.load.http_run import LoadOptions, run_load
from perfaudit.load.scenario import LoadPlan
from perfaudit.load.targets import build_targets, check_url
from perfaudit.model import (
    EndpointRoute,
    RouteKey,
    RouteMeasurement,
    RunSettings,
    SamplingRun,
    Session,
)
from perfaudit.progress import NoProgress, Progress

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class AppSpec:
    """`--app module:app`: import the app (no lifespan, no requests) for its route table."""

    spec: str
    factory: bool = False
    app_dir: Path = Path(".")
    python: Path | None = None  # the app's interpreter, which imports it (launcher/)


@dataclass(frozen=True, slots=True)
class AttachOptions:
    pid: int | None  # None with `spawn`
    spawn: str | None = None  # a command that starts the server, e.g. "uvicorn main:app"
    url: str | None = None  # where the server answers (load routes are relative to it)
    load: tuple[str, ...] = ()  # "URL", "/path" or "METHOD /path": drive these meanwhile
    data: str | None = None  # what the --load requests carry, as for `perfaudit load`
    form: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    connections: int = 10
    duration_s: float = 10.0
    rate_hz: int = 100
    subprocesses: bool = False
    native: bool = False
    app: AppSpec | None = None
    # A load plan built by the caller (`perfaudit ci`: bodies, headers and weights per
    # route); when given, `load` and `connections` are not read.
    plan: LoadPlan | None = None

    def check(self) -> None:
        if (self.pid is None) == (self.spawn is None):
            raise UsageError(
                "Give a PID or --spawn, not both." if self.spawn else "No process to attach to.",
                remedy='Pass the server\'s PID, or --spawn "uvicorn main:app".',
            )
        if self.duration_s <= 0:
            raise UsageError("--duration must be positive.", remedy="Pass e.g. --duration 10.")
        if self.url is not None:
            check_url(self.url)
        if (self.data is not None or self.form or self.headers) and not self.load:
            raise UsageError(
                "-d, --form and -H are what the --load requests carry, and there is no --load.",
                remedy='Add the route to drive, e.g. --load "POST /orders".',
            )
        relative = [url for url in self.load if not _is_absolute(url)]
        if relative and self.url is None and self.spawn is None:
            raise UsageError(
                f"--load {relative[0]} needs the server's address.",
                remedy="Pass --url http://HOST:PORT, or give full URLs to --load.",
            )

    @property
    def base_url(self) -> str:
        return self.url or DEFAULT_URL


def run_attach(options: AttachOptions, *, progress: Progress | None = None) -> Session:
    options.check()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    endpoints, templates = _route_table(options.app)
    with _server(options) as pid:
        recording, load = _record_while_loading(options, pid, progress or NoProgress())
    run = replace(recording, endpoints=endpoints)
    return _session(options, run, load, templates, started_at)


@contextlib.contextmanager
def _server(options: AttachOptions) -> Iterator[int]:
    if options.spawn is None:
        assert options.pid is not None
        yield options.pid
        return
    with spawned_server(options.spawn, options.base_url) as server:
        yield server.pid


def _record_while_loading(
    options: AttachOptions, pid: int, progress: Progress
) -> tuple[SamplingRun, Session | None]:
    record_options = RecordOptions(
        pid=pid,
        duration_s=options.duration_s,
        rate_hz=options.rate_hz,
        subprocesses=options.subprocesses,
        native=options.native,
    )
    if not options.load and options.plan is None:
        return _record_alone(record_options, progress), None
    recorder = _Recorder(record_options)
    recorder.start()
    try:
        plan = options.plan or _plan(options)
        load = run_load(LoadOptions(plan), progress=progress)
    finally:
        recorder.finish(stop_now=True)
    return recorder.result(), load


def _record_alone(options: RecordOptions, progress: Progress) -> SamplingRun:
    ticks = max(1, round(options.duration_s * 10))
    progress.begin(f"py-spy on PID {options.pid}", ticks)
    done = 0

    def on_tick(elapsed_s: float, duration_s: float) -> None:
        nonlocal done
        now = min(ticks, round(elapsed_s * 10))
        if now > done:
            progress.advance(now - done)
            done = now

    try:
        return record(options, on_tick=on_tick)
    finally:
        progress.end()


class _Recorder:
    """py-spy in a thread, so the load engine keeps the main thread (and Ctrl-C)."""

    def __init__(self, options: RecordOptions) -> None:
        self._options = options
        self._stop = threading.Event()
        self._run: SamplingRun | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="perfaudit-pyspy", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        try:
            self._run = record(self._options, stop_flag=self._stop)
        except BaseException as exc:  # re-raised on the main thread by result()
            self._error = exc

    def finish(self, *, stop_now: bool) -> None:
        """Wait for the recording; with `stop_now`, end it first (what it has is kept)."""
        if stop_now:
            self._stop.set()
        self._thread.join()

    def result(self) -> SamplingRun:
        if self._error is not None:
            raise self._error
        assert self._run is not None
        return self._run


def _plan(options: AttachOptions) -> LoadPlan:
    urls = [_absolute(spec, options.base_url) for spec in options.load]
    return LoadPlan(
        targets=build_targets(urls, data=options.data, form=options.form, headers=options.headers),
        connections=options.connections,
        duration_s=options.duration_s,
    )


def _absolute(spec: str, base_url: str) -> str:
    """ "/items" or "POST /orders" against the server's URL; full URLs stay."""
    method, _, url = spec.strip().rpartition(" ")
    if not _is_absolute(url):
        url = urljoin(base_url.rstrip("/") + "/", url.lstrip("/"))
    return f"{method} {url}".strip()


def _is_absolute(spec: str) -> bool:
    return bool(urlsplit(spec.strip().rpartition(" ")[2]).scheme)


def _route_table(app: AppSpec | None) -> tuple[tuple[EndpointRoute, ...], RouteTable | None]:
    if app is None:
        return (), None
    where = AppInterpreter(app.python)
    table = route_table_in_agent(app.spec, factory=app.factory, app_dir=app.app_dir, where=where)
    endpoints = tuple(
        EndpointRoute(
            RouteKey(method, route.template), location.file, route.endpoint, location.line
        )
        for route in table.routes
        if (location := route.endpoint_location) is not None and not route.websocket
        for method in sorted(route.methods)
    )
    return endpoints, table


def _session(
    options: AttachOptions,
    run: SamplingRun,
    load: Session | None,
    templates: RouteTable | None,
    started_at: str,
) -> Session:
    seen = server_stack(run)
    measurements = by_template(load.measurements, templates) if load else ()
    requests = {m.route: m.requests for m in measurements}
    app_root = str(options.app.app_dir.resolve()) if options.app else str(Path.cwd())
    return Session(
        target=options.spawn or f"PID {run.pid}",
        mode="attach",
        started_at=started_at,
        tool_version=__version__,
        app_root=app_root,
        environment=describe_environment(seen.loop or "asyncio"),
        settings=RunSettings(
            requests=None,
            duration_s=options.duration_s,
            concurrency=load.settings.concurrency if load else 0,
            warmup=0,
            timeout_s=load.settings.timeout_s if load else 0.0,
            profile_requests=0,
            profiler=PROFILER,
        ),
        measurements=measurements,
        profiles=route_profiles(run, app_root, requests=requests),
        stopped_early=(load.stopped_early if load else "") or run.ended_early,
        interrupted=(load.interrupted if load else False) or run.interrupted,
        server_gone=load.server_gone if load else False,
        notes=(load.notes if load else ()),
        load=load.load if load else None,
        sampling=run,
    )


def by_template(
    measurements: tuple[RouteMeasurement, ...], templates: RouteTable | None
) -> tuple[RouteMeasurement, ...]:
    """The load's measurements under the app's route templates (`/items/3` → `/items/{id}`),
    so they meet the sampled routes; without the table they keep their paths."""
    if templates is None:
        return measurements
    merged: dict[RouteKey, RouteMeasurement] = {}
    for measured in measurements:
        route = measured.route
        key = templates.template_for(route.method, urlsplit(route.template).path)
        moved = replace(measured, route=key)
        merged[key] = merged[key].merged_with(moved) if key in merged else moved
    return tuple(merged.values())
