from __future__ import annotations

import json
import sysconfig

import fastapi
import httpx2
import pydantic
import pytest
import rich
import yaml

import perfaudit.agent.profile_run
from perfaudit.capture.owners import OwnerClassifier


@pytest.fixture(scope="module")
def classifier() -> OwnerClassifier:
    return OwnerClassifier()


def owner_of_module(classifier: OwnerClassifier, module_file: str | None) -> str:
    assert module_file is not None
    return classifier.owner(module_file, "some_function")


def test_stdlib_file(classifier: OwnerClassifier) -> None:
    assert json.__file__.startswith(sysconfig.get_paths()["stdlib"])
    assert owner_of_module(classifier, json.__file__) == "stdlib"


def test_frozen_module_is_stdlib(classifier: OwnerClassifier) -> None:
    assert (
        classifier.owner("<frozen importlib._bootstrap>", "_call_with_frames_removed") == "stdlib"
    )


@pytest.mark.parametrize("module", [fastapi, pydantic], ids=lambda m: m.__name__)
def test_web_framework_in_site_packages(classifier: OwnerClassifier, module: object) -> None:
    file = module.__file__  # type: ignore[attr-defined]
    assert "site-packages" in file

    assert owner_of_module(classifier, file) == "framework"


def test_fastapi_submodule_is_framework(classifier: OwnerClassifier) -> None:
    import fastapi.routing

    assert owner_of_module(classifier, fastapi.routing.__file__) == "framework"


@pytest.mark.parametrize("module", [rich, yaml], ids=lambda m: m.__name__)
def test_other_site_packages_library(classifier: OwnerClassifier, module: object) -> None:
    file = module.__file__  # type: ignore[attr-defined]
    assert "site-packages" in file

    assert owner_of_module(classifier, file) == "library"


def test_perfaudit_itself(classifier: OwnerClassifier) -> None:
    assert owner_of_module(classifier, perfaudit.agent.profile_run.__file__) == "perfaudit"


def test_an_apps_own_http_client_is_a_library(classifier: OwnerClassifier) -> None:
    """The in-process driver uses no HTTP client: httpx2 in a profile is the app's."""
    assert owner_of_module(classifier, httpx2.__file__) == "library"


def test_app_file(classifier: OwnerClassifier) -> None:
    # This test file sits in the project, outside site-packages and the stdlib.
    assert owner_of_module(classifier, __file__) == "app"
    assert classifier.owner("/srv/shop/app/pricing.py", "tariff_table") == "app"


def test_generated_code_is_not_the_apps(classifier: OwnerClassifier) -> None:
    """Code compiled at runtime has no line of the user's to point a finding at."""
    assert classifier.owner("<string>", "__init__") == "library"
    generated = "<sqlalchemy generated _go() wrapper for Session._connection_for_bind>"
    assert classifier.owner(generated, "_connection_for_bind") == "library"


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("<method 'poll' of 'select.epoll' objects>", "idle"),
        ("<built-in method select.select>", "stdlib"),  # subprocess and user code wait here
        ("<method 'poll' of 'select.poll' objects>", "stdlib"),
        ("<built-in method time.sleep>", "stdlib"),
        ("<built-in method _hashlib.pbkdf2_hmac>", "stdlib"),
        ("<built-in method builtins.len>", "stdlib"),
        (
            "<method 'validate_python' of 'pydantic_core._pydantic_core.SchemaValidator' objects>",
            "framework",
        ),
        ("<built-in method pydantic_core._pydantic_core.to_json>", "framework"),
        ("<built-in method numpy.core.multiarray.dot>", "library"),
        ("<method 'append' of 'list' objects>", "stdlib"),
        ("<method 'join' of 'str' objects>", "stdlib"),
    ],
)
def test_builtins(classifier: OwnerClassifier, name: str, owner: str) -> None:
    assert classifier.owner("~", name) == owner


def test_the_profilers_own_builtin_is_not_a_library(classifier: OwnerClassifier) -> None:
    assert classifier.owner("~", "<method 'disable' of '_lsprof.Profiler' objects>") in {
        "stdlib",
        "perfaudit",
    }


def test_a_thread_parked_on_a_lock_is_idle_not_a_hotspot() -> None:
    from perfaudit.capture.owners import OwnerClassifier

    owner = OwnerClassifier().owner
    assert owner("~", "<method 'acquire' of '_thread.lock' objects>") == "idle"
    assert owner("~", "<method 'acquire' of '_thread.RLock' objects>") == "idle"
    assert owner("~", "<built-in method time.sleep>") == "stdlib"  # a sleep is work to fix
