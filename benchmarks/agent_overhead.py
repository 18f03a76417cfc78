"""The same audit run in the CLI's own process (how perfaudit ran before the agent) and
through the agent in a child interpreter (how it runs now), alternately, side by side.

Why: the agent must not make perfaudit measure worse or slower. Both sides run the same
`run_profile` on `sample_apps.pricing:app` with the default phases; each round runs one
side then the other (alternating which goes first) as fresh subprocesses. Per round and side
it takes, from the saved session: the measured phase's throughput of the trivial route
`GET /health` (the in-process driver's speed), the median latency of `GET /quotes/featured`
(a 10-20 ms CPU-bound route), the profiled phase's request time per request of that route
(cProfile's overhead shows here), and the wall time. It prints the median over rounds of
the per-round ratios agent ÷ in-process, with their spread.

    .venv/bin/python benchmarks/agent_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "sample_apps.pricing:app"
ROUTES = ("/health", "/quotes/featured")

IN_PROCESS = """
import sys
from pathlib import Path
from perfaudit.agent.profile_run import ProfileOptions, run_profile
from perfaudit.load.plan import build_requests
options = ProfileOptions(target=sys.argv[1], request_specs=tuple(build_requests(sys.argv[3:])))
Path(sys.argv[2]).write_text(run_profile(options).to_json())
"""


def run_side(side: str, session: Path) -> float:
    if side == "in-process":
        argv = [sys.executable, "-c", IN_PROCESS, TARGET, str(session), *ROUTES]
    else:
        perfaudit = str(Path(sys.executable).parent / "perfaudit")
        argv = [perfaudit, "profile", TARGET, *ROUTES, "-q", "--save-session", str(session)]
        argv += ["--python", sys.executable]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{side} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def figures(session: Path, wall_s: float) -> dict[str, float]:
    data = json.loads(session.read_text())
    measured = {m["route"]["path"]: m for m in data["measurements"]}
    profiled = {p["route"]["path"]: p for p in data["profiles"]}
    health, quotes = measured["/health"], measured["/quotes/featured"]
    profile = profiled["/quotes/featured"]
    return {
        "GET /health req/s (measured phase)": len(health["durations_s"]) / health["wall_s"],
        "GET /quotes/featured p50 ms (measured)": statistics.median(quotes["durations_s"]) * 1e3,
        "GET /quotes/featured ms/request (profiled)": profile["request_time_s"]
        / profile["requests"]
        * 1e3,
        "wall time s": wall_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for round_no in range(args.rounds):
            order = ("in-process", "agent") if round_no % 2 == 0 else ("agent", "in-process")
            seen = {}
            for side in order:
                session = Path(scratch) / f"{side}.json"
                seen[side] = figures(session, run_side(side, session))
            for name, value in seen["agent"].items():
                ratios.setdefault(name, []).append(value / seen["in-process"][name])
            pairs = (
                f"{seen['agent'][k]:.4g} vs {seen['in-process'][k]:.4g}" for k in seen["agent"]
            )
            print(f"round {round_no + 1} (agent vs in-process): " + ", ".join(pairs))
    print(f"\n{TARGET} {' '.join(ROUTES)}, {args.rounds} rounds; agent ÷ in-process per round:")
    for name, values in ratios.items():
        print(
            f"  {name:45} median {statistics.median(values):.3f} "
            f"(min-max {min(values):.3f}-{max(values):.3f})"
        )


if __name__ == "__main__":
    main()
