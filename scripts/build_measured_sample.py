#!/usr/bin/env python3
"""Build ``data/measured/h100_probe1_sample.jsonl`` from ``data/measured/h100_calibration.csv``.

The sample is the shipped default of the measurement report: the probe's windows in
the format ``joulebook measure --out`` writes (header, one ``window`` record per CSV row,
summary). It is built from the CSV alone, so it has no per-sample power trace and no
window start times (the CSV has neither); those fields are null, never invented.

    python scripts/build_measured_sample.py            # rewrite the shipped file
    python scripts/build_measured_sample.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from joulebook import data
from joulebook.measure.backend import POWER_USAGE_NOTE
from joulebook.measure.jsonl import JsonlWriter
from joulebook.measure.meter import GpuWindow, WindowResult

CSV = "measured/h100_calibration.csv"
OUT = "measured/h100_probe1_sample.jsonl"
META_COLUMNS = ("experiment", "precision", "variant", "batch", "seq", "params", "flops_per_token", "calls",
                "tflops_achieved", "s_per_call", "tokens_per_s", "j_per_token", "source_id", "status", "year", "note")
NUMERIC = {"batch", "seq", "params", "flops_per_token", "calls", "tflops_achieved", "s_per_call", "tokens_per_s",
           "j_per_token", "year"}


def _value(col: str, v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    if col in NUMERIC:
        f = float(v)
        return int(f) if f.is_integer() else f
    return str(v)


def windows_from_csv() -> list[WindowResult]:
    t = data.table(CSV)
    out = []
    seen: dict[str, int] = {}
    for _, row in t.iterrows():
        meta = {c: _value(c, row.get(c)) for c in META_COLUMNS if c in t.columns}
        name = ":".join(str(x) for x in (meta["experiment"], meta.get("precision"), meta.get("variant")) if x)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # the probe has two idle windows (start and end): keep names unique
            name = f"{name}#{seen[name]}"
        if meta["experiment"] == "train_step":
            meta["steps"] = meta["calls"]  # one call is one training step
            meta["tokens_per_step"] = meta["batch"] * meta["seq"]
        seconds, energy = float(row["seconds"]), float(row["energy_j_counter"])
        peak = _value("x", row.get("power_w_max"))
        mean = energy / seconds
        gpu = GpuWindow(gpu=0, nvml_index=None, uuid=None, name=None, duration_s=seconds, energy_j=energy,
                        method="energy_counter", mean_power_w=mean, peak_power_w=None if peak is None else float(peak),
                        samples=None, missed_samples=None, energy_j_counter=energy, energy_j_sampled=None,
                        sample_method="power_usage_sampled", notes=[POWER_USAGE_NOTE])
        out.append(WindowResult(
            name=name, t_start_s=None, t_end_s=None, start_unix=None, duration_s=seconds, gpus=[gpu], energy_j=energy,
            mean_power_w=mean, peak_power_w=gpu.peak_power_w, samples=None, method="energy_counter",
            sample_method="power_usage_sampled", interval_s=None,
            notes=["peak power is the largest nvmlDeviceGetPowerUsage reading of the window; sample count and "
                   "window start times were not recorded in the CSV"], meta=meta))
    return out


def build(path: Path) -> Path:
    windows = windows_from_csv()
    src = data.sources_for(["joulebook_h100_probe1"])
    with JsonlWriter(path) as w:
        w.header(
            host=None, pid=None, created_unix=None, backend="csv", source_id="joulebook_h100_probe1",
            source_title=str(src["title"].iloc[0]) if not src.empty else None,
            built_from=f"data/{CSV}", builder="scripts/build_measured_sample.py",
            gpus=[{"gpu": 0, "nvml_index": None, "uuid": None, "name": None, "power_limit_w": None,
                   "method": "energy_counter", "sample_method": "power_usage_sampled", "unsupported": {}}],
            method="energy_counter", sample_method="power_usage_sampled", interval_s=None, interval_ms=None,
            trace=False, accelerator_id="h100-sxm",
            notes=["one window per row of the calibration CSV; energy from the NVML energy counter at the window "
                   "edges; no per-sample power trace was kept", POWER_USAGE_NOTE])
        for r in windows:
            w.window(r.to_dict())
        w.summary({"windows": len(windows), "window_names": [r.name for r in windows],
                   "energy_j_windows": round(sum(r.energy_j for r in windows), 6),
                   "duration_s_windows": round(sum(r.duration_s for r in windows), 6),
                   "note": "windows are listed in probe order; the gaps between them were not recorded"})
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args(argv)
    target = data.data_dir() / OUT
    if args.check:
        with tempfile.TemporaryDirectory() as d:
            fresh = build(Path(d) / "sample.jsonl").read_bytes()
        if not target.exists() or target.read_bytes() != fresh:
            print(f"{target} is out of date: run scripts/build_measured_sample.py", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    with tempfile.TemporaryDirectory(dir=target.parent) as d:
        tmp = build(Path(d) / "sample.jsonl")
        tmp.replace(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
