"""Attach `--verify`'s experiments to the findings they test, and decide what counts as a
gain: a ratio within the machine's noise is "no measurable gain", never a win."""

from __future__ import annotations

import math
from dataclasses import replace

from perfaudit.analysis.findings import Finding, MeasuredGain, Verdict
from perfaudit.model import Experiment

# Throughput with the change ÷ without, per round pair. A gain needs all three:
# - enough pairs to judge agreement at all;
MIN_ROUNDS = 5
# - their median at or above this (a change that does nothing measures about 1);
MIN_GAIN = 1.15
# - and most pairs agreeing: one pair hit by a burst of machine noise (a 0.77× pair among
#   five at 5×) does not veto a gain, but a change that wins only half the time is noise.
#   With 6 pairs this asks for 5: by chance alone (a coin per pair) 7 times in 64.
MIN_AGREEING = 0.8


def verdict(experiment: Experiment) -> Verdict:
    if experiment.outcome != "measured":
        return experiment.outcome
    return (
        "gain"
        if is_gain(experiment.ratio_median, experiment.rounds, experiment.rounds_faster)
        else "no-gain"
    )


def is_gain(ratio_median: float, rounds: int, rounds_faster: int) -> bool:
    return (
        rounds >= MIN_ROUNDS
        and ratio_median >= MIN_GAIN
        and rounds_faster >= math.ceil(MIN_AGREEING * rounds)
    )


def measured_gain(experiment: Experiment) -> MeasuredGain:
    return MeasuredGain(
        change=experiment.change,
        verdict=verdict(experiment),
        reason=experiment.reason,
        concurrency=experiment.concurrency,
        rounds=experiment.rounds,
        p50_before_ms=experiment.p50_before_ms,
        p50_after_ms=experiment.p50_after_ms,
        rps_before=experiment.rps_before,
        rps_after=experiment.rps_after,
        ratio=experiment.ratio_median,
        ratio_low=experiment.ratio_low,
        ratio_high=experiment.ratio_high,
        rounds_faster=experiment.rounds_faster,
        details=experiment.details,
    )


def key_of(finding_id: str, route: str | None, function: str | None) -> tuple[str, str, str]:
    return finding_id, route or "", function or ""


def attach_measured(findings: list[Finding], experiments: tuple[Experiment, ...]) -> list[Finding]:
    """Each finding with the experiment run for its id, route and function."""
    if not experiments:
        return findings
    by_key = {key_of(e.finding_id, e.route, e.function): e for e in experiments}
    attached = []
    for finding in findings:
        function = finding.location.function if finding.location else None
        experiment = by_key.get(key_of(finding.id, finding.route, function))
        attached.append(
            replace(finding, measured=measured_gain(experiment)) if experiment else finding
        )
    return attached


def describe(gain: MeasuredGain) -> str:
    """One line for every renderer: "p50 52.1 ms → 2.9 ms, 18× more requests/s with …"."""
    if gain.verdict in ("refused", "failed", "changes-behaviour"):
        what = {
            "refused": "not tried",
            "failed": "the experiment failed",
            "changes-behaviour": "discarded: the change altered responses",
        }[gain.verdict]
        return f"{what} ({gain.reason})" if gain.reason else what
    numbers = (
        f"p50 {gain.p50_before_ms:.1f} ms → {gain.p50_after_ms:.1f} ms, "
        f"{gain.rps_before:.0f} → {gain.rps_after:.0f} requests/s"
    )
    spread = (
        f"{gain.ratio_low:.2f}–{gain.ratio_high:.2f}× over {gain.rounds} rounds, "
        f"{gain.rounds_faster} faster"
    )
    at = f" at concurrency {gain.concurrency}" if gain.concurrency > 1 else ""
    if gain.gain:
        return f"{numbers}: {_times(gain.ratio)} more requests/s{at} with {gain.change} ({spread})"
    return f"no measurable gain with {gain.change}{at}: {numbers} ({spread})"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
