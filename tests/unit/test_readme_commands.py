"""Every `perfaudit …` command the README shows names a command and options that exist: a
new user copies them (issue 17 #10: the README showed `attach --load "POST /orders"`, which
could not send the body the route needs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from perfaudit.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"
# A command line in a code block: `perfaudit …` however it is installed.
_COMMAND = re.compile(r"(?:^|[\s;&(`])(?:[~.\w/-]*/)?perfaudit ((?:[a-z]+)(?: [^`#|\n]*)?)")


def _register_commands() -> Any:
    import perfaudit.cli.attach_cmd
    import perfaudit.cli.ci_cmd
    import perfaudit.cli.compare_cmd
    import perfaudit.cli.load_cmd
    import perfaudit.cli.profile_cmd
    import perfaudit.cli.report_cmd
    import perfaudit.cli.rules_cmd
    import perfaudit.cli.view_cmd  # noqa: F401

    return typer.main.get_command(app)  # a click group (typer's own click, maybe vendored)


def readme_commands() -> list[str]:
    """Each command line inside the README's ``` blocks (continued lines joined)."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), flags=re.S)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if not line.lstrip().startswith("#"):  # a comment about perfaudit
                lines.extend(m.group(1).strip() for m in _COMMAND.finditer(line))
    return lines


def _options(command: Any) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", [])}


@pytest.mark.parametrize("line", readme_commands())
def test_the_readme_s_command_exists_with_those_options(line: str) -> None:
    group = _register_commands()
    words = shlex.split(line.split("  #", maxsplit=1)[0], comments=False)
    command = group.get_command(group.context_class(group), words[0])
    if hasattr(command, "list_commands"):  # a group: `baseline update`
        command = command.get_command(command.context_class(command), words[1])
        words = words[1:]
    assert command is not None, f"no command `{words[0]}` in: {line}"
    known = _options(command) | {"--help"}
    used = {w.split("=")[0] for w in words[1:] if w.startswith("-") and not w[1:2].isdigit()}
    assert used <= known, f"unknown option(s) {sorted(used - known)} in: perfaudit {line}"


def test_the_readme_shows_commands_at_all() -> None:
    assert len(readme_commands()) > 20
