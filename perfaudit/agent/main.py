"""The agent's entry point, run by the CLI in the app's interpreter (perfaudit.launcher):
read the job from stdin, run it, answer on the message pipe (protocol.py)."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from perfaudit.agent import protocol
from perfaudit.errors import PerfauditError
from perfaudit.model import Session

ADVANCE_EVERY_S = 0.1  # progress is batched: the driver advances once per request


class Channel:
    """The message pipe. Thread-safe: the hang guard's interrupt and the loop both write."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        line = protocol.encode({"event": event, **fields})
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class ChannelProgress:
    """perfaudit.progress.Progress sent to the CLI's progress bar, advances batched."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._pending = 0
        self._sent_at = 0.0

    def begin(self, label: str, total: int | None) -> None:
        self._flush()
        self._channel.send("begin", label=label, total=total)

    def advance(self, count: int) -> None:
        self._pending += count
        if time.monotonic() - self._sent_at >= ADVANCE_EVERY_S:
            self._flush()

    def end(self) -> None:
        self._flush()
        self._channel.send("end")

    def _flush(self) -> None:
        if self._pending:
            self._channel.send("advance", count=self._pending)
            self._pending = 0
        self._sent_at = time.monotonic()


def main() -> None:
    channel = Channel(os.fdopen(int(sys.argv[1]), "wb"))
    job = protocol.decode(sys.stdin.buffer.readline())
    _leave_when_the_cli_does()
    try:
        _run(job, channel)
    except PerfauditError as exc:
        channel.send(
            "error",
            kind=type(exc).__name__,
            message=exc.message,
            remedy=exc.remedy,
            details=exc.details,
        )
    except KeyboardInterrupt:
        channel.send("interrupted")
    except SystemExit as exc:  # the app's own sys.exit(): its doing, not a bug of ours
        channel.send(
            "error",
            kind="TargetError",
            message=f"The app called sys.exit({exc.code!r}), so there was nothing to measure.",
            remedy="Find what exits at import or start-up (a missing setting, a CLI entry "
            "point run on import) and run again.",
            details="",
        )
    except BaseException as exc:  # a bug of perfaudit's: the CLI reports it as one
        channel.send("crash", error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
    # A handler may still hold a worker thread (it has been reported): do not wait for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run(job: dict[str, Any], channel: Channel) -> None:
    from perfaudit.agent.loader import load_app

    if job["job"] == "routes":
        from perfaudit.agent.routes import discover_routes

        loaded = load_app(job["target"], factory=job["factory"], app_dir=Path(job["app_dir"]))
        table = protocol.table_to_json(discover_routes(loaded.app))
        channel.send("routes", table=table)
        return
    from perfaudit.agent.profile_run import run_profile

    def checkpoint(session: Session) -> None:
        channel.send("checkpoint", session=session.to_json())

    options = protocol.options_from_json(job["options"])
    session = run_profile(
        options,
        progress=ChannelProgress(channel),
        on_imported=lambda: channel.send("imported", python=sys.executable),
        on_checkpoint=checkpoint,
    )
    channel.send("session", session=session.to_json())


def _leave_when_the_cli_does() -> None:
    """The CLI holds our stdin open for as long as it lives: at its end of file (the CLI
    was killed), stop, rather than run on as an orphan loading the app."""

    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(1)

    threading.Thread(target=watch, name="perfaudit-agent-parent", daemon=True).start()
