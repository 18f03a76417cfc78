"""The agent as a child process: started in the app's interpreter from perfaudit's own files
(nothing installed there, nothing else of perfaudit's environment on its `sys.path`),
talked to over a pipe of its own (perfaudit.agent.protocol), stopped by its PID.

It runs in a session of its own, so a Ctrl-C at the terminal reaches only the CLI, which
passes it on once: the agent stops the route it is on and sends what it measured. A second
Ctrl-C, or an agent that does not answer, is killed; a killed or crashed agent leaves its
last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import perfaudit
from perfaudit.agent import protocol
from perfaudit.launcher.interpreter import Interpreter

PACKAGE = Path(perfaudit.__file__).resolve().parent
BOOTSTRAP = PACKAGE / "agent" / "bootstrap.py"

EOF_EVENT: dict[str, Any] = {"event": "eof"}


class AgentProcess:
    """One agent: `events()` yields its messages; the end of its pipe is {"event": "eof"}."""

    def __init__(self, interpreter: Interpreter, job: dict[str, Any]) -> None:
        read_end, write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                [str(interpreter.path), str(BOOTSTRAP), str(write_end)],
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.interpreter = interpreter
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        reader = threading.Thread(target=self._read, args=(read_end,), daemon=True)
        reader.start()
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.write(protocol.encode(job))
            self._process.stdin.flush()

    @property
    def pid(self) -> int:
        return self._process.pid

    def next_event(self, timeout_s: float | None) -> dict[str, Any] | None:
        """The next message, or None when none came within `timeout_s`."""
        try:
            return self._messages.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def interrupt(self) -> None:
        """Ctrl-C for the agent: it stops the current route and reports."""
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def returncode(self, wait_s: float = 5.0) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(wait_s)
        return None

    def close(self) -> None:
        """Stop the agent if it still runs (its stdin's end tells it to), and reap it."""
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self.returncode(wait_s=2.0) is None:
            self.kill()
            self._process.wait()

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _signal(self, number: signal.Signals) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, number)

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            for line in _lines(pipe):
                self._messages.put(protocol.decode(line))
        self._messages.put(EOF_EVENT)


def _lines(pipe: Any) -> Iterator[bytes]:
    for line in pipe:
        if line.strip():
            yield line
