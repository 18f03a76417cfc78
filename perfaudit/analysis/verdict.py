"""What `perfaudit ci` and `perfaudit compare` decide: every budget and regression check
with its measured value, limit and outcome, per scenario. Renderers (terminal, Markdown,
JUnit) show these; they never decide anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perfaudit.analysis.findings import Finding
from perfaudit.analysis.report import Report


@dataclass(frozen=True, slots=True)
class Change:
    """A route's latency (or throughput) now against the baseline, judged on raw samples.

    `ratio` is current ÷ baseline of the statistic (median latency, or rps); its
    confidence interval comes from a bootstrap of both sample sets. `regressed` only when
    the whole interval lies beyond 1 + min_effect (so noise and tiny real changes pass);
    `improved` mirrors it on the other side.
    """

    route: str  # "GET /orders/{order_id}"
    metric: str  # "p50_ms" | "p95_ms" | "rps" …
    baseline: float
    current: float
    ratio: float
    ci_low: float  # confidence interval of the ratio
    ci_high: float
    confidence: float  # e.g. 0.95
    p_value: float | None  # a rank test's (Mann–Whitney U), None when not computed
    regressed: bool
    improved: bool
    note: str = ""  # e.g. "too few samples to judge (12 < 30)"
    # False when no test was run (too few samples, none saved, throughput's one value per
    # run): ratio is then only informational and ci_low == ci_high == ratio (NaN when a
    # side has no value at all).
    judged: bool = True
    baseline_samples: int = 0  # latency samples each side had (0 for throughput)
    current_samples: int = 0


@dataclass(frozen=True, slots=True)
class Check:
    """One pass/fail line of the verdict: a budget, a regression, or the findings gate."""

    scenario: str
    name: str  # "GET /orders p95 ≤ 120 ms", "no regression in GET /orders", "findings ≤ medium"
    kind: str  # "budget" | "regression" | "findings" | "errors"
    route: str | None  # None for a scenario-wide check
    passed: bool
    measured: str  # "131.2 ms", "+31% (95% CI +22% … +40%)", "high: event-loop-blocked"
    limit: str  # "≤ 120 ms", "< +10%", "≤ medium"
    detail: str = ""  # a sentence for a failure: what to look at


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    report: Report
    checks: tuple[Check, ...]
    changes: tuple[Change, ...] = ()  # against the baseline, when one was given
    new_findings: tuple[Finding, ...] = ()  # not in the baseline's report
    ignored_findings: tuple[tuple[Finding, str], ...] = ()  # (finding, the config's reason)


@dataclass(frozen=True, slots=True)
class Verdict:
    scenarios: tuple[ScenarioResult, ...]
    baseline: str | None = None  # the baseline report's path, when one was compared
    notes: tuple[str, ...] = field(default=())

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(check for s in self.scenarios for check in s.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    @property
    def passed(self) -> bool:
        return not self.failed
