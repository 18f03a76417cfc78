"""A Session holds the raw facts of one run. It is saved as versioned JSON so a later
perfaudit can analyse it again without re-running the app."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from perfaudit.model.codec import from_jsonable, to_jsonable
from perfaudit.model.evidence import RouteEvidence
from perfaudit.model.experiments import Experiment
from perfaudit.model.load import LoadSummary
from perfaudit.model.memory import RouteMemory
from perfaudit.model.probes import RouteProbe
from perfaudit.model.profile import RouteProfile
from perfaudit.model.requests import (
    RouteDeclaration,
    RouteMeasurement,
    RunSettings,
    SkippedRoute,
)
from perfaudit.model.samples import SamplingRun

# `stopped_early` of a run the user stopped (Ctrl-C); `Session.interrupted` says it typed.
INTERRUPTED = "interrupted (Ctrl-C)"
Mode = Literal["profile", "attach", "load", "ci", "view"]  # view: a file shown as a report
Loop = Literal["asyncio", "uvloop", "gevent"]  # gevent: Locust's client
SESSION_FORMAT = "perfaudit-session"
SESSION_VERSION = 1


class SessionFormatError(ValueError):
    """The file is not a perfaudit session this version can read."""


@dataclass(frozen=True, slots=True)
class DeclaredServer:
    """The requirement that installs uvicorn in the app's dependency file, and whether that
    file also brings uvloop and httptools (uvicorn[standard], fastapi[standard], or by name)."""

    file: str  # relative to the app's root: "requirements.txt", "pyproject.toml"
    requirement: str  # as written: "uvicorn==0.30.1"
    uvloop: bool
    httptools: bool


@dataclass(frozen=True, slots=True)
class Environment:
    python: str
    implementation: str
    platform: str
    loop: Loop  # the event loop the run used
    packages: dict[str, str]  # fastapi, starlette, pydantic, anyio, uvloop, httptools…
    # What the app's own dependency file installs to serve it (the deployed image's
    # packages, which may differ from the ones this run had); None when no file says.
    declared: DeclaredServer | None = None
    # In-process runs: the interpreter that ran the app (the agent's), e.g. /app/.venv/bin/python.
    interpreter: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    target: str
    mode: Mode
    started_at: str  # ISO 8601, UTC
    tool_version: str
    app_root: str  # file paths of the app are shown relative to this
    environment: Environment
    settings: RunSettings
    measurements: tuple[RouteMeasurement, ...]
    profiles: tuple[RouteProfile, ...]
    skipped: tuple[SkippedRoute, ...] = ()
    probes: tuple[RouteProbe, ...] = ()
    evidence: tuple[RouteEvidence, ...] = ()
    # Why the run ended early ("interrupted", "handler hung the event loop", …), or "".
    stopped_early: str = ""
    notes: tuple[str, ...] = field(default=())
    load: LoadSummary | None = None  # `perfaudit load`: how the server was driven
    sampling: SamplingRun | None = None  # `perfaudit attach`: what py-spy recorded
    # `--verify`: each finding's suggested change measured in memory.
    experiments: tuple[Experiment, ...] = ()
    # The user stopped the run (Ctrl-C): the commands exit 130 with the partial report.
    interrupted: bool = False
    # In-process runs: how the app declares each driven route (its route table).
    declarations: tuple[RouteDeclaration, ...] = ()
    # The server stopped answering mid-run (load, attach --load): the commands exit 3 with
    # the partial report.
    server_gone: bool = False
    # In-process runs: the memory phase of each route (tracemalloc; none with --no-memory).
    memory: tuple[RouteMemory, ...] = ()

    def to_json(self) -> str:
        document = {"format": SESSION_FORMAT, "version": SESSION_VERSION, **to_jsonable(self)}
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Session:
        try:
            document: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SessionFormatError(f"not JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(document, dict) or document.get("format") != SESSION_FORMAT:
            raise SessionFormatError("not a perfaudit session file")
        if document.get("version") != SESSION_VERSION:
            raise SessionFormatError(
                f"session version {document.get('version')} (this perfaudit reads "
                f"version {SESSION_VERSION})"
            )
        try:
            return from_jsonable(cls, document)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise SessionFormatError(f"malformed session ({exc})") from exc
