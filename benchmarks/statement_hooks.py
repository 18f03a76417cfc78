"""What perfaudit's statement hooks add to each query, beside what cProfile adds.

Why: in the profiled phase perfaudit times every statement at the driver (asyncpg's and
psycopg's methods patched, SQLAlchemy's events) while cProfile runs. The hooks must cost
little beside the profiler, or they would shift the profile they annotate. This script
starts a private PostgreSQL (tests/postgres.py), and in one process runs the same small
query (`SELECT $1::int`, a round trip to the server) many times in alternating rounds:
with nothing attached, with the hooks recording, with cProfile, and with both. It prints
the median time per query of each and the ratios to nothing attached, per driver.

    .venv/bin/python benchmarks/statement_hooks.py            # asyncpg and psycopg
    .venv/bin/python benchmarks/statement_hooks.py --queries 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfaudit.agent.capture.database import DatabaseCollector  # noqa: E402
from tests.postgres import postgres  # noqa: E402

SIDES = ("nothing", "hooks", "cProfile", "cProfile + hooks")
Run = Callable[[int], Awaitable[None]]


async def asyncpg_queries(url: str) -> tuple[Run, Callable[[], Awaitable[None]]]:
    import asyncpg

    conn = await asyncpg.connect(url)

    async def run(count: int) -> None:
        for i in range(count):
            await conn.fetchval("SELECT $1::int", i)

    return run, conn.close


async def psycopg_queries(url: str) -> tuple[Run, Callable[[], Awaitable[None]]]:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def run(count: int) -> None:
        for i in range(count):
            cursor = await conn.execute("SELECT %s::int", (i,))
            await cursor.fetchone()

    return run, conn.close


async def timed(run: Run, side: str, queries: int, collector: DatabaseCollector) -> float:
    """Seconds per query of one round on `side`."""
    profiler = cProfile.Profile() if "cProfile" in side else None
    if "hooks" in side:
        collector.start()
    if profiler is not None:
        profiler.enable()
    started = perf_counter()
    await run(queries)
    elapsed = perf_counter() - started
    if profiler is not None:
        profiler.disable()
    if "hooks" in side:
        collector.stop(1)  # no EXPLAIN: `SELECT $1` has no WHERE
    return elapsed / queries


async def measure(driver: str, url: str, queries: int, rounds: int) -> dict[str, float]:
    make = asyncpg_queries if driver == "asyncpg" else psycopg_queries
    run, close = await make(url)
    collector = DatabaseCollector()
    try:
        await run(200)  # warm up: connection, statement cache
        per_side: dict[str, list[float]] = {side: [] for side in SIDES}
        for round_number in range(rounds):
            order = SIDES[round_number % 4 :] + SIDES[: round_number % 4]
            for side in order:
                per_side[side].append(await timed(run, side, queries, collector))
        return {side: statistics.median(times) for side, times in per_side.items()}
    finally:
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--queries", type=int, default=1000, help="per round (1000)")
    parser.add_argument("--rounds", type=int, default=5, help="per side (5)")
    args = parser.parse_args()
    with postgres() as server:
        url = server.url()
        for driver in ("asyncpg", "psycopg"):
            medians = asyncio.run(measure(driver, url, args.queries, args.rounds))
            base = medians["nothing"]
            print(f"{driver}: `SELECT $1::int` over a local socket, {args.rounds} rounds")
            for side in SIDES:
                print(
                    f"  {side:<17} {medians[side] * 1e6:8.1f} µs per query   "
                    f"{medians[side] / base:5.2f}× nothing"
                )
            hooks_alone = (medians["hooks"] - base) * 1e6
            beside = medians["cProfile + hooks"] / medians["cProfile"]
            print(f"  the hooks add {hooks_alone:.1f} µs per query; {beside:.2f}× cProfile alone")


if __name__ == "__main__":
    main()
