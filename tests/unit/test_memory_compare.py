"""`perfaudit compare` on memory: a route's peak per request, what 1,000 requests retain
and RSS, baseline → current; a change counts beyond ×1.5 and 64 KiB, is shown, and does not
set the exit code; reports without memory compare as before."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from memory_builders import LEAK as LEAK_ROUTE
from memory_builders import MIB, memory_session, route_memory
from unit_builders import hotspot_session

from perfaudit.analysis.baseline import saved_from_report
from perfaudit.analysis.comparison import compare_reports
from perfaudit.analysis.memory_changes import GROWTH_MIN_BYTES, GROWTH_RATIO, memory_changes
from perfaudit.analysis.report import build_report
from perfaudit.cli.console import make_console
from perfaudit.formats.report_json import parse_report
from perfaudit.model import Session
from perfaudit.model.saved_report import SavedMemory, SavedReport, SavedRoute
from perfaudit.render.compare import comparison_to_dict, render_comparison
from perfaudit.render.json_report import report_to_dict

KIB = 1024


def saved(source: str, *, peak: float, kept_1k: float, rss: int | None = 100 * MIB) -> SavedReport:
    route = SavedRoute("GET", "/leak", 100, 0, 50.0, {}, rss_bytes=rss)
    memory = SavedMemory("GET /leak", peak, kept_1k, 512.0, 50 * MIB, 60 * MIB)
    return SavedReport(source, "main:app", "profile", "0.1.0", (route,), memory=(memory,))


def by_metric(base: SavedReport, current: SavedReport) -> dict[str, tuple[bool, bool]]:
    return {c.metric: (c.grew, c.shrank) for c in memory_changes(base, current)}


def test_the_margin_is_documented_and_sensible() -> None:
    assert (GROWTH_RATIO, GROWTH_MIN_BYTES) == (1.5, 64 * KIB)


@pytest.mark.parametrize(
    ("before", "after", "grew", "shrank"),
    [
        pytest.param(100 * KIB, 300 * KIB, True, False, id="tripled"),
        pytest.param(200 * KIB, 290 * KIB, False, False, id="under-x1.5"),
        pytest.param(10 * KIB, 60 * KIB, False, False, id="x6-but-under-64-KiB"),
        pytest.param(0, 100 * KIB, True, False, id="from-nothing"),
        pytest.param(300 * KIB, 100 * KIB, False, True, id="shrank"),
        pytest.param(100 * KIB, 100 * KIB, False, False, id="same"),
    ],
)
def test_a_change_counts_beyond_both_margins(
    before: float, after: float, grew: bool, shrank: bool
) -> None:
    base = saved("a.json", peak=before, kept_1k=before)
    current = saved("b.json", peak=after, kept_1k=after)
    changes = by_metric(base, current)
    assert changes["peak_bytes_per_request"] == (grew, shrank)
    assert changes["retained_bytes_per_1k_requests"] == (grew, shrank)


def test_rss_is_compared_from_the_routes() -> None:
    base = saved("a.json", peak=KIB, kept_1k=0, rss=100 * MIB)
    current = saved("b.json", peak=KIB, kept_1k=0, rss=200 * MIB)
    assert by_metric(base, current)["rss_bytes"] == (True, False)
    unknown = saved("b.json", peak=KIB, kept_1k=0, rss=None)
    assert "rss_bytes" not in by_metric(base, unknown)


def test_memory_growth_is_shown_but_not_a_latency_regression() -> None:
    base = saved("a.json", peak=100 * KIB, kept_1k=0)
    current = saved("b.json", peak=400 * KIB, kept_1k=50 * KIB * 1000)
    comparison = compare_reports(base, current)
    assert comparison.regressed == ()  # `compare` exits 0: budgets gate memory
    peak, kept = comparison.memory_grew
    assert (peak.metric, peak.ratio) == ("peak_bytes_per_request", 4.0)
    assert (kept.metric, kept.baseline) == ("retained_bytes_per_1k_requests", 0)  # a new leak
    out = StringIO()
    render_comparison(comparison, make_console(out, width=120))
    text = " ".join(out.getvalue().split())  # rich wraps at the width
    assert "Memory (baseline → current)" in text
    assert "100 KiB → 400 KiB ▲" in text and "0 B → 48.8 MiB ▲" in text
    assert "Memory grew: GET /leak peak per request +300.0%" in text
    assert "GET /leak retained per 1k requests +48.8 MiB" in text


def test_the_json_comparison_lists_memory_changes() -> None:
    base = saved("a.json", peak=100 * KIB, kept_1k=0)
    current = saved("b.json", peak=400 * KIB, kept_1k=0)
    doc = comparison_to_dict(compare_reports(base, current))
    assert doc["memory_grew"] == ["GET /leak"] and doc["regressed"] == []
    peak, kept, rss = doc["memory"]
    assert peak == {
        "route": "GET /leak",
        "metric": "peak_bytes_per_request",
        "baseline": 100 * KIB,
        "current": 400 * KIB,
        "grew": True,
        "shrank": False,
        "ratio": 4.0,
    }
    assert kept["ratio"] is None  # nothing to divide by
    assert rss["metric"] == "rss_bytes" and not rss["grew"]
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def report_file(session: Session) -> SavedReport:
    return parse_report(json.loads(json.dumps(report_to_dict(build_report(session)))), source="r")


def test_reports_without_memory_compare_as_before() -> None:
    old = report_file(hotspot_session())
    comparison = compare_reports(old, old)
    assert comparison.memory == () and comparison.notes == ()
    out = StringIO()
    render_comparison(comparison, make_console(out, width=120))
    assert "Memory" not in out.getvalue()
    assert comparison_to_dict(comparison)["memory"] == []


def test_one_side_without_a_memory_phase_is_a_note() -> None:
    leaky = memory_session([route_memory(LEAK_ROUTE)])
    with_memory, without = report_file(leaky), report_file(memory_session(memory=()))
    comparison = compare_reports(without, with_memory)
    (note,) = comparison.notes
    assert note.startswith("The baseline report has no memory phase")
    assert {c.metric for c in comparison.memory} == {"rss_bytes"}  # RSS is still there
    (note,) = compare_reports(with_memory, without).notes
    assert note.startswith("The current report has no memory phase")


def test_two_saved_reports_with_memory_compare_end_to_end() -> None:
    base = report_file(memory_session([route_memory(LEAK_ROUTE, peak_bytes=100 * KIB)]))
    current = report_file(memory_session([route_memory(LEAK_ROUTE, peak_bytes=1000 * KIB)]))
    (grew,) = compare_reports(base, current).memory_grew
    assert (grew.route, grew.metric, grew.ratio) == ("GET /leak", "peak_bytes_per_request", 10.0)


def test_a_live_report_compares_as_its_json_would() -> None:
    live = saved_from_report(build_report(memory_session()))
    assert live.memory == report_file(memory_session()).memory
    assert live.routes[0].rss_bytes == 60 * MIB
