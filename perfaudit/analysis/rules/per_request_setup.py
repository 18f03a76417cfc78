"""per-request-setup: settings, regexes, templates, type adapters or config files are built
again in every request (or dependency) instead of once."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext, RouteView
from perfaudit.analysis.findings import Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import Needs
from perfaudit.analysis.setups import SetupSite, setup_sites

# (severity, minimum share of route time, minimum ms per request). Lower in ms than
# cpu-hotspot's: the fix is one line and the work is pure waste.
GRADES = ((Severity.HIGH, 0.3, 1.0), (Severity.MEDIUM, 0.1, 0.2), (Severity.LOW, 0.02, 0.05))


class PerRequestSetup:
    id = "per-request-setup"
    needs = Needs(in_process="needs calls per request, which samples do not count")
    title = "Settings, templates, regexes or adapters are rebuilt on every request"
    explanation = (
        "Objects that depend on nothing in the request — settings read from the environment "
        "and a .env file (pydantic-settings), pydantic TypeAdapters, jinja2 environments and "
        "their compiled templates, compiled regexes, parsed config files (JSON, YAML, TOML), "
        "models loaded from disk — are built again in every request or dependency. The "
        "profiled phase counts their constructions per request, their share of the route's "
        "time, and the app function that makes them.\n\n"
        "Example: the `get_settings()` dependency returns `Settings()` without "
        "`@lru_cache`: GET /features builds a BaseSettings and reads .env on every request, "
        "1.0 per request and 85% of the route's time. Decorate get_settings with "
        "`@functools.lru_cache` (FastAPI's settings pattern), or build the settings once in "
        "the lifespan."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.profile is None or view.profile.request_time_s <= 0:
                continue
            for site in setup_sites(view.profile):
                finding = self._finding(ctx, view, site)
                if finding is not None:
                    yield finding

    def _finding(self, ctx: AnalysisContext, view: RouteView, site: SetupSite) -> Finding | None:
        profile = view.profile
        assert profile is not None
        built = site.constructor
        share = min(built.cumulative_s / profile.request_time_s, 1.0)
        gain_ms = view.share_ms(share)
        grading = Grading(share, gain_ms, GRADES)
        severity = grading.severity
        if severity is None:
            return None
        per_request = built.calls / profile.requests
        location = ctx.location(site.caller)
        where = f"{location.function}()"
        return Finding(
            id=self.id,
            severity=severity,
            grading=grading,
            title=f"{where} builds a {site.setup.label} on every request to {view.route} "
            f"({per_request:.1f} per request, {share:.0%} of its time)",
            route=str(view.route),
            location=location,
            evidence={
                "built": site.setup.label,
                "constructions_per_request": round(per_request, 2),
                "ms_per_construction": round(gain_ms / per_request, 3),
                "share_of_route_time": round(share, 4),
                "ms_per_request": round(gain_ms, 3),
                "profiled_requests": profile.requests,
            },
            suggestion=f"In {where} (line {location.line}): {site.setup.advice}.",
            estimated_gain=Gain(latency_ms=round(gain_ms, 3), share=round(share, 4)),
            impact=share,
            confidence=0.9,
            # The construction is the work a hotspot at the same function would report.
            supersedes=("cpu-hotspot",),
        )


RULE = PerRequestSetup()
