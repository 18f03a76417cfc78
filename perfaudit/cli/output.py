"""What every reporting command does at the end: analyse, write files, print, decide the
exit code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfaudit.analysis.findings import Severity
from perfaudit.analysis.report import Report, build_report
from perfaudit.cli.console import make_console
from perfaudit.errors import EXIT_FAILED_CHECK, EXIT_OK, TargetError, UsageError
from perfaudit.fileio import FileJob
from perfaudit.model import Session
from perfaudit.stop_signals import named_stop


def parse_fail_on(text: str | None) -> Severity | None:
    if text is None:
        return None
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise UsageError(f"--fail-on: {exc}.", remedy="Pass e.g. --fail-on high.") from None


def emit_report(
    session: Session,
    *,
    exports: Exports | None = None,
    fail_on: Severity | None = None,
    require_answers: bool = False,
) -> int:
    """Analyse, write, print; the exit code. `require_answers`: a run in which every request
    to every route failed measured nothing (exit 3, after the report that says why)."""
    from perfaudit.render.terminal import render_terminal

    report = build_report(named_stop(session))
    # Files first: a closed pipe on stdout (`| head`) must not cost the user the report.
    written, failure = _write_files(report, exports or Exports())
    console = make_console()
    render_terminal(report, console)
    for line in written:
        console.print(line, style="dim", markup=False)
    if failure is not None:
        raise failure
    if require_answers and report.nothing_measured:
        raise TargetError(
            "Every request failed, so nothing about the app's performance was measured.",
            remedy="Fix what the route-errors findings above name (a service not running, "
            "credentials, the request's data), then run again.",
        )
    worst = report.worst_severity
    if fail_on is not None and worst is not None and worst >= fail_on:
        return EXIT_FAILED_CHECK
    return EXIT_OK


@dataclass(frozen=True, slots=True)
class Exports:
    """The files a reporting command was asked to write (None: not asked)."""

    json: Path | None = None
    pstats: Path | None = None
    session: Path | None = None
    speedscope: Path | None = None
    collapsed: Path | None = None
    html: Path | None = None

    def check(self) -> None:
        """Refuse a path that cannot be written before the run, not after it."""
        from perfaudit.fileio import unwritable

        paths = (self.json, self.pstats, self.session, self.speedscope, self.collapsed, self.html)
        for path in paths:
            problem = unwritable(path) if path is not None else ""
            if problem:
                raise UsageError(
                    f"Cannot write {path}: {problem}.", remedy="Choose a path you can write to."
                )


def _write_files(report: Report, exports: Exports) -> tuple[list[str], UsageError | None]:
    """Write each file asked for (whole or not at all); one failing does not stop the others."""
    from perfaudit.fileio import atomic_write, write_all
    from perfaudit.formats.collapsed import write_collapsed
    from perfaudit.formats.pstats_format import write_pstats
    from perfaudit.formats.speedscope import write_speedscope
    from perfaudit.render.html import write_html
    from perfaudit.render.json_report import write_json

    session = report.session
    jobs: list[FileJob] = [
        (exports.json, "JSON report", lambda path: write_json(report, path)),
        (exports.html, "HTML report", lambda path: write_html(report, path)),
        (
            exports.pstats,
            "Profile (.pstats, open with snakeviz)",
            lambda path: write_pstats(session.profiles, path),
        ),
        (
            exports.speedscope,
            "Stacks (speedscope JSON, open at speedscope.app)",
            lambda path: write_speedscope(session, path),
        ),
        (
            exports.collapsed,
            "Stacks (collapsed, for flamegraph.pl or inferno)",
            lambda path: write_collapsed(session, path),
        ),
        (exports.session, "Session", lambda path: atomic_write(path, session.to_json().encode())),
    ]
    return write_all(jobs)
