"""Which server, event loop and HTTP parser a live process ran, read from its frames; and
which rules cannot run from samples alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfaudit.model import SamplingRun
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
