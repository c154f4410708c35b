#!/usr/bin/env python3
"""Build ``data/`` from the project's sourced reference set (``../shared/reference``).

Maintainers run this when the reference set changes; users never need it (the
built tables are committed). Values are copied unchanged; this script only
adds identifiers, a ``year`` column where the reference file has none, and the
project's own derived tables (regions, operator defaults, efficiencies,
embodied profiles), each row of which names its source and says it is derived.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF = ROOT.parent / "shared" / "reference"
OUT = ROOT / "data"

COPY_AS_IS = [
    "grid_intensity_country.csv", "grid_intensity_us_zones.csv", "grid_intensity_cloud_region.csv",
    "hourly_intensity_profiles.csv", "electricity_prices.csv", "datacenter_efficiency.csv",
    "water_intensity_electricity.csv",
]
# Files whose rows carry a date but no year column: take the year from that column,
# or from the row's source when there is no date.
ADD_YEAR = {
    "accelerators.csv": None,
    "tou_tariffs.csv": "effective_date",
    "embodied_carbon.csv": None,
    "carbon_prices.csv": "period",
    "cloud_gpu_prices.csv": "price_date",
    "hardware_purchase_prices.csv": "price_date",
    "compression_accuracy.csv": None,
    "published_training_runs.csv": "run_date",
}

ACCELERATOR_IDS = {
    # reference id: (joulebook id, aliases, supported precisions, embodied profile)
    "A001": ("a100-pcie-40gb", "a100-40gb-pcie", "fp32,tf32,bf16,fp16,int8", "a100"),
    "A002": ("a100-pcie-80gb", "a100-80gb-pcie;a100-pcie", "fp32,tf32,bf16,fp16,int8", "a100"),
    "A003": ("a100-sxm4-40gb", "a100-40gb;a100-sxm-40gb", "fp32,tf32,bf16,fp16,int8", "a100"),
    "A004": ("a100-sxm4-80gb", "a100;a100-80gb;a100-sxm;a100-sxm4;a100-sxm-80gb", "fp32,tf32,bf16,fp16,int8", "a100"),
    "A005": ("h100-sxm", "h100;h100-sxm5;h100-80gb;h100-sxm-80gb", "fp32,tf32,bf16,fp16,fp8,int8", "h100"),
    "A006": ("h100-pcie", "h100-pcie-80gb", "fp32,tf32,bf16,fp16,fp8,int8", "h100"),
    "A007": ("h200-sxm", "h200;h200-sxm5;h200-141gb", "fp32,tf32,bf16,fp16,fp8,int8", "h100"),
    "A008": ("l40s", "l40s-48gb", "fp32,tf32,bf16,fp16,fp8,int8", "a100"),
    "A009": ("l4", "l4-24gb", "fp32,tf32,bf16,fp16,fp8,int8", "a100"),
    "A010": ("v100-sxm2", "v100;v100-sxm;v100-32gb", "fp32,fp16", "v100"),
    "A011": ("v100-pcie", "v100-pcie-32gb", "fp32,fp16", "v100"),
    "A012": ("t4", "t4-16gb", "fp32,fp16,int8", "a100"),
    "A013": ("tpu-v4", "tpuv4", "bf16,int8", "tpu"),
    "A014": ("tpu-v3", "tpuv3", "bf16", "tpu"),
    "A015": ("tpu-v2", "tpuv2", "bf16", "tpu"),
}
H100_IDLE_W = 119.6  # measured/h100_calibration.csv, first idle window (cold GPU)


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def write(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in header})


def year_of(text: str) -> str:
    m = re.search(r"(19|20)\d\d", text or "")
    return m.group(0) if m else ""


def build(ref: Path) -> None:
    OUT.mkdir(exist_ok=True)
    _, sources = read(ref / "sources.csv")
    src_year = {s["source_id"]: year_of(s["year_or_date"]) for s in sources}
    for name in COPY_AS_IS:
        header, rows = read(ref / name)
        if "year" in header:  # mapping rows carry no year of their own: take their source's
            for row in rows:
                row["year"] = row["year"] or src_year.get(row["source_id"], "")
            write(OUT / name, header, rows)
        else:
            shutil.copyfile(ref / name, OUT / name)
    for name, col in ADD_YEAR.items():
        header, rows = read(ref / name)
        if "year" not in header:
            header = header + ["year"]
        for row in rows:
            row["year"] = year_of(row.get(col, "")) if col else ""
            if not row["year"]:
                row["year"] = src_year.get(row["source_id"], "")
        if name == "accelerators.csv":
            header = ["accelerator_id", "ref_id", "aliases", "precisions", "idle_w", "embodied_profile"] + [
                h for h in header if h != "accelerator_id"]
            for row in rows:
                ref_id = row["accelerator_id"]
                slug, aliases, precs, emb = ACCELERATOR_IDS[ref_id]
                row.update(accelerator_id=slug, ref_id=ref_id, aliases=aliases, precisions=precs,
                           embodied_profile=emb, idle_w=str(H100_IDLE_W) if ref_id == "A005" else "")
        write(OUT / name, header, rows)
    # measured calibration points
    (OUT / "measured").mkdir(exist_ok=True)
    header, rows = read(ref / "measured" / "h100_calibration.csv")
    header = header + ["year"] if "year" not in header else header
    for row in rows:
        row["year"] = "2026"
    write(OUT / "measured" / "h100_calibration.csv", header, rows)
    build_efficiency(ref)
    # sources: the reference list plus the project's own derived tables
    header, rows = read(ref / "sources.csv")
    _, own = read(ROOT / "scripts" / "own_sources.csv")
    write(OUT / "sources.csv", header, rows + own)


def build_efficiency(ref: Path) -> None:
    """Achieved fraction of dense peak, from our H100 probe, ml-engineering MAMF and Patterson et al."""
    _, acc = read(ref / "accelerators.csv")
    by_ref = {a["accelerator_id"]: a for a in acc}
    h100 = by_ref["A005"]
    peak_col = {"fp32": "fp32_tflops", "tf32": "tf32_dense_tflops", "bf16": "bf16_fp16_dense_tflops",
                "fp16": "bf16_fp16_dense_tflops", "fp8": "fp8_dense_tflops", "fp8_e4m3": "fp8_dense_tflops",
                "int8": "int8_dense_tops"}
    rows = []
    _, meas = read(ref / "measured" / "h100_calibration.csv")
    matmul_eff = {("fp8" if m["precision"] == "fp8_e4m3" else m["precision"]):
                  float(m["tflops_achieved"]) / float(h100[peak_col[m["precision"]]])
                  for m in meas if m["experiment"] == "matmul"}
    _, runs = read(ref / "published_training_runs.csv")
    chip_peak = {"TPU v2": float(by_ref["A015"]["bf16_fp16_dense_tflops"]),
                 "TPU v3": float(by_ref["A014"]["bf16_fp16_dense_tflops"]),
                 "V100": float(by_ref["A010"]["bf16_fp16_dense_tflops"])}
    fleet = sorted(float(r["measured_tflops_per_chip"]) / chip_peak[r["hardware"]]
                   for r in runs if r["measured_tflops_per_chip"] and r["hardware"] in chip_peak)
    lo, mid, hi = fleet[0], statistics.median(fleet), fleet[-1]
    rows.append(dict(accelerator_id="*", precision="*", workload="train", efficiency_low=f"{lo:.4f}",
                     efficiency=f"{mid:.4f}", efficiency_high=f"{hi:.4f}", source_id="patterson_2021",
                     status="derived", year="2021",
                     note=f"measured TFLOPS per chip / dense peak over {len(fleet)} published runs: min, median, max"))
    train_bf16 = None
    for m in meas:
        if m["experiment"] not in ("matmul", "train_step"):
            continue
        prec = "fp8" if m["precision"] == "fp8_e4m3" else m["precision"]
        peak = float(h100[peak_col[prec]])
        eff = float(m["tflops_achieved"]) / peak
        workload = "matmul" if m["experiment"] == "matmul" else "train"
        if workload == "train" and prec == "bf16":
            train_bf16 = eff
        if workload == "train":
            e_lo, e_hi = eff * lo / mid, min(eff * hi / mid, matmul_eff[prec])
            spread = (f"; low/high = central x the fleet's min/median and max/median ({lo / mid:.3f}, {hi / mid:.3f}), "
                      f"high capped at the measured {prec} matmul efficiency {matmul_eff[prec]:.4f}")
        else:
            e_lo = e_hi = eff
            spread = ""
        note = f"{m['tflops_achieved']} achieved / {peak:g} dense peak ({m['experiment']}, {m['note']}){spread}"
        rows.append(dict(accelerator_id="h100-sxm", precision=prec, workload=workload, efficiency_low=f"{e_lo:.4f}",
                         efficiency=f"{eff:.4f}", efficiency_high=f"{e_hi:.4f}", source_id="joulebook_h100_probe1",
                         status="derived", year="2026", note=note))
    mm = {r["precision"]: float(r["efficiency"]) for r in rows if r["workload"] == "matmul"}
    fp8 = train_bf16 * mm["fp8"] / mm["bf16"]
    rows.append(dict(accelerator_id="h100-sxm", precision="fp8", workload="train", efficiency_low=f"{fp8 * lo / mid:.4f}",
                     efficiency=f"{fp8:.4f}", efficiency_high=f"{min(fp8 * hi / mid, mm['fp8']):.4f}",
                     source_id="joulebook_h100_probe1", status="derived", year="2026",
                     note=f"bf16 training MFU x (fp8 / bf16 matmul efficiency) = {train_bf16:.4f} x {mm['fp8']:.4f} / {mm['bf16']:.4f}; "
                          "not measured in training"))
    # H200 SXM: the same chip compute as H100 SXM (mle_accelerator says its bf16 MAMF equals H100's)
    for r in [r for r in rows if r["accelerator_id"] == "h100-sxm" and r["workload"] == "train"]:
        rows.append({**r, "accelerator_id": "h200-sxm",
                     "note": "H200 SXM has the H100 SXM's compute (mle_accelerator): the H100 training row is used; "
                             "its larger memory bandwidth may raise MFU a little. " + r["note"]})
    for ref_id, col, prec in [("A002", "measured_matmul_bf16_tflops", "bf16"), ("A004", "measured_matmul_bf16_tflops", "bf16"),
                              ("A005", "measured_matmul_bf16_tflops", "bf16"), ("A005", "measured_matmul_fp8_tflops", "fp8"),
                              ("A007", "measured_matmul_fp8_tflops", "fp8")]:
        a = by_ref[ref_id]
        if not a[col]:
            continue
        eff = float(a[col]) / float(a[peak_col[prec]])
        rows.append(dict(accelerator_id=ACCELERATOR_IDS[ref_id][0], precision=prec, workload="mamf",
                         efficiency_low=f"{eff:.4f}", efficiency=f"{eff:.4f}", efficiency_high=f"{eff:.4f}",
                         source_id="mle_accelerator", status="derived", year="2026",
                         note=f"maximum achievable matmul {a[col]} / dense peak {a[peak_col[prec]]} (S. Bekman, ml-engineering)"))
    header = ["accelerator_id", "precision", "workload", "efficiency_low", "efficiency", "efficiency_high",
              "source_id", "year", "status", "note"]
    write(OUT / "efficiency.csv", header, rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    args = ap.parse_args()
    if not args.reference.is_dir():
        raise SystemExit(f"reference folder not found: {args.reference} (only maintainers need this script)")
    build(args.reference)
    print(f"data/ rebuilt from {args.reference}")
