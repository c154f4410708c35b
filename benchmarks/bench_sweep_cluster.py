#!/usr/bin/env python3
"""Benchmark: a training sweep with hourly carbon intensity, one process vs a Dask LocalCluster.

Grid: model sizes (12) x accelerators (4) x precisions (bf16, fp16) x every region of the shipped data x
hourly start times from 2026-01-01 (as many hours as it takes to reach ``--scenarios``; 10^8 by
default, i.e. a little over a year of hours). Each mode runs in a fresh subprocess and writes the
sweep's Parquet into a temporary folder (deleted afterwards unless ``--keep``). Prints scenarios/s
and the peak resident memory (ru_maxrss) of the driver and of each worker process; the target is a
peak bounded by the partition size (< 2 GB), independent of the grid size.

``--frame`` also checks the issue's other target: the local path (``joulebook sweep`` without
``--cluster``: one process, and one process per core) on ~10^6 scenarios against
``estimate_training_frame`` alone on the same rows (annual intensity, as the frame function has no
hourly start). Run with ``taskset -c 0,1`` to pin to two cores.
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

SIZES = [1.25e8, 3.5e8, 7.6e8, 1.3e9, 2.7e9, 6.7e9, 8e9, 1.3e10, 3.4e10, 7e10, 1.8e11, 4.05e11]
ACCS = ["h100-sxm", "a100-sxm4-80gb", "h200-sxm", "l40s"]
PRECISIONS = ["bf16", "fp16"]


def hourly_spec(n: int, partition: int) -> dict:
    from joulebook import data

    base = len(SIZES) * len(ACCS) * len(PRECISIONS) * len(data.regions())
    hours = max(1, round(n / base))
    import numpy as np

    end = np.datetime64("2026-01-01T00:00") + np.timedelta64(hours - 1, "h")
    return {"model": "training", "partition_size": partition, "max_scenarios": 10**10,
            "fixed": {"tokens": 2e11, "count": 64},
            "axes": {"params": SIZES, "accelerator": ACCS, "precision": PRECISIONS, "region": "all",
                     "start": f"2026-01-01T00:00/{str(end)[:16]}"}}


def warm(payload: dict) -> None:
    """Evaluate a few rows in this worker (data tables, look-ups, hourly tables), writing nothing."""
    from joulebook.sweeps import engine as sweep

    sweep._evaluate(payload, sweep.scenario_frame(payload, 0, 20_000))


def child(mode: str, n: int, partition: int, workers: int, out: str) -> dict:
    from joulebook.sweeps import engine as sweep

    spec = sweep.parse_spec(hourly_spec(n, partition))
    t0 = time.perf_counter()
    if mode == "single":
        res = sweep.run_sweep(spec, out, jobs=1, progress=False)
        worker_rss, warm_s = [], 0.0
    else:
        import dask
        from dask.distributed import Client, LocalCluster

        from joulebook.sweeps.cluster import WORKER_CONFIG

        with dask.config.set(WORKER_CONFIG), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
                Client(lc) as client:
            t0 = time.perf_counter()  # the cluster's start-up (seconds) is not part of the rate
            client.run(warm, spec.payload())  # each worker loads the data once, as the driver did for the spec
            warm_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = sweep.run_sweep(spec, out, cluster=lc.scheduler_address, progress=False)
            worker_rss = sorted(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())
    dt = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    return {"mode": mode, "scenarios": res.scenarios, "partitions": res.partitions, "seconds": dt,
            "rate": res.scenarios / dt, "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mb": [r / 1024 for r in worker_rss], "parquet_mb": size / 1e6, "warm_s": warm_s,
            "load_average": os.getloadavg()}


def frame_child(n_target: int) -> dict:
    """The local path on ~10^6 annual-intensity scenarios vs estimate_training_frame on the same rows."""
    from joulebook.models.training import estimate_training_frame
    from joulebook.sweeps import engine as sweep

    axes = {"accelerator": ["h100-sxm", "a100-sxm4-80gb", "h200-sxm", "l40s", "l4", "a100-sxm4-40gb", "h100-pcie"],
            "region": ["us-va", "us-ca", "us-tx", "de", "se", "sg", "in", "fr", "gcp:us-central1", "aws:us-east-1",
                       "azure:westeurope"],
            "precision": ["bf16", "fp16", "tf32"], "params": [1e8, 1e9, 7e9, 13e9, 70e9, 405e9],
            "tokens": [1e10, 1e11, 1e12, 1.5e13], "count": [1, 8, 64, 512, 4096]}
    per = 7 * 11 * 3 * 6 * 4 * 5
    axes["pue"] = {"from": 1.05, "to": 1.6, "num": max(1, round(n_target / per))}
    spec = sweep.parse_spec({"model": "training", "axes": axes})
    n = spec.n_scenarios
    frame = sweep.scenario_frame(spec.payload(), 0, n).drop(columns="scenario")
    for c in ("accelerator", "region", "precision"):
        frame[c] = frame[c].astype(object)  # as a user's DataFrame would hold them
    estimate_training_frame(frame.head(50))
    out: dict = {"scenarios": n, "frame_s": [], "sweep_1_s": [], "sweep_cores_s": []}
    for _ in range(3):
        t0 = time.perf_counter()
        estimate_training_frame(frame)
        out["frame_s"].append(time.perf_counter() - t0)
        for key, jobs in (("sweep_1_s", 1), ("sweep_cores_s", None)):
            d = tempfile.mkdtemp(prefix="jb-bench-")
            try:
                t0 = time.perf_counter()
                sweep.run_sweep(spec, d, jobs=jobs, progress=False)
                out[key].append(time.perf_counter() - t0)
            finally:
                shutil.rmtree(d, ignore_errors=True)
    out["cores"] = os.cpu_count()
    return out


def run_child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"child {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=float, default=1e8, help="grid size (default 1e8)")
    ap.add_argument("--partition-size", type=int, default=250_000)
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    ap.add_argument("--modes", default="single,cluster")
    ap.add_argument("--frame", action="store_true", help="also compare the local path with estimate_training_frame")
    ap.add_argument("--frame-scenarios", type=float, default=1e6)
    ap.add_argument("--keep", action="store_true", help="keep the Parquet output")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    n = int(a.scenarios)
    if a.child == "frame":
        print(json.dumps(frame_child(int(a.frame_scenarios))))
        return
    if a.child:
        print(json.dumps(child(a.child, n, a.partition_size, a.workers, a.out)))
        return
    print(f"training sweep with hourly intensity, ~{n:,} scenarios, partitions of {a.partition_size:,}, "
          f"{os.cpu_count()} cores visible")
    for mode in [m for m in a.modes.split(",") if m]:
        out = tempfile.mkdtemp(prefix=f"jb-bench-{mode}-")
        try:
            r = run_child(["--child", mode, "--scenarios", str(n), "--partition-size", str(a.partition_size),
                           "--workers", str(a.workers), "--out", out])
        finally:
            if not a.keep:
                shutil.rmtree(out, ignore_errors=True)
        label = "single process" if mode == "single" else f"LocalCluster {a.workers} workers x 1 thread"
        w = ", ".join(f"{x:,.0f}" for x in r["worker_rss_mb"])
        print(f"{label}: {r['scenarios']:,} scenarios in {r['partitions']} partitions, {r['seconds']:.1f} s -> "
              f"{r['rate']:,.0f} scenarios/s; 10^8 would take ~{1e8 / r['rate'] / 60:.1f} min at this rate; "
              f"peak RSS driver {r['driver_rss_mb']:,.0f} MB" + (f", workers {w} MB" if w else "")
              + f"; Parquet {r['parquet_mb']:,.0f} MB ({r['parquet_mb'] * 1e6 / r['scenarios']:.1f} B/scenario)"
              + (f"; worker warm-up (data load, not in the rate) {r['warm_s']:.1f} s" if r["warm_s"] else "")
              + f"; load average after {r['load_average'][0]:.1f}")
    if a.frame:
        r = run_child(["--child", "frame", "--frame-scenarios", str(a.frame_scenarios)])
        f, s1, sc = min(r["frame_s"]), min(r["sweep_1_s"]), min(r["sweep_cores_s"])
        print(f"local path, {r['scenarios']:,} scenarios (annual intensity), best of 3: estimate_training_frame alone "
              f"{f:.2f} s; joulebook sweep in one process {s1:.2f} s ({s1 / f:.2f}x, incl. Parquet + summary); "
              f"in {r['cores']} processes {sc:.2f} s ({sc / f:.2f}x) -> "
              f"{'no slower' if sc <= f * 1.0 else 'SLOWER'} than the frame function alone")


if __name__ == "__main__":
    main()
