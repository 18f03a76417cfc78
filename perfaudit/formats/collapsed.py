"""Collapsed ("folded") stacks, the input of flamegraph.pl and inferno: one line per
distinct stack, frames root first and separated by `;`, then a space and the stack's count.

Frames are named as py-spy names them, `function (file:line)`, and built-ins by their bare
name. Each stack starts with a label frame naming what it belongs to: the route
(`GET /items/{item_id}`) for an in-process profile, the thread (`thread 12 (MainThread)`,
after `process 4242 · ` when several processes were followed) for an attach session.

Counts are samples for an attach session and microseconds for an in-process one, whose
stacks are rebuilt from pstats caller edges (see formats/stacks.py for what that merges).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from perfaudit.fileio import atomic_write
from perfaudit.formats.stacks import ProfileFormatError, StackGroup, WeightedStack, session_stacks
from perfaudit.model import FunctionId, Session

BUILTIN = "~"
_LOCATED = re.compile(r"^(?P<name>.+) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Label frames: a route ("GET /path"), or py-spy's and perfaudit's process and thread frames.
_LABEL = re.compile(r"^(?:[A-Z]+ /|process |thread )")
_COUNT = re.compile(r"^\d+(?:\.\d*)?$")
UNKNOWN = "it is not a .pstats, speedscope, collapsed-stack or perfaudit file"


def frame_name(frame: FunctionId) -> str:
    name = _clean(frame.name)
    return name if frame.file == BUILTIN else f"{name} ({_clean(frame.file)}:{frame.line})"


def collapsed_text(groups: Iterable[StackGroup]) -> str:
    counts: Counter[str] = Counter()
    for group in groups:
        label = _clean(group.name)
        for stack in group.stacks:
            counts[";".join([label, *map(frame_name, stack.frames)])] += round(stack.weight)
    # Sorted, as stackcollapse scripts write them: files diff well and tools merge runs.
    return "".join(f"{stack} {count}\n" for stack, count in sorted(counts.items()) if count > 0)


def write_collapsed(session: Session, path: Path) -> None:
    atomic_write(path, collapsed_text(session_stacks(session)).encode())


def read_collapsed(lines: str | Iterable[str], *, name: str) -> tuple[StackGroup, ...]:
    """Stacks grouped by their leading label frames (one group, `name`, when none have
    any). ProfileFormatError when a line is not `frame;frame count`. `lines` may be a
    file read as it goes: memory grows with the distinct stacks, not the file's size."""
    grouped: dict[str, dict[tuple[FunctionId, ...], float]] = defaultdict(dict)
    frames_of = _FrameCache()
    for number, line in enumerate(lines.splitlines() if isinstance(lines, str) else lines, 1):
        if not line.strip():
            continue
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not _COUNT.match(count):
            if not grouped:  # not even its first line: not collapsed stacks at all
                raise ProfileFormatError(UNKNOWN)
            raise ProfileFormatError(f"line {number} is not `frame;frame;… count`")
        labels, frames = _split(stack.split(";"), frames_of)
        stacks = grouped[" · ".join(labels) or name]
        stacks[frames] = stacks.get(frames, 0.0) + float(count)
    if not grouped:
        raise ProfileFormatError("it holds no stacks")
    return tuple(
        StackGroup(
            name=group,
            unit="none",
            seconds_per_unit=None,
            stacks=tuple(WeightedStack(frames, weight) for frames, weight in stacks.items()),
        )
        for group, stacks in grouped.items()
    )


class _FrameCache(dict[str, FunctionId]):
    """Each distinct frame text parsed once, and one FunctionId shared by every stack it
    is on: a large file repeats the same few thousand frames millions of times."""

    def __missing__(self, text: str) -> FunctionId:
        self[text] = frame = parse_frame(text)
        return frame


def _split(names: list[str], frames_of: _FrameCache) -> tuple[list[str], tuple[FunctionId, ...]]:
    count = 0
    while count < len(names) - 1 and _LABEL.match(names[count]):
        count += 1
    return names[:count], tuple(frames_of[name] for name in names[count:])


def parse_frame(text: str) -> FunctionId:
    located = _LOCATED.match(text)
    if located is None:
        return FunctionId(BUILTIN, 0, text)
    return FunctionId(located["file"], int(located["line"] or 0), located["name"])


def _clean(text: str) -> str:
    # `;` separates frames and a newline ends the stack: neither may appear in a name.
    return text.replace(";", ":").replace("\n", " ")
