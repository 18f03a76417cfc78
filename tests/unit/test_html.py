"""The HTML report: self-contained, every app string escaped, the data blob intact, and
the sections a reader needs; the CI page with the verdict's checks."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sampling_builders import ON_LOOP, app, attach_session, endpoint, process, run, stack, thread
from unit_builders import (
    APP_ROOT,
    QUOTE,
    app_fid,
    edge,
    fn,
    measurement,
    profile,
    session,
)
from verdict_builders import failing_verdict, finding, passing_verdict

from perfaudit.analysis.findings import Gain, Severity
from perfaudit.analysis.histogram import latency_histogram
from perfaudit.analysis.report import Report, build_report
from perfaudit.model import CodeLocation, ErrorSample, RouteKey, SkippedRoute
from perfaudit.render.html import (
    render_ci_html,
    render_html,
    script_safe_json,
    write_ci_html,
    write_html,
)

EVIL = "</script><img src=x onerror=alert(1)><!--&amp;\"'"
EVIL_ROUTE = RouteKey("GET", f"/x/{EVIL}")
DATA = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.DOTALL)


def hostile_report() -> Report:
    handler = app_fid(f"handler{EVIL}", line=3, module=f"app/{EVIL}.py")
    functions = [
        fn(handler, "app", self_s=0.2, cumulative_s=1.0),
        fn(app_fid(EVIL, line=9), "app", self_s=0.8, callers=[edge(handler, 0.8)]),
    ]
    error = ErrorSample("exception", f"ValueError: {EVIL}", 500)
    base = session(
        measurements=[measurement(EVIL_ROUTE, errors=3, error_sample=error)],
        profiles=[profile(EVIL_ROUTE, functions)],
        skipped=[SkippedRoute(f"GET /y/{EVIL}", f"needs {EVIL}")],
        notes=[f"note {EVIL}"],
        stopped_early=f"hung {EVIL}",
    )
    env = dataclasses.replace(base.environment, packages={"fastapi": EVIL}, loop=EVIL)
    built = build_report(dataclasses.replace(base, target=f"m:{EVIL}", environment=env))
    bad = dataclasses.replace(
        finding(route=str(EVIL_ROUTE), title=f"title {EVIL}", suggestion=f"do {EVIL}"),
        location=CodeLocation(f"app/{EVIL}.py", 9, EVIL),
        evidence={EVIL: EVIL, "share": 0.5},
        details=(f"Traceback {EVIL}",),
        estimated_gain=Gain(12.5, 0.4),
    )
    return dataclasses.replace(built, findings=(bad,))


def data_of(page: str) -> Any:
    match = DATA.search(page)
    assert match is not None
    return json.loads(match.group(1))


def test_no_app_string_reaches_the_page_unescaped() -> None:
    page = render_html(hostile_report())
    assert EVIL not in page
    assert "<img" not in page
    assert "<!--" not in page
    assert page.count("</script>") == 2  # the data blob's and the script's own
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    for shown in ("title ", "do ", "note ", "hung ", "needs ", "Traceback "):
        assert f"{shown}&lt;/script&gt;" in page, shown


def test_the_data_blob_round_trips_with_the_app_strings_intact() -> None:
    data = data_of(render_html(hostile_report()))
    frames = data["frames"]
    assert [EVIL, "app/pricing.py", 9, "app"] in frames
    (flame,) = data["flames"]["report"]
    assert flame["route"] == str(EVIL_ROUTE)
    root, value, (handler,) = flame["tree"]
    assert frames[root][0] == str(EVIL_ROUTE)
    assert value == pytest.approx(1.0)
    assert frames[handler[0]][:2] == [f"handler{EVIL}", f"app/{EVIL}.py"]


def test_script_safe_json_escapes_what_could_end_a_script() -> None:
    text = json.dumps({"a": "</script><!-- & \u2028 >"})
    safe = script_safe_json(text)
    assert not set("<>&\u2028") & set(safe)
    assert json.loads(safe) == json.loads(text)


def test_the_page_is_self_contained() -> None:
    page = render_html(hostile_report())
    assert "default-src 'none'" in page
    assert "Content-Security-Policy" in page
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(link|iframe|object|embed)\b", page)
    assert not re.search(r"<(script|img)[^>]*\ssrc=", page)
    assert "{{" not in page  # every slot of the template was filled


def test_the_sections_show_routes_histograms_findings_and_the_flame_graph() -> None:
    tariff = app_fid("tariff_table")
    functions = [fn(tariff, "app", self_s=0.7, calls=50)]
    report = build_report(
        session(
            measurements=[measurement(QUOTE, durations_ms=[10 + i % 7 for i in range(100)])],
            profiles=[profile(QUOTE, functions)],
        )
    )
    shown = dataclasses.replace(
        report, findings=(finding("cacheable-call", Severity.HIGH, route=str(QUOTE)),)
    )
    page = render_html(shown)
    assert "<code>GET /quote/{sku}</code>" in page
    bins = latency_histogram([(10 + i % 7) / 1000 for i in range(100)])
    assert bins is not None
    assert page.count('<rect class="bar') == len(bins.counts)
    assert '<span class="badge sev-high">high</span>' in page
    assert '<code class="fid">cacheable-call</code>' in page
    assert 'class="flame" data-key="report"' in page
    assert APP_ROOT not in page  # paths are shown relative to the app


def test_a_report_without_profiles_says_there_is_no_flame_graph() -> None:
    report = build_report(session(measurements=[measurement(QUOTE)]))
    page = render_html(report)
    assert "no flame graph" in page
    assert 'class="flame"' not in page


def test_the_ci_page_shows_the_checks_and_each_scenario(tmp_path: Path) -> None:
    page = render_ci_html(failing_verdict())
    assert "3 of 5 checks failed" in page
    assert page.index("p95 is 1.09× its budget.") < page.index("GET /health ok")  # failed first
    assert "Scenario <code>checkout</code>" in page
    assert "Scenario <code>search</code>" in page
    assert "logging is async in production" in page
    assert "New since the baseline" in page
    assert set(data_of(page)["flames"]) == {"scenario-0", "scenario-1"}
    assert "all 2 checks passed" in render_ci_html(passing_verdict())
    write_ci_html(failing_verdict(), tmp_path / "ci.html")
    assert (tmp_path / "ci.html").read_text(encoding="utf-8") == page


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    report = hostile_report()
    write_html(report, tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_html(report)


def test_histogram_bins_count_every_request_and_set_a_long_tail_apart() -> None:
    even = latency_histogram([i / 1000 for i in range(1, 101)])
    assert even is not None
    assert even.total == 100 and even.overflow == 0
    assert even.edges_ms[0] == pytest.approx(1.0) and even.edges_ms[-1] == pytest.approx(100.0)
    tail = latency_histogram([0.010] * 990 + [0.011] * 9 + [5.0])
    assert tail is not None
    assert tail.overflow == 1 and tail.total == 1000 and tail.max_ms == pytest.approx(5000.0)
    same = latency_histogram([0.02] * 5)
    assert same is not None and same.counts == (5,)
    assert latency_histogram([]) is None


def test_the_page_assets_ship_with_the_package() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["perfaudit.render"]
    for name in ("html_template.html", "html_report.css", "html_flame.js"):
        assert any(Path(name).match(pattern) for pattern in data), name


def test_an_attach_report_draws_its_flame_graphs_from_the_samples() -> None:
    sampling = run(
        process(thread("loop", stack(50, app("tariff_table", 20), app("quote", 10), *ON_LOOP))),
        endpoints=[endpoint("GET", "/quote/{sku}", "quote")],
    )
    page = render_html(build_report(attach_session(sampling)))
    (flame,) = data_of(page)["flames"]["report"]
    assert (flame["route"], flame["profiler"]) == ("GET /quote/{sku}", "py-spy")
    assert "py-spy" in page and "sampling the live process" in page
