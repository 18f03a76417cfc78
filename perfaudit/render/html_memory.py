"""The HTML report's memory section: per route what the memory phase found, and for a live
process each sampled process's RSS over the recording. Every string from the app goes
through `esc`; sizes are formatted here, as every other figure of the page."""

from __future__ import annotations

from perfaudit.analysis.report import Report
from perfaudit.model import SamplingRun, Session
from perfaudit.render.html_sections import esc
from perfaudit.render.memory_text import MemoryRow, memory_rows, process_rss, rss_text, size_text


def has_memory(report: Report) -> bool:
    run = report.session.sampling
    return bool(report.session.memory) or (run is not None and bool(process_rss(run.memory)))


def memory_section(report: Report, level: int) -> str:
    """The whole `<section>`, or "" when the run measured no memory."""
    if not has_memory(report):
        return ""
    h = f"h{level}"
    parts = [f'<section class="memory"><{h}>Memory</{h}>']
    if report.session.memory:
        parts.append(_routes(report.session))
    run = report.session.sampling
    if run is not None and run.memory:
        parts.append(_processes(run))
    parts.append("</section>")
    return "".join(parts)


_HINT = (
    "A phase of its own, after latency was measured, with tracemalloc on. Peak: the most a "
    "request held above what it began with (median of single requests). Kept: what "
    "requests left behind, per 1,000, by lines that grew alike in both halves of the "
    "phase. RSS: the process before → after the phase."
)


def _routes(session: Session) -> str:
    rows = memory_rows(session)
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Route", "Peak per request", "Response", "Kept per 1,000 requests", "RSS")
    )
    head += "<th>Grows at</th><th>Held by</th>"
    body = "".join(_route_row(row) for row in rows)
    notes = "".join(
        f'<p class="note"><code>{esc(row.route)}</code>: {esc(row.note)}</p>'
        for row in rows
        if row.note
    )
    return (
        f'<p class="hint">{esc(_HINT)}</p><table class="memory"><thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table>{notes}"
    )


def _route_row(row: MemoryRow) -> str:
    kept = size_text(row.retained_per_1k)
    numbers = [
        size_text(row.peak_bytes),
        size_text(row.response_bytes),
        f'<strong class="grows">{kept}</strong>' if row.keeps else kept,
        rss_text(row.rss_before, row.rss_after),
    ]
    tds = "".join(f'<td class="num">{n}</td>' for n in numbers)
    places = "".join(
        f"<td><code>{esc(text)}</code></td>" if text else "<td>–</td>"
        for text in (row.grows_at, row.held_by)
    )
    return f"<tr><td><code>{esc(row.route)}</code></td>{tds}{places}</tr>"


def _processes(run: SamplingRun) -> str:
    commands = {p.pid: p.command for p in run.processes}
    rows = "".join(
        f'<tr><td class="num">{p.pid}</td><td><code>{esc(commands.get(p.pid, ""))}</code></td>'
        f'<td class="num">{esc(p.text)}</td><td class="num">{p.seconds:.1f} s</td></tr>'
        for p in process_rss(run.memory)
    )
    head = "<tr><th>PID</th><th>Command</th><th>RSS start → end (peak)</th><th>Over</th></tr>"
    return (
        '<p class="hint">Resident memory of each sampled process as the kernel counts it; '
        "which lines allocate it needs the in-process run (<code>perfaudit profile</code>)."
        f'</p><table class="process-memory"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    )
