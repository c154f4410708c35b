#!/usr/bin/env python3
"""Benchmark: 1,000,000 training scenarios through the vectorized path vs the scalar API in a loop.

Scenarios: accelerators x regions x precisions x model sizes x token budgets x counts, tiled to
1,000,000 rows. Prints scenarios/s for the vectorized path (best and median of several runs), the
scalar API's scenarios/s on a sample, and the ratio. Target (issue 2): the million in under 2 s on
one core. Run with `taskset -c 0` to pin to one core.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import pandas as pd

from joulebook.models.training import estimate_training, estimate_training_frame

ACCS = ["h100-sxm", "a100-sxm4-80gb", "h200-sxm", "l40s", "l4", "a100-sxm4-40gb", "h100-pcie"]
REGIONS = ["us-va", "us-ca", "us-tx", "de", "se", "sg", "in", "fr", "gcp:us-central1", "aws:us-east-1", "azure:westeurope"]
PRECISIONS = ["bf16", "fp16", "tf32"]
SIZES = [1e8, 1e9, 7e9, 13e9, 70e9, 405e9]
TOKENS = [1e10, 1e11, 1e12, 1.5e13]
COUNTS = [1, 8, 64, 512, 4096]


def scenarios(n: int) -> pd.DataFrame:
    grid = list(itertools.product(ACCS, REGIONS, PRECISIONS, SIZES, TOKENS, COUNTS))
    idx = np.arange(n) % len(grid)
    cols = list(zip(*grid, strict=True))
    names = ["accelerator", "region", "precision", "params", "tokens", "count"]
    return pd.DataFrame({k: np.asarray(v, dtype=object if isinstance(v[0], str) else float)[idx]
                         for k, v in zip(names, cols, strict=True)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sample", type=int, default=300, help="scenarios for the scalar loop")
    args = ap.parse_args()
    df = scenarios(args.n)
    estimate_training_frame(df.head(50))  # warm the look-up caches
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = estimate_training_frame(df)
        times.append(time.perf_counter() - t0)
    assert len(out) == args.n and out["facility_energy_kwh"].notna().all()
    best, med = min(times), statistics.median(times)
    sample = df.sample(args.sample, random_state=0).to_dict(orient="records")
    t0 = time.perf_counter()
    for row in sample:
        estimate_training(**row)
    scalar_s = time.perf_counter() - t0
    scalar_rate = args.sample / scalar_s
    print(f"vectorized: {args.n:,} scenarios in {best:.3f} s best, {med:.3f} s median of {args.repeats} "
          f"-> {args.n / best:,.0f} scenarios/s (best), {args.n / med:,.0f} scenarios/s (median)")
    print(f"scalar API loop: {args.sample} scenarios in {scalar_s:.3f} s -> {scalar_rate:,.0f} scenarios/s")
    print(f"ratio vectorized/scalar (median): {args.n / med / scalar_rate:,.0f}x")
    print(f"target: 1,000,000 scenarios < 2 s -> {'met' if med * 1_000_000 / args.n < 2 else 'NOT met'} "
          f"({med * 1_000_000 / args.n:.2f} s per million, median)")


if __name__ == "__main__":
    main()
