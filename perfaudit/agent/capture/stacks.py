"""Sampled stacks of other threads (sys._current_frames), tallied by distinct stack."""

from __future__ import annotations

import inspect
import linecache
from dataclasses import dataclass, field
from types import CodeType, FrameType

from perfaudit.capture.owners import OwnerClassifier
from perfaudit.model import SampledStack, StackFrame

MAX_DEPTH = 48
ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class StackReader:
    """Reads stacks cheaply when the same ones come back (a loop stuck in one call is
    sampled hundreds of times): the raw (code, line) walk is the key of a cache."""

    def __init__(self, classifier: OwnerClassifier) -> None:
        self._classifier = classifier
        self._cache: dict[tuple[tuple[CodeType, int], ...], tuple[StackFrame, ...]] = {}

    def read(self, frame: FrameType | None) -> tuple[StackFrame, ...]:
        raw: list[tuple[CodeType, int]] = []
        while frame is not None and len(raw) < MAX_DEPTH:
            raw.append((frame.f_code, frame.f_lineno or 0))
            frame = frame.f_back
        key = tuple(raw)
        frames = self._cache.get(key)
        if frames is None:
            frames = self._cache[key] = tuple(self._frame(code, line) for code, line in key)
        return frames

    def _frame(self, code: CodeType, line: int) -> StackFrame:
        owner = self._classifier.owner(code.co_filename, code.co_name)
        # The source line, read while the file is surely the one that ran.
        text = linecache.getline(code.co_filename, line).strip() if owner == "app" else ""
        awaitable = bool(code.co_flags & ASYNC_CODE)
        return StackFrame(code.co_filename, line, code.co_name, owner, text, awaitable)


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
