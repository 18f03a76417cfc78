"""The HTML report in a real headless Chromium (Debian's; `.ci/run` installs it), driven
by Playwright through `executable_path`, so no browser is downloaded.

The report is made once for `sample_apps.pricing:app` and opened from a file:// URL: it
must load without a console error, list the planted findings, and its flame graph must
zoom on a click and highlight a search. A report whose route and function names are
hostile HTML must show them as text and run none of it.

PERFAUDIT_SCREENSHOT=docs/html-report.png also writes the screenshot the docs show.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_WITH_MEMORY, REPO

from perfaudit.analysis.report import Report, build_report
from perfaudit.analysis.verdict import Check, ScenarioResult, Verdict
from perfaudit.model import RouteKey, Session
from perfaudit.render.html import write_ci_html, write_html

pytestmark = pytest.mark.integration

EVIL = "</script><img src=x onerror=alert(1)>"
CHROMIUM = os.environ.get("PERFAUDIT_CHROMIUM") or shutil.which("chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@dataclasses.dataclass
class Page:
    """A page with everything it said: console errors, uncaught errors, dialogs."""

    page: Any
    errors: list[str]
    dialogs: list[str]

    def frames(self, text: str) -> Any:
        return self.page.locator(".fr", has_text=text)

    def top_frame(self) -> Any:
        return self.page.locator(".fr").first


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def pricing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path]:
    """`perfaudit profile … --html` by the real CLI, in its own process (Playwright's sync
    API keeps an event loop running in this one), with the session kept for variants."""
    folder = tmp_path_factory.mktemp("pricing")
    session, html = folder / "pricing.session.json", folder / "pricing.html"
    target = "sample_apps.pricing:app"
    command = [sys.executable, "-m", "perfaudit", "profile", target, *FAST_WITH_MEMORY]
    command += ["--save-session", str(session), "--html", str(html)]
    subprocess.run(command, check=True, cwd=REPO, capture_output=True, timeout=180)
    return Session.from_json(session.read_text(encoding="utf-8")), html


@pytest.fixture(scope="module")
def pricing_session(pricing_run: tuple[Session, Path]) -> Session:
    return pricing_run[0]


@pytest.fixture(scope="module")
def pricing_html(pricing_run: tuple[Session, Path]) -> Path:
    return pricing_run[1]


def open_page(browser: Any, path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = Page(page, [], [])
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector(".fr")
    yield opened
    context.close()


@pytest.fixture
def pricing(browser: Any, pricing_html: Path) -> Iterator[Page]:
    yield from open_page(browser, pricing_html)


def test_the_report_loads_cleanly_and_lists_the_planted_findings(
    pricing: Page, pricing_html: Path
) -> None:
    findings = pricing.page.locator("section.findings").inner_text()
    assert "event-loop-blocked" in findings
    assert "cacheable-call" in findings
    assert "tariff_table" in findings
    assert pricing.page.locator(".hist svg").count() >= 3
    assert pricing.errors == []
    assert pricing_html.stat().st_size < 1_000_000


def test_where_the_time_goes_draws_a_bar_per_route(pricing: Page) -> None:
    """The CPU-bound route's bar is mostly CPU, drawn at a width the browser lays out."""
    rows = pricing.page.locator("table.waterfalls tbody tr")
    assert rows.count() >= 3
    featured = rows.filter(has_text="/quotes/featured")
    cpu = featured.locator(".waterfall .cpu").bounding_box()
    bar = featured.locator(".waterfall").bounding_box()
    assert cpu is not None and bar is not None
    assert cpu["width"] > 0.5 * bar["width"]
    assert "CPU" in featured.inner_text()


def test_the_memory_section_lists_each_route_s_memory_phase(pricing: Page) -> None:
    """Rendered by the browser after the time split: a row per route with a peak."""
    section = pricing.page.locator("section.memory")
    assert section.is_visible()
    rows = section.locator("table.memory tbody tr")
    assert rows.count() >= 3
    featured = rows.filter(has_text="/quotes/featured").inner_text()
    assert "KiB" in featured or "MiB" in featured
    order = pricing.page.evaluate("[...document.querySelectorAll('section')].map(s => s.className)")
    assert order.index("memory") == order.index("time-split") + 1, order


def test_a_click_zooms_into_a_frame_and_reset_zooms_out(pricing: Page) -> None:
    page = pricing.page
    assert page.locator(".fr").count() > 5
    graph_width = page.locator(".graph").bounding_box()["width"]
    target = pricing.frames("tariff_table").first
    assert target.bounding_box()["width"] < graph_width * 0.99
    crumbs_before = page.locator(".crumbs").inner_text()
    target.click()
    top = pricing.top_frame()
    assert top.inner_text() == "tariff_table"
    assert top.bounding_box()["width"] == pytest.approx(graph_width, abs=3)
    crumbs = page.locator(".crumbs").inner_text()
    assert crumbs != crumbs_before and "tariff_table" in crumbs
    page.locator("button.reset").click()
    assert pricing.top_frame().inner_text() == "GET /quotes/featured"
    assert pricing.errors == []


def test_search_highlights_the_matching_frames_and_their_share(pricing: Page) -> None:
    pricing.page.locator("input.search").fill("tariff_table")
    hits = pricing.page.locator(".fr.hit")
    assert hits.count() >= 1
    assert all("tariff_table" in text for text in hits.all_inner_texts())
    matched = pricing.page.locator(".matched").inner_text()
    assert matched.startswith("matched: ")
    assert float(matched.split()[1].rstrip("%")) > 50.0  # the planted bottleneck


def test_the_route_select_switches_the_flame_graph(pricing: Page) -> None:
    select = pricing.page.locator("select.route-select")
    labels = select.locator("option").all_inner_texts()
    assert len(labels) == 3 and labels[0].startswith("GET /quotes/featured")
    select.select_option(index=1)
    assert pricing.top_frame().inner_text() == labels[1].split(" — ")[0]
    assert pricing.errors == []


def hostile(session: Session) -> Report:
    """The pricing session with its routes and tariff_table renamed to hostile HTML."""

    def route(key: RouteKey) -> RouteKey:
        return RouteKey(key.method, key.template + EVIL)

    def function(stats: Any) -> Any:
        fid = stats.function
        if fid.name != "tariff_table":
            return stats
        return dataclasses.replace(stats, function=dataclasses.replace(fid, name=fid.name + EVIL))

    measurements = [dataclasses.replace(m, route=route(m.route)) for m in session.measurements]
    profiles = [
        dataclasses.replace(p, route=route(p.route), functions=tuple(map(function, p.functions)))
        for p in session.profiles
    ]
    renamed = dataclasses.replace(
        session,
        target=f"pricing{EVIL}",
        measurements=tuple(measurements),
        profiles=tuple(profiles),
        probes=(),
        evidence=(),
    )
    return build_report(renamed)


def test_hostile_names_show_as_text_and_run_nothing(
    browser: Any, pricing_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.html"
    write_html(hostile(pricing_session), path)
    for opened in open_page(browser, path):
        page = opened.page
        assert page.locator("img").count() == 0
        assert f"pricing{EVIL}" in page.locator("h1").inner_text()
        assert f"/quotes/featured{EVIL}" in page.locator("table.routes").inner_text()
        assert opened.frames(f"tariff_table{EVIL}").count() >= 1
        page.locator("input.search").fill("onerror")
        assert page.locator(".fr.hit").count() >= 1
        assert opened.dialogs == []
        assert opened.errors == []


def test_the_ci_page_loads_with_a_flame_graph_per_scenario(
    browser: Any, pricing_session: Session, tmp_path: Path
) -> None:
    report = build_report(pricing_session)
    check = Check("pricing", "findings ≤ medium", "findings", None, False, "high", "≤ medium")
    scenarios = (ScenarioResult("pricing", report, (check,)), ScenarioResult("again", report, ()))
    path = tmp_path / "ci.html"
    write_ci_html(Verdict(scenarios), path)
    for opened in open_page(browser, path):
        assert opened.page.locator(".flame").count() == 2
        assert opened.page.locator(".flame").nth(1).locator(".fr").count() > 5
        assert "1 of 1 checks failed" in opened.page.locator(".verdict").inner_text()
        assert opened.errors == []


@pytest.mark.skipif(not os.environ.get("PERFAUDIT_SCREENSHOT"), reason="PERFAUDIT_SCREENSHOT unset")
def test_screenshot_for_the_docs(pricing: Page) -> None:
    pricing.page.locator("input.search").fill("tariff_table")
    pricing.page.screenshot(path=os.environ["PERFAUDIT_SCREENSHOT"], full_page=True)
