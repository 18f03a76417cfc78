"""What `--verify` measured: a finding's suggested change applied in memory, the route
measured without and with it in interleaved rounds. Raw facts only (the analysis decides
what counts as a gain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["measured", "refused", "changes-behaviour", "failed"]
# What the ratios compare: the route's own requests/s, or (for a finding about what other
# requests wait, event-loop-blocked) how long a cheap unrelated request waited meanwhile.
Metric = Literal["throughput", "others-wait"]


@dataclass(frozen=True, slots=True)
class Experiment:
    finding_id: str  # the finding it tests: matched by id, route and function
    route: str  # "GET /quotes"
    function: str  # the finding's location function ("" when it has none)
    change: str  # what was changed, in words: "`rate_table` memoised"
    outcome: Outcome
    reason: str = ""  # why refused, failed, or what behaviour changed
    concurrency: int = 1
    rounds: int = 0  # per side
    requests_per_round: int = 0
    p50_before_ms: float = 0.0
    p50_after_ms: float = 0.0
    rps_before: float = 0.0
    rps_after: float = 0.0
    # Per round pair: throughput with the change ÷ without (others-wait: the other
    # request's wait without ÷ with); their median and extremes.
    ratio_median: float = 0.0
    ratio_low: float = 0.0
    ratio_high: float = 0.0
    rounds_faster: int = 0  # round pairs in which the change did better
    details: tuple[str, ...] = ()  # e.g. a query plan before and after
    metric: Metric = "throughput"
    others_p50_before_ms: float = 0.0  # others-wait: the unrelated request's median wait
    others_p50_after_ms: float = 0.0
