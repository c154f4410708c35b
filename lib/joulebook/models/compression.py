"""Compression techniques as transforms of a model description, and the trade-off tables.

A technique never changes the roofline; it changes what the roofline is fed:

==========================  =====================================================================
technique                   what changes
==========================  =====================================================================
``fp8``, ``bf16``, ...      weights and activations in that precision: bytes per weight, the
                            tensor-core peak and the matmul efficiency used
``int8-weight-only``        weights int8, activations stay; memory-bound steps pay the measured
``int4-weight-only``        dequantization factor, compute-bound steps run at the activation
                            precision x ``weight_only_compute_factor``; int4 adds group scales
``w8a8``                    weights and activations int8 (SmoothQuant-style): int8 peak
``kv:fp8``                  KV cache precision only
``sparse-2:4``              linear weights stored as 2:4 (half the values + 1 bit/weight index);
                            compute-bound linear layers x the measured 2:4 speed-up (1.276 on H100)
``prune:0.5``               unstructured pruning stored dense: no change in bytes or time
``prune:0.5:sparse``        with sparse kernels: bytes shrink, compute does not speed up
``distill:STUDENT``         the student preset replaces the model
``moe:K/E``                 E experts with K active per token (upcycling a dense model, or
``moe:K``                   re-routing an existing mixture of experts)
==========================  =====================================================================

Techniques combine with ``+`` (``int4-weight-only+sparse-2:4``). Accuracy comes
only from ``data/compression_accuracy.csv``; where no row matches the model and
technique the answer is ``no data`` (``NaN``).

The grammar of a technique and the accuracy lookup live in :mod:`joulebook.models.techniques`
(re-exported here); :mod:`joulebook.models.inference` applies techniques through that module,
so this module imports inference and never the other way round. Here: the trade-off frames
(:func:`technique_table`, :func:`batch_sweep`, :func:`runtime_comparison`,
:func:`pareto_frame`, :func:`strategy_table`, :func:`sweep_summary`), each one vectorized
call of :func:`joulebook.models.inference.inference_frame`. The report built on them (its
parameters, finding, prose and display tables) is :mod:`joulebook.stories.compression`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.models import inference
from joulebook.models import presets as models
from joulebook.models.techniques import (  # noqa: F401  (re-exported: the technique grammar and accuracy lookup)
    KNOWN,
    WEIGHT_ONLY_PRECISIONS,
    Technique,
    accuracy,
    apply_to_arrays,
    parse_technique,
    technique_label,
)

# --------------------------------------------------------------------------- report tables

SCENARIO_KEYS = ("model", "accelerator", "count", "precision", "batch", "prompt_tokens", "new_tokens", "runtime",
                 "region")
DEFAULT_SCENARIO = {"model": "llama-3-8b", "accelerator": "h100-sxm", "count": 1, "precision": "bf16", "batch": 16,
                    "prompt_tokens": 512, "new_tokens": 256, "runtime": "compiled", "region": ""}


def _scenario(**kw) -> dict[str, Any]:
    unknown = set(kw) - set(SCENARIO_KEYS)
    if unknown:
        raise InputError(sorted(unknown)[0], f"not a scenario field (one of {', '.join(SCENARIO_KEYS)})")
    sc = dict(DEFAULT_SCENARIO)
    sc.update({k: v for k, v in kw.items() if v is not None})
    sc["region"] = sc["region"] or ""
    return sc


def supported(technique: str, accelerator: str, precision: str = "bf16") -> tuple[bool, str]:
    """Whether ``technique`` can run on ``accelerator`` (the compute precision it needs), with the reason if not."""
    acc = data.accelerator(accelerator)
    base = data.normalise_precision(precision)
    compute = base
    for t in parse_technique(technique):
        if t.kind == "precision":
            compute = t.precision
    if not acc.supports(compute):
        return False, f"{compute} compute is not supported by {acc.accelerator_id}"
    return True, ""


def _label(technique: str) -> str:
    return technique_label(technique) if technique and technique != "baseline" else "baseline"


def family(technique: str) -> str:
    """The strategy family of a technique string: ``baseline``, ``combined`` (several techniques joined with ``+``),
    or one of quantization, mixed precision, pruning, distillation, mixture of experts."""
    if not technique or technique == "baseline":
        return "baseline"
    parts = parse_technique(technique)
    if not parts:
        return "baseline"
    return parts[0].family if len(parts) == 1 else "combined"


def other_model(technique: str) -> bool:
    """Whether the technique serves a different model (a distilled student), not this model compressed."""
    return any(t.kind == "distill" for t in parse_technique(technique)) if technique != "baseline" else False


def _run(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return inference.inference_frame(pd.DataFrame(rows))


def technique_table(techniques, **scenario) -> pd.DataFrame:
    """One row per technique for one scenario: latency, memory and energy per 1,000 tokens, ratios to the baseline,
    the bound of each phase and accuracy evidence (``NaN`` = no data).

    Techniques the accelerator cannot run (e.g. fp8 on an A100) are kept with
    ``supported = False`` and the reason, and no numbers.
    """
    sc = _scenario(**scenario)
    techs = ["baseline"] + [t for t in techniques if _label(t) != "baseline"]
    labels = [_label(t) for t in techs]
    ok = [supported(t if t != "baseline" else "", sc["accelerator"], sc["precision"]) for t in techs]
    rows = [dict(sc, technique="" if t == "baseline" else t) for t, (s, _) in zip(techs, ok, strict=True) if s]
    res = _run(rows)
    res.index = [lab for lab, (s, _) in zip(labels, ok, strict=True) if s]
    base = res.loc["baseline"]
    out = []
    for lab, t, (s, why) in zip(labels, techs, ok, strict=True):
        row: dict[str, Any] = {"technique": lab, "family": family(t), "other_model": other_model(t),
                               "supported": s, "reason": why}
        if s:
            r = res.loc[lab]
            for k in ("latency_ms_per_1k_tokens", "latency_ms_per_1k_tokens_low", "latency_ms_per_1k_tokens_high",
                      "ttft_ms", "decode_ms_per_token", "tokens_per_s", "weights_gb", "kv_cache_gb",
                      "memory_gb_per_accelerator", "energy_j_per_1k_tokens", "energy_j_per_1k_tokens_low",
                      "energy_j_per_1k_tokens_high", "energy_j_per_1k_tokens_accelerator", "power_w",
                      "cost_usd_per_1k_tokens", "emissions_g_per_1k_tokens", "shortfall_gb"):
                row[k] = float(r[k])
            row["fits_in_memory"] = bool(r["fits_in_memory"])
            row["bound_prefill"] = r["bound_prefill"]
            row["bound_decode"] = r["bound_decode"]
            row["params_total_b"] = float(r["params_total"]) / 1e9
            row["speedup"] = float(base["latency_ms_per_1k_tokens"] / r["latency_ms_per_1k_tokens"])
            row["memory_reduction"] = float(base["weights_gb"] / r["weights_gb"])
            row["energy_reduction"] = float(base["energy_j_per_1k_tokens"] / r["energy_j_per_1k_tokens"])
            acc_rows = accuracy(sc["model"], t) if t != "baseline" else []
            row["accuracy_change_pct"] = acc_rows[0]["change_pct"] if acc_rows else (0.0 if t == "baseline" else np.nan)
            row["accuracy_metric"] = acc_rows[0]["metric"] if acc_rows else ("reference" if t == "baseline" else "no data")
            row["accuracy_record"] = ";".join(x["record_id"] for x in acc_rows)
            row["accuracy_source"] = ";".join(dict.fromkeys(x["source_id"] for x in acc_rows))
        out.append(row)
    return pd.DataFrame(out)


def batch_sweep(techniques, batches, **scenario) -> pd.DataFrame:
    """Long table: every technique at every batch size (one vectorized call), with ratios to the baseline at the same batch."""
    sc = _scenario(**scenario)
    techs = ["baseline"] + [t for t in techniques if _label(t) != "baseline" and supported(t, sc["accelerator"], sc["precision"])[0]]
    batches = [int(b) for b in batches]
    if not batches:
        raise InputError("batches", "give at least one batch size")
    grid = [(t, b) for t in techs for b in batches]
    rows = [dict(sc, technique="" if t == "baseline" else t, batch=b) for t, b in grid]
    res = _run(rows)
    res["technique"] = [_label(t) for t, _ in grid]
    res["batch"] = [b for _, b in grid]
    keep = ["technique", "batch", "latency_ms_per_1k_tokens", "decode_ms_per_token", "tokens_per_s",
            "energy_j_per_1k_tokens", "energy_j_per_1k_tokens_accelerator", "memory_gb_per_accelerator", "fits_in_memory",
            "bound_prefill", "bound_decode", "power_w_decode"]
    out = res[keep].reset_index(drop=True)
    base = out[out["technique"] == "baseline"].set_index("batch")
    out["speedup"] = out["batch"].map(base["latency_ms_per_1k_tokens"]).to_numpy() / out["latency_ms_per_1k_tokens"]
    out["energy_reduction"] = out["batch"].map(base["energy_j_per_1k_tokens"]).to_numpy() / out["energy_j_per_1k_tokens"]
    return out


def stops_helping(sweep: pd.DataFrame, technique: str, helps_threshold: float = 1.1) -> int | None:
    """Smallest batch from which ``technique`` is less than ``helps_threshold`` x faster than the baseline
    (a gain under 10 % counts as no longer helping by default); ``None`` if it helps at every batch swept."""
    lab = technique if technique in set(sweep["technique"]) else _label(technique)
    sub = sweep[sweep["technique"] == lab].sort_values("batch")
    if sub.empty:
        raise InputError("technique", f"{technique!r} is not in the sweep")
    below = sub["speedup"].to_numpy() < helps_threshold
    # the first batch after which it never helps again
    for i in range(len(below)):
        if below[i:].all():
            return int(sub["batch"].iloc[i])
    return None


def runtime_comparison(batches, **scenario) -> pd.DataFrame:
    """Eager framework vs compiled / graph-captured runtime at each batch size (one vectorized call)."""
    sc = _scenario(**scenario)
    batches = [int(b) for b in batches]
    grid = [(rt, b) for rt in ("eager", "compiled") for b in batches]
    res = _run([dict(sc, runtime=rt, batch=b) for rt, b in grid])
    res["runtime"] = [rt for rt, _ in grid]
    res["batch"] = [b for _, b in grid]
    # share of a step spent in host launch overhead: graph-captured runs have none (their fixed per-layer
    # time, compiled_overhead_ms_per_layer, is kernel time on the GPU)
    res["overhead_share"] = np.where(res["runtime"] == "eager", res["overhead_ms_per_step"] / res["decode_ms_per_token"],
                                     0.0)
    out = res[["runtime", "batch", "decode_ms_per_token", "tokens_per_s", "latency_ms_per_1k_tokens",
               "energy_j_per_1k_tokens", "overhead_ms_per_step", "overhead_share", "power_w_decode"]].reset_index(drop=True)
    comp = out[out["runtime"] == "compiled"].set_index("batch")
    out["slowdown_vs_compiled"] = out["latency_ms_per_1k_tokens"] / out["batch"].map(comp["latency_ms_per_1k_tokens"]).to_numpy()
    return out


def pareto_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a :func:`technique_table` with accuracy data (and the baseline), flagged Pareto-optimal when no other
    row uses less energy per 1,000 tokens with at least the same accuracy."""
    t = table[table["supported"] & table["accuracy_change_pct"].notna()].copy()
    if t.empty:
        return t.assign(pareto_optimal=pd.Series(dtype=bool))
    e = t["energy_j_per_1k_tokens"].to_numpy()
    a = t["accuracy_change_pct"].to_numpy()
    dominated = ((e[None, :] <= e[:, None]) & (a[None, :] >= a[:, None]) &
                 ((e[None, :] < e[:, None]) | (a[None, :] > a[:, None]))).any(axis=1)
    t["pareto_optimal"] = ~dominated
    return t[["technique", "energy_j_per_1k_tokens", "accuracy_change_pct", "accuracy_metric", "accuracy_record",
              "accuracy_source", "pareto_optimal"]].reset_index(drop=True)


def claims() -> pd.DataFrame:
    """Claims under test and published measurements (``kind`` claim / published) from ``inference_runtime.csv``."""
    df = data.table("inference_runtime")
    for c in ("value_low", "value", "value_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df[df["kind"].isin(["claim", "published"])].reset_index(drop=True)


def _claim(name: str) -> tuple[float, float, str, str]:
    r = claims().set_index("name").loc[name]
    return float(r["value_low"]), float(r["value_high"]), r["note"], r["source_id"]


def _verdict(value: float, low: float, high: float) -> str:
    if value is None or not np.isfinite(value):
        return "not computed"
    if value > high * 1.0001:
        return "exceeds the claim"
    if value < low * 0.9999:
        return "falls short"
    return "holds"


def strategy_table(student: str | None = None, **scenario) -> pd.DataFrame:
    """The strategy table: for mixed precision, quantization, pruning and distillation, the impact people quote
    (a claim under test, sourced) next to what the model computes for this scenario, and whether the claim holds.

    Speed-up = baseline latency per 1,000 tokens / technique latency; memory
    reduction = baseline weight bytes / technique weight bytes. Mixed precision
    compares fp32 with bf16 on the same scenario; the others compare with the
    scenario's precision.
    """
    sc = _scenario(**scenario)
    plan = [("mixed precision", "fp32 -> bf16", "claim_mixed_precision_speedup", "claim_mixed_precision_memory_reduction"),
            ("quantization", "fp8", "claim_quantization_speedup", "claim_quantization_memory_reduction"),
            ("quantization", "int8-weight-only", "claim_quantization_speedup", "claim_quantization_memory_reduction"),
            ("quantization", "int4-weight-only", "claim_quantization_speedup", "claim_quantization_memory_reduction"),
            ("quantization", "w8a8", "claim_quantization_speedup", "claim_quantization_memory_reduction"),
            ("pruning", "sparse-2:4", "claim_pruning_speedup", None),
            ("pruning", "prune:0.5", "claim_pruning_speedup", None),
            ("pruning", "prune:0.5:sparse", "claim_pruning_speedup", None)]
    if student:
        plan.append(("distillation", f"distill:{models.model(student).model_id}", "claim_distillation_speedup",
                     "claim_distillation_param_reduction"))
    techs = [t for _, t, _, _ in plan if t != "fp32 -> bf16"]
    tt = technique_table(techs, **sc).set_index("technique")
    mp = _run([dict(sc, precision="fp32", technique=""), dict(sc, precision="bf16", technique="")])
    pub = claims()
    pub = pub[pub["kind"] == "published"]
    rows = []
    for strategy, tech, sp_claim, mem_claim in plan:
        lo, hi, note, src = _claim(sp_claim)
        row: dict[str, Any] = {"strategy": strategy, "technique": tech, "claim_speed": note.split(" (")[0]
                               if note.startswith("'") else note, "claim_speedup_low": lo, "claim_speedup_high": hi,
                               "claim_source": src}
        if mem_claim:
            mlo, mhi, mnote, msrc = _claim(mem_claim)
            row.update(claim_memory=mnote.split(" (")[0] if mnote.startswith("'") else mnote, claim_memory_low=mlo,
                       claim_memory_high=mhi, claim_memory_source=msrc)
        else:
            row.update(claim_memory="", claim_memory_low=np.nan, claim_memory_high=np.nan, claim_memory_source="")
        if tech == "fp32 -> bf16":
            f32, b16 = mp.iloc[0], mp.iloc[1]
            sp = float(f32["latency_ms_per_1k_tokens"] / b16["latency_ms_per_1k_tokens"])
            mr = float(f32["weights_gb"] / b16["weights_gb"])
            er = float(f32["energy_j_per_1k_tokens"] / b16["energy_j_per_1k_tokens"])
            sup, acc_txt, acc_raw = True, "no data", (np.nan, "", "")
        else:
            lab = _label(tech)
            r = tt.loc[lab]
            sup = bool(r["supported"])
            sp = float(r["speedup"]) if sup else np.nan
            mr = float(r["memory_reduction"]) if sup else np.nan
            er = float(r["energy_reduction"]) if sup else np.nan
            has_acc = sup and pd.notna(r.get("accuracy_change_pct"))
            acc_raw = ((float(r["accuracy_change_pct"]), r["accuracy_metric"], r["accuracy_record"]) if has_acc
                       else (np.nan, "", ""))
            acc_txt = (f"{r['accuracy_change_pct']:+.2f} % {r['accuracy_metric']} ({r['accuracy_record']})"
                       if has_acc else "no data")
            if tech.startswith("distill:"):
                mr = float(tt.loc["baseline", "params_total_b"] / r["params_total_b"]) if sup else np.nan
        key = {"fp8": "fp8", "int8-weight-only": "int8-weight-only", "int4-weight-only": "int4-weight-only",
               "sparse-2:4": "sparse-2:4"}.get(tech)
        p = pub[pub["applies_to"] == key] if key else pub.iloc[0:0]
        row["published"] = "; ".join(f"{x['value_low']:g}-{x['value_high']:g}x ({x['name'].replace('published_', '')}, "
                                     f"{x['source_id']})" for _, x in p.iterrows())
        row.update(supported=sup, model_speedup=sp, model_memory_reduction=mr, model_energy_reduction=er,
                   speed_verdict=_verdict(sp, lo, hi) if sup else "not supported here",
                   memory_verdict=(_verdict(mr, row["claim_memory_low"], row["claim_memory_high"])
                                   if sup and mem_claim else ("not supported here" if not sup else "no claim")),
                   accuracy=acc_txt, accuracy_change_pct=acc_raw[0], accuracy_metric=acc_raw[1],
                   accuracy_record=acc_raw[2])
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_summary(sweep: pd.DataFrame, techniques, helps_threshold: float = 1.1) -> pd.DataFrame:
    """Per technique: speed-up at the smallest and largest batch of a sweep and the batch from which it stops helping."""
    rows = []
    for t in techniques:
        lab = _label(t)
        sub = sweep[sweep["technique"] == lab].sort_values("batch")
        if sub.empty:
            continue
        rows.append({"technique": lab, "speedup_at_smallest_batch": float(sub["speedup"].iloc[0]),
                     "speedup_at_largest_batch": float(sub["speedup"].iloc[-1]),
                     "stops_helping_from_batch": stops_helping(sweep, lab, helps_threshold),
                     "decode_becomes_compute_bound_at_batch": (int(sub.loc[sub["bound_decode"] == "compute", "batch"].min())
                                                               if (sub["bound_decode"] == "compute").any() else None)})
    return pd.DataFrame(rows)
