"""The one place rich consoles and progress bars are made for the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from perfaudit import progress as stages

DEFAULT_WIDTH = 100
T = TypeVar("T")


def make_console(stream: TextIO | None = None, *, width: int | None = None) -> Console:
    """Color and box drawing only on a terminal without NO_COLOR; plain text otherwise."""
    stream = stream or sys.stdout
    console = Console(file=stream, width=width)
    if width is None and not console.is_terminal and "COLUMNS" not in os.environ:
        width = DEFAULT_WIDTH  # rich would assume 80 columns for a pipe or a file
    return Console(
        file=stream,
        width=width,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
        soft_wrap=False,
    )


def error_console() -> Console:
    return make_console(sys.stderr)


class RichProgress:
    """perfaudit.progress.Progress on stderr; invisible when stderr is not a terminal."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: int | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def begin(self, label: str, total: int | None) -> None:
        self.end()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)  # type: ignore[arg-type]

    def end(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)  # type: ignore[arg-type]
            self._task = None


def with_progress(quiet: bool, action: Callable[[stages.Progress | None], T]) -> T:
    """Run `action` with a progress line on stderr, or with none when `quiet`."""
    if quiet:
        return action(None)
    with RichProgress(error_console()) as progress:
        return action(progress)
