"""One scenario measured on the config's target: in-process (profile), over HTTP (a live
URL, or a server started for the run), or a live PID sampled with py-spy while loaded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from perfaudit.config import (
    AppTarget,
    PidTarget,
    RoutesFrom,
    Scenario,
    SpawnTarget,
    TargetConfig,
    UrlTarget,
)
from perfaudit.model import Session
from perfaudit.progress import Progress

if TYPE_CHECKING:
    from perfaudit.live.attach import AppSpec

# A PID scenario bounded by a request count records at most this long.
ATTACH_CAP_S = 120.0


@dataclass(frozen=True, slots=True)
class Live:
    """Where a live target answers, and its PID when perfaudit may sample it."""

    url: str
    pid: int | None = None


@contextlib.contextmanager
def live_target(target: TargetConfig) -> Iterator[Live | None]:
    """For the whole run: nothing in-process, the URL, or a server started and stopped."""
    if isinstance(target, AppTarget):
        yield None
    elif isinstance(target, UrlTarget):
        yield Live(target.url)
    elif isinstance(target, PidTarget):
        yield Live(target.url, target.pid)
    else:
        assert isinstance(target, SpawnTarget)
        from perfaudit.live.spawn import spawned_server

        with spawned_server(target.command, target.url) as server:
            yield Live(target.url, server.pid)


def measure(
    target: TargetConfig,
    live: Live | None,
    scenario: Scenario,
    progress: Progress,
    *,
    verify: bool = False,
) -> Session:
    """`verify` (the config's `verify:`) runs `--verify`'s experiments; in-process only."""
    if isinstance(target, AppTarget):
        return _in_process(target, scenario, progress, verify=verify)
    assert live is not None
    if live.pid is None:
        from perfaudit.load.http_run import LoadOptions, run_load

        loaded = run_load(LoadOptions(scenario.load_plan(live.url)), progress=progress)
        return _with_route_templates(loaded, target.routes_from)
    return _attached(live, scenario, progress, target.routes_from)


def _app_spec(routes_from: RoutesFrom) -> AppSpec:
    from perfaudit.live.attach import AppSpec

    return AppSpec(routes_from.app, routes_from.factory, routes_from.app_dir, routes_from.python)


def _with_route_templates(session: Session, routes_from: RoutesFrom | None) -> Session:
    """The paths sent over HTTP named by the app's route templates, when the config says
    which app the server runs (as `perfaudit attach --app` does)."""
    if routes_from is None:
        return session
    from perfaudit.launcher.runs import AppInterpreter, route_table_in_agent
    from perfaudit.live.attach import by_template

    table = route_table_in_agent(
        routes_from.app,
        factory=routes_from.factory,
        app_dir=routes_from.app_dir,
        where=AppInterpreter(routes_from.python),
    )
    return replace(session, measurements=by_template(session.measurements, table))


def _in_process(
    target: AppTarget, scenario: Scenario, progress: Progress, *, verify: bool
) -> Session:
    from perfaudit.agent.profile_run import ProfileOptions
    from perfaudit.launcher.runs import AppInterpreter, profile_in_agent

    options = ProfileOptions(
        target=target.app,
        factory=target.factory,
        app_dir=target.app_dir,
        lifespan=target.lifespan,
        requests=scenario.requests,
        duration_s=scenario.duration_s,
        concurrency=scenario.concurrency,
        warmup=scenario.warmup,
        timeout_s=scenario.timeout_s,
        request_specs=scenario.request_specs(),
        verify=verify,
    )
    return profile_in_agent(options, AppInterpreter(target.python), progress)


def _attached(
    live: Live, scenario: Scenario, progress: Progress, routes_from: RoutesFrom | None
) -> Session:
    from perfaudit.live.attach import AttachOptions, run_attach

    assert live.pid is not None
    options = AttachOptions(
        pid=live.pid,
        url=live.url,
        plan=scenario.load_plan(live.url),
        duration_s=scenario.duration_s or ATTACH_CAP_S,
        app=_app_spec(routes_from) if routes_from else None,
    )
    return run_attach(options, progress=progress)
