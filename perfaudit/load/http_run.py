"""`perfaudit load` as a library call: drive a live server over HTTP with the built-in
engine (its own HTTP/1.1 client, aiohttp for https; one or more processes) or Locust, and
return the facts as a Session with the same route measurements `profile` produces, so one
report shape serves both.

Load only ever goes to the URLs given.
"""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from perfaudit import __version__
from perfaudit.capture.environment import describe_environment
from perfaudit.errors import TargetError, UsageError
from perfaudit.load.credentials import redacted, sent_secrets
from perfaudit.load.outcome import TRANSPORT_ERRORS, EngineResult, TargetTally
from perfaudit.load.scenario import LoadPlan, Target
from perfaudit.model import (
    INTERRUPTED,
    ErrorSample,
    LoadSummary,
    RouteKey,
    RouteMeasurement,
    RunSettings,
    Session,
)
from perfaudit.model.session import Loop
from perfaudit.progress import NoProgress, Progress

Engine = Literal["builtin", "locust"]
ENGINES: tuple[Engine, ...] = ("builtin", "locust")


@dataclass(frozen=True, slots=True)
class LocustOptions:
    """Locust's distributed mode: this process runs the master; workers started on other
    machines (`locust -f FILE --worker --master-host HOST`) connect to it."""

    master: bool = False
    expect_workers: int = 0
    bind_host: str = "*"
    bind_port: int = 5557


@dataclass(frozen=True, slots=True)
class LoadOptions:
    plan: LoadPlan
    engine: Engine = "builtin"
    locust: LocustOptions = LocustOptions()

    def check(self) -> None:
        plan = self.plan
        if self.engine not in ENGINES:
            raise UsageError(
                f"--engine {self.engine} is not an engine.", remedy="Pass builtin or locust."
            )
        if plan.connections < 1:
            raise UsageError("-c/--connections must be at least 1.", remedy="Pass -c 1 or more.")
        if plan.rate is not None and plan.rate <= 0:
            raise UsageError("--rate must be positive.", remedy="Pass e.g. --rate 500.")
        if plan.duration_s is not None and plan.duration_s <= 0:
            raise UsageError("--duration must be positive.", remedy="Pass e.g. --duration 10.")
        if plan.requests is not None and plan.requests < 1:
            raise UsageError("-n/--requests must be at least 1.", remedy="Pass -n 1 or more.")
        if plan.duration_s is None and plan.requests is None:
            raise UsageError("Nothing bounds the run.", remedy="Pass --duration or -n.")
        if plan.timeout_s <= 0:
            raise UsageError("--timeout must be positive.", remedy="Pass e.g. --timeout 10.")
        if plan.processes < 1:
            raise UsageError(
                f"--processes {plan.processes} is not a number of processes.",
                remedy="Pass 1 or more, or 0 for one per spare core.",
            )
        if self.locust.master and self.engine != "locust":
            raise UsageError("--master needs --engine locust.", remedy="Add --engine locust.")
        if self.engine == "locust" and any(target.varies for target in plan.targets):
            raise UsageError(
                "--engine locust does not fill in request variables ({n}, {uuid}, {random}) "
                "or send a data file's rows.",
                remedy="Use the builtin engine (drop --engine locust) for varying requests.",
            )


def run_load(options: LoadOptions, *, progress: Progress | None = None) -> Session:
    options.check()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    result = _drive(options, progress or NoProgress())
    _raise_if_unreachable(options.plan, result)
    # The credentials sent, kept out of the report (an app may echo them into an error).
    return redacted(_session(options, result, started_at), sent_secrets(options.plan.targets))


def _drive(options: LoadOptions, progress: Progress) -> EngineResult:
    plan = options.plan
    if options.engine == "locust":
        from perfaudit.load.locust import run_locust

        locust = options.locust
        return run_locust(
            plan,
            progress=progress,
            processes=plan.processes,
            master=locust.master,
            expect_workers=locust.expect_workers,
            master_bind_host=locust.bind_host,
            master_bind_port=locust.bind_port,
        )
    from perfaudit.load.processes import drive_processes

    return drive_processes(plan, progress=progress)


def _gone_note(result: EngineResult) -> tuple[str, ...]:
    if not result.failed_after_gone:
        return ()
    return (
        f"{result.failed_after_gone:,} requests that failed after the server stopped "
        "answering are left out of the figures: they say it was gone, not how it served.",
    )


def _raise_if_unreachable(plan: LoadPlan, result: EngineResult) -> None:
    """No response at all, only transport failures: the server is not there to measure
    (unless the run was interrupted first, which is reported as it stands)."""
    if result.stopped_early == INTERRUPTED:
        return
    if any(t.durations_s for t in result.tallies):
        return
    kinds: Counter[str] = Counter()
    for tally in result.tallies:
        kinds.update({k: n for k, n in tally.status_counts.items() if k in TRANSPORT_ERRORS})
    if not kinds:
        return
    kind = kinds.most_common(1)[0][0]
    where = _origin(plan.targets[0].url)
    sample = next((t.error_sample for t in result.tallies if t.error_sample), "")
    raise TargetError(
        UNREACHABLE.get(kind, "{where} did not answer").format(where=where)
        + (f" ({sample[:200]})." if sample else "."),
        remedy=UNREACHABLE_REMEDY.get(kind, "Check the URL and that the server is running."),
    )


UNREACHABLE = {
    "refused": "Nothing is listening at {where}: connection refused",
    "dns": "The host of {where} does not resolve",
    "tls": "The TLS handshake with {where} failed",
    "timeout": "{where} did not answer in time",
    "reset": "{where} closed every connection",
}
UNREACHABLE_REMEDY = {
    "refused": "Start the server, or check the host and port.",
    "dns": "Check the host name.",
    "tls": "Check the scheme (http:// vs https://) and the server's certificate.",
    "timeout": "Check that the server is up, or raise --timeout.",
    "reset": "Check the server's logs: it may be crashing or rejecting connections.",
}


def _origin(url: str) -> str:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}"


def _session(options: LoadOptions, result: EngineResult, started_at: str) -> Session:
    plan = options.plan
    single_origin = len({_origin(t.url) for t in plan.targets}) == 1
    measurements: dict[RouteKey, RouteMeasurement] = {}
    for target, tally in zip(plan.targets, result.tallies, strict=True):
        m = _measurement(target, tally, plan, result.wall_s, single_origin)
        old = measurements.get(m.route)
        measurements[m.route] = old.merged_with(m) if old else m
    return Session(
        target=" ".join(str(t) for t in plan.targets),
        mode="load",
        started_at=started_at,
        tool_version=__version__,
        app_root="",
        environment=describe_environment(_client_loop(options.engine)),
        settings=RunSettings(
            requests=plan.requests,
            duration_s=plan.duration_s,
            concurrency=plan.connections,
            warmup=0,
            timeout_s=plan.timeout_s,
            profile_requests=0,
            profiler="none",
        ),
        measurements=tuple(measurements.values()),
        profiles=(),
        stopped_early=result.stopped_early,
        interrupted=result.stopped_early == INTERRUPTED,
        server_gone=result.server_gone,
        notes=(*result.notes, *_gone_note(result)),
        load=LoadSummary(
            engine=result.engine,
            client=result.client,
            model=plan.model,
            connections=plan.connections,
            rate=plan.rate,
            processes=result.processes,
            wall_s=result.wall_s,
            client_cpu_s=result.cpu_s,
            late=result.late,
            resolution_ms=result.resolution_ms,
        ),
    )


def _measurement(
    target: Target, tally: TargetTally, plan: LoadPlan, wall_s: float, single_origin: bool
) -> RouteMeasurement:
    split = urlsplit(target.url)
    shown = (split.path or "/") + (f"?{split.query}" if split.query else "")
    return RouteMeasurement(
        route=RouteKey(target.method, shown if single_origin else target.url),
        urls=(target.url,),
        concurrency=plan.connections,
        wall_s=wall_s,
        durations_s=tally.durations_s,
        background_s=(),
        status_counts=dict(tally.status_counts),
        errors=tally.errors,
        timeouts=tally.timeouts,
        error_sample=_error_sample(tally),
        completed=True,
        uncorrected_s=tally.uncorrected_s,
    )


def _error_sample(tally: TargetTally) -> ErrorSample | None:
    """The engine keeps one message; the kind comes from the commonest failure."""
    failures = Counter(
        {
            k: n
            for k, n in tally.status_counts.items()
            if k in TRANSPORT_ERRORS or (k.isdigit() and int(k) >= 400)
        }
    )
    if not failures:
        return None
    kind = failures.most_common(1)[0][0]
    message = tally.error_sample or kind
    if kind.isdigit():
        return ErrorSample(kind="http-status", message=message, status=int(kind))
    if kind == "timeout":
        return ErrorSample(kind="timeout", message=message)
    return ErrorSample(kind="transport", message=f"{kind}: {message}")


def _client_loop(engine: Engine) -> Loop:
    if engine == "locust":
        return "gevent"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop" if platform.system() != "Windows" else "asyncio"
