"""The caching findings on the sample apps, through the real CLI: a pure function rebuilt
with the same arguments on every request (cacheable-call) and settings rebuilt in a
dependency (per-request-setup) rank first, at the function to open, at concurrency 1 and
8; neither fires on the clean app."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.integration.conftest import concurrencies, memory_phase_at

pytestmark = pytest.mark.integration
CONCURRENCY = concurrencies(1, 8)


class Planted(NamedTuple):
    target: str
    routes: tuple[str, ...]
    finding: str
    route: str
    function: str
    advice: str


PLANTED = [
    Planted(
        "sample_apps.shipping:app", ("/quotes?country=DE&weight_kg=3.5",),
        "cacheable-call", "GET /quotes", "rate_table", "@functools.lru_cache(",
    ),
    Planted(
        "sample_apps.settings_app:app", ("/features",),
        "per-request-setup", "GET /features", "get_settings", "@lru_cache",
    ),
]  # fmt: skip


def _run(perfaudit: Any, target: str, routes: tuple[str, ...], concurrency: int) -> Any:
    args = (
        "-q",
        "-n",
        "30",
        "-c",
        str(concurrency),
        "--warmup",
        "2",
        *memory_phase_at(concurrency),
    )
    return perfaudit("profile", target, *routes, *args)


def _summary(findings: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (f["id"], f["severity"], f.get("route"), (f.get("location") or {}).get("function"))
        for f in findings
    ]


@pytest.mark.parametrize("concurrency", CONCURRENCY)
@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.finding)
def test_planted_caching_issue_is_the_top_finding(perfaudit, planted: Planted, concurrency: int):
    result = _run(perfaudit, planted.target, planted.routes, concurrency)
    assert result.code == 0, result.stderr
    assert result.route(planted.route)["errors"] == 0
    findings = result.report["findings"]
    top, summary = findings[0], _summary(findings)
    assert (top["id"], top["severity"], top["route"]) == (planted.finding, "high", planted.route)
    assert top["location"]["function"] == planted.function, summary
    assert planted.advice in top["suggestion"]
    assert top["estimated_gain"]["share"] > 0.3
    # The narrower finding replaces the hotspot at the same function.
    at_it = [
        f["id"] for f in findings if (f.get("location") or {}).get("function") == planted.function
    ]
    assert at_it == [planted.finding], summary


def test_cacheable_call_reports_the_repeats_it_saw(perfaudit):
    result = _run(perfaudit, "sample_apps.shipping:app", PLANTED[0].routes, 1)
    top = result.report["findings"][0]
    evidence = top["evidence"]
    assert evidence["distinct_args"] == 2  # two carriers, one region
    assert evidence["repeat_ratio"] >= 0.9
    assert evidence["calls_per_request"] == 2
    assert evidence["same_result"] == "yes"
    assert "cachetools.TTLCache" in top["suggestion"]
    assert "Redis" in top["suggestion"]


def test_clean_app_has_no_caching_finding(perfaudit):
    result = _run(perfaudit, "sample_apps.clean:app", (), 1)
    assert result.code == 0, result.stderr
    ids = {f["id"] for f in result.report["findings"]}
    assert not ids & {"cacheable-call", "per-request-setup"}, _summary(result.report["findings"])
