"""Which interpreter runs the app, and what the CLI and the agent send each other."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from perfaudit.agent import protocol
from perfaudit.agent.profile_run import ProfileOptions
from perfaudit.agent.routes import RouteInfo, RouteTable
from perfaudit.errors import UsageError
from perfaudit.launcher.interpreter import find_interpreter
from perfaudit.load.plan import RequestSpec
from perfaudit.model import CodeLocation


def make_venv(folder: Path) -> Path:
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    return python


@pytest.fixture
def no_active_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)


def test_python_given_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = make_venv(tmp_path / "mine")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "other"))
    make_venv(tmp_path / "other")

    found = find_interpreter(chosen, tmp_path)

    assert (found.path, found.chosen_by) == (chosen, "--python")


def test_python_may_name_the_virtualenv_folder(tmp_path: Path) -> None:
    python = make_venv(tmp_path / ".venv")

    assert find_interpreter(tmp_path / ".venv", tmp_path).path == python


def test_a_python_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a Python interpreter"):
        find_interpreter(tmp_path / "nope" / "python", tmp_path)


def test_the_active_virtualenv_comes_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    active = make_venv(tmp_path / "active")
    make_venv(tmp_path / "app" / ".venv")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))

    found = find_interpreter(None, tmp_path / "app")

    assert (found.path, found.chosen_by) == (active, "$VIRTUAL_ENV")


@pytest.mark.usefixtures("no_active_venv")
@pytest.mark.parametrize("name", [".venv", "venv"])
def test_a_virtualenv_in_a_parent_of_the_app_is_found(tmp_path: Path, name: str) -> None:
    python = make_venv(tmp_path / name)
    app_dir = tmp_path / "src" / "service"
    app_dir.mkdir(parents=True)

    found = find_interpreter(None, app_dir)

    assert found.path == python
    assert found.chosen_by == str(tmp_path / name)


@pytest.mark.usefixtures("no_active_venv")
def test_the_nearest_virtualenv_wins(tmp_path: Path) -> None:
    make_venv(tmp_path / ".venv")
    inner = make_venv(tmp_path / "service" / "venv")

    assert find_interpreter(None, tmp_path / "service").path == inner


@pytest.mark.usefixtures("no_active_venv")
def test_without_any_virtualenv_perfaudit_s_own_python_runs_the_app(tmp_path: Path) -> None:
    found = find_interpreter(None, tmp_path)

    if any(
        (p / d / "bin" / "python").exists() for p in tmp_path.parents for d in (".venv", "venv")
    ):
        pytest.skip("a virtualenv sits above the temporary folder")
    assert (found.path, found.chosen_by) == (Path(sys.executable), "perfaudit's own")


def test_options_cross_the_pipe_unchanged() -> None:
    options = ProfileOptions(
        target="main:app",
        app_dir=Path("/srv/app"),
        concurrency=8,
        duration_s=2.5,
        verify=True,
        loop="uvloop",
        request_specs=(
            RequestSpec("POST", "/orders", "x=1", (("X-Tenant", "日本"),), b'{"sku": "\xff"}'),
            RequestSpec("GET", "/health"),
            RequestSpec("POST", "/rows", body=b'{"a": 1}', rows=(b'{"a": 1}', b'{"a": 2}')),
        ),
    )
    line = protocol.encode({"options": protocol.options_to_json(options)})

    assert protocol.options_from_json(protocol.decode(line)["options"]) == options


def test_a_route_table_crosses_the_pipe_unchanged() -> None:
    table = RouteTable(
        routes=(
            RouteInfo(
                methods=frozenset({"GET", "HEAD"}),
                template="/items/{item_id}",
                pattern=re.compile(r"^/items/(?P<item_id>[^/]+)$"),
                endpoint="read_item",
                required_params=("item_id",),
                endpoint_location=CodeLocation("main.py", 12, "read_item"),
                endpoint_async=True,
            ),
        ),
        opaque_mounts=("/static",),
    )
    line = protocol.encode({"table": protocol.table_to_json(table)})

    assert protocol.table_from_json(protocol.decode(line)["table"]) == table


PROBE_APP = """
import importlib.util, json, os
seen = [n for n in ("typer", "rich", "yaml", "aiohttp") if importlib.util.find_spec(n)]
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump(seen, out)

async def app(scope, receive, send):
    pass
"""


def test_the_app_sees_none_of_perfaudit_s_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent is started from perfaudit's package folder alone: typer, rich, pyyaml and
    aiohttp, installed beside perfaudit, stay out of the app's interpreter."""
    from perfaudit.launcher.runs import AppInterpreter, route_table_in_agent
    from tests.unit.test_architecture import find_python

    bare = find_python("3.12") or find_python("3.10")
    if bare is None:
        pytest.skip("no interpreter without perfaudit's dependencies here")
    (tmp_path / "probe_app.py").write_text(PROBE_APP)
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "seen.json"))

    table = route_table_in_agent(
        "probe_app:app", factory=False, app_dir=tmp_path, where=AppInterpreter(Path(bare))
    )

    assert table.routes == ()
    assert (tmp_path / "seen.json").read_text() == "[]"
