"""Attach `--verify`'s experiments to the findings they test, and decide what counts as a
gain: a ratio within the machine's noise is "no measurable gain", never a win."""

from __future__ import annotations

from dataclasses import replace

from perfaudit.analysis.findings import Finding, MeasuredGain
from perfaudit.model import Experiment

# Throughput with the change ÷ without, median over round pairs, at or above which the
# change counts as a gain, provided every round pair agreed (its lowest ratio above 1).
MIN_GAIN = 1.15


def verdict(experiment: Experiment) -> str:
    if experiment.outcome != "measured":
        return experiment.outcome
    agreed = experiment.ratio_low > 1.0
    return "gain" if experiment.ratio_median >= MIN_GAIN and agreed else "no-gain"


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
    spread = f"{gain.ratio_low:.2f}–{gain.ratio_high:.2f}× over {gain.rounds} rounds"
    at = f" at concurrency {gain.concurrency}" if gain.concurrency > 1 else ""
    if gain.gain:
        return f"{numbers}: {_times(gain.ratio)} more requests/s{at} with {gain.change} ({spread})"
    return f"no measurable gain with {gain.change}{at}: {numbers} ({spread})"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
