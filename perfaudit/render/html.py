"""The report as one self-contained HTML file: no network, no CDN (a Content-Security-Policy
forbids both), its style and script inlined from the files beside this module.

Python does the analysis and the markup (html_sections.py); the flame graphs' trees go
into the page as one JSON blob in a `<script type="application/json">`, with every `<`,
`>` and `&` escaped, so no string from the app can close the script. The page's script
reads it with JSON.parse and builds the graph with textContent and createElement only.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from perfaudit.analysis.flame import FlameNode, RouteFlame, route_flames
from perfaudit.analysis.report import Report
from perfaudit.analysis.verdict import Check, ScenarioResult, Verdict
from perfaudit.fileio import atomic_write
from perfaudit.render import html_sections as sections
from perfaudit.render.html_memory import memory_section
from perfaudit.render.html_sections import badge, esc

ASSETS = ("html_template.html", "html_report.css", "html_flame.js")
_SLOT = re.compile(r"\{\{(\w+)\}\}")
_JSON_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}


def render_html(report: Report) -> str:
    data = PageData()
    body = _report_body(report, data, key="report")
    title = f"perfaudit — {report.session.target}"
    heading = f"<h1>perfaudit report: <code>{esc(report.session.target)}</code></h1>"
    return _document(title, heading + sections.header(report) + body, data)


def write_html(report: Report, path: Path) -> None:
    atomic_write(path, render_html(report).encode("utf-8"))


def render_ci_html(verdict: Verdict) -> str:
    """A page for one `perfaudit ci` run: the verdict's checks, then each scenario's report."""
    data = PageData()
    parts = [_verdict_head(verdict), _checks_table(verdict.checks)]
    for number, scenario in enumerate(verdict.scenarios):
        parts.append(_scenario(scenario, data, key=f"scenario-{number}"))
    return _document("perfaudit ci", "".join(parts), data)


def write_ci_html(verdict: Verdict, path: Path) -> None:
    atomic_write(path, render_ci_html(verdict).encode("utf-8"))


class PageData:
    """What the page's script reads: the flame graphs per widget, their frames shared in
    one table ([name, file, line, owner]) and each tree as nested [frame, seconds, [...]]."""

    def __init__(self) -> None:
        self.frames: list[list[str | int]] = []
        self._index: dict[tuple[str, str, int, str], int] = {}
        self.flames: dict[str, list[dict[str, Any]]] = {}

    def add(self, key: str, flames: tuple[RouteFlame, ...]) -> None:
        self.flames[key] = [
            {"route": f.route, "profiler": f.profiler, "tree": self._node(f.root)} for f in flames
        ]

    def _node(self, node: FlameNode) -> list[Any]:
        frame = (node.name, node.file, node.line, node.owner)
        index = self._index.setdefault(frame, len(self.frames))
        if index == len(self.frames):
            self.frames.append(list(frame))
        encoded: list[Any] = [index, round(node.value, 7)]
        if node.children:
            encoded.append([self._node(child) for child in node.children])
        return encoded

    def to_json(self) -> str:
        return json.dumps({"frames": self.frames, "flames": self.flames}, separators=(",", ":"))


def script_safe_json(text: str) -> str:
    """JSON that cannot end the `<script>` holding it (no `</script>`, no `<!--`): every
    `<`, `>` and `&` as a \\u escape, which JSON.parse reads back unchanged."""
    return re.sub("[<>&\u2028]", lambda m: _JSON_UNSAFE[m.group()], text)


def _document(title: str, body: str, data: PageData) -> str:
    template, style, script = (_asset(name) for name in ASSETS)
    slots = {
        "title": esc(title),
        "style": style,
        "body": body,
        "data": script_safe_json(data.to_json()),
        "script": script,
    }
    # One pass, so nothing substituted is read again as a slot.
    return _SLOT.sub(lambda m: slots[m.group(1)], template)


def _asset(name: str) -> str:
    return resources.files("perfaudit.render").joinpath(name).read_text(encoding="utf-8")


def _report_body(report: Report, data: PageData, *, key: str, level: int = 2) -> str:
    data.add(key, _flames_in_order(report))
    h = f"h{level}"
    return (
        f'<section class="summary"><{h}>Summary</{h}>{sections.summary(report)}</section>'
        f'<section class="routes"><{h}>Routes</{h}>{sections.routes_table(report)}</section>'
        f'<section class="time-split"><{h}>Where the time goes</{h}>'
        f'<p class="hint">One request at a time: the app process\'s CPU, the database as its '
        f"driver timed it, and waits on anything else.</p>{sections.waterfalls(report)}</section>"
        f"{memory_section(report, level)}"
        f'<section class="latency"><{h}>Latency per route</{h}>'
        f'<p class="hint">Measured phase; hover a bar for its range.</p>'
        f'<div class="hists">{sections.histograms(report)}</div></section>'
        f'<section class="findings"><{h}>Findings, most important first</{h}>'
        f"{sections.findings(report.findings)}</section>"
        f'<section class="flames"><{h}>Flame graph per route</{h}>'
        f"{_flame_or_note(report, data, key)}</section>"
    )


def _flames_in_order(report: Report) -> tuple[RouteFlame, ...]:
    """The route of the most important finding first, then the most profiled time."""
    worst = report.findings[0].route if report.findings else None
    flames = route_flames(report.session)
    return tuple(sorted(flames, key=lambda f: (f.route != worst, -f.root.value)))


def _flame_or_note(report: Report, data: PageData, key: str) -> str:
    if not data.flames[key]:
        return "<p>No profile was recorded, so there is no flame graph.</p>"
    return sections.flame_widget(key)


def _verdict_head(verdict: Verdict) -> str:
    total, failed = len(verdict.checks), len(verdict.failed)
    if failed:
        result = f'<span class="badge sev-high">failed</span> {failed} of {total} checks failed'
    else:
        result = f'<span class="badge ok">passed</span> all {total} checks passed'
    baseline = f" · baseline <code>{esc(verdict.baseline)}</code>" if verdict.baseline else ""
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in verdict.notes)
    count = len(verdict.scenarios)
    return (
        f'<h1>perfaudit ci</h1><p class="verdict">{result} · {count} scenario'
        f"{'' if count == 1 else 's'}{baseline}</p>{notes}"
    )


def _checks_table(checks: tuple[Check, ...]) -> str:
    if not checks:
        return "<p>No checks configured.</p>"
    rows = "".join(_check_row(c) for c in sorted(checks, key=lambda c: c.passed))
    head = "<tr><th></th><th>Scenario</th><th>Check</th><th>Measured</th><th>Limit</th>"
    head += "<th>What to look at</th></tr>"
    return (
        f'<section class="checks"><h2>Checks</h2><table class="checks"><thead>{head}</thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _check_row(c: Check) -> str:
    mark = '<span class="badge ok">pass</span>' if c.passed else badge_fail()
    cells = (c.scenario, c.name, c.measured, c.limit, c.detail)
    tds = "".join(f"<td>{esc(cell)}</td>" for cell in cells)
    return f'<tr class="{"passed" if c.passed else "failed"}"><td>{mark}</td>{tds}</tr>'


def badge_fail() -> str:
    return '<span class="badge sev-high">fail</span>'


def _scenario(result: ScenarioResult, data: PageData, *, key: str) -> str:
    failed = sum(not c.passed for c in result.checks)
    mark = badge_fail() if failed else '<span class="badge ok">pass</span>'
    new = ""
    if result.new_findings:
        ids = ", ".join(f"<code>{esc(f.id)}</code>" for f in result.new_findings)
        new = f'<p class="warn">New since the baseline: {ids}</p>'
    ignored = "".join(
        f"<li>{badge(f.severity)} <code>{esc(f.id)}</code> {esc(f.route or '')}: {esc(why)}</li>"
        for f, why in result.ignored_findings
    )
    ignored = f"<details><summary>Ignored findings</summary><ul>{ignored}</ul></details>" * bool(
        ignored
    )
    body = _report_body(result.report, data, key=key, level=3)
    return (
        f'<section class="scenario"><h2>Scenario <code>{esc(result.name)}</code> {mark}</h2>'
        f"{sections.header(result.report)}{new}{ignored}{body}</section>"
    )
