#!/usr/bin/env python3
"""Check joulebook's real measurement path on one NVIDIA GPU (H100 / H200), in under 4 minutes.

Run once on a machine with a GPU, torch and this project installed:

    python scripts/gpu_check.py                 # report on stdout, JSON to $OUT/gpu_check.json if $OUT is set
    python scripts/gpu_check.py --seconds 10    # length of each measured window (default 10 s)

What it checks, in order:

1. NVML: the total-energy counter (value, cost of one read, how often it advances), the
   instantaneous power field ``NVML_FI_DEV_POWER_INSTANT`` and ``nvmlDeviceGetPowerUsage``
   (value and cost of a read).
2. Idle baseline, then a steady and a bursty (0.3 s on / 0.3 s off) bf16 matmul load, each
   measured at once by three meters: the energy counter, instantaneous power sampled at 10 Hz
   and at 100 Hz, and ``nvmlDeviceGetPowerUsage`` polled once a second. Sampled energies are
   compared with the counter.
3. A short bf16 training loop of a small GPT-style model, measured in an EnergyMeter window
   and calibrated with ``joulebook.models.calibration`` (effective MFU, power under load, predicted
   energy per step before and after calibration).

It fails loudly (exit 1) when there is no GPU or NVML cannot read it. Measurements that look
wrong are flagged WARN in the report; the exit code stays 0 so the data still comes back.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path


def fail(msg: str) -> None:
    print(f"gpu_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def _timed(fn, n: int) -> tuple[float, object]:
    """Mean seconds per call over n calls, and the last value."""
    v = None
    t0 = time.perf_counter()
    for _ in range(n):
        v = fn()
    return (time.perf_counter() - t0) / n, v


def accelerator_id(name: str) -> str | None:
    n = name.upper()
    if "H200" in n:
        return "h200-sxm"
    if "H100" in n:
        return "h100-pcie" if "PCIE" in n else "h100-sxm"
    if "A100" in n:
        if "PCIE" in n:
            return "a100-pcie-80gb" if "80GB" in n else "a100-pcie-40gb"
        return "a100-sxm4-80gb" if "80GB" in n else None
    return None


# --------------------------------------------------------------------------- 1. NVML

def check_nvml(device_index: int) -> dict:
    from joulebook.core.errors import MeasurementUnavailable
    from joulebook.measure.backend import NVMLBackend, ReadError, Unsupported, visible_devices

    b = NVMLBackend()
    try:
        devs = b.open()
    except MeasurementUnavailable as e:
        fail(f"NVML unavailable: {e}")
    try:
        d = visible_devices(devs)[device_index]
        out: dict = {"gpu": d.name, "uuid": d.uuid, "nvml_index": d.nvml_index, "power_limit_w": d.power_limit_w,
                     "driver": b.describe().get("driver"), "gpus_on_machine": len(devs)}
        i = d.nvml_index
        for key, fn, n in (("energy_counter", lambda: b.energy_mj(i), 50),
                           ("power_instant", lambda: b.power_instant_w(i), 2000),
                           ("power_usage", lambda: b.power_usage_w(i), 2000)):
            try:
                cost, val = _timed(fn, n)
                out[key] = {"supported": True, "value": val, "read_cost_us": cost * 1e6}
            except (Unsupported, ReadError) as e:
                out[key] = {"supported": False, "error": str(e)}
        if out["energy_counter"]["supported"]:
            # how often does the counter advance? poll it for one second
            vals, t_end = [], time.perf_counter() + 1.0
            while time.perf_counter() < t_end:
                vals.append(b.energy_mj(i))
            changes = sum(1 for a, c in zip(vals, vals[1:], strict=False) if c != a)
            out["energy_counter"].update(reads_in_1s=len(vals), advances_per_s=changes)
        return out
    finally:
        b.close()


# --------------------------------------------------------------------------- 2. matmul loads

def meters(gpu: int, out_dir: Path | None, tag: str):
    """Three meters on one GPU: counter + 10 Hz instant, 100 Hz instant, 1 s power usage."""
    from joulebook.core.errors import MeasurementUnavailable
    from joulebook.measure import EnergyMeter

    ms = {}
    for key, kw in (("instant_10hz", dict(interval_s=0.1, power_source="instant", trace=True)),
                    ("instant_100hz", dict(interval_s=0.01, power_source="instant")),
                    ("usage_1s", dict(interval_s=1.0, power_source="usage"))):
        out = (out_dir / f"{tag}_{key}.jsonl") if out_dir else None
        try:
            m = EnergyMeter(gpus=[gpu], out=out, **kw)
            m.start()
        except MeasurementUnavailable as e:
            print(f"  WARN {key}: {e}")
            continue
        ms[key] = m
    if not ms:
        fail("no meter could start")
    return ms


def measured(ms: dict, name: str, work) -> dict:
    for m in ms.values():
        m.begin_window(name)
    extra = work()
    res = {k: m.end_window(name) for k, m in ms.items()}
    for m in ms.values():
        m.stop()
    out = {"extra": extra}
    for k, r in res.items():
        g = r.gpus[0]
        e_s, e_c = g.energy_j_sampled, g.energy_j_counter  # each meter's own counter: the same window edges
        out[k] = {"duration_s": r.duration_s, "energy_j": r.energy_j, "method": r.method,
                  "energy_j_counter": e_c, "energy_j_sampled": e_s, "sample_method": g.sample_method,
                  "samples": g.samples, "missed": g.missed_samples, "mean_power_w": r.mean_power_w,
                  "peak_power_w": r.peak_power_w,
                  "sampled_vs_counter_pct": 100 * (e_s / e_c - 1) if (e_s and e_c) else None}
    return out


def matmul_steady(torch, seconds: float):
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)

    def work():
        calls, t_end = 0, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            for _ in range(4):
                torch.mm(a, b, out=c)
            torch.cuda.synchronize()
            calls += 4
        return {"matmuls": calls, "tflops": calls * 2 * n ** 3 / seconds / 1e12}

    work_warm = time.perf_counter() + 1.0  # warm up clocks and cuBLAS heuristics
    while time.perf_counter() < work_warm:
        torch.mm(a, b, out=c)
        torch.cuda.synchronize()
    return work


def matmul_bursty(torch, seconds: float, on_s: float = 0.3, off_s: float = 0.3):
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)

    def work():
        bursts, t_end = 0, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t_on = time.perf_counter() + on_s
            while time.perf_counter() < t_on:
                for _ in range(2):
                    torch.mm(a, b, out=c)
                torch.cuda.synchronize()
            bursts += 1
            time.sleep(off_s)
        return {"bursts": bursts, "on_s": on_s, "off_s": off_s}

    return work


# --------------------------------------------------------------------------- 3. training

def gpt_model(torch, vocab: int, d: int, layers: int, heads: int, seq: int):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            bsz, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(bsz, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(bsz, t, c))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))

    return GPT()


def training(torch, gpu: int, seconds: float, out_dir: Path | None, acc_id: str | None, idle_w: float | None) -> dict:
    import pandas as pd

    from joulebook.measure import EnergyMeter
    from joulebook.models import calibration as cal

    F = torch.nn.functional
    vocab, d, layers, heads, seq, batch = 32000, 1024, 12, 16, 1024, 8
    torch.manual_seed(0)
    model = gpt_model(torch, vocab, d, layers, heads, seq).cuda()
    params = sum(p.numel() for p in model.parameters())
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    x = torch.randint(0, vocab, (batch, seq), device="cuda")
    y = torch.randint(0, vocab, (batch, seq), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x).float().view(-1, vocab), y.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    step_s = (time.perf_counter() - t0) / 3
    steps = max(10, math.ceil(seconds / step_s))
    meter = EnergyMeter(gpus=[gpu], interval_s=0.1, out=(out_dir / "train_bf16.jsonl") if out_dir else None,
                        trace=True, idle_power_w=idle_w)
    meter.start()
    meter.begin_window("train_bf16", meta={"steps": steps, "tokens_per_step": batch * seq, "precision": "bf16",
                                           "params": params})
    for _ in range(steps):
        loss = step()
    res = meter.end_window("train_bf16")  # synchronizes the GPU first (torch is in use)
    meter.stop()
    out = {"params": params, "layers": layers, "hidden": d, "seq_len": seq, "batch": batch, "steps": steps,
           "final_loss": float(loss.item()), "duration_s": res.duration_s, "energy_j": res.energy_j,
           "method": res.method, "mean_power_w": res.mean_power_w, "peak_power_w": res.peak_power_w,
           "net_energy_j": res.net_energy_j, "energy_j_sampled_10hz": res.gpus[0].energy_j_sampled}
    if res.energy_j is None:
        out["warn"] = f"training energy missing: {res.missing_reason}"
        return out
    out["energy_per_step_j"] = res.energy_j / steps
    out["energy_per_token_j"] = res.energy_j / (steps * batch * seq)
    if acc_id is None:
        out["calibration"] = "skipped: unknown accelerator (pass --accelerator)"
        return out
    runs = pd.DataFrame([{"window": "train_bf16", "accelerator": acc_id, "precision": "bf16", "count": 1,
                          "steps": steps, "tokens_per_step": batch * seq, "duration_s": res.duration_s,
                          "energy_j": res.energy_j, "params": params, "layers": layers, "hidden": d, "seq_len": seq,
                          "peak_power_w": res.peak_power_w, "idle_w": idle_w, "method": res.method}])
    fitted = cal.fit_frame(runs)
    c = cal.compare_frame(fitted).iloc[0]
    prof = cal.profile_from_fit(fitted.iloc[0], source="gpu_check", created_from={"script": "scripts/gpu_check.py"})
    if out_dir:
        cal.save_profile(prof, out_dir / "calibration_bf16.json")
    out["calibration"] = {
        "accelerator_id": acc_id, "mfu": prof.mfu, "power_w": prof.power_w, "idle_w": prof.idle_w,
        "achieved_tflops": float(c["achieved_tflops"]), "before_mfu": float(c["before_mfu"]),
        "energy_per_step_j": {"predicted_before": float(c["before_energy_per_step_j"]),
                              "measured": float(c["energy_per_step_j"]),
                              "predicted_after": float(c["after_energy_per_step_j"])},
        "error_before_pct": float(c["before_energy_error_pct"]), "error_after_pct": float(c["after_energy_error_pct"]),
        "generic_mfu_error_pct": float(c["generic_energy_error_pct"]),
    }
    return out


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measured load window (s)")
    ap.add_argument("--idle-s", type=float, default=3.0, help="idle baseline length (s)")
    ap.add_argument("--gpu", type=int, default=0, help="visible GPU index to test")
    ap.add_argument("--accelerator", help="joulebook accelerator id (default: from the GPU name)")
    args = ap.parse_args(argv)
    t_all = time.perf_counter()
    out_env = os.environ.get("OUT")
    out_dir = Path(out_env) if out_env else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)

    try:
        import torch
    except ImportError:
        fail("torch is not installed: this check needs torch and an NVIDIA GPU")
    if not torch.cuda.is_available():
        fail("torch sees no CUDA GPU (torch.cuda.is_available() is False)")
    torch.cuda.set_device(args.gpu)
    name = torch.cuda.get_device_name(args.gpu)
    acc_id = args.accelerator or accelerator_id(name)
    import joulebook

    report: dict = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
                    "cuda": torch.version.cuda, "joulebook": joulebook.__version__, "device_name": name,
                    "accelerator_id": acc_id, "window_s": args.seconds, "warnings": []}
    warn = report["warnings"].append

    print(f"gpu_check: {name} (torch {torch.__version__}, CUDA {torch.version.cuda}), accelerator id {acc_id}")
    nv = check_nvml(args.gpu)
    report["nvml"] = nv
    ec, pi, pu = nv["energy_counter"], nv["power_instant"], nv["power_usage"]
    print(f"[1] NVML driver {nv['driver']}, power limit {nv['power_limit_w']} W")
    for label, r in (("energy counter", ec), ("instant power", pi), ("power usage", pu)):
        if r["supported"]:
            print(f"    {label:15s} value {r['value']:,.1f}  read cost {r['read_cost_us']:,.1f} us")
        else:
            print(f"    {label:15s} NOT SUPPORTED: {r['error']}")
    if not ec["supported"]:
        warn("energy counter not supported: the meter will fall back to sampled power")
    else:
        print(f"    counter advanced {ec['advances_per_s']} times in 1 s ({ec['reads_in_1s']} reads)")
    if not pi["supported"]:
        warn("NVML_FI_DEV_POWER_INSTANT not supported: sampling uses the 1 s power-usage average")

    # idle baseline (GPU initialised by torch, nothing running)
    from joulebook.measure import EnergyMeter

    torch.cuda.synchronize()
    idle_meter = EnergyMeter(gpus=[args.gpu], out=(out_dir / "idle.jsonl") if out_dir else None)
    idle_meter.start()
    idle = idle_meter.measure_idle(args.idle_s)
    idle_meter.stop()
    idle_w = idle.gpus[0].mean_power_w
    report["idle"] = {"seconds": idle.duration_s, "power_w": idle_w, "method": idle.method}
    print(f"[2] idle baseline {idle_w:,.1f} W over {idle.duration_s:.1f} s ({idle.method})")

    for tag, make in (("steady", matmul_steady), ("bursty", matmul_bursty)):
        work = make(torch, args.seconds)
        res = measured(meters(args.gpu, out_dir, tag), f"matmul_{tag}", work)
        report[f"matmul_{tag}"] = res
        ref = res.get("instant_10hz") or next(iter(v for k, v in res.items() if k != "extra"))
        print(f"    {tag:6s} matmul: counter {ref['energy_j_counter'] or float('nan'):,.0f} J over "
              f"{ref['duration_s']:.2f} s, mean {ref['mean_power_w'] or float('nan'):,.0f} W, "
              f"peak {ref['peak_power_w'] or float('nan'):,.0f} W")
        for k in ("instant_10hz", "instant_100hz", "usage_1s"):
            r = res.get(k)
            if r is None:
                continue
            d = r["sampled_vs_counter_pct"]
            print(f"      {k:14s} sampled {r['energy_j_sampled'] or float('nan'):,.0f} J "
                  f"({'n/a' if d is None else f'{d:+.2f} %'} vs counter), {r['samples']} samples")
            if k.startswith("instant") and d is not None and abs(d) > 3:
                warn(f"{tag}: {k} differs from the counter by {d:+.1f} %")

    print("[3] bf16 training loop (GPT-style, 12 x 1024, seq 1024, batch 8)")
    tr = training(torch, args.gpu, args.seconds, out_dir, acc_id, idle_w)
    report["training_bf16"] = tr
    if "warn" in tr:
        warn(tr["warn"])
    else:
        print(f"    {tr['steps']} steps, {tr['params'] / 1e6:,.1f} M params: {tr['energy_per_step_j']:,.2f} J/step, "
              f"{tr['energy_per_token_j'] * 1000:,.3f} mJ/token, mean {tr['mean_power_w']:,.0f} W ({tr['method']})")
        c = tr["calibration"]
        if isinstance(c, dict):
            e = c["energy_per_step_j"]
            print(f"    calibrated MFU {c['mfu']:.3f} (default {c['before_mfu']:.3f}), power {c['power_w']:,.0f} W; "
                  f"J/step predicted before {e['predicted_before']:,.2f}, measured {e['measured']:,.2f}, "
                  f"after {e['predicted_after']:,.2f}")
        else:
            print(f"    calibration {c}")
    report["elapsed_s"] = time.perf_counter() - t_all
    for w in report["warnings"]:
        print(f"WARN {w}")
    print(f"gpu_check: done in {report['elapsed_s']:.0f} s, {len(report['warnings'])} warning(s)")
    if out_dir:
        (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"gpu_check: wrote {out_dir / 'gpu_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
