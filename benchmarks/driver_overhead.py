"""How much of an in-process request is harness rather than app: requests/second on a trivial
FastAPI `async def` route, driven four ways in one run.

- direct      a minimal hand-written loop that awaits the ASGI app itself (one scope dict,
              a receive that hands over the body once, a send that keeps the status): the
              physical limit of in-process driving.
- perfaudit   `perfaudit.agent.driver.InProcessDriver(app).run(..., concurrency=1)`, the
              driver `perfaudit profile` measures latency with.
- httpx2      `httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))`, sequential GETs.
- testclient  `fastapi.testclient.TestClient` (Starlette's, on httpx2), sequential GETs,
              inside `with` so one portal thread serves every request.

Why: perfaudit's latency figures include whatever its driver costs per request, so the driver
must stay close to the direct call (goal: perfaudit / direct >= 0.8), while a test client
would add more harness than a trivial route costs. The machines this runs on are shared and
noisy, so the contenders alternate over several rounds (their order rotating each round),
each figure is the median over rounds with its min-max spread, and the ratios to `direct`
are taken per round (adjacent runs) before the median.

    .venv/bin/python benchmarks/driver_overhead.py --requests 1000 --rounds 25
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from perfaudit.agent.driver import InProcessDriver
from perfaudit.load.plan import RequestSpec

PATH = "/ping"
WARMUP = 200


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get(PATH)
    async def ping() -> dict[str, object]:
        return {"ok": True, "service": "ping"}

    return app


def _not_run(n: int) -> float:
    raise RuntimeError("contender is unavailable")


@dataclass
class Contender:
    name: str
    note: str
    run: Callable[[int], float] = _not_run  # runs n requests, returns the seconds they took
    close: Callable[[], object] = lambda: None
    unavailable: str = ""  # why it could not run, if it could not
    fraction: float = 1.0  # share of --requests it runs per round (slow harnesses run fewer)
    statuses: Counter[str] = field(default_factory=Counter)
    rps: list[float] = field(default_factory=list)  # one figure per round
    own_rps: list[float] = field(default_factory=list)  # the driver's own figure, if any


# -- direct: the limit ------------------------------------------------------------------------


async def direct_loop(app: Any, n: int, statuses: Counter[str]) -> None:
    template: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t")],
        "client": ("127.0.0.1", 50000),
        "server": ("t", 80),
    }
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    for _ in range(n):
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        await app(dict(template), receive, send)
        statuses[str(status)] += 1


# -- httpx2 -----------------------------------------------------------------------------------


async def httpx2_loop(client: Any, n: int, statuses: Counter[str]) -> None:
    for _ in range(n):
        response = await client.get(PATH)
        statuses[str(response.status_code)] += 1


# -- building the contenders -----------------------------------------------------------------


def timed(
    loop: asyncio.AbstractEventLoop, make: Callable[[int], Awaitable[Any]]
) -> Callable[[int], float]:
    def run(n: int) -> float:
        start = time.perf_counter()
        loop.run_until_complete(make(n))
        return time.perf_counter() - start

    return run


def direct_contender(app: FastAPI, loop: asyncio.AbstractEventLoop) -> Contender:
    c = Contender("direct", "hand-written ASGI call, the limit")
    c.run = timed(loop, lambda n: direct_loop(app, n, c.statuses))
    return c


def perfaudit_contender(app: FastAPI, loop: asyncio.AbstractEventLoop) -> Contender:
    c = Contender("perfaudit", "InProcessDriver.run(count=n, concurrency=1)")
    driver = InProcessDriver(app)
    spec = RequestSpec("GET", PATH)

    async def drive(n: int) -> None:
        result = await driver.run(spec, count=n, concurrency=1)
        c.statuses.update(result.status_counts)
        c.own_rps.append(len(result.durations_s) / result.wall_s)

    c.run = timed(loop, drive)
    return c


def httpx2_contender(app: FastAPI, loop: asyncio.AbstractEventLoop) -> Contender:
    c = Contender("httpx2 ASGITransport", "AsyncClient, sequential GETs")
    try:
        import httpx2
    except ImportError as exc:
        c.unavailable = f"httpx2 is not installed ({exc})"
        return c
    # Built once, outside the timing: constructing a client loads an SSL context (~40 ms).
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t")
    c.run = timed(loop, lambda n: httpx2_loop(client, n, c.statuses))
    c.close = lambda: loop.run_until_complete(client.aclose())
    return c


def testclient_contender(app: FastAPI) -> Contender:
    c = Contender("TestClient", "fastapi.testclient inside `with`", fraction=0.1)
    try:
        from fastapi.testclient import TestClient
    except (ImportError, RuntimeError) as exc:
        c.unavailable = f"fastapi.testclient cannot be imported ({exc})"
        return c
    client = TestClient(app)
    client.__enter__()  # one portal thread for every request, started outside the timing

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            c.statuses[str(client.get(PATH).status_code)] += 1
        return time.perf_counter() - start

    c.run = run
    c.close = lambda: client.__exit__(None, None, None)
    return c


# -- running and reporting -------------------------------------------------------------------


def measure(contenders: list[Contender], requests: int, rounds: int) -> None:
    live = [c for c in contenders if not c.unavailable]
    for c in live:
        c.run(WARMUP)
        c.statuses.clear()
        c.own_rps.clear()
    for r in range(rounds):
        shift = r % len(live)
        for c in live[shift:] + live[:shift]:  # rotate the order to spread position bias
            n = max(100, round(requests * c.fraction))
            gc.collect()  # nobody pays for the previous contender's garbage
            c.rps.append(n / c.run(n))


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def paired(a: list[float], b: list[float]) -> list[float]:
    """Per-round ratios a/b: each pair ran in the same round, a few hundred ms apart."""
    return [x / y for x, y in zip(a, b, strict=True)]


def report(contenders: list[Contender], requests: int, rounds: int, total_s: float) -> None:
    direct = contenders[0]
    print(f"{requests} sequential GET {PATH} per contender per round, {rounds} rounds, interleaved")
    print(f"{'contender':<22}{'req/s':>9}{'min-max':>16}{'vs direct':>11}  statuses")
    for c in contenders:
        if c.unavailable:
            print(f"{c.name:<22}{'unavailable':>13}  {c.unavailable}")
            continue
        rel = statistics.median(paired(c.rps, direct.rps))
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(c.statuses.items()))
        print(
            f"{c.name:<22}{statistics.median(c.rps):>9,.0f}{spread(c.rps):>16}{rel:>11.2f}  "
            f"{statuses}"
        )
    print("(medians over rounds; 'vs direct' is the median of the per-round ratios)")
    for c in contenders:
        share = f"; {c.fraction:.0%} of the requests per round" if c.fraction != 1 else ""
        print(f"  {c.name}: {c.note}{share}")
    key_ratio(contenders[1], direct)
    print(f"total benchmark time {total_s:.1f} s")


def key_ratio(perfaudit: Contender, direct: Contender) -> None:
    ratios = paired(perfaudit.rps, direct.rps)
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    print(
        f"\nperfaudit / direct = {statistics.median(ratios):.2f}  (goal >= 0.80; per-round "
        f"quartiles {q1:.2f}-{q3:.2f}, min-max {min(ratios):.2f}-{max(ratios):.2f})"
    )
    if perfaudit.own_rps:
        print(
            "perfaudit's own figure (requests / PhaseResult.wall_s): median "
            f"{statistics.median(perfaudit.own_rps):,.0f} req/s"
        )
    for c in (direct, perfaudit):
        print(f"  {c.name:<10} per request: {1e6 / statistics.median(c.rps):.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round (1000)")
    parser.add_argument("--rounds", type=int, default=25, help="rounds (25)")
    args = parser.parse_args()
    started = time.perf_counter()
    app = make_app()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    contenders = [
        direct_contender(app, loop),
        perfaudit_contender(app, loop),
        httpx2_contender(app, loop),
        testclient_contender(app),
    ]
    try:
        measure(contenders, args.requests, args.rounds)
    finally:
        for c in contenders:
            c.close()
        loop.close()
    report(contenders, args.requests, args.rounds, time.perf_counter() - started)


if __name__ == "__main__":
    main()
