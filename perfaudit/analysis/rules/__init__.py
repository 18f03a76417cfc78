"""The rule catalog. A rule is one module here that defines `RULE`; it is found by name,
so adding a rule touches no other file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.plugins import defined_in
from perfaudit.model import Session


class Rule(Protocol):
    id: str
    title: str
    explanation: str
    needs: Needs  # what it reads, which an attach run may lack

    def check(self, ctx: AnalysisContext) -> Iterable[Finding]: ...


def all_rules() -> list[Rule]:
    return defined_in(__name__, __path__, "RULE")


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
