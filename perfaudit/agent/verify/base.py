"""What an experiment is: given a finding and the live app, either a Change (what to do,
as an async context manager that applies it and always restores the app, yielding a switch
that turns it on and off between rounds) or a Refusal saying why it cannot be tried."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from perfaudit.analysis.findings import Finding
from perfaudit.load.plan import RequestSpec
from perfaudit.model import Experiment, RouteEvidence, RouteProbe, Session
from perfaudit.model.experiments import Outcome

Switch = Callable[[bool], None]  # True: the change is in effect; False: the app as it was


@dataclass(frozen=True, slots=True)
class Change:
    description: str  # "`rate_table` memoised"
    apply: Callable[[], AbstractAsyncContextManager[Switch]]
    concurrency: int | None = None  # measure at this concurrency instead of the run's
    details: Callable[[], tuple[str, ...]] | None = None  # read after the measurement
    # The finding is about what *other* requests wait (a blocked loop): time a cheap
    # unrelated request throughout each round, and judge the change by its wait.
    measures_others: bool = False


@dataclass(frozen=True, slots=True)
class OwnMeasurement:
    """An experiment that cannot be measured in this process (default-event-loop: the app
    served by real uvicorn processes) and measures itself: `measure(finding, tick)` returns
    the finished Experiment; `tick` tells the hang guard the run is alive."""

    description: str
    measure: Callable[[Finding, Callable[[], None]], Awaitable[Experiment]]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """The finding to test and everything live an experiment may need."""

    app: Any  # the ASGI app as loaded (middleware included)
    finding: Finding
    request: RequestSpec
    session: Session
    app_root: Path
    concurrency: int
    writes_db: bool = False  # --verify-writes-db: a file database may be changed (and restored)
    # How the run loaded the app, for an experiment that serves it in another process.
    app_spec: str = ""  # "module:app"
    factory: bool = False
    lifespan: bool = True
    timeout_s: float = 30.0

    @property
    def evidence(self) -> RouteEvidence | None:
        return next((e for e in self.session.evidence if str(e.route) == self.finding.route), None)

    @property
    def probe(self) -> RouteProbe | None:
        return next((p for p in self.session.probes if str(p.route) == self.finding.route), None)

    def absolute(self, file: str) -> Path:
        path = Path(file)
        return path if path.is_absolute() else (self.app_root / path).resolve()


class ExperimentKind(Protocol):
    finding_id: str

    def prepare(self, target: Target) -> Change | OwnMeasurement | Refusal: ...


@dataclass(frozen=True, slots=True)
class Side:
    """One side of one round (with or without the change): what it served and how fast."""

    rps: float
    durations_s: Sequence[float]
    others_s: Sequence[float] = ()  # measures_others: the unrelated requests' waits


def experiment_of(finding: Finding, change: str, outcome: Outcome, **numbers: Any) -> Experiment:
    """An Experiment about `finding`, named by its id, route and location."""
    return Experiment(
        finding_id=finding.id,
        route=finding.route or "",
        function=finding.location.function if finding.location else "",
        change=change,
        outcome=outcome,
        **numbers,
    )


def measured(
    finding: Finding,
    change: str,
    *,
    before: Sequence[Side],
    after: Sequence[Side],
    concurrency: int,
    requests_per_round: int,
    details: tuple[str, ...] = (),
    others: bool = False,
) -> Experiment:
    """The rounds' figures: medians over sides, ratios over round pairs: requests/s with ÷
    without the change, or (`others`) the unrelated request's wait without ÷ with."""
    pairs = list(zip(after, before, strict=True))
    if others:
        ratios = [
            statistics.median(b.others_s) / statistics.median(a.others_s)
            for a, b in pairs
            if a.others_s and b.others_s and statistics.median(a.others_s) > 0
        ]
    else:
        ratios = [a.rps / b.rps for a, b in pairs if b.rps > 0]
    if not ratios:
        return experiment_of(finding, change, "failed", reason="nothing was measured")
    return experiment_of(
        finding,
        change,
        "measured",
        concurrency=concurrency,
        rounds=len(ratios),
        requests_per_round=requests_per_round,
        p50_before_ms=round(_p50_ms(before), 3),
        p50_after_ms=round(_p50_ms(after), 3),
        rps_before=round(statistics.median(side.rps for side in before), 2),
        rps_after=round(statistics.median(side.rps for side in after), 2),
        ratio_median=round(statistics.median(ratios), 3),
        ratio_low=round(min(ratios), 3),
        ratio_high=round(max(ratios), 3),
        rounds_faster=sum(ratio > 1 for ratio in ratios),
        details=details,
        metric="others-wait" if others else "throughput",
        others_p50_before_ms=round(_p50_ms(before, others=True), 3) if others else 0.0,
        others_p50_after_ms=round(_p50_ms(after, others=True), 3) if others else 0.0,
    )


def _p50_ms(sides: Sequence[Side], *, others: bool = False) -> float:
    durations = [d for side in sides for d in (side.others_s if others else side.durations_s)]
    return statistics.median(durations) * 1000 if durations else 0.0
