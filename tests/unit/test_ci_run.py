"""`perfaudit ci`'s judging, with measuring replaced by hand-built sessions: ignores, the
findings gate, a regression confirmed (or not) by a second run, budgets for routes never
measured, and the JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit_builders import measurement, session

from perfaudit.analysis.report import build_report
from perfaudit.ci import run as ci_run
from perfaudit.ci.run import run_ci
from perfaudit.config import (
    AppTarget,
    Budget,
    Budgets,
    CiConfig,
    IgnoreRule,
    RouteBudget,
    RouteConfig,
    Scenario,
)
from perfaudit.errors import UsageError
from perfaudit.model import RouteKey, Session
from perfaudit.render.json_report import render_json

WORK = RouteKey("GET", "/work")


def work_session(ms: float) -> Session:
    return session(measurements=[measurement(WORK, durations_ms=[ms] * 100)])


def config(tmp_path: Path, **changes: object) -> CiConfig:
    base: dict[str, object] = {
        "path": tmp_path / "perfaudit.yaml",
        "target": AppTarget(app="app:app"),
        "scenarios": (Scenario(name="work", routes=(RouteConfig(method="GET", path="/work"),)),),
    }
    return CiConfig(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Session]]:
    """Sessions `measure` returns, in order (one per scenario run)."""
    queue: list[Session] = []
    monkeypatch.setattr(ci_run, "measure", lambda *args, **kwargs: queue.pop(0))
    yield queue
    assert not queue, "a session was planned but never measured"


def write_baseline(tmp_path: Path, ms: float) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(render_json(build_report(work_session(ms))), encoding="utf-8")
    return path


def regression_checks(outcome: ci_run.CiRun) -> list[ci_run.Check]:
    return [c for c in outcome.verdict.checks if c.kind == "regression"]


def test_a_regression_seen_twice_fails(tmp_path: Path, measured: list[Session]) -> None:
    baseline = write_baseline(tmp_path, 10.0)
    measured += [work_session(20.0), work_session(21.0)]
    outcome = run_ci(config(tmp_path), baseline=baseline)
    (check,) = regression_checks(outcome)
    assert not check.passed and not outcome.verdict.passed
    assert check.measured.startswith("+100%")


def test_a_regression_the_second_run_does_not_confirm_passes(
    tmp_path: Path, measured: list[Session]
) -> None:
    baseline = write_baseline(tmp_path, 10.0)
    measured += [work_session(20.0), work_session(10.0)]
    outcome = run_ci(config(tmp_path), baseline=baseline)
    (check,) = regression_checks(outcome)
    assert check.passed and "not in a second run" in check.detail
    assert outcome.verdict.passed


def test_no_regression_measures_once(tmp_path: Path, measured: list[Session]) -> None:
    baseline = write_baseline(tmp_path, 10.0)
    measured += [work_session(10.0)]
    outcome = run_ci(config(tmp_path), baseline=baseline)
    assert all(check.passed for check in regression_checks(outcome))


def test_a_missing_baseline_from_the_config_is_a_note(
    tmp_path: Path, measured: list[Session]
) -> None:
    measured += [work_session(10.0)]
    outcome = run_ci(config(tmp_path, baseline=tmp_path / "none.json"))
    assert outcome.verdict.passed and outcome.verdict.baseline is None
    assert "No baseline" in outcome.verdict.notes[0]


def test_a_baseline_that_is_not_a_report_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(UsageError, match="not a perfaudit report"):
        run_ci(config(tmp_path), baseline=bad)


def test_budgets_and_an_unmeasured_budget_route(tmp_path: Path, measured: list[Session]) -> None:
    budgets = Budgets(
        overall=Budget(p95_ms=5.0),
        routes=(RouteBudget(route="GET /wrok", budget=Budget(p50_ms=1.0)),),
    )
    measured += [work_session(10.0)]
    outcome = run_ci(config(tmp_path, budgets=budgets))
    failed = {check.name for check in outcome.verdict.failed}
    assert failed == {
        "GET /work p95 ≤ 5 ms",
        "budget for GET /wrok applies to a measured route",
    }


def test_ignored_findings_leave_the_gate_and_are_listed(
    tmp_path: Path, measured: list[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfaudit.analysis.findings import Finding, Severity

    loud = Finding("event-loop-blocked", Severity.HIGH, "Blocked", "GET /work", None, {}, "Fix.")
    real_build = ci_run.build_report
    monkeypatch.setattr(ci_run, "build_report", lambda s: _with_findings(real_build(s), (loud,)))
    measured += [work_session(10.0)]
    ignore = (IgnoreRule(id="event-loop-blocked", reason="known, tracked in #12"),)
    gate = Budgets(overall=Budget(max_severity=Severity.MEDIUM))
    outcome = run_ci(config(tmp_path, ignore=ignore, budgets=gate))
    (result,) = outcome.verdict.scenarios
    assert outcome.verdict.passed
    assert [(f.id, reason) for f, reason in result.ignored_findings] == [
        ("event-loop-blocked", "known, tracked in #12")
    ]
    document = json.loads(json.dumps(outcome.document))
    assert document["verdict"]["ignored_findings"][0]["reason"] == "known, tracked in #12"
    assert document["findings"] == []


def _with_findings(report: ci_run.Report, findings: tuple[object, ...]) -> ci_run.Report:
    from dataclasses import replace

    return replace(report, findings=findings)  # type: ignore[arg-type]


def test_the_document_is_report_shaped(tmp_path: Path, measured: list[Session]) -> None:
    measured += [work_session(10.0)]
    document = run_ci(config(tmp_path)).document
    assert document["mode"] == "ci" and document["schema_version"] == 1
    assert document["routes"][0]["scenario"] == "work"
    assert document["scenarios"][0]["report"]["routes"][0]["path"] == "/work"
    assert document["verdict"]["passed"] is True


@pytest.mark.parametrize(("share", "passed"), [(0.52, True), (0.80, False)])
def test_the_severity_gate_keeps_the_baseline_grade_inside_the_noise(
    tmp_path: Path,
    measured: list[Session],
    monkeypatch: pytest.MonkeyPatch,
    share: float,
    passed: bool,
) -> None:
    """Medium in the baseline; this run reads high at 52% of the route's time, 2 points over
    the line (within the noise): the gate at medium passes. At 80% it fails."""
    from perfaudit.analysis.findings import HOTSPOT_GRADES, Finding, Grading, Severity
    from perfaudit.model import CodeLocation

    def hotspot(share: float) -> Finding:
        grading = Grading(share, 40.0, HOTSPOT_GRADES)
        assert grading.severity is not None
        where = CodeLocation("app.py", 3, "work")
        return Finding(
            "cpu-hotspot",
            grading.severity,
            "work()",
            "GET /work",
            where,
            {},
            "Do less.",
            grading=grading,
        )

    baseline = tmp_path / "baseline.json"
    report = _with_findings(build_report(work_session(10.0)), (hotspot(0.47),))
    baseline.write_text(render_json(report), encoding="utf-8")
    real_build = ci_run.build_report
    now = hotspot(share)
    monkeypatch.setattr(ci_run, "build_report", lambda s: _with_findings(real_build(s), (now,)))
    measured += [work_session(10.0)]
    gate = Budgets(overall=Budget(max_severity=Severity.MEDIUM))

    outcome = run_ci(config(tmp_path, budgets=gate), baseline=baseline)

    (check,) = [c for c in outcome.verdict.checks if c.kind == "findings"]
    assert check.passed is passed
