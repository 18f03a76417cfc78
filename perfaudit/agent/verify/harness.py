"""Run each finding's experiment on the live app: the route measured as the measured
phase measures it (same request, same concurrency) without and with the change, in
interleaved rounds (alternating which goes first, so a burst of machine noise lands on
both alike), every response fingerprinted on both sides. The change's context manager
restores the app whatever happens, before the next experiment starts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfaudit.agent.driver import InProcessDriver, PhaseResult
from perfaudit.agent.probe_phase import PROBE_PATH, probe_stream
from perfaudit.agent.verify.base import (
    Change,
    ExperimentKind,
    OwnMeasurement,
    Refusal,
    Side,
    Switch,
    Target,
    experiment_of,
    measured,
)
from perfaudit.agent.verify.experiments import all_experiments
from perfaudit.agent.verify.recorder import Recorder
from perfaudit.analysis.findings import Finding
from perfaudit.analysis.report import build_report
from perfaudit.load.plan import RequestSpec
from perfaudit.model import Experiment, Session
from perfaudit.progress import Progress

ROUNDS = 6  # per side: enough round pairs for analysis/measured.py's agreement rule
REQUESTS = 80  # per side, over the rounds, fewer for a slow route …
MAX_SIDE_S = 2.0  # … so that one side takes about this long at most
WARMUP = 3  # unmeasured (but fingerprinted) requests per side first


@dataclass(frozen=True, slots=True)
class VerifyRun:
    app: Any
    session: Session  # the run so far: its findings are what is tried
    requests: Sequence[RequestSpec]  # one per route, as the measured phase sent them
    route_of: Callable[[RequestSpec], str]  # "GET /items/{item_id}"
    app_root: Path
    concurrency: int
    state: dict[str, Any] | None
    timeout_s: float
    on_tick: Callable[[], None] | None = None
    writes_db: bool = False
    app_spec: str = ""  # how the run loaded the app (default-event-loop serves it again)
    factory: bool = False
    lifespan: bool = True


async def run_experiments(
    run: VerifyRun,
    progress: Progress,
    kinds: Sequence[ExperimentKind] | None = None,
) -> list[Experiment]:
    by_id = {kind.finding_id: kind for kind in kinds or all_experiments()}
    requests = {run.route_of(r): r for r in reversed(run.requests)}  # the first per route
    done: list[Experiment] = []
    for finding in build_report(run.session).findings:
        kind = by_id.get(finding.id)
        request = requests.get(finding.route or "")
        if kind is not None and finding.route is None and getattr(kind, "app_wide", False):
            request = run.requests[0] if run.requests else None  # the app, not one route
        if kind is None or request is None:
            continue
        target = Target(
            run.app,
            finding,
            request,
            run.session,
            run.app_root,
            run.concurrency,
            run.writes_db,
            app_spec=run.app_spec,
            factory=run.factory,
            lifespan=run.lifespan,
            timeout_s=run.timeout_s,
        )
        progress.begin(f"verify    {finding.route} {finding.id}", None)
        try:
            done.append(await try_experiment(kind, target, run))
        finally:
            progress.end()
    return done


async def try_experiment(kind: ExperimentKind, target: Target, run: VerifyRun) -> Experiment:
    finding = target.finding
    try:
        prepared = kind.prepare(target)
    except Exception as exc:  # an app we cannot see into: say so, never crash the report
        return experiment_of(finding, "", "failed", reason=f"{type(exc).__name__}: {exc}")
    if isinstance(prepared, Refusal):
        return experiment_of(finding, "", "refused", reason=prepared.reason)
    if isinstance(prepared, OwnMeasurement):
        try:
            return await prepared.measure(finding, run.on_tick or (lambda: None))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:300]
            return experiment_of(finding, prepared.description, "failed", reason=reason)
    try:
        return await measure(prepared, target, run)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return experiment_of(finding, prepared.description, "failed", reason=reason)


async def measure(change: Change, target: Target, run: VerifyRun) -> Experiment:
    recorder = Recorder(run.app)
    driver = InProcessDriver(
        recorder, state=run.state, timeout_s=run.timeout_s, on_tick=run.on_tick
    )
    # The unrelated request goes to the app itself, not through the recorder: it is no
    # response of the route's to compare.
    others = (
        InProcessDriver(run.app, state=run.state, timeout_s=run.timeout_s)
        if change.measures_others
        else None
    )
    async with change.apply() as switch:
        concurrency = change.concurrency or target.concurrency
        sides = _Sides(driver, target.request, recorder, switch, concurrency, others)
        await sides.measure()
    details = change.details() if change.details else ()
    finding = target.finding
    if sides.failed:
        return experiment_of(finding, change.description, "failed", reason=sides.failed)
    changed = recorder.behaviour_change()
    if changed:
        return experiment_of(finding, change.description, "changes-behaviour", reason=changed)
    return sides.experiment(finding, change.description, details)


@dataclass
class _Sides:
    """The route driven in rounds without and with the change (the switch)."""

    driver: InProcessDriver
    request: RequestSpec
    recorder: Recorder
    switch: Switch
    concurrency: int
    others: InProcessDriver | None = None  # times an unrelated request during each round
    phases: dict[bool, list[Side]] = field(default_factory=lambda: {False: [], True: []})
    round_size: int = 0
    failed: str = ""

    async def measure(self) -> None:
        warm = await self._warm_up()
        if warm is None:
            return
        self.round_size = _round_size(warm, self.concurrency)
        for index in range(ROUNDS):
            for on in (False, True) if index % 2 == 0 else (True, False):
                # Failures with the change show as a behaviour change (the recorder).
                phase, waits = await self._round(on)
                self.phases[on].append(_side(phase, waits))
                if phase.gave_up:
                    self.failed = _errors(phase, on)
                    return

    async def _warm_up(self) -> PhaseResult | None:
        """Both sides once, unmeasured (a cache fills, a thread starts); the side without
        the change tells how long a request takes."""
        count = max(WARMUP, self.concurrency)
        before = await self._run(on=False, count=count)
        after = await self._run(on=True, count=count)
        if before.errors or not before.requests:
            self.failed = _errors(before, False)  # nothing to compare against
            return None
        if after.gave_up or not after.requests:
            self.failed = _errors(after, True)
            return None
        return before

    async def _round(self, on: bool) -> tuple[PhaseResult, list[float]]:
        """A round, with the unrelated request timed every PROBE_EVERY_S meanwhile."""
        waits: list[float] = []
        others = self.others
        if others is None:
            return await self._run(on=on, count=self.round_size), waits
        probe = RequestSpec("GET", PROBE_PATH)
        stream = asyncio.get_running_loop().create_task(probe_stream(others, probe, waits))
        try:
            phase = await self._run(on=on, count=self.round_size)
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
        return phase, waits

    async def _run(self, *, on: bool, count: int) -> PhaseResult:
        self.switch(on)
        self.recorder.side = on
        try:
            return await self.driver.run(self.request, count=count, concurrency=self.concurrency)
        finally:
            self.switch(False)

    def experiment(self, finding: Finding, change: str, details: tuple[str, ...]) -> Experiment:
        return measured(
            finding,
            change,
            before=self.phases[False],
            after=self.phases[True],
            concurrency=self.concurrency,
            requests_per_round=self.round_size,
            details=details,
            others=self.others is not None,
        )


def _round_size(warm: PhaseResult, concurrency: int) -> int:
    per_request_s = warm.wall_s / warm.requests
    affordable = int(MAX_SIDE_S / (ROUNDS * per_request_s)) if per_request_s > 0 else REQUESTS
    return max(2 * concurrency, min(REQUESTS // ROUNDS, affordable), 1)


def _side(phase: PhaseResult, others_s: Sequence[float] = ()) -> Side:
    rps = phase.requests / phase.wall_s if phase.wall_s > 0 else 0.0
    return Side(rps, phase.durations_s, tuple(others_s))


def _errors(phase: PhaseResult, on: bool) -> str:
    side = "with" if on else "without"
    sample = phase.error_sample.message if phase.error_sample else "no response"
    return f"{phase.errors} request(s) failed {side} the change: {sample}"[:300]
