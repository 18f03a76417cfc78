"""The `perfaudit` command. Each command lives in its own module; errors are caught once,
here, and shown as one sentence with a remedy."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from perfaudit import __version__, stop_signals

app = typer.Typer(
    name="perfaudit",
    help="Find out why a FastAPI (or any ASGI) app is slow, with the evidence, and what to change.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
T = TypeVar("T")
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perfaudit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """perfaudit: measure, profile and explain a FastAPI app's performance."""


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; turn our errors into one clear sentence and their exit code."""
    from perfaudit.errors import PerfauditError

    try:
        return action()
    except PerfauditError as exc:
        from perfaudit.cli.console import error_console

        console = error_console()
        console.print(f"error: {exc.message}", style="bold red", markup=False, soft_wrap=True)
        if exc.remedy:
            console.print(exc.remedy, markup=False, soft_wrap=True)
        if exc.details:
            console.print(exc.details, style="dim", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("PERFAUDIT_DEBUG"):
            raise
        typer.echo(
            f"error: perfaudit hit an internal error ({type(exc).__name__}: {exc}). "
            "This is a bug in perfaudit: run again with PERFAUDIT_DEBUG=1 for the traceback "
            "and report it.",
            err=True,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def main() -> None:
    from perfaudit.cli import (  # noqa: F401  (register commands)
        attach_cmd,
        ci_cmd,
        compare_cmd,
        load_cmd,
        profile_cmd,
        report_cmd,
        rules_cmd,
        view_cmd,
    )

    stop_signals.stop_like_ctrl_c()
    try:
        app()
    except SystemExit as exc:
        _exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    _exit(0)


def _exit(code: int) -> None:
    # Stopped by SIGTERM or SIGHUP: the exit code names it, as a shell would (143, 129).
    if code == EXIT_INTERRUPTED and (signum := stop_signals.received()) is not None:
        code = 128 + signum
    sys.stdout.flush()
    sys.stderr.flush()
    stuck = [
        t
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t is not threading.main_thread()
    ]
    if stuck:
        # A handler is still stuck in a worker thread; it has been reported. Python would
        # wait for it forever at exit, so leave without waiting.
        os._exit(code)
    sys.exit(code)
