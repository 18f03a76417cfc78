"""The HTML report's sections, as markup strings. Every string that comes from the app,
its environment or the config goes through `esc` (html.escape, quotes too); only this
module's own markup is raw. Numbers are formatted here: the page's script only draws the
flame graph from data computed in Python."""

from __future__ import annotations

import html
from collections.abc import Iterable

from perfaudit.analysis.findings import EvidenceValue, Finding, Severity, evidence_text, near_note
from perfaudit.analysis.histogram import Histogram, latency_histogram
from perfaudit.analysis.measured import describe
from perfaudit.analysis.report import Report, RouteSummary
from perfaudit.model import Session


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def header(report: Report) -> str:
    s = report.session
    env = s.environment
    facts = [
        ("target", s.target),
        ("mode", s.mode),
        ("started", s.started_at),
        ("python", f"{env.python} ({env.implementation})"),
        *((("interpreter", env.interpreter),) if env.interpreter else ()),
        ("loop", env.loop),
        *((name, env.packages[name]) for name in ("fastapi", "starlette") if name in env.packages),
        ("perfaudit", s.tool_version),
    ]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>\n<p class="phases">{esc(phases_sentence(s))}</p>'


def phases_sentence(session: Session) -> str:
    if session.sampling is not None:
        run = session.sampling
        return (
            f"Flame graphs and hotspots come from {run.tool} sampling the live process "
            f"({run.samples:,} samples at {run.rate_hz} Hz over {run.duration_s:.1f} s)."
        )
    if session.load is not None:
        return "Latency was measured from outside the server, over HTTP, while the load ran."
    return (
        "Latency comes from a measured phase with no profiler attached; flame graphs and "
        f"hotspots from a profiled phase ({session.settings.profiler}, one request at a "
        "time); concurrency findings from a probe phase under load, without the profiler."
    )


def summary(report: Report) -> str:
    worst = report.findings[0] if report.findings else None
    lines = [
        f"<p><strong>{len(report.routes)}</strong> route{_s(len(report.routes))} measured, "
        f"<strong>{len(report.findings)}</strong> finding{_s(len(report.findings))}.</p>"
    ]
    if worst is None:
        lines.append('<p class="clean">No finding: nothing measured here needs changing.</p>')
    else:
        where = f" in <code>{esc(worst.route)}</code>" if worst.route else ""
        lines.append(
            f'<p class="worst">Most important: {badge(worst.severity)} '
            f"<code>{esc(worst.id)}</code> {esc(worst.title)}{where}</p>"
        )
    if report.session.stopped_early:
        lines.append(f'<p class="warn">Stopped early: {esc(report.session.stopped_early)}</p>')
    if report.skipped:
        skipped = "".join(
            f"<li><code>{esc(s.route)}</code>: {esc(s.reason)}</li>" for s in report.skipped
        )
        lines.append(f"<details><summary>Routes not driven</summary><ul>{skipped}</ul></details>")
    lines.extend(f'<p class="note">{esc(note)}</p>' for note in report.session.notes)
    return "\n".join(lines)


def badge(severity: Severity) -> str:
    return f'<span class="badge sev-{severity.label}">{severity.label}</span>'


def routes_table(report: Report) -> str:
    if not report.routes:
        return "<p>No route was measured.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Route", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "Errors")
    )
    rows = "".join(_route_row(r) for r in report.routes)
    return f'<table class="routes"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _route_row(r: RouteSummary) -> str:
    lat = r.latency_ms
    cells = [f"{v:.2f}" for v in (lat.p50, lat.p95, lat.p99, lat.max)] if lat else ["–"] * 4
    errors = f"{r.errors} ({r.errors / r.requests:.1%})" if r.errors and r.requests else "0"
    numbers = [f"{r.requests:,}", r.throughput_text(1), *cells, errors]
    tds = "".join(f'<td class="num">{n}</td>' for n in numbers)
    return f"<tr><td><code>{esc(r.label)}</code></td>{tds}</tr>"


WATERFALL_CLASSES = ("cpu", "db", "wait")  # in `Waterfall.parts` order


def waterfalls(report: Report) -> str:
    """Per route, one request at a time: a bar split into CPU, database and other waits."""
    if not report.waterfalls:
        return "<p>No route's time could be split (it needs the probe phase or -c 1).</p>"
    rows = []
    for w in report.waterfalls:
        segments = "".join(
            f'<span class="{cls}" style="width:{100 * ms / w.request_ms:.1f}%" '
            f'title="{esc(what)}: {ms:.2f} ms ({ms / w.request_ms:.0%})"></span>'
            for (what, ms), cls in zip(w.parts, WATERFALL_CLASSES, strict=True)
            if ms > 0
        )
        parts = " · ".join(f"{esc(what)} {ms / w.request_ms:.0%}" for what, ms in w.parts if ms > 0)
        load = w.under_load
        under = (
            f"; under load (c={load.concurrency}) {load.request_ms:.1f} ms, "
            f"{load.pool_wait_ms:.1f} ms of it waiting for a pool connection"
            if load is not None and load.pool_wait_ms > 0.05 * load.request_ms
            else ""
        )
        rows.append(
            f'<tr><td><code>{esc(w.route)}</code></td><td class="num">{w.request_ms:.2f}</td>'
            f'<td><div class="waterfall">{segments}</div>'
            f"<small>{parts}{esc(under)}</small></td></tr>"
        )
    head = "<tr><th>Route</th><th>ms</th><th>Where the time goes</th></tr>"
    return f'<table class="waterfalls"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def histograms(report: Report) -> str:
    durations = {str(m.route): m.durations_s for m in report.session.measurements}
    figures = []
    for route in report.routes:
        found = latency_histogram(durations.get(route.label, ()))
        if found is not None:
            figures.append(
                f'<figure class="hist"><figcaption><code>{esc(route.label)}</code> '
                f"({found.total:,} requests)</figcaption>{histogram_svg(found)}</figure>"
            )
    return "".join(figures) or "<p>No latency was measured.</p>"


SVG_W, SVG_H, AXIS_H = 360, 90, 16


def histogram_svg(h: Histogram) -> str:
    bars = [*zip(h.edges_ms, h.edges_ms[1:], h.counts, strict=False)]
    slots = len(bars) + (1 if h.overflow else 0)
    width = SVG_W / slots
    tallest = max([*h.counts, h.overflow, 1])
    parts = [
        _bar(i * width, width, count / tallest, f"{lo:.2f}–{hi:.2f} ms: {count:,} requests")
        for i, (lo, hi, count) in enumerate(bars)
    ]
    if h.overflow:
        note = f"over {h.edges_ms[-1]:.2f} ms (to {h.max_ms:.2f}): {h.overflow:,} requests"
        parts.append(_bar(len(bars) * width, width, h.overflow / tallest, note, "tail"))
    y = SVG_H + AXIS_H - 4
    parts.append(f'<text x="0" y="{y}">{h.edges_ms[0]:.2f} ms</text>')
    last = h.max_ms if h.overflow else h.edges_ms[-1]
    parts.append(f'<text x="{SVG_W}" y="{y}" text-anchor="end">{last:.2f} ms</text>')
    size = f'viewBox="0 0 {SVG_W} {SVG_H + AXIS_H}" width="{SVG_W}" height="{SVG_H + AXIS_H}"'
    label = "latency histogram"
    return f'<svg {size} role="img" aria-label="{label}">{"".join(parts)}</svg>'


def _bar(x: float, width: float, fraction: float, title: str, cls: str = "") -> str:
    height = SVG_H * fraction
    place = f'x="{x:.2f}" y="{SVG_H - height:.2f}" width="{max(width - 1, 1):.2f}"'
    return (
        f'<rect class="bar {cls}" {place} height="{height:.2f}"><title>{esc(title)}</title></rect>'
    )


def findings(items: Iterable[Finding]) -> str:
    shown = [_finding(number, f) for number, f in enumerate(items, 1)]
    return "".join(shown) or '<p class="clean">No findings.</p>'


def _finding(number: int, f: Finding) -> str:
    parts = [
        f'<h3><span class="rank">{number}.</span> {badge(f.severity)} '
        f'<code class="fid">{esc(f.id)}</code> <span class="title">{esc(f.title)}</span></h3>'
    ]
    where = []
    if f.route:
        where.append(f'<span class="route">route <code>{esc(f.route)}</code></span>')
    if f.location:
        where.append(f'<span class="location">at <code>{esc(f.location)}</code></span>')
    if where:
        parts.append(f'<p class="where">{" · ".join(where)}</p>')
    near = near_note(f)
    if near:
        parts.append(f'<p class="near">{esc(near.capitalize())}.</p>')
    if f.evidence:
        parts.append(_evidence(f.evidence))
    parts.append(f'<p class="suggestion">→ {esc(f.suggestion)}</p>')
    if f.estimated_gain:
        gain = f.estimated_gain
        parts.append(
            f'<p class="gain">Expected gain: up to {gain.latency_ms:.1f} ms per request '
            f"({gain.share:.0%} of the route's time)</p>"
        )
    if f.measured:
        kind = "measured-gain" if f.measured.gain else "measured-none"
        parts.append(f'<p class="measured {kind}">Measured: {esc(describe(f.measured))}</p>')
        if f.measured.details:
            text = "\n".join(f.measured.details)
            parts.append(f"<details><summary>Experiment</summary><pre>{esc(text)}</pre></details>")
    if f.details:
        text = "\n\n".join(f.details)
        parts.append(f"<details><summary>Details</summary><pre>{esc(text)}</pre></details>")
    return f'<article class="finding sev-{f.severity.label}">{"".join(parts)}</article>'


def _evidence(evidence: dict[str, EvidenceValue]) -> str:
    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{esc(evidence_text(value))}</td></tr>"
        for key, value in evidence.items()
    )
    return f'<table class="evidence"><tbody>{rows}</tbody></table>'


def flame_widget(key: str) -> str:
    """The flame graph's place and controls; the script fills it from the data blob."""
    return (
        f'<div class="flame" data-key="{esc(key)}">'
        '<div class="controls"><label>Route <select class="route-select"></select></label> '
        '<label>Search <input class="search" type="search" placeholder="function or file">'
        '</label> <button type="button" class="reset">Reset zoom</button> '
        '<span class="matched"></span></div>'
        '<nav class="crumbs" aria-label="zoom path"></nav>'
        '<div class="graph" role="tree"></div>'
        '<p class="legend"><span class="o-app">app</span> <span class="o-framework">'
        'framework</span> <span class="o-library">library</span> <span class="o-stdlib">'
        "stdlib</span> — click a frame to zoom into it; the widths are time.</p>"
        "</div>"
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"
