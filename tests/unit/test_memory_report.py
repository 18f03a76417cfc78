"""Memory in every report: the terminal's table, the JSON keys (and the reader that reads
them back), the HTML section and the Markdown block, each escaped; a live process's RSS
per process; and nothing at all where no memory was measured."""

from __future__ import annotations

import dataclasses
import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from memory_builders import HISTORY, MIB, leaky_memory, memory_session
from rich.console import Console
from sampling_builders import attach_session, process, run, thread
from unit_builders import hotspot_session
from verdict_builders import scenario

from perfaudit.analysis.report import Report, build_report
from perfaudit.analysis.verdict import Verdict
from perfaudit.formats.report_json import ReportFormatError, parse_report
from perfaudit.model import CodeLocation, RouteKey, RssSeries, Session
from perfaudit.render.html import render_html
from perfaudit.render.json_report import report_to_dict
from perfaudit.render.markdown import render_markdown
from perfaudit.render.memory_text import size_text
from perfaudit.render.terminal import render_terminal

EVIL = "</td><script>alert(1)</script>[bold]|`x`"


def terminal(report: Report) -> str:
    console = Console(file=StringIO(), width=100)
    render_terminal(report, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def attached() -> Session:
    sampling = dataclasses.replace(
        run(process(thread("loop"), pid=4242)),
        memory=(RssSeries(4242, 0.5, (60 * MIB, 90 * MIB, 75 * MIB)),),
    )
    return attach_session(sampling)


def hostile_session() -> Session:
    evil_route = RouteKey("GET", f"/x/{EVIL}")
    memory = dataclasses.replace(
        leaky_memory(),
        route=evil_route,
        containers=(dataclasses.replace(HISTORY, name=EVIL),),
        note=f"stopped {EVIL}",
    )
    return memory_session([memory])


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (812, "812 B"),
        (1024, "1.0 KiB"),
        (12_595, "12.3 KiB"),
        (123 * 1024, "123 KiB"),
        (4.5 * MIB, "4.5 MiB"),
        (MIB - 40, "1.0 MiB"),
        (3 * 1024 * MIB, "3.0 GiB"),
        (-2 * MIB, "−2.0 MiB"),
    ],
)
def test_sizes_are_in_binary_units(size: float, shown: str) -> None:
    assert size_text(size) == shown


# --- terminal ----------------------------------------------------------------------------


def test_the_terminal_shows_each_routes_memory_in_one_table() -> None:
    out = terminal(build_report(memory_session()))
    assert "Memory per request" in out
    (leak,) = [line for line in out.splitlines() if line.lstrip().startswith("GET /leak ")][1:]
    assert "120 KiB" in leak and "512 B" in leak and "48.8 MiB" in leak
    assert "50.0 → 70.0 MiB" in leak
    assert "app/leaky.py:12 in remember" in out and "app.leaky.HISTORY (list)" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_the_terminal_shows_no_memory_table_without_a_memory_phase() -> None:
    assert "Memory" not in terminal(build_report(hotspot_session()))


def test_the_terminal_keeps_app_text_literal() -> None:
    out = " ".join(terminal(build_report(hostile_session())).split())
    assert "[bold]|`x`" in out  # rich markup is not interpreted
    assert f"stopped {EVIL}" in out.replace("\n", "")


def test_an_attach_report_shows_each_processs_rss() -> None:
    out = terminal(build_report(attached()))
    assert "Memory per process (RSS over the recording)" in out
    (row,) = [line for line in out.splitlines() if line.lstrip().startswith("4242 ")]
    assert "60.0 MiB" in row and "75.0 MiB" in row and "90.0 MiB" in row and "+15.0 MiB" in row
    assert "perfaudit profile" in out  # where the allocating lines come from


# --- JSON --------------------------------------------------------------------------------


def document(session: Session) -> dict[str, Any]:
    doc = report_to_dict(build_report(session))
    return json.loads(json.dumps(doc, allow_nan=False))  # type: ignore[no-any-return]


def test_the_json_memory_keys_name_their_units() -> None:
    doc = document(memory_session())
    leak, clean = doc["memory"]
    assert (leak["route"], clean["route"]) == ("GET /leak", "GET /clean")
    assert leak["peak_bytes_per_request"] == 120 * 1024
    assert leak["response_bytes_per_request"] == 512.0
    assert leak["retained_bytes_per_request"] == 51_200.0
    assert leak["retained_bytes_per_1k_requests"] == 51_200_000
    assert (leak["rss_before_bytes"], leak["rss_after_bytes"]) == (50 * MIB, 70 * MIB)
    assert (leak["requests"], leak["warmup_requests"], leak["peak_requests"]) == (400, 50, 20)
    assert leak["traced_growth_bytes"] == [10_240_000, 10_240_000] and leak["note"] is None
    site = leak["growth_sites"][0]
    assert (site["file"], site["line"], site["function"]) == ("app/leaky.py", 12, "remember")
    assert site["bytes_per_request"] == 51_200.0 and site["halves_bytes"] == [10_240_000] * 2
    assert site["stack"] == ["app/leaky.py:12", "app/main.py:7"]  # shown as locations are
    assert "halves_bytes" not in leak["peak_sites"][0]
    (container,) = leak["containers"]
    assert container["name"] == "app.leaky.HISTORY" and container["type"] == "list"
    assert container["items_per_request"] == 1.0 and container["bound"] is None
    assert container["allocated_at"] == {"file": "app/leaky.py", "line": 12, "function": "remember"}
    assert [r["rss_bytes"] for r in doc["routes"]] == [60 * MIB, 60 * MIB]
    assert doc["process_memory"] == []


def test_unknown_rss_is_null_not_zero() -> None:
    doc = document(hotspot_session())
    assert doc["memory"] == [] and doc["routes"][0]["rss_bytes"] is None
    zero = dataclasses.replace(leaky_memory(), rss_before_bytes=0, rss_after_bytes=0)
    (route,) = document(memory_session([zero]))["memory"]
    assert route["rss_before_bytes"] is None and route["rss_after_bytes"] is None


def test_the_json_has_each_attached_processs_rss() -> None:
    (pid,) = document(attached())["process_memory"]
    assert pid == {
        "pid": 4242,
        "command": "uvicorn main:app",
        "interval_s": 0.5,
        "duration_s": 1.0,
        "rss_start_bytes": 60 * MIB,
        "rss_end_bytes": 75 * MIB,
        "rss_peak_bytes": 90 * MIB,
        "rss_samples_bytes": [60 * MIB, 90 * MIB, 75 * MIB],
    }


def test_the_reader_reads_memory_back() -> None:
    saved = parse_report(document(memory_session()), source="m.json")
    leak = saved.memory_of("GET /leak")
    assert leak is not None
    assert leak.peak_bytes_per_request == 120 * 1024
    assert leak.retained_bytes_per_1k_requests == 51_200_000
    assert (leak.rss_before_bytes, leak.rss_after_bytes) == (50 * MIB, 70 * MIB)
    assert saved.routes[0].rss_bytes == 60 * MIB
    assert saved.memory_of("GET /nowhere") is None


def test_a_report_without_memory_keys_reads_as_before() -> None:
    doc = document(memory_session())
    del doc["memory"], doc["process_memory"]
    for route in doc["routes"]:
        del route["rss_bytes"]
    saved = parse_report(doc, source="old.json")
    assert saved.memory == () and saved.routes[0].rss_bytes is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: {**d, "memory": {}}, "memory should be a list"),
        (
            lambda d: {**d, "memory": [{"peak_bytes_per_request": 1}]},
            r"memory\[0\].route is missing",
        ),
        (
            lambda d: {**d, "memory": [{**d["memory"][0], "peak_bytes_per_request": "big"}]},
            r"memory\[0\].peak_bytes_per_request should be a finite number",
        ),
        (
            lambda d: {**d, "routes": [{**d["routes"][0], "rss_bytes": 1.5}]},
            r"routes\[0\].rss_bytes should be an integer",
        ),
    ],
)
def test_malformed_memory_keys_are_named(mutate: Any, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message):
        parse_report(mutate(document(memory_session())), source="x.json")


# --- HTML and Markdown -------------------------------------------------------------------


def memory_html(page: str) -> str:
    match = re.search(r'<section class="memory">.*?</section>', page, re.DOTALL)
    assert match is not None, "no memory section"
    return match.group(0)


def test_the_html_memory_section_follows_the_time_split() -> None:
    page = render_html(build_report(memory_session()))
    section = memory_html(page)
    assert page.index('class="time-split"') < page.index('class="memory"')
    assert '<td class="num">120 KiB</td>' in section
    assert '<strong class="grows">48.8 MiB</strong>' in section
    assert "<code>app/leaky.py:12 in remember</code>" in section
    assert "<code>app.leaky.HISTORY (list)</code>" in section
    assert "50.0 → 70.0 MiB" in section


def test_the_html_has_no_memory_section_without_memory() -> None:
    assert 'class="memory"' not in render_html(build_report(hotspot_session()))


def test_the_html_memory_section_escapes_app_text() -> None:
    section = memory_html(render_html(build_report(hostile_session())))
    assert "<script>" not in section and "</td><script>" not in section
    assert "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in section


def test_the_html_shows_each_attached_processs_rss() -> None:
    section = memory_html(render_html(build_report(attached())))
    assert "60.0 → 75.0 MiB (peak 90.0)" in section and "uvicorn main:app" in section


def verdict_of(session: Session) -> Verdict:
    return Verdict((scenario("mem", checks=[], result_report=build_report(session)),))


def test_the_markdown_shows_a_memory_table_per_scenario() -> None:
    text = render_markdown(verdict_of(memory_session()))
    assert "**Memory** (tracemalloc, a phase of its own)" in text
    (leak,) = [
        line for line in text.splitlines() if line.startswith("| `GET /leak`") and "KiB" in line
    ]
    assert "| 120 KiB | 512 B | **48.8 MiB** |" in leak
    assert "`app/leaky.py:12 in remember · app.leaky.HISTORY (list)`" in leak
    assert "**Memory**" not in render_markdown(verdict_of(hotspot_session()))


def test_the_markdown_memory_table_cannot_be_broken_by_app_text() -> None:
    html = (
        MarkdownIt("commonmark")
        .enable(["table"])
        .render(render_markdown(verdict_of(hostile_session())))
    )
    assert "<script" not in html
    table = re.search(r"<table>(?:(?!</table>).)*48\.8 MiB.*?</table>", html, re.DOTALL)
    assert table is not None
    cells = [
        re.findall(r"<t[dh][^>]*>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", table[0], re.DOTALL)
    ]
    assert {len(row) for row in cells} == {6}  # the app's `|` split no cell
    assert "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;[bold]|`x` (list)" in table[0]


def test_why_a_memory_phase_stopped_short_is_shown_beside_it() -> None:
    short = dataclasses.replace(leaky_memory(), note="a request failed: 500")
    report = build_report(memory_session([short]))
    assert "GET /leak: a request failed: 500" in terminal(report)
    section = memory_html(render_html(report))
    assert '<p class="note"><code>GET /leak</code>: a request failed: 500</p>' in section
    assert document(memory_session([short]))["memory"][0]["note"] == "a request failed: 500"


def test_every_memory_key_is_documented() -> None:
    schema = (Path(__file__).resolve().parents[2] / "docs" / "report-schema.md").read_text()
    doc = document(memory_session())
    (process,) = document(attached())["process_memory"]
    keys = {"memory", "process_memory", "rss_bytes", *doc["memory"][0], *process}
    site, container = doc["memory"][0]["growth_sites"][0], doc["memory"][0]["containers"][0]
    quoted = {*site, *container}
    assert not [k for k in keys if f"`{k}`" not in schema]
    assert not [k for k in quoted if f'"{k}"' not in schema and f"`{k}`" not in schema]


def test_the_table_points_at_the_apps_own_line_and_the_rules_container() -> None:
    library = dataclasses.replace(
        leaky_memory().growth_sites[0],
        location=CodeLocation("/opt/venv/lib/python3.11/site-packages/orm/cache.py", 9, "put"),
        bytes=10 * MIB,
        owner="library",
    )
    memory = leaky_memory()
    memory = dataclasses.replace(memory, growth_sites=(library, *memory.growth_sites))
    out = terminal(build_report(memory_session([memory])))
    assert "app/leaky.py:12 in remember" in out and "orm/cache.py" not in out
    assert "app.leaky.HISTORY (list)" in out
    (site, *_) = document(memory_session([memory]))["memory"][0]["growth_sites"]
    assert (site["file"], site["owner"]) == ("orm/cache.py", "library")  # the JSON keeps all
