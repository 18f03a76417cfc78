"""The terminal report (rich). Reads well at 100 columns; plain text when the stream is
not a terminal or NO_COLOR is set (the console decides, see cli/console.py)."""

from __future__ import annotations

from typing import Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perfaudit.analysis.findings import Finding, Severity, evidence_text, near_note
from perfaudit.analysis.hotspots import Hotspot
from perfaudit.analysis.measured import describe
from perfaudit.analysis.report import Report, RouteSummary
from perfaudit.analysis.stats import LatencySummary
from perfaudit.model import LoadSummary, SamplingRun
from perfaudit.render.memory_terminal import memory_table, process_memory_table
from perfaudit.render.waterfall_terminal import waterfall_table

# Colours that read on dark and on light terminals alike: no yellow or cyan (faint on
# white), no bright white text without a background (invisible on white).
ACCENT = "dodger_blue2"  # mid-luminance: readable on black and on white
WARN = "dark_orange3"
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: f"bold {WARN}",
    Severity.LOW: ACCENT,
    Severity.INFO: "dim",
}
SEVERITY_STYLE_BY_NAME = {severity.label: style for severity, style in SEVERITY_STYLE.items()}
HOTSPOTS_SHOWN = 10
PATH_WIDTH = 28  # longer paths keep their first folder and their file (and its folder)
EVIDENCE_SHORT = 28  # evidence values up to this long go two to a row, longer ones alone
# Plain text for pipes, files and NO_COLOR: a dashed rule under the header, nothing else.
PLAIN_BOX = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def render_terminal(report: Report, console: Console) -> None:
    load = report.session.load
    console.print(_heading(report))
    if report.routes:
        console.print(_routes_table(report.routes, console, load))
    if load is not None and load.model == "open" and report.routes:
        console.print(_uncorrected_table(report.routes, console))
    if report.waterfalls:
        title = "Where the time goes (ms per request, one at a time)"
        console.print(waterfall_table(report.waterfalls, console, _table(title, console)))
    _print_memory(report, console)
    if report.hotspots:
        sampled = report.session.sampling is not None
        console.print(_hotspots_table(report.hotspots, console, sampled))
    console.print(_findings(report.findings, _time_note(report)))
    if report.skipped:
        console.print(_skipped(report))
    for note in report.session.notes:
        console.print(Text(f"Note: {note}", style="dim"))


def _print_memory(report: Report, console: Console) -> None:
    session = report.session
    if session.memory:
        title = "Memory per request (its own phase, tracemalloc, after latency was measured)"
        console.print(memory_table(session, _table(title, console)))
    if session.sampling is not None and any(s.rss_bytes for s in session.sampling.memory):
        title = "Memory per process (RSS over the recording)"
        console.print(process_memory_table(session.sampling, _table(title, console)))


def _heading(report: Report) -> Group:
    session = report.session
    if session.sampling is not None:
        return _attach_header(report, session.sampling)
    if session.load is not None:
        return _load_header(report, session.load)
    return _header(report)


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
    where = f" ({env.interpreter})" if env.interpreter else ""
    lines = [
        Text.assemble(("perfaudit ", "bold"), (f"{s.mode} {s.target}", f"bold {ACCENT}")),
        Text(f"Python {env.python}{where} · {versions} · {env.loop} loop", style="dim"),
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
        lines.append(_stopped(s.stopped_early))
    return Group(*lines, Text(""))


def _load_header(report: Report, load: LoadSummary) -> Group:
    s = report.session
    requests = sum(r.requests for r in report.routes)
    how = (
        f"open model, {load.rate:g} requests/s asked for"
        if load.rate is not None
        else f"closed model, {load.connections} connections"
    )
    processes = f" × {load.processes} processes" if load.processes > 1 else ""
    lines = [
        Text.assemble(("perfaudit load ", "bold"), (s.target, f"bold {ACCENT}")),
        Text(
            f"Engine: {load.engine} ({load.client}){processes}, {how}, {load.wall_s:.1f} s, "
            f"{requests / load.wall_s if load.wall_s else 0:,.0f} responses/s.",
            style="dim",
        ),
        _client_line(load, requests),
    ]
    if load.model == "open" and load.late:
        lines.append(
            Text(
                f"{load.late:,} requests left late because every connection was busy: "
                "the server (or -c) could not keep up with the rate.",
                style=WARN,
            )
        )
    if load.resolution_ms:
        lines.append(
            Text(f"Latencies are rounded to {load.resolution_ms:g} ms by the engine.", style="dim")
        )
    if s.stopped_early:
        lines.append(_stopped(s.stopped_early))
    return Group(*lines, Text(""))


def _attach_header(report: Report, run: SamplingRun) -> Group:
    s = report.session
    threads = sum(len(p.threads) for p in run.processes)
    processes = f"{len(run.processes)} processes, " if len(run.processes) > 1 else ""
    errors = f", {run.errors:,} failed" if run.errors else ""
    lines = [
        Text.assemble(("perfaudit attach ", "bold"), (s.target, f"bold {ACCENT}")),
        Text(
            f"{run.tool} on PID {run.pid} at {run.rate_hz} Hz for {run.duration_s:.1f} s: "
            f"{run.samples:,} samples{errors} of {processes}{threads} "
            f"thread{'s' if threads != 1 else ''}; "
            f"{s.environment.loop} loop.",
            style="dim",
        ),
    ]
    if s.load is not None:
        requests = sum(r.requests for r in report.routes)
        lines.append(
            Text(
                f"Load meanwhile: {s.load.connections} connections, "
                f"{requests / s.load.wall_s if s.load.wall_s else 0:,.0f} responses/s; "
                "latency measured over HTTP.",
                style="dim",
            )
        )
        lines.append(_client_line(s.load, requests))
    if report.not_run:
        lines.append(
            Text(
                f"Not checked from samples ({len(report.not_run)} rules need an in-process run, "
                f"`perfaudit profile`, or load): {', '.join(sorted(report.not_run))}.",
                style="dim",
            )
        )
    if s.stopped_early:
        lines.append(_stopped(s.stopped_early))
    return Group(*lines, Text(""))


def _stopped(reason: str) -> Text:
    return Text(f"Stopped early: {reason}. Results below are partial.", style=f"bold {WARN}")


def _client_line(load: LoadSummary, requests: int) -> Text:
    per_core = requests / load.client_cpu_s if load.client_cpu_s else 0.0
    text = (
        f"Client CPU: {load.client_cpu_share:.0%} of its {load.processes} "
        f"core{'s' if load.processes > 1 else ''} ({per_core:,.0f} requests per client-core "
        "second)."
    )
    if load.client_bound:
        return Text(
            text + " The client is near its limit: these figures may be the engine's, not the "
            "server's. Add --processes or machines (--engine locust).",
            style=f"bold {WARN}",
        )
    return Text(text, style="dim")


def _uncorrected_table(routes: tuple[RouteSummary, ...], console: Console) -> Table:
    table = _table("Latency (ms) from the intended send (above) and from the actual send", console)
    table.add_column("Route", overflow="fold", max_width=34)
    for name in ("p50", "p99", "p99.9", "p50 actual", "p99 actual", "p99.9 actual"):
        table.add_column(name, justify="right")
    for r in routes:
        c, u = r.latency_ms, r.latency_uncorrected_ms
        cells = [f"{v:.2f}" for v in (c.p50, c.p99, c.p99_9)] if c else ["-"] * 3
        cells += [f"{v:.2f}" for v in (u.p50, u.p99, u.p99_9)] if u else ["-"] * 3
        table.add_row(escape(r.label), *cells)
    return table


def table(title: str, console: Console) -> Table:
    """A report table: box lines on a colour terminal, a plain dashed header otherwise."""
    return _table(title, console)


def _table(title: str, console: Console) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD if console.is_terminal and not console.no_color else PLAIN_BOX,
        pad_edge=False,
        expand=False,
    )


def _routes_table(
    routes: tuple[RouteSummary, ...], console: Console, load: LoadSummary | None = None
) -> Table:
    title = "Routes (latency in ms, measured without the profiler)"
    if load is not None:
        start = "the intended send" if load.model == "open" else "the send"
        title = f"Routes (latency in ms over HTTP, from {start} to the last byte)"
    table = _table(title, console)
    table.add_column("Route", overflow="fold", max_width=34)
    background = any(r.background_ms for r in routes)  # a column only when some route has it
    columns = ["p50", "p90", "p95", "p99", *(["p99.9"] if load else []), "max"]
    for name in ("Req", "Err", "req/s", *columns):
        table.add_column(name, justify="right")
    if background:
        table.add_column("after", justify="right")  # ms after the response: README
    for r in routes:
        cells = _latency_cells(r.latency_ms, with_p99_9=load is not None)
        errors = Text(str(r.errors), style="red" if r.errors else "")
        label = r.label + ("" if r.completed else " (stopped)")
        if background:
            cells.append(f"{r.background_ms:.2f}" if r.background_ms else "-")
        table.add_row(escape(label), str(r.requests), errors, r.throughput_text(0), *cells)
    if background:
        table.caption = (
            "after: ms per request of work after the response (BackgroundTasks, the "
            "teardown of yield dependencies), not in latency"
        )
        table.caption_justify = "left"
    return table


def _latency_cells(lat: LatencySummary | None, *, with_p99_9: bool) -> list[str]:
    if lat is None:
        return ["-"] * (6 if with_p99_9 else 5)
    values = [lat.p50, lat.p90, lat.p95, lat.p99, *([lat.p99_9] if with_p99_9 else []), lat.max]
    return [f"{v:.2f}" for v in values]


def _hotspots_table(hotspots: tuple[Hotspot, ...], console: Console, sampled: bool) -> Table:
    title = "share of sampled request time" if sampled else "share of profiled request time"
    table = _table(f"Hotspots ({title}, all routes)", console)
    table.add_column("Function", overflow="fold", max_width=22)
    table.add_column("Location", overflow="fold", max_width=PATH_WIDTH + 6)
    table.add_column("Owner")
    table.add_column("Self", justify="right")
    table.add_column("Cum", justify="right")
    if not sampled:  # samples count no calls
        table.add_column("Calls/req", justify="right")
    for h in hotspots[:HOTSPOTS_SHOWN]:
        style = "bold" if h.owner == "app" else ""
        where = h.file if h.file == "<built-in>" else f"{short_path(h.file)}:{h.line}"
        cells = [h.self_share, h.cumulative_share]
        per_request = h.calls_per_request
        calls = [] if sampled else ["–" if per_request is None else f"{per_request:.1f}"]
        table.add_row(
            Text(h.function, style=style),
            escape(where),
            h.owner,
            *(f"{share:.1%}" for share in cells),
            *calls,
        )
    return table


def short_path(path: str, width: int = PATH_WIDTH) -> str:
    """`path` as is when it fits, else its first folder, "…" and its file (with the file's
    folder when that fits): the package and the file stay recognisable, and the line
    number stays on the table's row."""
    parts = path.split("/")
    if len(path) <= width or len(parts) < 3:
        return path
    shorter = "/".join([parts[0], "…", *parts[-2:]])
    return shorter if len(parts) > 3 and len(shorter) <= width else f"{parts[0]}/…/{parts[-1]}"


def render_findings(findings: tuple[Finding, ...], console: Console) -> None:
    console.print(_findings(findings))


def _time_note(report: Report) -> str:
    """Without findings, where a route's time mostly went all the same (a route that waits
    on its database is never "nothing stands out")."""
    for w in report.waterfalls:
        dominant = w.dominant
        if dominant is not None and dominant[0] != "CPU":
            what, share = dominant
            return f"{w.route} spends {share:.0%} of its time {what}: see where the time goes."
    return ""


def _findings(findings: tuple[Finding, ...], time_note: str = "") -> Group:
    if not findings and time_note:
        return Group(Text(f"Findings: none. {time_note}", style="bold"), Text(""))
    if not findings:
        return Group(
            Text("Findings: none. Nothing stands out in this run.", style="bold green"), Text("")
        )
    # Notes on the run itself (info) are nothing to fix: no headline for them alone.
    if findings[0].severity > Severity.INFO:
        parts: list[RenderableType] = [_top_finding(findings[0]), Text("")]
        parts.append(Text("Findings (most important first)", style="bold"))
    else:
        parts = [Text("Nothing to fix stands out in this run. Notes on it:", style="bold green")]
    for number, finding in enumerate(findings, 1):
        parts.append(_finding(number, finding))
    return Group(*parts)


def _top_finding(f: Finding) -> Text:
    """One line that answers "what do I fix first": where, and what it would save."""
    text = Text.assemble(
        ("Fix first: ", "bold"),
        (f.severity.label.upper(), SEVERITY_STYLE[f.severity]),
        (f" {f.id}", "bold"),
    )
    if f.route:
        text.append(f" in {f.route}")
    if f.location:
        text.append(f" at {_location(f)}", style=ACCENT)
    if f.estimated_gain:
        gain = f.estimated_gain
        text.append(f", up to {gain.latency_ms:.1f} ms per request ({gain.share:.0%})", "green")
    return text


def _finding(number: int, f: Finding) -> Group:
    head = Text.assemble(
        (f"{f.severity.label.upper():<8}", SEVERITY_STYLE[f.severity]),
        (f"{f.id}  ", "bold"),
        f.title,
    )
    body: list[RenderableType] = [head]
    near = near_note(f)
    if near:
        body.append(Text(near, style="dim"))
    if f.location:
        body.append(Text(f"at {_location(f)}", style=ACCENT))
    if f.evidence:
        body.append(_evidence(f.evidence))
    body.append(Text(f"→ {f.suggestion}"))
    if f.estimated_gain:
        gain = f.estimated_gain
        saved = f"expected gain: up to {gain.latency_ms:.1f} ms per request ({gain.share:.0%})"
        body.append(Text(saved, style="green"))
    if f.measured:
        style = "bold green" if f.measured.gain else "yellow"
        body.append(Text(f"measured: {describe(f.measured)}", style=style))
        body.extend(Text(f"  {line}", style="dim") for line in f.measured.details)
    # The number in a column of its own, so wrapped lines stay under the text they continue.
    row = Table.grid(padding=(0, 1, 0, 0))
    row.add_column(justify="right", no_wrap=True)
    row.add_column()
    row.add_row(Text(f"{number}.", style="bold"), Group(*body))
    return Group(row, Text(""))


def _location(f: Finding) -> str:
    loc = f.location
    assert loc is not None
    return f"{short_path(loc.file)}:{loc.line} in {loc.function}"


def _evidence(evidence: dict[str, float | int | str]) -> Group:
    """Evidence as aligned `name  value` pairs: short values two to a row, long ones (a
    source line, a stack) on rows of their own, their names in the same column."""
    shown = [(key, evidence_text(value)) for key, value in evidence.items()]
    key_width = max(len(key) for key, _ in shown)
    short = [pair for pair in shown if len(pair[1]) <= EVIDENCE_SHORT]
    long = [pair for pair in shown if len(pair[1]) > EVIDENCE_SHORT]
    pairs = _grid(2, key_width)  # the first names' column as wide as the long rows' one
    for i in range(0, len(short), 2):
        cells = [cell for pair in short[i : i + 2] for cell in pair]
        pairs.add_row(*cells, *[""] * (4 - len(cells)))
    lines = _grid(1, key_width)
    for key, value in long:
        lines.add_row(key, Text(value, overflow="fold"))
    return Group(*(grid for grid in (pairs, lines) if grid.row_count))


def _grid(pairs: int, key_width: int) -> Table:
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(style="dim", no_wrap=True, min_width=key_width)
    grid.add_column()
    if pairs > 1:
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
    return grid


def _skipped(report: Report) -> Group:
    lines = [Text("Routes not driven (name them to profile them):", style="bold")]
    lines += [Text(f"  {s.route}: {s.reason}", style="dim") for s in report.skipped]
    return Group(*lines, Text(""))


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
    console.print(Text.assemble((rule.id, f"bold {ACCENT}"), "  ", (rule.title, "bold")))
    for paragraph in rule.explanation.split("\n\n"):
        console.print(Text(paragraph))
        console.print()
