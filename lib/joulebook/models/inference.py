"""Inference latency, memory, power, energy, money and carbon from a roofline.

Two serving modes (column / keyword ``serving``):

**static** (default): a batch of ``b`` sequences with ``s`` prompt tokens generating ``g`` tokens each,
on ``n`` accelerators in tensor parallel::

    weight bytes     = N_read x bytes(weight precision)          (+ int4 group scales; 2:4 / sparse formats)
    KV per token     = 2 L KV hd x bytes(kv precision)
    prefill  compute = [2 N_act b s + 2 L (H hd) s^2 b] / (n x peak(compute precision) x efficiency)
             memory  = [weight bytes + b s KV per token] / (n x bandwidth x memory efficiency)
    decode   compute = [2 N_act b + 4 L (H hd) c b] / (n x peak x efficiency)         c = s + g/2
             memory  = [weight bytes / dequant + b c KV per token] / (n x bandwidth x memory efficiency)
    step     = max(compute, memory) + L x runtime overhead per layer + 2 L all-reduces (n > 1)
    TTFT     = prefill;  request = prefill + (g - 1) x decode step

**continuous** (a serving engine such as vLLM): ``B`` requests run at once, ``B`` = the
concurrency cap (``max_concurrency``), limited by the KV cache that fits in memory
(``B <= KV capacity / (s + g/2)``) and, with an ``arrival_rate_per_s`` λ, by Little's law
``B = λ x g x step(B)`` (solved by bisection). Each step decodes one token for each of the
``B`` requests and mixes in chunked prefill of arriving requests, ``P_f = B x p / g`` tokens
(``p`` = ``prefill_tokens``: new prompt tokens a request brings, ``s`` without prefix caching)::

    linear   = 2 N_act (B + P_f) / rate + weight bytes / bandwidth                 (GEMMs over all tokens)
    attention= max(4 L (H hd) [c B + (s - p/2) P_f] / rate,  (B c + P_f) KV per token / bandwidth)
    step     = linear + attention + L x runtime overhead + all-reduces + serving_scheduler_overhead_ms
               + B x serving_overhead_ms_per_request       (sampling etc.: memory-bound work on one accelerator)
    inter-token latency = step;  output tokens/s = B / step;  TTFT = step x ceil(p / (budget - B))

The GEMMs of a mixed step run between the two roofs (a few hundred tokens), so their time is
compute + memory, not the max: ML.ENERGY's 8B inter-token latency rises linearly with the batch
from batch 8 on. Where it does not fit, ``B`` shrinks to what the KV cache holds (as vLLM does).

**Power** (both modes; :mod:`joulebook.models.hardware`): per phase the achieved shares of the
peak FLOP/s (``u_c``) and of the HBM bandwidth (``u_m``) and the share of host-side gaps
(eager launch gaps, scheduler time, all-reduce waits) set
``P = min(cap, idle + (cap - idle)(k_c u_c + k_m u_m + k_g f_gap))`` with coefficients fitted
on our H100 probe and ML.ENERGY's H100 measurements (``data/power_model.csv``).
``energy = n x sum(power x time) [+ node power] x PUE``; per 1,000 generated tokens = / tokens x 1000.
**Deployed service**: with ``utilisation`` U (share of wall time the engine is busy), the idle
rest draws idle (+ node) power: per output token add ``n (idle + node) PUE x (1 - U)/U x time per token``.

**Fitting cases** (``tests/test_power_fit.py``): ML.ENERGY v3 publishes no prompt lengths for its
multi-turn lm-arena chats (prefix caching on). We assume a context of ``mlenergy_context_tokens``
per request (the context at which the modelled KV cache holds the measured running batch of the
two KV-limited rows) of which ``mlenergy_prefill_tokens`` are new prefill (the rest is cached),
both named rows of ``data/inference_runtime.csv`` with ranges, fitted by ``scripts/fit_power.py``.

Memory bandwidth efficiency is per accelerator where ``data/achievable_rates.csv`` has a
measured row (H100: our weight-streaming probe), else the global row of
``data/inference_runtime.csv``; compute efficiency follows :func:`compute_efficiency`.

``N_read`` is what one step reads: all non-embedding weights of a dense model; for
a mixture of experts the shared weights plus the experts the batch touches,
``E (1 - (1 - k/E)^tokens)`` per layer, so memory traffic moves from the active
to the total parameters as the batch grows while compute follows the active ones.

Every parameter with no direct published value is a named row of
``data/inference_runtime.csv`` (source, note, low/central/high) and can be
overridden by giving a column (frame) or keyword (scalar) of the same name.
Low and high combine the favourable (resp. unfavourable) end of every uncertain
input, so low <= central <= high for times, energies and costs.

The scalar API (:func:`estimate_inference`) is a one-row call of the vectorized
one (:func:`inference_frame`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, reject_unknown
from joulebook.core.validate import array, number
from joulebook.models import costs, hardware, techniques
from joulebook.models import presets as models

BYTES_PER_VALUE = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
RUNTIMES = ("eager", "compiled")

# name -> +1 when a larger value is favourable (faster / less energy), -1 when unfavourable
RUNTIME_PARAMETERS = {
    "eager_overhead_ms_per_layer": -1, "compiled_overhead_ms_per_layer": -1, "memory_bandwidth_efficiency": +1,
    "dequant_bandwidth_factor_int8": +1, "dequant_bandwidth_factor_int4": +1, "weight_only_compute_factor": +1,
    "int4_scale_bytes_per_weight": -1, "sparse24_compute_speedup": +1, "sparse24_metadata_bytes_per_weight": -1,
    "unstructured_sparse_index_bytes_per_weight": -1, "unstructured_sparse_compute_speedup": +1,
    "tp_allreduce_latency_ms": -1, "tp_link_bandwidth_gb_per_s": +1, "usable_memory_fraction": +1,
    "serving_scheduler_overhead_ms": -1, "serving_overhead_ms_per_request": -1, "serving_max_batched_tokens": +1,
    "narrow_compute_power_basis": -1,
}
POWER_OVERRIDES = ("compute_power_fraction", "memory_power_fraction", "gap_power_fraction")
SERVING_MODES = ("static", "continuous")
SERVING_INPUTS = ("max_concurrency", "arrival_rate_per_s", "prefill_tokens", "utilisation")
OVERRIDES = ("compute_efficiency", "overhead_ms_per_layer", "power_w", "node_power_w", "pue", "intensity_g_per_kwh",
             "price_usd_per_kwh", "cloud_price_usd_per_gpu_hour") + POWER_OVERRIDES

OUTPUT_KEYS = (
    "prefill_ms", "decode_ms_per_token", "ttft_ms", "request_ms", "tokens_per_s", "decode_tokens_per_s",
    "latency_ms_per_1k_tokens", "prefill_compute_ms", "prefill_memory_ms", "decode_compute_ms", "decode_memory_ms",
    "overhead_ms_per_step", "communication_ms_per_decode_step", "power_w", "power_w_prefill", "power_w_decode",
    "load_prefill", "load_decode", "energy_j_per_1k_tokens_accelerator", "energy_j_per_1k_tokens_it",
    "energy_j_per_1k_tokens", "energy_j_per_token", "energy_kwh_per_request_batch",
    "electricity_cost_usd_per_1k_tokens", "rental_cost_usd_per_1k_tokens", "cost_usd_per_1k_tokens",
    "emissions_g_per_1k_tokens", "weights_gb", "kv_cache_gb", "activations_gb", "memory_gb",
    "memory_gb_per_accelerator", "usable_memory_gb_per_accelerator", "shortfall_gb",
    "concurrency", "prefill_tokens_per_step", "inter_token_latency_ms", "output_tokens_per_s",
    "compute_utilisation", "memory_utilisation", "gap_share",
    "energy_j_per_output_token_accelerator", "energy_j_per_output_token", "energy_j_per_output_token_service",
    "energy_wh_per_request", "energy_wh_per_request_service",
)
RANGE_KEYS = OUTPUT_KEYS  # every numeric output has _low/_high columns
UNITS = {
    "prefill_ms": "ms", "decode_ms_per_token": "ms per decode step (one token per sequence)", "ttft_ms": "ms",
    "request_ms": "ms (prefill + all decode steps)", "tokens_per_s": "generated tokens/s (whole batch)",
    "decode_tokens_per_s": "tokens/s during decode (whole batch)",
    "latency_ms_per_1k_tokens": "ms per 1,000 generated tokens of one sequence (request time / g x 1000)",
    "prefill_compute_ms": "ms", "prefill_memory_ms": "ms", "decode_compute_ms": "ms", "decode_memory_ms": "ms",
    "overhead_ms_per_step": "ms", "communication_ms_per_decode_step": "ms", "power_w": "W per accelerator (request mean)",
    "power_w_prefill": "W per accelerator", "power_w_decode": "W per accelerator", "load_prefill": "fraction",
    "load_decode": "fraction", "energy_j_per_1k_tokens_accelerator": "J per 1,000 generated tokens (accelerators)",
    "energy_j_per_1k_tokens_it": "J per 1,000 generated tokens (accelerators + node)",
    "energy_j_per_1k_tokens": "J per 1,000 generated tokens (facility: IT x PUE)",
    "energy_j_per_token": "J per generated token (facility)", "energy_kwh_per_request_batch": "kWh (facility)",
    "electricity_cost_usd_per_1k_tokens": "USD", "rental_cost_usd_per_1k_tokens": "USD",
    "cost_usd_per_1k_tokens": "USD (rental + electricity when both apply)", "emissions_g_per_1k_tokens": "g CO2e",
    "weights_gb": "GB (all accelerators)", "kv_cache_gb": "GB (all accelerators)",
    "activations_gb": "GB (all accelerators)", "memory_gb": "GB (all accelerators)",
    "memory_gb_per_accelerator": "GB", "usable_memory_gb_per_accelerator": "GB", "shortfall_gb": "GB per accelerator",
    "concurrency": "requests running at once (static: the batch)",
    "prefill_tokens_per_step": "prompt tokens prefilled per decode step (continuous: chunked prefill)",
    "inter_token_latency_ms": "ms between two tokens of one request (one decode step)",
    "output_tokens_per_s": "generated tokens/s of the engine while busy",
    "compute_utilisation": "achieved / peak FLOP/s in a decode step", "memory_utilisation":
        "achieved / peak HBM bandwidth in a decode step", "gap_share": "share of a decode step in host-side gaps",
    "energy_j_per_output_token_accelerator": "J per generated token, accelerators only, busy engine",
    "energy_j_per_output_token": "J per generated token, facility, busy engine",
    "energy_j_per_output_token_service": "J per generated token, facility, deployed service (idle share included)",
    "energy_wh_per_request": "Wh per request, facility, busy engine",
    "energy_wh_per_request_service": "Wh per request, facility, deployed service",
}
_NUMERIC_INPUTS = ("params", "active_params", "layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate",
                   "vocab", "experts", "experts_active", "count", "batch", "prompt_tokens", "new_tokens") + SERVING_INPUTS


# --------------------------------------------------------------------------- lookups

def runtime_parameter(name: str) -> tuple[float, float, float, str, str, str]:
    """(low, central, high, unit, source_id, note) of a ``data/inference_runtime.csv`` row."""
    return models.runtime_row(name)


def compute_efficiency(accelerator, precision: str) -> tuple[float, float, float, str, str]:
    """(low, central, high, source_id, note): achieved fraction of dense peak for inference matmuls.

    Order: a measured large-matmul row of this accelerator and precision
    (``efficiency.csv`` workload ``matmul``, e.g. our H100 probe), then the
    maximum achievable matmul (``mamf``), then the same for the precision with the
    same tensor rate (bf16 <-> fp16), then the fleet-wide training MFU as a
    labelled fallback.
    """
    acc = data.accelerator(accelerator)
    p = data.normalise_precision(precision)
    df = data.table("efficiency")
    siblings = {"bf16": "fp16", "fp16": "bf16"}
    for prec in (p, siblings.get(p)):
        if prec is None:
            continue
        for workload in ("matmul", "mamf"):
            hit = df[(df["accelerator_id"] == acc.accelerator_id) & (df["precision"] == prec) &
                     (df["workload"] == workload)]
            if not hit.empty:
                r = hit.iloc[0]
                note = f"{workload} row for {acc.accelerator_id} {prec}" + ("" if prec == p else f" (used for {p}: same tensor rate)")
                return float(r["efficiency_low"]), float(r["efficiency"]), float(r["efficiency_high"]), r["source_id"], note
    r = df[(df["accelerator_id"] == "*") & (df["workload"] == "train")].iloc[0]
    return (float(r["efficiency_low"]), float(r["efficiency"]), float(r["efficiency_high"]), r["source_id"],
            f"no matmul measurement for {acc.accelerator_id} {p}: fleet training MFU used as a conservative fallback")


def memory_efficiency(accelerator) -> tuple[float, float, float, str, str]:
    """(low, central, high, source_id, note): achieved / datasheet HBM bandwidth of a decode step's weight stream.

    A measured row of ``data/achievable_rates.csv`` for this accelerator
    (rate ``hbm_decode_stream_efficiency``) if there is one; otherwise the
    global ``memory_bandwidth_efficiency`` row of ``data/inference_runtime.csv``
    (gpt-fast on A100), labelled as the fallback.
    """
    acc = data.accelerator(accelerator)
    row = achievable_rate(acc, "hbm_decode_stream_efficiency")
    if row is not None:
        return row
    lo, mid, hi, _, src, _ = runtime_parameter("memory_bandwidth_efficiency")
    return lo, mid, hi, src, f"no measured row for {acc.accelerator_id}: global memory_bandwidth_efficiency"


def achievable_rate(accelerator, rate: str) -> tuple[float, float, float, str, str] | None:
    """(low, central, high, source_id, note) of a ``data/achievable_rates.csv`` row, or None when the
    accelerator has none (callers then use the global row of ``inference_runtime.csv``)."""
    return _achievable_rate(data.accelerator(accelerator).accelerator_id, rate)


@data.cached
def _achievable_rate(accelerator_id: str, rate: str) -> tuple[float, float, float, str, str] | None:
    acc = data.accelerator(accelerator_id)
    df = data.table("achievable_rates")
    hit = df[(df["accelerator_id"] == acc.accelerator_id) & (df["rate"] == rate)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return (float(r["value_low"]), float(r["value"]), float(r["value_high"]), str(r["source_id"]),
            f"achievable_rates.csv row for {acc.accelerator_id}")


def achieved_tflops(accelerator, precision: str) -> float:
    """Dense peak x central matmul efficiency: the compute rate a large, compute-bound matmul reaches."""
    acc = data.accelerator(accelerator)
    return acc.peak(precision) * compute_efficiency(acc, precision)[1]


def weight_bytes_per_value(precision: str, scale_bytes_int4: float | None = None) -> float:
    """Bytes one stored weight takes (int4 adds its group scales)."""
    p = data.normalise_precision(precision)
    b = BYTES_PER_VALUE[p]
    if p == "int4":
        b += runtime_parameter("int4_scale_bytes_per_weight")[1] if scale_bytes_int4 is None else scale_bytes_int4
    return b


# --------------------------------------------------------------------------- vectorized core

def _col(df: pd.DataFrame, name: str, n: int, default=np.nan) -> np.ndarray:
    if name in df.columns:
        raw = df[name]
        if not pd.api.types.is_numeric_dtype(raw.dtype):
            vals = pd.to_numeric(raw, errors="coerce")
            text = raw.notna() & vals.isna() & (raw.astype(str).str.strip() != "")
            if text.any():
                raise InputError(name, f"expected a plain number (units are in the parameter name), got {raw[text].iloc[0]!r}")
            a = vals.to_numpy(dtype=float)
        else:
            a = raw.to_numpy(dtype=float)
        if default is not None and not (isinstance(default, float) and math.isnan(default)):
            a = np.where(np.isnan(a), default, a)
        return a
    return np.full(n, default, dtype=float)


def _text(df: pd.DataFrame, name: str, n: int, default: str = "") -> np.ndarray:
    if name not in df.columns:
        return np.full(n, default, dtype=object)
    s = df[name].astype(object).where(df[name].notna(), default).astype(str)
    s = s.where(s.str.strip() != "", default)
    return s.to_numpy(dtype=object)


def _whole(name: str, a: np.ndarray, minimum: float = 1.0) -> None:
    array(name, a, minimum=minimum)
    frac = a != np.floor(a)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise InputError(name, f"must be a whole number (row {i} is {a[i]:g})")


def _describe(df: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    """Model shape and number formats per row, techniques applied."""
    model_names = _text(df, "model", n)
    has_model = model_names != ""
    arr: dict[str, np.ndarray] = {}
    shape_fields = ("params_total", "params_active", "layers", "hidden", "heads", "kv_heads", "head_dim",
                    "intermediate", "vocab", "experts", "experts_active")
    for f in shape_fields:
        arr[f] = np.full(n, np.nan)
    arr["tied_embeddings"] = np.zeros(n, dtype=bool)
    arr["model_id"] = np.full(n, "custom", dtype=object)
    if has_model.any():
        codes, uniques = pd.factorize(pd.Series(model_names[has_model]))
        specs = [models.model(u) for u in uniques]
        idx = np.flatnonzero(has_model)
        for f in shape_fields:
            arr[f][idx] = np.array([getattr(s, f) for s in specs], dtype=float)[codes]
        arr["tied_embeddings"][idx] = np.array([s.tied_embeddings for s in specs], dtype=bool)[codes]
        arr["model_id"][idx] = np.array([s.model_id for s in specs], dtype=object)[codes]
    custom = ~has_model
    if custom.any():
        if "params" not in df.columns or np.isnan(_col(df, "params", n)[custom]).any():
            raise InputError("model", "give a preset model name or params (with any known architecture numbers)")
        sub = {k: _col(df, k, n)[custom] for k in ("params", "active_params", "layers", "hidden", "heads", "kv_heads",
                                                     "head_dim", "intermediate", "vocab", "experts", "experts_active")}
        tied = _col(df, "tied_embeddings", n, 0.0)[custom] if "tied_embeddings" in df.columns else None
        s = models.shape_arrays(sub["params"], layers=sub["layers"], hidden=sub["hidden"], heads=sub["heads"],
                                kv_heads=sub["kv_heads"], head_dim=sub["head_dim"], intermediate=sub["intermediate"],
                                vocab=sub["vocab"], experts=sub["experts"], experts_active=sub["experts_active"],
                                tied_embeddings=tied, active_params=sub["active_params"])
        for f in shape_fields:
            arr[f][custom] = s[f]
        arr["tied_embeddings"][custom] = s["tied_embeddings"]
    base = _text(df, "precision", n, "bf16")
    pcodes, puniq = pd.factorize(pd.Series(base))
    base = np.array([data.normalise_precision(p) for p in puniq], dtype=object)[pcodes]
    for col in ("weight_precision", "activation_precision", "kv_precision"):
        given = _text(df, col, n)
        out = base.copy()
        m = given != ""
        if m.any():
            gc, gu = pd.factorize(pd.Series(given[m]))
            out[m] = np.array([data.normalise_precision(p) for p in gu], dtype=object)[gc]
        arr[col] = out
    arr["weight_only"] = _col(df, "weight_only", n, 0.0) > 0.5 if "weight_only" in df.columns else np.zeros(n, bool)
    arr["sparse_24"] = np.zeros(n, dtype=bool)
    arr["prune_sparsity"] = np.zeros(n)
    arr["sparse_kernels"] = np.zeros(n, dtype=bool)
    tech = _text(df, "technique", n)
    if (tech != "").any():
        tcodes, tuniq = pd.factorize(pd.Series(tech))
        for j, t in enumerate(tuniq):
            parsed = techniques.parse_technique(t)
            if parsed:
                techniques.apply_to_arrays(arr, tcodes == j, parsed)
    wo = arr["weight_only"]
    bad = wo & ~np.isin(arr["weight_precision"], techniques.WEIGHT_ONLY_PRECISIONS)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("weight_precision", f"weight-only kernels are modelled for int8 and int4, not "
                                             f"{arr['weight_precision'][i]} (row {i})")
    bad = ~wo & (arr["weight_precision"] == "int4")
    if bad.any():
        raise InputError("weight_precision", "int4 weights need weight-only kernels (technique int4-weight-only)")
    bad = ~wo & (arr["weight_precision"] != arr["activation_precision"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("activation_precision", f"weights in {arr['weight_precision'][i]} with activations in "
                                                 f"{arr['activation_precision'][i]} need weight-only kernels "
                                                 f"(weight_only=True or an *-weight-only technique; row {i})")
    arr["compute_precision"] = np.where(wo, arr["activation_precision"], arr["weight_precision"])
    return arr


NARROW_COMPUTE = ("fp8", "int8", "int4", "fp4")  # compute precisions below the 16-bit ones the power fit saw


def _resolve_acc(acc_id: str, prec: str) -> dict[str, Any]:
    acc = data.accelerator(acc_id)
    try:
        peak = acc.peak(prec)
    except InputError:
        raise InputError("precision", f"{prec} compute is not supported by {acc.accelerator_id} "
                                      f"(supported: {', '.join(acc.precisions)})") from None
    lo, mid, hi, src, _ = compute_efficiency(acc, prec)
    if math.isnan(acc.tdp_w):
        idle = float("nan")
        node = (float("nan"),) * 3
    else:
        idle = hardware.idle_power_w(acc)[0]
        node = tuple(hardware.node_power_w(acc, w) for w in ("low", "central", "high"))
    cp = costs.cloud_price(acc)
    cloud = cp.as_tuple() if cp else (float("nan"),) * 3
    pw = [tuple(hardware.power_model_row(t, acc.accelerator_id)[:3]) for t in POWER_OVERRIDES]
    # k_c was fitted on 16-bit compute: an 8-bit (or narrower) FLOP costs between half of a 16-bit one (share of
    # its own peak) and a whole one (share of the 16-bit peak): parameter narrow_compute_power_basis
    peak_pw = peak
    if data.normalise_precision(prec) in NARROW_COMPUTE and "bf16" in acc.precisions:
        peak_pw = min(peak, acc.peak("bf16"))
    return {"peak": peak, "peak_pw": peak_pw, "eff": (lo, mid, hi), "bw": acc.memory_bandwidth_tb_per_s, "mem": acc.memory_gb,
            "tdp": acc.tdp_w, "idle": idle, "node": node, "cloud": cloud, "bw_eff": memory_efficiency(acc)[:3],
            "pc": pw[0], "pm": pw[1], "pg": pw[2],
            "ar": (achievable_rate(acc, "tp_allreduce_latency_ms") or (float("nan"),) * 3)[:3]}


def _resolve_region(name: str) -> dict[str, Any]:
    if not name:
        return {"ci": float("nan"), "price": float("nan"), "pue": data.operator_defaults("industry")[0]}
    r = data.region(name)
    return {"ci": r.intensity_g_per_kwh, "price": r.price_usd_per_kwh if r.price_usd_per_kwh is not None else float("nan"),
            "pue": r.pue}


def _pick(row: tuple[float, float, float], sign: int, case: str) -> float:
    lo, mid, hi = row
    if case == "central":
        return mid
    fav = hi if sign > 0 else lo
    unfav = lo if sign > 0 else hi
    return fav if case == "low" else unfav


def _touched(E: np.ndarray, k: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Expected experts per layer that ``tokens`` routed tokens touch: E (1 - (1 - k/E)^tokens); 0 for dense models."""
    with np.errstate(invalid="ignore"):
        return np.where(E > 1, E * (1.0 - np.power(1.0 - k / np.maximum(E, 1.0), tokens)), 0.0)


def _comm_ms(tokens, d, act_bytes, count, layers, latency_ms, link_b_per_s) -> np.ndarray:
    """Tensor-parallel time per step: 2 all-reduces per layer, latency + ring volume 2 (n-1)/n x message."""
    msg = tokens * d * act_bytes
    per = latency_ms + msg * 2.0 * (count - 1.0) / count / link_b_per_s * 1e3
    return np.where(count > 1, 2.0 * layers * per, 0.0)


def _shares(flops, nbytes, gap_ms, t_ms, peak_flops, peak_bytes):
    """(u_c, u_m, f_gap) of a phase: achieved / peak FLOP/s and bytes/s, and the share of time in host gaps."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t_s = t_ms / 1e3
        return (np.clip(flops / (t_s * peak_flops), 0.0, 1.0), np.clip(nbytes / (t_s * peak_bytes), 0.0, 1.0),
                np.clip(gap_ms / t_ms, 0.0, 1.0))


def _serve_step(B: np.ndarray, q: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """One continuous-batching step with ``B`` running requests (see the module docstring).

    Returns (step ms, prefill tokens per step, FLOPs, HBM bytes, compute ms, memory ms, all-reduce ms).
    """
    pf = B * q["p_new"] / q["g_new"]
    tok = B + pf
    lin_f = (2.0 * (q["act_compute"] - q["lm"]) * tok / q["sp"] + 2.0 * q["lm"] * B) / q["wo_f"]
    att_f = 4.0 * q["L"] * q["attn_dim"] * (q["c_ctx"] * B + q["c_pre"] * pf)
    tc_lin, tc_att = lin_f / q["rate"] * 1e3, att_f / q["rate"] * 1e3
    w_read = (q["linear_shared"] + q["per_expert"] * _touched(q["E"], q["k"], tok)) * q["wbl"] + q["lm"] * q["wb"]
    kv_b = (B * q["c_ctx"] + pf) * q["kv_per_token"] * q["kv_rep"]
    tm_lin, tm_att = w_read / (q["bw_eff"] * q["deq"]) * 1e3, kv_b / q["bw_eff"] * 1e3
    comm = _comm_ms(tok, q["d"], q["allreduce_bytes"], q["count"], q["L"], q["lat"], q["link"])
    t = tc_lin + tm_lin + np.maximum(tc_att, tm_att) + q["fixed_ms"] + q["per_request_ms"] * B + comm
    return t, pf, lin_f + att_f, w_read / q["deq"] + kv_b, tc_lin + tc_att, tm_lin + tm_att, comm


def inference_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Vectorized inference estimate: one row per scenario.

    Input columns (missing or NaN = default): ``model`` (preset name) or ``params``
    [+ ``active_params``, ``layers``, ``hidden``, ``heads``, ``kv_heads``, ``head_dim``,
    ``intermediate``, ``vocab``, ``experts``, ``experts_active``]; ``technique``;
    ``accelerator`` (h100-sxm); ``count`` (1); ``precision`` (bf16) and optionally
    ``weight_precision``, ``activation_precision``, ``kv_precision``, ``weight_only``;
    ``batch`` (1); ``prompt_tokens`` (128); ``new_tokens`` (128); ``runtime``
    (compiled); ``region``; serving: ``serving`` (static | continuous), ``max_concurrency``
    (continuous: default ``batch``), ``arrival_rate_per_s`` (continuous; none = saturated),
    ``prefill_tokens`` (continuous: new prompt tokens per request, default ``prompt_tokens``),
    ``utilisation`` (share of time busy, default 1; the ``*_service`` outputs); overrides: any
    ``data/inference_runtime.csv`` parameter name, ``compute_efficiency``,
    ``overhead_ms_per_layer``, ``compute_power_fraction``, ``memory_power_fraction``,
    ``gap_power_fraction`` (power-model coefficients), ``power_w`` (mean accelerator power: skips
    the power model), ``node_power_w``, ``pue``, ``intensity_g_per_kwh``, ``price_usd_per_kwh``,
    ``cloud_price_usd_per_gpu_hour``.

    Output: the input columns plus the resolved description (``model_id``,
    ``params_total``, ..., ``compute_precision``), ``bound_prefill``,
    ``bound_decode``, ``fits_in_memory`` and ``<key>``, ``<key>_low``, ``<key>_high``
    for every key in :data:`OUTPUT_KEYS`.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("scenarios", "expected a pandas DataFrame")
    n = len(df)
    out = df.copy()
    if n == 0:
        return out
    for name in _NUMERIC_INPUTS + OVERRIDES + tuple(RUNTIME_PARAMETERS):
        if name in df.columns:
            a = _col(df, name, n)
            g = ~np.isnan(a)
            if g.any():
                array(name, a[g], minimum=0.0)
    count = _col(df, "count", n, 1.0)
    batch = _col(df, "batch", n, 1.0)
    s = _col(df, "prompt_tokens", n, 128.0)
    g_new = _col(df, "new_tokens", n, 128.0)
    _whole("count", count)
    _whole("batch", batch)
    _whole("prompt_tokens", s)
    _whole("new_tokens", g_new)
    for nm in ("compute_efficiency", "memory_bandwidth_efficiency", "usable_memory_fraction", "weight_only_compute_factor",
               "dequant_bandwidth_factor_int8", "dequant_bandwidth_factor_int4", "utilisation"):
        if nm in df.columns:
            a = _col(df, nm, n)
            if (~np.isnan(a) & ((a > 1) | (a <= 0))).any():
                raise InputError(nm, "must be a fraction in (0, 1]")
    serving = pd.Series(_text(df, "serving", n, "static")).str.lower()
    bad = ~serving.isin(SERVING_MODES)
    if bad.any():
        raise InputError("serving", f"unknown serving mode {serving[bad].iloc[0]!r} (one of {', '.join(SERVING_MODES)})")
    cont = (serving == "continuous").to_numpy()
    max_conc = _col(df, "max_concurrency", n)
    max_conc = np.where(np.isnan(max_conc), batch, max_conc)
    _whole("max_concurrency", max_conc)
    lam = _col(df, "arrival_rate_per_s", n)
    if (~np.isnan(lam) & (lam <= 0)).any():
        raise InputError("arrival_rate_per_s", "must be > 0 requests per second (leave it out for a saturated engine)")
    p_new = _col(df, "prefill_tokens", n)
    p_new = np.where(np.isnan(p_new), s, p_new)
    _whole("prefill_tokens", p_new, minimum=0.0)
    if (p_new > s).any():
        i = int(np.flatnonzero(p_new > s)[0])
        raise InputError("prefill_tokens", f"new prefill tokens per request ({p_new[i]:g}) cannot exceed the prompt "
                                           f"tokens ({s[i]:g}) (row {i})")
    util = _col(df, "utilisation", n, 1.0)
    pue_in = _col(df, "pue", n)
    if (~np.isnan(pue_in) & ((pue_in < 1) | (pue_in > 3))).any():
        raise InputError("pue", "must be between 1 and 3")

    d_ = _describe(df, n)
    L, d, H, KV, hd = d_["layers"], d_["hidden"], d_["heads"], d_["kv_heads"], d_["head_dim"]
    bad = np.mod(H, count) != 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("count", f"tensor parallelism splits the {H[i]:g} attention heads over {count[i]:g} "
                                  f"accelerators: not a whole number per accelerator (row {i})")

    # accelerators x compute precision
    acc_names = _text(df, "accelerator", n, "h100-sxm")
    acodes, auniq = pd.factorize(pd.Series(acc_names).str.lower())
    acc_ids = np.array([data.accelerator(a).accelerator_id for a in auniq], dtype=object)[acodes]
    pair = pd.Series(acc_ids.astype(str)) + "|" + pd.Series(d_["compute_precision"].astype(str))
    codes, uniq = pd.factorize(pair)
    res = [_resolve_acc(*u.split("|", 1)) for u in uniq]
    A = np.array([[r["peak"], *r["eff"], r["bw"], r["mem"], r["tdp"], r["idle"], *r["node"], *r["cloud"], *r["bw_eff"],
                   *r["pc"], *r["pm"], *r["pg"], *r["ar"], r["peak_pw"]] for r in res], dtype=float)[codes]
    peak, eff_rows, bw, mem_gb, tdp, idle = A[:, 0], (A[:, 1], A[:, 2], A[:, 3]), A[:, 4], A[:, 5], A[:, 6], A[:, 7]
    node_rows, cloud_rows = (A[:, 8], A[:, 9], A[:, 10]), (A[:, 11], A[:, 12], A[:, 13])
    bw_eff_rows = (A[:, 14], A[:, 15], A[:, 16])
    pc_rows, pm_rows, pg_rows = (A[:, 17], A[:, 18], A[:, 19]), (A[:, 20], A[:, 21], A[:, 22]), (A[:, 23], A[:, 24], A[:, 25])
    ar_rows = (A[:, 26], A[:, 27], A[:, 28])
    narrow_scale = A[:, 0] / A[:, 29]  # own peak / 16-bit peak: 1 for 16-bit compute, about 2 for fp8 / int8
    if np.isnan(bw).any():
        i = int(np.flatnonzero(np.isnan(bw))[0])
        raise InputError("accelerator", f"{acc_ids[i]} has no memory bandwidth in the data set: cannot run the roofline")
    if np.isnan(mem_gb).any():
        i = int(np.flatnonzero(np.isnan(mem_gb))[0])
        raise InputError("accelerator", f"{acc_ids[i]} has no memory size in the data set")

    # runtime
    runtime = _text(df, "runtime", n, "compiled")
    rt = pd.Series(runtime).str.lower()
    bad = ~rt.isin(RUNTIMES)
    if bad.any():
        raise InputError("runtime", f"unknown runtime {runtime[int(np.flatnonzero(bad.to_numpy())[0])]!r} "
                                    f"(one of {', '.join(RUNTIMES)})")
    eager = (rt == "eager").to_numpy()

    # regions
    rnames = _text(df, "region", n)
    rcodes, runiq = pd.factorize(pd.Series(rnames))
    rres = [_resolve_region(u) for u in runiq]
    G = np.array([[r["ci"], r["price"], *r["pue"]] for r in rres], dtype=float)[rcodes]
    ci = np.where(np.isnan(_col(df, "intensity_g_per_kwh", n)), G[:, 0], _col(df, "intensity_g_per_kwh", n))
    price = np.where(np.isnan(_col(df, "price_usd_per_kwh", n)), G[:, 1], _col(df, "price_usd_per_kwh", n))

    rp = {name: runtime_parameter(name)[:3] for name in RUNTIME_PARAMETERS}

    def param(name: str, case: str) -> np.ndarray:
        v = np.full(n, _pick(rp[name], RUNTIME_PARAMETERS[name], case))
        if name in df.columns:
            o = _col(df, name, n)
            v = np.where(np.isnan(o), v, o)
        return v

    def given(name: str, default: np.ndarray) -> np.ndarray:
        if name in df.columns:
            o = _col(df, name, n)
            return np.where(np.isnan(o), default, o)
        return default

    # ---- shape-derived counts (case independent)
    V = np.nan_to_num(d_["vocab"])
    tied = d_["tied_embeddings"]
    E, k = d_["experts"], d_["experts_active"]
    N_tot, N_act = d_["params_total"], d_["params_active"]
    lm = V * d  # output projection (read every step)
    emb_in = np.where(tied, 0.0, V * d)  # input table of an untied model: only b rows are gathered
    expert_total = np.where(E > 1, L * E * 3.0 * d * d_["intermediate"], 0.0)
    per_expert = np.where(E > 1, expert_total / E, 0.0)
    shared_read = N_tot - expert_total - emb_in  # non-expert weights read every step (incl. lm head)
    linear_shared = np.maximum(shared_read - lm, 0.0)
    act_compute = N_act - emb_in  # weights each token multiplies (incl. lm head)

    dec_tokens = batch
    pre_tokens = batch * s
    c_dec = s + g_new / 2.0
    attn_dim = H * hd
    kv_rep = np.maximum(1.0, count / KV)  # KV heads replicated when fewer than accelerators
    ab = pd.Series(d_["activation_precision"]).map(BYTES_PER_VALUE).to_numpy(dtype=float)
    kvb = pd.Series(d_["kv_precision"]).map(BYTES_PER_VALUE).to_numpy(dtype=float)
    wb_raw = pd.Series(d_["weight_precision"]).map(BYTES_PER_VALUE).to_numpy(dtype=float)
    is_int4 = d_["weight_precision"] == "int4"
    is_int8_wo = d_["weight_only"] & (d_["weight_precision"] == "int8")
    is_int4_wo = d_["weight_only"] & is_int4
    kv_per_token = 2.0 * L * KV * hd * kvb
    s24, prune, kern = d_["sparse_24"], d_["prune_sparsity"], d_["sparse_kernels"]
    allreduce_bytes = np.maximum(ab, 2.0)  # all-reduces run in at least 16-bit

    results: dict[str, dict[str, np.ndarray]] = {}
    bound_p = bound_d = None
    fits = None
    for case in ("low", "central", "high"):
        wb = wb_raw + np.where(is_int4, param("int4_scale_bytes_per_weight", case), 0.0)
        wbl = np.where(s24, wb * 0.5 + param("sparse24_metadata_bytes_per_weight", case),
                       np.where((prune > 0) & kern, wb * (1.0 - prune) + param("unstructured_sparse_index_bytes_per_weight", case),
                                wb))
        sp = np.where(s24, param("sparse24_compute_speedup", case),
                      np.where((prune > 0) & kern, param("unstructured_sparse_compute_speedup", case), 1.0))
        eff_c = given("compute_efficiency", _pick(eff_rows, +1, case))
        wo_f = np.where(d_["weight_only"], param("weight_only_compute_factor", case), 1.0)
        rate = peak * 1e12 * eff_c * count  # FLOP/s across the group
        mem_eff = given("memory_bandwidth_efficiency", _pick(bw_eff_rows, +1, case))
        bw_eff = bw * 1e12 * mem_eff * count  # B/s across the group
        deq = np.where(is_int8_wo, param("dequant_bandwidth_factor_int8", case),
                       np.where(is_int4_wo, param("dequant_bandwidth_factor_int4", case), 1.0))
        ovh_layer = np.where(eager, param("eager_overhead_ms_per_layer", case), param("compiled_overhead_ms_per_layer", case))
        ovh_layer = given("overhead_ms_per_layer", ovh_layer)
        ovh = L * ovh_layer  # ms per step
        lat_acc = _pick(ar_rows, -1, case)
        lat = param("tp_allreduce_latency_ms", case)
        if "tp_allreduce_latency_ms" not in df.columns:  # a measured per-accelerator row wins over the global one
            lat = np.where(np.isnan(lat_acc), lat, lat_acc)
        link = param("tp_link_bandwidth_gb_per_s", case) * 1e9

        # prefill
        lin_p = 2.0 * (act_compute - lm) * pre_tokens
        lm_p = 2.0 * lm * batch  # logits of the last position only
        att_p = 2.0 * L * attn_dim * s * s * batch
        tc_p = ((lin_p / sp + lm_p) / (rate * wo_f) + att_p / rate) * 1e3
        w_read_p = (linear_shared + per_expert * _touched(E, k, pre_tokens)) * wbl + lm * wb
        tm_p = (w_read_p / (bw_eff * deq) + pre_tokens * kv_per_token * kv_rep / bw_eff) * 1e3
        comm_p = _comm_ms(pre_tokens, d, allreduce_bytes, count, L, lat, link)
        t_p = np.maximum(tc_p, tm_p) + ovh + comm_p
        # decode (one step = one token for each of the b sequences)
        lin_d = 2.0 * (act_compute - lm) * dec_tokens
        lm_d = 2.0 * lm * dec_tokens
        att_d = 4.0 * L * attn_dim * c_dec * dec_tokens
        tc_d = ((lin_d / sp + lm_d) / (rate * wo_f) + att_d / rate) * 1e3
        w_read_d = (linear_shared + per_expert * _touched(E, k, dec_tokens)) * wbl + lm * wb
        tm_d = (w_read_d / (bw_eff * deq) + dec_tokens * c_dec * kv_per_token * kv_rep / bw_eff) * 1e3
        comm_d = _comm_ms(dec_tokens, d, allreduce_bytes, count, L, lat, link)
        t_d = np.maximum(tc_d, tm_d) + ovh + comm_d
        request_ms = t_p + (g_new - 1.0) * t_d
        conc = batch.copy()
        pf_step = np.zeros(n)
        itl = t_d

        # power: achieved shares of peak FLOP/s and bandwidth per phase, host gaps (eager launches, all-reduce waits)
        kc = given("compute_power_fraction", _pick(pc_rows, -1, case))
        km = given("memory_power_fraction", _pick(pm_rows, -1, case))
        kg = given("gap_power_fraction", _pick(pg_rows, -1, case))
        peak_f = peak * 1e12 * count
        peak_b = bw * 1e12 * count
        gap_ovh = np.where(eager, ovh, 0.0)
        bytes_p = w_read_p / deq + pre_tokens * kv_per_token * kv_rep
        bytes_d = w_read_d / deq + dec_tokens * c_dec * kv_per_token * kv_rep
        flops_p = (lin_p / sp + lm_p) / wo_f + att_p
        flops_d = (lin_d / sp + lm_d) / wo_f + att_d
        uc_p, um_p, fg_p = _shares(flops_p, bytes_p, gap_ovh + comm_p, t_p, peak_f, peak_b)
        uc_d, um_d, fg_d = _shares(flops_d, bytes_d, gap_ovh + comm_d, t_d, peak_f, peak_b)

        if cont.any():
            sched = param("serving_scheduler_overhead_ms", case)
            per_req = param("serving_overhead_ms_per_request", case)
            budget = param("serving_max_batched_tokens", case)
            c_ctx = s + g_new / 2.0
            c_pre = np.maximum(s - p_new / 2.0, 0.0)
            emb_tables = V * d * np.where(tied, 1.0, 2.0)
            w_gb = (np.maximum(N_tot - emb_tables, 0.0) * wbl + emb_tables * wb) / 1e9
            kv_cap = np.maximum(mem_gb * count * param("usable_memory_fraction", case) - w_gb, 0.0) * 1e9 / \
                (kv_per_token * kv_rep)
            b_max = np.maximum(np.minimum(max_conc, np.floor(kv_cap / c_ctx)), 1.0)

            q = dict(p_new=p_new, g_new=g_new, act_compute=act_compute, lm=lm, sp=sp, wo_f=wo_f, L=L, attn_dim=attn_dim,
                     c_ctx=c_ctx, c_pre=c_pre, rate=rate, linear_shared=linear_shared, per_expert=per_expert, E=E, k=k,
                     wbl=wbl, wb=wb, kv_per_token=kv_per_token, kv_rep=kv_rep, bw_eff=bw_eff, deq=deq, d=d,
                     allreduce_bytes=allreduce_bytes, count=count, lat=lat, link=link, fixed_ms=ovh + sched,
                     per_request_ms=per_req)

            B = b_max
            has_lam = ~np.isnan(lam)
            sub = np.flatnonzero(has_lam & cont)
            if sub.size:  # Little's law: B = lambda g step(B), bisection on [0, b_max] for the rows with a rate
                qs = {key: (v[sub] if np.ndim(v) else v) for key, v in q.items()}
                lo_b, hi_b = np.zeros(sub.size), b_max[sub].copy()
                lam_g = lam[sub] * g_new[sub] / 1e3
                for _ in range(32):
                    mid_b = 0.5 * (lo_b + hi_b)
                    over = lam_g * _serve_step(np.maximum(mid_b, 1e-9), qs)[0] > mid_b
                    lo_b, hi_b = np.where(over, mid_b, lo_b), np.where(over, hi_b, mid_b)
                B = b_max.copy()
                B[sub] = np.maximum(hi_b, 1e-6)
            t_s, pf_s, fl_s, by_s, tc_s, tm_s, comm_s = _serve_step(B, q)
            ttft_s = t_s * np.ceil(np.maximum(p_new, 1.0) / np.maximum(budget - B, 1.0))
            req_s = ttft_s + (g_new - 1.0) * t_s
            # per-request work (sampling over the vocabulary) runs on one accelerator of the group as a memory-bound
            # kernel: it adds HBM traffic at the stream efficiency on that one accelerator
            samp_b = per_req * B / 1e3 * bw * 1e12 * mem_eff
            uc_s, um_s, fg_s = _shares(fl_s, by_s + samp_b, gap_ovh + comm_s + sched, t_s, peak_f, peak_b)
            sel = cont
            t_p, t_d, request_ms = np.where(sel, ttft_s, t_p), np.where(sel, t_s, t_d), np.where(sel, req_s, request_ms)
            tc_p, tm_p = np.where(sel, tc_s, tc_p), np.where(sel, tm_s, tm_p)
            tc_d, tm_d = np.where(sel, tc_s, tc_d), np.where(sel, tm_s, tm_d)
            comm_d = np.where(sel, comm_s, comm_d)
            uc_p, um_p, fg_p = (np.where(sel, x, y) for x, y in ((uc_s, uc_p), (um_s, um_p), (fg_s, fg_p)))
            uc_d, um_d, fg_d = (np.where(sel, x, y) for x, y in ((uc_s, uc_d), (um_s, um_d), (fg_s, fg_d)))
            conc = np.where(sel, B, conc)
            pf_step = np.where(sel, pf_s, pf_step)
            itl = t_d

        ucs = 1.0 + (narrow_scale - 1.0) * param("narrow_compute_power_basis", case)  # 8-bit FLOPs in the power model
        p_p = hardware.activity_power_w(idle, tdp, np.minimum(uc_p * ucs, 1.0), um_p, fg_p, compute_power_fraction=kc,
                                        memory_power_fraction=km, gap_power_fraction=kg)
        p_d = hardware.activity_power_w(idle, tdp, np.minimum(uc_d * ucs, 1.0), um_d, fg_d, compute_power_fraction=kc,
                                        memory_power_fraction=km, gap_power_fraction=kg)
        with np.errstate(invalid="ignore", divide="ignore"):
            ld_p = (p_p - idle) / (tdp - idle)
            ld_d = (p_d - idle) / (tdp - idle)
        pw_in = _col(df, "power_w", n)
        p_p = np.where(np.isnan(pw_in), p_p, pw_in)
        p_d = np.where(np.isnan(pw_in), p_d, pw_in)
        node_w = given("node_power_w", _pick(node_rows, -1, case))
        pue = given("pue", _pick((G[:, 2], G[:, 3], G[:, 4]), -1, case))
        # static: one batch of b requests; continuous: one request's share of the steps it is part of
        steps_d = g_new - 1.0
        acc_j = np.where(cont, count * p_d * t_d * g_new / conc / 1e3,
                         count * (p_p * t_p + p_d * t_d * steps_d) / 1e3)
        busy_ms = np.where(cont, t_d * g_new / conc, request_ms)  # engine time per request (continuous) / batch
        it_j = acc_j + count * node_w * busy_ms / 1e3
        fac_j = it_j * pue
        tokens_out = np.where(cont, g_new, batch * g_new)
        per_k = 1000.0 / tokens_out
        fac_kwh_k = fac_j * per_k / 3.6e6
        cloud = given("cloud_price_usd_per_gpu_hour", _pick(cloud_rows, -1, case))
        rental = count * (busy_ms / 3.6e6) * cloud * per_k
        elec = fac_kwh_k * price
        cost = np.where(np.isnan(rental), elec, rental + np.nan_to_num(elec))
        idle_j = count * (idle + node_w) * pue * busy_ms / 1e3 * (1.0 - util) / util
        svc_j = fac_j + idle_j

        # memory
        emb_tables = V * d * np.where(tied, 1.0, 2.0)
        linear_all = np.maximum(N_tot - emb_tables, 0.0)
        weights_gb = (linear_all * wbl + emb_tables * wb) / 1e9
        kv_gb = np.where(cont, conc * (s + g_new / 2.0), batch * (s + g_new)) * kv_per_token * kv_rep / 1e9
        tok_act = np.where(cont, np.maximum(pf_step + conc, 1.0), pre_tokens)
        seqs = np.where(cont, conc, batch)
        ffn_act = d_["intermediate"] * np.where(E > 1, k, 1.0)
        act_gb_acc = (tok_act * (4.0 * d + 2.0 * ffn_act / count) * ab + seqs * V * 4.0) / 1e9
        mem_acc = (weights_gb + kv_gb) / count + act_gb_acc
        usable = mem_gb * param("usable_memory_fraction", case)
        shortfall = np.maximum(0.0, mem_acc - usable)
        out_tps = np.where(cont, conc / (t_d / 1e3), tokens_out / (request_ms / 1e3))

        results[case] = {
            "prefill_ms": t_p, "decode_ms_per_token": t_d, "ttft_ms": t_p, "request_ms": request_ms,
            "tokens_per_s": out_tps, "decode_tokens_per_s": np.where(cont, conc, batch) / (t_d / 1e3),
            "latency_ms_per_1k_tokens": request_ms / g_new * 1000.0,
            "prefill_compute_ms": tc_p, "prefill_memory_ms": tm_p, "decode_compute_ms": tc_d, "decode_memory_ms": tm_d,
            "overhead_ms_per_step": ovh, "communication_ms_per_decode_step": comm_d,
            "power_w": acc_j / count / (busy_ms / 1e3), "power_w_prefill": p_p, "power_w_decode": p_d,
            "load_prefill": ld_p, "load_decode": ld_d,
            "energy_j_per_1k_tokens_accelerator": acc_j * per_k, "energy_j_per_1k_tokens_it": it_j * per_k,
            "energy_j_per_1k_tokens": fac_j * per_k, "energy_j_per_token": fac_j / tokens_out,
            "energy_kwh_per_request_batch": fac_j / 3.6e6,
            "electricity_cost_usd_per_1k_tokens": elec, "rental_cost_usd_per_1k_tokens": rental,
            "cost_usd_per_1k_tokens": cost, "emissions_g_per_1k_tokens": fac_kwh_k * ci,
            "weights_gb": weights_gb, "kv_cache_gb": kv_gb, "activations_gb": act_gb_acc * count, "memory_gb":
                weights_gb + kv_gb + act_gb_acc * count, "memory_gb_per_accelerator": mem_acc,
            "usable_memory_gb_per_accelerator": usable, "shortfall_gb": shortfall,
            "concurrency": np.where(cont, conc, batch), "prefill_tokens_per_step": np.where(cont, pf_step, pre_tokens),
            "inter_token_latency_ms": itl, "output_tokens_per_s": out_tps,
            "compute_utilisation": uc_d, "memory_utilisation": um_d, "gap_share": fg_d,
            "energy_j_per_output_token_accelerator": acc_j / tokens_out, "energy_j_per_output_token": fac_j / tokens_out,
            "energy_j_per_output_token_service": svc_j / tokens_out,
            "energy_wh_per_request": fac_j / tokens_out * g_new / 3600.0,
            "energy_wh_per_request_service": svc_j / tokens_out * g_new / 3600.0,
        }
        if case == "central":
            bound_p = np.where(tc_p >= tm_p, "compute", "memory")
            bound_d = np.where(tc_d >= tm_d, "compute", "memory")
            fits = shortfall <= 0.0

    cols: dict[str, Any] = {}
    for f in ("model_id", "params_total", "params_active", "layers", "hidden", "heads", "kv_heads", "head_dim",
              "intermediate", "vocab", "experts", "experts_active", "weight_precision", "activation_precision",
              "kv_precision", "compute_precision", "weight_only", "sparse_24", "prune_sparsity", "sparse_kernels"):
        cols[f] = d_[f]  # the resolved description (a technique may change what was given)
    cols["accelerator_id"] = acc_ids
    cols["bound_prefill"] = bound_p
    cols["bound_decode"] = bound_d
    cols["fits_in_memory"] = fits
    # the numeric outputs are written into one preallocated block (no consolidation copy of ~100 columns)
    names = [f"{key}{sfx}" for key in OUTPUT_KEYS for sfx in ("", "_low", "_high")]
    block = np.empty((n, len(names)))
    for j, key in enumerate(OUTPUT_KEYS):
        lo_v, hi_v = results["low"][key], results["high"][key]
        block[:, 3 * j] = results["central"][key]
        np.minimum(lo_v, hi_v, out=block[:, 3 * j + 1])
        np.maximum(lo_v, hi_v, out=block[:, 3 * j + 2])
    nums = pd.DataFrame(block, index=out.index, columns=names, copy=False)
    out = pd.concat([out.drop(columns=[c for c in [*cols, *names] if c in out.columns]),
                     pd.DataFrame(cols, index=out.index), nums], axis=1)
    return out


def validation_frame() -> pd.DataFrame:
    """Published decode speeds next to what the model computes for the same scenario (one vectorized call).

    Rows are the ``kind = validation`` rows of ``data/inference_runtime.csv``:
    ``role = calibration`` rows were used to fit a parameter (they check the fit),
    ``role = validation`` rows were not (they test the model).
    """
    df = data.table("inference_runtime")
    df = df[df["kind"] == "validation"].reset_index(drop=True)
    scen = []
    for spec in df["applies_to"]:
        row: dict[str, Any] = {}
        for part in str(spec).split(";"):
            k, _, v = part.partition("=")
            row[k.strip()] = v.strip()
        scen.append(row)
    sc = pd.DataFrame(scen)
    roles = sc.pop("role")
    for c in sc.columns:
        if c not in ("model", "accelerator", "technique", "runtime"):
            sc[c] = pd.to_numeric(sc[c].replace("", np.nan), errors="coerce")
    sc["new_tokens"] = 200
    res = inference_frame(sc)
    measured = pd.to_numeric(df["value"]).to_numpy()
    modelled = 1000.0 / res["decode_ms_per_token"].to_numpy()
    return pd.DataFrame({
        "case": df["name"].str.replace("validation_", "", regex=False), "role": roles, "model": sc["model"],
        "accelerator": sc["accelerator"], "count": sc["count"].astype(int),
        "technique": sc["technique"].replace("", "baseline"), "runtime": sc["runtime"],
        "measured_tokens_per_s": measured, "modelled_tokens_per_s": modelled,
        "modelled_low": 1000.0 / res["decode_ms_per_token_high"].to_numpy(),
        "modelled_high": 1000.0 / res["decode_ms_per_token_low"].to_numpy(),
        "error_pct": (modelled / measured - 1.0) * 100.0, "source_id": df["source_id"]})


# --------------------------------------------------------------------------- scalar API

@dataclass
class InferenceEstimate:
    """One scenario: central/low/high outputs, phase bounds, memory fit, accuracy evidence and assumptions."""

    central: dict[str, float | None]
    low: dict[str, float | None]
    high: dict[str, float | None]
    bound: dict[str, str]
    fits_in_memory: bool
    model: models.ModelSpec
    inputs: dict[str, Any]
    resolved: dict[str, Any]
    accuracy: list[dict[str, Any]]
    assumptions: Assumptions
    region: data.Region | None = None
    source_ids: list[str] = field(default_factory=list)

    def __getitem__(self, key: str):
        return self.central[key]

    def to_dict(self) -> dict[str, Any]:
        c = self.central
        out: dict[str, Any] = {
            "model": self.resolved["model"], "technique": self.resolved["technique"],
            "accelerator": self.resolved["accelerator"], "count": self.inputs["count"],
            "precision": {k: self.resolved[k] for k in ("weight_precision", "activation_precision", "kv_precision",
                                                         "compute_precision", "weight_only")},
            "batch": self.inputs["batch"], "prompt_tokens": self.inputs["prompt_tokens"],
            "new_tokens": self.inputs["new_tokens"], "runtime": self.inputs["runtime"],
            "serving": {"mode": self.inputs.get("serving", "static"), "utilisation": self.inputs.get("utilisation", 1.0),
                        "max_concurrency": self.inputs.get("max_concurrency"),
                        "arrival_rate_per_s": self.inputs.get("arrival_rate_per_s"),
                        "prefill_tokens": self.inputs.get("prefill_tokens"),
                        "concurrency": c["concurrency"], "prefill_tokens_per_step": c["prefill_tokens_per_step"],
                        "inter_token_latency_ms": c["inter_token_latency_ms"],
                        "output_tokens_per_s": c["output_tokens_per_s"],
                        "energy_j_per_output_token": {"accelerator": c["energy_j_per_output_token_accelerator"],
                                                      "busy": c["energy_j_per_output_token"],
                                                      "service": c["energy_j_per_output_token_service"]},
                        "energy_wh_per_request": {"busy": c["energy_wh_per_request"],
                                                  "service": c["energy_wh_per_request_service"]}},
            "utilisation_of_peak": {"compute": c["compute_utilisation"], "memory": c["memory_utilisation"],
                                    "gap_share": c["gap_share"]},
            "region": self.region.region_id if self.region else None,
            "prefill_ms": c["prefill_ms"], "decode_ms_per_token": c["decode_ms_per_token"], "ttft_ms": c["ttft_ms"],
            "request_ms": c["request_ms"], "tokens_per_s": c["tokens_per_s"],
            "decode_tokens_per_s": c["decode_tokens_per_s"], "latency_ms_per_1k_tokens": c["latency_ms_per_1k_tokens"],
            "memory_gb": {"weights": c["weights_gb"], "kv_cache": c["kv_cache_gb"], "activations": c["activations_gb"],
                          "total": c["memory_gb"], "per_accelerator": c["memory_gb_per_accelerator"],
                          "usable_per_accelerator": c["usable_memory_gb_per_accelerator"]},
            "fits_in_memory": self.fits_in_memory, "shortfall_gb": c["shortfall_gb"],
            "power_w": c["power_w"], "power_w_by_phase": {"prefill": c["power_w_prefill"], "decode": c["power_w_decode"]},
            "energy_j_per_1k_tokens": {"accelerator": c["energy_j_per_1k_tokens_accelerator"],
                                       "it": c["energy_j_per_1k_tokens_it"], "facility": c["energy_j_per_1k_tokens"]},
            "cost_usd_per_1k_tokens": {"electricity": c["electricity_cost_usd_per_1k_tokens"],
                                       "rental": c["rental_cost_usd_per_1k_tokens"], "total": c["cost_usd_per_1k_tokens"]},
            "emissions_g_per_1k_tokens": c["emissions_g_per_1k_tokens"],
            "bound": dict(self.bound),
            "accuracy": self.accuracy if self.accuracy else "no data",
            "time_breakdown_ms": {"prefill_compute": c["prefill_compute_ms"], "prefill_memory": c["prefill_memory_ms"],
                                  "decode_compute": c["decode_compute_ms"], "decode_memory": c["decode_memory_ms"],
                                  "overhead_per_step": c["overhead_ms_per_step"],
                                  "communication_per_decode_step": c["communication_ms_per_decode_step"]},
            "low": dict(self.low), "high": dict(self.high), "units": dict(UNITS),
            "assumptions": self.assumptions.to_list(), "sources": list(self.source_ids),
        }
        return out

    def frame(self) -> pd.DataFrame:
        """low/central/high side by side, one row per output."""
        return pd.DataFrame({"output": list(OUTPUT_KEYS), "unit": [UNITS[k] for k in OUTPUT_KEYS],
                             "low": [self.low[k] for k in OUTPUT_KEYS], "central": [self.central[k] for k in OUTPUT_KEYS],
                             "high": [self.high[k] for k in OUTPUT_KEYS]})


def _clean(v):
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def estimate_inference(
    *, model: str | None = None, params: float | None = None, active_params: float | None = None,
    layers: int | None = None, hidden: int | None = None, heads: int | None = None, kv_heads: int | None = None,
    head_dim: int | None = None, intermediate: float | None = None, vocab: int | None = None,
    experts: int | None = None, experts_active: int | None = None, accelerator: str = "h100-sxm", count: int = 1,
    precision: str = "bf16", weight_precision: str | None = None, activation_precision: str | None = None,
    kv_precision: str | None = None, batch: int = 1, prompt_tokens: int = 128, new_tokens: int = 128,
    runtime: str = "compiled", technique: str | list[str] | None = None, region: str | None = None,
    serving: str = "static", max_concurrency: int | None = None, arrival_rate_per_s: float | None = None,
    prefill_tokens: int | None = None, utilisation: float = 1.0,
    overrides: Mapping[str, float] | None = None, **more_overrides: float,
) -> InferenceEstimate:
    """Estimate one inference scenario (see the module docstring for the equations).

    ``serving``: ``"static"`` (default: one batch of ``batch`` requests) or
    ``"continuous"`` (a serving engine: ``max_concurrency`` requests at once,
    default ``batch``; optional ``arrival_rate_per_s``; ``prefill_tokens`` = new
    prompt tokens each request brings, default ``prompt_tokens``, smaller with
    prefix caching). ``utilisation`` (0, 1]: share of wall time the engine is
    busy; the ``*_service`` outputs add idle power for the rest.

    ``technique``: a string (``"fp8"``, ``"int4-weight-only+sparse-2:4"``) or a
    list of them (combined). ``overrides`` / keyword arguments: any parameter of
    ``data/inference_runtime.csv`` or ``compute_efficiency``,
    ``overhead_ms_per_layer``, ``compute_power_fraction``, ``memory_power_fraction``,
    ``gap_power_fraction``, ``power_w``,
    ``node_power_w``, ``pue``, ``intensity_g_per_kwh``, ``price_usd_per_kwh``,
    ``cloud_price_usd_per_gpu_hour``.
    """
    ov = dict(overrides or {})
    ov.update(more_overrides)
    allowed = set(RUNTIME_PARAMETERS) | set(OVERRIDES)
    reject_unknown(sorted(ov), allowed, otherwise=f"; overridable: {', '.join(sorted(allowed))}")
    for k, v in ov.items():
        number(k, v, minimum=0.0)
    if model is None and params is None:
        raise InputError("model", "give a preset model (e.g. llama-7b) or params")
    if model is not None and params is not None:
        raise InputError("params", "give a preset model or params, not both")
    for nm, v in (("batch", batch), ("prompt_tokens", prompt_tokens), ("new_tokens", new_tokens), ("count", count)):
        number(nm, v, minimum=1.0, integer=True)
    if serving not in SERVING_MODES:
        raise InputError("serving", f"unknown serving mode {serving!r} (one of {', '.join(SERVING_MODES)})")
    if max_concurrency is not None:
        number("max_concurrency", max_concurrency, minimum=1.0, integer=True)
    if prefill_tokens is not None:
        number("prefill_tokens", prefill_tokens, minimum=0.0, integer=True)
    if arrival_rate_per_s is not None:
        number("arrival_rate_per_s", arrival_rate_per_s, minimum=0.0)
        if arrival_rate_per_s <= 0:
            raise InputError("arrival_rate_per_s", "must be > 0 requests per second")
    number("utilisation", utilisation, minimum=0.0)
    if not 0 < utilisation <= 1:
        raise InputError("utilisation", f"must be a share of time in (0, 1], got {utilisation:g}")
    tech_text = "+".join(technique) if isinstance(technique, (list, tuple)) else (technique or "")
    techs = techniques.parse_technique(tech_text)
    if model is not None:
        spec = models.model(model)
        shape_a = Assumptions()
    else:
        spec, shape_a = models.custom(params, active_params=active_params, layers=layers, hidden=hidden, heads=heads,
                                      kv_heads=kv_heads, head_dim=head_dim, intermediate=intermediate, vocab=vocab,
                                      experts=int(experts or 1), experts_active=int(experts_active or 1))
    acc = data.accelerator(accelerator)
    reg = data.region(region) if region else None
    if runtime not in RUNTIMES:
        raise InputError("runtime", f"unknown runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    row: dict[str, Any] = {
        "model": spec.model_id if model is not None else "", "technique": tech_text, "accelerator": acc.accelerator_id,
        "count": count, "precision": data.normalise_precision(precision), "batch": batch,
        "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "runtime": runtime,
        "region": reg.region_id if reg else "", "serving": serving, "utilisation": utilisation,
    }
    for k, v in (("max_concurrency", max_concurrency), ("arrival_rate_per_s", arrival_rate_per_s),
                 ("prefill_tokens", prefill_tokens)):
        if v is not None:
            row[k] = v
    if model is None:
        row.update(params=spec.params_total, active_params=spec.params_active, layers=spec.layers, hidden=spec.hidden,
                   heads=spec.heads, kv_heads=spec.kv_heads, head_dim=spec.head_dim, intermediate=spec.intermediate,
                   vocab=spec.vocab, experts=spec.experts, experts_active=spec.experts_active)
    for k, v in (("weight_precision", weight_precision), ("activation_precision", activation_precision),
                 ("kv_precision", kv_precision)):
        if v is not None:
            row[k] = data.normalise_precision(v)
    if weight_precision is not None and activation_precision is not None and \
            data.normalise_precision(weight_precision) != data.normalise_precision(activation_precision):
        row["weight_only"] = 1.0
    row.update(ov)
    frame = inference_frame(pd.DataFrame([row]))
    r0 = frame.iloc[0]
    central = {k: _clean(r0[k]) for k in OUTPUT_KEYS}
    low = {k: _clean(r0[f"{k}_low"]) for k in OUTPUT_KEYS}
    high = {k: _clean(r0[f"{k}_high"]) for k in OUTPUT_KEYS}
    base_spec = models.model(r0["model_id"]) if r0["model_id"] != "custom" else spec
    resolved_spec = base_spec.replace(**{f: type(getattr(base_spec, f))(r0[f]) for f in (
        "params_total", "params_active", "layers", "hidden", "heads", "kv_heads", "head_dim", "experts",
        "experts_active")})
    resolved = {
        "model": {"id": resolved_spec.model_id, "name": resolved_spec.name,
                  "params_total": resolved_spec.params_total, "params_active": resolved_spec.params_active,
                  "layers": resolved_spec.layers, "hidden": resolved_spec.hidden, "heads": resolved_spec.heads,
                  "kv_heads": resolved_spec.kv_heads, "head_dim": resolved_spec.head_dim,
                  "experts": resolved_spec.experts, "experts_active": resolved_spec.experts_active,
                  "source_id": resolved_spec.source_id, "assumed": list(resolved_spec.assumed)},
        "technique": [t.text for t in techs] or ["baseline"],
        "accelerator": acc.accelerator_id,
        "weight_precision": r0["weight_precision"], "activation_precision": r0["activation_precision"],
        "kv_precision": r0["kv_precision"], "compute_precision": r0["compute_precision"],
        "weight_only": bool(r0["weight_only"]),
    }
    acc_rows = techniques.accuracy(spec.model_id, tech_text) if model is not None else []
    inputs = {k: v for k, v in row.items()}
    inputs["model"] = model
    a, src = _assumptions(acc, r0, reg, ov, shape_a, runtime, techs, serving)
    src = [spec.source_id] + src if spec.source_id and spec.source_id != "user" else src
    src += [x["source_id"] for x in acc_rows]
    return InferenceEstimate(central=central, low=low, high=high,
                             bound={"prefill": str(r0["bound_prefill"]), "decode": str(r0["bound_decode"])},
                             fits_in_memory=bool(r0["fits_in_memory"]), model=resolved_spec, inputs=inputs,
                             resolved=resolved, accuracy=acc_rows, assumptions=a, region=reg,
                             source_ids=[s for s in dict.fromkeys(src) if s])


def _assumptions(acc, r0, reg, ov: Mapping[str, float], shape_a: Assumptions, runtime: str, techs,
                 serving: str = "static"):
    a = Assumptions()
    src: list[str] = [acc.source_id]
    for x in shape_a.values():
        a.add(x.name, x.value, x.unit, x.source, x.note, x.overridden)
        src.append(x.source)
    cp = str(r0["compute_precision"])
    a.add("peak_tflops", acc.peak(cp), f"TFLOP/s dense {cp}", acc.source_id, acc.name)
    a.add("memory_bandwidth_tb_per_s", acc.memory_bandwidth_tb_per_s, "TB/s", acc.source_id, acc.name)
    a.add("memory_gb", acc.memory_gb, "GB", acc.source_id, acc.name)
    if "compute_efficiency" in ov:
        a.add("compute_efficiency", ov["compute_efficiency"], "fraction of peak", "user", "given", True)
    else:
        lo, mid, hi, esrc, note = compute_efficiency(acc, cp)
        a.add("compute_efficiency", mid, "fraction of peak", esrc, f"{note}; range {lo:.3g}-{hi:.3g}")
        src.append(esrc)
    used = ["usable_memory_fraction"]
    if "memory_bandwidth_efficiency" in ov:
        a.add("memory_bandwidth_efficiency", ov["memory_bandwidth_efficiency"], "fraction of peak memory bandwidth",
              "user", "given", True)
    else:
        lo, mid, hi, msrc, mnote = memory_efficiency(acc)
        a.add("memory_bandwidth_efficiency", mid, "fraction of peak memory bandwidth", msrc,
              f"{mnote}; range {lo:.3g}-{hi:.3g}")
        src.append(msrc)
    if serving == "continuous":
        used += ["serving_scheduler_overhead_ms", "serving_overhead_ms_per_request", "serving_max_batched_tokens"]
    used.append("eager_overhead_ms_per_layer" if runtime == "eager" else "compiled_overhead_ms_per_layer")
    wp = str(r0["weight_precision"])
    weight_only = bool(r0["weight_only"])
    if weight_only:
        used += ["weight_only_compute_factor", f"dequant_bandwidth_factor_{wp}"]
    if wp == "int4":
        used.append("int4_scale_bytes_per_weight")
    if bool(r0["sparse_24"]):
        used += ["sparse24_compute_speedup", "sparse24_metadata_bytes_per_weight"]
    if float(r0["prune_sparsity"]) > 0 and bool(r0["sparse_kernels"]):
        used += ["unstructured_sparse_compute_speedup", "unstructured_sparse_index_bytes_per_weight"]
    if data.normalise_precision(cp) in NARROW_COMPUTE:
        used.append("narrow_compute_power_basis")
    if int(r0["count"]) > 1:
        used += ["tp_link_bandwidth_gb_per_s"]
        ar = achievable_rate(acc, "tp_allreduce_latency_ms")
        if ar is not None and "tp_allreduce_latency_ms" not in ov:
            a.add("tp_allreduce_latency_ms", ar[1], "ms per all-reduce", ar[3], f"{ar[4]}; range {ar[0]:.3g}-{ar[2]:.3g}")
            src.append(ar[3])
        else:
            used.append("tp_allreduce_latency_ms")
    if "overhead_ms_per_layer" in ov:
        a.add("overhead_ms_per_layer", ov["overhead_ms_per_layer"], "ms per layer per forward pass", "user", "given", True)
        used = [u for u in used if not u.endswith("_overhead_ms_per_layer")]
    for name in used:
        lo, mid, hi, unit, s, note = runtime_parameter(name)
        if name in ov:
            a.add(name, ov[name], unit, "user", "given", True)
        else:
            a.add(name, mid, unit, s, f"range {lo:g}-{hi:g}. {note}")
            src.append(s)
    if not math.isnan(acc.tdp_w) and "power_w" not in ov:
        idle, isrc, inote = hardware.idle_power_w(acc)
        a.add("power_cap_w", acc.tdp_w, "W", acc.source_id, "TDP / power cap")
        a.add("idle_power_w", idle, "W", isrc, inote)
        src.append(isrc)
        for t in POWER_OVERRIDES:
            lo, mid, hi, psrc, basis, _ = hardware.power_model_row(t, acc.accelerator_id)
            if t in ov:
                a.add(t, ov[t], "multiple of (cap - idle) per unit share", "user", "given", True)
            else:
                a.add(t, mid, "multiple of (cap - idle) per unit share", psrc, f"{basis}; range {lo:.3g}-{hi:.3g}")
                src.append(psrc)
    elif "power_w" in ov:
        a.add("power_w", ov["power_w"], "W mean per accelerator", "user", "skips the power model", True)
    if "node_power_w" in ov:
        a.add("node_power_w", ov["node_power_w"], "W per accelerator", "user", "given", True)
    elif not math.isnan(acc.tdp_w):
        nrow = data.assumption_row("node_overhead_fraction_of_tdp")
        a.add("node_overhead_fraction_of_tdp", nrow[1], nrow[3], nrow[4],
              f"range {nrow[0]:g}-{nrow[2]:g}; {nrow[1] * acc.tdp_w:.0f} W per accelerator")
        src.append(nrow[4])
    if "pue" in ov:
        a.add("pue", ov["pue"], "ratio", "user", "given", True)
    elif reg is not None:
        a.add("pue", reg.pue[1], "ratio", "joulebook_operator_defaults", f"{reg.operator} default; range {reg.pue[0]:g}-{reg.pue[2]:g}")
    else:
        a.add("pue", data.operator_defaults("industry")[0][1], "ratio", "joulebook_operator_defaults", "no region: industry average")
        src.append("joulebook_operator_defaults")
    if reg is not None:
        src += reg.source_ids
        a.add("region", reg.region_id, "", "joulebook_regions", reg.name)
    if "intensity_g_per_kwh" in ov:
        a.add("intensity_g_per_kwh", ov["intensity_g_per_kwh"], "gCO2e/kWh", "user", "given", True)
    elif reg is not None:
        a.add("intensity_g_per_kwh", reg.intensity_g_per_kwh, "gCO2e/kWh", reg.intensity_source_id,
              f"annual {reg.intensity_year}, {reg.intensity_basis}; location-based")
    if "price_usd_per_kwh" in ov:
        a.add("price_usd_per_kwh", ov["price_usd_per_kwh"], "USD/kWh", "user", "given", True)
    elif reg is not None:
        a.add("price_usd_per_kwh", reg.price_usd_per_kwh, "USD/kWh", reg.price_source_id or "", reg.price_note)
    if "cloud_price_usd_per_gpu_hour" in ov:
        a.add("cloud_price_usd_per_gpu_hour", ov["cloud_price_usd_per_gpu_hour"], "USD/accelerator-hour", "user", "given", True)
    else:
        cpr = costs.cloud_price(acc)
        if cpr:
            a.add("cloud_price_usd_per_gpu_hour", cpr.central, cpr.unit, cpr.source_id,
                  cpr.detail + f"; range {cpr.low:g}-{cpr.high:g}")
            src.append(cpr.source_id)
        else:
            a.add("cloud_price_usd_per_gpu_hour", None, "USD/accelerator-hour", "",
                  "no rental price in the data set for this accelerator: rental cost not computed")
    return a, src
