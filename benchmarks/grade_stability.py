"""How much a finding's figures move between runs of one audit, against the noise allowed for.

Why: a severity is read from two figures (share of the route's time, ms per request) at fixed
lines. Where a figure sits within this machine's run-to-run noise of a line, the grade
flips between runs, and a CI gate on `max_severity` flaps. perfaudit calls a finding "near"
its neighbouring grade when its figures lie within SHARE_NOISE / MS_NOISE (relative) of a
line, and `perfaudit ci` then keeps the baseline's grade. This script measures the noise
those must cover: each sample app is audited several times in fresh processes, and for every
finding it prints the severities seen and the spread of each figure as the largest relative
distance of a run from the median.

    .venv/bin/python benchmarks/grade_stability.py --runs 5
    .venv/bin/python benchmarks/grade_stability.py --runs 5 "sample_apps.orders:app /orders/1"
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from perfaudit.analysis.findings import MS_NOISE, SHARE_NOISE

ROOT = Path(__file__).resolve().parents[1]
# An app and its routes, as `perfaudit profile` takes them.
TARGETS = (
    "sample_apps.pricing:app",
    "sample_apps.catalog_db:app /products/search?q=lamp",
    "sample_apps.events:app /accounts/acct-00042/events /events/7",
    "sample_apps.library:app /books /authors/7",
    "sample_apps.shipping:app /quotes?country=DE&weight_kg=3.5",
    "sample_apps.chatty:app /carts/7/total",
    "sample_apps.logs:app /errors/count",
)

Key = tuple[str, str, str]  # finding id, route, function


def perfaudit_script() -> str:
    beside = Path(sys.executable).parent / "perfaudit"
    found = str(beside) if beside.exists() else shutil.which("perfaudit")
    if found is None:
        sys.exit("the perfaudit command is not installed (pip install -e . in the venv)")
    return found


def audit(target: str, out: Path) -> list[dict[str, object]]:
    argv = [perfaudit_script(), "profile", *target.split(), "-q", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    findings: list[dict[str, object]] = json.loads(out.read_text())["findings"]
    return findings


def key_of(finding: dict[str, object]) -> Key:
    location = finding.get("location") or {}
    assert isinstance(location, dict)
    return str(finding["id"]), str(finding.get("route")), str(location.get("function"))


def spread(values: list[float]) -> float:
    """The largest relative distance of one run's figure from the median of all runs."""
    middle = statistics.median(values)
    return max(abs(v - middle) for v in values) / middle if middle else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--runs", type=int, default=5, help="audits per target (5)")
    args = parser.parse_args()
    worst_share = worst_ms = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for target in args.targets:
            seen: dict[Key, list[dict[str, object]]] = defaultdict(list)
            for run in range(args.runs):
                for finding in audit(target, Path(folder, f"{run}.json")):
                    seen[key_of(finding)].append(finding)
            print(f"\n{target}  ({args.runs} runs)")
            for key, runs in seen.items():
                severities = sorted({str(f["severity"]) for f in runs})
                gains = [f["estimated_gain"] for f in runs if isinstance(f["estimated_gain"], dict)]
                shares = [float(g["share"]) for g in gains]
                ms = [float(g["latency_ms"]) for g in gains]
                share_spread = spread(shares) if shares else 0.0
                ms_spread = spread(ms) if ms else 0.0
                worst_share = max(worst_share, share_spread)
                worst_ms = max(worst_ms, ms_spread)
                print(
                    f"  {key[0]:<22} {key[1]:<30} {key[2]:<18} in {len(runs)}/{args.runs} runs, "
                    f"{'/'.join(severities):<12} share ±{share_spread:5.1%} "
                    f"(median {statistics.median(shares) if shares else 0:.1%}), "
                    f"ms ±{ms_spread:5.1%}"
                )
    print(
        f"\nlargest spread of a share: ±{worst_share:.1%} (allowed for: ±{SHARE_NOISE:.0%}), "
        f"of ms per request: ±{worst_ms:.1%} (allowed for: ±{MS_NOISE:.0%})"
    )


if __name__ == "__main__":
    main()
