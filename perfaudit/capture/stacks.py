"""Sampled stacks of other threads (sys._current_frames), tallied by distinct stack."""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field
from types import FrameType

from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import SampledStack, StackFrame

MAX_DEPTH = 48


def frames_of(frame: FrameType | None, classifier: OwnerClassifier) -> tuple[StackFrame, ...]:
    """The stack from `frame` outwards (innermost first), with the source line of each of
    the app's own frames, read now while the file is surely the one that ran."""
    frames: list[StackFrame] = []
    while frame is not None and len(frames) < MAX_DEPTH:
        code = frame.f_code
        owner = classifier.owner(code.co_filename, code.co_name)
        line = frame.f_lineno or 0
        text = linecache.getline(code.co_filename, line).strip() if owner == "app" else ""
        frames.append(StackFrame(code.co_filename, line, code.co_name, owner, text))
        frame = frame.f_back
    return tuple(frames)


@dataclass
class StackTally:
    counts: dict[tuple[StackFrame, ...], list[float]] = field(default_factory=dict)

    def add(self, frames: tuple[StackFrame, ...], wall_s: float, cpu_s: float) -> None:
        entry = self.counts.setdefault(frames, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += wall_s
        entry[2] += cpu_s

    def stacks(self) -> tuple[SampledStack, ...]:
        ranked = sorted(self.counts.items(), key=lambda item: item[1][1], reverse=True)
        return tuple(
            SampledStack(frames, int(samples), wall, cpu) for frames, (samples, wall, cpu) in ranked
        )
