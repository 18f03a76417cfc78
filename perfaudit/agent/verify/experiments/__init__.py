"""One module per experiment, each named after the finding it tests."""

from __future__ import annotations

from perfaudit.agent.verify.base import ExperimentKind
from perfaudit.agent.verify.experiments import (
    cacheable_call,
    client_per_request,
    default_event_loop,
    event_loop_blocked,
    missing_index,
    per_request_setup,
    threadpool_saturation,
)

EXPERIMENTS: tuple[ExperimentKind, ...] = (
    cacheable_call.EXPERIMENT,
    client_per_request.EXPERIMENT,
    default_event_loop.EXPERIMENT,
    event_loop_blocked.EXPERIMENT,
    missing_index.EXPERIMENT,
    per_request_setup.EXPERIMENT,
    threadpool_saturation.EXPERIMENT,
)
