"""What the concurrency probes cost: requests/second of one InProcessDriver phase on a
FastAPI app, with nothing attached, with cProfile, with cProfile and every probe, and with
the probes alone, interleaved in one run.

- none             the phase alone.
- cprofile         `perfaudit.agent.capture.tracing.TracingCollector` started before the phase
                   and stopped after it (on 3.11 it also profiles AnyIO's worker threads).
- cprofile+probes  the collector, plus the probe phase's instruments: `LoopWatchdog`
                   (heartbeat every 5 ms, a thread polling every 10 ms that samples the loop
                   and worker stacks), `LimiterSampler` (AnyIO's limiter every 10 ms) and the
                   probe request stream (`perfaudit.agent.probe_phase._probe_stream`: a request to
                   a 404 path every 20 ms).
- probes           the probe instruments without the collector.

The app has two routes doing the same ~1 ms of pure-Python work (calibrated at start-up):
`GET /work` is `async def` (runs on the loop), `GET /work-sync` is `def` (runs on a worker
thread, where the watchdog samples its stack and the sampler sees its token). Each phase is
the same `driver.run(count=N, concurrency=1)`. (At concurrency 1 the driver hands the loop
back every 20 ms, so on the `async def` route the heartbeat is late most of the time and the
watchdog reads the loop's stack at every poll: its most expensive case.)

Why: the probe phase runs without a profiler, so its figures (throughput under load, loop
lag, an unrelated request's latency) are only honest if the probes themselves cost little.
cProfile's cost is the yardstick perfaudit already accepts for its profiled phase (about 3×
on call-heavy code, DESIGN §2); the goal is that adding the probes keeps the phase within
1.5× of cProfile alone — time(cprofile+probes) / time(cprofile) ≤ 1.5 — and that the probes
alone cost little beside nothing attached. The machines are shared and noisy, so the modes
alternate within each round (their order rotating), a `gc.collect()` runs before each, and
every ratio is taken per round (phases a second or two apart) before the median.

    .venv/bin/python benchmarks/probe_overhead.py            # --requests 300 --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from perfaudit.agent.capture.threadpool import LimiterSampler
from perfaudit.agent.capture.tracing import PROFILER_SEES_ALL_THREADS, TracingCollector
from perfaudit.agent.capture.watchdog import LoopWatchdog
from perfaudit.agent.driver import InProcessDriver
from perfaudit.agent.probe_phase import PROBE_PATH, _probe_stream
from perfaudit.load.plan import RequestSpec

MODES = ("none", "cprofile", "cprofile+probes", "probes")
ROUTES = (("/work", "async def"), ("/work-sync", "def"))
WORK_MS = 1.0
WARMUP = 50


# -- the app ----------------------------------------------------------------------------------


def _rate(i: int) -> float:
    return (i % 7) * 0.5 + i * 0.001


def price_total(n: int) -> float:
    """Pure-Python work with a call per step: what cProfile is slowest on."""
    total = 0.0
    for i in range(n):
        total += _rate(i)
    return total


def calibrate(target_ms: float) -> int:
    """The `n` for which price_total(n) takes about target_ms on this machine, now."""
    n = 2000
    best = min(_timed(lambda: price_total(n)) for _ in range(7))
    return max(100, round(n * target_ms / 1000 / best))


def _timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def make_app(n: int) -> FastAPI:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, float]:
        return {"total": price_total(n)}

    @app.get("/work-sync")
    def work_sync() -> dict[str, float]:
        return {"total": price_total(n)}

    return app


# -- one phase under one mode -----------------------------------------------------------------


@dataclass
class Figures:
    rps: list[float] = field(default_factory=list)  # one per round
    detach_ms: list[float] = field(default_factory=list)  # stopping what was attached
    watchdog_cpu_ms: list[float] = field(default_factory=list)
    probe_requests: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


async def phase(
    driver: InProcessDriver, spec: RequestSpec, mode: str, n: int, out: Figures
) -> None:
    tracing = TracingCollector() if mode.startswith("cprofile") else None
    probes = mode.endswith("probes")
    watchdog, limiter, loaded = LoopWatchdog(), LimiterSampler(), list[float]()
    prober: asyncio.Task[None] | None = None
    if tracing is not None:
        tracing.start()
    if probes:
        watchdog.start()
        limiter.start()
        loop = asyncio.get_running_loop()
        prober = loop.create_task(_probe_stream(driver, RequestSpec("GET", PROBE_PATH), loaded))
    result = await driver.run(spec, count=n, concurrency=1)
    began = time.perf_counter()
    if prober is not None:
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
        limiter.stop()
        evidence, _ = watchdog.stop()
        out.watchdog_cpu_ms.append(evidence.watchdog_cpu_s * 1000)
        out.probe_requests.append(len(loaded))
    if tracing is not None:
        tracing.stop()
    out.detach_ms.append((time.perf_counter() - began) * 1000)
    out.rps.append(result.requests / result.wall_s)
    out.statuses.update(result.status_counts)


async def measure(
    driver: InProcessDriver, requests: int, rounds: int
) -> dict[str, dict[str, Figures]]:
    figures = {path: {mode: Figures() for mode in MODES} for path, _ in ROUTES}
    for path, _ in ROUTES:  # warm-up: imports, code paths, worker threads
        for mode in MODES:
            await phase(driver, RequestSpec("GET", path), mode, WARMUP, Figures())
    for r in range(rounds):
        for path, _ in ROUTES:
            spec = RequestSpec("GET", path)
            order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
            for mode in order:
                gc.collect()
                await phase(driver, spec, mode, requests, figures[path][mode])
    return figures


# -- report -----------------------------------------------------------------------------------


def paired(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


def summary(ratios: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return (
        f"{statistics.median(ratios):.2f}  (per-round quartiles {q1:.2f}-{q3:.2f}, "
        f"min-max {min(ratios):.2f}-{max(ratios):.2f})"
    )


def report(figures: dict[str, dict[str, Figures]], requests: int, rounds: int, work_n: int) -> None:
    for path, kind in ROUTES:
        by_mode = figures[path]
        none = by_mode["none"].rps
        print(
            f"\nGET {path} ({kind}, price_total({work_n}) ≈ {WORK_MS:g} ms): {requests} "
            f"requests per phase, concurrency 1, {rounds} rounds"
        )
        print(f"{'mode':<17}{'req/s':>8}{'min-max':>13}{'time vs none':>14}{'detach ms':>11}")
        for mode in MODES:
            f = by_mode[mode]
            rel = statistics.median(paired(none, f.rps))
            print(
                f"{mode:<17}{statistics.median(f.rps):>8.0f}"
                f"{f'{min(f.rps):.0f}-{max(f.rps):.0f}':>13}{rel:>14.2f}"
                f"{statistics.median(f.detach_ms):>11.1f}"
            )
        b, c, d = by_mode["cprofile"].rps, by_mode["cprofile+probes"].rps, by_mode["probes"].rps
        print(f"time(cprofile+probes) / time(cprofile) = {summary(paired(b, c))}  [goal <= 1.5]")
        print(f"time(probes) / time(none)              = {summary(paired(none, d))}")
        for mode in ("cprofile+probes", "probes"):
            probed = by_mode[mode]
            phase_ms = requests / statistics.median(probed.rps) * 1000
            cpu = statistics.median(probed.watchdog_cpu_ms)
            print(
                f"{mode + ':':<17}watchdog thread CPU {cpu:.1f} ms per phase "
                f"({cpu / phase_ms:.1%} of the phase), "
                f"{statistics.median(probed.probe_requests):.0f} probe requests per phase"
            )
        statuses = Counter[str]()
        for mode in MODES:
            statuses.update(by_mode[mode].statuses)
        print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="requests per phase (300)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (6)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    started = time.perf_counter()
    work_n = calibrate(WORK_MS)
    driver = InProcessDriver(make_app(work_n))
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        figures = runner.run(measure(driver, args.requests, args.rounds))
    print(
        f"Python {sys.version.split()[0]}, {args.loop} loop; cProfile "
        + ("sees every thread" if PROFILER_SEES_ALL_THREADS else "hooked into worker threads")
    )
    report(figures, args.requests, args.rounds, work_n)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
