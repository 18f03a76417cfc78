"""`perfaudit view`: show a saved report, session, .pstats, speedscope or collapsed-stack
file in the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from perfaudit.cli.app import app, guarded
from perfaudit.cli.options import HtmlPath

if TYPE_CHECKING:
    from perfaudit.formats.profile_files import ProfileFile

SORTS = ("self", "cumulative", "calls")


@app.command(no_args_is_help=True)
def view(
    path: Annotated[
        Path,
        typer.Argument(
            help="A perfaudit JSON report or session, a .pstats file, speedscope JSON, or "
            "collapsed stacks.",
            show_default=False,
        ),
    ],
    sort: Annotated[
        str, typer.Option("--sort", help="Order hotspots by self, cumulative or calls.")
    ] = "self",
    limit: Annotated[int, typer.Option("--limit", help="Hotspots shown.")] = 15,
    route: Annotated[
        str | None,
        typer.Option("--route", help="Show one route (or thread, or profile) of the file."),
    ] = None,
    html_path: HtmlPath = None,
) -> None:
    """Show a saved profile: its hotspots, the call tree of its heaviest path, and its
    findings when perfaudit wrote it."""

    def run() -> int:
        from perfaudit.analysis.report import build_report
        from perfaudit.cli.console import make_console
        from perfaudit.errors import EXIT_OK, UsageError
        from perfaudit.render.view import SortKey, ViewOptions, render_view

        if sort not in SORTS:
            raise UsageError(f"--sort {sort!r} is not one of {', '.join(SORTS)}.")
        if limit < 1:
            raise UsageError("--limit must be at least 1.")
        viewed = _read(path)
        if route is not None and not _known(route, viewed.routes):
            raise UsageError(
                f"{path} has no route {route!r}.",
                remedy=f"Pick one of: {', '.join(viewed.routes) or '(none)'}.",
            )
        session = viewed.session
        options = ViewOptions(
            sort=cast("SortKey", sort),  # checked against SORTS above
            limit=limit,
            route=route,
            app_root=session.app_root if session is not None else str(Path.cwd()),
        )
        findings = build_report(session).findings if session is not None else None
        render_view(viewed, make_console(), options, findings=findings)
        if html_path is not None:
            _write_html(viewed, html_path)
        return EXIT_OK

    raise typer.Exit(guarded(run))


def _write_html(viewed: ProfileFile, path: Path) -> None:
    from perfaudit.cli.view_html import report_for_html
    from perfaudit.errors import UsageError
    from perfaudit.render.html import write_html

    try:
        write_html(report_for_html(viewed), path)
    except OSError as exc:
        raise UsageError(
            f"Cannot write {exc.filename or path}: {exc.strerror}.",
            remedy="Choose a path you can write to.",
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{viewed.path} cannot be shown as HTML: {exc}.",
            remedy="Pass a file perfaudit wrote, or a session saved with --save-session.",
        ) from None
    typer.echo(f"HTML report: {path}")


def _read(path: Path) -> ProfileFile:
    from perfaudit.errors import UsageError
    from perfaudit.formats.profile_files import read_profile_file
    from perfaudit.formats.stacks import ProfileFormatError

    try:
        return read_profile_file(path, owner=_owners())
    except OSError as exc:
        raise UsageError(
            f"Cannot read {path}: {exc.strerror or exc}.", remedy="Check the path."
        ) from None
    except ProfileFormatError as exc:
        raise UsageError(
            f"{path} is not a file perfaudit can view: {exc}.",
            remedy="Pass a perfaudit report or session, a .pstats, speedscope or collapsed file.",
        ) from None


def _known(route: str, routes: tuple[str, ...]) -> bool:
    return any(name == route or name.endswith(f" {route}") for name in routes)


def _owners() -> Callable[[str, str], str]:
    """Who owns a function named in a file from anywhere: a built-in by its module, a
    path by where it lives (another machine's site-packages are still libraries)."""
    from perfaudit.capture.owners import OwnerClassifier
    from perfaudit.capture.pyspy_raw import FrameOwners

    classifier = OwnerClassifier()
    frames = FrameOwners(classifier, source=False)

    def owner(file: str, name: str) -> str:
        return classifier.owner(file, name) if file == "~" else frames.owner(file, name)

    return owner
