#!/usr/bin/env python3
"""Benchmark: 100,000 inference scenarios through the vectorized roofline vs the scalar API in a loop.

Also times the serving model (``serving = continuous``) on the same scenarios, saturated and with an arrival
rate, and prints its cost relative to the static path.

Scenarios: presets x techniques x accelerators x batch sizes x prompt/output lengths x runtimes x regions,
plus user-given shapes (params with a few architecture numbers), tiled to 100,000 rows. Techniques an
accelerator cannot run (fp8 on an A100) are paired only with accelerators that can. Prints scenarios/s for
the vectorized path (best and median of several runs), the scalar API's scenarios/s on a sample, and the
ratio. Run with `taskset -c 0` to pin to one core.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import pandas as pd

from joulebook.models.inference import estimate_inference, inference_frame

MODELS = ["llama-3.2-1b", "tinyllama", "llama-2-7b", "llama-3-8b", "llama-2-13b", "mixtral-8x7b", "llama-2-70b"]
TECHNIQUES = ["", "fp8", "int8-weight-only", "int4-weight-only", "w8a8", "sparse-2:4", "prune:0.5",
              "prune:0.5:sparse", "kv:fp8", "int4-weight-only+sparse-2:4", "distill:llama-3.2-1b"]
ACCS = {"h100-sxm": True, "h200-sxm": True, "a100-sxm4-80gb": False}  # fp8 support
BATCHES = [1, 4, 16, 64, 256]
LENGTHS = [(128, 128), (512, 256), (2048, 512)]
RUNTIMES = ["compiled", "eager"]
REGIONS = ["", "us-va", "se", "sg"]
COUNTS = {"llama-2-70b": 4, "mixtral-8x7b": 2}
SMALL = {"llama-3.2-1b", "tinyllama"}  # no smaller student to distil into (the library refuses it)


def scenarios(n: int) -> pd.DataFrame:
    grid = [(m, t, a, b, s, g, rt, r)
            for m, t, a, b, (s, g), rt, r in itertools.product(MODELS, TECHNIQUES, ACCS, BATCHES, LENGTHS, RUNTIMES, REGIONS)
            if (ACCS[a] or "fp8" not in t) and not (t.startswith("distill:") and m in SMALL)]
    idx = np.arange(n) % len(grid)
    cols = list(zip(*grid, strict=True))
    names = ["model", "technique", "accelerator", "batch", "prompt_tokens", "new_tokens", "runtime", "region"]
    df = pd.DataFrame({k: np.asarray(v, dtype=object if isinstance(v[0], str) else float)[idx]
                       for k, v in zip(names, cols, strict=True)})
    df["count"] = df["model"].map(COUNTS).fillna(1.0)
    # every tenth row is a user-given shape instead of a preset
    rng = np.random.default_rng(0)
    custom = np.arange(n) % 10 == 9
    df.loc[custom, "model"] = ""
    df.loc[custom, "technique"] = df.loc[custom, "technique"].replace("distill:llama-3.2-1b", "")
    df["params"] = np.where(custom, rng.uniform(5e8, 3e10, n), np.nan)
    df["layers"] = np.where(custom, rng.choice([16, 24, 32, 40], n), np.nan)
    df["kv_heads"] = np.where(custom, 8.0, np.nan)
    df["heads"] = np.where(custom, 32.0, np.nan)
    df.loc[custom, "count"] = 1.0
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="scenarios (default 100,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the vectorized path")
    ap.add_argument("--scalar-sample", type=int, default=100, help="scenarios timed through the scalar API")
    args = ap.parse_args()

    df = scenarios(args.n)
    inference_frame(df.head(2000))  # warm the data caches
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = inference_frame(df)
        times.append(time.perf_counter() - t0)
    best, med = min(times), statistics.median(times)
    assert len(out) == args.n and out["decode_ms_per_token"].notna().all()

    # the serving model: the same scenarios as a continuous-batching engine (cap = the batch, 30 % prefix-cached
    # prompts, half the deployments at 40 % utilisation), and again with an arrival rate (Little's law bisection)
    serve = df.assign(serving="continuous", max_concurrency=df["batch"],
                      prefill_tokens=(df["prompt_tokens"] * 0.7).round(),
                      utilisation=np.where(np.arange(args.n) % 2 == 0, 1.0, 0.4))
    arrive = serve.assign(arrival_rate_per_s=np.where(np.arange(args.n) % 3 == 0, 0.5, 5.0))
    serve_times, arrive_times = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        so = inference_frame(serve)
        serve_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ao = inference_frame(arrive)
        arrive_times.append(time.perf_counter() - t0)
    assert so["inter_token_latency_ms"].notna().all() and ao["concurrency"].notna().all()

    sample = df.head(args.scalar_sample)
    t0 = time.perf_counter()
    for _, r in sample.iterrows():
        kw = {k: r[k] for k in ("accelerator", "batch", "prompt_tokens", "new_tokens", "runtime")}
        kw = {k: (int(v) if isinstance(v, float) else v) for k, v in kw.items()}
        if r["model"]:
            kw["model"] = r["model"]
        else:
            kw.update(params=float(r["params"]), layers=int(r["layers"]), heads=int(r["heads"]), kv_heads=int(r["kv_heads"]))
        estimate_inference(count=int(r["count"]), technique=r["technique"] or None, region=r["region"] or None, **kw)
    scalar_s = (time.perf_counter() - t0) / len(sample)

    print(f"inference scenarios: {args.n:,} ({df['model'].replace('', 'custom').nunique()} models, "
          f"{df['technique'].nunique()} technique strings, {df['accelerator'].nunique()} accelerators, "
          f"{df['region'].nunique()} regions)")
    print(f"vectorized inference_frame: best {best:.3f} s, median {med:.3f} s -> {args.n / best:,.0f} scenarios/s (best), "
          f"{args.n / med:,.0f} scenarios/s (median)")
    print(f"scalar estimate_inference: {scalar_s * 1e3:.1f} ms per scenario -> {1 / scalar_s:,.0f} scenarios/s "
          f"(sample of {len(sample)})")
    print(f"ratio vectorized / scalar: {(args.n / best) * scalar_s:,.0f}x")
    s_med, a_med = statistics.median(serve_times), statistics.median(arrive_times)
    print(f"continuous serving (saturated): median {s_med:.3f} s for {args.n:,} -> {s_med / med:.2f}x the static path")
    print(f"continuous serving with an arrival rate (32-step bisection): median {a_med:.3f} s -> {a_med / med:.2f}x "
          f"the static path")


if __name__ == "__main__":
    main()
