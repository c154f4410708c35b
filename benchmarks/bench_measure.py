#!/usr/bin/env python3
"""How much does the energy meter's sampling thread slow the measured program down?

Runs two workloads with no meter, with a meter sampling at 10 Hz and at 100 Hz (and at
100 Hz with the power trace streamed to a JSONL file). Many short runs, the conditions in a
shuffled order within each repeat, medians per condition; wall time and process CPU time
(which includes the sampler thread's own work) are both reported, because on a shared
machine wall time carries the other tenants' noise:

* a CPU-bound pure-Python loop (holds the GIL: the worst case for a Python sampler thread);
* a numpy loop (mostly outside the GIL).

The meter runs on the fake NVML backend (``joulebook.testing.fake_nvml``) against wall-clock time,
so the thread, locks, integration and file writes are the real ones; only the NVML read is
simulated (the H100 probe measured ~2 us for the instantaneous-power read, which ctypes makes
without the GIL). It also times one sampler tick directly, which gives the CPU share the
thread needs independently of machine noise. Target: under 1 % slowdown at 10 Hz.

    python benchmarks/bench_measure.py [--repeats 25] [--size 0.3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from joulebook.measure import EnergyMeter
from joulebook.testing.fake_nvml import FakeGPU, FakeNVML, square


def python_loop(n: int) -> float:
    acc = 0.0
    for i in range(n):
        acc += (i % 7) * 0.5 - (i % 3)
    return acc


def numpy_loop(n: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256))
    b = rng.standard_normal((256, 256))
    s = 0.0
    for _ in range(n):
        c = a @ b
        s += float(np.tanh(c).sum())
    return s


def make_meter(interval_s: float | None, out: Path | None) -> EnergyMeter | None:
    if interval_s is None:
        return None
    gpus = [FakeGPU(square(120, 690, 0.3)), FakeGPU(square(110, 700, 0.25))]
    return EnergyMeter(backend=FakeNVML(gpus), interval_s=interval_s, out=out, trace=out is not None)


def run(workload, n: int, interval_s: float | None, out: Path | None) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one workload run under one condition."""
    meter = make_meter(interval_s, out)
    if meter is not None:
        meter.start()
        meter.begin_window("bench")
    c0, t0 = time.process_time(), time.perf_counter()
    workload(n)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if meter is not None:
        meter.end_window("bench")
        meter.stop()
    return dt, dc


def tick_cost_s(interval_s: float, trace: bool, tmp: Path) -> float:
    """Mean cost of one sampler tick (2 GPUs, one open window), timed directly."""
    meter = make_meter(interval_s, tmp / "tick.jsonl" if trace else None)
    meter.start()
    meter._sampler.stop()  # time the tick itself, not the thread
    meter.begin_window("w")
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        meter._tick()
    dt = (time.perf_counter() - t0) / n
    meter.end_window("w")
    meter.stop()
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--size", type=float, default=0.3, help="seconds per workload run (about)")
    args = ap.parse_args(argv)

    # size the workloads to about --size seconds each on this machine
    n_py = 500_000
    n_py = max(50_000, int(n_py * args.size / run(python_loop, n_py, None, None)[0]))
    n_np = 20
    n_np = max(5, int(n_np * args.size / run(numpy_loop, n_np, None, None)[0]))

    rnd = random.Random(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # "no meter (A/A)" repeats the baseline: its difference is this machine's noise floor
        conditions = [("no meter", None, False), ("no meter (A/A)", None, False), ("10 Hz", 0.1, False),
                      ("100 Hz", 0.01, False), ("100 Hz + trace file", 0.01, True)]
        print(f"bench_measure: {args.repeats} repeats per condition (shuffled order), ~{args.size:g} s per run; "
              f"python loop n={n_py:,}, numpy loop n={n_np:,}; fake NVML, 2 GPUs, real sampler thread")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for wname, wl, n in (("python loop", python_loop, n_py), ("numpy loop", numpy_loop, n_np)):
                order = list(conditions)
                rnd.shuffle(order)
                for cname, interval, trace in order:
                    out = tmp / "trace.jsonl" if trace else None
                    results.setdefault((wname, cname), []).append(run(wl, n, interval, out))
        print(f"{'workload':12s} {'condition':20s} {'wall s':>8s} {'slowdown':>9s} {'CPU s':>8s} {'extra CPU':>10s}")
        for wname in ("python loop", "numpy loop"):
            base_w = statistics.median(x[0] for x in results[(wname, "no meter")])
            base_c = statistics.median(x[1] for x in results[(wname, "no meter")])
            for cname, _, _ in conditions:
                xs = results[(wname, cname)]
                w = statistics.median(x[0] for x in xs)
                c = statistics.median(x[1] for x in xs)
                print(f"{wname:12s} {cname:20s} {w:8.4f} {100 * (w / base_w - 1):+8.2f}% {c:8.4f} "
                      f"{100 * (c / base_c - 1):+9.2f}%")
        print("(compare each slowdown with the A/A row: differences inside that band are noise)")
        print("\nsampler tick cost, timed directly (2 GPUs, one open window):")
        for label, interval, trace in (("10 Hz", 0.1, False), ("100 Hz", 0.01, False), ("100 Hz + trace", 0.01, True)):
            c = tick_cost_s(interval, trace, tmp)
            print(f"  {label:15s} {c * 1e6:7.1f} us per tick -> {100 * c / interval:.3f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
