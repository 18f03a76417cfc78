"""Run an app's ASGI lifespan ourselves: httpx's ASGITransport never does, and many apps
create their tables, pools or clients at startup and fail without it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from perfaudit.agent.loader import ASGIApp
from perfaudit.errors import TargetError

STARTUP_TIMEOUT_S = 120.0  # the default of --startup-timeout (import and lifespan alike)
SHUTDOWN_TIMEOUT_S = 10.0


class Lifespan:
    """Drives `lifespan.startup` and `lifespan.shutdown` and keeps the state the app put in
    `scope["state"]`, which every request scope must carry a copy of."""

    def __init__(self, app: ASGIApp, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        self._app = app
        self._startup_timeout_s = startup_timeout_s
        self.state: dict[str, Any] = {}
        self.supported = True
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._reply(self._startup_timeout_s, "startup")
        if reply is None:
            self.supported = False
            return
        if reply["type"] == "lifespan.startup.failed":
            raise TargetError(
                f"The app's lifespan startup failed: {_last_line(reply.get('message', ''))}.",
                remedy="Fix the startup code (its traceback is below), or pass --no-lifespan.",
                details=str(reply.get("message", "")).rstrip(),
            )

    async def shutdown(self) -> None:
        if not self.supported or self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(TargetError):
            await self._reply(SHUTDOWN_TIMEOUT_S, "shutdown")
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        try:
            await self._app(scope, self._inbox.get, self._outbox.put)
        except Exception as exc:
            # An app that raises before answering does not speak lifespan (uvicorn's
            # "auto" mode draws the same conclusion); after answering, it is a real error.
            await self._outbox.put({"type": "lifespan.error", "error": exc})

    async def _reply(self, timeout_s: float, phase: str) -> dict[str, Any] | None:
        try:
            reply = await asyncio.wait_for(self._outbox.get(), timeout_s)
        except TimeoutError:
            raise TargetError(
                f"The app's lifespan {phase} did not finish within {timeout_s:g} s.",
                remedy="Check what its startup waits for (a database, a network call), "
                "or pass --startup-timeout with more seconds, or --no-lifespan.",
            ) from None
        if reply["type"] == "lifespan.error":
            return None
        return reply


def _last_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip().rstrip(".") if lines else "no message"
