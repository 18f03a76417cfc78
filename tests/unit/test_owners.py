from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import fastapi
import httpx2
import pydantic
import pytest
import rich
import yaml

import perfaudit.agent.profile_run
from perfaudit.capture import owners
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


# The app's scope, once imported: ownership follows what is installed and what the
# target's own package is, not the folder the app runs from.


@pytest.fixture
def framework_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A framework's repository running one of its docs examples: its own `h11/` source
    folder is the one imported, from beside the example."""
    repo = tmp_path / "repo"
    (repo / "h11").mkdir(parents=True)
    (repo / "h11" / "__init__.py").write_text("")
    (repo / "docs_src").mkdir()
    (repo / "docs_src" / "__init__.py").write_text("")
    (repo / "docs_src" / "tutorial.py").write_text("")
    monkeypatch.setitem(sys.modules, "h11", _module_at("h11", repo / "h11"))
    monkeypatch.setitem(sys.modules, "docs_src", _module_at("docs_src", repo / "docs_src"))
    monkeypatch.setattr(owners, "_scope", owners.AppScope())  # use_scope is process-wide
    return repo


def _module_at(name: str, folder: Path) -> ModuleType:
    module = ModuleType(name)
    module.__path__ = [str(folder)]
    module.__file__ = str(folder / "__init__.py")
    return module


def test_a_framework_s_source_beside_the_app_is_the_framework_s(framework_checkout: Path) -> None:
    classifier = OwnerClassifier()
    library = str(framework_checkout / "h11" / "_connection.py")
    example = str(framework_checkout / "docs_src" / "tutorial.py")
    assert classifier.owner(library, "send") == "app"  # by folder alone, before import

    owners.use_scope(owners.scope_of("docs_src.tutorial"))

    assert classifier.owner(library, "send") == "framework"
    assert classifier.owner(example, "read_items") == "app"


def test_the_target_s_own_package_stays_the_app_s_even_if_named_like_a_framework(
    framework_checkout: Path,
) -> None:
    owners.use_scope(owners.scope_of("h11.app"))  # the user's app *is* the h11 package here

    assert OwnerClassifier().owner(str(framework_checkout / "h11" / "api.py"), "run") == "app"


def test_an_app_package_named_like_some_wheel_s_module_stays_the_app_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wheels that ship a top-level `utils` or `tests` must not take the app's own."""
    (tmp_path / "utils").mkdir()
    monkeypatch.setitem(sys.modules, "utils", _module_at("utils", tmp_path / "utils"))
    monkeypatch.setattr(owners, "_scope", owners.AppScope())
    monkeypatch.setattr(owners, "_provided_packages", lambda: {"utils": {"some-wheel"}})

    owners.use_scope(owners.scope_of("main"))

    assert OwnerClassifier().owner(str(tmp_path / "utils" / "text.py"), "slug") == "app"


def test_the_app_installed_into_site_packages_is_still_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Docker image that `pip install .`-ed the service runs it from site-packages."""
    installed = Path(yaml.__file__).parent  # any folder inside site-packages
    monkeypatch.setitem(sys.modules, "myservice", _module_at("myservice", installed))
    monkeypatch.setattr(owners, "_scope", owners.AppScope())

    owners.use_scope(owners.scope_of("myservice.main"))

    assert OwnerClassifier().owner(str(installed / "api.py"), "handler") == "app"
