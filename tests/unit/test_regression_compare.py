"""Two reports compared: latency Changes per route, throughput, the functions that got
slower, new findings, and the rendering of it all (terminal and JSON)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict
from io import StringIO

from unit_builders import hotspot_session

from perfaudit.analysis.baseline import saved_from_report
from perfaudit.analysis.comparison import compare_reports, new_findings
from perfaudit.analysis.regression import JudgeOptions
from perfaudit.analysis.report import build_report
from perfaudit.cli.console import make_console
from perfaudit.formats.report_json import parse_report
from perfaudit.model.saved_report import SavedFinding, SavedHotspot, SavedReport, SavedRoute
from perfaudit.render.compare import comparison_to_dict, render_comparison


def samples(median_ms: float, *, n: int = 300, seed: int = 1) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(sorted(math.exp(rng.gauss(math.log(median_ms), 0.3)) for _ in range(n)))


def route(
    path: str, median_ms: float, *, rps: float = 100.0, seed: int = 1, n: int = 300
) -> SavedRoute:
    values = samples(median_ms, n=n, seed=seed)
    return SavedRoute(
        method="GET",
        path=path,
        requests=len(values),
        errors=0,
        throughput_rps=rps,
        latency_ms={"mean": sum(values) / len(values)} if values else {},
        samples_ms=values,
        samples_total=len(values),
    )


def spot(function: str, self_share: float, cumulative: float, label: str) -> SavedHotspot:
    return SavedHotspot(function, "app/main.py", 10, "app", self_share, cumulative, label)


def finding(id_: str, function: str | None, route_: str = "GET /a") -> SavedFinding:
    return SavedFinding(id_, "high", f"{id_} title", route_, function, "app/main.py", 10)


def report(source: str, *routes: SavedRoute, **kwargs: object) -> SavedReport:
    return SavedReport(source, "main:app", "profile", "0.1.0", routes, **kwargs)  # type: ignore[arg-type]


BASE = report(
    "a.json",
    route("/a", 10, seed=1),
    route("/b", 5, seed=2, rps=200),
    route("/gone", 5, seed=3),
    route_hotspots={
        "GET /a": (spot("slow_fn", 0.30, 0.40, "GET /a"), spot("ok_fn", 0.20, 0.2, "GET /a"))
    },
    findings=(finding("cpu-hotspot", "slow_fn"),),
)
CURRENT = report(
    "b.json",
    route("/a", 20, seed=4),
    route("/b", 5, seed=5, rps=190),
    route("/new", 5, seed=6),
    route_hotspots={
        "GET /a": (spot("slow_fn", 0.65, 0.70, "GET /a"), spot("ok_fn", 0.10, 0.1, "GET /a"))
    },
    findings=(
        finding("cpu-hotspot", "slow_fn"),  # known: same id, route and function
        finding("cpu-hotspot", "other_fn"),  # new: another function
        finding("sync-logging", None),
    ),
)


def test_latency_changes_per_route_in_both_reports() -> None:
    result = compare_reports(BASE, CURRENT)
    by_route = {c.route: c for c in result.latency}
    assert set(by_route) == {"GET /a", "GET /b"}
    assert by_route["GET /a"].regressed and by_route["GET /a"].metric == "p50_ms"
    assert by_route["GET /a"].ci_low > 1.5 and by_route["GET /a"].baseline_samples == 300
    assert not by_route["GET /b"].regressed and by_route["GET /b"].judged
    assert [c.route for c in result.regressed] == ["GET /a"]
    assert any("GET /new is in the current run only" in n for n in result.notes)
    assert any("GET /gone is in the baseline only" in n for n in result.notes)


def test_throughput_is_a_ratio_not_judged() -> None:
    change = {c.route: c for c in compare_reports(BASE, CURRENT).throughput}["GET /b"]
    assert change.ratio == 0.95 and change.metric == "rps"
    assert not change.judged and not change.regressed and change.p_value is None
    assert "no confidence interval" in change.note


def test_a_baseline_without_raw_samples_is_not_judged() -> None:
    old = report("old.json", SavedRoute("GET", "/a", 100, 0, 100.0, {"p50": 10.0}))
    change = compare_reports(old, CURRENT).latency[0]
    assert not change.judged and not change.regressed
    assert "no raw latency samples" in change.note


def test_functions_that_got_slower_come_first() -> None:
    functions = compare_reports(BASE, CURRENT).functions
    assert [f.function for f in functions] == ["slow_fn"]  # ok_fn shrank: not listed
    slow = functions[0]
    assert round(slow.self_pp, 6) == 35.0 and round(slow.cumulative_pp, 6) == 30.0
    assert slow.self_ms_after is not None and slow.self_ms_before is not None
    assert slow.self_ms_after > 3 * slow.self_ms_before  # share ×2, latency ×2


def test_a_function_new_to_the_list_has_no_cumulative_change() -> None:
    base = report("a.json", route("/a", 10), route_hotspots={"GET /a": ()})
    functions = compare_reports(base, CURRENT).functions
    assert [(f.function, f.cumulative_pp) for f in functions] == [
        ("slow_fn", None),
        ("ok_fn", None),
    ]
    assert (
        comparison_to_dict(compare_reports(base, CURRENT))["functions"][0]["cumulative_pp"] is None
    )


def test_jitter_in_profiled_shares_is_not_listed() -> None:
    jitter = report(
        "b.json",
        route("/a", 10, seed=9),
        route_hotspots={"GET /a": (spot("slow_fn", 0.305, 0.40, "GET /a"),)},
    )
    assert compare_reports(BASE, jitter).functions == ()


def test_a_ci_report_compared_with_itself_has_no_slower_function() -> None:
    """Issue 17 #6: matched by (file, name), fastapi/routing.py's several `app`s and each
    scenario's repeats overwrote each other: 10 functions "got slower" against itself."""
    routing = "fastapi/routing.py"
    hotspots = tuple(
        SavedHotspot("app", routing, line, "framework", share, share, None, scenario)
        for scenario, shares in (("browse", (0.02, 0.08, 0.15)), ("checkout", (0.11, 0.03, 0.05)))
        for line, share in zip((154, 438, 2908), shares, strict=True)
    )
    ci = SavedReport("ci.json", "main:app", "ci", "0.1.0", (route("/a", 10),), hotspots=hotspots)

    assert compare_reports(ci, ci).functions == ()
    document = {"schema_version": 1, "routes": [], "hotspots": [{**asdict(hotspots[0])}]}
    [read] = parse_report(document, source="ci.json").hotspots  # the scenario tag is kept
    assert read.scenario == "browse"


def test_a_function_whose_def_moved_is_still_the_same_function() -> None:
    moved = SavedHotspot("slow_fn", "app/main.py", 14, "app", 0.30, 0.40, "GET /a")
    base = report(
        "a.json",
        route("/a", 10),
        route_hotspots={"GET /a": (spot("slow_fn", 0.30, 0.40, "GET /a"),)},
    )
    after = report("b.json", route("/a", 10), route_hotspots={"GET /a": (moved,)})

    assert compare_reports(base, after).functions == ()


def test_new_findings_are_those_whose_id_route_and_function_are_new() -> None:
    new = compare_reports(BASE, CURRENT).new_findings
    assert [(f.id, f.function) for f in new] == [
        ("cpu-hotspot", "other_fn"),
        ("sync-logging", None),
    ]


def test_new_findings_of_a_live_report() -> None:
    live = build_report(hotspot_session())
    saved = saved_from_report(live)
    assert saved.findings, "the builder's session should yield a finding"
    assert new_findings(saved, live) == ()
    assert new_findings(report("empty.json"), live) == live.findings


def test_a_live_report_keeps_its_raw_samples() -> None:
    saved = saved_from_report(build_report(hotspot_session()))
    assert saved.routes[0].label == "GET /quote/{sku}"
    assert saved.routes[0].samples_ms == (20.0,) * 100
    assert saved.route_hotspots["GET /quote/{sku}"][0].function == "tariff_table"


def test_the_terminal_rendering_names_the_regression() -> None:
    out = StringIO()
    render_comparison(compare_reports(BASE, CURRENT), make_console(out, width=120))
    text = out.getvalue()
    assert "▲ regressed" in text and "GET /a" in text
    assert "Throughput" in text and "-5.0%" in text
    assert "slow_fn" in text and "+35.0 pp" in text
    assert "other_fn" in text and "Regressed: GET /a" in text


def test_the_terminal_rendering_of_no_change() -> None:
    out = StringIO()
    render_comparison(compare_reports(BASE, BASE), make_console(out, width=120))
    assert "No route regressed beyond +10%" in out.getvalue()
    assert "New findings since the baseline: none." in out.getvalue()


def test_the_json_rendering_is_plain_json() -> None:
    options = JudgeOptions(metric="p95")
    doc = comparison_to_dict(compare_reports(BASE, CURRENT, options))
    assert doc["regressed"] == ["GET /a"] and doc["options"]["metric"] == "p95"
    assert doc["latency"][0]["metric"] == "p95_ms"
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
