"""A finding is a claim a user can check: what is wrong, where, the measured evidence, and
what to change."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

EvidenceValue = float | int | str


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
class Location:
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass(frozen=True, slots=True)
class Gain:
    """What the fix is expected to save, derived from the measurement."""

    latency_ms: float  # per request, at the measured (unprofiled) latency
    share: float  # of the route's request time


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    severity: Severity
    title: str
    route: str | None
    location: Location | None
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

    @property
    def score(self) -> float:
        return self.impact * self.confidence


# (severity, minimum share of the route's time, minimum ms per request), most severe first.
Grades = tuple[tuple["Severity", float, float], ...]


def grade(share: float, ms: float, grades: Grades) -> Severity | None:
    """The first severity whose share and milliseconds both hold; None below them all."""
    for severity, min_share, min_ms in grades:
        if share >= min_share and ms >= min_ms:
            return severity
    return None


def drop_superseded(findings: list[Finding]) -> list[Finding]:
    """Drop a broader finding where a narrower one, at least as severe, explains the same
    route and function (a sync DB call on the loop is not also a cpu-hotspot)."""

    def key(f: Finding) -> tuple[str | None, str | None]:
        return f.route, f.location.function if f.location else None

    def superseded(f: Finding) -> bool:
        return any(
            f.id in g.supersedes and key(g) == key(f) and g.severity >= f.severity for g in findings
        )

    return [f for f in findings if not superseded(f)]


def rank(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity, then measured impact times confidence."""
    return sorted(findings, key=lambda f: (f.severity, f.score), reverse=True)
