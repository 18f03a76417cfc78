"""The rule catalog. A rule is one module here that defines `RULE`; it is found by name,
so adding a rule touches no other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Protocol

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding
from perfaudit.analysis.needs import Needs
from perfaudit.model import Session


class Rule(Protocol):
    id: str
    title: str
    explanation: str
    needs: Needs  # what it reads, which an attach run may lack

    def check(self, ctx: AnalysisContext) -> Iterable[Finding]: ...


def all_rules() -> list[Rule]:
    rules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if rule is not None:
            rules.append(rule)
    return rules


def not_run_from_samples(session: Session) -> dict[str, str]:
    """Rule id → why it found nothing on this attach session, for the report to say so."""
    measured = {m.route for m in session.measurements}
    both = measured & {p.route for p in session.profiles}
    missing = {}
    for rule in all_rules():
        needs = rule.needs
        why = needs.in_process or (not both and needs.latency) or (not measured and needs.requests)
        if why:
            missing[rule.id] = why
    return missing
