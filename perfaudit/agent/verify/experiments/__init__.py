"""One module per experiment, named after the finding it tests, defining `EXPERIMENT`: it is
found by name (as the rules are), so adding an experiment touches no other file."""

from __future__ import annotations

from perfaudit.agent.verify.base import ExperimentKind
from perfaudit.analysis.plugins import defined_in


def all_experiments() -> tuple[ExperimentKind, ...]:
    return tuple(defined_in(__name__, __path__, "EXPERIMENT"))
