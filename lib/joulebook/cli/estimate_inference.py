"""``joulebook estimate inference``: latency, memory, power, energy, cost and carbon of serving a model."""

from __future__ import annotations

import argparse

from joulebook.cli._common import finite_number_arg, fmt, print_assumptions, print_json, print_table, whole
from joulebook.models.inference import OUTPUT_KEYS, UNITS, estimate_inference


def _setting(text: str) -> tuple[str, float]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip().replace("-", "_"), finite_number_arg(value.strip())


def register(sub) -> None:
    p = sub.add_parser(
        "inference", help="estimate serving a model (roofline)",
        description="Roofline estimate of prefill and decode time, memory, power, energy, cost and emissions per "
                    "1,000 generated tokens, with compression techniques applied to the model description; static "
                    "batches or a continuous-batching serving engine, busy or deployed at a given utilisation.")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="preset (llama-7b, llama-3-8b, llama-2-70b, mixtral-8x7b, ...)")
    m.add_argument("--params", type=finite_number_arg, help="instead of --model: total parameters")
    m.add_argument("--active-params", type=finite_number_arg, help="active parameters per token (MoE)")
    m.add_argument("--layers", type=finite_number_arg, help="layers L")
    m.add_argument("--hidden", type=finite_number_arg, help="model width d")
    m.add_argument("--heads", type=finite_number_arg, help="attention heads")
    m.add_argument("--kv-heads", type=finite_number_arg, help="KV heads (grouped-query attention); default = heads")
    m.add_argument("--head-dim", type=finite_number_arg, help="dimensions per head; default hidden / heads")
    m.add_argument("--vocab", type=finite_number_arg, help="vocabulary size")
    m.add_argument("--experts", type=finite_number_arg, help="experts (MoE)")
    m.add_argument("--experts-active", type=finite_number_arg, help="experts per token (MoE)")
    hw = p.add_argument_group("hardware and numbers")
    hw.add_argument("--accelerator", default="h100-sxm", help="accelerator id or alias")
    hw.add_argument("--count", type=finite_number_arg, default=1, help="accelerators in tensor parallel")
    hw.add_argument("--precision", default="bf16", help="fp32, tf32, bf16, fp16, fp8 or int8 (weights and activations)")
    hw.add_argument("--weight-precision", help="weights only (e.g. int4 with --activation-precision bf16)")
    hw.add_argument("--activation-precision", help="activations")
    hw.add_argument("--kv-precision", help="KV cache")
    hw.add_argument("--runtime", default="compiled", choices=("eager", "compiled"),
                    help="eager framework (launch overhead per layer) or compiled / graph-captured")
    hw.add_argument("--technique", action="append", default=[],
                    help="fp8 | int8-weight-only | int4-weight-only | w8a8 | kv:fp8 | sparse-2:4 | prune:0.5[:sparse] | "
                         "distill:STUDENT | moe:K/E (repeat or join with + to combine)")
    w = p.add_argument_group("workload")
    w.add_argument("--batch", type=finite_number_arg, default=1, help="sequences decoded together")
    w.add_argument("--prompt-tokens", type=finite_number_arg, default=128, help="prompt tokens per sequence")
    w.add_argument("--new-tokens", type=finite_number_arg, default=128, help="generated tokens per sequence")
    sv = p.add_argument_group("serving (continuous batching)")
    sv.add_argument("--serving", default="static", choices=("static", "continuous"),
                    help="static: one batch of --batch requests (default); continuous: a serving engine that keeps "
                         "--max-concurrency requests running and mixes chunked prefill into decode steps")
    sv.add_argument("--max-concurrency", type=finite_number_arg,
                    help="continuous: requests running at once (default --batch); the KV cache may allow fewer")
    sv.add_argument("--arrival-rate", type=finite_number_arg, dest="arrival_rate_per_s", metavar="PER_S",
                    help="continuous: requests arriving per second (concurrency from Little's law); default saturated")
    sv.add_argument("--prefill-tokens", type=finite_number_arg,
                    help="continuous: new prompt tokens each request prefills (default --prompt-tokens; fewer with "
                         "prefix caching of earlier turns)")
    sv.add_argument("--utilisation", type=finite_number_arg, default=1.0,
                    help="share of wall time the deployment is busy, in (0, 1]; the rest draws idle power "
                         "(the *_service outputs)")
    site = p.add_argument_group("where and prices")
    site.add_argument("--region", help="region id (see `joulebook regions`); emissions are null without one")
    site.add_argument("--pue", type=finite_number_arg, help="power usage effectiveness (default: the region's operator)")
    site.add_argument("--intensity-g-per-kwh", type=finite_number_arg, help="grid intensity override")
    site.add_argument("--price-usd-per-kwh", type=finite_number_arg, help="electricity price override")
    site.add_argument("--cloud-price-usd-per-gpu-hour", type=finite_number_arg, help="rental price override")
    site.add_argument("--power-w", type=finite_number_arg, help="mean accelerator power in W (skips the power model)")
    site.add_argument("--compute-efficiency", type=finite_number_arg, help="fraction of dense peak reached by matmuls")
    site.add_argument("--set", action="append", default=[], type=_setting, metavar="NAME=VALUE",
                      help="override any parameter of data/inference_runtime.csv (e.g. memory_bandwidth_efficiency=0.8)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    overrides = {k: v for k, v in (("pue", args.pue), ("intensity_g_per_kwh", args.intensity_g_per_kwh),
                                   ("price_usd_per_kwh", args.price_usd_per_kwh),
                                   ("cloud_price_usd_per_gpu_hour", args.cloud_price_usd_per_gpu_hour),
                                   ("power_w", args.power_w), ("compute_efficiency", args.compute_efficiency))
                 if v is not None}
    overrides.update(dict(args.set))
    est = estimate_inference(
        model=args.model, params=args.params, active_params=args.active_params, layers=whole("layers", args.layers),
        hidden=whole("hidden", args.hidden), heads=whole("heads", args.heads), kv_heads=whole("kv_heads", args.kv_heads),
        head_dim=whole("head_dim", args.head_dim), vocab=whole("vocab", args.vocab),
        experts=whole("experts", args.experts), experts_active=whole("experts_active", args.experts_active),
        accelerator=args.accelerator, count=whole("count", args.count), precision=args.precision,
        weight_precision=args.weight_precision, activation_precision=args.activation_precision,
        kv_precision=args.kv_precision, batch=whole("batch", args.batch),
        prompt_tokens=whole("prompt_tokens", args.prompt_tokens), new_tokens=whole("new_tokens", args.new_tokens),
        runtime=args.runtime, technique="+".join(args.technique) if args.technique else None, region=args.region,
        serving=args.serving, max_concurrency=whole("max_concurrency", args.max_concurrency),
        arrival_rate_per_s=args.arrival_rate_per_s, prefill_tokens=whole("prefill_tokens", args.prefill_tokens),
        utilisation=args.utilisation, overrides=overrides)
    if args.json:
        print_json(est.to_dict())
        return 0
    d = est.to_dict()
    head = (f"Inference estimate: {d['model']['name']} on {est.inputs['count']} x {d['accelerator']}, "
            f"{'+'.join(d['technique'])}, "
            + (f"batch {est.inputs['batch']}" if est.inputs["serving"] == "static" else
               f"up to {d['serving']['max_concurrency'] or est.inputs['batch']:g} requests at once"
               + (f", {est.inputs['arrival_rate_per_s']:g} arriving per s" if est.inputs.get("arrival_rate_per_s") else ""))
            + f", {est.inputs['prompt_tokens']} prompt + "
            f"{est.inputs['new_tokens']} new tokens, {est.inputs['runtime']}, {est.inputs['serving']} serving"
            + (f" (utilisation {est.inputs['utilisation']:g})" if est.inputs["utilisation"] != 1 else "")
            + (f", {est.region.region_id}" if est.region else "") + ": central  [low .. high]")
    rows = [(k, f"{fmt(est.central[k])}   [{fmt(est.low[k])} .. {fmt(est.high[k])}] {UNITS[k]}")
            for k in OUTPUT_KEYS if est.central[k] is not None]
    print_table(rows, title=head)
    print(f"  bound: prefill {est.bound['prefill']}, decode {est.bound['decode']}; fits in memory: "
          f"{'yes' if est.fits_in_memory else 'NO, short by ' + fmt(est.central['shortfall_gb'], 'GB per accelerator')}")
    acc = d["accuracy"]
    if acc == "no data":
        print("  accuracy: no data for this model and technique in compression_accuracy.csv")
    else:
        for r in acc:
            print(f"  accuracy: {r['metric']} {r['baseline_value']} -> {r['compressed_value']} "
                  f"({r['change_pct']:+.2f} %) [{r['record_id']}, {r['source_id']}]")
    print_assumptions(est.assumptions.values())
    return 0
