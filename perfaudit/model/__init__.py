"""The neutral data every stage exchanges. Imports only the standard library."""

from perfaudit.model.evidence import (
    CallEvidence,
    CallRecord,
    DatabaseEvidence,
    MiddlewareEvidence,
    RouteEvidence,
    StatementShape,
)
from perfaudit.model.probes import (
    LoopEvidence,
    RouteProbe,
    SampledStack,
    StackFrame,
    ThreadpoolEvidence,
)
from perfaudit.model.profile import CallerStats, FunctionId, FunctionStats, RouteProfile
from perfaudit.model.requests import (
    CodeLocation,
    ErrorSample,
    RouteKey,
    RouteMeasurement,
    RunSettings,
    SkippedRoute,
)
from perfaudit.model.session import Environment, Session, SessionFormatError

__all__ = [
    "CallEvidence",
    "CallRecord",
    "CallerStats",
    "CodeLocation",
    "DatabaseEvidence",
    "Environment",
    "ErrorSample",
    "FunctionId",
    "FunctionStats",
    "LoopEvidence",
    "MiddlewareEvidence",
    "RouteEvidence",
    "RouteKey",
    "RouteMeasurement",
    "RouteProbe",
    "RouteProfile",
    "RunSettings",
    "SampledStack",
    "Session",
    "SessionFormatError",
    "SkippedRoute",
    "StackFrame",
    "StatementShape",
    "ThreadpoolEvidence",
]
