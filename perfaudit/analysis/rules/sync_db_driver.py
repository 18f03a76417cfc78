"""sync-db-driver: a synchronous database driver (sqlite3, psycopg2, pymysql, sync
SQLAlchemy) runs its queries on the event loop thread."""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.blocking import BlockingSite, significant_blocking
from perfaudit.analysis.blocking_evidence import blocking_evidence, sampled_evidence
from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import HALF_IS_HIGH, Finding, Gain, Grading, Severity
from perfaudit.analysis.needs import SAMPLES_SUFFICE
from perfaudit.analysis.sampling import loop_blocking
from perfaudit.model import CodeLocation


class SyncDbDriver:
    id = "sync-db-driver"
    needs = SAMPLES_SUFFICE
    title = "A synchronous database driver runs on the event loop"
    explanation = (
        "A query through a synchronous driver (sqlite3, psycopg2, pymysql, a sync SQLAlchemy "
        "Session) inside `async def` blocks the event loop for the whole round trip. The "
        "probe phase's watchdog catches the loop thread inside the query, and the profiled "
        "phase shows the driver's calls from that function.\n\n"
        "Example: `search_products` runs a LIKE query with sqlite3 in GET /products/search: "
        "the loop is blocked 90% of the time at 8 concurrent requests. Use an async driver "
        "(aiosqlite; asyncpg or SQLAlchemy's create_async_engine with AsyncSession), or make "
        "the route `def` so the query runs in the threadpool."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for view in ctx.routes:
            if view.probe is None:
                continue
            for blocking in significant_blocking(view.probe, view.profile, ctx.session.app_root):
                site, share, per_request_ms = blocking.site, blocking.share, blocking.ms_per_request
                if site.kind == "db":
                    evidence = blocking_evidence(view, site, share, per_request_ms)
                    yield self._finding(site, str(view.route), share, per_request_ms, evidence)
        for sampled in loop_blocking(ctx.session):  # attach: py-spy's samples of the loop
            if sampled.site.kind == "db":
                yield self._finding(
                    sampled.site,
                    str(sampled.route),
                    sampled.share,
                    sampled.ms_per_request,
                    sampled_evidence(sampled),
                    of="of the recording",
                )

    def _finding(
        self,
        site: BlockingSite,
        route: str,
        share: float,
        per_request_ms: float | None,
        evidence: dict[str, float | int | str],
        *,
        of: str = "of the time under load",
    ) -> Finding:
        held = (
            f"Each query holds the loop for about {per_request_ms:.0f} ms"
            if per_request_ms is not None
            else f"The loop was inside these queries {share:.0%} of the recording"
        )
        grading = Grading(share, 0.0, HALF_IS_HIGH)
        return Finding(
            id=self.id,
            severity=grading.severity or Severity.MEDIUM,
            grading=grading,
            title=f"{site.function}() queries the database synchronously on the event "
            f"loop in {route}: {share:.0%} {of}",
            route=route,
            location=CodeLocation(site.file, site.line, site.function),
            evidence=evidence,
            suggestion=(
                f"{held} (line {site.line}: `{site.code}`). Use an async driver — aiosqlite for "
                "SQLite, asyncpg for PostgreSQL, aiomysql for MySQL, or SQLAlchemy's "
                "create_async_engine with AsyncSession — and await the query; or make "
                "the route `def` so FastAPI runs it in the threadpool. If the query "
                "itself is slow, look at its plan too (an index may remove most of it)."
            ),
            estimated_gain=Gain(latency_ms=round(per_request_ms, 3), share=round(share, 4))
            if per_request_ms is not None
            else None,
            impact=share,
            confidence=0.9,
            supersedes=("cpu-hotspot", "event-loop-blocked"),
        )


RULE = SyncDbDriver()
