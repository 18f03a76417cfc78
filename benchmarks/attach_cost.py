"""What `perfaudit attach` costs: parsing py-spy's raw output, and py-spy's cost to a live server.

1. parse: a generated raw file of 1,000,000 samples in py-spy 0.4.3's format (thousands of
   distinct stacks 20–60 frames deep, on several threads of several `--subprocesses`
   processes, paths from another venv so the owner fallback runs) read by
   `perfaudit.capture.pyspy_raw.read_raw_file`: seconds (best of `--parse-runs`) and peak
   memory (tracemalloc, in a separate run: it slows parsing down).
2. overhead: a uvicorn hello-world on 127.0.0.1 under a fixed closed-loop load (raw asyncio
   sockets, keep-alive, `--connections` in flight), phases of `--seconds` each with nothing
   attached, with `perfaudit.capture.pyspy.record` at the default rate, and the same with
   `--nonblocking`; the modes alternate within each round (order rotating) and each ratio to
   `none` is taken per round before the median (DESIGN §2, "Noise"). Goal: ≥ 0.97.

    .venv/bin/python benchmarks/attach_cost.py          # --rounds 5 --seconds 3
    .venv/bin/python benchmarks/attach_cost.py --skip-overhead
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

from perfaudit.capture.pyspy import RecordOptions, record
from perfaudit.capture.pyspy_raw import FrameOwners, read_raw_file

SAMPLES = 1_000_000
SITE = "/srv/other/.venv/lib/python3.12/site-packages"
STDLIB = "/usr/lib/python3.12"


def frame_pool(rng: random.Random) -> list[str]:
    """A few hundred distinct frames: app, framework, library and stdlib."""
    places = [
        (f"{STDLIB}/asyncio/base_events.py", "BaseEventLoop._run_once"),
        (f"{STDLIB}/threading.py", "Thread.run"),
        (f"{STDLIB}/json/encoder.py", "JSONEncoder.encode"),
        (f"{SITE}/starlette/routing.py", "Router.__call__"),
        (f"{SITE}/fastapi/routing.py", "run_endpoint_function"),
        (f"{SITE}/pydantic/main.py", "BaseModel.model_dump"),
        (f"{SITE}/sqlalchemy/orm/session.py", "Session.execute"),
        (f"{SITE}/httpx/_client.py", "Client.send"),
        ("/srv/other/app/services/pricing.py", "tariff_table"),
        ("/srv/other/app/api/items.py", "list_items"),
    ]
    return [
        f"{function}_{i} ({file}:{rng.randint(1, 900)})"
        for i in range(40)
        for file, function in places
    ]


def write_raw(path: Path, *, stacks: int, seed: int = 7) -> tuple[int, int]:
    """(lines, samples) written: `stacks` distinct stacks, counts Zipf-like, 1M in all."""
    rng = random.Random(seed)
    pool = frame_pool(rng)
    heads = [
        f'process {pid}:"/srv/other/.venv/bin/python -c from multiprocessing.spawn import '
        f'spawn_main; spawn_main(tracker_fd=7)";thread ({tid}): {name}'
        for pid in (101, 102, 103, 104)
        for tid, name in ((pid, "MainThread"), (pid + 1000, "AnyIO worker thread"))
    ]
    weights = [1 / (rank + 1) for rank in range(stacks)]
    counts = [max(1, round(SAMPLES * w / sum(weights))) for w in weights]
    counts[0] += SAMPLES - sum(counts)
    with path.open("w") as out:
        for count in counts:
            depth = rng.randint(20, 60)
            frames = ";".join(rng.choice(pool) for _ in range(depth))
            out.write(f"{rng.choice(heads)};{frames} {count}\n")
    return stacks, sum(counts)


def bench_parse(stacks: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "raw.txt"
        lines, samples = write_raw(path, stacks=stacks)
        size_mb = path.stat().st_size / 1e6
        times = []
        for _ in range(runs):
            gc.collect()
            began = time.perf_counter()
            processes = read_raw_file(path, rate_hz=100, pid=101, owners=FrameOwners())
            times.append(time.perf_counter() - began)
        assert sum(p.samples for p in processes) == samples
        tracemalloc.start()
        read_raw_file(path, rate_hz=100, pid=101, owners=FrameOwners())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        f"parse: {samples:,} samples, {lines:,} lines ({size_mb:.0f} MB), "
        f"{sum(len(t.stacks) for p in processes for t in p.threads):,} stacks after merge: "
        f"best {min(times):.2f} s, median {statistics.median(times):.2f} s, "
        f"peak {peak / 1e6:.1f} MB (tracemalloc)"
    )


HELLO = textwrap.dedent(
    """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/")
    async def hello():
        return {"hello": "world"}
    """
)
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


async def _client(port: int, stop_at: float, done: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            done[0] += 1
    finally:
        writer.close()


def throughput(port: int, seconds: float, connections: int) -> float:
    async def main() -> int:
        done = [0]
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, stop_at, done) for _ in range(connections)))
        return done[0]

    began = time.monotonic()
    count = asyncio.run(main())
    return count / (time.monotonic() - began)


def with_pyspy(pid: int, port: int, args: argparse.Namespace, nonblocking: bool) -> float:
    flag = threading.Event()
    options = RecordOptions(pid=pid, duration_s=args.seconds + 30, nonblocking=nonblocking)
    thread = threading.Thread(target=record, args=(options,), kwargs={"stop_flag": flag})
    thread.start()
    time.sleep(0.5)  # attached and sampling
    try:
        return throughput(port, args.seconds, args.connections)
    finally:
        flag.set()
        thread.join()


@contextlib.contextmanager
def hello_server(scratch: Path):  # type: ignore[no-untyped-def]
    (scratch / "hello.py").write_text(HELLO)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "hello:app", "--app-dir", str(scratch), "--port",
        str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield server.pid, port
    finally:
        server.terminate()
        server.wait(timeout=10)


def bench_overhead(args: argparse.Namespace) -> None:
    modes = ["none", "py-spy", "py-spy --nonblocking"]
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    ratios: dict[str, list[float]] = {mode: [] for mode in modes[1:]}
    with tempfile.TemporaryDirectory() as scratch, hello_server(Path(scratch)) as (pid, port):
        throughput(port, 1.0, args.connections)  # warm-up
        for round_ in range(args.rounds):
            measured = {}
            for mode in modes[round_ % 3 :] + modes[: round_ % 3]:
                gc.collect()
                if mode == "none":
                    measured[mode] = throughput(port, args.seconds, args.connections)
                else:
                    measured[mode] = with_pyspy(pid, port, args, "nonblocking" in mode)
                rates[mode].append(measured[mode])
            for mode in modes[1:]:
                ratios[mode].append(measured[mode] / measured["none"])
    for mode in modes:
        rps = rates[mode]
        line = f"{mode:>22}: {statistics.median(rps):7.0f} req/s ({min(rps):.0f}–{max(rps):.0f})"
        if mode in ratios:
            r = ratios[mode]
            line += f"  ratio {statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f})"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=5000)
    parser.add_argument("--parse-runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    bench_parse(args.stacks, args.parse_runs)
    if not args.skip_overhead:
        bench_overhead(args)


if __name__ == "__main__":
    main()
