"""The call tracer: for the app's own functions, calls, time, and argument and result
fingerprints, so the same expensive call repeated with the same arguments shows.

(Skeleton: the lead wires it into the audit; a helper fills it in.)"""

from __future__ import annotations

from pathlib import Path

from perfaudit.model import CallEvidence


class CallTracer:
    def __init__(self, app_root: Path) -> None:
        self._app_root = app_root

    def start(self) -> None:
        """Start tracing (around the calls phase)."""

    def stop(self, requests: int) -> CallEvidence | None:
        return None
