"""Time the test-suite the way `make test` runs it: wall and CPU time, and the slowest tests.

    .venv/bin/python benchmarks/bench_tests.py [--workers 2] [--serial] [--fresh-kernels] [PYTEST ARGS...]

Runs ``python -m pytest -q -n WORKERS --dist loadgroup --durations=15`` (what `make test`
runs, plus the durations) and prints its wall time, the CPU time of it and every process it
waited for, and pytest's closing lines (the notebook execution count among them).
``--serial`` runs it once more without xdist, ``--fresh-kernels`` once more with a fresh
kernel process per notebook (``JOULEBOOK_FORK_KERNELS=0``), for comparison. Target
(issue 11): under 3 minutes on 2 cores. The figures depend on the machine's load: the
script prints the load average beside them. A run takes minutes: do not run it in CI.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 180.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, _children_cpu() - cpu0, proc.returncode, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--serial", action="store_true", help="also run without xdist")
    ap.add_argument("--fresh-kernels", action="store_true", help="also run with a fresh kernel process per notebook")
    args, pytest_args = ap.parse_known_args(argv)
    common = ["-q", "-p", "no:cacheprovider", "--durations=15", *pytest_args]
    runs = [(f"-n {args.workers} --dist loadgroup", ["-n", str(args.workers), "--dist", "loadgroup", *common], None)]
    if args.fresh_kernels:
        runs.append((f"-n {args.workers}, fresh kernels", runs[0][1], {**os.environ, "JOULEBOOK_FORK_KERNELS": "0"}))
    if args.serial:
        runs.append(("serial", common, None))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"test-suite, {os.cpu_count()} CPUs, load average {load:.2f} at start")
    worst = 0
    for label, cmd, env in runs:
        wall, cpu, rc, out = run(cmd, env)
        worst = max(worst, rc)
        tail = [line for line in out.splitlines() if line.strip()][-25:]
        print(f"  {label:32s}: {wall:7.1f} s wall {cpu:7.1f} s CPU  exit {rc}"
              + (f"  (target < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'NOT met'})" if "serial" not in label
                 else ""))
        for line in tail:
            print(f"    {line}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
