"""A run against a baseline, route by route: latency judged with statistics
(analysis/regression.py), throughput as a plain ratio, which functions took a larger share
of request time, memory against a noise margin (analysis/memory_changes.py), and the
findings that are new. Used by `perfaudit compare` and by the `ci` command's baseline check.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from perfaudit.analysis.findings import Finding, rank
from perfaudit.analysis.memory_changes import MemoryChange, memory_changes, memory_notes
from perfaudit.analysis.regression import JudgeOptions, judge
from perfaudit.analysis.report import Report
from perfaudit.analysis.verdict import Change
from perfaudit.model.saved_report import (
    SavedFinding,
    SavedHotspot,
    SavedReport,
    SavedRoute,
)

FUNCTIONS_SHOWN = 10
MIN_GROWTH_PP = 1.0  # profiled shares of one function move by a few tenths run to run
THROUGHPUT_NOTE = "one value per run: no confidence interval, not judged"


@dataclass(frozen=True, slots=True)
class FunctionChange:
    """A function's share of its route's profiled request time, before and after.

    Shares come from the profiled phase; `*_ms` estimate the time per request as the share
    of the route's unprofiled mean latency (as findings' gains do). Informational: profile
    shares of two runs are not tested, and never fail a comparison on their own.
    A report lists the top functions by self time only, so a function missing from the
    baseline's list had at most a small self share (taken as 0) and an unknown cumulative
    one (None)."""

    route: str | None  # None: all routes together (the reports' `hotspots`)
    function: str
    file: str
    self_before: float
    self_after: float
    cumulative_before: float | None
    cumulative_after: float
    self_ms_before: float | None = None
    self_ms_after: float | None = None

    @property
    def self_pp(self) -> float:
        """Change of the self share, in percentage points."""
        return (self.self_after - self.self_before) * 100

    @property
    def cumulative_pp(self) -> float | None:
        if self.cumulative_before is None:
            return None
        return (self.cumulative_after - self.cumulative_before) * 100

    @property
    def self_ms_delta(self) -> float | None:
        if self.self_ms_before is None or self.self_ms_after is None:
            return None
        return self.self_ms_after - self.self_ms_before


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str  # where each side came from
    current: str
    options: JudgeOptions
    latency: tuple[Change, ...]
    throughput: tuple[Change, ...]
    functions: tuple[FunctionChange, ...]  # those that grew most, largest first
    new_findings: tuple[SavedFinding, ...]
    notes: tuple[str, ...] = ()
    memory: tuple[MemoryChange, ...] = ()  # empty when neither report measured memory

    @property
    def regressed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.latency if c.regressed)

    @property
    def memory_grew(self) -> tuple[MemoryChange, ...]:
        """Shown as changes; they do not set `compare`'s exit code (budgets gate memory)."""
        return tuple(c for c in self.memory if c.grew)


def compare_reports(
    baseline: SavedReport, current: SavedReport, options: JudgeOptions | None = None
) -> Comparison:
    options = options or JudgeOptions()
    return Comparison(
        baseline=baseline.source,
        current=current.source,
        options=options,
        latency=latency_changes(baseline, current, options),
        throughput=throughput_changes(baseline, current),
        functions=function_changes(baseline, current),
        new_findings=new_saved_findings(baseline, current),
        notes=(*_route_notes(baseline, current), *memory_notes(baseline, current)),
        memory=memory_changes(baseline, current),
    )


def latency_changes(
    baseline: SavedReport, current: SavedReport, options: JudgeOptions
) -> tuple[Change, ...]:
    """One Change per route in both reports, in the current report's order."""
    return tuple(
        _latency_change(old, route, options)
        for route in current.routes
        if (old := baseline.route(route.label)) is not None
    )


def _latency_change(old: SavedRoute, new: SavedRoute, options: JudgeOptions) -> Change:
    j = judge(old.samples_ms, new.samples_ms, options)
    note = j.note
    if not j.judged and not old.samples_ms:
        note = "the baseline report has no raw latency samples (written by an older perfaudit)"
    elif not j.judged and not new.samples_ms:
        note = "the current report has no raw latency samples"
    return Change(
        route=new.label,
        metric=f"{options.metric}_ms",
        baseline=j.baseline,
        current=j.current,
        ratio=j.ratio,
        ci_low=j.ci_low,
        ci_high=j.ci_high,
        confidence=options.confidence,
        p_value=j.p_value,
        regressed=j.regressed,
        improved=j.improved,
        note=note,
        judged=j.judged,
        baseline_samples=len(old.samples_ms),
        current_samples=len(new.samples_ms),
    )


def throughput_changes(baseline: SavedReport, current: SavedReport) -> tuple[Change, ...]:
    changes = []
    for route in current.routes:
        old = baseline.route(route.label)
        if old is None:
            continue
        before, after = old.throughput_rps, route.throughput_rps
        ratio = after / before if before > 0 else math.nan
        changes.append(
            Change(
                route=route.label,
                metric="rps",
                baseline=before,
                current=after,
                ratio=ratio,
                ci_low=ratio,
                ci_high=ratio,
                confidence=0.0,
                p_value=None,
                regressed=False,
                improved=False,
                note=THROUGHPUT_NOTE,
                judged=False,
            )
        )
    return tuple(changes)


def function_changes(
    baseline: SavedReport, current: SavedReport, limit: int = FUNCTIONS_SHOWN
) -> tuple[FunctionChange, ...]:
    """Functions whose own time grew visibly, most first, per route in both reports (all
    routes together when neither report has per-route hotspots)."""
    pairs: list[tuple[str | None, tuple[SavedHotspot, ...], tuple[SavedHotspot, ...]]] = [
        (label, baseline.route_hotspots[label], spots)
        for label, spots in current.route_hotspots.items()
        if label in baseline.route_hotspots
    ]
    if not pairs:
        pairs = [(None, baseline.hotspots, current.hotspots)]
    grown = [
        change
        for label, before, after in pairs
        for change in _functions_of_route(label, before, after, baseline, current)
        if _grew(change, _mean_ms(baseline, label))
    ]
    grown.sort(key=lambda c: (-_growth(c), c.file, c.function))
    return tuple(grown[:limit])


def _grew(change: FunctionChange, route_mean_ms: float | None) -> bool:
    """Beyond the jitter of profiled shares: a percentage point of the route's time, or
    both 0.1 ms and 2% of the route's mean latency."""
    delta_ms = change.self_ms_delta
    if change.self_pp >= MIN_GROWTH_PP:
        return True
    return delta_ms is not None and delta_ms >= max(0.1, 0.02 * (route_mean_ms or 0.0))


def _growth(change: FunctionChange) -> float:
    """How much slower it got: ms per request when known, else percentage points."""
    delta_ms = change.self_ms_delta
    return delta_ms if delta_ms is not None else change.self_pp


def _functions_of_route(
    label: str | None,
    before: tuple[SavedHotspot, ...],
    after: tuple[SavedHotspot, ...],
    baseline: SavedReport,
    current: SavedReport,
) -> list[FunctionChange]:
    was_at = _matcher(before, after)
    mean_before, mean_after = _mean_ms(baseline, label), _mean_ms(current, label)
    changes = []
    for spot in after:  # a function that left the current list did not get slower
        was = was_at(spot)
        self_before = was.self_share if was else 0.0
        changes.append(
            FunctionChange(
                route=label,
                function=spot.function,
                file=spot.file,
                self_before=self_before,
                self_after=spot.self_share,
                cumulative_before=was.cumulative_share if was else None,
                cumulative_after=spot.cumulative_share,
                self_ms_before=self_before * mean_before if mean_before is not None else None,
                self_ms_after=spot.self_share * mean_after if mean_after is not None else None,
            )
        )
    return changes


def _matcher(
    before: tuple[SavedHotspot, ...], after: tuple[SavedHotspot, ...]
) -> Callable[[SavedHotspot], SavedHotspot | None]:
    """Each current function's baseline record: by scenario, file, line and name; else, when
    an edit above it moved its `def`, by name alone where that name is unique in its file
    on both sides (fastapi/routing.py's several `app`s never are)."""
    exact = {h.key: h for h in before}

    def by_name(spots: tuple[SavedHotspot, ...]) -> Counter[tuple[str | None, str, str]]:
        return Counter((h.scenario, h.file, h.function) for h in spots)

    unique_before, unique_after = by_name(before), by_name(after)
    moved = {(h.scenario, h.file, h.function): h for h in before}

    def match(spot: SavedHotspot) -> SavedHotspot | None:
        name = (spot.scenario, spot.file, spot.function)
        if spot.key in exact:
            return exact[spot.key]
        if unique_before[name] == 1 and unique_after[name] == 1:
            return moved[name]
        return None

    return match


def _mean_ms(report: SavedReport, label: str | None) -> float | None:
    route = report.route(label) if label is not None else None
    return route.latency_ms.get("mean") if route is not None else None


def new_saved_findings(baseline: SavedReport, current: SavedReport) -> tuple[SavedFinding, ...]:
    """Findings whose (id, route, function) the baseline does not have, in rank order."""
    known = {f.key for f in baseline.findings}
    return tuple(f for f in current.findings if f.key not in known)


def new_findings(baseline: SavedReport, current: Report) -> tuple[Finding, ...]:
    """The same for a live report (the `ci` command): its Finding objects, in rank order."""
    known = {f.key for f in baseline.findings}
    return tuple(f for f in current.findings if _key(f) not in known)


def keep_baseline_grades(baseline: SavedReport, findings: Sequence[Finding]) -> list[Finding]:
    """Hysteresis for `ci`: a finding whose figures are within the noise of a grade's line
    (Finding.near) keeps the baseline's grade when that is one the figures can read. The
    grade then changes only when a run clears the line by more than the noise, so a gate on
    `max_severity` does not flap on unchanged code. Re-ranked."""
    before = {f.key: f.severity for f in baseline.findings}
    settled = []
    for finding in findings:
        was = before.get(_key(finding))
        near = finding.near
        if near is None or was != near.label:
            settled.append(finding)
            continue
        why = (
            f"Graded {near.label} as in the baseline: this run read {finding.severity.label}, "
            "but its figures are within run-to-run noise of the line between them."
        )
        settled.append(replace(finding, severity=near, details=(*finding.details, why)))
    return rank(settled)


def _key(finding: Finding) -> tuple[str, str | None, str | None]:
    return (finding.id, finding.route, finding.location.function if finding.location else None)


def _route_notes(baseline: SavedReport, current: SavedReport) -> tuple[str, ...]:
    old = {r.label for r in baseline.routes}
    new = {r.label for r in current.routes}
    notes = [
        f"{r.label} is in the current run only: nothing to compare it with."
        for r in current.routes
        if r.label not in old
    ]
    notes += [
        f"{r.label} is in the baseline only: it was not measured this time."
        for r in baseline.routes
        if r.label not in new
    ]
    return tuple(notes)
