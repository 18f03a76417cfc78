"""`perfaudit profile --verify` on the sample apps, through the real CLI: each planted
finding's suggested change, applied in memory, measures a gain over 1.5×; on the clean app
no experiment claims one. Ratios only: never a wall-clock time."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

pytestmark = pytest.mark.integration
MIN_RATIO = 1.5


class Planted(NamedTuple):
    target: str
    routes: tuple[str, ...]
    finding: str
    function: str
    concurrency: int = 1


PLANTED = [
    Planted("sample_apps.shipping:app", ("/quotes?country=DE&weight_kg=3.5",),
            "cacheable-call", "rate_table"),
]  # fmt: skip


def _verified(perfaudit: Any, target: str, routes: tuple[str, ...], concurrency: int) -> Any:
    args = ("-q", "-n", "30", "-c", str(concurrency), "--warmup", "2", "--verify")
    return perfaudit("profile", target, *routes, *args)


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.finding)
def test_the_planted_findings_change_measures_a_gain(perfaudit: Any, planted: Planted) -> None:
    result = _verified(perfaudit, planted.target, planted.routes, planted.concurrency)
    assert result.code == 0, result.stderr
    [finding] = [f for f in result.report["findings"] if f["id"] == planted.finding]
    assert finding["location"]["function"] == planted.function
    measured = finding["measured"]
    assert measured is not None, finding
    assert measured["verdict"] == "gain", measured
    assert measured["ratio"] > MIN_RATIO
    assert measured["ratio_low"] > 1.0
    assert measured["rounds"] >= 3
    assert result.report["findings"][0]["id"] == planted.finding
    assert "measured:" in result.stdout


def test_no_experiment_claims_a_gain_on_the_clean_app(perfaudit: Any) -> None:
    result = _verified(perfaudit, "sample_apps.clean:app", (), 1)
    assert result.code == 0, result.stderr
    gains = [f for f in result.report["findings"] if (f["measured"] or {}).get("verdict") == "gain"]
    assert gains == []
