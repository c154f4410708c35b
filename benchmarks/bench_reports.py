"""Time the report site build: full build with 1 and 2 jobs, and a rebuild with nothing changed.

    .venv/bin/python benchmarks/bench_reports.py [--config notebooks/reports.toml] [--only ID ...] [--no-fresh]
        [--no-spawn] [--no-jobs1]

Each figure is the wall time of the real command (``joulebook reports build``,
process start-up included) into a temporary folder, and the CPU time of it and
everything it started (workers, fork server, kernels). Full builds use --force;
the no-change rebuild runs on the --jobs 2 site. The --jobs 2 build runs twice:
with kernels forked from the warm fork server (the default) and, for comparison,
with a fresh kernel process per report (``JOULEBOOK_FORK_KERNELS=0``, the way
before issue 11; skip with --no-fresh), and with report workers spawned as fresh
interpreters instead of forked from the build (``JOULEBOOK_FORK_WORKERS=0``; skip
with --no-spawn). Targets: the default site in under 30 s
with 2 jobs (issue 11; 60 s in issue 3), a no-change rebuild under 3 s. The
figures depend on the machine's load: the script prints the load average beside
them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOULEBOOK = [sys.executable, "-c", "import sys; from joulebook.cli import main; sys.exit(main())"]  # = bin/joulebook
TARGET_FULL_S = 30.0
TARGET_REBUILD_S = 3.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_build(out: Path, config: Path, only: list[str], *extra: str,
              env: dict[str, str] | None = None) -> tuple[float, int, dict, float]:
    """(wall s, exit code, manifest, CPU s of the build and every process it waited for)."""
    cmd = [*JOULEBOOK, "reports", "build", "--config", str(config), "--out", str(out), *extra]
    for o in only:
        cmd += ["--only", o]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"build failed with exit code {proc.returncode}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return elapsed, proc.returncode, manifest, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "notebooks" / "reports.toml"))
    ap.add_argument("--only", action="append", default=[], metavar="ID")
    ap.add_argument("--keep", action="store_true", help="keep the temporary sites and print where they are")
    ap.add_argument("--no-fresh", action="store_true", help="skip the comparison build with fresh kernel processes")
    ap.add_argument("--no-jobs1", action="store_true", help="skip the --jobs 1 build")
    ap.add_argument("--no-spawn", action="store_true",
                    help="skip the comparison build with spawned (not forked) report workers")
    args = ap.parse_args(argv)
    config = Path(args.config).resolve()
    work = Path(tempfile.mkdtemp(prefix="jb-bench-reports-"))
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        t1 = c1 = None
        if not args.no_jobs1:
            t1, rc1, m1, c1 = run_build(work / "jobs1", config, args.only, "--jobs", "1", "--force")
        t2, rc2, m2, c2 = run_build(work / "jobs2", config, args.only, "--jobs", "2", "--force")
        tf = cf = None
        if not args.no_fresh:
            fresh_env = {**os.environ, "JOULEBOOK_FORK_KERNELS": "0"}
            tf, rcf, _mf, cf = run_build(work / "fresh", config, args.only, "--jobs", "2", "--force", env=fresh_env)
        ts = cs = None
        if not args.no_spawn:
            spawn_env = {**os.environ, "JOULEBOOK_FORK_WORKERS": "0"}
            ts, _rcs, _ms, cs = run_build(work / "spawn", config, args.only, "--jobs", "2", "--force", env=spawn_env)
        t3, rc3, m3, _c3 = run_build(work / "jobs2", config, args.only, "--jobs", "2")
        notes = []
        for _ in range(2):  # the shared working tree may change under the benchmark: then measure again
            changed = [k for k in ("library_hash", "data_fingerprint", "git_commit")
                       if m3["build"][k] != m2["build"][k]]
            if not changed:
                break
            notes.append(f"{', '.join(changed)} changed during the benchmark; rebuild measured again")
            m2 = m3
            t3, rc3, m3, _c3 = run_build(work / "jobs2", config, args.only, "--jobs", "2")
        executed = [r["slug"] for r in m3["reports"] if r.get("attempts", 0) > 0]
        n = m2["summary"]["reports"]
        failed = m2["summary"]["failed"]
        pages = sorted((work / "jobs2").glob("*/report.html"))
        biggest = max((p.stat().st_size for p in pages), default=0)
        print(f"report site build, {n} report(s) from {config.relative_to(ROOT) if config.is_relative_to(ROOT) else config}"
              f" ({failed} failed), {os.cpu_count()} CPUs, load average {load:.2f} at start")
        if t1 is not None:
            print(f"  full build --jobs 1 --force : {t1:7.1f} s wall {c1:7.1f} s CPU")
        print(f"  full build --jobs 2 --force : {t2:7.1f} s wall {c2:7.1f} s CPU"
              + (f"   speed-up x{t1 / t2:.2f} vs 1 job" if t1 else "")
              + f" (target < {TARGET_FULL_S:.0f} s: {'met' if t2 < TARGET_FULL_S else 'NOT met'})")
        if tf is not None:
            print(f"  same, fresh kernel per report: {tf:6.1f} s wall {cf:7.1f} s CPU   "
                  f"(fork server: x{tf / t2:.2f} wall, x{cf / c2:.2f} CPU)")
        if ts is not None:
            print(f"  same, spawned report workers: {ts:6.1f} s wall {cs:7.1f} s CPU   "
                  f"(forked workers: x{ts / t2:.2f} wall, x{cs / c2:.2f} CPU)")
        print(f"  no-change rebuild           : {t3:7.2f} s   x{t2 / t3:.0f} faster than the full build; "
              f"{len(executed)} re-executed (target < {TARGET_REBUILD_S:.0f} s: "
              f"{'met' if t3 < TARGET_REBUILD_S and not executed else 'NOT met'})")
        per = {r["slug"]: r["duration_s"] for r in m2["reports"]}
        print("  per report (--jobs 2, execution + render): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in per.items()))
        print(f"  largest page: {biggest / 1e6:.2f} MB (budget 2 MB)")
        for note in notes:
            print(f"  note: {note}")
        if rc2 or (t1 is not None and rc1):
            print("  note: some reports failed (exit 1); their time is included")
        if args.keep:
            print(f"  sites kept in {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
