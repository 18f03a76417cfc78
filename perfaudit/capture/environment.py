"""The facts about where a run happened: Python, platform, loop, package versions (and,
from the caller, what the app's dependency file installs to serve it)."""

from __future__ import annotations

import contextlib
import platform
import sys
from importlib import metadata

from perfaudit.model import DeclaredServer, Environment
from perfaudit.model.session import Loop

PACKAGES = (
    *("fastapi", "starlette", "pydantic", "anyio", "uvicorn", "uvloop", "httptools"),
    *("sqlalchemy", "sqlmodel", "asyncpg", "psycopg", "psycopg2", "aiosqlite"),
)


def describe_environment(
    loop: Loop, declared: DeclaredServer | None = None, *, interpreter: str = ""
) -> Environment:
    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return Environment(
        python=platform.python_version(),
        implementation=sys.implementation.name,
        platform=platform.platform(terse=True),
        loop=loop,
        packages=packages,
        declared=declared,
        interpreter=interpreter,
    )
