"""``joulebook estimate training``: energy, time, emissions, water and cost of a training run."""

from __future__ import annotations

from joulebook.cli._common import fmt, number_arg, print_assumptions, print_json, print_table, whole
from joulebook.models.training import OUTPUT_KEYS, UNITS, estimate_training


def register(sub) -> None:
    p = sub.add_parser("training", help="estimate a training run",
                       description="Estimate FLOPs, accelerator-hours, energy, peak power, emissions, water and cost "
                                   "of a training run from first principles.")
    size = p.add_argument_group("model and data")
    size.add_argument("--params", type=number_arg, help="parameters N (total)")
    size.add_argument("--active-params", type=number_arg, help="active parameters per token (MoE); default N")
    size.add_argument("--tokens", type=number_arg, help="training tokens D")
    size.add_argument("--steps", type=number_arg, help="instead of --tokens: steps (with --batch and --seq-len)")
    size.add_argument("--batch", type=number_arg, help="sequences per step")
    size.add_argument("--seq-len", type=number_arg, help="sequence length (tokens); with --layers/--hidden adds attention FLOPs")
    size.add_argument("--epochs", type=number_arg, help="instead of --tokens: epochs (with --dataset-tokens)")
    size.add_argument("--dataset-tokens", type=number_arg, help="tokens in one epoch")
    size.add_argument("--layers", type=number_arg, help="transformer layers L (architecture, optional)")
    size.add_argument("--hidden", type=number_arg, help="model width d (architecture, optional)")
    size.add_argument("--recompute", action="store_true", help="full activation recomputation (x4/3 FLOPs)")
    hw = p.add_argument_group("hardware")
    hw.add_argument("--accelerator", default="h100-sxm", help="accelerator id or alias (see `joulebook accelerators`)")
    hw.add_argument("--count", type=number_arg, default=1, help="number of accelerators")
    hw.add_argument("--precision", default="bf16", help="fp32, tf32, bf16, fp16 or fp8")
    hw.add_argument("--mfu", type=number_arg, help="model FLOPs utilisation (default from data per accelerator and precision)")
    hw.add_argument("--scaling-efficiency", type=number_arg, help="share of throughput kept when scaling out (default 1)")
    hw.add_argument("--accelerator-hours", type=number_arg, help="given accelerator-hours (skips the FLOPs path)")
    hw.add_argument("--power-w", type=number_arg, help="mean accelerator power in W (skips the power model)")
    hw.add_argument("--node-power-w", type=number_arg, help="non-accelerator node power per accelerator in W (0: accelerators only)")
    hw.add_argument("--calibration", help="calibration profile from `joulebook calibrate` (MFU and power under load)")
    site = p.add_argument_group("where, when and prices")
    site.add_argument("--region", help="region id (see `joulebook regions`)")
    site.add_argument("--pue", type=number_arg, help="power usage effectiveness (default: the region's operator)")
    site.add_argument("--intensity-g-per-kwh", type=number_arg, help="grid intensity override")
    site.add_argument("--price-usd-per-kwh", type=number_arg, help="electricity price override")
    site.add_argument("--start", help="start date-time, region local time (e.g. 2026-07-01T02:00): hourly intensity")
    site.add_argument("--cloud-price-usd-per-gpu-hour", type=number_arg, help="rental price override")
    site.add_argument("--purchase-usd-per-accelerator", type=number_arg, help="purchase price for the on-prem cost")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    est = estimate_training(
        params=args.params, active_params=args.active_params, tokens=args.tokens, steps=args.steps, batch=args.batch,
        seq_len=args.seq_len, epochs=args.epochs, dataset_tokens=args.dataset_tokens, layers=args.layers,
        hidden=args.hidden, recompute=args.recompute, accelerator=args.accelerator, count=whole("count", args.count),
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
    print_assumptions(est.assumptions.values())
    return 0
