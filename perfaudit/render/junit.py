"""The verdict as JUnit XML, so a CI system's test tab lists every budget and regression
check: one <testsuite> per scenario, one <testcase> per check, a <failure> for each that
failed (measured against the limit, and what to look at).

ElementTree escapes markup characters; characters XML 1.0 forbids (most C0 controls, lone
surrogates, U+FFFE/U+FFFF) cannot be escaped at all, so they are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from perfaudit import __version__
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.verdict import Check, ScenarioResult, Verdict
from perfaudit.fileio import atomic_write

FAILURE_TYPES = frozenset({"budget", "regression", "findings", "errors"})
FINDINGS_LISTED = 20
# Everything outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def render_junit(verdict: Verdict) -> str:
    root = ET.Element("testsuites", _attrs(name="perfaudit"))
    suites = [_suite(scenario, verdict.baseline) for scenario in verdict.scenarios]
    root.extend(suites)
    _count(root, suites)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def write_junit(verdict: Verdict, path: Path) -> None:
    atomic_write(path, render_junit(verdict).encode("utf-8"))


def _attrs(**values: str) -> dict[str, str]:
    return {key: xml_text(value) for key, value in values.items()}


def _count(root: ET.Element, suites: list[ET.Element]) -> None:
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in suites)))
    root.set("time", f"{sum(float(suite.get('time', '0')) for suite in suites):.3f}")


def _suite(result: ScenarioResult, baseline: str | None) -> ET.Element:
    failures = sum(not check.passed for check in result.checks)
    session = result.report.session
    suite = ET.Element(
        "testsuite",
        _attrs(
            name=result.name,
            tests=str(len(result.checks)),
            failures=str(failures),
            errors="0",
            skipped="0",
            time=f"{_seconds(result):.3f}",
            timestamp=session.started_at,
        ),
    )
    suite.append(_properties(result, baseline))
    suite.extend(_testcase(result, check) for check in result.checks)
    return suite


def _seconds(result: ScenarioResult) -> float:
    """The measured phase's wall time: what the scenario spent driving its routes."""
    return sum(m.wall_s for m in result.report.session.measurements)


def _properties(result: ScenarioResult, baseline: str | None) -> ET.Element:
    properties = ET.Element("properties")
    values = {
        "perfaudit.version": __version__,
        "target": result.report.session.target,
        "baseline": baseline or "none",
    }
    for name, value in values.items():
        ET.SubElement(properties, "property", _attrs(name=name, value=value))
    return properties


def _testcase(result: ScenarioResult, check: Check) -> ET.Element:
    case = ET.Element("testcase", _attrs(classname=f"perfaudit.{result.name}", name=check.name))
    if not check.passed:
        kind = check.kind if check.kind in FAILURE_TYPES else "budget"
        message = f"measured {check.measured}, limit {check.limit}"
        failure = ET.SubElement(case, "failure", _attrs(message=message, type=kind))
        failure.text = xml_text(_failure_text(result, check))
    return case


def _failure_text(result: ScenarioResult, check: Check) -> str:
    lines = [f"measured: {check.measured}", f"limit: {check.limit}"]
    if check.detail:
        lines += ["", check.detail]
    if check.kind == "findings":
        lines += ["", *_findings_above(result, check.limit)]
    return "\n".join(lines) + "\n"


def _findings_above(result: ScenarioResult, limit: str) -> list[str]:
    """The findings that failed the gate ("≤ medium"): the report's, less the ignored."""
    gate = _gate(limit)
    ignored = [finding for finding, _ in result.ignored_findings]
    above = [
        f
        for f in result.report.findings
        if f not in ignored and (gate is None or f.severity > gate)
    ]
    lines = [_finding_line(f) for f in above[:FINDINGS_LISTED]]
    if len(above) > FINDINGS_LISTED:
        lines.append(f"…and {len(above) - FINDINGS_LISTED} more (see the JSON report)")
    return lines


def _gate(limit: str) -> Severity | None:
    for word in re.findall(r"[a-z]+", limit.lower()):
        try:
            return Severity.parse(word)
        except ValueError:
            continue
    return None


def _finding_line(f: Finding) -> str:
    where = f" at {f.location}" if f.location else ""
    route = f" {f.route}" if f.route else ""
    return f"- {f.severity.label} {f.id}{route}{where}: {f.title}"
