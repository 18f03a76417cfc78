"""The Markdown verdict: content and order, and that nothing from the app can break a
table, close a code span or inject HTML. Rendered with markdown-it-py (rich's Markdown
parser, so always installed) in its CommonMark mode with GFM tables."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from verdict_builders import (
    HOSTILE,
    HOSTILE_PATH,
    change,
    check,
    failing_verdict,
    finding,
    passing_verdict,
    report,
    scenario,
)

from perfaudit.analysis.verdict import Verdict
from perfaudit.model import CodeLocation
from perfaudit.render.markdown import (
    append_step_summary,
    change_text,
    first_sentence,
    render_markdown,
    write_markdown,
)
from perfaudit.render.markdown_text import code, md_escape, utf16_units

HOSTILE_MESSAGE = "Cache it | or not\n\n| x | y |\n# heading\n<script>alert(1)</script> [a](b)"


def to_html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def rows(html: str) -> list[list[str]]:
    """Every table row's cells, as rendered HTML."""
    return [
        re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)
        for row in re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)
    ]


def hostile_verdict() -> Verdict:
    bad = finding(
        route=f"GET {HOSTILE_PATH}",
        title=HOSTILE_MESSAGE,
        suggestion=HOSTILE_MESSAGE,
        location=CodeLocation("app/x|y`.py", 3, "f<b>"),
    )
    failed = check(
        f"GET {HOSTILE_PATH} p95 ≤ 1 ms",
        passed=False,
        route=f"GET {HOSTILE_PATH}",
        measured="5.0 ms",
        limit="≤ 1 ms",
        detail=HOSTILE_MESSAGE,
    )
    ignored = finding("sync-logging", route=None, suggestion="Log later.")
    hostile = scenario(
        "evil|name\n<b>",
        checks=[failed],
        result_report=report([HOSTILE], findings=[bad, ignored]),
        ignored=[(ignored, HOSTILE_MESSAGE)],
    )
    return Verdict((hostile,), baseline="base|line`.json", notes=(HOSTILE_MESSAGE,))


def test_a_passing_verdict_says_so_in_one_line() -> None:
    out = render_markdown(passing_verdict())

    assert out.startswith("## ✅ perfaudit: all 2 checks passed\n")
    assert "Failed checks" not in out


def test_failed_checks_come_first_with_measured_limit_and_detail() -> None:
    out = render_markdown(failing_verdict())

    assert out.startswith("## ❌ perfaudit: 3 of 5 checks failed\n")
    assert out.index("### Failed checks") < out.index("### Scenario `checkout`")
    failed = out[out.index("### Failed checks") : out.index("### Scenario")]
    assert "**131.2 ms**" in failed
    assert "p95 is 1.09× its budget." in failed
    assert "GET /health p95 ≤ 50 ms" not in failed


def test_routes_show_the_change_against_the_baseline() -> None:
    html = to_html(render_markdown(failing_verdict()))

    [orders] = [r for r in rows(html) if "GET /orders/{order_id}</code>" in r[0]][:1]
    assert orders[1:7] == ["100", "50.0", "59.5", "104.0", "108.0", "0"]
    assert "p95 +31% (95% CI +22%…+40%) 🔺 <strong>regressed</strong>" in orders[7]
    assert "baseline <code>baseline/perfaudit.json</code>" in html


def test_a_change_that_was_not_judged_shows_no_interval() -> None:
    unjudged = change(ratio=1.5, ci=(1.5, 1.5), regressed=False, note="too few samples (3 < 30)")
    missing = change(metric="rps", ratio=math.nan, ci=(math.nan, math.nan), regressed=False)

    assert change_text(replace(unjudged, judged=False)) == (
        "p95 +50% (not judged) — too few samples (3 &lt; 30)"
    )
    assert change_text(replace(missing, judged=False)) == "req/s – (not judged)"


def test_new_findings_are_apart_and_ignored_ones_collapsed_with_their_reason() -> None:
    out = render_markdown(failing_verdict())

    new = out[out.index("**New findings") : out.index("**Other findings")]
    other = out[out.index("**Other findings") : out.index("<details><summary>1 finding")]
    ignored = out[out.index("<details><summary>1 finding ignored") :]
    assert "`event-loop-blocked`" in new and "`cpu-hotspot`" not in new
    assert "`cpu-hotspot`" in other and "`sync-logging`" not in other
    assert "`sync-logging`" in ignored.split("</details>")[0]
    assert "logging is async in production" in ignored
    assert "| 🟠 **high** | `event-loop-blocked` | `GET /orders/{order_id}` |" in new
    assert "`app/orders.py:42 in get_order` | Use an async driver. |" in new


def test_hostile_text_neither_breaks_tables_nor_injects_html() -> None:
    out = render_markdown(hostile_verdict())
    html = to_html(out)

    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert "<a href" not in html and "<h1>" not in html
    for table_rows in _tables(html):
        assert len({len(cells) for cells in table_rows}) == 1, table_rows
    route = "<code>GET /a|b_*`x`&lt;img src=x&gt;</code>"
    [measured] = [r for r in rows(html) if r[0] == route]
    assert measured[1] == "100"
    [shown] = [r for r in rows(html) if r[1] == "<code>event-loop-blocked</code>"]
    assert shown[2:4] == [route, "<code>app/x|y`.py:3 in f&lt;b&gt;</code>"]
    assert (
        shown[4]
        == "Cache it | or not | x | y | # heading &lt;script&gt;alert(1)&lt;/script&gt; [a](b)"
    )
    [ignored] = [r for r in rows(html) if r[1] == "<code>sync-logging</code>"]
    assert ignored[3] == shown[4]


def _tables(html: str) -> list[list[list[str]]]:
    return [rows(t) for t in re.findall(r"<table>.*?</table>", html, re.DOTALL)]


@pytest.mark.parametrize(
    "text",
    ["a`b", "``", "`lead", "trail`", "x ``` y", "a|b", "a\\|b", "<img src=x>", "a\nb"],
)
def test_code_spans_cannot_be_broken_out_of(text: str) -> None:
    for in_table, markdown in (
        (False, code(text)),
        (True, f"| h |\n| - |\n| {code(text, in_table=True)} |"),
    ):
        html = to_html(markdown)
        shown = re.findall(r"<code>(.*?)</code>", html, re.DOTALL)
        expected = " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")
        assert shown == [expected], (in_table, markdown, html)


@pytest.mark.parametrize(
    "text",
    ["*bold* _it_ ~~s~~ $x$", "[a](http://x) ![i](y)", "# h", "- item", "1. one", "a\\", "&amp;"],
)
def test_escaped_text_renders_literally(text: str) -> None:
    html = to_html(md_escape(text)).strip()

    literal = text.replace("&", "&amp;")
    assert html == f"<p>{literal}</p>"


def test_a_huge_verdict_is_cut_to_a_github_comment_with_a_note() -> None:
    many = [
        check(f"GET /r{i} p95 ≤ 1 ms", passed=False, detail="x" * 150, measured="9 ms")
        for i in range(100)
    ]
    scenarios = tuple(
        scenario(f"s{n}", checks=many, result_report=report(findings=[finding()] * 20))
        for n in range(30)
    )
    out = render_markdown(Verdict(scenarios))

    assert utf16_units(out) <= 65_536
    assert out.rstrip().endswith("The JSON report and the JUnit XML have everything._")
    assert out.count("<details>") == out.count("</details>")
    assert "…and 2900 more checks" in out  # the failed-checks table keeps its first 100


def test_first_sentence_skips_abbreviations_and_file_names() -> None:
    assert first_sentence("Cache it, e.g. with lru_cache in app.py. Then measure.") == (
        "Cache it, e.g. with lru_cache in app.py."
    )
    assert first_sentence("No full stop") == "No full stop"


def test_write_markdown_writes_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "verdict.md"

    write_markdown(failing_verdict(), path)

    assert path.read_text(encoding="utf-8") == render_markdown(failing_verdict())
    assert [p.name for p in path.parent.iterdir()] == ["verdict.md"]


def test_step_summary_is_appended_not_replaced(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}

    assert append_step_summary(passing_verdict(), env) == summary
    append_step_summary(failing_verdict(), env)

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")
    assert text.index("✅ perfaudit") < text.index("❌ perfaudit")


def test_step_summary_outside_github_actions_writes_nothing() -> None:
    assert append_step_summary(passing_verdict(), {}) is None
    assert append_step_summary(passing_verdict(), {"GITHUB_STEP_SUMMARY": ""}) is None
