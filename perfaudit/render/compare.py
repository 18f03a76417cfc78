"""`perfaudit compare` on a terminal (rich) and as JSON. Shows what analysis/comparison.py
decided; decides nothing itself."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perfaudit.analysis.comparison import Comparison, FunctionChange
from perfaudit.analysis.memory_changes import GROWTH_MIN_BYTES, GROWTH_RATIO, METRICS, MemoryChange
from perfaudit.analysis.verdict import Change
from perfaudit.render.memory_text import size_text
from perfaudit.render.terminal import PLAIN_BOX

COMPARE_FORMAT_VERSION = 1


def render_comparison(comparison: Comparison, console: Console) -> None:
    opts = comparison.options
    console.print(
        Text.assemble(
            ("perfaudit compare ", "bold"),
            (comparison.baseline, "cyan"),
            " → ",
            (comparison.current, "bold cyan"),
        )
    )
    console.print(
        Text(
            f"{opts.metric} latency, current vs baseline with a {opts.confidence:.0%} "
            f"bootstrap interval; regressed when all of it is above +{opts.min_effect:.0%}.",
            style="dim",
        )
    )
    if comparison.latency:
        console.print(_latency_table(comparison.latency, console))
    if comparison.throughput:
        console.print(_throughput_table(comparison.throughput, console))
    if comparison.memory:
        console.print(_memory_table(comparison.memory, console))
    if comparison.functions:
        console.print(_functions_table(comparison.functions, console))
    else:
        console.print(Text("Functions that got slower: none beyond profile jitter.", style="dim"))
    _print_findings(comparison, console)
    for note in comparison.notes:
        console.print(Text(f"Note: {note}", style="dim"))
    console.print(_summary(comparison))


def _table(title: str, console: Console) -> Table:
    fancy = console.is_terminal and not console.no_color
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD if fancy else PLAIN_BOX,
        pad_edge=False,
    )


def _latency_table(changes: tuple[Change, ...], console: Console) -> Table:
    metric = changes[0].metric.removesuffix("_ms")
    table = _table(f"Latency ({metric}, ms)", console)
    table.add_column("Route", overflow="fold", max_width=30)
    for name in ("Baseline", "Current", "Change", f"{changes[0].confidence:.0%} CI", "p"):
        table.add_column(name, justify="right")
    table.add_column("Verdict")
    for c in changes:
        interval = f"{percent(c.ci_low)} … {percent(c.ci_high)}" if c.judged else "-"
        table.add_row(
            escape(c.route),
            f"{c.baseline:.2f}",
            f"{c.current:.2f}",
            percent(c.ratio),
            interval,
            _p(c.p_value),
            verdict_text(c),
        )
    notes = [f"{c.route}: {c.note}" for c in changes if c.note]
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table


def _throughput_table(changes: tuple[Change, ...], console: Console) -> Table:
    table = _table("Throughput (req/s)", console)
    table.add_column("Route", overflow="fold", max_width=30)
    for name in ("Baseline", "Current", "Change"):
        table.add_column(name, justify="right")
    for c in changes:
        table.add_row(escape(c.route), f"{c.baseline:,.1f}", f"{c.current:,.1f}", percent(c.ratio))
    table.caption = f"Not judged: {changes[0].note.split(':')[0]}, so no interval."
    table.caption_justify = "left"
    return table


def _memory_table(changes: tuple[MemoryChange, ...], console: Console) -> Table:
    table = _table("Memory (baseline → current)", console)
    table.add_column("Route", overflow="fold", max_width=30)
    for name in ("Peak per request", "Retained per 1k requests", "RSS"):
        table.add_column(name, justify="right")
    by_route: dict[str, dict[str, MemoryChange]] = {}
    for c in changes:
        by_route.setdefault(c.route, {})[c.metric] = c
    for route, metrics in by_route.items():
        table.add_row(escape(route), *(_memory_cell(metrics.get(m)) for m in METRICS))
    table.caption = (
        f"▲ grew, ▼ shrank: by ×{GROWTH_RATIO:g} and {GROWTH_MIN_BYTES // 1024} KiB at least "
        "(one figure per run, no interval). Shown, not counted in the exit code: budgets "
        "(max_alloc_kb_per_request, max_growth_kb_per_1k_requests, max_rss_mb) gate memory."
    )
    table.caption_justify = "left"
    return table


def _memory_cell(change: MemoryChange | None) -> Text:
    if change is None:
        return Text("-", style="dim")
    text = Text(f"{size_text(change.baseline)} → {size_text(change.current)}")
    if change.grew:
        text.append(" ▲", style="bold red")
    elif change.shrank:
        text.append(" ▼", style="green")
    return text


def _functions_table(functions: tuple[FunctionChange, ...], console: Console) -> Table:
    table = _table("Functions that got slower (share of profiled request time)", console)
    table.add_column("Route", overflow="fold", max_width=24)
    table.add_column("Function", overflow="fold", max_width=36)
    for name in ("Self", "Δ self", "Δ cum", "ms/req"):
        table.add_column(name, justify="right")
    for f in functions:
        ms = "-"
        if f.self_ms_before is not None and f.self_ms_after is not None:
            ms = f"{f.self_ms_before:.2f} → {f.self_ms_after:.2f}"
        table.add_row(
            escape(f.route or "all routes"),
            escape(f"{f.function} ({f.file})"),
            f"{f.self_before:.0%} → {f.self_after:.0%}",
            f"{f.self_pp:+.1f} pp",
            "-" if f.cumulative_pp is None else f"{f.cumulative_pp:+.1f} pp",
            ms,
        )
    table.caption = "Informational: profile shares are not tested and fail nothing."
    table.caption_justify = "left"
    return table


def _print_findings(comparison: Comparison, console: Console) -> None:
    if not comparison.new_findings:
        console.print(Text("New findings since the baseline: none.", style="green"))
        return
    console.print(Text("New findings since the baseline", style="bold"))
    for f in comparison.new_findings:
        where = f" at {f.file}:{f.line} in {f.function}" if f.function else ""
        console.print(Text(f"  {f.severity.upper():<8} {f.id}  {f.title}{where}"))


def _summary(comparison: Comparison) -> Text:
    regressed = comparison.regressed
    if not regressed:
        limit = comparison.options.min_effect
        text = Text(f"No route regressed beyond +{limit:.0%}.", style="bold green")
    else:
        names = ", ".join(f"{c.route} {percent(c.ratio)}" for c in regressed)
        text = Text(f"Regressed: {names}.", style="bold red")
    grew = comparison.memory_grew
    if grew:
        names = ", ".join(f"{c.route} {MEMORY_NAMES[c.metric]} {_growth(c)}" for c in grew)
        text.append(f" Memory grew: {names}.", style="bold dark_orange3")
    return text


MEMORY_NAMES = {
    "peak_bytes_per_request": "peak per request",
    "retained_bytes_per_1k_requests": "retained per 1k requests",
    "rss_bytes": "RSS",
}


def _growth(change: MemoryChange) -> str:
    """The growth as "+120%", or as "+48.8 KiB" from nothing (a leak where there was none)."""
    if change.baseline > 0:
        return percent(change.ratio)
    return f"+{size_text(change.current - change.baseline)}"


def verdict_text(change: Change) -> Text:
    if not change.judged:
        return Text("— not judged", style="dim")
    if change.regressed:
        return Text("▲ regressed", style="bold red")
    if change.improved:
        return Text("▼ improved", style="green")
    return Text("✓", style="green")


def percent(ratio: float) -> str:
    """A ratio as a change: 1.31 → "+31%"; NaN (nothing to divide by) → "-"."""
    return "-" if math.isnan(ratio) else f"{(ratio - 1) * 100:+.1f}%"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """`perfaudit compare --json`: shaped as docs/report-schema.md describes."""
    return {
        "compare_format_version": COMPARE_FORMAT_VERSION,
        "baseline": comparison.baseline,
        "current": comparison.current,
        "options": asdict(comparison.options),
        "regressed": [c.route for c in comparison.regressed],
        "latency": [_change(c) for c in comparison.latency],
        "throughput": [_change(c) for c in comparison.throughput],
        "functions": [
            {
                **asdict(f),
                "self_pp": round(f.self_pp, 3),
                "cumulative_pp": _round(f.cumulative_pp),
            }
            for f in comparison.functions
        ],
        "new_findings": [asdict(f) for f in comparison.new_findings],
        "memory": [_memory_change(c) for c in comparison.memory],
        "memory_grew": list(dict.fromkeys(c.route for c in comparison.memory_grew)),
        "notes": list(comparison.notes),
    }


def _memory_change(change: MemoryChange) -> dict[str, Any]:
    ratio = change.ratio
    return {**asdict(change), "ratio": None if math.isnan(ratio) else round(ratio, 4)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render_comparison_json(comparison: Comparison) -> str:
    return json.dumps(comparison_to_dict(comparison), indent=2) + "\n"


def _change(change: Change) -> dict[str, Any]:
    # NaN is not JSON: null means "not applicable", as in the report.
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in asdict(change).items()
    }
