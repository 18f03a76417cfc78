"""`perfaudit rules [ID]`: the findings catalog, and one rule explained with an example."""

from __future__ import annotations

from typing import Annotated

import typer

from perfaudit.cli.app import app, guarded


@app.command()
def rules(
    rule_id: Annotated[
        str | None,
        typer.Argument(help="A finding id, e.g. event-loop-blocked.", show_default=False),
    ] = None,
) -> None:
    """List the findings perfaudit can report, or explain one."""

    def run() -> int:
        from perfaudit.analysis.rules import all_rules
        from perfaudit.cli.console import make_console
        from perfaudit.errors import UsageError
        from perfaudit.render.terminal import render_rule, render_rules

        catalog = {rule.id: rule for rule in all_rules()}
        console = make_console()
        if rule_id is None:
            render_rules(list(catalog.values()), console)
            return 0
        if rule_id not in catalog:
            raise UsageError(
                f"There is no rule '{rule_id}'.",
                remedy=f"Run `perfaudit rules` to list them: {', '.join(sorted(catalog))}.",
            )
        render_rule(catalog[rule_id], console)
        return 0

    raise typer.Exit(guarded(run))
