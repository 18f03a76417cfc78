"""`perfaudit profile`: audit an app in-process."""

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
    SpeedscopePath,
    StartupTimeout,
)
from perfaudit.launcher import DEFAULT_STARTUP_TIMEOUT_S
from perfaudit.model import DEFAULT_DB_RTT_MS


@app.command(no_args_is_help=True)
def profile(
    target: Annotated[
        str, typer.Argument(help="The app as module:attribute, e.g. main:app.", show_default=False)
    ],
    routes: Annotated[
        list[str] | None,
        typer.Argument(
            help='Routes to drive: "/path?query" or "METHOD /path". None: every GET route '
            "that needs no parameters.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("-X", "--method", help="Method for routes given without one.")
    ] = "GET",
    data: BodyData = None,
    form: FormFields = None,
    header: Headers = None,
    factory: Annotated[
        bool, typer.Option("--factory", help="TARGET is a function that returns the app.")
    ] = False,
    app_dir: Annotated[
        Path, typer.Option("--app-dir", help="Folder put first on sys.path.")
    ] = Path("."),
    lifespan: Annotated[
        bool, typer.Option("--lifespan/--no-lifespan", help="Run the app's lifespan.")
    ] = True,
    requests: Annotated[
        int, typer.Option("-n", "--requests", help="Measured requests per route.")
    ] = 100,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Measure each route for this many seconds instead of -n."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("-c", "--concurrency", help="Requests in flight at once.")
    ] = 1,
    warmup: Annotated[
        int, typer.Option("--warmup", help="Unmeasured requests per route first.")
    ] = 10,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before a request counts as hung.")
    ] = 30.0,
    profile_requests: Annotated[
        int | None,
        typer.Option(
            "--profile-requests",
            help="Requests per route in the profiled phase (default: as measured, ≤50).",
        ),
    ] = None,
    json_path: JsonPath = None,
    html_path: HtmlPath = None,
    pstats_path: PstatsPath = None,
    speedscope_path: SpeedscopePath = None,
    collapsed_path: CollapsedPath = None,
    session_path: Annotated[
        Path | None,
        typer.Option(
            "--save-session", help="Save the raw session, to re-analyse with `perfaudit report`."
        ),
    ] = None,
    fail_on: FailOn = None,
    loop: Annotated[
        str, typer.Option("--loop", help="Event loop to run the app on: asyncio or uvloop.")
    ] = "asyncio",
    probes: Annotated[
        bool,
        typer.Option(
            "--probes/--no-probes",
            help="Run the probe phase (event-loop watchdog, threadpool, concurrency signature).",
        ),
    ] = True,
    memory: Annotated[
        bool,
        typer.Option(
            "--memory/--no-memory",
            help="Run the memory phase (tracemalloc: a request's peak, and what requests "
            "leave behind).",
        ),
    ] = True,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Try each finding's suggested change in memory and measure its gain.",
        ),
    ] = False,
    verify_writes_db: Annotated[
        bool,
        typer.Option(
            "--verify-writes-db",
            help="With --verify: let missing-index create (then drop) its index on a file "
            "database the app uses.",
        ),
    ] = False,
    db_rtt_ms: Annotated[
        float,
        typer.Option(
            "--db-rtt-ms",
            min=0.0,
            help="Network round trip to the database in production, in ms: N+1 queries to a "
            "database on this machine are also costed at it.",
        ),
    ] = DEFAULT_DB_RTT_MS,
    python: PythonPath = None,
    startup_timeout: StartupTimeout = DEFAULT_STARTUP_TIMEOUT_S,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
) -> None:
    """Import the app, drive its routes in-process, profile them, and report bottlenecks."""

    def run() -> int:
        from perfaudit.agent.profile_run import ProfileOptions
        from perfaudit.analysis.findings import Severity
        from perfaudit.cli.console import with_progress
        from perfaudit.cli.output import Exports, emit_report, parse_fail_on
        from perfaudit.launcher.runs import AgentDied, AppInterpreter, profile_in_agent
        from perfaudit.load.plan import build_requests

        threshold: Severity | None = parse_fail_on(fail_on)
        specs = build_requests(
            routes or (), method=method, data=data, form=form or (), headers=header or ()
        )
        options = ProfileOptions(
            target=target,
            request_specs=tuple(specs),
            factory=factory,
            app_dir=app_dir,
            lifespan=lifespan,
            requests=requests,
            duration_s=duration,
            concurrency=concurrency,
            warmup=warmup,
            timeout_s=timeout,
            profile_requests=profile_requests,
            loop=loop,
            probes=probes,
            memory=memory,
            verify=verify,
            verify_writes_db=verify_writes_db,
            db_rtt_ms=db_rtt_ms,
            startup_timeout_s=startup_timeout,
        )
        where = AppInterpreter(python, startup_timeout)
        exports = Exports(
            json=json_path,
            pstats=pstats_path,
            session=session_path,
            speedscope=speedscope_path,
            collapsed=collapsed_path,
            html=html_path,
        )
        exports.check()
        try:
            session = with_progress(
                quiet, lambda progress: profile_in_agent(options, where, progress)
            )
        except AgentDied as died:  # the app's process crashed: report what it measured
            emit_report(died.session, exports=exports, fail_on=threshold)
            raise
        code = emit_report(session, exports=exports, fail_on=threshold, require_answers=True)
        return EXIT_INTERRUPTED if session.interrupted else code

    raise typer.Exit(guarded(run))
