"""The terminal's "where the time goes" table: per route, one request at a time, the share
on the CPU, awaiting the database and waiting on other things, as a bar and in ms; and
under the probe's load, the wait for a pool connection."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perfaudit.analysis.waterfall import Waterfall

BAR_WIDTH = 24
PART_STYLES = ("cyan", "magenta", "yellow")  # CPU, database, waiting: in `Waterfall.parts` order
PART_MARKS = ("c", "d", ".")  # the same without colour (NO_COLOR, pipes)


def waterfall_table(waterfalls: tuple[Waterfall, ...], console: Console, table: Table) -> Table:
    """`table`: an empty report table to fill (the terminal renderer's style)."""
    coloured = console.is_terminal and not console.no_color
    table.add_column("Route", overflow="fold", max_width=34)
    table.add_column("ms", justify="right")
    table.add_column("CPU", justify="right")
    table.add_column("DB", justify="right")
    table.add_column("waits", justify="right")
    table.add_column("", no_wrap=True)
    under_load = any(w.under_load for w in waterfalls)
    if under_load:
        table.add_column("under load", justify="right")
    for w in waterfalls:
        cells = [escape(w.route), f"{w.request_ms:.1f}"]
        cells += [_share(ms, w.request_ms) for _, ms in w.parts]
        row: list[str | Text] = [*cells, _bar(w, coloured=coloured)]
        if under_load:
            row.append(_under_load(w))
        table.add_row(*row)
    table.caption = _caption(waterfalls, coloured=coloured)
    table.caption_justify = "left"
    return table


def _share(ms: float, total_ms: float) -> str:
    return f"{ms / total_ms:.0%}" if total_ms > 0 and ms > 0 else "–"


def _bar(w: Waterfall, *, coloured: bool) -> Text:
    bar = Text()
    for (_, ms), style, mark in zip(w.parts, PART_STYLES, PART_MARKS, strict=True):
        cells = round(BAR_WIDTH * ms / w.request_ms) if w.request_ms > 0 else 0
        bar.append(("█" if coloured else mark) * cells, style=style if coloured else "")
    return bar


def _under_load(w: Waterfall) -> str:
    load = w.under_load
    if load is None:
        return ""
    text = f"{load.request_ms:.1f} at c={load.concurrency}"
    if load.pool_wait_ms >= 0.05 * load.request_ms:
        text += f", {load.pool_wait_ms / load.request_ms:.0%} pool wait"
    return text


def _caption(waterfalls: tuple[Waterfall, ...], *, coloured: bool) -> str:
    sqlite = any(w.database_in_process for w in waterfalls)
    key = "c CPU, d database, . waits; " if not coloured else ""
    return (
        f"{key}one request at a time: the app process's CPU, the database as its driver "
        "timed it (awaiting a server includes the driver's work on the results"
        + ("; SQLite runs in the process, on the CPU" if sqlite else "")
        + ")"
        + ", and waits on anything else (HTTP calls, sleeps, files). Under load: the "
        "probe's mean latency, and the share of it spent waiting for a pool connection."
    )
