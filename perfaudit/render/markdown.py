"""The verdict as GitHub-flavoured Markdown, for a PR comment or `$GITHUB_STEP_SUMMARY`.

Failed checks come first, then per scenario its routes (with the change against the
baseline), the rest of its checks and its findings. Every string from the app or the
config goes through `md_escape` or `code` (markdown_text.py); only this module's own
markup is raw.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.measured import describe
from perfaudit.analysis.report import RouteSummary
from perfaudit.analysis.verdict import Change, Check, ScenarioResult, Verdict
from perfaudit.fileio import atomic_write
from perfaudit.render.markdown_text import Block, clip, code, fit, md_escape, table
from perfaudit.render.memory_text import MemoryRow, memory_rows, rss_text, size_text

# GitHub refuses comments over 65,536 characters; keep a margin for a wrapping bot.
COMMENT_LIMIT = 65_000
CHECKS_SHOWN = 100
ROUTES_SHOWN = 50
FINDINGS_SHOWN = 10
CELL_CHARS = 200  # one hostile or huge string cannot fill the comment on its own
TRUNCATED = (
    "_Cut to fit a GitHub comment (65,536 characters): {omitted} of {total} sections "
    "shortened or left out. The JSON report and the JUnit XML have everything._"
)
SEVERITY_MARK = {
    Severity.CRITICAL: "🔴 **critical**",
    Severity.HIGH: "🟠 **high**",
    Severity.MEDIUM: "🟡 medium",
    Severity.LOW: "🔵 low",
    Severity.INFO: "⚪ info",
}
METRIC_NAMES = {"rps": "req/s"}
# A sentence ends at . ! or ? followed by a capital (so "e.g. x" and "app.py" do not).
_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s+[A-Z`\"'(]|\s*$)", re.DOTALL)


def render_markdown(verdict: Verdict) -> str:
    blocks = [_header(verdict)]
    if verdict.failed:
        blocks.append(_failed_checks(verdict.failed))
    for scenario in verdict.scenarios:
        blocks.extend(_scenario(scenario))
    if verdict.notes:
        blocks.append(Block("**Notes**", [f"- {md_escape(note)}" for note in verdict.notes]))
    return fit(blocks, COMMENT_LIMIT, TRUNCATED)


def write_markdown(verdict: Verdict, path: Path) -> None:
    atomic_write(path, render_markdown(verdict).encode("utf-8"))


def append_step_summary(verdict: Verdict, env: Mapping[str, str] = os.environ) -> Path | None:
    """Append the verdict to the file GitHub Actions names in GITHUB_STEP_SUMMARY; the
    path, or None outside Actions. Appended, not replaced: earlier steps wrote there too,
    so this is one write of the whole text rather than atomic_write's rename."""
    name = env.get("GITHUB_STEP_SUMMARY", "")
    if not name:
        return None
    path = Path(name)
    with path.open("a", encoding="utf-8") as stream:
        stream.write("\n" + render_markdown(verdict))
    return path


def _header(verdict: Verdict) -> Block:
    total, failed = len(verdict.checks), len(verdict.failed)
    if failed:
        title = f"## ❌ perfaudit: {failed} of {total} check{_s(total)} failed"
    elif total:
        title = f"## ✅ perfaudit: all {total} check{_s(total)} passed"
    else:
        title = "## ✅ perfaudit: passed (no checks configured)"
    count = len(verdict.scenarios)
    facts = f"{count} scenario{_s(count)}"
    if verdict.baseline:
        facts += f" · baseline {code(verdict.baseline)}"
    return Block(f"{title}\n\n{facts}")


def _failed_checks(failed: tuple[Check, ...]) -> Block:
    head, rows = table(
        ["Scenario", "Check", "Measured", "Limit", "What to look at"],
        [
            [
                _cell(c.scenario),
                _cell(c.name),
                f"**{_cell(c.measured)}**" if c.measured.strip() else "–",
                _cell(c.limit),
                _cell(c.detail),
            ]
            for c in failed[:CHECKS_SHOWN]
        ],
    )
    return Block(f"### Failed checks\n\n{head}", rows, _more(len(failed), CHECKS_SHOWN, "checks"))


def _scenario(result: ScenarioResult) -> list[Block]:
    failed = sum(not c.passed for c in result.checks)
    mark = f"❌ {failed} of {len(result.checks)} failed" if failed else "✅"
    blocks = [_routes(result, f"### Scenario {code(result.name)} {mark}")]
    if result.report.session.memory:
        blocks.append(_memory(result))
    passed = [c for c in result.checks if c.passed]
    if passed:
        blocks.append(_passed_checks(passed))
    blocks.extend(_findings_blocks(result))
    return blocks


def _routes(result: ScenarioResult, heading: str) -> Block:
    routes = result.report.routes
    if not routes:
        return Block(f"{heading}\n\nNo route was measured.")
    changes = _changes_by_route(result.changes)
    headers = ["Route", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "Errors"]
    headers += ["vs baseline"] if changes else []
    rows = [
        _route_cells(r) + ([_change_cell(changes.get(r.label, []))] if changes else [])
        for r in routes[:ROUTES_SHOWN]
    ]
    head, body = table(headers, rows)
    return Block(f"{heading}\n\n{head}", body, _more(len(routes), ROUTES_SHOWN, "routes"))


def _memory(result: ScenarioResult) -> Block:
    """What each route allocates at its peak and leaves behind (the memory phase)."""
    rows = memory_rows(result.report.session)
    head, body = table(
        ["Route", "Peak/request", "Response", "Kept per 1k requests", "Grows at", "RSS"],
        [_memory_cells(r) for r in rows[:ROUTES_SHOWN]],
    )
    more = _more(len(rows), ROUTES_SHOWN, "routes")
    return Block(f"**Memory** (tracemalloc, a phase of its own)\n\n{head}", body, more)


def _memory_cells(r: MemoryRow) -> list[str]:
    kept = size_text(r.retained_per_1k)
    return [
        _code_cell(r.route),
        size_text(r.peak_bytes),
        size_text(r.response_bytes),
        f"**{kept}**" if r.keeps else kept,
        _code_cell(r.where or None),
        rss_text(r.rss_before, r.rss_after),
    ]


def _route_cells(r: RouteSummary) -> list[str]:
    lat = r.latency_ms
    latency = [f"{v:.1f}" for v in (lat.p50, lat.p95, lat.p99)] if lat else ["–"] * 3
    errors = f"**{r.errors}** ({r.errors / r.requests:.1%})" if r.errors and r.requests else "0"
    return [_code_cell(r.label), f"{r.requests:,}", r.throughput_text(1), *latency, errors]


def _changes_by_route(changes: tuple[Change, ...]) -> dict[str, list[Change]]:
    by_route: dict[str, list[Change]] = {}
    for change in changes:
        by_route.setdefault(change.route, []).append(change)
    return by_route


def _change_cell(changes: list[Change]) -> str:
    return "<br>".join(change_text(c) for c in changes) or "–"


def change_text(c: Change) -> str:
    """`p95 +31% (95% CI +22%…+40%) **regressed**`: the change as a ratio, its interval."""
    metric = md_escape(METRIC_NAMES.get(c.metric, c.metric.removesuffix("_ms")))
    if c.judged and not math.isnan(c.ci_low) and not math.isnan(c.ci_high):
        interval = f"{c.confidence:.0%} CI {_pct(c.ci_low)}…{_pct(c.ci_high)}"
    else:  # too few samples, or throughput's one value per run: a number, not a test
        interval = "not judged"
    text = f"{metric} {_pct(c.ratio)} ({interval})"
    if c.regressed:
        text += " 🔺 **regressed**"
    elif c.improved:
        text += " ✅ improved"
    if c.note:
        text += f" — {_cell(c.note)}"
    return text


def _pct(ratio: float) -> str:
    return "–" if math.isnan(ratio) else f"{(ratio - 1) * 100:+.0f}%"


def _passed_checks(passed: list[Check]) -> Block:
    head, rows = table(
        ["Check", "Measured", "Limit"],
        [[_cell(c.name), _cell(c.measured), _cell(c.limit)] for c in passed[:CHECKS_SHOWN]],
    )
    more = _more(len(passed), CHECKS_SHOWN, "checks")
    summary = f"<details><summary>{len(passed)} check{_s(len(passed))} passed</summary>"
    # GitHub renders Markdown inside <details> only after a blank line.
    return Block(f"{summary}\n\n{head}", rows, f"{more}\n\n</details>" if more else "</details>")


def _findings_blocks(result: ScenarioResult) -> list[Block]:
    ignored = [finding for finding, _ in result.ignored_findings]
    new = list(result.new_findings)
    others = [f for f in result.report.findings if f not in ignored and f not in new]
    blocks = []
    if new:
        blocks.append(_findings_table("**New findings since the baseline**", new))
    if others:
        title = "**Other findings**" if new else "**Findings** (most important first)"
        blocks.append(_findings_table(title, others))
    if not new and not others:
        blocks.append(Block("No findings" + (" besides the ignored." if ignored else ".")))
    if result.ignored_findings:
        blocks.append(_ignored(result.ignored_findings))
    return blocks


def _findings_table(title: str, findings: list[Finding]) -> Block:
    head, rows = table(
        ["Severity", "Finding", "Route", "Location", "Suggestion"],
        [_finding_cells(f) for f in findings[:FINDINGS_SHOWN]],
    )
    more = _more(len(findings), FINDINGS_SHOWN, "findings (see the JSON report)")
    return Block(f"{title}\n\n{head}", rows, more)


def _finding_cells(f: Finding) -> list[str]:
    return [
        SEVERITY_MARK[f.severity] + (f" (near {f.near.label})" if f.near else ""),
        _code_cell(f.id),
        _code_cell(f.route),
        _code_cell(str(f.location) if f.location else None),
        _cell(first_sentence(f.suggestion)) + _measured(f),
    ]


def _measured(f: Finding) -> str:
    """`--verify`: what the change measured, clipped apart from the suggestion."""
    return f"<br>**Measured:** {_cell(describe(f.measured))}" if f.measured else ""


def _ignored(ignored: tuple[tuple[Finding, str], ...]) -> Block:
    head, rows = table(
        ["Severity", "Finding", "Route", "Why ignored"],
        [
            [SEVERITY_MARK[f.severity], _code_cell(f.id), _code_cell(f.route), _cell(why)]
            for f, why in ignored
        ],
    )
    count = len(ignored)
    summary = f"<details><summary>{count} finding{_s(count)} ignored by the config</summary>"
    return Block(f"{summary}\n\n{head}", rows, "</details>")


def first_sentence(text: str) -> str:
    match = _SENTENCE.match(text.strip())
    return match.group(1) if match else text.strip()


def _cell(text: str) -> str:
    return md_escape(clip(text, CELL_CHARS))


def _code_cell(text: str | None) -> str:
    return code(clip(text, CELL_CHARS), in_table=True) if text else "–"


def _more(count: int, shown: int, what: str) -> str:
    return f"\n_…and {count - shown} more {what}._" if count > shown else ""


def _s(count: int) -> str:
    return "" if count == 1 else "s"
