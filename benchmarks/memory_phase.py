"""What tracemalloc costs, and what the memory phase adds to a run.

Why: tracemalloc records a traceback for every allocation, which slows a request several
times over. That is why the memory phase runs after every latency is measured, never
during it, and why it is time-boxed per route. This script drives sample routes in one
process through perfaudit's in-process driver, in alternating rounds: untraced, and
traced at 1, TRACEBACK_DEPTH and 16 frames. It prints the median time per request of each
and the ratios to untraced, then each route's whole memory phase (measure_memory) wall time.

    .venv/bin/python benchmarks/memory_phase.py
    .venv/bin/python benchmarks/memory_phase.py --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tracemalloc
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfaudit.agent.capture.memory import TRACEBACK_DEPTH  # noqa: E402
from perfaudit.agent.driver import InProcessDriver  # noqa: E402
from perfaudit.agent.lifespan import Lifespan  # noqa: E402
from perfaudit.agent.memory_phase import measure_memory  # noqa: E402
from perfaudit.load.plan import RequestSpec  # noqa: E402
from perfaudit.model import RouteKey  # noqa: E402
from perfaudit.progress import NoProgress  # noqa: E402

# (module, path, requests per round): a trivial route, a CPU-bound one, the leak, and the
# 20 MB list (fewer requests: traced, one takes about a second).
ROUTES = (
    ("sample_apps.clean", "/items", 200),
    ("sample_apps.pricing", "/quotes/featured", 10),
    ("sample_apps.history", "/reports/1", 50),
    ("sample_apps.search", "/search", 2),
)
SIDES = ("untraced", "depth 1", f"depth {TRACEBACK_DEPTH}", "depth 16")


async def per_request(
    driver: InProcessDriver, request: RequestSpec, count: int, depth: int
) -> float:
    if depth:
        tracemalloc.start(depth)
    try:
        started = perf_counter()
        await driver.run(request, count=count)
        return (perf_counter() - started) / count
    finally:
        if depth:
            tracemalloc.stop()


async def bench(module: str, path: str, count: int, rounds: int) -> None:
    app = importlib.import_module(module).app
    lifespan = Lifespan(app)
    await lifespan.startup()  # the pricing app's catalogue comes from it
    driver = InProcessDriver(app, state=lifespan.state)
    request = RequestSpec("GET", path)
    await driver.run(request, count=max(count // 5, 2))  # warm-up
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for _ in range(rounds):
        for side, depth in zip(SIDES, (0, 1, TRACEBACK_DEPTH, 16), strict=True):
            times[side].append(await per_request(driver, request, count, depth))
    base = statistics.median(times["untraced"])
    cells = [
        f"{statistics.median(times[s]) * 1000:9.2f} ms ×{statistics.median(times[s]) / base:5.1f}"
        for s in SIDES
    ]
    started = perf_counter()
    memory = await measure_memory(
        driver, request, RouteKey("GET", path), app=app, progress=NoProgress()
    )
    phase_s = perf_counter() - started
    await lifespan.shutdown()
    print(
        f"{module}:{path:<18}"
        + "".join(f"{c:>22}" for c in cells)
        + f"{phase_s:9.1f} s  ({memory.requests} growth requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'route':<38}" + "".join(f"{s:>22}" for s in SIDES) + f"{'memory phase':>22}")
    for module, path, count in ROUTES:
        asyncio.run(bench(module, path, count, args.rounds))


if __name__ == "__main__":
    main()
