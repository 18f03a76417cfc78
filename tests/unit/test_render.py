from __future__ import annotations

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from unit_builders import (
    QUOTE,
    app_fid,
    builtin_fid,
    edge,
    fn,
    hotspot_session,
    lib_fid,
    measurement,
    profile,
    session,
)

from perfaudit.analysis.report import Report, build_report
from perfaudit.model import RouteKey, SkippedRoute
from perfaudit.render.json_report import render_json, report_to_dict, write_json
from perfaudit.render.terminal import render_terminal

ESC = "\x1b["


def make_report() -> Report:
    base = hotspot_session(app_self_s=0.7)
    files = RouteKey("GET", "/files/[name]")
    return build_report(
        session(
            measurements=[*base.measurements, measurement(files, durations_ms=[2.0] * 50)],
            profiles=base.profiles,
            skipped=[SkippedRoute("POST /orders", "not a GET route (POST)")],
            notes=["lifespan startup ran"],
        )
    )


def render(report: Report, console: Console) -> str:
    render_terminal(report, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def flat(text: str) -> str:
    """Rich wraps at the console width: compare text with whitespace runs collapsed."""
    return " ".join(text.split())


def test_terminal_report_shows_route_finding_and_suggestion() -> None:
    report = make_report()
    [hotspot] = [f for f in report.findings if f.id == "cpu-hotspot"]

    out = render(report, Console(file=StringIO(), width=100))

    assert "GET /quote/{sku}" in out
    assert "cpu-hotspot" in out
    assert "HIGH" in out
    assert "app/pricing.py:12 in tariff_table" in out
    assert flat(hotspot.suggestion) in flat(out)
    assert "POST /orders: not a GET route (POST)" in out
    assert "Note: lifespan startup ran" in out


def test_terminal_report_keeps_brackets_in_routes() -> None:
    out = render(make_report(), Console(file=StringIO(), width=100))

    assert "GET /files/[name]" in out


def test_terminal_report_fits_the_width() -> None:
    out = render(make_report(), Console(file=StringIO(), width=100))

    assert max(len(line) for line in out.splitlines()) <= 100


def test_terminal_report_without_findings_says_so() -> None:
    clean = build_report(session(measurements=[measurement(QUOTE)]))

    out = render(clean, Console(file=StringIO(), width=100))

    assert "Findings: none" in out


def test_a_run_with_only_notes_has_no_fix_first_headline() -> None:
    thin = build_report(session(measurements=[measurement(QUOTE, durations_ms=[2.0] * 10)]))

    out = render(thin, Console(file=StringIO(), width=100))

    assert "only 10 requests measured" in out
    assert "Fix first" not in out
    assert "Nothing to fix stands out in this run" in out


def test_plain_console_writes_no_escape_codes() -> None:
    out = render(make_report(), Console(file=StringIO(), width=100))

    assert ESC not in out


def test_terminal_console_does_write_escape_codes() -> None:
    # The counterpart of the test above: the same report on a terminal is styled.
    console = Console(file=StringIO(), width=100, force_terminal=True, color_system="standard")

    assert ESC in render(make_report(), console)


# JSON report


def test_json_report_has_the_documented_core() -> None:
    doc = report_to_dict(make_report())

    assert doc["schema_version"] == 1
    assert doc["tool"] == {"name": "perfaudit", "version": "0.1.0"}
    assert doc["target"] == "shop.main:app"
    assert doc["mode"] == "profile"
    env = doc["environment"]
    assert env["python"] == "3.11.7"
    assert env["loop"] == "asyncio"
    assert env["fastapi"] == "0.115.0"
    assert env["starlette"] == "0.41.0"
    assert env["declared_server"] is None  # no requirements file that installs uvicorn

    route = doc["routes"][0]
    assert (route["method"], route["path"]) == ("GET", "/quote/{sku}")
    assert route["requests"] == 100
    assert route["errors"] == 0
    assert route["status_counts"] == {"200": 100}
    assert route["throughput_rps"] == pytest.approx(50.0)  # 100 requests in 2 s
    assert set(route["latency_ms"]) >= {"p50", "p90", "p95", "p99", "max", "mean"}
    assert route["latency_ms"]["p50"] == pytest.approx(20.0)
    assert route["latency_ms"]["max"] == pytest.approx(20.0)

    hotspot = doc["hotspots"][0]
    assert hotspot["function"] == "tariff_table"
    assert hotspot["file"] == "app/pricing.py"
    assert hotspot["line"] == 12
    assert hotspot["owner"] == "app"
    assert hotspot["self_share"] == pytest.approx(0.7)
    assert hotspot["cumulative_share"] == pytest.approx(0.7)
    assert hotspot["calls"] == 50
    assert all(h["owner"] in {"app", "framework", "library", "stdlib"} for h in doc["hotspots"])

    finding = doc["findings"][0]
    assert finding["id"] == "cpu-hotspot"
    assert finding["severity"] == "high"
    assert finding["route"] == "GET /quote/{sku}"
    assert finding["location"] == {"file": "app/pricing.py", "line": 12, "function": "tariff_table"}
    assert finding["evidence"]["share_of_route_time"] == pytest.approx(0.7)
    assert "tariff_table" in finding["suggestion"]
    assert finding["estimated_gain"]["latency_ms"] == pytest.approx(14.0)
    assert "title" in finding


def test_json_report_findings_are_ranked() -> None:
    doc = report_to_dict(make_report())
    order = ["critical", "high", "medium", "low", "info"]

    ranks = [order.index(f["severity"]) for f in doc["findings"]]

    assert ranks == sorted(ranks)


def test_json_report_hotspots_leave_out_perfaudit_and_idle() -> None:
    handler = app_fid("handler", module="app/main.py")
    functions = [
        fn(handler, "app", self_s=0.1),
        fn(lib_fid("run", module="httpx2/_client.py"), "perfaudit", self_s=0.5),
        fn(builtin_fid("<method 'poll' of 'select.epoll' objects>"), "idle", self_s=0.3),
        fn(
            lib_fid("validate", module="pydantic/main.py"),
            "framework",
            self_s=0.05,
            callers=[edge(handler, 0.05)],
        ),
    ]
    s = session(measurements=[measurement(QUOTE)], profiles=[profile(QUOTE, functions)])

    owners = [h["owner"] for h in report_to_dict(build_report(s))["hotspots"]]

    assert owners == ["app", "framework"]


def test_render_json_is_json_of_the_dict() -> None:
    report = make_report()

    assert json.loads(render_json(report)) == report_to_dict(report)


def test_write_json_writes_the_whole_file(tmp_path: Path) -> None:
    report = make_report()
    target = tmp_path / "out" / "report.json"

    write_json(report, target)

    assert target.read_text(encoding="utf-8") == render_json(report)
    assert os.listdir(target.parent) == ["report.json"]


def test_write_json_replaces_an_old_report(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old and much longer content " * 1000, encoding="utf-8")

    write_json(make_report(), target)

    assert json.loads(target.read_text(encoding="utf-8"))["schema_version"] == 1
    assert os.listdir(tmp_path) == ["report.json"]


def test_write_json_failure_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json(make_report(), target)
    monkeypatch.undo()

    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert os.listdir(tmp_path) == ["report.json"]


# Terminal polish: the top finding at a glance, evidence aligned, short paths, colours


def test_the_top_finding_is_one_line_above_the_list() -> None:
    report = make_report()
    top = report.findings[0]

    out = flat(render(report, Console(file=StringIO(), width=100)))

    glance = out.split("Fix first: ")[1].split("Findings (most important first)")[0]
    assert glance.startswith(f"{top.severity.label.upper()} {top.id}")
    assert "app/pricing.py:12 in tariff_table" in glance
    assert out.index("Fix first:") < out.index("Findings (most important first)")


def test_evidence_names_line_up_in_columns() -> None:
    out = render(make_report(), Console(file=StringIO(), width=100))
    [finding] = [f for f in make_report().findings if f.id == "cpu-hotspot"]
    names = list(finding.evidence)

    rows = [line for line in out.splitlines() if line.strip().startswith(tuple(names))]
    starts = {len(line) - len(line.lstrip()) for line in rows}
    assert len(starts) == 1  # every row's first name in one column
    assert not any(f"{name}=" in out for name in names)


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("app/pricing.py", "app/pricing.py"),
        ("fastapi/dependencies/utils.py", "fastapi/…/utils.py"),
        ("starlette/middleware/base.py", "starlette/middleware/base.py"),
        ("shop/services/pricing/tariffs/tables.py", "shop/…/tariffs/tables.py"),
    ],
)
def test_long_paths_keep_their_package_and_file(path: str, shown: str) -> None:
    from perfaudit.render.terminal import short_path

    assert short_path(path) == shown


def test_colours_read_on_light_terminals_too() -> None:
    from perfaudit.render.terminal import SEVERITY_STYLE

    console = Console(file=StringIO(), width=100, force_terminal=True, color_system="truecolor")
    render(make_report(), console)

    styles = " ".join(SEVERITY_STYLE.values())
    assert "yellow" not in styles and "cyan" not in styles
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[33m" not in out and "\x1b[36m" not in out  # no ANSI yellow or cyan


def test_a_route_whose_every_request_failed_shows_no_throughput() -> None:
    """Issue 17 #12: 20 failures in 2 s read as "10 req/s", as if it served."""
    from perfaudit.render.markdown import _route_cells

    broken = RouteKey("GET", "/broken")
    failed = measurement(broken, durations_ms=[1.0] * 20, errors=20, status_counts={"500": 20})
    report = build_report(session(measurements=[failed], profiles=[]))
    [summary] = report.routes
    assert summary.throughput_text(0) == "–"
    console = Console(file=StringIO(), width=120)
    row = next(line for line in render(report, console).splitlines() if "/broken" in line)
    assert row.split()[4] == "–"  # Route, Req, Err, req/s
    assert _route_cells(summary)[2] == "–"  # Markdown: Route, Req, req/s
