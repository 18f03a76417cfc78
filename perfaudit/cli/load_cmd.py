"""`perfaudit load`: drive a live server over HTTP and report what it gave."""

from __future__ import annotations

from typing import Annotated

import typer

from perfaudit.cli.app import EXIT_INTERRUPTED, app, guarded
from perfaudit.cli.options import (
    BodyData,
    FailOn,
    FormFields,
    Headers,
    HtmlPath,
    JsonPath,
    SessionPath,
)
from perfaudit.errors import EXIT_TARGET


@app.command(no_args_is_help=True)
def load(
    urls: Annotated[
        list[str],
        typer.Argument(
            help='URLs to load: "URL" or "METHOD URL" (http:// or https://).', show_default=False
        ),
    ],
    method: Annotated[
        str, typer.Option("-X", "--method", help="Method for URLs given without one.")
    ] = "GET",
    data: BodyData = None,
    form: FormFields = None,
    header: Headers = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Share of requests per URL, in order, e.g. 3,1."),
    ] = None,
    connections: Annotated[
        int,
        typer.Option(
            "-c", "--connections", help="Keep-alive connections (closed model: in flight at once)."
        ),
    ] = 10,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", help="Open model: requests per second, sent on schedule whatever the server."
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds to run (default 10 without -n).")
    ] = None,
    requests: Annotated[
        int | None, typer.Option("-n", "--requests", help="Stop after this many requests.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before a request counts as timed out.")
    ] = 10.0,
    processes: Annotated[
        int,
        typer.Option("--processes", help="Engine processes, merged; 0: one per spare core."),
    ] = 1,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="builtin (perfaudit's own client) or locust (for several machines)."
        ),
    ] = "builtin",
    master: Annotated[
        bool,
        typer.Option("--master", help="Locust: run as master; workers on other machines join."),
    ] = False,
    expect_workers: Annotated[
        int, typer.Option("--expect-workers", help="Locust master: wait for this many workers.")
    ] = 1,
    master_bind_host: Annotated[
        str, typer.Option("--master-bind-host", help="Locust master: interface to listen on.")
    ] = "*",
    master_bind_port: Annotated[
        int, typer.Option("--master-bind-port", help="Locust master: port to listen on.")
    ] = 5557,
    json_path: JsonPath = None,
    html_path: HtmlPath = None,
    session_path: SessionPath = None,
    fail_on: FailOn = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress line.")] = False,
) -> None:
    """Drive a live server over HTTP (closed or open model) and report latency, throughput
    and errors, with the load engine's own CPU beside them."""

    def run() -> int:
        from perfaudit.cli.console import with_progress
        from perfaudit.cli.output import Exports, emit_report, parse_fail_on
        from perfaudit.load.http_run import LoadOptions, LocustOptions, run_load
        from perfaudit.load.processes import auto_processes
        from perfaudit.load.scenario import LoadPlan
        from perfaudit.load.targets import build_targets, parse_weights

        threshold = parse_fail_on(fail_on)
        targets = build_targets(
            urls,
            method=method,
            data=data,
            form=tuple(form or ()),
            headers=tuple(header or ()),
            weights=parse_weights(weights),
        )
        plan = LoadPlan(
            targets=targets,
            connections=connections,
            rate=rate,
            duration_s=duration if duration is not None or requests else 10.0,
            requests=requests,
            timeout_s=timeout,
            processes=processes or auto_processes(),
        )
        options = LoadOptions(
            plan=plan,
            engine=engine,  # type: ignore[arg-type]  # checked by LoadOptions.check
            locust=LocustOptions(master, expect_workers, master_bind_host, master_bind_port),
        )
        exports = Exports(json=json_path, session=session_path, html=html_path)
        exports.check()
        session = with_progress(quiet, lambda progress: run_load(options, progress=progress))
        code = emit_report(session, exports=exports, fail_on=threshold)
        if session.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_TARGET if session.server_gone else code

    raise typer.Exit(guarded(run))
