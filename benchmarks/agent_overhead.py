"""The same audit by perfaudit before the agent (the app imported into the CLI's own process;
a checkout of `--before`, by default the last commit before the agent) and by this
perfaudit (the app in a child interpreter), alternately, side by side.

Why: the agent must not make perfaudit measure worse or slower. Both sides run
`perfaudit profile sample_apps.pricing:app /health /quotes/featured -q --save-session` with
the default phases; each round runs one side then the other (alternating which goes
first) as fresh subprocesses, in this venv. Per round and side it takes, from the saved
session: the median latency of the trivial `GET /health` in the measured phase (the
in-process driver's own cost dominates it), the median latency of `GET /quotes/featured`
(a 10-20 ms CPU-bound route), the profiled phase's time per request of that route
(cProfile's overhead shows here), and the command's wall time. It prints the median over
rounds of the per-round ratios agent ÷ before, with their spread.

    .venv/bin/python benchmarks/agent_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "sample_apps.pricing:app"
ROUTES = ("/health", "/quotes/featured")

BEFORE_AGENT = "619e7fc"  # main before perfaudit/agent/ existed


def checkout(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "perfaudit"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_side(side: str, session: Path, before: Path) -> float:
    argv = [sys.executable, "-m", "perfaudit", "profile", TARGET, *ROUTES, "-q"]
    argv += ["--save-session", str(session)]
    # Before: its package first on sys.path, over this checkout's (installed editable).
    env = {**os.environ, "PYTHONPATH": str(before)} if side == "before" else None
    if side == "agent":
        argv += ["--python", sys.executable]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        sys.exit(f"{side} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def figures(session: Path, wall_s: float) -> dict[str, float]:
    data = json.loads(session.read_text())
    measured = {m["route"]["template"]: m for m in data["measurements"]}
    profiled = {p["route"]["template"]: p for p in data["profiles"]}
    health, quotes = measured["/health"], measured["/quotes/featured"]
    profile = profiled["/quotes/featured"]
    return {
        "GET /health p50 µs (measured)": statistics.median(health["durations_s"]) * 1e6,
        "GET /quotes/featured p50 ms (measured)": statistics.median(quotes["durations_s"]) * 1e3,
        "GET /quotes/featured ms/request (profiled)": profile["request_time_s"]
        / profile["requests"]
        * 1e3,
        "wall time s": wall_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument("--before", default=BEFORE_AGENT, help=f"revision ({BEFORE_AGENT})")
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        before = checkout(args.before, Path(scratch))
        for round_no in range(args.rounds):
            order = ("before", "agent") if round_no % 2 == 0 else ("agent", "before")
            seen = {}
            for side in order:
                session = Path(scratch) / f"{side}.json"
                seen[side] = figures(session, run_side(side, session, before))
            for name, value in seen["agent"].items():
                ratios.setdefault(name, []).append(value / seen["before"][name])
            pairs = (f"{seen['agent'][k]:.4g} vs {seen['before'][k]:.4g}" for k in seen["agent"])
            print(f"round {round_no + 1} (agent vs before): " + ", ".join(pairs))
    print(f"\n{TARGET} {' '.join(ROUTES)}, {args.rounds} rounds; agent ÷ before, per round:")
    for name, values in ratios.items():
        print(
            f"  {name:45} median {statistics.median(values):.3f} "
            f"(min-max {min(values):.3f}-{max(values):.3f})"
        )


if __name__ == "__main__":
    main()
