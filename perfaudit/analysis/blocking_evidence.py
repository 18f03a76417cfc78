"""The evidence of a blocked event loop, from the probes (in-process) or from py-spy's samples:
shared by event-loop-blocked and sync-db-driver."""

from __future__ import annotations

from perfaudit.analysis.blocking import BlockingSite
from perfaudit.analysis.context import RouteView
from perfaudit.analysis.sampling import SampledBlocking
from perfaudit.analysis.signature import signature


def blocking_evidence(
    view: RouteView, site: BlockingSite, share: float, per_request_ms: float
) -> dict[str, float | int | str]:
    assert view.probe is not None
    return {
        "blocked_share": round(share, 4),
        "blocked_ms_per_request": round(per_request_ms, 2),
        "cpu_share_while_blocked": round(site.cpu_share, 3),
        "blocking_call": site.call,
        "kind": site.kind,
        **({"source_line": site.code} if site.code else {}),  # the app's frames keep it
        **signature(view.probe),
    }


def sampled_evidence(blocking: SampledBlocking) -> dict[str, float | int | str]:
    site = blocking.site
    evidence: dict[str, float | int | str] = {
        "blocked_share": round(blocking.share, 4),
        "samples": site.samples,
        "loop_samples": blocking.loop_samples,
        "loop_in_app_code_share": round(blocking.loop_app_share, 4),
        "blocking_call": site.call,
        "kind": site.kind,
        "source_line": site.code,
        "stack": blocking.stack,
    }
    if blocking.ms_per_request is not None:
        evidence["blocked_ms_per_request"] = round(blocking.ms_per_request, 2)
    return evidence
