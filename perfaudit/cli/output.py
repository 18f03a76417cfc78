"""What every reporting command does at the end: analyse, write files, print, decide the
exit code."""

from __future__ import annotations

from pathlib import Path

from perfaudit.analysis.findings import Severity
from perfaudit.analysis.report import build_report
from perfaudit.cli.console import make_console
from perfaudit.errors import EXIT_FAILED_CHECK, EXIT_OK, UsageError
from perfaudit.model import Session


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
    json_path: Path | None = None,
    pstats_path: Path | None = None,
    session_path: Path | None = None,
    fail_on: Severity | None = None,
) -> int:
    from perfaudit.fileio import atomic_write
    from perfaudit.formats.pstats_format import write_pstats
    from perfaudit.render.json_report import write_json
    from perfaudit.render.terminal import render_terminal

    report = build_report(session)
    console = make_console()
    render_terminal(report, console)
    written = []
    try:
        if json_path:
            write_json(report, json_path)
            written.append(f"JSON report: {json_path}")
        if pstats_path:
            write_pstats(session.profiles, pstats_path)
            written.append(f"Profile (.pstats, open with snakeviz): {pstats_path}")
        if session_path:
            atomic_write(session_path, session.to_json().encode("utf-8"))
            written.append(f"Session: {session_path}")
    except OSError as exc:
        raise UsageError(
            f"Cannot write {exc.filename}: {exc.strerror}.",
            remedy="Choose a path you can write to.",
        ) from None
    for line in written:
        console.print(line, style="dim", markup=False)
    worst = report.worst_severity
    if fail_on is not None and worst is not None and worst >= fail_on:
        return EXIT_FAILED_CHECK
    return EXIT_OK
