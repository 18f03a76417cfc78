"""Plug-ins found by module name: each module of a package that defines a given attribute
(a rule's `RULE`, an experiment's `EXPERIMENT`), so adding one touches no other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any


def defined_in(package: str, path: Iterable[str], attribute: str) -> list[Any]:
    """`attribute` of each module in `package` (whose `__path__` is `path`), by module name."""
    found = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        module = importlib.import_module(f"{package}.{info.name}")
        plugin = getattr(module, attribute, None)
        if plugin is not None:
            found.append(plugin)
    return found
