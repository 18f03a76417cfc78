"""From py-spy's samples of a live server (`perfaudit attach`) to what the rules read:
per-route profiles, the event loop's and the threadpool's activity, and the server's
loop and HTTP parser."""

from perfaudit.analysis.sampling.concurrency import (
    DEFAULT_TOKENS,
    SampledBlocking,
    WorkerLoad,
    loop_activity,
    loop_blocking,
    worker_load,
)
from perfaudit.analysis.sampling.profiles import PROFILER, route_profiles, route_stacks
from perfaudit.analysis.sampling.routes import RouteNames, route_names, stand_in
from perfaudit.analysis.sampling.server import (
    ServerStack,
    server_stack,
)
from perfaudit.analysis.sampling.stacks import (
    StackWork,
    ThreadActivity,
    read_stack,
    thread_activity,
)

__all__ = [
    "DEFAULT_TOKENS",
    "PROFILER",
    "RouteNames",
    "SampledBlocking",
    "ServerStack",
    "StackWork",
    "ThreadActivity",
    "WorkerLoad",
    "loop_activity",
    "loop_blocking",
    "read_stack",
    "route_names",
    "route_profiles",
    "route_stacks",
    "server_stack",
    "stand_in",
    "thread_activity",
    "worker_load",
]
