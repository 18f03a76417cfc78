"""speedscope JSON (https://www.speedscope.app/file-format-schema.json): frames shared by
every profile, one "sampled" profile per route (in-process) or per thread (attach).

Weights are microseconds: a sample of an attach session weighs 1/rate seconds; an
in-process route's stacks are rebuilt from pstats caller edges (formats/stacks.py), so
their order is not the order of time, and speedscope's "Time Order" view shows them
grouped rather than as they happened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from perfaudit.fileio import atomic_write
from perfaudit.formats.stacks import (
    MICROSECOND,
    ProfileFormatError,
    StackGroup,
    WeightedStack,
    session_stacks,
)
from perfaudit.model import FunctionId, Session

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
BUILTIN = "~"
# Seconds per unit, for the units speedscope knows that are time.
UNITS = {"nanoseconds": 1e-9, "microseconds": 1e-6, "milliseconds": 1e-3, "seconds": 1.0}
OTHER_UNITS = frozenset({"none", "bytes"})


def to_speedscope(groups: Iterable[StackGroup], *, name: str, exporter: str) -> dict[str, Any]:
    frames: dict[FunctionId, int] = {}
    profiles = [_profile(group, frames) for group in groups]
    return {
        "$schema": SCHEMA,
        "name": name,
        "exporter": exporter,
        "activeProfileIndex": 0,
        "shared": {"frames": [_frame(fid) for fid in frames]},
        "profiles": profiles,
    }


def write_speedscope(session: Session, path: Path) -> None:
    document = to_speedscope(
        session_stacks(session),
        name=f"perfaudit {session.mode} {session.target}",
        exporter=f"perfaudit {session.tool_version}",
    )
    atomic_write(path, json.dumps(document, separators=(",", ":")).encode())


def _profile(group: StackGroup, frames: dict[FunctionId, int]) -> dict[str, Any]:
    to_us = group.seconds_per_unit / MICROSECOND if group.seconds_per_unit else None
    samples, weights = [], []
    for stack in group.stacks:
        samples.append([frames.setdefault(fid, len(frames)) for fid in stack.frames])
        weights.append(round(stack.weight * to_us, 3) if to_us else stack.weight)
    total = sum(weights)
    return {
        "type": "sampled",
        "name": group.name,
        "unit": "microseconds" if to_us else "none",
        "startValue": 0,
        "endValue": total,
        "samples": samples,
        "weights": weights,
    }


def _frame(fid: FunctionId) -> dict[str, Any]:
    if fid.file == BUILTIN:
        return {"name": fid.name}
    return {"name": fid.name, "file": fid.file, "line": fid.line}


def read_speedscope(data: dict[str, Any]) -> tuple[StackGroup, ...]:
    """Sampled and evented profiles as stacks. ProfileFormatError names what is wrong."""
    shared = data.get("shared")
    if not isinstance(shared, dict) or not isinstance(shared.get("frames"), list):
        raise ProfileFormatError("its shared.frames is missing")
    frames = [_read_frame(f, i) for i, f in enumerate(shared["frames"])]
    profiles = data.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        raise ProfileFormatError("it has no profiles")
    return tuple(_read_profile(p, frames, i) for i, p in enumerate(profiles))


def _read_frame(item: object, index: int) -> FunctionId:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ProfileFormatError(f"shared.frames[{index}] has no name")
    file = item.get("file")
    line = item.get("line")
    return FunctionId(
        file if isinstance(file, str) and file else BUILTIN,
        int(line) if isinstance(line, int | float) and math.isfinite(line) else 0,
        item["name"],
    )


def _read_profile(item: object, frames: list[FunctionId], index: int) -> StackGroup:
    where = f"profiles[{index}]"
    if not isinstance(item, dict):
        raise ProfileFormatError(f"{where} is not an object")
    unit = item.get("unit", "none")
    if unit not in UNITS and unit not in OTHER_UNITS:
        raise ProfileFormatError(f"{where}.unit {unit!r} is not a speedscope unit")
    kind = item.get("type")
    if kind == "sampled":
        stacks = _sampled(item, frames, where)
    elif kind == "evented":
        stacks = _evented(item, frames, where)
    else:
        raise ProfileFormatError(f"{where}.type is {kind!r}, not sampled or evented")
    return StackGroup(
        name=str(item.get("name") or f"profile {index + 1}"),
        unit=str(unit),
        seconds_per_unit=UNITS.get(unit),
        stacks=stacks,
    )


def _sampled(
    item: dict[str, Any], frames: list[FunctionId], where: str
) -> tuple[WeightedStack, ...]:
    samples, weights = item.get("samples"), item.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list):
        raise ProfileFormatError(f"{where} has no samples or weights")
    if len(samples) != len(weights):
        raise ProfileFormatError(f"{where} has {len(samples)} samples but {len(weights)} weights")
    merged: dict[tuple[FunctionId, ...], float] = {}
    for i, (sample, weight) in enumerate(zip(samples, weights, strict=True)):
        stack = _stack(sample, frames, f"{where}.samples[{i}]")
        merged[stack] = merged.get(stack, 0.0) + _weight(weight, f"{where}.weights[{i}]")
    return tuple(WeightedStack(stack, weight) for stack, weight in merged.items())


def _evented(
    item: dict[str, Any], frames: list[FunctionId], where: str
) -> tuple[WeightedStack, ...]:
    """Open/close events as stacks: the time between two events belongs to the stack open
    between them."""
    events = item.get("events")
    if not isinstance(events, list):
        raise ProfileFormatError(f"{where} has no events")
    merged: dict[tuple[FunctionId, ...], float] = {}
    open_frames: list[int] = []
    last = 0.0
    for i, event in enumerate(events):
        if not isinstance(event, dict) or event.get("type") not in ("O", "C"):
            raise ProfileFormatError(f"{where}.events[{i}] is not an O or C event")
        at = _weight(event.get("at"), f"{where}.events[{i}].at")
        if open_frames and at > last:
            stack = tuple(frames[f] for f in open_frames)
            merged[stack] = merged.get(stack, 0.0) + at - last
        last = at
        frame = _index(event.get("frame"), frames, f"{where}.events[{i}].frame")
        if event["type"] == "O":
            open_frames.append(frame)
        elif frame in open_frames:
            del open_frames[len(open_frames) - 1 - open_frames[::-1].index(frame) :]
    return tuple(WeightedStack(stack, weight) for stack, weight in merged.items())


def _stack(sample: object, frames: list[FunctionId], where: str) -> tuple[FunctionId, ...]:
    if not isinstance(sample, list):
        raise ProfileFormatError(f"{where} is not a list of frame indices")
    return tuple(frames[_index(i, frames, where)] for i in sample)


def _index(value: object, frames: list[FunctionId], where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(frames):
        raise ProfileFormatError(f"{where} points at no frame")
    return value


def _weight(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileFormatError(f"{where} is not a number")
    return float(value)
