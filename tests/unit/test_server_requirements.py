"""Reading what the app's own dependency file installs to serve it (requirements.txt,
pyproject.toml), from the app module's folder up to the app's root."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfaudit.agent.capture.server_requirements import declared_server
from perfaudit.model import DeclaredServer


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("requirements", "uvloop", "httptools"),
    [
        ("fastapi==0.115.0\nuvicorn==0.30.1\n", False, False),
        ("uvicorn[standard]==0.30.1\n", True, True),
        ("fastapi[standard]>=0.115\n", True, True),
        ("FastAPI[All]\n", True, True),
        ("uvicorn>=0.30  # the server\nhttptools==0.6.1\n", False, True),
        ("uvicorn\nuvloop; sys_platform != 'win32'\n", True, False),
        ("Uvicorn[Standard, gunicorn]\n", True, True),
    ],
)
def test_requirements_txt_says_what_the_server_gets(
    tmp_path: Path, requirements: str, uvloop: bool, httptools: bool
) -> None:
    root = project(tmp_path, {"requirements.txt": requirements})

    found = declared_server(root, root)

    assert found is not None
    assert (found.uvloop, found.httptools) == (uvloop, httptools)
    assert found.file == "requirements.txt"


def test_the_requirement_is_kept_as_written_and_comments_and_options_are_skipped(
    tmp_path: Path,
) -> None:
    text = "# serving\n-r base.txt\n--hash sha256:abc\n\nuvicorn==0.30.1 # pinned\n"
    root = project(tmp_path, {"requirements.txt": text})

    assert declared_server(root, root) == DeclaredServer(
        "requirements.txt", "uvicorn==0.30.1", uvloop=False, httptools=False
    )


def test_pyproject_runtime_dependencies_count_and_dev_groups_do_not(tmp_path: Path) -> None:
    pyproject = """
[project]
name = "shop"
dependencies = ["fastapi>=0.115", "uvicorn>=0.30"]

[project.optional-dependencies]
dev = ["uvicorn[standard]"]

[dependency-groups]
dev = ["httptools"]
"""
    root = project(tmp_path, {"pyproject.toml": pyproject})

    assert declared_server(root, root) == DeclaredServer(
        "pyproject.toml", "uvicorn>=0.30", uvloop=False, httptools=False
    )


def test_poetry_extras_are_read(tmp_path: Path) -> None:
    pyproject = """
[tool.poetry.dependencies]
python = "^3.11"
uvicorn = {version = "^0.30", extras = ["standard"]}
"""
    root = project(tmp_path, {"pyproject.toml": pyproject})

    found = declared_server(root, root)

    assert found is not None and found.uvloop and found.httptools


def test_the_file_nearest_the_app_module_wins_up_to_the_root(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "requirements.txt": "uvicorn[standard]\n",
            "services/api/requirements.txt": "uvicorn\n",
            "services/api/main.py": "",
        },
    )

    found = declared_server(root / "services" / "api", root)

    assert found is not None
    assert found.file == str(Path("services/api/requirements.txt"))
    assert not found.httptools


def test_a_file_that_does_not_install_uvicorn_says_nothing_and_the_search_goes_on(
    tmp_path: Path,
) -> None:
    """perfaudit's own pyproject, a library's: no uvicorn, so not how the app is served."""
    root = project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "tools"\ndependencies = ["rich"]\n',
            "app/requirements.txt": "fastapi\n",
        },
    )

    assert declared_server(root / "app", root) is None


def test_nothing_above_the_root_is_read(tmp_path: Path) -> None:
    project(tmp_path, {"requirements.txt": "uvicorn\n", "project/main.py": ""})

    assert declared_server(tmp_path / "project", tmp_path / "project") is None


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": "[project\nbroken"},
        {"requirements.txt": b"\xff\xfe uvicorn".decode("latin-1")},
    ],
    ids=["bad-toml", "not-utf8"],
)
def test_an_unreadable_file_is_passed_over(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("latin-1"))

    assert declared_server(tmp_path, tmp_path) is None
