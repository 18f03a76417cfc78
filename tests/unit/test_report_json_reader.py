"""Saved JSON reports read back for comparison: the raw samples written, what is read,
and one clear sentence for a file that is not a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from unit_builders import QUOTE, hotspot_session, measurement, session

from perfaudit.analysis.report import build_report
from perfaudit.formats.report_json import ReportFormatError, parse_report, read_report_file
from perfaudit.render.json_report import kept_samples_ms, report_to_dict, write_json


def document() -> dict[str, Any]:
    return report_to_dict(build_report(hotspot_session()))


def test_the_report_keeps_every_latency_in_ms() -> None:
    durations = [float(i % 7 + 1) for i in range(50)]
    doc = report_to_dict(
        build_report(session(measurements=[measurement(QUOTE, durations_ms=durations)]))
    )
    route = doc["routes"][0]
    assert route["latency_samples_ms"] == sorted(durations)
    assert route["latency_samples_kept"] == route["latency_samples_total"] == 50


def test_samples_are_rounded_to_a_microsecond() -> None:
    assert kept_samples_ms((0.0123456789, 0.001)) == [1.0, 12.346]


def test_beyond_the_limit_an_evenly_spaced_subset_of_the_sorted_samples_is_kept() -> None:
    durations = tuple(i / 1_000_000 for i in range(100_001))  # 0 … 100 ms, in µs steps
    kept = kept_samples_ms(durations, limit=1001)
    assert len(kept) == 1001
    assert kept[0] == 0.0 and kept[-1] == 100.0  # both extremes
    assert kept[500] == 50.0 and kept[950] == 95.0  # quantiles hold
    assert kept == sorted(kept)


def test_a_report_reads_back() -> None:
    saved = parse_report(json.loads(json.dumps(document())), source="a.json")
    assert saved.source == "a.json" and saved.target == "shop.main:app"
    route = saved.routes[0]
    assert route.label == "GET /quote/{sku}" and route.requests == 100
    assert route.samples_ms == (20.0,) * 100 and route.samples_total == 100
    assert route.latency_ms["p50"] == 20.0 and route.throughput_rps == 50.0
    assert saved.hotspots[0].function == "tariff_table"
    assert saved.route_hotspots["GET /quote/{sku}"][0].self_share == pytest.approx(0.7)
    finding = saved.findings[0]
    assert finding.key == ("cpu-hotspot", "GET /quote/{sku}", "tariff_table")


def test_unknown_keys_are_ignored_and_optional_ones_may_be_missing() -> None:
    doc = document()
    doc["something_new"] = {"x": 1}
    for key in ("hotspots", "route_hotspots", "findings"):
        del doc[key]
    for key in ("latency_samples_ms", "latency_samples_total", "errors"):
        del doc["routes"][0][key]
    saved = parse_report(doc, source="old.json")
    assert saved.routes[0].samples_ms == () and saved.findings == ()


def test_a_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(build_report(hotspot_session()), path)
    assert read_report_file(path).routes[0].samples_total == 100


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: [1, 2], "no schema_version"),
        (lambda d: {"format": "perfaudit-session", "version": 1}, "no schema_version"),
        (lambda d: {**d, "schema_version": 2}, "schema_version is 2"),
        (lambda d: {k: v for k, v in d.items() if k != "routes"}, "routes is missing"),
        (lambda d: {**d, "tool": {"name": "k6"}}, "written by 'k6', not perfaudit"),
        (lambda d: {**d, "routes": {}}, "routes should be a list"),
        (lambda d: {**d, "routes": [1]}, r"routes\[0\] is not an object"),
        (
            lambda d: {**d, "routes": [{**d["routes"][0], "requests": "10"}]},
            "requests should be an integer",
        ),
        (
            lambda d: {**d, "routes": [{**d["routes"][0], "latency_samples_ms": [1, "x"]}]},
            r"latency_samples_ms\[1\] should be a finite number",
        ),
        (lambda d: {**d, "findings": [{"severity": "high"}]}, r"findings\[0\].id is missing"),
    ],
)
def test_what_is_not_a_report_is_named(mutate: Any, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message):
        parse_report(mutate(document()), source="x.json")


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema_version": 1, "routes": [')
    with pytest.raises(ReportFormatError, match="not valid JSON"):
        read_report_file(path)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ReportFormatError, match="not UTF-8"):
        read_report_file(path)
