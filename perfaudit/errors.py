"""One error hierarchy, caught once at the CLI edge and shown as one sentence plus a remedy.

Exit codes are a public contract (DESIGN §4): 2 usage or config error, 3 target or
capture failure. A budget or `--fail-on` hit (exit 1) is a result, not an error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2
EXIT_TARGET = 3


class PerfauditError(Exception):
    """An error a user can act on: `message` says what happened, `remedy` what to do."""

    exit_code = EXIT_TARGET

    def __init__(self, message: str, *, remedy: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        # Extra text shown below the sentence, e.g. the user's own traceback, trimmed.
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}".strip()


class UsageError(PerfauditError):
    """The command line or a config file asks for something impossible."""

    exit_code = EXIT_USAGE


class TargetError(PerfauditError):
    """The app could not be imported, built, or started."""


class CaptureError(PerfauditError):
    """A measurement or profiler could not run."""
