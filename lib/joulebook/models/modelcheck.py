"""Validation as a product feature: the model against sourced measurements it was fitted on and kept from.

Every case is a row of ``data/validation/<family>.csv`` (read through :func:`joulebook.data.validation_tables`):
the inputs of one measured run, the measured quantity and its unit, a ``source_id`` and a ``role``:

* ``fit``: a measurement a model term was fitted on (the H100 probes and ML.ENERGY's Llama 3.1 8B/70B H100 rows,
  as issue 10 names them); the model should reproduce these within the fit's spread;
* ``check``: a measurement no term was tuned on (published training runs, other ML.ENERGY rows, BLOOM's API):
  the honest test of how far to trust a number.

For each case a family's mapping function (``call_<family>``, one small function per family, the only place that
turns a data row into model inputs) builds the :class:`ModelCall` the case stands for: keyword arguments of the
public API (:func:`joulebook.models.training.estimate_training`, :func:`joulebook.models.inference.estimate_inference`), the
output to read and the equivalent ``joulebook estimate ...`` command. The calls of each API are evaluated in one
vectorized frame call (:func:`~joulebook.models.training.estimate_training_frame`,
:func:`~joulebook.models.inference.inference_frame`). A case the model cannot express yet (an accelerator not in the data,
a serving mode not built) is marked ``not_evaluable`` with the reason, never dropped.

    ratio        = model central / measured
    |ln ratio|   = the miss as a symmetric factor: 0.223 is x1.25 either way
    covered      = model low <= measured <= model high

The report page built on it (finding, reader tables, the parity figure, metrics) is
:mod:`joulebook.stories.validation`; models import no display code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import DataValidationError, InputError, JoulebookError, UnknownNameError
from joulebook.models import inference, training
from joulebook.models import presets as models

ROLES = ("fit", "check")
FAMILIES = ("probe_decode", "probe_training", "inference_serving", "inference_deployment", "training_runs")
FAMILY_TITLES = {
    "probe_decode": "H100 decode probe (power, eager step time)",
    "probe_training": "H100 training-step probe",
    "inference_serving": "ML.ENERGY v3 serving (energy per output token, inter-token latency)",
    "inference_deployment": "Deployed service (energy per request)",
    "training_runs": "Published training runs",
}
CASE_COLUMNS = ("case_id", "role", "quantity", "measured_value", "measured_unit", "source_id", "year", "status")
BAND = 1.25  # the x1.25 band drawn around y = x (issue 10's tolerance for the serving fit)
STATUS_OK, STATUS_NOT_EVALUABLE = "ok", "not_evaluable"

# Assumptions the mappings make where a case does not publish an input (shown by `joulebook validate` and the report;
# a data row overrides them by giving the column). The ML.ENERGY context and prefill lengths are the named rows of
# data/inference_runtime.csv that scripts/fit_power.py fitted (the same mapping as tests/test_power_fit.py).
SERVING_CONTEXT_ROW, SERVING_PREFILL_ROW = "mlenergy_context_tokens", "mlenergy_prefill_tokens"
# BLOOM's API deployment (Luccioni et al. 2023) publishes neither prompt nor output lengths: (low, central, high)
DEPLOYMENT_PROMPT_TOKENS = (16, 64, 512)
DEPLOYMENT_OUTPUT_TOKENS = (16, 64, 256)
DEPLOYMENT_PUE = 1.0


def _runtime_range(name: str) -> tuple[float, float, float]:
    lo, mid, hi = inference.runtime_parameter(name)[:3]
    return float(lo), float(mid), float(hi)


def _assumptions() -> tuple[dict[str, Any], ...]:
    ctx, pre = _runtime_range(SERVING_CONTEXT_ROW), _runtime_range(SERVING_PREFILL_ROW)
    rng = lambda t: f"{t[1]:g} (range {t[0]:g}-{t[2]:g})"  # noqa: E731
    return (
        {"name": "serving_mode", "value": "continuous, max_concurrency = max_num_seqs", "unit": "requests",
         "applies_to": "inference_serving",
         "note": "vLLM's continuous batching: the engine's cap on running requests is the concurrency cap; the model "
                 "then limits it by the KV cache that fits (as vLLM does); new_tokens = the measured mean output length"},
        {"name": "serving_context_tokens", "value": rng(ctx), "unit": "tokens of context per request",
         "applies_to": "inference_serving",
         "note": f"ML.ENERGY publishes no prompt lengths (multi-turn chats, prefix caching on): prompt_tokens = the "
                 f"{SERVING_CONTEXT_ROW} row of data/inference_runtime.csv (fitted on the H100 fitting rows) unless a "
                 "row gives mean_prompt_tokens; low-high of the case spans the row's range"},
        {"name": "serving_prefill_tokens", "value": rng(pre), "unit": "new prefill tokens per request",
         "applies_to": "inference_serving",
         "note": f"the rest of the context is a prefix-cache hit: prefill_tokens = the {SERVING_PREFILL_ROW} row; "
                 "low-high of the case spans the row's range"},
        {"name": "serving_measured_outputs", "value": "energy_j_per_output_token_accelerator, inter_token_latency_ms",
         "unit": "J, ms", "applies_to": "inference_serving",
         "note": "ML.ENERGY's GPU energy (NVML, all GPUs, no host, no PUE) per output token of the busy engine, and "
                 "the median inter-token latency = one engine step"},
        {"name": "deployment_prompt_tokens", "value": rng(DEPLOYMENT_PROMPT_TOKENS), "unit": "tokens per request",
         "applies_to": "inference_deployment",
         "note": "not published for BLOOM's API (Luccioni et al. 2023): short interactive prompts assumed; the "
                 "case's low-high spans the range"},
        {"name": "deployment_output_tokens", "value": rng(DEPLOYMENT_OUTPUT_TOKENS), "unit": "tokens per request",
         "applies_to": "inference_deployment",
         "note": "not published for BLOOM's API: short generations assumed; the case's low-high spans the range"},
        {"name": "deployment_utilisation", "value": "arrival rate x busy time per request", "unit": "share of time",
         "applies_to": "inference_deployment",
         "note": "arrival rate = requests / (days x 86,400 s); busy time per request = new_tokens / the busy engine's "
                 "output tokens/s at one running request (continuous serving, max_concurrency 1); the engine idles the "
                 "rest at idle + node power (estimate inference --utilisation); above 1 the engine is never idle and "
                 "runs the arrival rate with Little's law instead"},
        {"name": "deployment_pue", "value": DEPLOYMENT_PUE, "unit": "", "applies_to": "inference_deployment",
         "note": "the 914 kWh were measured on the cloud instance with CodeCarbon (GPU, CPU, RAM): no facility "
                 "overhead, so PUE 1; node power is the model's default (node_overhead_fraction_of_tdp)"},
        {"name": "probe_stream_tokens", "value": "prompt 1, new 2", "unit": "tokens", "applies_to": "probe_decode",
         "note": "the weight-stream probe has no KV cache: the shortest request, so KV reads are negligible"},
        {"name": "probe_node_power_w", "value": 0, "unit": "W", "applies_to": "probe_training",
         "note": "the probe measured the GPU alone (NVML counter): no host power"},
    )


def assumptions() -> tuple[dict[str, Any], ...]:
    """The assumptions of the case mappings, with the current values of the data rows they name."""
    return _assumptions()


def __getattr__(name: str) -> Any:  # ``modelcheck.ASSUMPTIONS``: read from the data when asked, not at import
    if name == "ASSUMPTIONS":
        return _assumptions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class NotEvaluable(JoulebookError):
    """The model cannot express this case yet; the message says what is missing."""


class UnknownFamilyError(UnknownNameError):
    kind = "family"


@dataclass(frozen=True)
class ModelCall:
    """What a case stands for: ``api`` (``training`` | ``inference``) called with ``kwargs``; read ``output``
    (central, ``_low``, ``_high``) and multiply by ``scale`` to get the measured unit."""

    api: str
    kwargs: Mapping[str, Any]
    output: str
    scale: float = 1.0
    note: str = ""
    variants: tuple[Mapping[str, Any], ...] = ()  # kwargs at the ends of an assumed input's range: widen low-high

    def command(self) -> str:
        """The equivalent ``joulebook estimate ...`` command line."""
        return cli_command(self)


@dataclass
class Validation:
    """Every case with its model values, and the per-family summary."""

    cases: pd.DataFrame
    summary: pd.DataFrame
    families: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    band: float = BAND

    def to_dict(self) -> dict[str, Any]:
        return {"families": self.families, "roles": self.roles, "band": self.band,
                "cases": _records(self.cases), "summary": _records(self.summary),
                "assumptions": [dict(a) for a in assumptions()]}


# --------------------------------------------------------------------------- reading the cases

def _check_table(family: str, df: pd.DataFrame) -> pd.DataFrame:
    name = f"validation/{family}.csv"
    for col in CASE_COLUMNS:
        if col not in df.columns:
            raise DataValidationError(name, "missing required column", column=col)
    bad = ~df["role"].isin(ROLES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(name, f"role must be one of {', '.join(ROLES)}, got {df['role'].iloc[i]!r}",
                                  row=i + 2, column="role")
    v = pd.to_numeric(df["measured_value"], errors="coerce")
    bad = v.isna() | (v <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(name, f"measured_value must be a positive number, got {df['measured_value'].iloc[i]!r}",
                                  row=i + 2, column="measured_value")
    for col in ("case_id", "quantity", "measured_unit"):
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise DataValidationError(name, "empty", row=int(np.flatnonzero(empty.to_numpy())[0]) + 2, column=col)
    out = df.copy()
    out["measured_value"] = v
    out.insert(1, "family", family)
    return out


def check_families(families: Iterable[str] | str | None) -> list[str]:
    """The families asked for (all when None or empty), in display order; unknown names list close matches."""
    known = known_families()
    if families is None:
        return known
    if isinstance(families, str):
        families = [families]
    families = list(families)
    for f in families:
        if f not in known:
            raise UnknownFamilyError(str(f), known, parameter="family")
    return [f for f in known if f in families] if families else known


def check_roles(roles: Iterable[str] | str | None) -> list[str]:
    if roles is None:
        return list(ROLES)
    if isinstance(roles, str):
        roles = [roles]
    roles = list(roles)
    for r in roles:
        if r not in ROLES:
            raise InputError("role", f"unknown role {r!r} (one of {', '.join(ROLES)})")
    return [r for r in ROLES if r in roles] if roles else list(ROLES)


def known_families() -> list[str]:
    """Families with a file in ``data/validation/``: the known ones in :data:`FAMILIES` order, then any others."""
    present = list(data.validation_tables())
    return [f for f in FAMILIES if f in present] + sorted(f for f in present if f not in FAMILIES)


def cases(families: Iterable[str] | str | None = None, roles: Iterable[str] | str | None = None) -> pd.DataFrame:
    """Every case of the chosen families and roles, one row each (family-specific input columns kept).

    Raises :class:`~joulebook.core.errors.DataValidationError` on a case without a role, a measured value or a
    unique id.
    """
    fams = check_families(families)
    rls = check_roles(roles)
    tables = data.validation_tables()
    frames = [_check_table(f, tables[f]) for f in known_families()]
    allc = pd.concat(frames, ignore_index=True, sort=False)
    dup = allc["case_id"].duplicated()
    if dup.any():
        raise DataValidationError("validation/", f"duplicate case_id {allc['case_id'][dup].iloc[0]!r}", column="case_id")
    keep = allc["family"].isin(fams) & allc["role"].isin(rls)
    return allc[keep].reset_index(drop=True)


# --------------------------------------------------------------------------- one mapping function per family
# ADAPT HERE after the serving-mode and accelerator branches merge: each function turns one data row into the
# public-API call it stands for. Nothing else in this module knows the families' columns.

def _v(row: Mapping[str, Any], name: str) -> Any:
    """The row's value, or None when absent or empty."""
    v = row.get(name)
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return v


def _num(row, name) -> float | None:
    v = _v(row, name)
    return None if v is None else float(v)


def _int(row, name) -> int | None:
    v = _num(row, name)
    return None if v is None else int(round(v))


def _model_kwargs(row: Mapping[str, Any]) -> dict[str, Any]:
    """A preset name (``model``), or, when the name is no preset or absent, the architecture columns a custom model
    needs (CLI flags of the same names)."""
    if _v(row, "model") is not None and _is_preset(str(row["model"])):
        return {"model": row["model"]}
    return _architecture(row)


def _is_preset(name: str) -> bool:
    try:
        models.model(name)
    except UnknownNameError:
        return False
    return True


def _architecture(row: Mapping[str, Any]) -> dict[str, Any]:
    if _num(row, "params") is None:
        raise NotEvaluable(f"model {row.get('model')!r} is not a preset and the row gives no params")
    kw: dict[str, Any] = {"params": _num(row, "params")}
    for name in ("layers", "hidden", "heads", "kv_heads", "head_dim", "vocab"):
        if _v(row, name) is not None:
            kw[name] = _int(row, name)
    return kw


def call_probe_decode(row: Mapping[str, Any]) -> ModelCall:
    """Our H100 decode probe: CUDA-graph weight streaming (power) and eager ``generate()`` (power and step time)."""
    stream = row["runtime"] == "graph_replay"
    kw = {"model": row["model"], "accelerator": row["accelerator"], "count": _int(row, "count") or 1,
          "precision": row["precision"], "batch": _int(row, "batch"),
          "prompt_tokens": 1 if stream else _int(row, "prompt_tokens"),
          "new_tokens": 2 if stream else _int(row, "new_tokens"),
          "runtime": "compiled" if stream else "eager"}
    q = row["quantity"]
    if q == "power_w":
        return ModelCall("inference", kw, "power_w_decode" if stream else "power_w")
    if q == "step_ms":  # seconds per generate() call / new tokens: prefill included
        return ModelCall("inference", kw, "request_ms", 1.0 / kw["new_tokens"])
    raise NotEvaluable(f"no mapping for quantity {q!r} in probe_decode")


def call_probe_training(row: Mapping[str, Any]) -> ModelCall:
    """Our H100 training-step probe: one step of a 369M-parameter GPT, GPU only."""
    kw = {"params": _num(row, "params"), "steps": 1, "batch": _int(row, "batch"), "seq_len": _int(row, "seq_len"),
          "layers": _int(row, "layers"), "hidden": _int(row, "hidden"), "accelerator": row["accelerator"],
          "count": _int(row, "count") or 1, "precision": row["precision"], "node_power_w": 0}
    q = row["quantity"]
    if q not in ("step_time_s", "energy_per_step_j"):
        raise NotEvaluable(f"no mapping for quantity {q!r} in probe_training")
    return ModelCall("training", kw, q)


def _serving_kwargs(row: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = _model_kwargs(row)
    kw.update({"accelerator": row["accelerator"], "count": _int(row, "count") or 1, "precision": row["precision"]})
    if _v(row, "kv_precision") is not None:
        kw["kv_precision"] = row["kv_precision"]
    return kw


def call_inference_serving(row: Mapping[str, Any]) -> ModelCall:
    """ML.ENERGY v3 (vLLM, continuous batching), mapped as ``tests/test_power_fit.py`` maps the fitting rows:
    ``--serving continuous``, concurrency cap = max_num_seqs, new tokens = the mean output length, prompt and new
    prefill tokens = the named ``mlenergy_*`` rows of ``data/inference_runtime.csv`` (a row's ``mean_prompt_tokens``
    wins); the ends of those rows' ranges widen the case's low-high."""
    kw = _serving_kwargs(row)
    cap = _int(row, "max_num_seqs")
    if cap is None:
        raise NotEvaluable("no max_num_seqs (the engine's concurrency cap) in the row")
    ctx, pre = _runtime_range(SERVING_CONTEXT_ROW), _runtime_range(SERVING_PREFILL_ROW)
    given = _int(row, "mean_prompt_tokens")
    kw.update({"serving": "continuous", "max_concurrency": max(1, cap), "runtime": "compiled",
               "new_tokens": max(1, _int(row, "mean_output_tokens"))})

    def lengths(c: float, p: float) -> dict[str, int]:
        prompt = given if given is not None else max(1, round(c))
        return {"prompt_tokens": prompt, "prefill_tokens": min(prompt, max(0, round(p)))}

    kw.update(lengths(ctx[1], pre[1]))
    variants = tuple({**kw, **lengths(c, p)} for c in (ctx[0], ctx[2]) for p in (pre[0], pre[2]))
    q = row["quantity"]
    if q == "gpu_energy_j_per_output_token":
        return ModelCall("inference", kw, "energy_j_per_output_token_accelerator", variants=variants)
    if q == "itl_ms":
        return ModelCall("inference", kw, "inter_token_latency_ms", variants=variants)
    raise NotEvaluable(f"no mapping for quantity {q!r} in inference_serving")


def _deployment_kwargs(row: Mapping[str, Any], prompt: int, out: int) -> dict[str, Any]:
    """A deployed service: continuous serving at one running request while busy, ``--utilisation`` = arrival rate x
    busy time per request (idle + node power the rest); a load that keeps the engine busy runs the arrival rate
    through Little's law instead."""
    kw = _serving_kwargs({**row, "precision": _v(row, "precision") or "bf16"})
    lam = _num(row, "requests") / (_num(row, "days") * 86400.0)
    kw.update({"serving": "continuous", "prompt_tokens": prompt, "new_tokens": out, "runtime": "compiled",
               "pue": _num(row, "pue") or DEPLOYMENT_PUE})
    try:
        busy = inference.estimate_inference(**kw, max_concurrency=1).central
    except JoulebookError as e:
        raise NotEvaluable(str(e)) from None
    util = lam * out / busy["output_tokens_per_s"]
    if util < 1.0:
        kw.update({"max_concurrency": 1, "utilisation": float(f"{util:.6g}")})
    else:
        kw.update({"arrival_rate_per_s": float(f"{lam:.6g}"), "max_concurrency": _int(row, "max_concurrency") or 256})
    return kw


def call_inference_deployment(row: Mapping[str, Any]) -> ModelCall:
    """A deployed service over days (BLOOM's API): energy per request of the whole deployment, busy and idle.

    The request mix is not published: prompt and output lengths are the named DEPLOYMENT_* assumptions (a row's
    ``mean_prompt_tokens`` / ``mean_output_tokens`` win); the ends of their ranges widen the case's low-high.
    """
    for name in ("requests", "days"):
        if _num(row, name) is None or _num(row, name) <= 0:
            raise NotEvaluable(f"no {name} in the row: cannot derive the arrival rate")
    q = row["quantity"]
    if q != "energy_wh_per_request":
        raise NotEvaluable(f"no mapping for quantity {q!r} in inference_deployment")
    prompts = (DEPLOYMENT_PROMPT_TOKENS if _int(row, "mean_prompt_tokens") is None
               else (_int(row, "mean_prompt_tokens"),) * 3)
    outs = (DEPLOYMENT_OUTPUT_TOKENS if _int(row, "mean_output_tokens") is None
            else (_int(row, "mean_output_tokens"),) * 3)
    kw = _deployment_kwargs(row, prompts[1], outs[1])
    variants = tuple(_deployment_kwargs(row, p, g) for p in (prompts[0], prompts[2]) for g in (outs[0], outs[2]))
    return ModelCall("inference", kw, "energy_wh_per_request_service", variants=variants)


def call_training_runs(row: Mapping[str, Any]) -> ModelCall:
    """A published training run: accelerator-hours from params and tokens (the MFU path), or, with the published
    accelerator-hours and PUE given, facility energy (the power path)."""
    kw: dict[str, Any] = {"accelerator": row["accelerator"], "precision": row["precision"],
                          "count": _int(row, "count") or 1}
    hours = _num(row, "accelerator_hours_given")
    if hours is not None:
        kw["accelerator_hours"] = hours
        if _num(row, "pue") is not None:
            kw["pue"] = _num(row, "pue")
    else:
        kw.update(params=_num(row, "params"), tokens=_num(row, "tokens"))
    q = row["quantity"]
    if q not in ("accelerator_hours", "facility_energy_kwh", "accelerator_energy_kwh", "it_energy_kwh"):
        raise NotEvaluable(f"no mapping for quantity {q!r} in training_runs")
    return ModelCall("training", kw, q)


MAPPERS: dict[str, Callable[[Mapping[str, Any]], ModelCall]] = {
    "probe_decode": call_probe_decode, "probe_training": call_probe_training,
    "inference_serving": call_inference_serving, "inference_deployment": call_inference_deployment,
    "training_runs": call_training_runs,
}


# --------------------------------------------------------------------------- evaluation

def _fmt_arg(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else format(f, ".10g")
    return str(v)


def cli_command(call: ModelCall) -> str:
    """``joulebook estimate <api> --flag value ...`` for a call; inference runtime parameters go through ``--set``."""
    parts = ["joulebook", "estimate", call.api]
    for k, v in call.kwargs.items():
        if v is None:
            continue
        if call.api == "inference" and k in inference.RUNTIME_PARAMETERS:
            parts += ["--set", f"{k}={_fmt_arg(v)}"]
        else:
            parts += [f"--{k.replace('_', '-')}", _fmt_arg(v)]
    return " ".join(parts)


def _resolve(call: ModelCall) -> None:
    """Raise :class:`NotEvaluable` when the call names something the data set does not have."""
    try:
        acc = data.accelerator(call.kwargs.get("accelerator", "h100-sxm"))
        acc.peak(call.kwargs.get("precision", "bf16"))
        if call.api == "inference" and call.kwargs.get("model"):
            models.model(call.kwargs["model"])
    except (UnknownNameError, InputError) as e:
        raise NotEvaluable(str(e)) from None
    if call.api not in EVALUATORS:
        raise NotEvaluable(f"no evaluator for api {call.api!r}")


def _frame_training(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    return training.estimate_training_frame(pd.DataFrame(rows))


def _frame_inference(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    return inference.inference_frame(pd.DataFrame(rows))


EVALUATORS: dict[str, Callable[[list[Mapping[str, Any]]], pd.DataFrame]] = {
    "training": _frame_training, "inference": _frame_inference,
}


def _evaluate(calls: list[ModelCall]) -> list[tuple[float, float, float] | str]:
    """(central, low, high) in the measured unit for each call of one api, or the error text.

    A call's ``variants`` (the same call at the ends of an assumed input's range) widen low-high to the envelope of
    every low, central and high value. One vectorized frame call; if it fails, each call alone, so one bad case
    cannot hide the others.
    """
    fn = EVALUATORS[calls[0].api]
    flat = [(j, dict(kw)) for j, c in enumerate(calls) for kw in (c.kwargs, *c.variants)]

    def read(frame: pd.DataFrame, i: int, call: ModelCall) -> tuple[float, float, float]:
        return tuple(float(frame[call.output + suffix].iloc[i]) * call.scale for suffix in ("", "_low", "_high"))

    try:
        frame = fn([kw for _, kw in flat])
        vals: list[tuple[float, float, float] | str] = [read(frame, i, calls[j]) for i, (j, _) in enumerate(flat)]
    except JoulebookError:
        vals = []
        for j, kw in flat:
            try:
                vals.append(read(fn([kw]), 0, calls[j]))
            except JoulebookError as e:
                vals.append(str(e))
    out: list[tuple[float, float, float] | str] = []
    for j in range(len(calls)):
        mine = [v for (k, _), v in zip(flat, vals, strict=True) if k == j]
        err = next((v for v in mine if isinstance(v, str)), None)
        if err is not None:
            out.append(err)
            continue
        every = [x for v in mine for x in v]
        out.append((mine[0][0], min(every), max(every)))
    return out


RESULT_COLUMNS = ("case_id", "family", "role", "quantity", "unit", "command", "measured", "model", "low", "high",
                  "ratio", "abs_ln_ratio", "covered", "within_band", "status", "reason", "source_id")


def run_cases(families: Iterable[str] | str | None = None, roles: Iterable[str] | str | None = None,
              case_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every case against the model: one row per case with the columns of :data:`RESULT_COLUMNS`.

    ``case_frame`` (columns of a ``data/validation`` file plus ``family``) replaces the shipped cases.
    """
    df = cases(families, roles) if case_frame is None else case_frame.reset_index(drop=True)
    n = len(df)
    rec: dict[str, list] = {k: [None] * n for k in RESULT_COLUMNS}
    pending: dict[str, list[tuple[int, ModelCall]]] = {}
    for i, row in enumerate(df.to_dict(orient="records")):
        for k in ("case_id", "family", "role", "quantity", "source_id"):
            rec[k][i] = row.get(k)
        rec["unit"][i] = row.get("measured_unit")
        rec["measured"][i] = float(row["measured_value"])
        rec["status"][i], rec["reason"][i], rec["command"][i] = STATUS_OK, "", ""
        mapper = MAPPERS.get(row["family"])
        try:
            if mapper is None:
                raise NotEvaluable(f"no mapping function for family {row['family']!r}")
            call = mapper(row)
            rec["command"][i] = call.command()
            _resolve(call)
        except NotEvaluable as e:
            rec["status"][i], rec["reason"][i] = STATUS_NOT_EVALUABLE, str(e)
            continue
        pending.setdefault(call.api, []).append((i, call))
    for items in pending.values():
        for (i, _), res in zip(items, _evaluate([c for _, c in items]), strict=True):
            if isinstance(res, str):
                rec["status"][i], rec["reason"][i] = STATUS_NOT_EVALUABLE, res
            else:
                rec["model"][i], rec["low"][i], rec["high"][i] = res
    out = pd.DataFrame(rec, columns=list(RESULT_COLUMNS))
    for c in ("measured", "model", "low", "high"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return add_ratios(out)


def add_ratios(frame: pd.DataFrame, band: float = BAND) -> pd.DataFrame:
    """ratio = model / measured, |ln ratio|, covered (low <= measured <= high) and within the x``band`` band."""
    out = frame.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["model"].to_numpy(float) / out["measured"].to_numpy(float)
        out["ratio"] = ratio
        out["abs_ln_ratio"] = np.abs(np.log(ratio))
    ok = out["model"].notna().to_numpy()
    # the envelope of low, central and high: a range whose ends are not ordered around the central value
    # (e.g. power, where the favourable case can draw more) still counts the central value as covered
    trio = out[["low", "model", "high"]].to_numpy(float)
    lo, hi = np.nanmin(trio, axis=1, initial=np.inf), np.nanmax(trio, axis=1, initial=-np.inf)
    m = out["measured"].to_numpy(float)
    out["covered"] = pd.array(np.where(ok, (lo <= m) & (m <= hi), False), dtype="boolean")
    out["within_band"] = pd.array(np.where(ok, out["abs_ln_ratio"].to_numpy(float) <= math.log(band) + 1e-12, False),
                                  dtype="boolean")
    out.loc[~ok, ["covered", "within_band"]] = pd.NA
    return out


SUMMARY_COLUMNS = ("family", "role", "n_cases", "n_evaluated", "n_not_evaluable", "median_abs_ln_ratio",
                   "median_factor", "worst_abs_ln_ratio", "worst_factor", "worst_case", "median_ratio",
                   "share_high", "coverage", "within_band")


def summarize(results: pd.DataFrame, band: float = BAND) -> pd.DataFrame:
    """Per family and role (fit and check apart), then ``all`` per role: n, median and worst |ln ratio| (and as
    factors e^x), the median ratio, the share of measurements inside low-high and within x``band``."""
    rows = []
    groups = [(f, r) for f in dict.fromkeys(results["family"]) for r in ROLES]
    groups += [("all", r) for r in ROLES]
    for fam, role in groups:
        g = results[(results["role"] == role) & ((results["family"] == fam) if fam != "all" else True)]
        if g.empty:
            continue
        ev = g[g["status"] == STATUS_OK]
        x = ev["abs_ln_ratio"].to_numpy(float)
        worst = int(np.argmax(x)) if len(x) else None
        rows.append({
            "family": fam, "role": role, "n_cases": len(g), "n_evaluated": len(ev), "n_not_evaluable": len(g) - len(ev),
            "median_abs_ln_ratio": float(np.median(x)) if len(x) else math.nan,
            "median_factor": float(np.exp(np.median(x))) if len(x) else math.nan,
            "worst_abs_ln_ratio": float(x[worst]) if worst is not None else math.nan,
            "worst_factor": float(np.exp(x[worst])) if worst is not None else math.nan,
            "worst_case": str(ev["case_id"].iloc[worst]) if worst is not None else "",
            "median_ratio": float(np.median(ev["ratio"])) if len(x) else math.nan,
            "share_high": float((ev["ratio"] > 1).mean()) if len(x) else math.nan,
            "coverage": float(ev["covered"].astype(bool).mean()) if len(x) else math.nan,
            "within_band": float((x <= math.log(band) + 1e-12).mean()) if len(x) else math.nan,
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def validate(families: Iterable[str] | str | None = None, roles: Iterable[str] | str | None = None,
             band: float = BAND) -> Validation:
    """Run every chosen case and summarise with the x``band`` band: what ``joulebook validate`` prints and the
    report (:mod:`joulebook.stories.validation`) shows."""
    fams, rls = check_families(families), check_roles(roles)
    res = add_ratios(run_cases(fams, rls), band)
    return Validation(res, summarize(res, band), fams, rls, band)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.astype(object).where(pd.notna(df), None).to_dict(orient="records"):
        out.append({k: (bool(v) if isinstance(v, (bool, np.bool_)) else v) for k, v in r.items()})
    return out


__all__ = ["ROLES", "FAMILIES", "FAMILY_TITLES", "BAND", "assumptions", "DEPLOYMENT_PROMPT_TOKENS",
           "DEPLOYMENT_OUTPUT_TOKENS", "NotEvaluable", "UnknownFamilyError", "ModelCall", "Validation", "cases",
           "known_families", "check_families", "check_roles", "call_probe_decode", "call_probe_training",
           "call_inference_serving", "call_inference_deployment", "call_training_runs", "MAPPERS", "cli_command",
           "run_cases", "add_ratios", "summarize", "validate"]
