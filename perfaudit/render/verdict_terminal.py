"""The verdict table `perfaudit ci` prints last: per scenario its checks, failures first,
then one line with the outcome. Colours are ones that read on light and dark terminals
(no white, no yellow); plain text when the console is not a terminal or NO_COLOR is set
(the console decides, see cli/console.py)."""

from __future__ import annotations

import re

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from perfaudit.analysis.verdict import Check, ScenarioResult, Verdict
from perfaudit.render.terminal import PLAIN_BOX

FAILED_STYLE = "bold red"
PASSED_STYLE = "green"
# Lone surrogates cannot be encoded for any stream; other controls would move the cursor.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def render_verdict(verdict: Verdict, console: Console) -> None:
    for scenario in verdict.scenarios:
        console.print(_scenario_table(scenario, console))
    for note in verdict.notes:
        console.print(Text(f"Note: {_printable(note)}", style="dim"))
    console.print(_outcome(verdict))


def _scenario_table(result: ScenarioResult, console: Console) -> Table:
    fancy = console.is_terminal and not console.no_color
    table = Table(
        title=Text.assemble(("Scenario ", "bold"), (_printable(result.name), "bold")),
        title_justify="left",
        box=box.SIMPLE_HEAD if fancy else PLAIN_BOX,
        pad_edge=False,
        expand=False,
    )
    table.add_column("", width=1, no_wrap=True)
    table.add_column("Check", overflow="fold", max_width=48)
    table.add_column("Measured", justify="right", overflow="fold", max_width=28)
    table.add_column("Limit", justify="right", overflow="fold", max_width=16)
    # Failures first, each in its configured order; a failure's detail on the row under it.
    for check in sorted(result.checks, key=lambda c: c.passed):
        _add_check(table, check)
    if not result.checks:
        table.add_row("", Text("no checks configured", style="dim"), "", "")
    return table


def _add_check(table: Table, check: Check) -> None:
    if check.passed:
        table.add_row(
            Text("✓", style=PASSED_STYLE),
            _text(check.name),
            _text(check.measured),
            _text(check.limit),
        )
        return
    table.add_row(
        Text("✗", style=FAILED_STYLE),
        _text(check.name, FAILED_STYLE),
        _text(check.measured, FAILED_STYLE),
        _text(check.limit),
    )
    if check.detail:
        table.add_row("", _text(f"→ {check.detail}"), "", "")


def _outcome(verdict: Verdict) -> Text:
    total, failed = len(verdict.checks), len(verdict.failed)
    checks = f"check{'' if total == 1 else 's'}"
    if failed:
        return Text(f"{failed} of {total} {checks} failed.", style=FAILED_STYLE)
    if not total:
        return Text("No checks configured: nothing to fail.", style="bold")
    return Text(f"{total} of {total} {checks} passed.", style=f"bold {PASSED_STYLE}")


def _printable(text: str) -> str:
    """One line without control characters: the text comes from the app and the config."""
    return _UNPRINTABLE.sub("", " ".join(text.split()))


def _text(text: str, style: str = "") -> Text:
    # Text, never a str cell: rich would read "[bold]" or "[/]" in a route as markup.
    return Text(_printable(text), style=style)
