"""Cold start of `perfaudit --help`, beside two reference points: the interpreter alone
(`python -c pass`) and importing FastAPI (`python -c "import fastapi"`).

Why: `perfaudit --help` should stay fast because the heavy imports (fastapi, the profiler,
rich tables, httpx2) are lazy; if `--help` costs as much as importing FastAPI, something
heavy leaked into the command-line shell's import path. Each command runs in a fresh
subprocess; the three are interleaved over several runs (the machine is shared and noisy)
and the median and min-max of each are printed. `--importtime` also shows which packages
`perfaudit --help` spends its import time in (`python -X importtime`).

    .venv/bin/python benchmarks/cli_startup.py --runs 9 --importtime
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def perfaudit_script() -> str:
    beside = Path(sys.executable).parent / "perfaudit"
    found = str(beside) if beside.exists() else shutil.which("perfaudit")
    if found is None:
        sys.exit("the perfaudit command is not installed (pip install -e . in the venv)")
    return found


def commands() -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import fastapi"': [sys.executable, "-c", "import fastapi"],
        "perfaudit --help": [perfaudit_script(), "--help"],
    }


def run_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for argv in cmds.values():
        run_once(argv)  # warm the file cache: "cold" means a fresh process, not a cold disk
    for _ in range(runs):
        for name, argv in cmds.items():
            times[name].append(run_once(argv))
    return times


def report(times: dict[str, list[float]], runs: int) -> None:
    base = statistics.median(times["python -c pass"])
    print(f"cold start, {runs} runs each, interleaved (ms)")
    print(f"{'command':<30}{'median':>9}{'min-max':>15}{'minus python':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        span = f"{min(values) * 1e3:.0f}-{max(values) * 1e3:.0f}"
        print(f"{name:<30}{median * 1e3:>9.0f}{span:>15}{(median - base) * 1e3:>14.0f}")


def import_profile(top: int) -> None:
    """Where `perfaudit --help` spends its import time: self time summed per top-level
    package (`python -X importtime`)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    argv = [sys.executable, "-c", "from perfaudit.cli.app import main; main()", "--help"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    per_package: Counter[str] = Counter()
    modules = 0
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            modules += 1
            per_package[parts[2].strip().split(".")[0]] += int(parts[0])
    total = sum(per_package.values())
    print(
        f"\nimport time of `perfaudit --help` by package (self ms; {modules} modules, "
        f"{total / 1e3:.0f} ms in all)"
    )
    for package, us in per_package.most_common(top):
        print(f"{us / 1e3:>8.1f}  {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="runs per command (9)")
    parser.add_argument("--importtime", action="store_true", help="list the slowest imports")
    args = parser.parse_args()
    report(measure(commands(), args.runs), args.runs)
    if args.importtime:
        import_profile(top=12)


if __name__ == "__main__":
    main()
