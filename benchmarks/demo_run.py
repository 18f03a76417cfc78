"""Wall time of the default demo, `perfaudit profile sample_apps.pricing:app -q`, end to end.

Why: this is the first command a new user runs, and the one the README shows. Its time is
the whole default audit (import, lifespan, and for each of the three drivable routes 10
warm-up requests, 100 measured without a profiler, 100 under cProfile, then analysis and the
terminal report), so a regression anywhere on that path shows here. Each run is a fresh
subprocess started from the repository root, with its output discarded; the median and
min-max of several runs are printed, since the machine is shared and noisy.

    .venv/bin/python benchmarks/demo_run.py --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "sample_apps.pricing:app"


def perfaudit_script() -> str:
    beside = Path(sys.executable).parent / "perfaudit"
    found = str(beside) if beside.exists() else shutil.which("perfaudit")
    if found is None:
        sys.exit("the perfaudit command is not installed (pip install -e . in the venv)")
    return found


def run_once(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs (3)")
    args = parser.parse_args()
    argv = [perfaudit_script(), "profile", TARGET, "-q"]
    times = [run_once(argv) for _ in range(args.runs)]
    print(f"perfaudit profile {TARGET} -q   (from {ROOT}, {args.runs} runs)")
    print(
        f"wall time: median {statistics.median(times):.2f} s, "
        f"min-max {min(times):.2f}-{max(times):.2f} s; runs: "
        + ", ".join(f"{t:.2f}" for t in times)
    )


if __name__ == "__main__":
    main()
