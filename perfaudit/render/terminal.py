"""The terminal report (rich). Reads well at 100 columns; plain text when the stream is
not a terminal or NO_COLOR is set (the console decides, see cli/console.py)."""

from __future__ import annotations

from typing import Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.hotspots import Hotspot
from perfaudit.analysis.report import Report, RouteSummary

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
HOTSPOTS_SHOWN = 10
# Plain text for pipes, files and NO_COLOR: a dashed rule under the header, nothing else.
PLAIN_BOX = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def render_terminal(report: Report, console: Console) -> None:
    console.print(_header(report))
    if report.routes:
        console.print(_routes_table(report.routes, console))
    if report.hotspots:
        console.print(_hotspots_table(report.hotspots, console))
    console.print(_findings(report.findings))
    if report.skipped:
        console.print(_skipped(report))
    for note in report.session.notes:
        console.print(Text(f"Note: {note}", style="dim"))


def _header(report: Report) -> Group:
    s = report.session
    env = s.environment
    versions = " · ".join(
        f"{name} {env.packages[name]}" for name in ("fastapi", "starlette") if name in env.packages
    )
    load = (
        f"{s.settings.requests} requests per route"
        if s.settings.requests
        else f"{s.settings.duration_s:g} s per route"
    )
    lines = [
        Text.assemble(("perfaudit ", "bold"), (f"{s.mode} {s.target}", "bold cyan")),
        Text(f"Python {env.python} · {versions} · {env.loop} loop", style="dim"),
        Text(
            f"Latency: {load} at concurrency {s.settings.concurrency} after {s.settings.warmup} "
            f"warm-up, no profiler. Hotspots: {s.settings.profiler}, one request at a time.",
            style="dim",
        ),
    ]
    if s.probes:
        wall = sum(p.wall_s for p in s.probes)
        watchdog = sum(p.loop.watchdog_cpu_s for p in s.probes)
        concurrency = sorted({p.concurrency for p in s.probes})
        lines.append(
            Text(
                f"Probes: each route under {'/'.join(map(str, concurrency))} concurrent requests "
                f"with the loop watchdog and threadpool sampler (watchdog CPU: "
                f"{watchdog / wall:.1%} of the phase), no profiler.",
                style="dim",
            )
        )
    if s.stopped_early:
        lines.append(
            Text(
                f"Stopped early: {s.stopped_early}. Results below are partial.", style="bold yellow"
            )
        )
    return Group(*lines, Text(""))


def _table(title: str, console: Console) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD if console.is_terminal and not console.no_color else PLAIN_BOX,
        pad_edge=False,
        expand=False,
    )


def _routes_table(routes: tuple[RouteSummary, ...], console: Console) -> Table:
    table = _table("Routes (latency in ms, measured without the profiler)", console)
    table.add_column("Route", overflow="fold", max_width=34)
    background = any(r.background_ms for r in routes)  # a column only when some route has it
    for name in ("Req", "Err", "req/s", "p50", "p90", "p95", "p99", "max"):
        table.add_column(name, justify="right")
    if background:
        table.add_column("bg", justify="right")
    for r in routes:
        lat = r.latency_ms
        cells = (
            [f"{v:.2f}" for v in (lat.p50, lat.p90, lat.p95, lat.p99, lat.max)]
            if lat
            else ["-"] * 5
        )
        errors = Text(str(r.errors), style="red" if r.errors else "")
        label = r.label + ("" if r.completed else " (stopped)")
        if background:
            cells.append(f"{r.background_ms:.2f}" if r.background_ms else "-")
        table.add_row(escape(label), str(r.requests), errors, f"{r.throughput_rps:,.0f}", *cells)
    if background:
        table.caption = "bg: background tasks per request after the response, not in latency"
        table.caption_justify = "left"
    return table


def _hotspots_table(hotspots: tuple[Hotspot, ...], console: Console) -> Table:
    table = _table("Hotspots (share of profiled request time, all routes)", console)
    table.add_column("Function", overflow="fold", max_width=28)
    table.add_column("Location", overflow="fold", max_width=36)
    table.add_column("Owner")
    table.add_column("Self", justify="right")
    table.add_column("Cum", justify="right")
    table.add_column("Calls/req", justify="right")
    for h in hotspots[:HOTSPOTS_SHOWN]:
        style = "bold" if h.owner == "app" else ""
        where = h.file if h.file == "<built-in>" else f"{h.file}:{h.line}"
        table.add_row(
            Text(h.function, style=style),
            escape(where),
            h.owner,
            f"{h.self_share:.1%}",
            f"{h.cumulative_share:.1%}",
            f"{h.calls_per_request:.1f}",
        )
    return table


def _findings(findings: tuple[Finding, ...]) -> Group:
    if not findings:
        return Group(
            Text("Findings: none. Nothing stands out in this run.", style="bold green"), Text("")
        )
    parts: list[RenderableType] = [Text("Findings (most important first)", style="bold")]
    for number, finding in enumerate(findings, 1):
        parts.extend(_finding(number, finding))
    return Group(*parts)


def _finding(number: int, f: Finding) -> list[RenderableType]:
    head = Text.assemble(
        (f"{number}. ", "bold"),
        (f"{f.severity.label.upper():<6}", SEVERITY_STYLE[f.severity]),
        (f" {f.id}  ", "bold"),
        f.title,
    )
    body = []
    if f.location:
        body.append(Text(f"at {f.location}", style="cyan"))
    if f.evidence:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in f.evidence.items())
        body.append(Text(f"evidence: {shown}", style="dim"))
    body.append(Text(f"→ {f.suggestion}"))
    if f.estimated_gain:
        gain = f.estimated_gain
        saved = f"expected gain: up to {gain.latency_ms:.1f} ms per request ({gain.share:.0%})"
        body.append(Text(saved, style="green"))
    return [head, Padding(Group(*body), (0, 0, 1, 3))]


def _skipped(report: Report) -> Group:
    lines = [Text("Routes not driven (name them to profile them):", style="bold")]
    lines += [Text(f"  {s.route}: {s.reason}", style="dim") for s in report.skipped]
    return Group(*lines, Text(""))


def _fmt(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class RuleText(Protocol):
    id: str
    title: str
    explanation: str


def render_rules(rules: list[RuleText], console: Console) -> None:
    table = _table("Findings perfaudit reports (perfaudit rules ID explains one)", console)
    table.add_column("id", style="bold")
    table.add_column("what it says")
    for rule in rules:
        table.add_row(rule.id, rule.title)
    console.print(table)


def render_rule(rule: RuleText, console: Console) -> None:
    console.print(Text.assemble((rule.id, "bold cyan"), "  ", (rule.title, "bold")))
    for paragraph in rule.explanation.split("\n\n"):
        console.print(Text(paragraph))
        console.print()
