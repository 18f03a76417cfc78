"""The event loop perfaudit runs an app on: made fresh per run (asyncio or uvloop), and
closed without waiting on handlers stuck in threads."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from perfaudit.errors import UsageError

LOOPS = ("asyncio", "uvloop")


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise UsageError(
                "--loop uvloop was asked for, but uvloop is not installed.",
                remedy="Install it (pip install uvloop) or pass --loop asyncio.",
            ) from None
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def quiet_interrupts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A Ctrl-C lands in whichever task was running; that task's "exception never
    retrieved" is our interrupt, not the app's error."""
    if isinstance(context.get("exception"), KeyboardInterrupt):
        return
    loop.default_exception_handler(context)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop without waiting on handlers stuck in threads (they are reported)."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
    with contextlib.suppress(BaseException):
        loop.run_until_complete(loop.shutdown_asyncgens())
    asyncio.set_event_loop(None)
    loop.close()
