"""The rule catalog. A rule is one module here that defines `RULE`; it is found by name,
so adding a rule touches no other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Protocol

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding


class Rule(Protocol):
    id: str
    title: str
    explanation: str

    def check(self, ctx: AnalysisContext) -> Iterable[Finding]: ...


def all_rules() -> list[Rule]:
    rules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if rule is not None:
            rules.append(rule)
    return rules
