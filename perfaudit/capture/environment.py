"""The facts about where a run happened: Python, platform, loop, package versions."""

from __future__ import annotations

import contextlib
import platform
import sys
from importlib import metadata

from perfaudit.model import Environment

PACKAGES = ("fastapi", "starlette", "pydantic", "anyio", "uvicorn", "uvloop", "httptools")


def describe_environment(loop: str) -> Environment:
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
    )
