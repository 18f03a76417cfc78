"""default-event-loop: the app served by a real uvicorn on 127.0.0.1 with uvloop and
httptools versus asyncio and h11, compared over HTTP. That comparison needs both packages
installed where perfaudit runs; without them it is refused, naming what is missing.

The comparison itself is not implemented yet: with both installed the experiment is refused
too, saying so, rather than estimated in-process (where no socket or HTTP parsing happens,
so the gain would be understated; see analysis/rules/default_event_loop.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from perfaudit.verify.base import Change, Refusal, Target

NEEDED = ("uvicorn", "uvloop", "httptools")


class DefaultEventLoopExperiment:
    finding_id = "default-event-loop"
    app_wide = True  # the finding names no route: tried on the run's first one

    def __init__(self, installed: Callable[[str], bool] | None = None) -> None:
        self._installed = installed or _installed

    def prepare(self, target: Target) -> Change | Refusal:
        missing = [name for name in NEEDED if not self._installed(name)]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            return Refusal(f"not available: {' and '.join(missing)} {verb} not installed")
        return Refusal(
            "not implemented yet: serving the app through uvicorn with uvloop/httptools "
            "versus asyncio/h11 and comparing over HTTP"
        )


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


EXPERIMENT = DefaultEventLoopExperiment()
