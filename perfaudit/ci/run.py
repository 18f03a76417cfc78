"""`perfaudit ci` as a library call: measure every scenario of a config, judge each report
against the budgets and (when there is one) a baseline, and return the Verdict with the
JSON document that records it all.

Nothing here decides how results look; render/ shows the Verdict. A run interrupted by
Ctrl-C keeps the scenarios measured so far (the interrupted one included, partial) and
judges them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perfaudit.analysis.baseline import saved_from_report
from perfaudit.analysis.comparison import compare_reports, keep_baseline_grades, new_findings
from perfaudit.analysis.findings import Finding
from perfaudit.analysis.regression import JudgeOptions
from perfaudit.analysis.report import Report, RouteSummary, build_report
from perfaudit.analysis.verdict import Change, Check, ScenarioResult, Verdict
from perfaudit.ci.baselines import Baselines, baseline_for, baseline_label, load_baselines
from perfaudit.ci.budgets import findings_check, memory_checks, route_checks, unmeasured_budget
from perfaudit.ci.document import ci_document
from perfaudit.ci.measure import Live, live_target, measure
from perfaudit.config import CiConfig, Scenario, unmatched_budget_routes
from perfaudit.model.saved_report import SavedReport
from perfaudit.progress import NoProgress, Progress
from perfaudit.stop_signals import named_stop


@dataclass(frozen=True, slots=True)
class CiRun:
    verdict: Verdict
    document: dict[str, Any]  # the JSON report of the whole run (`--json`, baselines)
    interrupted: bool


def run_ci(
    config: CiConfig, *, baseline: Path | None = None, progress: Progress | None = None
) -> CiRun:
    """Measure and judge. `baseline` overrides the config's; a missing baseline file named
    only in the config is a note (the first run has none), one named by the user an error."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    baselines, notes = load_baselines(config, baseline)
    results: list[ScenarioResult] = []
    interrupted = False
    with live_target(config.target) as live:
        for scenario in config.scenarios:
            result, interrupted = _scenario(config, scenario, live, baselines, progress)
            results.append(result)
            if interrupted:
                notes = (*notes, "Interrupted: partial results.")
                break
    results = _with_unmeasured_budgets(config, results)
    verdict = Verdict(tuple(results), baseline_label(config, baseline, baselines), notes)
    return CiRun(verdict, ci_document(config, verdict, started_at), interrupted)


def _scenario(
    config: CiConfig,
    scenario: Scenario,
    live: Live | None,
    baselines: Baselines | None,
    progress: Progress | None,
) -> tuple[ScenarioResult, bool]:
    """Measured and judged. A regression must show twice: on a shared machine the same
    code can drift by far more than the samples' own noise between two runs, so a
    scenario that regressed is measured once more, and only what regresses again fails."""
    first = _measured(config, scenario, live, progress)
    result = _judged(config, scenario.name, first, baselines)
    if _interrupted(first) or not _regressed(result):
        return result, _interrupted(first)
    second = _measured(config, scenario, live, progress)
    again = _judged(config, scenario.name, second, baselines)
    confirmed = {c.route for c in again.checks if c.kind == "regression" and not c.passed}
    checks = tuple(
        c if c.kind != "regression" or c.passed or c.route in confirmed else _unconfirmed(c)
        for c in result.checks
    )
    return replace(result, checks=checks), _interrupted(second)


def _measured(
    config: CiConfig, scenario: Scenario, live: Live | None, progress: Progress | None
) -> Report:
    session = measure(config.target, live, scenario, progress or NoProgress(), verify=config.verify)
    return build_report(named_stop(session))


def _interrupted(report: Report) -> bool:
    return report.session.interrupted


def _regressed(result: ScenarioResult) -> bool:
    return any(c.kind == "regression" and not c.passed for c in result.checks)


def _unconfirmed(check: Check) -> Check:
    return replace(
        check,
        passed=True,
        detail="Slower than the baseline in the first run, not in a second run of the "
        "scenario: machine noise, not counted.",
    )


def _judged(
    config: CiConfig, name: str, report: Report, baselines: Baselines | None
) -> ScenarioResult:
    base = baseline_for(baselines, name)
    findings = keep_baseline_grades(base, report.findings) if base else report.findings
    kept, ignored = _split_ignored(config, findings)
    report = replace(report, findings=tuple(kept))
    checks = [
        check for route in report.routes for check in _route_checks(config, name, route, report)
    ]
    if config.budgets.overall.max_severity is not None:
        checks.append(findings_check(name, kept, config.budgets.overall.max_severity))
    result = ScenarioResult(name, report, tuple(checks), ignored_findings=tuple(ignored))
    return _against_baseline(config, result, base) if base else result


def _route_checks(config: CiConfig, name: str, route: RouteSummary, report: Report) -> list[Check]:
    budget = config.budgets.for_route(route.label)
    return [
        *route_checks(name, route, budget),
        *memory_checks(name, route, budget, report.session),
    ]


def _split_ignored(
    config: CiConfig, findings: Sequence[Finding]
) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    kept: list[Finding] = []
    ignored: list[tuple[Finding, str]] = []
    for finding in findings:
        reason = config.ignore_reason(finding.id, finding.route)
        if reason is None:
            kept.append(finding)
        else:
            ignored.append((finding, reason))
    return kept, ignored


def _against_baseline(
    config: CiConfig, result: ScenarioResult, baseline: SavedReport
) -> ScenarioResult:
    regression = config.regression
    options = JudgeOptions(
        metric=regression.metric.removesuffix("_ms"),
        min_effect=regression.min_effect,
        confidence=regression.confidence,
    )
    comparison = compare_reports(baseline, saved_from_report(result.report), options)
    checks = [
        _regression_check(result.name, change, regression.min_effect)
        for change in comparison.latency
    ]
    return replace(
        result,
        checks=(*result.checks, *checks),
        changes=(*comparison.latency, *comparison.throughput),
        new_findings=new_findings(baseline, result.report),
    )


def _regression_check(scenario: str, change: Change, min_effect: float) -> Check:
    metric = change.metric.removesuffix("_ms")
    measured = (
        f"{change.ratio - 1:+.0%} ({change.confidence:.0%} CI "
        f"{change.ci_low - 1:+.0%} … {change.ci_high - 1:+.0%})"
        if not change.note
        else change.note
    )
    detail = ""
    if change.regressed:
        detail = (
            f"{metric} went from {change.baseline:.1f} ms to {change.current:.1f} ms; the "
            f"whole {change.confidence:.0%} interval is beyond +{min_effect:.0%}."
        )
    return Check(
        scenario,
        f"{change.route} {metric} no slower than the baseline",
        "regression",
        change.route,
        not change.regressed,
        measured,
        f"< +{min_effect:.0%}",
        detail,
    )


def _with_unmeasured_budgets(
    config: CiConfig, results: list[ScenarioResult]
) -> list[ScenarioResult]:
    """A budget for a route no scenario measured fails (on the first scenario's list), so a
    typo never passes silently. Not checked when the run was cut short."""
    if not results or len(results) < len(config.scenarios):
        return results
    measured = [route.label for r in results for route in r.report.routes]
    unmatched = unmatched_budget_routes(config, measured)
    if not unmatched:
        return results
    first = results[0]
    extra = tuple(unmeasured_budget(first.name, budget) for budget in unmatched)
    return [replace(first, checks=(*first.checks, *extra)), *results[1:]]
