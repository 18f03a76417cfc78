"""Sample a live Python process with py-spy, run as a subprocess (never linked: DESIGN §1).

    py-spy record --pid PID --rate R --duration D --format raw -o FILE --full-filenames
                  --threads --idle [--nonblocking] [--subprocesses] [--native]

`--full-filenames` keeps the target's paths whole (py-spy shortens them to the package part
otherwise, and owners need the path); `--idle` keeps waiting frames, without which a
`time.sleep` on the event loop is mostly invisible (DESIGN §2). A recording stops early on
Ctrl-C, on `stop_flag`, or when the process exits; py-spy then still writes what it has.

Meanwhile a thread of perfaudit's reads each followed process's resident memory from /proc
(capture/rss.py), from py-spy's first sample to the recording's end: SamplingRun.memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from perfaudit.capture.pyspy_raw import FrameOwners, read_raw_file
from perfaudit.capture.rss import RssSampler
from perfaudit.errors import CaptureError, PerfauditError, TargetError, UsageError
from perfaudit.model.samples import SamplingRun

INSTALL_REMEDY = "Install it with `pip install 'perfaudit[attach]'` (or `pip install py-spy`)."
PTRACE_REMEDY = (
    "py-spy reads the target's memory with ptrace: run perfaudit as root (or as the "
    "target's user with CAP_SYS_PTRACE, e.g. `sudo setcap cap_sys_ptrace+ep $(which py-spy)`), "
    "and check that `kernel.yama.ptrace_scope` allows it (`sysctl kernel.yama.ptrace_scope`; "
    "0 or 1 with the capability). In Docker add `--cap-add SYS_PTRACE`; in Kubernetes add "
    "`securityContext.capabilities.add: [SYS_PTRACE]` to the container."
)
ATTACH_GRACE_S = 30.0  # py-spy's attach (up to 3 tries) plus writing the file
WRITE_GRACE_S = 15.0  # after SIGINT, for py-spy to write what it has
TICK_S = 0.1
_START_LINE = "Sampling process"
_EXITED_LINE = "Stopped sampling because process exited"
_COUNTS = re.compile(r"Samples: (\d+) Errors: (\d+)")


class ProcessNotFoundError(TargetError):
    """No process has the PID."""


class NotPythonError(TargetError):
    """The process runs no Python interpreter py-spy can find."""


class UnsupportedPythonError(TargetError):
    """py-spy cannot read this interpreter's version."""


class PtraceDeniedError(CaptureError):
    """The OS refused py-spy access to the process's memory."""


class PySpyMissingError(CaptureError):
    """No py-spy binary next to this interpreter or on PATH."""


class PySpyFailedError(CaptureError):
    """py-spy failed for a reason not in the table."""


@dataclass(frozen=True, slots=True)
class RecordOptions:
    pid: int
    duration_s: float = 10.0
    rate_hz: int = 100
    subprocesses: bool = False  # follow gunicorn / `uvicorn --workers` worker processes
    native: bool = False  # C / Cython frames too (slower; Linux x86_64 and Windows)
    idle: bool = True
    # Read the target without stopping it for each sample. Stopping cost a uvicorn
    # hello-world 5–8% of its throughput at 100 Hz here, not stopping ≈ 0
    # (benchmarks/attach_cost.py); a stack read mid-change may be torn, and py-spy counts
    # the ones it cannot read in SamplingRun.errors.
    nonblocking: bool = True
    # Read each followed process's RSS from /proc over the recording (Linux; else nothing).
    memory: bool = True


# The caller's stop flag ended the recording: its end, which the caller explains if it was
# early (attach's load is over, having run the same duration begun a moment before py-spy's:
# the recording is whole, not "stopped early … partial").
BY_CALLER = "the caller"


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


# on_tick(elapsed_s, duration_s), called about every TICK_S while recording.
TickCallback = Callable[[float, float], None]


@dataclass(frozen=True, slots=True)
class _Outcome:
    returncode: int
    stdout: str
    stderr: str
    sampled_s: float  # wall clock from py-spy's first sample to its end
    stopped_by: str  # "" | "Ctrl-C" | "a timeout" | BY_CALLER


def record(
    options: RecordOptions,
    *,
    on_tick: TickCallback | None = None,
    stop_flag: StopFlag | None = None,
    pyspy: Path | None = None,
    owners: FrameOwners | None = None,
) -> SamplingRun:
    """Record `options.pid` with py-spy and parse what it saw.

    Raises a PerfauditError (exit 3, or 2 for bad options) when py-spy cannot record; a
    process that exits mid-recording, Ctrl-C and `stop_flag` keep what was sampled."""
    validate(options)
    binary = pyspy or find_pyspy()
    _check_alive(options.pid)
    command = _command_line(options.pid)
    memory = (
        RssSampler(options.pid, subprocesses=options.subprocesses, limit_s=options.duration_s)
        if options.memory
        else None
    )
    with tempfile.TemporaryDirectory(prefix="perfaudit-pyspy-") as scratch:
        raw = Path(scratch) / "raw.txt"
        try:
            outcome = _run(
                pyspy_command(binary, options, raw),
                Path(scratch),
                options,
                _Hooks(on_tick, stop_flag, memory),
            )
        finally:
            if memory is not None:
                memory.stop()  # already stopped at the recording's end; never left running
        # Stopped while py-spy was still attaching: no file, no error, nothing sampled yet.
        stopped_early = bool(outcome.stopped_by) and not outcome.stderr.strip()
        if not raw.exists() and not stopped_early:
            raise classify_failure(outcome.stderr, options.pid, _process_name(options.pid))
        processes = (
            read_raw_file(
                raw, rate_hz=options.rate_hz, pid=options.pid, command=command, owners=owners
            )
            if raw.exists()
            else ()
        )
    counts = _COUNTS.search(outcome.stdout)
    return SamplingRun(
        tool=pyspy_version(binary),
        pid=options.pid,
        rate_hz=options.rate_hz,
        duration_s=round(outcome.sampled_s, 3),
        idle_included=options.idle,
        native=options.native,
        processes=processes,
        errors=int(counts.group(2)) if counts else 0,
        ended_early=_ended_early(outcome),
        interrupted=outcome.stopped_by == "Ctrl-C",
        memory=memory.series() if memory is not None else (),
    )


def validate(options: RecordOptions) -> None:
    if options.pid <= 0:
        raise UsageError(f"{options.pid} is not a process id.", remedy="Give the server's PID.")
    if not 1 <= options.rate_hz <= 10_000:
        raise UsageError(
            f"A sampling rate of {options.rate_hz} Hz is out of range.",
            remedy="Use 1–10000 Hz; the default 100 Hz costs the target about 1%.",
        )
    if not 0 < options.duration_s <= 24 * 3600:
        raise UsageError(
            f"A recording of {options.duration_s:g} s is out of range.",
            remedy="Give a duration between a fraction of a second and a day.",
        )


def find_pyspy(directories: Sequence[Path] | None = None) -> Path:
    """py-spy next to this interpreter (the venv perfaudit runs in), else on PATH; or only in
    `directories` when given."""
    if directories is None:
        beside = Path(sys.executable).parent
        found = shutil.which("py-spy", path=str(beside)) or shutil.which("py-spy")
        where = f"next to {sys.executable} or on PATH"
    else:
        found = shutil.which("py-spy", path=os.pathsep.join(map(str, directories)))
        where = "in " + ", ".join(map(str, directories))
    if found is None:
        raise PySpyMissingError(f"py-spy is not installed (looked {where}).", remedy=INSTALL_REMEDY)
    return Path(found)


def pyspy_version(binary: Path) -> str:
    """ "py-spy 0.4.3" (what `--version` prints), or "py-spy" when it will not say."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    return "py-spy"


def pyspy_command(binary: Path, options: RecordOptions, output: Path) -> list[str]:
    # --duration takes whole seconds: ask for the ceiling, stop a fractional one ourselves.
    command = [
        str(binary), "record", "--pid", str(options.pid), "--rate", str(options.rate_hz),
        "--duration", str(max(1, math.ceil(options.duration_s))), "--format", "raw",
        "--output", str(output), "--full-filenames", "--threads",
    ]  # fmt: skip
    flags = {
        "--idle": options.idle,
        "--nonblocking": options.nonblocking,
        "--subprocesses": options.subprocesses,
        "--native": options.native,
    }
    return command + [flag for flag, wanted in flags.items() if wanted]


@dataclass(frozen=True, slots=True)
class _Hooks:
    """What the watch calls while py-spy records: progress, the caller's stop flag, and the
    RSS sampler, started at py-spy's first sample and stopped at the recording's end."""

    on_tick: TickCallback | None = None
    stop_flag: StopFlag | None = None
    memory: RssSampler | None = None


def _run(command: list[str], scratch: Path, options: RecordOptions, hooks: _Hooks) -> _Outcome:
    stdout_path, stderr_path = scratch / "stdout.txt", scratch / "stderr.txt"
    # RUST_BACKTRACE would append a Rust backtrace to every error message.
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        # Its own session: Ctrl-C reaches perfaudit, which forwards one SIGINT.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
            start_new_session=True,
        )  # fmt: skip
        watch = _Watch(process, stdout_path, options.duration_s, hooks)
        stopped_by = watch.run()
    return _Outcome(
        returncode=process.returncode,
        stdout=stdout_path.read_text(errors="replace"),
        stderr=stderr_path.read_text(errors="replace"),
        sampled_s=watch.sampled_s(),
        stopped_by=stopped_by,
    )


class _Watch:
    """Wait for py-spy: report progress, stop it on Ctrl-C / the caller's stop flag / a fractional
    duration, and never leave it running."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stdout_path: Path,
        duration_s: float,
        hooks: _Hooks,
    ) -> None:
        self.process, self.stdout_path, self.duration_s = process, stdout_path, duration_s
        self.on_tick, self.stop_flag, self.memory = hooks.on_tick, hooks.stop_flag, hooks.memory
        self.spawned = time.monotonic()
        self.started: float | None = None  # when py-spy said it began sampling
        self.ended: float | None = None

    def run(self) -> str:
        try:
            stopped_by = self._wait()
        except KeyboardInterrupt:
            stopped_by = "Ctrl-C"
            self._interrupt()
        except BaseException:
            self._kill()
            raise
        self._finish()
        return stopped_by

    def sampled_s(self) -> float:
        if self.started is None:
            return 0.0
        end = self.ended or time.monotonic()
        return max(0.0, min(end - self.started, self.duration_s))

    def _wait(self) -> str:
        deadline = self.spawned + self.duration_s + ATTACH_GRACE_S
        while self.process.poll() is None:
            now = time.monotonic()
            self._notice_start(now)
            if self.started is not None and self.on_tick is not None:
                self.on_tick(min(now - self.started, self.duration_s), self.duration_s)
            if self.stop_flag is not None and self.stop_flag.is_set():
                self._interrupt()
                return BY_CALLER
            if self.started is not None and now - self.started >= self.duration_s:
                self._interrupt()  # a fractional duration; whole ones end by themselves
                return ""
            if now > deadline:
                self._interrupt()
                return "a timeout"
            time.sleep(TICK_S)
        self._end()
        return ""

    def _notice_start(self, now: float) -> None:
        if self.started is None and _START_LINE in self.stdout_path.read_text(errors="replace"):
            self.started = now
            if self.memory is not None and self.ended is None:
                self.memory.start()

    def _end(self) -> None:
        """The recording is over (py-spy may still be writing): so are the RSS readings."""
        self.ended = self.ended or time.monotonic()
        if self.memory is not None:
            self.memory.stop()

    def _interrupt(self) -> None:
        """SIGINT: py-spy stops sampling and writes the samples it has."""
        self._end()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)

    def _finish(self) -> None:
        if self.started is None:  # it started and ended between two ticks
            self._notice_start(self.spawned)
        try:
            self.process.wait(timeout=WRITE_GRACE_S)
        except subprocess.TimeoutExpired:
            self._kill()
        except KeyboardInterrupt:  # a second Ctrl-C: the user wants out now
            self._kill()
            raise

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()


def _ended_early(outcome: _Outcome) -> str:
    after = f"after {outcome.sampled_s:.1f} s"
    if outcome.stopped_by and outcome.stopped_by != BY_CALLER:
        return f"stopped by {outcome.stopped_by} {after}"
    if _EXITED_LINE in outcome.stdout:
        return f"the process exited {after}"
    return ""


# py-spy 0.4.3's stderr → what went wrong (first match wins). Found by running it here
# against a dead PID, `sleep`, a root process as `nobody`, and without CAP_SYS_PTRACE.
FAILURE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "Permission Denied: Try running again with elevated permissions by going 'sudo env …'"
    # or a cause "Permission denied (os error 13)" / "Operation not permitted (os error 1)".
    ("denied", re.compile(r"Permission Denied|\(os error 13\)|\(os error 1\)", re.I)),
    # "Unsupported version of Python: 3.15.0" / "Unsupported version 3.15 for Py_DebugOffsets"
    ("version", re.compile(r"Unsupported version (?:of Python: )?(\S+)")),
    # "Failed to get process executable name. Check that the process is running." with
    # "No such file or directory (os error 2)"; "No such process (os error 3)".
    ("gone", re.compile(r"Check that the process is running|\(os error [23]\)")),
    # "Failed to find python version from target process" (`sleep`), and with
    # --subprocesses "No python processes found in process 42 or any of its subprocesses".
    (
        "not-python",
        re.compile(
            r"Failed to find python version|No python processes found|"
            r"Failed to find a python interpreter|Both python and libpython are invalid"
        ),
    ),
)


def classify_failure(stderr: str, pid: int, name: str = "") -> PerfauditError:
    """The perfaudit error for py-spy's stderr (table above); anything else is reported
    with py-spy's own first error line."""
    shown = f"process {pid}" + (f" ({name})" if name else "")
    details = stderr.strip()[-2000:]
    for kind, pattern in FAILURE_PATTERNS:
        if match := pattern.search(stderr):
            return _failure(kind, match, shown, details)
    first = next((line for line in stderr.splitlines() if line.strip()), "no message")
    return PySpyFailedError(
        f"py-spy could not record {shown}: {first.removeprefix('Error: ').strip()}",
        remedy="Check that the process is a running Python server, then try again.",
        details=details,
    )


def _failure(kind: str, match: re.Match[str], shown: str, details: str) -> PerfauditError:
    if kind == "denied":
        return PtraceDeniedError(
            f"The OS denied py-spy access to {shown}.", remedy=PTRACE_REMEDY, details=details
        )
    if kind == "version":
        return UnsupportedPythonError(
            f"py-spy cannot read the Python {match.group(1)} that runs {shown}.",
            remedy="Upgrade py-spy (`pip install -U py-spy`) to one that supports it.",
            details=details,
        )
    if kind == "gone":
        return ProcessNotFoundError(
            f"No running {shown}: it does not exist or has exited.",
            remedy="Check the PID (`pgrep -af uvicorn`) and that the server is still up.",
        )
    return NotPythonError(
        f"py-spy found no Python interpreter in {shown}.",
        remedy="Give the PID of the Python server itself (`pgrep -af uvicorn`), or add "
        "--subprocesses when it is a launcher whose children run Python.",
        details=details,
    )


def _check_alive(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ProcessNotFoundError(
            f"No process has PID {pid}.",
            remedy="Check the PID (`pgrep -af uvicorn`) and that the server is still up.",
        ) from None
    except PermissionError:
        pass  # it exists, owned by another user: py-spy will say whether it may read it


def _command_line(pid: int) -> str:
    """The target's command line (Linux /proc; "" elsewhere or when unreadable)."""
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    return ""


def _process_name(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text(errors="replace").strip()
    return ""
