"""Grades near a line: Finding.near says when another run may read the neighbouring
severity, and `ci` keeps the baseline's grade there (hysteresis), so a gate does not flap."""

from __future__ import annotations

from dataclasses import replace

import pytest
from unit_builders import measurement, session

from perfaudit.analysis.baseline import saved_from_report
from perfaudit.analysis.comparison import keep_baseline_grades
from perfaudit.analysis.findings import (
    HOTSPOT_GRADES,
    MS_NOISE,
    Finding,
    Grading,
    Severity,
    near_note,
    rank,
)
from perfaudit.analysis.report import build_report
from perfaudit.model import CodeLocation, RouteKey
from perfaudit.model.saved_report import SavedReport

ROUTE = "GET /work"


def hotspot(share: float, ms: float = 50.0, **changes: object) -> Finding:
    grading = Grading(share, ms, HOTSPOT_GRADES)
    severity = grading.severity
    assert severity is not None
    finding = Finding(
        "cpu-hotspot",
        severity,
        "work() is slow",
        ROUTE,
        CodeLocation("app.py", 3, "work"),
        {},
        "Do less.",
        grading=grading,
    )
    return replace(finding, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("share", "severity", "near"),
    [
        (0.80, Severity.HIGH, None),  # clear of every line
        (0.52, Severity.HIGH, Severity.MEDIUM),  # just above the 50% line
        (0.47, Severity.MEDIUM, Severity.HIGH),  # just below it
        (0.37, Severity.MEDIUM, None),
        (0.24, Severity.LOW, Severity.MEDIUM),  # crud-sync's get_all(): 24% one run, 27% two
        (0.105, Severity.LOW, None),  # near the lowest line: no neighbouring grade, only absence
    ],
)
def test_near_names_the_grade_another_run_may_read(
    share: float, severity: Severity, near: Severity | None
) -> None:
    finding = hotspot(share)
    assert (finding.severity, finding.near) == (severity, near)


def test_the_milliseconds_line_counts_too() -> None:
    assert hotspot(0.8, ms=5.2).near == Severity.MEDIUM  # high needs 5 ms per request
    assert hotspot(0.8, ms=5.2 / (1 - MS_NOISE) + 0.1).near is None


def test_a_severity_not_read_from_the_figures_is_never_near() -> None:
    capped = hotspot(0.52, severity=Severity.LOW)  # slow by design, capped by the rule
    assert capped.near is None
    no_grading = hotspot(0.52, grading=None)
    assert no_grading.near is None


def test_the_note_says_what_another_run_may_read() -> None:
    assert near_note(hotspot(0.80)) is None
    note = near_note(hotspot(0.47))
    assert note is not None and "another run may grade it high" in note


def baseline_with(*findings: Finding) -> SavedReport:
    report = build_report(session(measurements=[measurement(RouteKey("GET", "/work"))]))
    return saved_from_report(replace(report, findings=findings), source="baseline")


def test_ci_keeps_the_baseline_grade_inside_the_noise() -> None:
    base = baseline_with(hotspot(0.47))  # medium in the baseline
    (settled,) = keep_baseline_grades(base, [hotspot(0.52)])
    assert settled.severity == Severity.MEDIUM
    assert "Graded medium as in the baseline" in settled.details[-1]
    assert settled.near == Severity.HIGH  # still near: what this run read


def test_ci_follows_a_run_that_clears_the_line() -> None:
    base = baseline_with(hotspot(0.47))
    (clear,) = keep_baseline_grades(base, [hotspot(0.80)])
    assert clear.severity == Severity.HIGH and not clear.details


def test_ci_keeps_nothing_the_figures_cannot_read() -> None:
    base = baseline_with(hotspot(0.12))  # low in the baseline: two grades away from 52%
    (kept,) = keep_baseline_grades(base, [hotspot(0.52)])
    assert kept.severity == Severity.HIGH


def test_ci_matches_the_same_finding_only() -> None:
    other_function = hotspot(0.47, location=CodeLocation("app.py", 9, "other"))
    base = baseline_with(other_function)
    (kept,) = keep_baseline_grades(base, [hotspot(0.52)])
    assert kept.severity == Severity.HIGH


def test_findings_about_the_same_time_keep_their_order_when_their_scores_swap() -> None:
    """The demo's event-loop-blocked (confidence 0.9) and cacheable-call (0.8) of the same
    function score 0.70-0.80 from run to run: "Fix first" must not follow that noise."""
    where = CodeLocation("app.py", 3, "work")
    elsewhere = CodeLocation("app.py", 9, "other")

    def at(id_: str, impact: float, confidence: float, location: CodeLocation) -> Finding:
        return replace(
            hotspot(0.8), id=id_, impact=impact, confidence=confidence, location=location
        )

    for blocked, cached in ((0.80, 0.88), (0.85, 0.80)):
        ranked = rank(
            [
                at("cacheable-call", cached, 0.8, where),
                at("cpu-hotspot", 0.89, 0.7, elsewhere),  # score 0.62: below the pair's best
                at("event-loop-blocked", blocked, 0.9, where),
            ]
        )
        assert [f.id for f in ranked] == ["event-loop-blocked", "cacheable-call", "cpu-hotspot"]
