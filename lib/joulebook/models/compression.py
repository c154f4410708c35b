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
technique the answer is ``no data``.

The report tables (:func:`technique_table`, :func:`batch_sweep`,
:func:`runtime_comparison`, :func:`pareto_frame`, :func:`strategy_table`,
:func:`report_metrics`) live here so that notebooks stay one call per cell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.core.util import round6
from joulebook.models import presets as models

WEIGHT_ONLY_PRECISIONS = ("int8", "int4")
_ALIASES = {
    "int8-weight-only": ("weight_only", "int8"), "int8wo": ("weight_only", "int8"), "w8a16": ("weight_only", "int8"),
    "int8-wo": ("weight_only", "int8"),
    "int4-weight-only": ("weight_only", "int4"), "int4wo": ("weight_only", "int4"), "w4a16": ("weight_only", "int4"),
    "int4-wo": ("weight_only", "int4"), "awq": ("weight_only", "int4"), "gptq": ("weight_only", "int4"),
    "w8a8": ("precision", "int8"), "int8": ("precision", "int8"), "int8-w8a8": ("precision", "int8"),
    "smoothquant": ("precision", "int8"),
    "sparse-2:4": ("sparse24", None), "2:4": ("sparse24", None), "sparse24": ("sparse24", None),
    "sparsity-2:4": ("sparse24", None),
}
KNOWN = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8-weight-only", "int4-weight-only", "w8a8", "kv:PRECISION",
         "sparse-2:4", "prune:SPARSITY", "prune:SPARSITY:sparse", "distill:STUDENT", "moe:K/E", "none")


@dataclass(frozen=True)
class Technique:
    """One parsed technique: ``kind`` and its argument(s)."""

    kind: str  # precision | weight_only | kv | sparse24 | prune | distill | moe | none
    text: str
    precision: str | None = None
    sparsity: float = 0.0
    sparse_kernels: bool = False
    student: str | None = None
    experts_active: int | None = None
    experts: int | None = None

    @property
    def family(self) -> str:
        """Strategy family for the report: quantization, mixed precision, pruning, distillation, moe."""
        if self.kind in ("weight_only", "kv"):
            return "quantization"
        if self.kind == "precision":
            return "quantization" if self.precision in ("fp8", "int8") else "mixed precision"
        if self.kind in ("sparse24", "prune"):
            return "pruning"
        return {"distill": "distillation", "moe": "mixture of experts"}.get(self.kind, "none")


def parse_technique(text: str) -> list[Technique]:
    """Parse ``fp8``, ``int4-weight-only+sparse-2:4``, ``prune:0.5:sparse``, ``distill:llama-1b``, ``moe:2/8``...

    Raises :class:`InputError` (parameter ``technique``) naming the part it cannot read.
    """
    if text is None:
        return []
    if isinstance(text, float) and math.isnan(text):
        return []
    out: list[Technique] = []
    for raw in str(text).split("+"):
        t = raw.strip()
        low = t.lower().replace("_", "-")
        if low in ("", "none", "baseline", "dense"):
            continue
        if low in _ALIASES:
            kind, arg = _ALIASES[low]
            out.append(Technique(kind=kind, text=t, precision=arg))
            continue
        if low.startswith("kv:") or low.startswith("kv-cache:"):
            out.append(Technique(kind="kv", text=t, precision=data.normalise_precision(low.split(":", 1)[1])))
            continue
        if low.startswith("prune:"):
            parts = low.split(":")
            try:
                sp = float(parts[1])
            except (IndexError, ValueError):
                raise InputError("technique", f"{t!r}: prune needs a sparsity, e.g. prune:0.5") from None
            if not 0.0 < sp < 1.0:
                raise InputError("technique", f"{t!r}: sparsity must be between 0 and 1 (exclusive)")
            kernels = len(parts) > 2 and parts[2] in ("sparse", "sparse-kernels", "kernels")
            if len(parts) > 2 and not kernels and parts[2] not in ("dense",):
                raise InputError("technique", f"{t!r}: the third part must be 'sparse' (sparse kernels) or 'dense'")
            out.append(Technique(kind="prune", text=t, sparsity=sp, sparse_kernels=kernels))
            continue
        if low.startswith("distill:"):
            student = t.split(":", 1)[1].strip()
            models.model(student)  # raises UnknownModelError with close matches
            out.append(Technique(kind="distill", text=t, student=models.model(student).model_id))
            continue
        if low.startswith("moe:"):
            m = re.fullmatch(r"moe:(\d+)(?:/(\d+))?", low)
            if not m:
                raise InputError("technique", f"{t!r}: write moe:K/E (K of E experts active) or moe:K")
            k = int(m.group(1))
            e = int(m.group(2)) if m.group(2) else None
            if k < 1 or (e is not None and (e < 2 or k > e)):
                raise InputError("technique", f"{t!r}: need 1 <= K <= E and E >= 2")
            out.append(Technique(kind="moe", text=t, experts_active=k, experts=e))
            continue
        try:
            p = data.normalise_precision(low)
        except InputError:
            from joulebook.core.errors import close_matches

            hint = close_matches(low, KNOWN)
            raise InputError("technique", f"unknown technique {t!r}" + (f"; close matches: {', '.join(hint)}" if hint
                                                                          else f"; known: {', '.join(KNOWN)}")) from None
        if p == "int4":
            raise InputError("technique", "int4 compute is not modelled: use int4-weight-only")
        out.append(Technique(kind="precision", text=t, precision=p))
    kinds = [x.kind for x in out]
    for k in ("precision", "weight_only", "distill", "moe", "kv"):
        if kinds.count(k) > 1:
            raise InputError("technique", f"{text!r}: more than one {k.replace('_', '-')} technique")
    if "sparse24" in kinds and "prune" in kinds:
        raise InputError("technique", f"{text!r}: choose 2:4 sparsity or unstructured pruning, not both")
    if "precision" in kinds and "weight_only" in kinds:
        raise InputError("technique", f"{text!r}: a precision change and weight-only quantization both set the weights")
    return out


def technique_label(text: str) -> str:
    """Canonical text of a technique string (``baseline`` when empty)."""
    parts = parse_technique(text)
    return "+".join(p.text for p in parts) if parts else "baseline"


def apply_to_arrays(arr: dict[str, np.ndarray], mask: np.ndarray, techniques: list[Technique]) -> None:
    """Apply parsed techniques to the rows ``mask`` of a resolved description (in place; vectorized).

    ``arr`` holds the model shape (``params_total``, ``layers``, ...) and the
    format columns (``weight_precision``, ``activation_precision``, ``kv_precision``,
    ``weight_only``, ``sparse_24``, ``prune_sparsity``, ``sparse_kernels``).
    Distillation runs first (the student then gets the other techniques).
    """
    if not mask.any():
        return
    order = sorted(techniques, key=lambda t: 0 if t.kind == "distill" else 1)
    for t in order:
        if t.kind == "distill":
            s = models.model(t.student)
            teacher = np.asarray(arr["params_total"][mask], dtype=float)
            if (s.params_total >= teacher).any():
                big = float(teacher[s.params_total >= teacher][0])
                raise InputError("technique", f"{t.text!r}: the student {s.model_id} has {s.params_total:.3g} "
                                              f"parameters, not fewer than the {big:.3g} of the model it would "
                                              "distil; a distillation student must be smaller than its teacher")
            for f, v in (("params_total", s.params_total), ("params_active", s.params_active), ("layers", s.layers),
                         ("hidden", s.hidden), ("heads", s.heads), ("kv_heads", s.kv_heads), ("head_dim", s.head_dim),
                         ("intermediate", s.intermediate), ("vocab", s.vocab), ("experts", s.experts),
                         ("experts_active", s.experts_active), ("tied_embeddings", s.tied_embeddings)):
                arr[f][mask] = v
            arr["model_id"][mask] = s.model_id
        elif t.kind == "precision":
            arr["weight_precision"][mask] = t.precision
            arr["activation_precision"][mask] = t.precision
            arr["weight_only"][mask] = False
        elif t.kind == "weight_only":
            arr["weight_precision"][mask] = t.precision
            arr["weight_only"][mask] = True
        elif t.kind == "kv":
            arr["kv_precision"][mask] = t.precision
        elif t.kind == "sparse24":
            arr["sparse_24"][mask] = True
        elif t.kind == "prune":
            arr["prune_sparsity"][mask] = t.sparsity
            arr["sparse_kernels"][mask] = t.sparse_kernels
        elif t.kind == "moe":
            E_old, k_old = arr["experts"][mask], arr["experts_active"][mask]
            if t.experts is None and (E_old <= 1).any():
                raise InputError("technique", f"{t.text!r}: the model is dense; write moe:K/E to give it E experts")
            E_new = np.full(E_old.shape, float(t.experts)) if t.experts is not None else E_old
            if (t.experts_active > E_new).any():
                raise InputError("technique", f"{t.text!r}: {t.experts_active} active of {int(E_new.max())} experts")
            L, d, inter = arr["layers"][mask], arr["hidden"][mask], arr["intermediate"][mask]
            mlp = 3.0 * d * inter
            router_old = np.where(E_old > 1, d * E_old, 0.0)
            router_new = d * E_new
            arr["params_total"][mask] = arr["params_total"][mask] + L * ((E_new - E_old) * mlp + router_new - router_old)
            arr["params_active"][mask] = (arr["params_active"][mask]
                                          + L * ((t.experts_active - k_old) * mlp + router_new - router_old))
            arr["experts"][mask] = E_new
            arr["experts_active"][mask] = float(t.experts_active)


# --------------------------------------------------------------------------- accuracy (data only)

_METHOD_PATTERNS = {
    "fp8": re.compile(r"^fp8$", re.I),
    "w8a8": re.compile(r"int8-sq|smoothquant", re.I),
    "int4-weight-only": re.compile(r"int4[ -]awq|gptq", re.I),
    "sparse-2:4": re.compile(r"2:4", re.I),
}


def _accuracy_key(techniques: list[Technique]) -> str | None:
    if len(techniques) != 1:
        return None
    t = techniques[0]
    if t.kind == "precision" and t.precision == "fp8":
        return "fp8"
    if t.kind == "precision" and t.precision == "int8":
        return "w8a8"
    if t.kind == "weight_only" and t.precision == "int4":
        return "int4-weight-only"
    if t.kind == "sparse24":
        return "sparse-2:4"
    return None


def accuracy(model_name, technique: str) -> list[dict[str, Any]]:
    """Accuracy rows of ``compression_accuracy.csv`` for this model and technique (empty list = no data).

    Each row: record_id, metric, baseline and compressed values, ``change_pct``
    (relative change of the metric, signed so that negative = worse), method,
    context, source_id. A row counts only when the record's model is one of the
    preset's ``accuracy_names`` and its method is the same technique (FP8;
    INT8 SmoothQuant for w8a8; AWQ/GPTQ for int4 weight-only; 2:4 sparsity).
    """
    spec = models.model(model_name)
    techs = parse_technique(technique)
    key = _accuracy_key(techs)
    if key is None or not spec.accuracy_names:
        return []
    df = data.table("compression_accuracy")
    df = df[df["metric"] != "memory only"]
    names = {n.lower() for n in spec.accuracy_names}
    df = df[df["model"].str.lower().isin(names)]
    pat = _METHOD_PATTERNS[key]
    if key == "sparse-2:4":
        df = df[df["technique"].str.contains(pat)]
    else:
        df = df[df["method"].astype(str).str.strip().str.contains(pat)]
        if key == "int4-weight-only":  # W4A8 schemes (4-bit weights with 8-bit activations) are another technique
            df = df[~df["technique"].str.contains("activation", case=False)]
    rows = []
    for _, r in df.iterrows():
        base = pd.to_numeric(r["baseline_value"], errors="coerce")
        comp = pd.to_numeric(r["compressed_value"], errors="coerce")
        unit = str(r["metric_unit"])
        metric = str(r["metric"])
        lower_better = "lower is better" in unit or "loss" in metric.lower() and "relative loss" not in metric.lower() \
            or "ppl" in metric.lower()
        if "relative loss" in metric.lower():
            change = -float(comp)
        elif pd.notna(base) and pd.notna(comp) and base != 0:
            change = (float(comp) - float(base)) / abs(float(base)) * 100.0
            if lower_better:
                change = -change
        else:
            continue
        rows.append({"record_id": r["record_id"], "model": r["model"], "method": r["method"], "metric": metric,
                     "metric_unit": unit, "baseline_value": None if pd.isna(base) else float(base),
                     "compressed_value": None if pd.isna(comp) else float(comp), "change_pct": round(change, 4),
                     "context": r["context"] if isinstance(r["context"], str) else "", "note": r["note"]
                     if isinstance(r["note"], str) else "", "source_id": r["source_id"], "status": r["status"]})
    return rows


# --------------------------------------------------------------------------- report tables

REPORT_DEFAULTS = {
    "model": "llama-3-8b", "accelerator": "h100-sxm", "count": 1, "precision": "bf16", "batch": 16,
    "prompt_tokens": 512, "new_tokens": 256, "runtime": "compiled", "region": "us-va", "student": "llama-3.2-1b",
    "techniques": ["fp8", "int8-weight-only", "int4-weight-only", "w8a8", "kv:fp8", "sparse-2:4", "prune:0.5",
                   "prune:0.5:sparse"],
    "batches": [1, 2, 4, 8, 16, 32, 64, 128, 256], "helps_threshold": 1.1,
}  # the parameters cell of notebooks/20_compression_tradeoffs.ipynb (a test keeps the two equal)

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


def _run(rows: list[dict[str, Any]]) -> pd.DataFrame:
    from joulebook.models.inference import inference_frame

    return inference_frame(pd.DataFrame(rows))


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
        row: dict[str, Any] = {"technique": lab, "family": (parse_technique(t)[0].family if t != "baseline" and
                                                           len(parse_technique(t)) == 1 else
                                                           ("baseline" if t == "baseline" else "combined")),
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


def by_batch(frame: pd.DataFrame, value: str = "speedup", by: str = "technique",
             exclude_families: tuple[str, ...] = ()) -> pd.DataFrame:
    """Pivot of a :func:`batch_sweep` or :func:`runtime_comparison`: batch sizes down, ``by`` across (for line plots).

    ``exclude_families`` drops techniques of those families (e.g. ``("distillation",)``
    so that a 6x student does not flatten the quantization curves).
    """
    if exclude_families and by == "technique":
        fam = {t: (parse_technique(t)[0].family if t != "baseline" and len(parse_technique(t)) == 1 else "")
               for t in frame["technique"].unique()}
        frame = frame[~frame["technique"].map(fam).isin(exclude_families)]
    return frame.pivot(index="batch", columns=by, values=value)


def bar_data(table: pd.DataFrame, column: str) -> tuple[list[str], list[float]]:
    """(labels, values) of the supported rows of a :func:`technique_table`, for :func:`joulebook.display.plots.bar`."""
    t = table[table["supported"]]
    return list(t["technique"]), [float(v) for v in t[column]]


def pareto_points(pareto: pd.DataFrame) -> pd.DataFrame:
    """A :func:`pareto_frame` shaped for a labelled scatter: accuracy change down, one column per technique."""
    return pareto.pivot_table(index="accuracy_change_pct", columns="technique", values="energy_j_per_1k_tokens")


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
            sup, acc_txt = True, "no data"
        else:
            lab = _label(tech)
            r = tt.loc[lab]
            sup = bool(r["supported"])
            sp = float(r["speedup"]) if sup else np.nan
            mr = float(r["memory_reduction"]) if sup else np.nan
            er = float(r["energy_reduction"]) if sup else np.nan
            acc_txt = (f"{r['accuracy_change_pct']:+.2f} % {r['accuracy_metric']} ({r['accuracy_record']})"
                       if sup and pd.notna(r.get("accuracy_change_pct")) else "no data")
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
                   accuracy=acc_txt)
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


def check_parameters(*, model, accelerator, count, precision, batch, prompt_tokens, new_tokens, runtime, region,
                     student, techniques, batches, helps_threshold=1.1) -> dict[str, Any]:
    """Validate the compression report's parameters; returns the plan the report's cells use.

    ``plan["scenario"]`` (keyword arguments of the table functions),
    ``plan["techniques"]`` (with ``distill:STUDENT`` added when a student is
    given), ``plan["batches"]``, ``plan["helps_threshold"]`` and
    ``plan["parameters"]`` (as given, for the provenance block and metrics).
    Raises :class:`InputError` naming the bad parameter.
    """
    from joulebook.core.validate import number
    from joulebook.models.inference import RUNTIMES

    given = dict(model=model, accelerator=accelerator, count=count, precision=precision, batch=batch,
                 prompt_tokens=prompt_tokens, new_tokens=new_tokens, runtime=runtime, region=region, student=student,
                 techniques=list(techniques) if isinstance(techniques, (list, tuple)) else techniques,
                 batches=list(batches) if isinstance(batches, (list, tuple)) else batches,
                 helps_threshold=helps_threshold)
    spec = models.model(model)
    acc = data.accelerator(accelerator)
    prec = data.normalise_precision(precision)
    for nm, v in (("count", count), ("batch", batch), ("prompt_tokens", prompt_tokens), ("new_tokens", new_tokens)):
        number(nm, v, minimum=1, integer=True)
    number("helps_threshold", helps_threshold, minimum=1.0)
    if runtime not in RUNTIMES:
        raise InputError("runtime", f"one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if region:
        data.region(region)
    if not isinstance(techniques, (list, tuple)) or not techniques:
        raise InputError("techniques", "give a non-empty list of techniques")
    for t in techniques:
        parse_technique(t)
    if not isinstance(batches, (list, tuple)) or not batches:
        raise InputError("batches", "give a non-empty list of batch sizes")
    for b in batches:
        number("batches", b, minimum=1, integer=True)
    if spec.heads % int(count):
        raise InputError("count", f"{spec.heads} attention heads do not split over {count} accelerators")
    if not acc.supports(prec):
        raise InputError("precision", f"{prec} is not supported by {acc.accelerator_id}")
    techs = [t for t in techniques]
    if student:
        techs.append(f"distill:{models.model(student).model_id}")
    return {"parameters": given,
            "scenario": {"model": spec.model_id, "accelerator": acc.accelerator_id, "count": int(count),
                         "precision": prec, "batch": int(batch), "prompt_tokens": int(prompt_tokens),
                         "new_tokens": int(new_tokens), "runtime": runtime, "region": region or ""},
            "techniques": techs, "student": models.model(student).model_id if student else "",
            "batches": sorted({int(b) for b in batches}), "helps_threshold": float(helps_threshold)}


def baseline_estimate(plan: dict[str, Any]):
    """The scenario's baseline as a full :class:`~joulebook.models.inference.InferenceEstimate` (assumptions, sources)."""
    from joulebook.models.inference import estimate_inference

    sc = dict(plan["scenario"])
    sc["region"] = sc["region"] or None
    return estimate_inference(**sc)


def report_sources(plan: dict[str, Any], estimate) -> list[str]:
    """Every source the report's numbers rest on: the baseline's, the parameters the techniques use, claims and accuracy."""
    ids = list(estimate.source_ids)
    rt = data.table("inference_runtime")
    ids += list(rt["source_id"])
    ids += [models.model(plan["student"]).source_id] if plan["student"] else []
    for t in plan["techniques"]:
        try:
            ids += [r["source_id"] for r in accuracy(plan["scenario"]["model"], t)]
        except InputError:
            pass
    return [i for i in dict.fromkeys(ids) if i]


# --------------------------------------------------------------------------- prose written from computed values

def _x(v: float) -> str:
    return f"{v:.2f}x"


def scenario_prose(plan: dict[str, Any], est) -> str:
    """One paragraph describing the scenario and its baseline, from the computed estimate."""
    sc, m, c = plan["scenario"], est.model, est.central
    fit = ("fits" if est.fits_in_memory else
           f"does **not** fit: {c['shortfall_gb']:,.1f} GB short per accelerator")
    gqa = (f"{m.kv_heads} KV heads for {m.heads} query heads" if m.kv_heads < m.heads else
           f"{m.heads} heads without grouped-query attention")
    moe = f", {m.experts_active} of {m.experts} experts per token" if m.is_moe else ""
    return (f"**Scenario.** {m.name} ({m.params_total / 1e9:.2f} B parameters, {m.layers} layers, {gqa}{moe}) on "
            f"{sc['count']} x {sc['accelerator']} in {sc['precision']}, batch {sc['batch']}, {sc['prompt_tokens']} prompt "
            f"and {sc['new_tokens']} generated tokens per sequence, {sc['runtime']} runtime"
            + (f", electricity of {est.region.name}" if est.region else ", no region (no emissions)") + ". "
            f"The baseline's prefill is {est.bound['prefill']}-bound ({c['prefill_ms']:,.1f} ms to the first token) and "
            f"each decode step is {est.bound['decode']}-bound ({c['decode_ms_per_token']:,.2f} ms); the accelerators draw "
            f"{c['power_w']:,.0f} W each on average and the service uses {c['energy_j_per_1k_tokens']:,.0f} J of "
            f"facility energy per 1,000 generated tokens (range {est.low['energy_j_per_1k_tokens']:,.0f}-"
            f"{est.high['energy_j_per_1k_tokens']:,.0f}). Weights, KV cache and activations take "
            f"{c['memory_gb_per_accelerator']:,.1f} GB per accelerator of {c['usable_memory_gb_per_accelerator']:,.1f} GB "
            f"usable: the model {fit}.")


def technique_prose(table: pd.DataFrame) -> str:
    """What the technique table says, in sentences that change with the numbers."""
    ok = table[table["supported"]]
    base = ok[ok["technique"] == "baseline"].iloc[0]
    others = ok[ok["technique"] != "baseline"]
    parts = []
    if not others.empty:
        pick = headline_choice(table)
        best, lowest = pick["lead"], pick["lowest"]
        if best is not None and best["technique"] != "baseline":
            parts.append(f"Lowest energy per 1,000 tokens among the options with accuracy evidence: **{best['technique']}**, "
                         f"{best['energy_j_per_1k_tokens']:,.0f} J against {base['energy_j_per_1k_tokens']:,.0f} J for the "
                         f"baseline ({_x(best['energy_reduction'])} less, {_x(best['speedup'])} faster per 1,000 tokens; "
                         f"accuracy: {best['accuracy_change_pct']:+.2f} % {best['accuracy_metric']}).")
        elif lowest is not None and lowest["technique"] != "baseline":
            parts.append(f"No option here has accuracy evidence. Lowest energy per 1,000 tokens: "
                         f"{_option_text(lowest)}, {lowest['energy_j_per_1k_tokens']:,.0f} J against "
                         f"{base['energy_j_per_1k_tokens']:,.0f} J for the baseline ({_x(lowest['energy_reduction'])} "
                         f"less; accuracy: no data).")
        rest = pick["unevidenced"]
        if rest:
            parts.append("Lower in energy, but without accuracy evidence (so not a like-for-like answer): "
                         + ", ".join(_unevidenced_text(r) for r in rest) + ".")
        mem = others.sort_values("memory_reduction").iloc[-1]
        parts.append(f"The largest cut in weight memory is {mem['technique']} ({_x(mem['memory_reduction'])}).")
        same = others[(others["speedup"] - 1).abs() < 0.005]
        if not same.empty:
            parts.append("No change in latency or energy: " + ", ".join(same["technique"]) +
                         " (pruned weights stored dense are still read and multiplied).")
        slower = others[others["speedup"] < 0.995]
        if not slower.empty:
            parts.append("Slower than the baseline here: " + ", ".join(
                f"{r['technique']} ({_x(r['speedup'])})" for _, r in slower.iterrows()) + ".")
        nofit = ok[~ok["fits_in_memory"]]
        if not nofit.empty:
            parts.append("Does not fit in memory: " + ", ".join(
                f"{r['technique']} (short by {r['shortfall_gb']:,.1f} GB per accelerator)" for _, r in nofit.iterrows()) + ".")
    bad = table[~table["supported"]]
    if not bad.empty:
        parts.append("Not run: " + "; ".join(f"{r['technique']} ({r['reason']})" for _, r in bad.iterrows()) + ".")
    return " ".join(parts)


def sweep_prose(sweep: pd.DataFrame, plan: dict[str, Any]) -> str:
    """Where each technique stops helping as the batch grows."""
    thr = plan["helps_threshold"]
    techs = [t for t in sweep["technique"].unique() if t != "baseline"]
    summ = sweep_summary(sweep, techs, thr)
    lo, hi = min(plan["batches"]), max(plan["batches"])
    out = []
    for _, r in summ.iterrows():
        stop = r["stops_helping_from_batch"]
        if stop is not None and pd.notna(stop) and int(stop) == lo:
            tail = f"it never reaches {thr:g}x in this range"
        elif stop is not None and pd.notna(stop):
            tail = f"it stops helping (below {thr:g}x) from batch {int(stop)}"
        else:
            tail = f"it still helps at batch {hi}"
        out.append(f"{r['technique']}: {_x(r['speedup_at_smallest_batch'])} at batch {lo}, "
                   f"{_x(r['speedup_at_largest_batch'])} at batch {hi}; {tail}.")
    b = sweep[sweep["technique"] == "baseline"].sort_values("batch")
    cb = b[b["bound_decode"] == "compute"]
    bound = (f"The baseline's decode becomes compute-bound at batch {int(cb['batch'].iloc[0])}." if not cb.empty else
             f"The baseline's decode stays memory-bound up to batch {hi} (weights and a growing KV cache are read every step).")
    nofit = b[~b["fits_in_memory"].astype(bool)]
    fit_txt = (f" From batch {int(nofit['batch'].iloc[0])} the baseline no longer fits in memory." if not nofit.empty else "")
    e1, e2 = b["energy_j_per_1k_tokens"].iloc[0], b["energy_j_per_1k_tokens"].iloc[-1]
    return (" ".join(out) + f" {bound}{fit_txt} Batching alone takes the baseline from {e1:,.0f} J to {e2:,.0f} J per "
            f"1,000 tokens ({e1 / e2:.1f}x).")


def validation_prose(v: pd.DataFrame) -> str:
    """How close the model comes to published decode speeds (calibration anchors and independent checks)."""
    cal, val = v[v["role"] == "calibration"], v[v["role"] == "validation"]
    inside = ((val["measured_tokens_per_s"] >= val["modelled_low"] * 0.9999) &
              (val["measured_tokens_per_s"] <= val["modelled_high"] * 1.0001))
    return (f"On the {len(cal)} measurements used to fit parameters the model is within "
            f"{cal['error_pct'].abs().max():.0f} % (median {cal['error_pct'].abs().median():.0f} %). On the {len(val)} "
            f"measurements not used for fitting it is off by {val['error_pct'].min():+.0f} % to {val['error_pct'].max():+.0f} % "
            f"(median {val['error_pct'].abs().median():.0f} %), and {int(inside.sum())} of {len(val)} fall inside its "
            f"low-high range. These are batch-1 decode speeds on A100s (gpt-fast); batched serving is not validated here.")


def runtime_prose(rc: pd.DataFrame) -> str:
    """Eager against compiled, from the runtime comparison."""
    eager = rc[rc["runtime"] == "eager"].sort_values("batch")
    lo, hi = eager.iloc[0], eager.iloc[-1]
    return (f"At batch {int(lo['batch'])} the eager runtime is {lo['slowdown_vs_compiled']:.1f}x slower per 1,000 tokens "
            f"than the compiled one: host-side launch overhead is {lo['overhead_share'] * 100:.0f} % of each decode step "
            f"({lo['overhead_ms_per_step']:.1f} ms). At batch {int(hi['batch'])} the GPU work per step grows and the gap "
            f"shrinks to {hi['slowdown_vs_compiled']:.1f}x.")


def pareto_prose(pareto: pd.DataFrame, table: pd.DataFrame) -> str:
    """Which techniques have accuracy evidence and which of them are on the energy-accuracy front."""
    ok = table[table["supported"] & (table["technique"] != "baseline")]
    have = [t for t in pareto["technique"] if t != "baseline"]
    missing = [t for t in ok["technique"] if t not in have]
    if not have:
        return ("No accuracy rows in compression_accuracy.csv match this model and these techniques, so no "
                "energy-accuracy front is drawn (accuracy is never estimated). No data: " + ", ".join(missing) + ".")
    front = [t for t, f in zip(pareto["technique"], pareto["pareto_optimal"], strict=True) if f]
    metrics = [m for m in dict.fromkeys(pareto["accuracy_metric"]) if m != "reference"]
    mixed = (f" The rows use different metrics ({'; '.join(metrics)}): the relative change is comparable in sign, "
             "not in size, across metrics." if len(metrics) > 1 else "")
    return (f"Accuracy evidence exists for {', '.join(have)} (records "
            f"{', '.join(x for x in pareto['accuracy_record'] if x)}). On the energy-accuracy front: {', '.join(front)}. "
            + (f"No data for {', '.join(missing)}: they are left out of the figure, not given a guessed accuracy."
               if missing else "") + mixed)


def strategy_prose(st: pd.DataFrame) -> str:
    """Which quoted claims hold for this scenario."""
    parts = []
    for verdict, lead in (("holds", "The quoted speed-up holds for"), ("exceeds the claim", "Faster than quoted"),
                          ("falls short", "Slower than quoted")):
        sub = st[st["speed_verdict"] == verdict]
        if not sub.empty:
            parts.append(f"{lead}: " + ", ".join(f"{r['technique']} ({_x(r['model_speedup'])})"
                                                                 for _, r in sub.iterrows()) + ".")
    mem = st[st["memory_verdict"].isin(["falls short", "exceeds the claim"])]
    if not mem.empty:
        parts.append("Memory claim off: " + ", ".join(f"{r['technique']} ({_x(r['model_memory_reduction'])}, "
                                                       f"{r['memory_verdict']})" for _, r in mem.iterrows()) + ".")
    ns = st[~st["supported"]]
    if not ns.empty:
        parts.append("Not supported on this accelerator: " + ", ".join(ns["technique"]) + ".")
    return " ".join(parts)


def strategy_display(st: pd.DataFrame) -> pd.DataFrame:
    """The strategy table as shown in the report (claims with their sources, computed values, verdicts)."""
    def rng(lo, hi):
        if pd.isna(lo):
            return ""
        return f"{lo:g}x" if lo == hi else f"{lo:g}-{hi:g}x"

    return pd.DataFrame({
        "strategy": st["strategy"], "technique": st["technique"],
        "claim (speed)": [f"{c} [{s}]" for c, s in zip(st["claim_speed"], st["claim_source"], strict=True)],
        "claimed speed-up": [rng(a, b) for a, b in zip(st["claim_speedup_low"], st["claim_speedup_high"], strict=True)],
        "model speed-up": st["model_speedup"], "speed": st["speed_verdict"],
        "claim (memory)": [f"{c} [{s}]" if c else "" for c, s in zip(st["claim_memory"], st["claim_memory_source"], strict=True)],
        "model memory cut": st["model_memory_reduction"], "memory": st["memory_verdict"],
        "model energy cut": st["model_energy_reduction"], "published measurements": st["published"],
        "accuracy (data)": st["accuracy"]})


def technique_display(table: pd.DataFrame) -> pd.DataFrame:
    """The technique table as shown in the report."""
    t = table[table["supported"]]
    return pd.DataFrame({
        "technique": t["technique"], "latency ms / 1k tokens": t["latency_ms_per_1k_tokens"],
        "TTFT ms": t["ttft_ms"], "weights GB": t["weights_gb"], "memory GB / accelerator": t["memory_gb_per_accelerator"],
        "fits": ["yes" if f else "no" for f in t["fits_in_memory"]],
        "energy J / 1k tokens": t["energy_j_per_1k_tokens"],
        "energy range": [f"{a:,.0f}-{b:,.0f}" for a, b in zip(t["energy_j_per_1k_tokens_low"],
                                                              t["energy_j_per_1k_tokens_high"], strict=True)],
        "speed-up": t["speedup"], "memory cut": t["memory_reduction"], "energy cut": t["energy_reduction"],
        "decode bound": t["bound_decode"],
        "accuracy change %": t["accuracy_change_pct"], "accuracy metric": t["accuracy_metric"]})


def _is_other_model(row) -> bool:
    """A distilled student is a different (smaller) model, not a way of running this one."""
    return row["family"] == "distillation" or "distill:" in str(row["technique"])


def _option_text(row) -> str:
    """The option's name, marked as a different model for a distilled student."""
    return f"{row['technique']} (a different, smaller model)" if _is_other_model(row) else str(row["technique"])


def _unevidenced_text(row) -> str:
    """``int4-weight-only (accuracy: no data, 120 J)``; a distilled student is named as a different model."""
    other = "a different, smaller model; " if _is_other_model(row) else ""
    return f"{row['technique']} ({other}accuracy: no data, {row['energy_j_per_1k_tokens']:,.0f} J)"


def headline_choice(table: pd.DataFrame) -> dict[str, Any]:
    """What a headline may claim from a technique table.

    ``lead``: the lowest-energy supported option that fits in memory AND has accuracy evidence (``None`` if none
    has); ``lowest``: the lowest-energy option of the same model regardless of evidence (a distilled student only
    when nothing else runs); ``unevidenced``: the options without accuracy evidence that use less energy than
    ``lead`` (or than ``lowest`` when there is no lead), lowest first. A distilled student without accuracy data
    is never the lead: it is a different, smaller model of unknown quality.
    """
    ok = table[table["supported"] & table["fits_in_memory"].fillna(False).astype(bool)]
    ok = ok[ok["technique"] != "baseline"] if len(ok) > 1 else ok
    ok = ok.sort_values("energy_j_per_1k_tokens", kind="stable")
    evidenced = ok[ok["accuracy_change_pct"].notna() & (ok["technique"] != "baseline")]
    lead = evidenced.iloc[0] if not evidenced.empty else None
    same = ok[[not _is_other_model(r) for _, r in ok.iterrows()]] if not ok.empty else ok
    lowest = same.iloc[0] if not same.empty else (ok.iloc[0] if not ok.empty else None)
    ref = lead if lead is not None else lowest
    no_acc = ok[ok["accuracy_change_pct"].isna()]
    if ref is not None:
        no_acc = no_acc[no_acc["energy_j_per_1k_tokens"] < ref["energy_j_per_1k_tokens"]]
    return {"lead": lead, "lowest": lowest, "unevidenced": [r for _, r in no_acc.iterrows()]}


def report_metrics(parameters: dict[str, Any]) -> dict[str, Any]:
    """The compression report's ``metrics.json``: computed directly from the library for these parameters
    (parameters left out take the notebook's defaults, :data:`REPORT_DEFAULTS`)."""
    unknown = set(parameters) - set(REPORT_DEFAULTS)
    if unknown:
        raise InputError(sorted(unknown)[0], "not a parameter of the compression report")
    plan = check_parameters(**{**REPORT_DEFAULTS, **dict(parameters)})
    sc = plan["scenario"]
    table = technique_table(plan["techniques"], **sc)
    sweep = batch_sweep(plan["techniques"], plan["batches"], **sc)
    spec = models.model(sc["model"])
    pick = headline_choice(table)
    best, lowest, unevidenced = pick["lead"], pick["lowest"], pick["unevidenced"]
    base = table[table["technique"] == "baseline"].iloc[0]
    quant = [t for t in plan["techniques"] if _label(t) in ("fp8", "int8-weight-only", "int4-weight-only", "w8a8")
             and supported(t, sc["accelerator"], sc["precision"])[0]]
    stop = {(_label(t)): stops_helping(sweep, t, plan["helps_threshold"]) for t in quant}
    where = f" in {sc['region']}" if sc["region"] else ""
    title = f"Compression trade-offs: {spec.name} on {sc['count']} x {sc['accelerator']}"
    if best is not None:
        finding = (f"At batch {sc['batch']}{where}, of the options with accuracy evidence {best['technique']} uses the "
                   f"least energy per 1,000 tokens ({best['energy_j_per_1k_tokens']:,.0f} J vs "
                   f"{base['energy_j_per_1k_tokens']:,.0f} J for the {sc['precision']} baseline, "
                   f"{best['accuracy_change_pct']:+.2f} % {best['accuracy_metric']})")
    elif lowest is not None:
        finding = (f"At batch {sc['batch']}{where}, no option here has accuracy evidence; the lowest energy per 1,000 "
                   f"tokens is {_option_text(lowest)} ({lowest['energy_j_per_1k_tokens']:,.0f} J vs "
                   f"{base['energy_j_per_1k_tokens']:,.0f} J for the {sc['precision']} baseline; accuracy: no data)")
    else:
        finding = None
    if finding is not None:
        rest = unevidenced
        if rest:
            finding += ("; lower in energy but without accuracy evidence: " + ", ".join(_unevidenced_text(r)
                                                                                     for r in rest))
        if stop.get("int4-weight-only"):
            finding += f"; int4 weight-only stops helping from batch {stop['int4-weight-only']}"
        finding += "."
    else:
        finding = (f"Neither the baseline nor any technique fits {spec.name} in the memory of {sc['count']} x "
                   f"{sc['accelerator']} at batch {sc['batch']}.")
    figs = [{"label": "baseline energy per 1k tokens", "value": round6(base["energy_j_per_1k_tokens"]), "unit": "J"}]
    lead = best if best is not None else lowest
    if lead is not None:
        figs.append({"label": f"{lead['technique']} energy per 1k tokens", "value": round6(lead["energy_j_per_1k_tokens"]),
                     "unit": "J"})
    figs.append({"label": "baseline latency per 1k tokens", "value": round6(base["latency_ms_per_1k_tokens"]), "unit": "ms"})
    metrics: dict[str, Any] = {
        "title": title, "finding": finding, "key_figures": figs[:4],
        "baseline_energy_j_per_1k_tokens": round6(base["energy_j_per_1k_tokens"]),
        "baseline_latency_ms_per_1k_tokens": round6(base["latency_ms_per_1k_tokens"]),
        "baseline_memory_gb_per_accelerator": round6(base["memory_gb_per_accelerator"]),
        "baseline_fits_in_memory": bool(base["fits_in_memory"]),
        "baseline_bound_decode": base["bound_decode"],
        "best_technique": best["technique"] if best is not None else None,
        "best_technique_with_accuracy_data": best["technique"] if best is not None else None,
        "lowest_energy_technique": lowest["technique"] if lowest is not None else None,
        "lower_energy_without_accuracy_data": [r["technique"] for r in unevidenced],
        "techniques": {r["technique"]: ({"speedup": round6(r["speedup"]), "memory_reduction": round6(r["memory_reduction"]),
                                         "energy_j_per_1k_tokens": round6(r["energy_j_per_1k_tokens"]),
                                         "latency_ms_per_1k_tokens": round6(r["latency_ms_per_1k_tokens"]),
                                         "fits_in_memory": bool(r["fits_in_memory"]),
                                         "accuracy_change_pct": round6(r["accuracy_change_pct"])}
                                        if r["supported"] else {"supported": False, "reason": r["reason"]})
                       for _, r in table.iterrows()},
        "stops_helping_from_batch": stop,
    }
    return metrics
