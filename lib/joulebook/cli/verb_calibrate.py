"""``joulebook calibrate RUN.jsonl``: fit effective MFU and power under load from a measured run."""

from __future__ import annotations

from pathlib import Path

from joulebook.cli._common import finite_number_arg, fmt, print_json
from joulebook.core.errors import InputError
from joulebook.core.io import check_output_file
from joulebook.measure.jsonl import load_measurement
from joulebook.models.calibration import (
    choose_window,
    compare_frame,
    fit_frame,
    profile_from_fit,
    runs_from_measurement,
    save_profile,
)
from joulebook.stories.measurement import signed_percent


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="fit MFU and power under load from a measured run (writes a calibration profile)",
        description="Fit the effective MFU (6 x params x tokens/s [+ attention with --layers/--hidden/--seq-len] / "
                    "peak) and the mean accelerator power under load from one window of a `joulebook measure` JSONL "
                    "file, write a calibration profile for `estimate training --calibration`, and print predicted-"
                    "before vs measured vs predicted-after energy per step and per token.")
    p.add_argument("run", help="measurement JSONL file (from `joulebook measure --out`)")
    p.add_argument("--accelerator", required=True, help="accelerator id or alias the run used, e.g. h100-sxm")
    p.add_argument("--precision", help="precision of the run (fp32, tf32, bf16, fp16, fp8); default: from the window")
    p.add_argument("--params", type=finite_number_arg, help="model parameters N (default: from the window, if recorded)")
    p.add_argument("--tokens-per-step", type=finite_number_arg, help="tokens per training step (default: from the window)")
    p.add_argument("--steps", type=finite_number_arg, help="training steps in the window (default: from `measure --steps`)")
    p.add_argument("--window", help="window to calibrate from (default: the only measured window)")
    p.add_argument("--layers", type=finite_number_arg, help="layers L (with --hidden and --seq-len: adds the attention FLOPs)")
    p.add_argument("--hidden", type=finite_number_arg, help="model width d")
    p.add_argument("--seq-len", type=finite_number_arg, help="sequence length s")
    p.add_argument("--out", help="profile file to write (default: <run>.calibration.json in the current folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object (profile and comparison)")
    p.set_defaults(func=run)


def run(args) -> int:
    arch = [args.layers, args.hidden, args.seq_len]
    if any(a is not None for a in arch) and not all(a is not None for a in arch):
        raise InputError("layers", "the attention term needs --layers, --hidden and --seq-len together")
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.run).stem}.calibration.json"
    check_output_file(out, "--out")  # before the fit, so a bad --out costs nothing
    m = load_measurement(args.run)
    window = choose_window(m, args.window)
    runs = runs_from_measurement(m, accelerator=args.accelerator, params=args.params,
                                 tokens_per_step=args.tokens_per_step, precision=args.precision, steps=args.steps,
                                 layers=args.layers, hidden=args.hidden, seq_len=args.seq_len, windows=[window])
    fitted = fit_frame(runs)
    cmp = compare_frame(fitted).iloc[0]
    profile = profile_from_fit(fitted.iloc[0], source=Path(args.run).name,
                               created_from={"window": window, "run_file": str(args.run)})
    try:
        save_profile(profile, out)
    except OSError as e:  # /proc, a full disk, a folder that went away
        raise InputError("--out", f"cannot write {out}: {e.strerror or e}") from None
    rows = {
        "energy_per_step_j": (cmp["before_energy_per_step_j"], cmp["energy_per_step_j"], cmp["after_energy_per_step_j"]),
        "energy_per_token_j": (cmp["before_energy_per_token_j"], cmp["energy_per_token_j"],
                               cmp["after_energy_per_token_j"]),
        "step_time_s": (cmp["before_step_time_s"], cmp["step_time_s"], cmp["after_step_time_s"]),
        "power_w": (cmp["before_power_w"], cmp["power_w"], cmp["after_power_w"]),
        "mfu": (cmp["before_mfu"], cmp["mfu"], cmp["after_mfu"]),
    }
    if args.json:
        print_json({"profile": profile.to_dict(), "profile_file": str(out), "window": window,
                    "comparison": {k: {"predicted_before": v[0], "measured": v[1], "predicted_after": v[2]}
                                   for k, v in rows.items()},
                    "energy_error_before_pct": cmp["before_energy_error_pct"],
                    "energy_error_after_pct": cmp["after_energy_error_pct"],
                    "generic_mfu": cmp["generic_mfu"], "energy_error_generic_pct": cmp["generic_energy_error_pct"]})
        return 0
    print(f"Calibration of {profile.accelerator_id} {profile.precision} from {Path(args.run).name}, window {window!r} "
          f"({int(cmp['count'])} GPU, {fmt(cmp['steps'])} steps of {fmt(cmp['tokens_per_step'])} tokens, "
          f"FLOPs basis {cmp['flops_basis']})")
    w = max(len(k) for k in rows)
    print(f"  {'':{w}}  {'predicted before':>17}  {'measured':>12}  {'predicted after':>16}")
    for k, (b, mval, a) in rows.items():
        print(f"  {k:{w}}  {fmt(b):>17}  {fmt(mval):>12}  {fmt(a):>16}")
    print(f"  energy error before calibration {signed_percent(cmp['before_energy_error_pct'])}, after "
          f"{signed_percent(cmp['after_energy_error_pct'])} (fleet-wide default MFU {cmp['generic_mfu']:.3f}: "
          f"{signed_percent(cmp['generic_energy_error_pct'])})")
    print(f"  predictions: joulebook.models.training with count={int(cmp['count'])}, node_power_w=0, pue=1 (NVML measures "
          "the GPU only)")
    print(f"profile written to {out}  (use: joulebook estimate training --calibration {out} ...)")
    return 0
