"""Options shared by the commands that write reports: one definition, one help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonPath = Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")]
PstatsPath = Annotated[
    Path | None, typer.Option("--pstats", help="Write the profile as .pstats (snakeviz, tuna).")
]
FailOn = Annotated[
    str | None,
    typer.Option("--fail-on", help="Exit 1 if a finding is at least this severe (low…critical)."),
]
