"""One module per experiment, named after the finding it tests, defining `EXPERIMENT`: it is
found by name (as the rules are), so adding an experiment touches no other file."""

from __future__ import annotations

import importlib
import pkgutil

from perfaudit.agent.verify.base import ExperimentKind


def all_experiments() -> tuple[ExperimentKind, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        experiment = getattr(module, "EXPERIMENT", None)
        if experiment is not None:
            found.append(experiment)
    return tuple(found)
