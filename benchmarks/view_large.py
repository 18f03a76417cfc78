"""Time and peak memory of `perfaudit view` on large collapsed-stack files.

Why: collapsed stacks are the one format that grows with the length of a recording (a
day of `py-spy record --format raw`). perfaudit reads them line by line and keeps only
the distinct stacks, so memory follows the program's variety of stacks, not the file's
size, and no size limit applies to them (JSON and pstats files are read whole, up to
256 MiB). This script writes files of growing size with stacks like a real program's (paths
through a fixed call graph of 3,000 functions, 15-45 frames deep) and, in a fresh process
for each, runs `perfaudit view FILE`, printing its wall time and peak RSS. Sizes run
upward, because the peak RSS of waited-for children is a running maximum.

    .venv/bin/python benchmarks/view_large.py            # 10, 50 and 300 MB
    .venv/bin/python benchmarks/view_large.py --mb 20 100
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUNCTIONS = 3000
CALLEES = 4  # each function calls a few others: a call graph, not random frames


def perfaudit_script() -> str:
    beside = Path(sys.executable).parent / "perfaudit"
    found = str(beside) if beside.exists() else shutil.which("perfaudit")
    if found is None:
        sys.exit("the perfaudit command is not installed (pip install -e . in the venv)")
    return found


def write_stacks(path: Path, megabytes: int, seed: int = 1) -> int:
    """Collapsed stacks of `megabytes` MB: random walks down a fixed call graph, each
    line a stack and its count, as py-spy writes them. Returns the number of lines."""
    rng = random.Random(seed)
    names = [
        f"handler_{i} (/srv/app/pkg_{i % 40}/mod_{i % 13}.py:{10 + i % 500})"
        for i in range(FUNCTIONS)
    ]
    callees = [rng.sample(range(FUNCTIONS), CALLEES) for _ in range(FUNCTIONS)]
    limit, written, lines = megabytes * 2**20, 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < limit:
            at = rng.randrange(50)  # a few entry points
            frames = ["thread 1 (MainThread)"]
            for _ in range(rng.randint(15, 45)):
                frames.append(names[at])
                at = rng.choice(callees[at])
            line = f"{';'.join(frames)} {rng.randint(1, 50)}\n"
            out.write(line)
            written += len(line)
            lines += 1
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, nargs="+", default=[10, 50, 300], help="file sizes")
    args = parser.parse_args()
    script = perfaudit_script()
    print("perfaudit view FILE.txt, one fresh process per file")
    with tempfile.TemporaryDirectory() as folder:
        for megabytes in sorted(args.mb):
            path = Path(folder, f"stacks-{megabytes}mb.txt")
            lines = write_stacks(path, megabytes)
            start = time.perf_counter()
            done = subprocess.run([script, "view", str(path)], capture_output=True, check=False)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"view exited {done.returncode}: {done.stderr.decode()[-1000:]}")
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"  {megabytes:>5} MB, {lines:>9,} stacks: {elapsed:6.1f} s, "
                f"peak RSS {peak_mb:,.0f} MB"
            )
            path.unlink()


if __name__ == "__main__":
    main()
