"""Options shared by several commands (reports, the requests they send): one definition,
one help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonPath = Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")]
PstatsPath = Annotated[
    Path | None, typer.Option("--pstats", help="Write the profile as .pstats (snakeviz, tuna).")
]
SpeedscopePath = Annotated[
    Path | None,
    typer.Option("--speedscope", help="Write the stacks as speedscope JSON (speedscope.app)."),
]
CollapsedPath = Annotated[
    Path | None,
    typer.Option("--collapsed", help="Write collapsed stacks (flamegraph.pl, inferno)."),
]
HtmlPath = Annotated[
    Path | None,
    typer.Option("--html", help="Write the HTML report (flame graph, histograms) here."),
]
SessionPath = Annotated[
    Path | None,
    typer.Option("--save-session", help="Save the raw session, to re-render it later."),
]
FailOn = Annotated[
    str | None,
    typer.Option("--fail-on", help="Exit 1 if a finding is at least this severe (low…critical)."),
]

# The app's own interpreter (the agent runs there): perfaudit.launcher.interpreter.
PythonPath = Annotated[
    Path | None,
    typer.Option(
        "--python",
        help="The app's Python (default: $VIRTUAL_ENV, else .venv/ or venv/ in --app-dir or "
        "a parent, else perfaudit's own).",
        show_default=False,
    ),
]
StartupTimeout = Annotated[
    float,
    typer.Option(
        "--startup-timeout", help="Seconds the app may take to import, and its lifespan to start."
    ),
]

# What the requests carry (profile, load, attach --load); variables: load/variables.py.
BodyData = Annotated[
    str | None,
    typer.Option(
        "-d",
        "--data",
        help="JSON body for POST/PUT/PATCH/DELETE requests, or @file (.jsonl: a row each); "
        "{n}, {uuid}, {random} vary per request.",
    ),
]
FormFields = Annotated[
    list[str] | None, typer.Option("--form", help="Form field name=value (repeatable).")
]
Headers = Annotated[
    list[str] | None, typer.Option("-H", "--header", help='Header "Name: value" (repeatable).')
]
