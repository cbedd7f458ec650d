"""Benchmark build.py: wall time and peak memory of a cold build and of a no-op rebuild.

    .venv/bin/python bench/bench_build.py [--region us-east-1] [--runs 3]

Cold = empty output directory (imports the SageMaker SDK and renders); no-op = the same command again
(cache hit: hashes sources, no SDK import). Each run is a fresh `python build.py` process writing to a
temporary directory (the repo's build/ is not touched); peak memory is that process's max RSS (os.wait4).
Goals: cold < 10 s, no-op < 3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOALS = {"cold": 10.0, "no-op": 3.0}


def timed_build(out: Path, region: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `python build.py --region R --out OUT --quiet`."""
    command = [sys.executable, str(REPO_ROOT / "build.py"), "--region", region, "--out", str(out), "--quiet"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build.py failed:\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"cold": [], "no-op": []}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        for run in range(args.runs):
            out = Path(scratch) / f"out-{run}"
            results["cold"].append(timed_build(out, args.region))
            results["no-op"].append(timed_build(out, args.region))
    print(
        f"build.py, {args.runs} runs, region {args.region}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(f"{'case':<6}  {'median s':>8}  {'max s':>6}  {'peak RSS MiB':>12}  goal")
    failed = False
    for case, samples in results.items():
        times = [seconds for seconds, _ in samples]
        peak = max(mib for _, mib in samples)
        ok = statistics.median(times) < GOALS[case]
        failed |= not ok
        print(
            f"{case:<6}  {statistics.median(times):>8.2f}  {max(times):>6.2f}  {peak:>12.0f}  "
            f"< {GOALS[case]:.0f} s {'ok' if ok else 'MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
