"""A finding is a claim a user can check: what is wrong, where, the measured evidence, and
what to change."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Literal

from perfaudit.model import CodeLocation
from perfaudit.model.experiments import Metric

EvidenceValue = float | int | str
Verdict = Literal["gain", "no-gain", "refused", "changes-behaviour", "failed"]


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"'{text}' is not a severity (one of {names})") from None


@dataclass(frozen=True, slots=True)
class Gain:
    """What the fix is expected to save, derived from the measurement."""

    latency_ms: float  # per request, at the measured (unprofiled) latency
    share: float  # of the route's request time


@dataclass(frozen=True, slots=True)
class MeasuredGain:
    """`--verify`: the suggested change applied in memory and the route measured without
    and with it (analysis/measured.py decides the verdict)."""

    change: str  # "`rate_table` memoised"
    verdict: Verdict
    reason: str = ""
    concurrency: int = 1
    rounds: int = 0
    p50_before_ms: float = 0.0
    p50_after_ms: float = 0.0
    rps_before: float = 0.0
    rps_after: float = 0.0
    ratio: float = 0.0  # median over round pairs of throughput with ÷ without the change
    ratio_low: float = 0.0
    ratio_high: float = 0.0
    rounds_faster: int = 0  # round pairs with more requests/s with the change than without
    details: tuple[str, ...] = ()
    # "others-wait": the ratios are an unrelated request's wait without ÷ with the change
    metric: Metric = "throughput"
    others_p50_before_ms: float = 0.0
    others_p50_after_ms: float = 0.0

    @property
    def gain(self) -> bool:
        return self.verdict == "gain"

    @property
    def removed_share(self) -> float:
        """Share of each request's time the change removed (0 without a measured gain)."""
        return 1 - 1 / self.ratio if self.gain and self.ratio > 1 else 0.0


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    severity: Severity
    title: str
    route: str | None
    location: CodeLocation | None
    evidence: dict[str, EvidenceValue]
    suggestion: str
    estimated_gain: Gain | None = None
    # Ranking: share of request time the fix would remove, times how sure the rule is.
    impact: float = 0.0
    confidence: float = 1.0
    details: tuple[str, ...] = field(default=())
    # Broader findings this one explains better, at the same route and function: they
    # are dropped from the report (a sync DB call on the loop is not also a cpu-hotspot).
    supersedes: tuple[str, ...] = ()
    measured: MeasuredGain | None = None  # `--verify`: the change tried, and what it did
    grading: Grading | None = None  # the figures the severity was read from

    @property
    def near(self) -> Severity | None:
        """The neighbouring grade this finding's figures are within the noise of (another
        run may read it), or None. None too when the severity was not read from the
        figures alone (capped by the rule, raised by `--verify` or a narrower finding)."""
        band = self.grading.band if self.grading is not None else frozenset()
        if self.severity not in band:
            return None
        return max(band - {self.severity}, default=None)

    @property
    def score(self) -> float:
        """The measured share of request time the change removed, where it was measured;
        else the estimated impact times confidence."""
        if self.measured is not None and self.measured.verdict in ("gain", "no-gain"):
            return self.measured.removed_share
        return self.impact * self.confidence


# (severity, minimum share of the route's time, minimum ms per request), most severe first.
Grades = tuple[tuple["Severity", float, float], ...]
# (severity, minimum share of route time, minimum ms per request) of time spent in an app
# function: cpu-hotspot's grades, and cacheable-call's for the same time.
HOTSPOT_GRADES: Grades = (
    (Severity.HIGH, 0.5, 5.0),
    (Severity.MEDIUM, 0.25, 2.0),
    (Severity.LOW, 0.10, 0.5),
)
# High from half the route's time, else medium: for rules whose every finding matters.
HALF_IS_HIGH: Grades = ((Severity.HIGH, 0.5, 0.0), (Severity.MEDIUM, 0.0, 0.0))

# How far (relative) a figure moves between runs of the same audit on a shared machine:
# benchmarks/grade_stability.py measured shares of route time up to ±17% from the median
# of five runs (most under ±3%), milliseconds per request up to ±30% (they follow the
# machine's load). A figure within this of a grade's line may read the other grade.
SHARE_NOISE = 0.15
MS_NOISE = 0.30


def grade(share: float, ms: float, grades: Grades) -> Severity | None:
    """The first severity whose share and milliseconds both hold; None below them all."""
    for severity, min_share, min_ms in grades:
        if share >= min_share and ms >= min_ms:
            return severity
    return None


@dataclass(frozen=True, slots=True)
class Grading:
    """The figures a rule read a severity from, with the table it read them against. Kept
    on the finding so that a figure within its noise of a line is known to be: another
    run may read the neighbouring grade, and `perfaudit ci` keeps the baseline's."""

    share: float
    ms: float
    grades: Grades

    @property
    def severity(self) -> Severity | None:
        return grade(self.share, self.ms, self.grades)

    @property
    def band(self) -> frozenset[Severity]:
        """Every severity the figures read when moved by up to their noise (grades only
        rise with each figure: the two extremes and the point cover every reading)."""
        read = (
            grade(self.share * (1 + s * SHARE_NOISE), self.ms * (1 + s * MS_NOISE), self.grades)
            for s in (-1, 0, 1)
        )
        return frozenset(s for s in read if s is not None)


def evidence_text(value: EvidenceValue) -> str:
    """An evidence value as every renderer shows it: four significant digits, and large
    numbers whole ("20,020", not "2.002e+04")."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return str(value)


def near_note(finding: Finding) -> str | None:
    """One sentence for every renderer when another run may grade the finding otherwise."""
    near = finding.near
    if near is None:
        return None
    return (
        f"near {near.label}: its figures are within run-to-run noise of the line "
        f"(±{SHARE_NOISE:.0%} of a share, ±{MS_NOISE:.0%} of ms per request); another run may "
        f"grade it {near.label}"
    )


# A narrower finding less severe than the broader one replaces it only when it explains at
# least this share of the broader one's time (an index for 70% of a cpu-hotspot's 80% does;
# a client built per request, 1% of a blocked loop's 90%, does not).
EXPLAINS_MOST = 0.5


def drop_superseded(findings: list[Finding]) -> list[Finding]:
    """A narrower finding that explains the same route and function replaces the broader
    one (a sync DB call on the loop is not also a cpu-hotspot; an unindexed scan is not a
    call to cache). Less severe, it must explain most of that time, and then takes the
    broader one's severity: the same time, better explained."""

    def key(f: Finding) -> tuple[str | None, str | None]:
        return f.route, f.location.function if f.location else None

    def explains(g: Finding, f: Finding) -> bool:
        if f.id not in g.supersedes or key(g) != key(f):
            return False
        return g.severity >= f.severity or _share(g) >= EXPLAINS_MOST * _share(f) > 0

    kept = [f for f in findings if not any(explains(g, f) for g in findings)]
    raised = {id(g): max(g.severity, f.severity) for f in findings for g in kept if explains(g, f)}
    return [replace(g, severity=raised.get(id(g), g.severity)) for g in kept]


def _share(finding: Finding) -> float:
    gain = finding.estimated_gain
    return gain.share if gain is not None else finding.impact


def rank(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity, then the measured gain where `--verify` measured
    one, else the estimated impact times confidence. Findings about the same time (route,
    function, severity) rank together, at the best one's score, and among themselves by
    how sure their rule is: their scores are near each other and would swap with the noise
    between runs, changing "Fix first" on unchanged code."""

    def same_time(f: Finding) -> tuple[object, ...]:
        if f.location is None:  # no function to share: a group of its own
            return (id(f),)
        return f.route, f.location.function, f.severity

    best: dict[tuple[object, ...], float] = {}
    for f in findings:
        best[same_time(f)] = max(best.get(same_time(f), 0.0), f.score)
    return sorted(
        findings,
        key=lambda f: (f.severity, best[same_time(f)], f.confidence, f.score),
        reverse=True,
    )
