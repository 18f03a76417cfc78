"""The neutral data every stage exchanges. Imports only the standard library."""

from perfaudit.model.calltree import rebuilt_stacks, roots
from perfaudit.model.evidence import (
    CallEvidence,
    CallRecord,
    DatabaseEvidence,
    MiddlewareEvidence,
    MiddlewareLayer,
    RouteEvidence,
    StatementShape,
)
from perfaudit.model.experiments import Experiment
from perfaudit.model.load import LoadSummary
from perfaudit.model.memory import AllocationSite, GrowingContainer, RouteMemory
from perfaudit.model.probes import (
    LoopEvidence,
    PoolEvidence,
    RouteProbe,
    SampledStack,
    StackFrame,
    ThreadpoolEvidence,
)
from perfaudit.model.profile import (
    NESTED_CODE,
    SAMPLED_PROFILER,
    CallerStats,
    FunctionId,
    FunctionStats,
    RouteProfile,
)
from perfaudit.model.requests import (
    DEFAULT_DB_RTT_MS,
    CodeLocation,
    ErrorSample,
    RouteDeclaration,
    RouteKey,
    RouteMeasurement,
    RunSettings,
    SkippedRoute,
)
from perfaudit.model.samples import (
    EndpointRoute,
    ProcessSamples,
    RssSeries,
    SamplingRun,
    ThreadSamples,
)
from perfaudit.model.session import (
    INTERRUPTED,
    DeclaredServer,
    Environment,
    Session,
    SessionFormatError,
)

__all__ = [
    "DEFAULT_DB_RTT_MS",
    "INTERRUPTED",
    "NESTED_CODE",
    "SAMPLED_PROFILER",
    "AllocationSite",
    "CallEvidence",
    "CallRecord",
    "CallerStats",
    "CodeLocation",
    "DatabaseEvidence",
    "DeclaredServer",
    "EndpointRoute",
    "Environment",
    "ErrorSample",
    "Experiment",
    "FunctionId",
    "FunctionStats",
    "GrowingContainer",
    "LoadSummary",
    "LoopEvidence",
    "MiddlewareEvidence",
    "MiddlewareLayer",
    "PoolEvidence",
    "ProcessSamples",
    "RouteDeclaration",
    "RouteEvidence",
    "RouteKey",
    "RouteMeasurement",
    "RouteMemory",
    "RouteProbe",
    "RouteProfile",
    "RssSeries",
    "RunSettings",
    "SampledStack",
    "SamplingRun",
    "Session",
    "SessionFormatError",
    "SkippedRoute",
    "StackFrame",
    "StatementShape",
    "ThreadSamples",
    "ThreadpoolEvidence",
    "rebuilt_stacks",
    "roots",
]
