"""The JUnit XML verdict, read back by a real JUnit parser (junitparser) and by
xml.etree for well-formedness, hostile names and control characters included."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from junitparser import Failure, JUnitXml, TestCase, TestSuite
from verdict_builders import (
    HOSTILE,
    HOSTILE_PATH,
    check,
    failing_verdict,
    finding,
    passing_verdict,
    report,
    scenario,
)

from perfaudit import __version__
from perfaudit.analysis.findings import Severity
from perfaudit.analysis.verdict import Verdict
from perfaudit.render.junit import render_junit, write_junit

CONTROL = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r")


def parse(xml: str) -> list[TestSuite]:
    return list(JUnitXml.fromstring(xml))


def cases(suite: TestSuite) -> list[TestCase]:
    return list(suite)


def failure(case: TestCase) -> Failure:
    [result] = case.result
    assert isinstance(result, Failure)
    return result


def test_one_suite_per_scenario_with_its_counts() -> None:
    checkout, search = parse(render_junit(failing_verdict()))

    assert (checkout.name, checkout.tests, checkout.failures, checkout.errors) == (
        "checkout",
        4,
        3,
        0,
    )
    assert (search.name, search.tests, search.failures) == ("search", 1, 0)
    assert checkout.time == 2.0 * 2  # two routes measured for 2 s each


def test_one_testcase_per_check_and_a_failure_for_each_failed_one() -> None:
    [checkout, _] = parse(render_junit(failing_verdict()))
    by_name = {case.name: case for case in cases(checkout)}

    assert all(case.classname == "perfaudit.checkout" for case in by_name.values())
    assert by_name["GET /health p95 ≤ 50 ms"].is_passed
    budget = failure(by_name["GET /orders/{order_id} p95 ≤ 120 ms"])
    assert (budget.type, budget.message) == ("budget", "measured 131.2 ms, limit ≤ 120 ms")
    assert budget.text == "measured: 131.2 ms\nlimit: ≤ 120 ms\n\np95 is 1.09× its budget.\n"
    assert failure(by_name["no regression in GET /orders/{order_id}"]).type == "regression"


def test_the_findings_gate_lists_the_findings_above_it_but_not_the_ignored() -> None:
    [checkout, _] = parse(render_junit(failing_verdict()))
    [gate] = [case for case in cases(checkout) if case.name == "findings ≤ medium"]

    text = failure(gate).text
    assert failure(gate).type == "findings"
    assert "- high event-loop-blocked GET /orders/{order_id} at app/orders.py:42" in text
    assert "cpu-hotspot" not in text  # medium: within the gate
    assert "sync-logging" not in text  # ignored by the config


def test_properties_name_the_version_and_the_baseline() -> None:
    [checkout, _] = parse(render_junit(failing_verdict()))

    properties = {p.name: p.value for p in checkout.properties()}
    assert properties["perfaudit.version"] == __version__
    assert properties["baseline"] == "baseline/perfaudit.json"
    assert dict(p for p in _etree_properties(render_junit(passing_verdict())))["baseline"] == "none"


def _etree_properties(xml: str) -> list[tuple[str, str]]:
    root = ET.fromstring(xml)
    return [(p.get("name", ""), p.get("value", "")) for p in root.iter("property")]


def test_the_root_totals_every_suite() -> None:
    root = ET.fromstring(render_junit(failing_verdict()))

    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "3", "0")


def hostile_verdict() -> Verdict:
    name = f"GET {HOSTILE_PATH}{CONTROL} p95 ≤ 1 ms ]]> </testcase>"
    bad = finding(
        "event-loop-blocked", Severity.CRITICAL, route=f"GET {HOSTILE_PATH}", title="a\x00b\ufffe"
    )
    checks = [
        check(name, passed=False, detail=f"<failure>&amp;{CONTROL}\ud800 \"quoted\" 'x'"),
        check("findings ≤ high", passed=False, kind="findings", limit="≤ high", measured="x"),
    ]
    evil = scenario(
        f'evil"<scenario>{CONTROL}',
        checks=checks,
        result_report=report([HOSTILE], findings=[bad]),
    )
    return Verdict((evil,), baseline="base\x01line&.json")


def test_hostile_names_and_control_characters_stay_well_formed() -> None:
    xml = render_junit(hostile_verdict())

    ET.fromstring(xml)  # well-formed, or this raises
    xml.encode("utf-8")  # no lone surrogate left
    [suite] = parse(xml)
    assert suite.name == 'evil"<scenario>'
    first, gate = cases(suite)
    assert first.name == f"GET {HOSTILE_PATH} p95 ≤ 1 ms ]]> </testcase>"
    assert first.classname == 'perfaudit.evil"<scenario>'
    assert failure(first).text.endswith("<failure>&amp; \"quoted\" 'x'\n")
    assert "GET /a|b_*`x`<img src=x> at app/orders.py:42 in get_order: ab" in failure(gate).text
    assert {p.name: p.value for p in suite.properties()}["baseline"] == "baseline&.json"


def test_write_junit_writes_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "perfaudit.xml"

    write_junit(failing_verdict(), path)

    assert path.read_bytes().decode("utf-8") == render_junit(failing_verdict())
    assert JUnitXml.fromfile(str(path)).failures == 3


def test_a_verdict_without_scenarios_is_an_empty_but_valid_report() -> None:
    root = ET.fromstring(render_junit(Verdict(())))

    assert (root.tag, root.get("tests"), len(root)) == ("testsuites", "0", 0)
