#!/usr/bin/env python3
"""Build ``data/`` from the project's sourced reference set (``../shared/reference``).

Maintainers run this when the reference set changes; users never need it (the
built tables are committed). Values are copied unchanged; this script only
adds identifiers, a ``year`` column where the reference file has none, and the
project's own derived tables (regions, operator defaults, efficiencies,
embodied profiles), each row of which names its source and says it is derived.
Accelerators the reference set lacks come from ``scripts/own_accelerators.csv``
(each row with its own source in ``data/sources_accelerators.csv``); the
training-MFU prior in ``efficiency.csv`` is built from the curated
``data/published_mfu.csv`` (see :func:`build_efficiency`).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import statistics
from pathlib import Path

from joulebook.models.training import FRONTIER_MIN_COUNT, PROBE_MAX_PARAMS

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
# Measured chip power published by the vendor, (min W, max W, source_id, note): the minimum is the idle power,
# the maximum replaces the design TDP as the cap of the power model (the chip is not seen drawing its TDP).
MEASURED_CHIP_POWER = {
    "A014": (123, 262, "google_cloud_tpu_v3",
             "Google Cloud TPU v3 documentation: measured min/mean/max chip power 123/220/262 W; idle_w = min, "
             "tdp_w = measured max (the 450 W chip TDP of Patterson et al. 2021 is a design figure)"),
}
# A TPU generation without published measured power takes its sibling's measured min/TDP and max/TDP ratios
# (rule: a part with no published measured power takes the measured ratios of its nearest measured predecessor
# or successor in the same product line), applied to its own TDP.
SIBLING_CHIP_POWER = {"A015": "A014"}
# Accelerator generation: the key of the training-MFU prior (data/published_mfu.csv). Form factor is part of
# it where the interconnect differs (published large-scale runs are on SXM/NVLink parts, not PCIe cards).
GENERATION = {
    "A001": "ampere-pcie", "A002": "ampere-pcie", "A003": "ampere-sxm", "A004": "ampere-sxm", "A005": "hopper-sxm",
    "A006": "hopper-pcie", "A007": "hopper-sxm", "A008": "ada", "A009": "ada", "A010": "volta-sxm", "A011": "volta-pcie",
    "A012": "turing", "A013": "tpu-v4", "A014": "tpu-v3", "A015": "tpu-v2",
}
# Scale bands of the MFU prior (probe-sized models, then by accelerator count): the library's own thresholds,
# so the table and the look-up that reads it cannot drift apart.
TRAIN_PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8")
PRIOR_MIN_YEAR = 2022  # the transferred prior pools runs published from this year (current software stacks)


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
            header = ["accelerator_id", "ref_id", "aliases", "precisions", "generation", "idle_w", "embodied_profile"] + [
                h for h in header if h != "accelerator_id"]
            ref_tdp = {r["accelerator_id"]: float(r["tdp_w"]) for r in rows if r["tdp_w"]}  # design TDPs, as published
            for row in rows:
                ref_id = row["accelerator_id"]
                slug, aliases, precs, emb = ACCELERATOR_IDS[ref_id]
                row.update(accelerator_id=slug, ref_id=ref_id, aliases=aliases, precisions=precs, generation=GENERATION[ref_id],
                           embodied_profile=emb, idle_w=str(H100_IDLE_W) if ref_id == "A005" else "")
                if ref_id in SIBLING_CHIP_POWER:
                    sib = SIBLING_CHIP_POWER[ref_id]
                    sib_tdp = ref_tdp[sib]
                    s_lo, s_hi, s_src, _ = MEASURED_CHIP_POWER[sib]
                    tdp = float(row["tdp_w"])
                    lo_w, hi_w = round(tdp * s_lo / sib_tdp, 1), round(tdp * s_hi / sib_tdp, 1)
                    row.update(idle_w=str(lo_w), tdp_w=str(hi_w), measured_source_id=s_src,
                               power_basis=f"measured power of {ACCELERATOR_IDS[sib][0]} scaled by TDP (transferred)",
                               note=f"{row['note']}; no published measured power: idle_w and cap = this chip's "
                                    f"{tdp:g} W TDP x {ACCELERATOR_IDS[sib][0]}'s measured min/TDP and max/TDP "
                                    f"({s_lo}/{sib_tdp:g}, {s_hi}/{sib_tdp:g} W; nearest measured part of the same TPU line)")
                elif ref_id in MEASURED_CHIP_POWER:
                    lo_w, hi_w, msrc, mnote = MEASURED_CHIP_POWER[ref_id]
                    row.update(idle_w=str(lo_w), tdp_w=str(hi_w), measured_source_id=msrc,
                               power_basis="measured max chip power (vendor documentation)",
                               note=f"{row['note']}; {mnote}")
            # the project's own rows (parts the reference set lacks), each with its own source
            _, own_acc = read(ROOT / "scripts" / "own_accelerators.csv")
            rows = rows + own_acc
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
    for row in rows:  # sources name publications and the project's own measurements, not who keeps a file
        for col, (old, new) in SOURCE_WORDING.get(row["source_id"], {}).items():
            row[col] = row[col].replace(old, new)
    _, own = read(ROOT / "scripts" / "own_sources.csv")
    write(OUT / "sources.csv", header, rows + own)


# Reference source rows whose wording names project-internal roles rather than the measurement itself.
SOURCE_WORDING = {
    "joulebook_h100_probe1": {"url_or_repo_path": (
        "raw probe log h100-probe1.jsonl kept by the project's steering side (not distributed)",
        "raw probe log h100-probe1.jsonl (the project's own measurement; not distributed)")},
}


def build_efficiency(ref: Path) -> None:
    """Achieved fraction of dense peak: matmul (our H100 probe), MAMF (ml-engineering) and the training-MFU prior.

    Training rows (workload ``train``) carry a ``scale_band``: ``probe`` (models under 1e9 parameters: our
    H100 probe's MFU), ``cluster`` (larger models on fewer than 2,048 accelerators) and ``frontier`` (2,048 or
    more). For the two large bands the prior of a generation is the median (central) and min/max (low/high) of
    its published runs in ``published_mfu.csv`` (bf16/fp16, at least 1e9 parameters; the band's own runs if
    there are three or more, else all of the generation's). A generation with production runs has confidence
    ``published``; one with vendor benchmarks only, ``benchmark``; one with neither gets the pooled prior of
    every production run published from 2022 on (``transferred``). Fewer than three runs: low/high = central
    x the pooled min/median and max/median. Other precisions scale the bf16 prior by the probe's ratio of
    training MFU (precision / bf16), capped at the probe's matmul efficiency in that precision.
    """
    _, acc = read(ref / "accelerators.csv")
    by_ref = {a["accelerator_id"]: a for a in acc}
    h100 = by_ref["A005"]
    peak_col = {"fp32": "fp32_tflops", "tf32": "tf32_dense_tflops", "bf16": "bf16_fp16_dense_tflops",
                "fp16": "bf16_fp16_dense_tflops", "fp8": "fp8_dense_tflops", "fp8_e4m3": "fp8_dense_tflops",
                "int8": "int8_dense_tops"}
    rows = []
    _, meas = read(ref / "measured" / "h100_calibration.csv")
    # 1. our H100 probe: matmul efficiency and training MFU per precision
    probe = {}
    for m in meas:
        if m["experiment"] not in ("matmul", "train_step"):
            continue
        prec = "fp8" if m["precision"] == "fp8_e4m3" else m["precision"]
        peak = float(h100[peak_col[prec]])
        eff = float(m["tflops_achieved"]) / peak
        if m["experiment"] == "matmul":
            rows.append(dict(accelerator_id="h100-sxm", precision=prec, workload="matmul", efficiency_low=f"{eff:.4f}",
                             efficiency=f"{eff:.4f}", efficiency_high=f"{eff:.4f}", source_id="joulebook_h100_probe1",
                             status="derived", year="2026",
                             note=f"{m['tflops_achieved']} achieved / {peak:g} dense peak (matmul, {m['note']})"))
        else:
            probe[prec] = (eff, f"{m['tflops_achieved']} achieved / {peak:g} dense peak (train_step, {m['note']})")
    mm = {r["precision"]: float(r["efficiency"]) for r in rows if r["workload"] == "matmul"}
    probe["fp8"] = (probe["bf16"][0] * mm["fp8"] / mm["bf16"],
                    f"bf16 training MFU x (fp8 / bf16 matmul efficiency) = {probe['bf16'][0]:.4f} x {mm['fp8']:.4f} / "
                    f"{mm['bf16']:.4f}; not measured in training")
    probe["fp16"] = (probe["bf16"][0], "bf16 training MFU used for fp16 (same tensor rate); fp16 training not measured")
    # 2. published runs -> prior per generation and band (bf16 basis)
    _, pub = read(OUT / "published_mfu.csv")
    eligible = [r for r in pub if r["precision"] in ("bf16", "fp16") and float(r["model_params"]) >= PROBE_MAX_PARAMS]
    pooled_all = [r for r in eligible if r["kind"] == "run" and int(r["year"]) >= PRIOR_MIN_YEAR]

    def band_of(r):
        return "frontier" if int(r["accelerator_count"]) >= FRONTIER_MIN_COUNT else "cluster"

    def stats(sel):
        v = sorted(float(r["mfu"]) for r in sel)
        return v[0], statistics.median(v), v[-1]

    pooled = {}
    for band in ("cluster", "frontier"):
        sel = [r for r in pooled_all if band_of(r) == band]
        sel = sel if len(sel) >= 3 else pooled_all
        pooled[band] = (stats(sel), sel)
    p_lo, p_mid, p_hi = stats(pooled_all)
    ratio_lo, ratio_hi = p_lo / p_mid, p_hi / p_mid
    # Spread of one new run about its generation's central (assumption mfu_run_spread, data/sources_coverage.csv):
    # every published production run of any year, as min/median and max/median. Three or four runs of one
    # generation (often one lab) do not bound what the next run on it achieves: production runs of the same
    # era differ by about 2x (GPT-3 0.213 against PaLM 0.462). Rows taken from Patterson et al. (2021) are left
    # out: that paper's runs are validation (check) cases.
    spread_runs = [r for r in eligible if r["kind"] == "run" and r["source_id"] != "patterson_2021"]
    s_lo, s_mid, s_hi = stats(spread_runs)
    run_lo, run_hi = s_lo / s_mid, s_hi / s_mid
    run_note = (f"; widened to at least central x the spread of all {len(spread_runs)} published production runs "
                f"(any year; min/median {run_lo:.3f}, max/median {run_hi:.3f}: assumption mfu_run_spread)")

    def prior(generation, band):
        """(low, central, high, confidence, note) of the bf16 prior for a generation and band."""
        gen = [r for r in eligible if r["generation"] == generation]
        runs = [r for r in gen if r["kind"] == "run"]
        if runs:
            conf, use = "published", runs
        elif gen:
            conf, use = "benchmark", gen
        else:
            (lo, mid, hi), sel = pooled[band]
            return min(lo, mid * run_lo), mid, min(max(hi, mid * run_hi), 1.0), "transferred", (
                f"no published large-scale run on {generation}: transferred prior = median (min-max) of {len(sel)} "
                f"production runs published from {PRIOR_MIN_YEAR} on, all generations ({', '.join(r['run_id'] for r in sel)})"
                f"{run_note}")
        in_band = [r for r in use if band_of(r) == band]
        sel = in_band if len(in_band) >= 3 else use
        lo, mid, hi = stats(sel)
        where = "in this scale band" if sel is in_band else "(all scale bands: fewer than 3 in this band)"
        if len(sel) < 3:
            lo, hi = mid * ratio_lo, mid * ratio_hi
            spread = (f"; fewer than 3 runs: low/high = central x the pooled min/median and max/median "
                      f"({ratio_lo:.3f}, {ratio_hi:.3f})")
        else:
            spread = "; low/high = min/max"
        lo, hi = min(lo, mid * run_lo), min(max(hi, mid * run_hi), 1.0)
        spread += run_note
        kind = "production runs" if conf == "published" else "vendor benchmarks (no production run published)"
        note = (f"median of {len(sel)} {kind} on {generation} {where}: "
                f"{', '.join(r['run_id'] + ' ' + r['mfu'] for r in sel)}{spread}")
        return lo, mid, hi, conf, note

    def scaled(p, lo, mid, hi):
        """bf16 prior -> precision p by the probe's training-MFU ratio, capped at the probe's matmul efficiency."""
        if p in ("bf16", "fp16"):
            return lo, mid, hi, ""
        r = probe[p][0] / probe["bf16"][0]
        cap = mm[p]
        return (min(lo * r, cap), min(mid * r, cap), min(hi * r, cap),
                f"; {p} = bf16 prior x the probe's {p}/bf16 training MFU ratio {r:.3f}, capped at the probe's {p} "
                f"matmul efficiency {cap:.4f}")

    _, own_acc = read(ROOT / "scripts" / "own_accelerators.csv")
    parts = [(ACCELERATOR_IDS[a["accelerator_id"]][0], ACCELERATOR_IDS[a["accelerator_id"]][2].split(","),
              GENERATION[a["accelerator_id"]]) for a in acc]
    parts += [(a["accelerator_id"], [p for p in a["precisions"].split(",") if p], a["generation"]) for a in own_acc]
    train = []
    for band in ("cluster", "frontier", "probe"):
        lo, mid, hi = pooled[band][0] if band != "probe" else (0, 0, 0)
        lo, hi = min(lo, mid * run_lo), min(max(hi, mid * run_hi), 1.0)
        if band != "probe":
            for p in ("bf16", *[q for q in TRAIN_PRECISIONS if q != "bf16"]):  # bf16 first: the generic fallback
                a, b, c, extra = scaled(p, lo, mid, hi)
                train.append(dict(accelerator_id="*", precision=p, workload="train", scale_band=band, generation="*",
                                  basis="transferred prior", confidence="transferred", efficiency_low=f"{a:.4f}",
                                  efficiency=f"{b:.4f}", efficiency_high=f"{c:.4f}", source_id="joulebook_published_mfu",
                                  status="derived", year="2026",
                                  note=f"pooled prior of {len(pooled[band][1])} production runs published from "
                                       f"{PRIOR_MIN_YEAR} on (all generations){run_note}{extra}"))
        for slug, precs, gen in parts:
            for p in TRAIN_PRECISIONS:
                if p not in precs:
                    continue
                if band == "probe":
                    eff, pnote = probe[p]
                    a, b, c = eff * ratio_lo, eff, min(eff * ratio_hi, mm[p])
                    measured_here = gen == "hopper-sxm"
                    basis = "probe" if measured_here else "probe (transferred)"
                    conf = "measured" if measured_here else "transferred"
                    note = ((f"our H100 probe (369M-parameter GPT, 1 GPU): {pnote}" if measured_here else
                             f"our H100 probe's MFU applied as a fraction of this part's peak (no probe on {gen}): {pnote}")
                            + f"; low/high = central x the pooled min/median and max/median ({ratio_lo:.3f}, "
                              f"{ratio_hi:.3f}), high capped at the probe's {p} matmul efficiency {mm[p]:.4f}")
                    src, status, year = "joulebook_h100_probe1", "derived", "2026"
                else:
                    lo, mid, hi, conf, note = prior(gen, band)
                    a, b, c, extra = scaled(p, lo, mid, hi)
                    note += extra
                    basis = "published prior" if conf in ("published", "benchmark") else "transferred prior"
                    src, status, year = "joulebook_published_mfu", "derived", "2026"
                train.append(dict(accelerator_id=slug, precision=p, workload="train", scale_band=band, generation=gen,
                                  basis=basis, confidence=conf, efficiency_low=f"{a:.4f}", efficiency=f"{b:.4f}",
                                  efficiency_high=f"{c:.4f}", source_id=src, status=status, year=year, note=note))
    # 3. maximum achievable matmul (ml-engineering)
    mamf = []
    mamf_src = [(ACCELERATOR_IDS[k][0], by_ref[k], "mle_accelerator") for k in ("A002", "A004", "A005", "A007")]
    mamf_src += [(a["accelerator_id"], a, a["measured_source_id"]) for a in own_acc]
    for slug, a, src in mamf_src:
        for col, prec in (("measured_matmul_bf16_tflops", "bf16"), ("measured_matmul_fp8_tflops", "fp8")):
            if not a[col]:
                continue
            eff = float(a[col]) / float(a[peak_col[prec]])
            mamf.append(dict(accelerator_id=slug, precision=prec, workload="mamf",
                             efficiency_low=f"{eff:.4f}", efficiency=f"{eff:.4f}", efficiency_high=f"{eff:.4f}",
                             source_id=src, status="derived", year="2026",
                             note=f"maximum achievable matmul {a[col]} / dense peak {a[peak_col[prec]]} (S. Bekman, ml-engineering)"))
    header = ["accelerator_id", "precision", "workload", "scale_band", "generation", "basis", "confidence",
              "efficiency_low", "efficiency", "efficiency_high", "source_id", "year", "status", "note"]
    write(OUT / "efficiency.csv", header, train + rows + mamf)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    args = ap.parse_args()
    if not args.reference.is_dir():
        raise SystemExit(f"reference folder not found: {args.reference} (only maintainers need this script)")
    build(args.reference)
    print(f"data/ rebuilt from {args.reference}")
