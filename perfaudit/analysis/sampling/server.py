"""Which server, event loop and HTTP parser a live process ran, read from its frames; and
which rules cannot run from samples alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfaudit.model import SamplingRun, Session
from perfaudit.model.session import Loop

# (what, value, file fragments of frames that show it)
SERVERS = (("uvicorn", "/uvicorn/"), ("gunicorn", "/gunicorn/"), ("hypercorn", "/hypercorn/"))
PROTOCOLS = (
    ("h11", "/uvicorn/protocols/http/h11_impl.py"),
    ("httptools", "/uvicorn/protocols/http/httptools_impl.py"),
)
ASYNCIO_LOOP = ("/asyncio/base_events.py", "/selectors.py")


@dataclass(frozen=True, slots=True)
class ServerStack:
    server: str  # "uvicorn" | "gunicorn" | "hypercorn" | "" (not seen)
    loop: Loop | Literal[""]  # "": not seen
    http: str  # "h11" | "httptools" | ""


def server_stack(run: SamplingRun) -> ServerStack:
    files = {f.file for p in run.processes for t in p.threads for s in t.stacks for f in s.frames}
    loop_files = {
        f.file
        for p in run.processes
        for t in p.threads
        if t.role == "loop"
        for s in t.stacks
        for f in s.frames
    }
    return ServerStack(
        server=next((name for name, part in SERVERS if _any(files, part)), ""),
        loop=_loop(loop_files),
        http=next((name for name, suffix in PROTOCOLS if _any(files, suffix)), ""),
    )


def _loop(files: set[str]) -> Loop | Literal[""]:
    """asyncio's loop is Python: its frames sit under every callback. uvloop's is C code
    (no frames, unless py-spy ran with --native): a loop thread without asyncio's loop
    frames runs it."""
    if not files:
        return ""
    if _any(files, "/uvloop/"):
        return "uvloop"
    return "asyncio" if any(_any(files, part) for part in ASYNCIO_LOOP) else "uvloop"


def _any(files: set[str], part: str) -> bool:
    return any(part in file for file in files)


# Rules whose evidence only an in-process run records: from samples they find nothing.
IN_PROCESS_ONLY = {
    "n-plus-one-queries": "needs the SQL statements an in-process run records",
    "missing-index": "needs the SQL statements and their query plans, recorded in-process",
    "cacheable-call": "needs the calls' argument fingerprints, traced in-process",
    "middleware-overhead": "needs the route timed with and without its middleware, in-process",
    "trivial-sync-route": "needs the thread hop timed in-process",
    "client-per-request": "needs calls per request, which samples do not count",
    "per-request-setup": "needs calls per request, which samples do not count",
}
# Rules that read per-request latency: they need perfaudit's own load at the server,
# measured under the same route names as the samples (give --app for that).
NEED_LOAD = {
    "cpu-hotspot": "needs each route's latency: drive load at the server (with --app)",
    "slow-serialization": "needs each route's latency: drive load at the server (with --app)",
    "sync-logging": "needs each route's latency: drive load at the server (with --app)",
    "route-errors": "needs perfaudit's own requests to the server",
}


def rules_not_run_from_samples(session: Session) -> dict[str, str]:
    """Rule id → why it found nothing on this attach session, for the report to say so."""
    measured = {m.route for m in session.measurements}
    profiled = {p.route for p in session.profiles}
    missing = dict(IN_PROCESS_ONLY)
    if not measured & profiled:
        missing.update(
            NEED_LOAD
            if not measured
            else {k: v for k, v in NEED_LOAD.items() if k != "route-errors"}
        )
    return missing
