"""The verdict table `perfaudit ci` prints last, on a 100-column console (rich's own way
of testing output)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from verdict_builders import check, failing_verdict, passing_verdict, scenario

from perfaudit.analysis.verdict import Verdict
from perfaudit.render.verdict_terminal import render_verdict

ESC = "\x1b["


def render(verdict: Verdict, console: Console | None = None) -> str:
    console = console or Console(file=StringIO(), width=100)
    render_verdict(verdict, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_failures_come_first_then_the_passed_checks() -> None:
    out = lines(render(failing_verdict()))

    checkout = out[: out.index("Scenario search")]
    marks = [line.split()[0] for line in checkout if line[0] in "✓✗"]
    assert marks == ["✗", "✗", "✗", "✓"]
    assert "✗ GET /orders/{order_id} p95 ≤ 120 ms 131.2 ms ≤ 120 ms" in checkout
    assert "→ p95 is 1.09× its budget." in checkout
    assert "✓ GET /health p95 ≤ 50 ms 12.0 ms ≤ 50 ms" in checkout


def test_the_last_line_counts_the_failures_or_the_passes() -> None:
    assert lines(render(failing_verdict()))[-1] == "3 of 5 checks failed."
    assert lines(render(passing_verdict()))[-1] == "2 of 2 checks passed."
    assert lines(render(Verdict(())))[-1] == "No checks configured: nothing to fail."


def test_plain_text_when_not_a_terminal() -> None:
    out = render(failing_verdict())

    assert ESC not in out
    assert "─" not in out  # no box drawing in a log file


def test_failures_are_bold_red_on_a_terminal() -> None:
    console = Console(file=StringIO(), width=100, force_terminal=True, color_system="standard")

    out = render(failing_verdict(), console)

    assert "\x1b[1;31m✗" in out
    assert "\x1b[1;31m3 of 5 checks failed." in out
    assert "\x1b[32m✓" in out


def test_names_are_never_read_as_markup_or_control_sequences() -> None:
    name = "GET /[bold]x[/bold] \x1b[31mred\x1b[0m\nnext"
    verdict = Verdict((scenario("s[/]", checks=[check(name, passed=False, detail="[red]d")]),))

    out = render(verdict)

    assert "GET /[bold]x[/bold] [31mred[0m next" in out
    assert "Scenario s[/]" in out and "→ [red]d" in out
    assert "\x1b" not in out
