"""`perfaudit ci` and `perfaudit baseline update`: run a config's scenarios, hold them to
budgets and a baseline, write the reports CI systems read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfaudit.cli.app import EXIT_INTERRUPTED, app, guarded
from perfaudit.cli.options import HtmlPath
from perfaudit.errors import EXIT_FAILED_CHECK, EXIT_OK, UsageError
from perfaudit.fileio import read_input

if TYPE_CHECKING:
    from perfaudit.ci.run import CiRun
    from perfaudit.config import CiConfig
    from perfaudit.fileio import FileJob

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The YAML config (default: perfaudit.yaml, .perfaudit.yaml or [tool.perfaudit] "
        "in pyproject.toml, here).",
    ),
]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress line.")]

baseline_app = typer.Typer(help="Write the baseline `perfaudit ci` compares against.")
app.add_typer(baseline_app, name="baseline")


@app.command()
def ci(
    config_path: ConfigPath = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Compare with this report (overrides the config's)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here.")
    ] = None,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown summary here.")
    ] = None,
    junit_path: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (a test per check).")
    ] = None,
    html_path: HtmlPath = None,
    quiet: Quiet = False,
) -> None:
    """Run every scenario of the config, check budgets and the baseline, write the reports;
    exit 1 when a budget or a regression check failed."""

    def run() -> int:
        from perfaudit.ci.run import run_ci
        from perfaudit.cli.console import with_progress

        config = _config(config_path)
        outcome = with_progress(
            quiet, lambda progress: run_ci(config, baseline=baseline, progress=progress)
        )
        _show(outcome)
        reports = config.reports
        _write_reports(
            outcome,
            json_path=json_path or reports.json,
            markdown_path=markdown_path or reports.markdown,
            junit_path=junit_path or reports.junit,
            html_path=html_path or reports.html,
        )
        if outcome.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if outcome.verdict.passed else EXIT_FAILED_CHECK

    raise typer.Exit(guarded(run))


@baseline_app.command("update")
def baseline_update(
    config_path: ConfigPath = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Where to write it (default: the config's `baseline`)."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Promote this `perfaudit ci --json` report instead of measuring."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Measure the config's scenarios (or take a saved report) and write the baseline."""

    def run() -> int:
        from perfaudit.fileio import atomic_write, write_all

        config = _config(config_path)
        path = output or config.baseline
        if path is None:
            raise UsageError(
                "No baseline path: the config has no `baseline` key.",
                remedy="Add `baseline: perf/baseline.json` to the config, or pass --output.",
            )
        data = _promoted(source) if source else _measured_document(config, quiet)
        written, failure = write_all([(path, "Baseline", lambda p: atomic_write(p, data))])
        if failure is not None:
            raise failure
        typer.echo(written[0])
        return EXIT_OK

    raise typer.Exit(guarded(run))


def _config(path: Path | None) -> CiConfig:
    from perfaudit.config import find_config, load_config

    found = path or find_config(Path.cwd())
    if found is None:
        raise UsageError(
            "No perfaudit config here.",
            remedy="Pass --config FILE, or add perfaudit.yaml (see configs/ for examples).",
        )
    return load_config(found)


def _show(outcome: CiRun) -> None:
    from perfaudit.cli.console import make_console
    from perfaudit.render.terminal import render_terminal
    from perfaudit.render.verdict_terminal import render_verdict

    console = make_console()
    for scenario in outcome.verdict.scenarios:
        console.rule(f"scenario {scenario.name}", style="dim")
        render_terminal(scenario.report, console)
    render_verdict(outcome.verdict, console)


def _write_reports(
    outcome: CiRun,
    *,
    json_path: Path | None,
    markdown_path: Path | None,
    junit_path: Path | None,
    html_path: Path | None,
) -> None:
    """Each file whole or not at all; one failing does not stop the others."""
    from perfaudit.fileio import atomic_write, write_all
    from perfaudit.render.html import write_ci_html
    from perfaudit.render.junit import write_junit
    from perfaudit.render.markdown import append_step_summary, write_markdown

    verdict = outcome.verdict
    document = (json.dumps(outcome.document, indent=2) + "\n").encode()
    jobs: list[FileJob] = [
        (json_path, "JSON report", lambda p: atomic_write(p, document)),
        (markdown_path, "Markdown summary", lambda p: write_markdown(verdict, p)),
        (junit_path, "JUnit XML", lambda p: write_junit(verdict, p)),
        (html_path, "HTML report", lambda p: write_ci_html(verdict, p)),
    ]
    written, failure = write_all(jobs)
    for line in written:
        typer.echo(line)
    summary = append_step_summary(verdict)
    if summary is not None:
        typer.echo(f"Step summary: {summary}")
    if failure is not None:
        raise failure


def _measured_document(config: CiConfig, quiet: bool) -> bytes:
    """Every scenario measured and judged against the budgets only: the report a later
    `perfaudit ci` compares with."""
    from dataclasses import replace

    from perfaudit.ci.run import run_ci
    from perfaudit.cli.console import with_progress

    unbaselined = replace(config, baseline=None)
    outcome = with_progress(quiet, lambda progress: run_ci(unbaselined, progress=progress))
    if outcome.interrupted:
        raise UsageError("Interrupted: no baseline written.", remedy="Run it again.")
    return (json.dumps(outcome.document, indent=2) + "\n").encode()


def _promoted(source: Path) -> bytes:
    from perfaudit.ci.baselines import read_baselines

    read_baselines(source)  # a clear error now, not at the next `perfaudit ci`
    return read_input(source, "a baselines file")
