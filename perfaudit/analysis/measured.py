"""Attach `--verify`'s experiments to the findings they test, and decide what counts as a
gain: a ratio within the machine's noise is "no measurable gain", never a win."""

from __future__ import annotations

import math
from dataclasses import replace

from perfaudit.analysis.findings import Finding, MeasuredGain, Severity, Verdict
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
# A change measured to remove this share of each request's time is at least this severe
# (cpu-hotspot's shares): an index graded MEDIUM from its estimate that measured 6× more
# requests/s is HIGH.
MEASURED_GRADES = ((Severity.HIGH, 0.5), (Severity.MEDIUM, 0.25))


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
        metric=experiment.metric,
        others_p50_before_ms=experiment.others_p50_before_ms,
        others_p50_after_ms=experiment.others_p50_after_ms,
    )


def key_of(finding_id: str, route: str | None, function: str | None) -> tuple[str, str, str]:
    return finding_id, route or "", function or ""


def attach_measured(findings: list[Finding], experiments: tuple[Experiment, ...]) -> list[Finding]:
    """Each finding with the experiment run for its id, route and function; a measured
    gain can raise its severity (never lower it: no gain at one concurrency is no proof)."""
    if not experiments:
        return findings
    by_key = {key_of(e.finding_id, e.route, e.function): e for e in experiments}
    attached = []
    for finding in findings:
        function = finding.location.function if finding.location else None
        experiment = by_key.get(key_of(finding.id, finding.route, function))
        if experiment is None:
            attached.append(finding)
            continue
        gain = measured_gain(experiment)
        attached.append(replace(finding, measured=gain, severity=_measured_severity(finding, gain)))
    return attached


def _measured_severity(finding: Finding, gain: MeasuredGain) -> Severity:
    for severity, removed in MEASURED_GRADES:
        if gain.removed_share >= removed:
            return max(finding.severity, severity)
    return finding.severity


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
        f"{_ratio(gain.ratio_low)}–{_ratio(gain.ratio_high)}× over {gain.rounds} rounds, "
        f"{gain.rounds_faster} faster"
    )
    at = f" at concurrency {gain.concurrency}" if gain.concurrency > 1 else ""
    if gain.metric == "others-wait":
        return _describe_others(gain, numbers, spread, at)
    if gain.gain:
        return f"{numbers}: {_times(gain.ratio)} more requests/s{at} with {gain.change} ({spread})"
    return f"no measurable gain with {gain.change}{at}: {numbers} ({spread})"


def _describe_others(gain: MeasuredGain, numbers: str, spread: str, at: str) -> str:
    """What the finding claims: another request waits while the route blocks the loop."""
    waits = (
        f"another request waited {gain.others_p50_before_ms:.1f} ms → "
        f"{gain.others_p50_after_ms:.1f} ms (p50)"
    )
    if gain.gain:
        return (
            f"{waits}: {_times(gain.ratio)} less{at} with {gain.change} "
            f"({spread}; the route itself: {numbers})"
        )
    return f"no measurable gain with {gain.change}{at}: {waits} ({spread}; the route: {numbers})"


def _ratio(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2f}"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
