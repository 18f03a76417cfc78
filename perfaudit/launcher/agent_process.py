"""The agent as a child process: started in the app's interpreter from perfaudit's own files
(nothing installed there, nothing else of perfaudit's environment on its `sys.path`),
talked to over a pipe of its own (perfaudit.agent.protocol), stopped by its PID.

What the app prints (stdout and stderr: print calls, logging, SQL echo) goes to a file of
its own, not between the lines of the report; the run says how much and where (AppOutput).

It runs in a session of its own, so a Ctrl-C at the terminal reaches only the CLI, which
passes it on once: the agent stops the route it is on and sends what it measured. A second
Ctrl-C, or an agent that does not answer, is killed; a killed or crashed agent leaves its
last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import perfaudit
from perfaudit.agent import protocol
from perfaudit.launcher.interpreter import Interpreter

PACKAGE = Path(perfaudit.__file__).resolve().parent
BOOTSTRAP = PACKAGE / "agent" / "bootstrap.py"

EOF_EVENT: dict[str, Any] = {"event": "eof"}
MAX_READ = 4 << 20  # of the app's output, read back for the note: the last 4 MiB
SQL_LINE = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK)\b")


class AgentProcess:
    """One agent: `next_event()` gives its messages in turn; the end of its pipe is
    {"event": "eof"}."""

    def __init__(self, interpreter: Interpreter, job: dict[str, Any]) -> None:
        read_end, write_end = os.pipe()
        self.output = AppOutput.create()
        try:
            with self.output.path.open("wb") as sink:
                self._process = subprocess.Popen(
                    [str(interpreter.path), str(BOOTSTRAP), str(write_end)],
                    stdin=subprocess.PIPE,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
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
        self.output.discard_if_empty()

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


@dataclass(frozen=True, slots=True)
class AppOutput:
    """The file the app's stdout and stderr go to."""

    path: Path

    @classmethod
    def create(cls) -> AppOutput:
        fd, name = tempfile.mkstemp(prefix="perfaudit-app-output-", suffix=".log")
        os.close(fd)
        return cls(Path(name))

    def lines(self) -> list[str]:
        """What the app wrote (its last MAX_READ bytes at most); [] if nothing."""
        try:
            with self.path.open("rb") as stream:
                stream.seek(max(0, self.path.stat().st_size - MAX_READ))
                return stream.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def discard_if_empty(self) -> None:
        with contextlib.suppress(OSError):
            if self.path.stat().st_size == 0:
                self.path.unlink()

    def note(self) -> str:
        """A sentence for the report, or "" when the app was quiet."""
        lines = self.lines()
        if not lines:
            return ""
        sql = sum(1 for line in lines if SQL_LINE.search(line))
        echo = (
            f" {sql} of them are SQL statements: SQLAlchemy's `echo=True` (or a DEBUG logger) "
            "formats and writes every statement on the request's path; turn it off outside "
            "debugging."
            if sql >= len(lines) / 3
            else ""
        )
        return f"The app wrote {len(lines)} lines to stdout/stderr, kept in {self.path}.{echo}"

    def tail(self, count: int = 15) -> str:
        """The app's last lines, for an error; "" when it wrote nothing."""
        lines = self.lines()[-count:]
        if not lines:
            return ""
        return f"The app's last output (all of it in {self.path}):\n" + "\n".join(lines)


def _lines(pipe: Any) -> Iterator[bytes]:
    for line in pipe:
        if line.strip():
            yield line
