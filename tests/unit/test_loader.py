from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from perfaudit.agent.loader import load_app, parse_spec
from perfaudit.errors import EXIT_TARGET, EXIT_USAGE, TargetError, UsageError

WriteModule = Callable[[str], str]  # the write_module fixture (conftest.py)

APP_SOURCE = """
from fastapi import FastAPI

application = FastAPI()
not_an_app = 42
App = FastAPI


def create_app():
    return FastAPI()


def broken_factory():
    settings = {}
    return FastAPI(title=settings["title"])


def returns_nothing():
    return None


class Container:
    app = FastAPI()
"""


@pytest.mark.parametrize("spec", ["main", "main:", ":app", "", "main.app"])
def test_parse_spec_rejects_what_is_not_module_colon_attr(spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_spec(spec)

    assert caught.value.exit_code == EXIT_USAGE
    assert "module:attribute" in caught.value.remedy


def test_parse_spec_splits_dotted_names() -> None:
    assert parse_spec("shop.api.main:app") == ("shop.api.main", "app")
    assert parse_spec("main:Container.app") == ("main", "Container.app")


def target_error(spec: str, app_dir: Path, *, factory: bool = False) -> TargetError:
    with pytest.raises(TargetError) as caught:
        load_app(spec, app_dir=app_dir, factory=factory)
    assert caught.value.exit_code == EXIT_TARGET == 3
    return caught.value


def test_loads_an_app_from_app_dir(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    loaded = load_app(f"{name}:application", app_dir=tmp_path)

    assert isinstance(loaded.app, FastAPI)
    assert loaded.app_dir == tmp_path.resolve()
    assert sys.path[0] == str(tmp_path.resolve())


def test_loads_a_dotted_attribute(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    loaded = load_app(f"{name}:Container.app", app_dir=tmp_path)

    assert isinstance(loaded.app, FastAPI)


def test_app_dir_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        load_app("main:app", app_dir=tmp_path / "missing")


def test_module_not_found(tmp_path: Path, write_module: WriteModule) -> None:
    error = target_error("no_such_module_here:app", tmp_path)

    assert "Could not import module 'no_such_module_here'" in error.message
    assert str(tmp_path.resolve()) in error.message
    assert "--app-dir" in error.remedy


def test_missing_dependency_of_the_app_is_not_reported_as_a_missing_module(
    tmp_path: Path, write_module: WriteModule
) -> None:
    name = write_module("import surely_not_installed_pkg\n")

    error = target_error(f"{name}:app", tmp_path)

    # The app is fine: the interpreter running it lacks a package it installs.
    assert "needs 'surely_not_installed_pkg', which is not installed in" in error.message
    assert sys.executable in error.message
    assert "--python .venv/bin/python" in error.remedy
    assert f"Could not import module '{name}'" not in error.message


def test_a_missing_module_of_the_app_s_own_is_the_app_s_error(
    tmp_path: Path, write_module: WriteModule
) -> None:
    (tmp_path / "helpers_pkg").mkdir()
    (tmp_path / "helpers_pkg" / "__init__.py").write_text("")
    name = write_module("import helpers_pkg.not_written_yet\n")

    error = target_error(f"{name}:app", tmp_path)

    assert "ModuleNotFoundError" in error.message
    assert "Fix the error in your app" in error.remedy


def test_missing_attribute_suggests_app_like_names(
    tmp_path: Path, write_module: WriteModule
) -> None:
    name = write_module(APP_SOURCE)

    error = target_error(f"{name}:app", tmp_path)

    assert f"Module '{name}' has no attribute 'app'" in error.message
    assert "application" in error.message
    # Neither a class nor a function without ASGI arguments looks like an app.
    assert "App" not in error.message.split("look like apps:")[1]
    assert "create_app" not in error.message


@pytest.mark.parametrize(
    ("attr", "words"),
    [("not_an_app", "is a int, not an ASGI app"), ("App", "not an ASGI app")],
)
def test_not_an_asgi_app(tmp_path: Path, write_module: WriteModule, attr: str, words: str) -> None:
    name = write_module(APP_SOURCE)

    error = target_error(f"{name}:{attr}", tmp_path)

    assert words in error.message


def test_a_factory_without_flag_suggests_factory(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    error = target_error(f"{name}:create_app", tmp_path)

    assert "--factory" in error.remedy


def test_factory_is_called(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    loaded = load_app(f"{name}:create_app", app_dir=tmp_path, factory=True)

    assert isinstance(loaded.app, FastAPI)


def test_factory_returning_no_app(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    error = target_error(f"{name}:returns_nothing", tmp_path, factory=True)

    assert "NoneType, not an ASGI app" in error.message


def test_factory_that_is_not_callable(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)

    error = target_error(f"{name}:not_an_app", tmp_path, factory=True)

    assert "--factory cannot call it" in error.message


def test_factory_raising_shows_the_users_frame(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(APP_SOURCE)
    source = str(tmp_path.resolve() / f"{name}.py")

    error = target_error(f"{name}:broken_factory", tmp_path, factory=True)

    assert "raised KeyError" in error.message
    assert f"{source}:15" in error.message
    assert f'File "{source}", line 15, in broken_factory' in error.details
    assert "perfaudit/" not in error.details
    assert error.details.endswith("KeyError: 'title'")


BROKEN_SOURCE = """\
import os


def load_settings():
    return settings_from_env(os.environ)


SETTINGS = load_settings()
"""


def test_user_import_error_names_the_users_line(tmp_path: Path, write_module: WriteModule) -> None:
    name = write_module(BROKEN_SOURCE)
    source = str(tmp_path.resolve() / f"{name}.py")

    error = target_error(f"{name}:app", tmp_path)

    assert "raised NameError" in error.message
    assert f"{source}:5" in error.message
    assert f'File "{source}", line 8, in <module>' in error.details
    assert f'File "{source}", line 5, in load_settings' in error.details
    assert "perfaudit/" not in error.details
    assert "<frozen" not in error.details
    assert error.details.endswith("NameError: name 'settings_from_env' is not defined")


def test_user_import_error_shows_no_importlib_frame(
    tmp_path: Path, write_module: WriteModule
) -> None:
    name = write_module(BROKEN_SOURCE)

    error = target_error(f"{name}:app", tmp_path)

    assert "importlib" not in error.details
    assert error.details.startswith(f'  File "{tmp_path.resolve() / name}.py"')


def test_a_missing_module_s_remedy_names_the_ci_config_key_too(tmp_path: Path) -> None:
    """Issue 17 #12: ci's errors named --app-dir, which `perfaudit ci` does not take."""
    error = target_error("no_such_module:app", tmp_path)
    assert "--app-dir" in error.remedy and "target.app_dir" in error.remedy
