"""`perfaudit report`: analyse and render a saved session again, e.g. with a newer perfaudit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perfaudit.cli.app import app, guarded
from perfaudit.cli.options import FailOn, HtmlPath, JsonPath, PstatsPath
from perfaudit.fileio import read_input


@app.command(no_args_is_help=True)
def report(
    session_path: Annotated[
        Path, typer.Argument(help="A session saved with --save-session.", show_default=False)
    ],
    json_path: JsonPath = None,
    html_path: HtmlPath = None,
    pstats_path: PstatsPath = None,
    fail_on: FailOn = None,
) -> None:
    """Re-analyse a saved session and print (or write) its report."""

    def run() -> int:
        from perfaudit.cli.output import Exports, emit_report, parse_fail_on
        from perfaudit.errors import UsageError
        from perfaudit.model import Session, SessionFormatError

        threshold = parse_fail_on(fail_on)
        try:
            raw = read_input(session_path, "a session saved by --save-session")
            session = Session.from_json(raw.decode("utf-8", "replace"))
        except OSError as exc:
            raise UsageError(
                f"Cannot read {session_path}: {exc.strerror}.", remedy="Check the path."
            ) from None
        except (SessionFormatError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{session_path} is not a session perfaudit can read: {exc}.",
                remedy="Pass a file written by --save-session.",
            ) from None
        exports = Exports(json=json_path, pstats=pstats_path, html=html_path)
        return emit_report(session, exports=exports, fail_on=threshold)

    raise typer.Exit(guarded(run))
