"""SIGTERM (CI cancelling a job, `timeout`, `docker stop`) and SIGHUP (a closed terminal)
stop a run as Ctrl-C does: whatever handles Ctrl-C at that moment handles them (the load
engine's flag, the agent's forwarding, a KeyboardInterrupt), children are stopped by PID
and the partial report is written. Only the CLI process installs the handler.

The stages record such a stop as INTERRUPTED, "interrupted (Ctrl-C)", wherever it happened
(the app's own process too); the report names the signal it really was.
"""

from __future__ import annotations

import signal
from dataclasses import replace

from perfaudit.model import INTERRUPTED, Session

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def stop_like_ctrl_c() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _as_ctrl_c)


def _as_ctrl_c(signum: int, _frame: object) -> None:
    _received.append(signum)
    signal.raise_signal(signal.SIGINT)


def received() -> int | None:
    """The first stop signal this process received, if any."""
    return _received[0] if _received else None


def named_stop(session: Session) -> Session:
    """The session, its stop put in the words of the signal that caused it."""
    signum = received()
    if signum is None or session.stopped_early != INTERRUPTED:
        return session
    return replace(session, stopped_early=f"stopped by {signal.Signals(signum).name}")
