"""`perfaudit attach`: sample a live server with py-spy and report what it was doing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perfaudit.cli.app import EXIT_INTERRUPTED, app, guarded
from perfaudit.cli.options import (
    BodyData,
    CollapsedPath,
    FailOn,
    FormFields,
    Headers,
    HtmlPath,
    JsonPath,
    PstatsPath,
    PythonPath,
    SessionPath,
    SpeedscopePath,
)
from perfaudit.errors import EXIT_TARGET


@app.command()
def attach(
    pid: Annotated[
        int | None,
        typer.Argument(
            help="The server's process ID (uvicorn, gunicorn's master with --subprocesses).",
            show_default=False,
        ),
    ] = None,
    spawn: Annotated[
        str | None,
        typer.Option(
            "--spawn",
            help='Start this server command first, e.g. "uvicorn main:app"; '
            "it is stopped at the end.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Where the server answers (default http://127.0.0.1:8000)."),
    ] = None,
    load: Annotated[
        list[str] | None,
        typer.Option(
            "--load",
            help='Drive this route meanwhile: "/items", "POST /orders" or a full URL (repeatable).',
        ),
    ] = None,
    data: BodyData = None,
    form: FormFields = None,
    header: Headers = None,
    connections: Annotated[
        int, typer.Option("-c", "--connections", help="Connections for --load.")
    ] = 10,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to record.")] = 10.0,
    rate: Annotated[int, typer.Option("--rate", help="Samples per second (py-spy).")] = 100,
    subprocesses: Annotated[
        bool,
        typer.Option(
            "--subprocesses", help="Follow worker processes (uvicorn --workers, gunicorn)."
        ),
    ] = False,
    native: Annotated[
        bool, typer.Option("--native", help="Sample C/Cython frames too (py-spy --native).")
    ] = False,
    app_spec: Annotated[
        str | None,
        typer.Option("--app", help="The server's module:app, to name routes by their template."),
    ] = None,
    factory: Annotated[
        bool, typer.Option("--factory", help="--app names a factory that returns the app.")
    ] = False,
    app_dir: Annotated[Path, typer.Option("--app-dir", help="Folder to import --app from.")] = Path(
        "."
    ),
    python: PythonPath = None,
    json_path: JsonPath = None,
    html_path: HtmlPath = None,
    pstats_path: PstatsPath = None,
    speedscope_path: SpeedscopePath = None,
    collapsed_path: CollapsedPath = None,
    session_path: SessionPath = None,
    fail_on: FailOn = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress line.")] = False,
) -> None:
    """Sample a live server with py-spy (optionally while loading it) and report its
    bottlenecks, as `profile` does in-process. Needs ptrace rights: see the README."""

    def run() -> int:
        from perfaudit.cli.console import with_progress
        from perfaudit.cli.output import Exports, emit_report, parse_fail_on
        from perfaudit.live.attach import AppSpec, AttachOptions, run_attach

        threshold = parse_fail_on(fail_on)
        options = AttachOptions(
            pid=pid,
            spawn=spawn,
            url=url,
            load=tuple(load or ()),
            data=data,
            form=tuple(form or ()),
            headers=tuple(header or ()),
            connections=connections,
            duration_s=duration,
            rate_hz=rate,
            subprocesses=subprocesses,
            native=native,
            app=AppSpec(app_spec, factory, app_dir, python) if app_spec else None,
        )
        exports = Exports(
            json=json_path,
            pstats=pstats_path,
            session=session_path,
            speedscope=speedscope_path,
            collapsed=collapsed_path,
            html=html_path,
        )
        exports.check()
        session = with_progress(quiet, lambda progress: run_attach(options, progress=progress))
        code = emit_report(session, exports=exports, fail_on=threshold)
        # The load engine and py-spy both name Ctrl-C when it ended their part early.
        if session.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_TARGET if session.server_gone else code

    raise typer.Exit(guarded(run))
