"""The jobs the CLI gives the agent: profile an app (`profile`, `ci` in-process scenarios,
`--verify`), or read its route table (`attach --app`, a CI config's `routes_from`)."""

from __future__ import annotations

import dataclasses
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfaudit.agent import protocol
from perfaudit.agent.bootstrap import EXIT_OLD_PYTHON, MIN_PYTHON
from perfaudit.agent.profile_run import ProfileOptions
from perfaudit.agent.routes import RouteTable
from perfaudit.errors import CaptureError, PerfauditError, TargetError, UsageError
from perfaudit.launcher import DEFAULT_STARTUP_TIMEOUT_S
from perfaudit.launcher.agent_process import AgentProcess
from perfaudit.launcher.interpreter import Interpreter, find_interpreter
from perfaudit.load.credentials import redacted, sent_secrets
from perfaudit.model import INTERRUPTED, Session
from perfaudit.progress import NoProgress, Progress

INTERRUPT_GRACE_S = 30.0  # after Ctrl-C: time for the agent to stop and send its report
POLL_S = 0.25
ERRORS: dict[str, type[PerfauditError]] = {
    cls.__name__: cls for cls in (PerfauditError, UsageError, TargetError, CaptureError)
}


class AgentDied(TargetError):
    """The app's process ended before the run did (a crash, `os._exit`, the OOM killer):
    `session` holds what it measured before, with the reason in `stopped_early`."""

    def __init__(self, message: str, *, remedy: str, details: str, session: Session) -> None:
        super().__init__(message, remedy=remedy, details=details)
        self.session = session


@dataclass(frozen=True, slots=True)
class AppInterpreter:
    """The interpreter to run the app in: `--python`, or found from the app's folder."""

    python: Path | None = None
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S

    def find(self, app_dir: Path) -> Interpreter:
        return find_interpreter(self.python, app_dir)


def profile_in_agent(
    options: ProfileOptions, where: AppInterpreter, progress: Progress | None = None
) -> Session:
    options.check()
    interpreter = where.find(options.app_dir)
    job = {"job": "profile", "options": protocol.options_to_json(options)}
    secrets = sent_secrets(options.request_specs)  # kept out of the report, echoed or not
    try:
        with AgentProcess(interpreter, job) as agent:
            talk = _Conversation(agent, options.target, where.startup_timeout_s, progress)
            session = Session.from_json(talk.until("session")["session"])
    except AgentDied as died:
        died.session = redacted(died.session, secrets)
        raise
    note = agent.output.note()
    session = dataclasses.replace(session, notes=(*session.notes, note)) if note else session
    return redacted(session, secrets)


def route_table_in_agent(
    target: str, *, factory: bool, app_dir: Path, where: AppInterpreter
) -> RouteTable:
    job = {"job": "routes", "target": target, "factory": factory, "app_dir": str(app_dir)}
    with AgentProcess(where.find(app_dir), job) as agent:
        answer = _Conversation(agent, target, where.startup_timeout_s).until("routes")
    return protocol.table_from_json(answer["table"])


class _Conversation:
    """Reads the agent's messages until the answer; progress goes to the bar, checkpoints
    are kept, errors become ours, and a crash or a hang becomes one sentence."""

    def __init__(
        self,
        agent: AgentProcess,
        target: str,
        startup_timeout_s: float,
        progress: Progress | None = None,
    ) -> None:
        self.agent = agent
        self.target = target
        self.progress = progress or NoProgress()
        self.deadline: float | None = time.monotonic() + startup_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.imported = False
        self.interrupted = False
        self.stage = ""
        self.checkpoint: str | None = None
        self.answer = ""

    def until(self, answer: str) -> dict[str, Any]:
        self.answer = answer
        while True:
            try:
                message = self.agent.next_event(POLL_S)
            except KeyboardInterrupt:
                self._on_ctrl_c()
                continue
            if message is None:
                self._on_quiet()
                continue
            event = message["event"]
            if event == answer:
                return message
            if event == "eof":
                return self._on_end()
            self._on(event, message)

    def _on(self, event: str, message: dict[str, Any]) -> None:
        if event == "begin":
            self.stage = " ".join(message["label"].split())
            self.progress.begin(message["label"], message["total"])
        elif event == "advance":
            self.progress.advance(message["count"])
        elif event == "end":
            self.progress.end()
        elif event == "imported":
            self.imported, self.deadline = True, None
        elif event == "checkpoint":
            self.checkpoint = message["session"]
        elif event == "interrupted":
            raise KeyboardInterrupt
        elif event == "error":
            error = ERRORS.get(message["kind"], PerfauditError)
            details = "\n".join(d for d in (message["details"], self.agent.output.tail()) if d)
            raise error(message["message"], remedy=message["remedy"], details=details)
        elif event == "crash":
            raise RuntimeError(f"in the agent: {message['error']}\n{message['trace']}")

    def _on_ctrl_c(self) -> None:
        if self.interrupted:  # a second Ctrl-C: stop waiting
            self.agent.kill()
            raise KeyboardInterrupt
        self.interrupted = True
        self.progress.end()
        self.agent.interrupt()
        self.deadline = time.monotonic() + INTERRUPT_GRACE_S

    def _on_quiet(self) -> None:
        if self.deadline is None or time.monotonic() < self.deadline:
            return
        self.agent.kill()
        if self.interrupted:
            return  # its end of file follows: the last checkpoint is the report
        raise TargetError(
            f"Importing {self.target} did not finish within {self.startup_timeout_s:g} s "
            f"(in {self.agent.interpreter.path}).",
            remedy="Look for work the module does at import (a network call, a prompt, "
            "a lock); perfaudit stopped it.",
            details=self.agent.output.tail(),
        )

    def _on_end(self) -> dict[str, Any]:
        """The agent's pipe closed before its answer: it died, or we killed it after a
        Ctrl-C it did not answer (then its last checkpoint is the answer)."""
        code = self.agent.returncode()
        python = self.agent.interpreter.path
        if code == EXIT_OLD_PYTHON:
            version = ".".join(map(str, MIN_PYTHON))
            raise UsageError(
                f"{python} is older than Python {version}, which perfaudit needs to run the app.",
                remedy="Pass a newer interpreter of the app with --python.",
            )
        if self.interrupted and (self.checkpoint is None or self.answer != "session"):
            raise KeyboardInterrupt  # killed after a Ctrl-C it did not answer
        how = _how_it_ended(code)
        if self.checkpoint is None:
            when = "after importing" if self.imported else "while importing"
            raise TargetError(
                f"The app's Python process ({python}) {how} {when} {self.target}.",
                remedy=f"Check that `{python} -c 'import …'` of your app works, or pass "
                "the app's interpreter with --python.",
                details=self.agent.output.tail(),
            )
        session = Session.from_json(self.checkpoint)
        if self.interrupted:
            stopped = dataclasses.replace(session, stopped_early=INTERRUPTED, interrupted=True)
            return {"event": "session", "session": stopped.to_json()}
        where = f" during {self.stage}" if self.stage else ""
        reason = f"the app's process {how}{where}"
        raise AgentDied(
            f"The app's Python process {how}{where}; the report covers what was measured before.",
            remedy="Run that route alone to see why (a crash in a C extension, os._exit, "
            "or the machine running out of memory).",
            details=self.agent.output.tail(),
            session=dataclasses.replace(session, stopped_early=reason),
        )


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"
