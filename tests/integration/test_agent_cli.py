"""The agent in the app's own interpreter: an app that crashes it, exits, or hangs in import
is one sentence, the partial report and exit code 3; the app's interpreter is named."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import FAST

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("route", "how"),
    [("/segfault", "was killed by SIGSEGV"), ("/exit", "exited with code 3")],
)
def test_an_app_that_kills_its_interpreter_still_gets_a_report(
    perfaudit: Any, route: str, how: str
) -> None:
    result = perfaudit("profile", "tests.fixtures.crashes:app", "/fine", route, *FAST)

    assert result.code == 3, result.stderr
    assert f"error: The app's Python process {how} during warm-up GET {route}" in result.stderr
    assert "Traceback" not in result.stderr
    # The route measured before the crash is reported, with why the run stopped.
    assert result.report is not None
    assert [r["path"] for r in result.report["routes"]] == ["/fine"]
    assert result.report["routes"][0]["requests"] == 30
    assert how in result.report["stopped_early"]
    assert "GET /fine" in result.stdout


def test_an_import_that_hangs_is_stopped(perfaudit: Any) -> None:
    result = perfaudit(
        "profile", "tests.fixtures.import_hangs:app", "--startup-timeout", "3", *FAST
    )

    assert result.code == 3, result.stderr
    assert "Importing tests.fixtures.import_hangs:app did not finish within 3 s" in result.stderr
    assert result.report is None
    assert "Traceback" not in result.stderr


def test_a_package_missing_from_the_interpreter_is_not_blamed_on_the_app(perfaudit: Any) -> None:
    result = perfaudit("profile", "tests.fixtures.needs_missing_package:app", *FAST)

    assert result.code == 3
    assert "needs 'fastapi_users_not_installed_here', which is not installed in" in result.stderr
    assert "--python .venv/bin/python" in result.stderr
    assert "Fix the error in your app" not in result.stderr


def test_python_that_is_not_an_interpreter_is_a_usage_error(perfaudit: Any) -> None:
    result = perfaudit("profile", "sample_apps.clean:app", "--python", "/nonexistent/python")

    assert result.code == 2
    assert "--python /nonexistent/python is not a Python interpreter." in result.stderr


def test_the_report_names_the_interpreter_that_ran_the_app(perfaudit: Any) -> None:
    import sys

    result = perfaudit("profile", "sample_apps.clean:app", *FAST)

    assert result.code == 0, result.stderr
    assert result.report is not None
    assert result.report["environment"]["interpreter"] == sys.executable
    assert f"({sys.executable})" in result.stdout
