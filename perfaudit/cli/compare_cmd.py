"""`perfaudit compare A.json B.json`: has B regressed against A beyond noise? Exit 1 when a
route did, 0 otherwise, 2 when a file is not a report — so a script can use it alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfaudit.cli.app import app, guarded

if TYPE_CHECKING:
    from perfaudit.analysis.comparison import Comparison
    from perfaudit.analysis.regression import JudgeOptions
    from perfaudit.model.saved_report import SavedReport


@app.command(no_args_is_help=True)
def compare(
    baseline: Annotated[Path, typer.Argument(help="The baseline JSON report (--json).")],
    current: Annotated[Path, typer.Argument(help="The JSON report to judge against it.")],
    metric: Annotated[
        str, typer.Option("--metric", help="Latency statistic compared: p50, p95 or mean.")
    ] = "p50",
    min_effect: Annotated[
        float,
        typer.Option("--min-effect", help="Smallest slowdown that counts (0.1 = +10%)."),
    ] = 0.10,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence of the interval (0.5–0.999).")
    ] = 0.95,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison as JSON here.")
    ] = None,
) -> None:
    """Compare two JSON reports route by route: latency (with a confidence interval),
    throughput, the functions that got slower, and new findings."""

    def run() -> int:
        from perfaudit.analysis.comparison import compare_reports
        from perfaudit.cli.console import make_console
        from perfaudit.errors import EXIT_FAILED_CHECK, EXIT_OK
        from perfaudit.render.compare import render_comparison

        options = _options(metric, min_effect, confidence)
        comparison = compare_reports(_read(baseline), _read(current), options)
        if json_path is not None:
            _write(json_path, comparison)
        console = make_console()
        render_comparison(comparison, console)
        if json_path is not None:
            console.print(f"Comparison: {json_path}", style="dim", markup=False)
        return EXIT_FAILED_CHECK if comparison.regressed else EXIT_OK

    raise typer.Exit(guarded(run))


def _options(metric: str, min_effect: float, confidence: float) -> JudgeOptions:
    from perfaudit.analysis.regression import METRICS, JudgeOptions
    from perfaudit.errors import UsageError

    if metric not in METRICS:
        raise UsageError(f"--metric {metric!r} is not one of {', '.join(METRICS)}.")
    if not 0 <= min_effect < 10:
        raise UsageError(f"--min-effect {min_effect} is out of range.", remedy="Pass e.g. 0.1.")
    if not 0.5 <= confidence <= 0.999:
        raise UsageError(
            f"--confidence {confidence} is out of range.", remedy="Pass e.g. 0.95 or 0.99."
        )
    return JudgeOptions(metric=metric, min_effect=min_effect, confidence=confidence)


def _read(path: Path) -> SavedReport:
    from perfaudit.errors import UsageError
    from perfaudit.formats.report_json import ReportFormatError, read_report_file

    try:
        return read_report_file(path)
    except OSError as exc:
        raise UsageError(
            f"Cannot read {path}: {exc.strerror or exc}.", remedy="Check the path."
        ) from None
    except ReportFormatError as exc:
        raise UsageError(
            f"{path} is not a perfaudit JSON report: {exc}.",
            remedy="Pass files written by `perfaudit profile … --json PATH`.",
        ) from None


def _write(path: Path, comparison: Comparison) -> None:
    from perfaudit.fileio import atomic_write, write_all
    from perfaudit.render.compare import render_comparison_json

    document = render_comparison_json(comparison).encode("utf-8")
    _, failure = write_all([(path, "Comparison", lambda p: atomic_write(p, document))])
    if failure is not None:
        raise failure
