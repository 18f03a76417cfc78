"""speedscope JSON: valid against the file format's schema (its required fields and types,
checked here by hand), one profile per route or thread, and read back by perfaudit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sampling_builders import attach_session, recorded
from test_collapsed import quote_profile
from unit_builders import session

from perfaudit.formats.speedscope import SCHEMA, read_speedscope, to_speedscope, write_speedscope
from perfaudit.formats.stacks import ProfileFormatError, profile_of, session_stacks

UNITS = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}


def schema_errors(doc: Any) -> list[str]:
    """The required fields of https://www.speedscope.app/file-format-schema.json
    (FileFormat.File, Frame, SampledProfile, EventedProfile) and their types."""
    errors = []
    if doc.get("$schema") != SCHEMA:
        errors.append("$schema")
    frames = doc.get("shared", {}).get("frames")
    if not isinstance(frames, list):
        return [*errors, "shared.frames"]
    for i, frame in enumerate(frames):
        if not isinstance(frame.get("name"), str):
            errors.append(f"frames[{i}].name")
        if "file" in frame and not isinstance(frame["file"], str):
            errors.append(f"frames[{i}].file")
        if "line" in frame and not isinstance(frame["line"], int | float):
            errors.append(f"frames[{i}].line")
    for i, profile in enumerate(doc.get("profiles", [])):
        errors += [f"profiles[{i}]: {e}" for e in _profile_errors(profile, len(frames))]
    return errors if isinstance(doc.get("profiles"), list) else [*errors, "profiles"]


def _profile_errors(profile: dict[str, Any], frames: int) -> list[str]:
    required = {"type", "name", "unit", "startValue", "endValue"}
    required |= {"samples", "weights"} if profile.get("type") == "sampled" else {"events"}
    errors = [f"missing {key}" for key in required - profile.keys()]
    if profile.get("type") not in ("sampled", "evented") or profile.get("unit") not in UNITS:
        errors.append("type or unit")
    if profile.get("type") == "sampled":
        samples, weights = profile.get("samples", []), profile.get("weights", [])
        if len(samples) != len(weights):
            errors.append("samples and weights differ in length")
        if any(not 0 <= i < frames for sample in samples for i in sample):
            errors.append("a sample points outside shared.frames")
        if any(not isinstance(w, int | float) for w in weights):
            errors.append("a weight is not a number")
    if not profile.get("startValue", 0) <= profile.get("endValue", 0):
        errors.append("endValue before startValue")
    return errors


def test_in_process_file_is_valid_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "profile.speedscope.json"
    original = quote_profile()
    write_speedscope(session(profiles=[original]), path)
    doc = json.loads(path.read_text())

    assert schema_errors(doc) == []
    [prof] = doc["profiles"]
    assert (prof["type"], prof["name"], prof["unit"]) == (
        "sampled",
        "GET /quote/{sku}",
        "microseconds",
    )
    assert prof["endValue"] == pytest.approx(610_000)
    [group] = read_speedscope(doc)
    back = {f.function: f for f in profile_of(group, lambda *_: "app").functions}
    assert set(back) == {f.function for f in original.functions}
    for fn in original.functions:  # seconds again, within a microsecond
        assert back[fn.function].self_s == pytest.approx(fn.self_s, abs=1e-6)
        assert back[fn.function].cumulative_s == pytest.approx(fn.cumulative_s, abs=1e-6)


def test_attach_file_has_a_profile_per_thread_weighted_by_the_rate() -> None:
    sampling = recorded("sleep_sync_asyncio")
    doc = to_speedscope(session_stacks(attach_session(sampling)), name="x", exporter="perfaudit")

    assert schema_errors(doc) == []
    threads = [t for p in sampling.processes for t in p.threads if t.samples]
    assert len(doc["profiles"]) == len(threads)
    groups = read_speedscope(json.loads(json.dumps(doc)))
    for group, thread in zip(groups, threads, strict=True):
        assert group.name.startswith(f"thread {thread.thread_id}")
        assert group.total * 1e-6 == pytest.approx(thread.samples / sampling.rate_hz)


def test_frames_are_shared_between_profiles() -> None:
    sampling = recorded("sleep_sync_asyncio")
    doc = to_speedscope(session_stacks(attach_session(sampling)), name="x", exporter="perfaudit")

    keys = [(f["name"], f.get("file"), f.get("line")) for f in doc["shared"]["frames"]]
    assert len(keys) == len(set(keys))


def test_an_evented_profile_reads_as_the_time_between_its_events() -> None:
    doc = {
        "$schema": SCHEMA,
        "shared": {"frames": [{"name": "main", "file": "m.py", "line": 1}, {"name": "work"}]},
        "profiles": [
            {
                "type": "evented", "name": "p", "unit": "milliseconds",
                "startValue": 0, "endValue": 10,
                "events": [
                    {"type": "O", "frame": 0, "at": 0}, {"type": "O", "frame": 1, "at": 2},
                    {"type": "C", "frame": 1, "at": 8}, {"type": "C", "frame": 0, "at": 10},
                ],
            }
        ],
    }  # fmt: skip

    [group] = read_speedscope(doc)
    prof = profile_of(group, lambda *_: "app")

    by_name = {f.function.name: f for f in prof.functions}
    assert by_name["main"].self_s == pytest.approx(0.004)
    assert by_name["work"].self_s == pytest.approx(0.006)
    assert by_name["main"].cumulative_s == pytest.approx(0.010)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("shared"), "shared.frames"),
        (lambda d: d.update(profiles=[]), "no profiles"),
        (lambda d: d["profiles"][0].update(type="pie"), "not sampled or evented"),
        (lambda d: d["profiles"][0].update(weights=[]), "1 samples but 0 weights"),
        (lambda d: d["profiles"][0].update(samples=[[7]]), "points at no frame"),
        (lambda d: d["profiles"][0].update(unit="parsecs"), "not a speedscope unit"),
    ],
)
def test_broken_files_say_what_is_wrong(change: Any, message: str) -> None:
    doc = to_speedscope(
        session_stacks(session(profiles=[quote_profile()]))[:1], name="x", exporter="t"
    )
    doc["profiles"][0]["samples"] = doc["profiles"][0]["samples"][:1]
    doc["profiles"][0]["weights"] = doc["profiles"][0]["weights"][:1]
    change(doc)

    with pytest.raises(ProfileFormatError, match=message):
        read_speedscope(doc)
