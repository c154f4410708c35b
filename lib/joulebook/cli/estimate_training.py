"""``joulebook estimate training``: energy, time, emissions, water and cost of a training run."""

from __future__ import annotations

import argparse
import math

from ..errors import InputError
from ._common import fmt, print_json, print_table


def _num(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a plain number (units are in the flag name), got {text!r}") from None
    if math.isnan(v):
        raise argparse.ArgumentTypeError("NaN is not a value")
    return v


def register(sub) -> None:
    p = sub.add_parser("training", help="estimate a training run",
                       description="Estimate FLOPs, accelerator-hours, energy, peak power, emissions, water and cost "
                                   "of a training run from first principles.")
    size = p.add_argument_group("model and data")
    size.add_argument("--params", type=_num, help="parameters N (total)")
    size.add_argument("--active-params", type=_num, help="active parameters per token (MoE); default N")
    size.add_argument("--tokens", type=_num, help="training tokens D")
    size.add_argument("--steps", type=_num, help="instead of --tokens: steps (with --batch and --seq-len)")
    size.add_argument("--batch", type=_num, help="sequences per step")
    size.add_argument("--seq-len", type=_num, help="sequence length (tokens); with --layers/--hidden adds attention FLOPs")
    size.add_argument("--epochs", type=_num, help="instead of --tokens: epochs (with --dataset-tokens)")
    size.add_argument("--dataset-tokens", type=_num, help="tokens in one epoch")
    size.add_argument("--layers", type=_num, help="transformer layers L (architecture, optional)")
    size.add_argument("--hidden", type=_num, help="model width d (architecture, optional)")
    size.add_argument("--recompute", action="store_true", help="full activation recomputation (x4/3 FLOPs)")
    hw = p.add_argument_group("hardware")
    hw.add_argument("--accelerator", default="h100-sxm", help="accelerator id or alias (see `joulebook accelerators`)")
    hw.add_argument("--count", type=_num, default=1, help="number of accelerators")
    hw.add_argument("--precision", default="bf16", help="fp32, tf32, bf16, fp16 or fp8")
    hw.add_argument("--mfu", type=_num, help="model FLOPs utilisation (default from data per accelerator and precision)")
    hw.add_argument("--scaling-efficiency", type=_num, help="share of throughput kept when scaling out (default 1)")
    hw.add_argument("--accelerator-hours", type=_num, help="given accelerator-hours (skips the FLOPs path)")
    hw.add_argument("--power-w", type=_num, help="mean accelerator power in W (skips the power model)")
    hw.add_argument("--node-power-w", type=_num, help="non-accelerator node power per accelerator in W (0: accelerators only)")
    hw.add_argument("--calibration", help="calibration profile from `joulebook calibrate` (MFU and power under load)")
    site = p.add_argument_group("where, when and prices")
    site.add_argument("--region", help="region id (see `joulebook regions`)")
    site.add_argument("--pue", type=_num, help="power usage effectiveness (default: the region's operator)")
    site.add_argument("--intensity-g-per-kwh", type=_num, help="grid intensity override")
    site.add_argument("--price-usd-per-kwh", type=_num, help="electricity price override")
    site.add_argument("--start", help="start date-time, region local time (e.g. 2026-07-01T02:00): hourly intensity")
    site.add_argument("--cloud-price-usd-per-gpu-hour", type=_num, help="rental price override")
    site.add_argument("--purchase-usd-per-accelerator", type=_num, help="purchase price for the on-prem cost")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..training import OUTPUT_KEYS, UNITS, estimate_training

    if args.count is not None and args.count != int(args.count):
        raise InputError("count", f"must be a whole number, got {args.count:g}")
    est = estimate_training(
        params=args.params, active_params=args.active_params, tokens=args.tokens, steps=args.steps, batch=args.batch,
        seq_len=args.seq_len, epochs=args.epochs, dataset_tokens=args.dataset_tokens, layers=args.layers,
        hidden=args.hidden, recompute=args.recompute, accelerator=args.accelerator, count=int(args.count),
        precision=args.precision, mfu=args.mfu, accelerator_hours=args.accelerator_hours, power_w=args.power_w,
        node_power_w=args.node_power_w, pue=args.pue, region=args.region, intensity_g_per_kwh=args.intensity_g_per_kwh,
        price_usd_per_kwh=args.price_usd_per_kwh, start=args.start,
        cloud_price_usd_per_gpu_hour=args.cloud_price_usd_per_gpu_hour,
        purchase_usd_per_accelerator=args.purchase_usd_per_accelerator, scaling_efficiency=args.scaling_efficiency,
        calibration=args.calibration)
    if args.json:
        print_json(est.to_dict())
        return 0
    rows = [(k, f"{fmt(est.central[k])}   [{fmt(est.low[k])} .. {fmt(est.high[k])}] {UNITS[k]}")
            for k in OUTPUT_KEYS if est.central[k] is not None]
    where = f" in {est.region.region_id} ({est.region.name})" if est.region else ""
    print_table(rows, title=f"Training estimate{where}: central  [low .. high]")
    print("assumptions:")
    for a in est.assumptions.values():
        flag = " (given)" if a.overridden else ""
        note = a.note if len(a.note) <= 70 else a.note[:69] + "…"
        value = a.value if isinstance(a.value, str) else fmt(a.value)
        print(f"  {a.name} = {value} {a.unit}{flag}  [{a.source or '-'}] {note}".rstrip())
    print("(--json gives every assumption in full, with its source)")
    return 0
