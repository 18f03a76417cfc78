"""The terminal's memory tables: per route, what the memory phase found (a request's peak,
its response, what requests leave behind and where, RSS around the phase); for a live
process, each sampled process's RSS over the recording."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perfaudit.model import SamplingRun, Session
from perfaudit.render.memory_text import memory_rows, process_rss, rss_text, size_text


def memory_table(session: Session, table: Table) -> Table:
    """`table`: an empty report table to fill (the terminal renderer's style)."""
    table.add_column("Route", overflow="fold", max_width=30)
    for name in ("Peak/req", "Response", "Kept/1k req", "RSS"):
        table.add_column(name, justify="right")
    table.add_column("Grows at · held by", overflow="fold", min_width=16)
    notes = []
    for row in memory_rows(session):
        kept = Text(size_text(row.retained_per_1k), style="bold red" if row.keeps else "")
        table.add_row(
            escape(row.route),
            size_text(row.peak_bytes),
            size_text(row.response_bytes),
            kept,
            rss_text(row.rss_before, row.rss_after),
            escape(row.where or "–"),
        )
        if row.note:
            notes.append(escape(f"{row.route}: {row.note}"))  # a caption reads markup
    table.caption = "\n".join([_CAPTION, *notes])
    table.caption_justify = "left"
    return table


_CAPTION = (
    "Peak: the most a request held above what it began with (tracemalloc, median of single "
    "requests); Kept: what requests left behind, per 1,000, by lines that grew alike in "
    "both halves of the phase; RSS: the process before → after its memory phase."
)


def process_memory_table(run: SamplingRun, table: Table) -> Table:
    table.add_column("PID", justify="right")
    table.add_column("Command", overflow="fold", max_width=40)
    for name in ("Start", "End", "Peak", "Change"):
        table.add_column(name, justify="right")
    commands = {p.pid: p.command for p in run.processes}
    for p in process_rss(run.memory):
        table.add_row(
            str(p.pid),
            escape(commands.get(p.pid, "")),
            size_text(p.start),
            size_text(p.end),
            size_text(p.peak),
            _signed(p.end - p.start),
        )
    table.caption = (
        "Resident memory as the kernel counts it. Which lines allocate it needs the "
        "in-process run: `perfaudit profile` traces allocations in its memory phase."
    )
    table.caption_justify = "left"
    return table


def _signed(size: int) -> str:
    return f"+{size_text(size)}" if size >= 0 else size_text(size)
