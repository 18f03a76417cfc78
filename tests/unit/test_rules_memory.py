"""memory-growth and allocation-heavy, on hand-built memory phases: the line and the
container named, severities from the numbers, and what must not be reported (settled
caches, small noise, bounded containers, a page built of the whole)."""

from __future__ import annotations

import dataclasses

from memory_builders import (
    CLEAN,
    HISTORY,
    LEAK,
    MIB,
    leaky_memory,
    memory_session,
    route_memory,
    site,
)

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.report import build_report
from perfaudit.analysis.rules.allocation_heavy import RULE as ALLOCATION_HEAVY
from perfaudit.analysis.rules.memory_growth import RULE as MEMORY_GROWTH
from perfaudit.model import RouteMemory, RssSeries, SamplingRun


def growth(*memory: RouteMemory) -> list[Finding]:
    return list(MEMORY_GROWTH.check(AnalysisContext(memory_session(memory))))


def heavy(*memory: RouteMemory) -> list[Finding]:
    return list(ALLOCATION_HEAVY.check(AnalysisContext(memory_session(memory))))


def test_a_leak_names_its_line_and_the_list_that_keeps_it() -> None:
    [finding] = growth(leaky_memory(), route_memory(CLEAN))
    assert finding.route == "GET /leak"
    assert finding.location is not None
    assert (finding.location.file, finding.location.line) == ("app/leaky.py", 12)
    assert finding.evidence["kept_in"] == "app.leaky.HISTORY"
    assert finding.evidence["retained_kb_per_1k_requests"] == 50_000
    assert "HISTORY" in finding.title and "50.0 KiB per request" in finding.title
    assert "deque(maxlen=1000)" in finding.suggestion


def test_severity_follows_a_day_at_the_measured_rate() -> None:
    # unit_builders measures 100 requests in 2 s: 50 requests/s.
    def severity(retained: float) -> Severity:
        memory = route_memory(LEAK, retained_per_request=retained, containers=(HISTORY,))
        [finding] = growth(memory)
        return finding.severity

    assert severity(50 * 1024) is Severity.HIGH  # 206 GiB a day
    assert severity(1024) is Severity.HIGH  # 4.1 GiB a day
    assert severity(100) is Severity.MEDIUM  # 412 MiB a day


def test_small_growth_without_a_container_is_noise() -> None:
    # sqlite3's weak references to cursors: ~100 bytes per request, pruned every 200.
    assert growth(route_memory(LEAK, retained_per_request=180, growth_sites=(site(9, 180),))) == []
    assert growth(route_memory(LEAK, retained_per_request=4096, growth_sites=(site(9, 4096),)))


def test_a_bounded_container_is_reported_only_if_full_it_would_matter() -> None:
    small = dataclasses.replace(HISTORY, type_name="deque", bound=10_000)
    memory = route_memory(LEAK, retained_per_request=73, containers=(small,))
    assert growth(memory) == []  # 10,000 items of 73 bytes: 0.7 MiB
    large = dataclasses.replace(HISTORY, type_name="deque", bound=100_000)
    memory = route_memory(LEAK, retained_per_request=50 * 1024, containers=(large,))
    [finding] = growth(memory)
    assert "bound of 100,000" in finding.suggestion


def test_an_unbounded_cache_gets_a_maxsize() -> None:
    cache = dataclasses.replace(
        HISTORY, name="app.leaky.lookup()", kind="lru_cache", type_name="lru_cache"
    )
    memory = route_memory(LEAK, retained_per_request=2048, containers=(cache,))
    [finding] = growth(memory)
    assert "maxsize=1024" in finding.suggestion


def test_an_unnamed_holder_still_gets_the_line() -> None:
    memory = route_memory(
        LEAK, retained_per_request=8192, growth_sites=(site(12, 8192, halves=(1, 1)),)
    )
    [finding] = growth(memory)
    assert "kept_in" not in finding.evidence
    assert "gc.get_referrers" in finding.suggestion


def test_a_route_without_growth_is_clean() -> None:
    assert growth(route_memory(CLEAN)) == []
    no_growth_phase = dataclasses.replace(leaky_memory(), requests=0)
    assert growth(no_growth_phase) == []


def test_a_page_built_from_the_whole_is_allocation_heavy() -> None:
    memory = route_memory(LEAK, peak_bytes=20 * MIB, response_bytes=450)
    [finding] = heavy(memory)
    assert finding.severity is Severity.MEDIUM  # 20 MiB: medium from 8, high from 64
    assert finding.location is not None and finding.location.function == "build_page"
    assert finding.evidence["peak_bytes_per_request"] == 20 * MIB
    assert "LIMIT" in finding.suggestion
    big = route_memory(LEAK, peak_bytes=80 * MIB, response_bytes=450)
    assert heavy(big)[0].severity is Severity.HIGH


def test_a_big_response_or_a_small_peak_is_not_allocation_heavy() -> None:
    assert heavy(route_memory(LEAK, peak_bytes=20 * MIB, response_bytes=2 * MIB)) == []
    assert heavy(route_memory(LEAK, peak_bytes=600 * 1024, response_bytes=10)) == []


def test_memory_findings_rank_a_leak_first_in_the_report() -> None:
    report = build_report(memory_session((leaky_memory(), route_memory(CLEAN))))
    assert report.findings[0].id == "memory-growth"


def test_an_attached_process_growing_steadily_is_reported_without_a_line() -> None:
    mib = [int((60 + 2 * i) * MIB) for i in range(40)]  # 4 MiB/s for 20 s
    flat = [int(60 * MIB + (i % 3) * 200_000) for i in range(40)]
    sampling = SamplingRun(
        tool="py-spy",
        pid=41,
        rate_hz=100,
        duration_s=20.0,
        idle_included=True,
        native=False,
        processes=(),
        memory=(RssSeries(41, 0.5, tuple(mib)), RssSeries(42, 0.5, tuple(flat))),
    )
    session = dataclasses.replace(memory_session(()), sampling=sampling)
    [finding] = MEMORY_GROWTH.check(AnalysisContext(session))
    assert finding.evidence["pid"] == 41
    assert finding.location is None
    assert "perfaudit profile" in finding.suggestion
