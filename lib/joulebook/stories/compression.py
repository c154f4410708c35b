"""Story: compression trade-offs for inference (``notebooks/20_compression_tradeoffs.ipynb``).

The report's parameters (:func:`check`), its computed frames (one vectorized call of
:mod:`joulebook.models.compression` each: :func:`technique_frame`, :func:`sweep_frame`,
:func:`runtime_frame`, :func:`pareto_frame`, :func:`strategy_frame`), the finding with its key-figure
tiles (:func:`finding`), prose written from the computed values, display tables with readable
headers and names (:mod:`joulebook.display.tables`), alt text for the figures, and the metrics
(:func:`metrics`, :func:`metrics_for`).

What the headline may claim (:func:`headline_choice`): it leads with the lowest-energy option that
has accuracy evidence (a sourced row of ``data/compression_accuracy.csv`` for this model and
technique). Options without such evidence are listed as such, never as the winner; a distilled
student is a different, smaller model (not this model compressed) and is named so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.display import tables
from joulebook.models import compression, inference
from joulebook.models import presets as models

PARAMETERS = ("model", "accelerator", "count", "precision", "batch", "prompt_tokens", "new_tokens", "runtime", "region",
              "student", "techniques", "batches", "helps_threshold")
QUANTIZATION = ("fp8", "int8-weight-only", "int4-weight-only", "w8a8")


# --------------------------------------------------------------------------- parameters

def check(*, model, accelerator, count, precision, batch, prompt_tokens, new_tokens, runtime, region, student,
          techniques, batches, helps_threshold) -> dict[str, Any]:
    """Validate the report's parameters (the notebook's parameters cell); returns the plan the cells use.

    ``plan["scenario"]`` (keyword arguments of the model's table functions), ``plan["techniques"]`` (with
    ``distill:STUDENT`` added when a student is given), ``plan["student"]``, ``plan["batches"]`` (sorted),
    ``plan["helps_threshold"]`` and ``plan["parameters"]`` (as given). Raises :class:`InputError` naming the
    bad parameter.
    """
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
    if runtime not in inference.RUNTIMES:
        raise InputError("runtime", f"one of {', '.join(inference.RUNTIMES)}, got {runtime!r}")
    if region:
        data.region(region)
    if not isinstance(techniques, (list, tuple)) or not techniques:
        raise InputError("techniques", "give a non-empty list of techniques")
    for t in techniques:
        compression.parse_technique(t)
    if not isinstance(batches, (list, tuple)) or not batches:
        raise InputError("batches", "give a non-empty list of batch sizes")
    for b in batches:
        number("batches", b, minimum=1, integer=True)
    if spec.heads % int(count):
        raise InputError("count", f"{spec.heads} attention heads do not split over {count} accelerators")
    if not acc.supports(prec):
        raise InputError("precision", f"{prec} is not supported by {acc.accelerator_id}")
    techs = list(techniques)
    if student:
        techs.append(f"distill:{models.model(student).model_id}")
    return {"parameters": given,
            "scenario": {"model": spec.model_id, "accelerator": acc.accelerator_id, "count": int(count),
                         "precision": prec, "batch": int(batch), "prompt_tokens": int(prompt_tokens),
                         "new_tokens": int(new_tokens), "runtime": runtime, "region": region or ""},
            "techniques": techs, "student": models.model(student).model_id if student else "",
            "batches": sorted({int(b) for b in batches}), "helps_threshold": float(helps_threshold)}


def _plan(parameters: Mapping[str, Any]) -> dict[str, Any]:
    require_parameters(parameters, PARAMETERS)
    return check(**dict(parameters))


# --------------------------------------------------------------------------- names a reader uses

def technique_name(technique: str) -> str:
    """A technique as a reader says it: ``int4-weight-only`` -> ``int4 weight-only``, ``prune:0.5`` ->
    ``50% pruning, dense kernels``, ``distill:llama-3.2-1b`` -> ``Llama 3.2 1B student (a different model)``."""
    if not technique or technique == "baseline":
        return "baseline"
    out = []
    for t in compression.parse_technique(technique):
        if t.kind == "precision":
            out.append("W8A8 (int8 weights and activations)" if t.precision == "int8" else t.precision)
        elif t.kind == "weight_only":
            out.append(f"{t.precision} weight-only")
        elif t.kind == "kv":
            out.append(f"{t.precision} KV cache")
        elif t.kind == "sparse24":
            out.append("2:4 sparsity")
        elif t.kind == "prune":
            out.append(f"{fmt.number(100 * t.sparsity)}% pruning, {'sparse' if t.sparse_kernels else 'dense'} kernels")
        elif t.kind == "distill":
            out.append(f"{models.model(t.student).name} student (a different model)")
        elif t.kind == "moe":
            out.append(f"mixture of experts, {t.experts_active}" + (f" of {t.experts}" if t.experts else "")
                       + " active")
    return " + ".join(out) if out else "baseline"


def _scenario_words(sc: Mapping[str, Any]) -> str:
    acc = tables.accelerator_name(sc["accelerator"])
    return f"{models.model(sc['model']).name} on " + (f"one {acc}" if sc["count"] == 1 else f"{sc['count']} × {acc}")


def title(plan: Mapping[str, Any]) -> str:
    sc = plan["scenario"]
    return f"Compression trade-offs: {_scenario_words(sc)}"


def _j(v: float) -> str:
    return f"{fmt.number(v)} J"


def _pct_change(new: float, old: float) -> str:
    """``-29%`` (relative change, 3 s.f.)."""
    return fmt.percent(new / old - 1)


def _acc(row) -> str:
    return f"{fmt.number(row['accuracy_change_pct'])}% {row['accuracy_metric']}"


# --------------------------------------------------------------------------- frames

def baseline(plan: Mapping[str, Any]) -> inference.InferenceEstimate:
    """The scenario's baseline as a full estimate (assumptions, sources, bounds)."""
    sc = dict(plan["scenario"])
    sc["region"] = sc["region"] or None
    return inference.estimate_inference(**sc)


def technique_frame(plan: Mapping[str, Any]) -> pd.DataFrame:
    """Every technique for the scenario (:func:`joulebook.models.compression.technique_table`)."""
    return compression.technique_table(plan["techniques"], **plan["scenario"])


def sweep_frame(plan: Mapping[str, Any]) -> pd.DataFrame:
    """Every technique at every batch size (:func:`joulebook.models.compression.batch_sweep`)."""
    return compression.batch_sweep(plan["techniques"], plan["batches"], **plan["scenario"])


def runtime_frame(plan: Mapping[str, Any]) -> pd.DataFrame:
    """Eager against compiled runtime at every batch size."""
    return compression.runtime_comparison(plan["batches"], **plan["scenario"])


def pareto_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Rows with accuracy evidence (and the baseline), flagged Pareto-optimal."""
    return compression.pareto_frame(table)


def strategy_frame(plan: Mapping[str, Any]) -> pd.DataFrame:
    """Quoted claims against the model for this scenario."""
    return compression.strategy_table(student=plan["student"], **plan["scenario"])


def summary_frame(sweep: pd.DataFrame, plan: Mapping[str, Any]) -> pd.DataFrame:
    """Per technique: speed-up at the ends of the sweep and the batch from which it stops helping."""
    return compression.sweep_summary(sweep, plan["techniques"], plan["helps_threshold"])


def by_batch(frame: pd.DataFrame, value: str = "speedup", by: str = "technique",
             exclude_families: tuple[str, ...] = ()) -> pd.DataFrame:
    """Pivot of a sweep or runtime frame for line plots: batch sizes down, one column per technique (by name).

    ``exclude_families`` drops techniques of those families (``("distillation",)``: a student several times
    faster would flatten the quantization curves).
    """
    if exclude_families and by == "technique":
        frame = frame[~frame["technique"].map(compression.family).isin(exclude_families)]
    wide = frame.pivot(index="batch", columns=by, values=value)
    wide = wide[list(dict.fromkeys(frame[by]))]  # the frame's order (baseline first): the same colours in every chart
    if by == "technique":
        wide = wide.rename(columns=technique_name)
    wide.columns.name = None
    return wide


# --------------------------------------------------------------------------- what a headline may claim

def headline_choice(table: pd.DataFrame) -> dict[str, Any]:
    """What a headline may claim from a technique table.

    ``lead``: the lowest-energy supported option of this model that fits in memory AND has accuracy evidence
    (``None`` if none has); ``lowest``: the lowest-energy option of this model regardless of evidence;
    ``unevidenced``: options of this model without accuracy evidence that use less energy than ``lead`` (or
    than the baseline when there is no lead), lowest first; ``other_models``: distilled students (different,
    smaller models) that fit, lowest energy first. A student is never the lead or the lowest.
    """
    ok = table[table["supported"] & table["fits_in_memory"].fillna(False).astype(bool)]
    ok = ok.sort_values("energy_j_per_1k_tokens", kind="stable")
    other = ok["other_model"].astype(bool)
    same, students = ok[~other], ok[other]
    cand = same[same["technique"] != "baseline"]
    evidenced = cand[cand["accuracy_change_pct"].notna()]
    lead = evidenced.iloc[0] if not evidenced.empty else None
    lowest = cand.iloc[0] if not cand.empty else (same.iloc[0] if not same.empty else None)
    base = same[same["technique"] == "baseline"]
    ref = lead if lead is not None else (base.iloc[0] if not base.empty else None)
    no_acc = cand[cand["accuracy_change_pct"].isna()]
    if ref is not None:
        no_acc = no_acc[no_acc["energy_j_per_1k_tokens"] < ref["energy_j_per_1k_tokens"]]
    return {"lead": lead, "lowest": lowest, "unevidenced": [r for _, r in no_acc.iterrows()],
            "other_models": [r for _, r in students.iterrows()]}


def _stops(sweep: pd.DataFrame, plan: Mapping[str, Any]) -> dict[str, int | None]:
    sc = plan["scenario"]
    quant = [t for t in plan["techniques"] if compression.technique_label(t) in QUANTIZATION
             and compression.supported(t, sc["accelerator"], sc["precision"])[0]]
    return {compression.technique_label(t): compression.stops_helping(sweep, t, plan["helps_threshold"]) for t in quant}


def finding(plan: Mapping[str, Any], table: pd.DataFrame, sweep: pd.DataFrame) -> tuple[str, list[tuple[str, ...]]]:
    """The answer first: (headline, key-figure tiles), written from the computed frames."""
    sc = plan["scenario"]
    pick = headline_choice(table)
    lead, lowest = pick["lead"], pick["lowest"]
    base_rows = table[table["technique"] == "baseline"]
    base = base_rows.iloc[0]
    where = f", batch {sc['batch']}"
    if not bool(base["fits_in_memory"]) and lowest is None and not pick["other_models"]:
        return (f"Neither the baseline nor any technique fits {_scenario_words(sc)} in memory at batch {sc['batch']}.",
                [("Baseline memory per accelerator", f"{fmt.number(base['memory_gb_per_accelerator'])} GB",
                  f"short by {fmt.number(base['shortfall_gb'])} GB")])
    e0 = base["energy_j_per_1k_tokens"]
    parts = []
    if lead is not None:
        parts.append(f"For {_scenario_words(sc)}{where}, the best option with accuracy evidence is "
                     f"**{technique_name(lead['technique'])}**: {_j(lead['energy_j_per_1k_tokens'])} per 1,000 tokens "
                     f"against {_j(e0)} for the {sc['precision']} baseline "
                     f"({_pct_change(lead['energy_j_per_1k_tokens'], e0)}), with {_acc(lead)}.")
    elif lowest is not None and lowest["technique"] != "baseline":
        parts.append(f"For {_scenario_words(sc)}{where}, no option here has accuracy evidence, so none is "
                     f"recommended: the lowest energy is {technique_name(lowest['technique'])} at "
                     f"{_j(lowest['energy_j_per_1k_tokens'])} per 1,000 tokens against {_j(e0)} for the "
                     f"{sc['precision']} baseline, with an unknown effect on accuracy.")
    else:
        parts.append(f"For {_scenario_words(sc)}{where}, the {sc['precision']} baseline uses {_j(e0)} per 1,000 tokens "
                     "and no technique here lowers it.")
    rest = pick["unevidenced"] if lead is not None else [r for r in pick["unevidenced"]
                                                         if lowest is None or r["technique"] != lowest["technique"]]
    if rest:
        parts.append("Lower in energy but without accuracy evidence: " + ", ".join(
            f"{technique_name(r['technique'])} ({_j(r['energy_j_per_1k_tokens'])})" for r in rest) + ".")
    for r in pick["other_models"]:
        acc_txt = (f"{_acc(r)}" if pd.notna(r["accuracy_change_pct"]) else "accuracy not in the data")
        parts.append(f"A distilled {models.model(r['technique'].split(':', 1)[1]).name} student is a different, "
                     f"smaller model, not this one compressed: {_j(r['energy_j_per_1k_tokens'])} per 1,000 tokens, "
                     f"{acc_txt}.")
    headline = " ".join(parts)
    tiles: list[tuple[str, ...]] = [("Baseline energy per 1,000 tokens", _j(e0),
                                     f"{sc['precision']}, {fmt.number(base['latency_ms_per_1k_tokens'])} ms per "
                                     "1,000 tokens")]
    if lead is not None:
        tiles.append((f"{technique_name(lead['technique'])}", _j(lead["energy_j_per_1k_tokens"]),
                      f"{_pct_change(lead['energy_j_per_1k_tokens'], e0)} energy; accuracy {_acc(lead)}"))
    elif lowest is not None and lowest["technique"] != "baseline":
        tiles.append((f"{technique_name(lowest['technique'])}", _j(lowest["energy_j_per_1k_tokens"]),
                      "accuracy: no data"))
    stop = _stops(sweep, plan).get("int4-weight-only")
    if stop is not None:
        tiles.append(("int4 weight-only stops helping", f"from batch {stop}",
                      f"speed-up below {fmt.number(plan['helps_threshold'])}×"))
    for r in pick["other_models"][:1]:
        tiles.append(("Distilled student (a different model)", _j(r["energy_j_per_1k_tokens"]),
                      f"{models.model(r['technique'].split(':', 1)[1]).name}; "
                      + (_acc(r) if pd.notna(r["accuracy_change_pct"]) else "accuracy: no data")))
    return headline, tiles[:4]


# --------------------------------------------------------------------------- prose written from computed values

def scenario_md(plan: Mapping[str, Any], est) -> str:
    """One paragraph describing the scenario and its baseline, from the computed estimate."""
    sc, m, c = plan["scenario"], est.model, est.central
    fit = ("fits" if est.fits_in_memory else
           f"does **not** fit: {fmt.number(c['shortfall_gb'])} GB short per accelerator")
    gqa = (f"{m.kv_heads} KV heads for {m.heads} query heads" if m.kv_heads < m.heads else
           f"{m.heads} heads without grouped-query attention")
    moe = f", {m.experts_active} of {m.experts} experts per token" if m.is_moe else ""
    region = f", electricity of {est.region.name}" if est.region else ", no region (no emissions)"
    return (f"**Scenario.** {m.name} ({fmt.number(m.params_total / 1e9)} billion parameters, {m.layers} layers, "
            f"{gqa}{moe}) on {_scenario_words(sc).split(' on ', 1)[1]} in {sc['precision']}, "
            f"batch {sc['batch']}, {sc['prompt_tokens']} prompt and {sc['new_tokens']} generated tokens per sequence, "
            f"{sc['runtime']} runtime{region}. The baseline's prefill is {est.bound['prefill']}-bound "
            f"({fmt.number(c['prefill_ms'])} ms to the first token) and each decode step is "
            f"{est.bound['decode']}-bound ({fmt.number(c['decode_ms_per_token'])} ms); the accelerators draw "
            f"{fmt.number(c['power_w'])} W each on average and the service uses "
            f"{_j(c['energy_j_per_1k_tokens'])} of facility energy per 1,000 generated tokens (range "
            f"{fmt.number(est.low['energy_j_per_1k_tokens'])}–{fmt.number(est.high['energy_j_per_1k_tokens'])} J). "
            f"Weights, KV cache and activations take {fmt.number(c['memory_gb_per_accelerator'])} GB per accelerator "
            f"of {fmt.number(c['usable_memory_gb_per_accelerator'])} GB usable: the model {fit}.")


def technique_md(table: pd.DataFrame) -> str:
    """What the technique table says, in sentences that change with the numbers."""
    ok = table[table["supported"]]
    others = ok[(ok["technique"] != "baseline") & ~ok["other_model"].astype(bool)]
    parts = []
    if not others.empty:
        mem = others.sort_values("memory_reduction").iloc[-1]
        parts.append(f"The largest cut in weight memory is {technique_name(mem['technique'])} "
                     f"({fmt.ratio(mem['memory_reduction'])}).")
        same = others[(others["speedup"] - 1).abs() < 0.005]
        if not same.empty:
            parts.append("No change in latency or energy: " + ", ".join(map(technique_name, same["technique"]))
                         + " (pruned weights stored dense are still read and multiplied).")
        slower = others[others["speedup"] < 0.995]
        if not slower.empty:
            parts.append("Slower than the baseline here: " + ", ".join(
                f"{technique_name(r['technique'])} ({fmt.ratio(r['speedup'])})" for _, r in slower.iterrows()) + ".")
    nofit = ok[~ok["fits_in_memory"].astype(bool)]
    if not nofit.empty:
        parts.append("Does not fit in memory: " + ", ".join(
            f"{technique_name(r['technique'])} (short by {fmt.number(r['shortfall_gb'])} GB per accelerator)"
            for _, r in nofit.iterrows()) + ".")
    bad = table[~table["supported"]]
    if not bad.empty:
        parts.append("Not run: " + "; ".join(f"{technique_name(r['technique'])} ({r['reason']})"
                                             for _, r in bad.iterrows()) + ".")
    return " ".join(parts)


def sweep_md(sweep: pd.DataFrame, plan: Mapping[str, Any]) -> str:
    """Where each technique stops helping as the batch grows."""
    thr = plan["helps_threshold"]
    summ = summary_frame(sweep, plan)
    lo, hi = min(plan["batches"]), max(plan["batches"])
    out = []
    for _, r in summ.iterrows():
        stop = r["stops_helping_from_batch"]
        if not fmt.is_missing(stop) and int(stop) == lo:
            tail = f"it never reaches {fmt.ratio(thr)} in this range"
        elif not fmt.is_missing(stop):
            tail = f"it stops helping (below {fmt.ratio(thr)}) from batch {int(stop)}"
        else:
            tail = f"it still helps at batch {hi}"
        out.append(f"{technique_name(r['technique'])}: {fmt.ratio(r['speedup_at_smallest_batch'])} at batch {lo}, "
                   f"{fmt.ratio(r['speedup_at_largest_batch'])} at batch {hi}; {tail}.")
    b = sweep[sweep["technique"] == "baseline"].sort_values("batch")
    cb = b[b["bound_decode"] == "compute"]
    bound = (f"The baseline's decode becomes compute-bound at batch {int(cb['batch'].iloc[0])}." if not cb.empty else
             f"The baseline's decode stays memory-bound up to batch {hi} (weights and a growing KV cache are read "
             "every step).")
    nofit = b[~b["fits_in_memory"].astype(bool)]
    fit_txt = f" From batch {int(nofit['batch'].iloc[0])} the baseline no longer fits in memory." if not nofit.empty else ""
    e1, e2 = b["energy_j_per_1k_tokens"].iloc[0], b["energy_j_per_1k_tokens"].iloc[-1]
    return (f"{bound}{fit_txt} Batching alone takes the baseline from {_j(e1)} to {_j(e2)} per 1,000 tokens "
            f"({fmt.ratio(e1 / e2)} less). Speed-up against the baseline at the same batch size:\n\n"
            + "\n".join(f"- {line}" for line in out))


def pareto_md(pareto: pd.DataFrame, table: pd.DataFrame) -> str:
    """Which techniques have accuracy evidence and which of them are on the energy-accuracy front."""
    ok = table[table["supported"] & (table["technique"] != "baseline")]
    have = [t for t in pareto["technique"] if t != "baseline"]
    missing = [technique_name(t) for t in ok["technique"] if t not in have]
    if not have:
        return ("No accuracy rows in compression_accuracy.csv match this model and these techniques, so no "
                "energy-accuracy front is drawn (accuracy is never estimated). No data: " + ", ".join(missing) + ".")
    front = [technique_name(t) for t, f in zip(pareto["technique"], pareto["pareto_optimal"], strict=True) if f]
    metrics_used = [m for m in dict.fromkeys(pareto["accuracy_metric"]) if m != "reference"]
    mixed = (f" The rows use different metrics ({'; '.join(metrics_used)}): the relative change is comparable in "
             "sign, not in size, across metrics." if len(metrics_used) > 1 else "")
    return (f"Accuracy evidence exists for {', '.join(map(technique_name, have))}. On the energy-accuracy front: "
            f"{', '.join(front)}. "
            + (f"No data for {', '.join(missing)}: they are left out of the figure, not given a guessed accuracy."
               if missing else "") + mixed)


def runtime_md(rc: pd.DataFrame) -> str:
    """Eager against compiled, from the runtime comparison."""
    eager = rc[rc["runtime"] == "eager"].sort_values("batch")
    lo, hi = eager.iloc[0], eager.iloc[-1]
    return (f"At batch {int(lo['batch'])} the eager runtime is {fmt.ratio(lo['slowdown_vs_compiled'])} slower per "
            f"1,000 tokens than the compiled one: host-side launch overhead is {fmt.percent(lo['overhead_share'])} of "
            f"each decode step ({fmt.number(lo['overhead_ms_per_step'])} ms). At batch {int(hi['batch'])} the GPU work "
            f"per step grows and the gap shrinks to {fmt.ratio(hi['slowdown_vs_compiled'])}.")


def strategy_md(st: pd.DataFrame) -> str:
    """Which quoted claims hold for this scenario."""
    parts = []
    for verdict, lead in (("holds", "The quoted speed-up holds for"), ("exceeds the claim", "Faster than quoted"),
                          ("falls short", "Slower than quoted")):
        sub = st[st["speed_verdict"] == verdict]
        if not sub.empty:
            parts.append(f"{lead}: " + ", ".join(f"{_strategy_name(r['technique'])} ({fmt.ratio(r['model_speedup'])})"
                                                 for _, r in sub.iterrows()) + ".")
    mem = st[st["memory_verdict"].isin(["falls short", "exceeds the claim"])]
    if not mem.empty:
        parts.append("Memory claim off: " + ", ".join(
            f"{_strategy_name(r['technique'])} ({fmt.ratio(r['model_memory_reduction'])}, {r['memory_verdict']})"
            for _, r in mem.iterrows()) + ".")
    ns = st[~st["supported"]]
    if not ns.empty:
        parts.append("Not supported on this accelerator: " + ", ".join(map(_strategy_name, ns["technique"])) + ".")
    return " ".join(parts)


def validation_md(v: pd.DataFrame) -> str:
    """How close the model comes to published decode speeds (calibration anchors and independent checks)."""
    cal, val = v[v["role"] == "calibration"], v[v["role"] == "validation"]
    inside = ((val["measured_tokens_per_s"] >= val["modelled_low"] * 0.9999) &
              (val["measured_tokens_per_s"] <= val["modelled_high"] * 1.0001))
    return (f"On the {len(cal)} measurements used to fit parameters the model is within "
            f"{fmt.number(cal['error_pct'].abs().max())}% (median {fmt.number(cal['error_pct'].abs().median())}%). "
            f"On the {len(val)} measurements not used for fitting it is off by {fmt.number(val['error_pct'].min())}% "
            f"to {fmt.number(val['error_pct'].max())}% (median {fmt.number(val['error_pct'].abs().median())}%), and "
            f"{int(inside.sum())} of {len(val)} fall inside its low–high range. These are batch-1 decode speeds on "
            "A100s (gpt-fast); batched serving is not validated here.")


# --------------------------------------------------------------------------- display tables

def _range(lo, hi) -> str:
    if fmt.is_missing(lo) or fmt.is_missing(hi):
        return fmt.MISSING
    a, b = fmt.number(lo), fmt.number(hi)
    return a if a == b else f"{a}–{b}"


def technique_table(table: pd.DataFrame) -> tables.Table:
    """The technique table as shown: names, units in the headers, 3 significant figures."""
    t = table[table["supported"]].copy()
    t["name"] = t["technique"].map(technique_name)
    t["energy_range"] = [_range(a, b) for a, b in zip(t["energy_j_per_1k_tokens_low"], t["energy_j_per_1k_tokens_high"],
                                                     strict=True)]
    t["metric"] = [m if m not in ("no data", "reference") else ("reference" if m == "reference" else fmt.MISSING)
                   for m in t["accuracy_metric"]]
    notes = ["Ratios are baseline / technique (above 1: better). Accuracy change: relative change of the metric, "
             "negative = worse; — = no sourced accuracy row for this model and technique (never estimated)."]
    bad = table[~table["supported"]]
    if not bad.empty:
        notes.append("Not run: " + "; ".join(f"{technique_name(r['technique'])} ({r['reason']})"
                                             for _, r in bad.iterrows()) + ".")
    return tables.table(t, {"name": "Technique", "energy_j_per_1k_tokens": "Energy per 1,000 tokens (J)",
                            "energy_range": "Energy range (J)", "latency_ms_per_1k_tokens": "Latency per 1,000 tokens (ms)",
                            "ttft_ms": "Time to first token (ms)", "speedup": "Speed-up (×)",
                            "energy_reduction": "Energy cut (×)", "memory_reduction": "Weight memory cut (×)",
                            "memory_gb_per_accelerator": "Memory per accelerator (GB)", "fits_in_memory": "Fits",
                            "bound_decode": "Decode bound", "accuracy_change_pct": "Accuracy change (%)",
                            "metric": "Accuracy metric"},
                        kinds={"energy_range": "text", "fits_in_memory": "text", "metric": "text"},
                        caption="Latency, memory and energy per 1,000 generated tokens", notes=notes)


def summary_table(sweep: pd.DataFrame, plan: Mapping[str, Any]) -> tables.Table:
    s = summary_frame(sweep, plan)
    s["name"] = s["technique"].map(technique_name)
    lo, hi = min(plan["batches"]), max(plan["batches"])
    return tables.table(s, {"name": "Technique", "speedup_at_smallest_batch": f"Speed-up at batch {lo} (×)",
                            "speedup_at_largest_batch": f"Speed-up at batch {hi} (×)",
                            "stops_helping_from_batch": "Stops helping from batch",
                            "decode_becomes_compute_bound_at_batch": "Decode compute-bound from batch"},
                        kinds={"stops_helping_from_batch": "integer", "decode_becomes_compute_bound_at_batch": "integer"},
                        caption="Speed-up at the ends of the sweep and the batch from which each technique stops helping",
                        notes=[f"Stops helping: the speed-up stays below {fmt.ratio(plan['helps_threshold'])} from that "
                               "batch on; — = it still helps at the largest batch (or never becomes compute-bound)."])


def pareto_table(pareto: pd.DataFrame) -> tables.Table:
    p = pareto.copy()
    p["name"] = p["technique"].map(technique_name)
    p["front"] = ["yes" if f else "no" for f in p["pareto_optimal"]]
    p["record"] = [r if r else fmt.MISSING for r in p["accuracy_record"]]
    return tables.table(p, {"name": "Technique", "energy_j_per_1k_tokens": "Energy per 1,000 tokens (J)",
                            "accuracy_change_pct": "Accuracy change (%)", "accuracy_metric": "Accuracy metric",
                            "front": "Pareto-optimal", "record": "Record in compression_accuracy.csv"},
                        kinds={"front": "text", "record": "text"},
                        caption="Techniques with accuracy evidence for this model")


def runtime_table(rc: pd.DataFrame) -> tables.Table:
    return tables.table(rc, {"runtime": "Runtime", "batch": "Batch", "decode_ms_per_token": "Decode step (ms)",
                             "tokens_per_s": "Throughput (tokens/s)",
                             "latency_ms_per_1k_tokens": "Latency per 1,000 tokens (ms)",
                             "energy_j_per_1k_tokens": "Energy per 1,000 tokens (J)",
                             "overhead_ms_per_step": "Launch overhead (ms per step)",
                             "overhead_share": "Overhead share (%)", "slowdown_vs_compiled": "Slower than compiled (×)"},
                        kinds={"batch": "integer", "overhead_share": "percent"},
                        caption="Decode step, throughput, latency and energy by runtime and batch size")


def _strategy_name(t: str) -> str:
    return "fp32 → bf16" if t == "fp32 -> bf16" else technique_name(t)


def strategy_table(st: pd.DataFrame) -> tables.Table:
    s = st.copy()
    titles = tables.source_titles(list(s["claim_source"]) + list(s["claim_memory_source"]))
    s["name"] = s["technique"].map(_strategy_name)
    s["claim_s"] = list(s["claim_speed"])
    s["claim_src"] = [titles.get(src, src) for src in s["claim_source"]]
    s["claimed"] = [fmt.ratio(a) if a == b else f"{fmt.number(a)}–{fmt.ratio(b)}"
                    for a, b in zip(s["claim_speedup_low"], s["claim_speedup_high"], strict=True)]
    s["claim_m"] = [c if c else fmt.MISSING for c in s["claim_memory"]]
    s["pub"] = [p if p else fmt.MISSING for p in s["published"]]
    s["acc"] = [f"{fmt.number(a)}% {m}" if not fmt.is_missing(a) else fmt.MISSING
                for a, m in zip(s["accuracy_change_pct"], s["accuracy_metric"], strict=True)]
    return tables.table(s, {"strategy": "Strategy", "name": "Technique", "claim_s": "Quoted claim (speed)",
                            "claim_src": "Claim source", "claimed": "Claimed speed-up", "model_speedup": "Model speed-up (×)",
                            "speed_verdict": "Speed claim", "claim_m": "Quoted claim (memory)",
                            "model_memory_reduction": "Model memory cut (×)", "memory_verdict": "Memory claim",
                            "model_energy_reduction": "Model energy cut (×)", "pub": "Published measurements",
                            "acc": "Accuracy change (data)"},
                        kinds={"claimed": "text", "claim_m": "text", "pub": "text", "acc": "text", "claim_src": "text"},
                        caption="Mixed precision, quantization, pruning and distillation: claim, model, verdict")


def validation_table(v: pd.DataFrame) -> tables.Table:
    w = v.copy()
    w["model_name"] = [models.model(m).name for m in w["model"]]
    w["name"] = w["technique"].map(technique_name)
    w["range"] = [_range(a, b) for a, b in zip(w["modelled_low"], w["modelled_high"], strict=True)]
    return tables.table(w, {"role": "Role", "model_name": "Model", "accelerator": "Accelerator", "count": "Count",
                            "name": "Technique", "runtime": "Runtime", "measured_tokens_per_s": "Published (tokens/s)",
                            "modelled_tokens_per_s": "Modelled (tokens/s)", "range": "Modelled range (tokens/s)",
                            "error_pct": "Error (%)"},
                        kinds={"count": "integer", "range": "text"},
                        caption="Batch-1 decode speed: published against modelled (calibration rows fit a parameter; "
                                "validation rows do not)")


def claims_table() -> tables.Table:
    c = compression.claims()
    titles = tables.source_titles(c["source_id"])
    c["source"] = [titles.get(s, s) for s in c["source_id"]]
    c["applies"] = [t if t in ("quantization", "pruning", "mixed precision", "distillation") else technique_name(t)
                    for t in c["applies_to"]]
    return tables.table(c, {"note": "Claim or measurement", "kind": "Kind", "applies": "Applies to",
                            "value_low": "Low", "value": "Central", "value_high": "High", "unit": "Unit",
                            "source": "Source"},
                        caption="Claims and published measurements (data/inference_runtime.csv)")


# --------------------------------------------------------------------------- figures: alt text

def bars_alt(table: pd.DataFrame) -> str:
    t = table[table["supported"]]
    parts = [f"{technique_name(r['technique'])} {fmt.number(r['latency_ms_per_1k_tokens'])} ms and "
             f"{_j(r['energy_j_per_1k_tokens'])}" for _, r in t.iterrows()]
    return "Two bar charts, latency and energy per 1,000 tokens by technique: " + "; ".join(parts) + "."


def bar_data(table: pd.DataFrame, column: str) -> tuple[list[str], list[float]]:
    """(names, values) of the supported rows of a technique frame, for :func:`joulebook.display.plots.bar`."""
    t = table[table["supported"]]
    return [technique_name(x) for x in t["technique"]], [float(v) for v in t[column]]


def bars_figure(table: pd.DataFrame):
    """Latency and energy per 1,000 tokens by technique: two panels, one unit each, values at the bar ends."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    names, lat = bar_data(table, "latency_ms_per_1k_tokens")
    _, energy = bar_data(table, "energy_j_per_1k_tokens")
    colors = sns.color_palette("colorblind")
    cols = [colors[1] if n == "baseline" else colors[0] for n in names]
    fig, axes = plt.subplots(2, 1, figsize=(9, 1.0 + 0.62 * len(names)), sharey=True)
    for ax, values, label, what in ((axes[0], lat, "ms per 1,000 tokens of one sequence", "Latency"),
                                    (axes[1], energy, "J per 1,000 tokens (facility)", "Energy")):
        ax.barh(names, values, color=cols)
        for i, v in enumerate(values):
            ax.text(v, i, " " + fmt.number(v), va="center", fontsize=9)
        ax.set_xlabel(label)
        ax.set_title(what)
        ax.margins(x=0.15)
    axes[0].invert_yaxis()
    return fig


def pareto_figure(pareto: pd.DataFrame):
    """Energy against accuracy change, each point labelled with its technique (no legend over the data)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 4.2))
    if pareto.empty:
        ax.text(0.5, 0.5, "No accuracy evidence for these techniques", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colors = sns.color_palette("colorblind")
    front = pareto["pareto_optimal"].astype(bool).to_numpy()
    x, y = pareto["accuracy_change_pct"].to_numpy(float), pareto["energy_j_per_1k_tokens"].to_numpy(float)
    ax.scatter(x[front], y[front], s=70, color=colors[0], label="Pareto-optimal", zorder=3)
    ax.scatter(x[~front], y[~front], s=70, color=colors[7], marker="s", label="dominated", zorder=3)
    for xi, yi, t in zip(x, y, pareto["technique"], strict=True):
        ax.annotate(technique_name(t), (xi, yi), xytext=(6, 4), textcoords="offset points", fontsize=9)
    ax.set_xlabel("Accuracy change (%, negative = worse)")
    ax.set_ylabel("J per 1,000 tokens (facility)")
    ax.set_title("Energy against accuracy")
    ax.margins(x=0.25, y=0.15)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def speedup_alt(sweep: pd.DataFrame, plan: Mapping[str, Any]) -> str:
    s = summary_frame(sweep, plan)
    s = s[s["technique"].map(compression.family) != "distillation"]
    lo, hi = min(plan["batches"]), max(plan["batches"])
    return (f"Line chart of speed-up against the baseline by batch size ({lo} to {hi}, log scale), with the "
            f"{fmt.ratio(plan['helps_threshold'])} threshold dashed: "
            + "; ".join(f"{technique_name(r['technique'])} from {fmt.ratio(r['speedup_at_smallest_batch'])} to "
                        f"{fmt.ratio(r['speedup_at_largest_batch'])}" for _, r in s.iterrows()) + ".")


def energy_alt(sweep: pd.DataFrame) -> str:
    b = sweep[sweep["technique"] == "baseline"].sort_values("batch")
    return (f"Line chart of energy per 1,000 tokens by batch size, both axes log scale, one line per technique; "
            f"the baseline falls from {_j(b['energy_j_per_1k_tokens'].iloc[0])} at batch {int(b['batch'].iloc[0])} to "
            f"{_j(b['energy_j_per_1k_tokens'].iloc[-1])} at batch {int(b['batch'].iloc[-1])}.")


def pareto_points(pareto: pd.DataFrame) -> pd.DataFrame:
    """A Pareto frame shaped for a scatter: accuracy change down, one column per technique (by name)."""
    p = pareto.assign(name=pareto["technique"].map(technique_name))
    wide = p.pivot_table(index="accuracy_change_pct", columns="name", values="energy_j_per_1k_tokens")
    wide.columns.name = None
    return wide


def pareto_alt(pareto: pd.DataFrame) -> str:
    return ("Scatter of energy per 1,000 tokens against accuracy change: " + "; ".join(
        f"{technique_name(r['technique'])} {_j(r['energy_j_per_1k_tokens'])} at {fmt.number(r['accuracy_change_pct'])}%"
        + (" (Pareto-optimal)" if r["pareto_optimal"] else "") for _, r in pareto.iterrows()) + ".")


def runtime_alt(rc: pd.DataFrame) -> str:
    e = rc[rc["runtime"] == "eager"].sort_values("batch")
    return (f"Line chart of latency per 1,000 tokens by batch size for the eager and compiled runtimes (log scales); "
            f"eager is {fmt.ratio(e['slowdown_vs_compiled'].iloc[0])} slower at batch {int(e['batch'].iloc[0])} and "
            f"{fmt.ratio(e['slowdown_vs_compiled'].iloc[-1])} at batch {int(e['batch'].iloc[-1])}.")


# --------------------------------------------------------------------------- provenance

def source_ids(plan: Mapping[str, Any], est) -> list[str]:
    """Every source the report's numbers rest on: the baseline's, the runtime parameters, claims and accuracy."""
    ids = list(est.source_ids)
    ids += list(data.table("inference_runtime")["source_id"])
    ids += [models.model(plan["student"]).source_id] if plan["student"] else []
    for t in plan["techniques"]:
        ids += [r["source_id"] for r in compression.accuracy(plan["scenario"]["model"], t)]
    return [i for i in dict.fromkeys(ids) if i]


def parameters_table(plan: Mapping[str, Any]) -> tables.Table:
    p = plan["parameters"]
    shown = {"model": models.model(p["model"]).name, "accelerator": tables.accelerator_name(p["accelerator"]),
             "count": fmt.number(p["count"]), "precision": str(p["precision"]), "batch": fmt.number(p["batch"]),
             "prompt_tokens": fmt.number(p["prompt_tokens"]), "new_tokens": fmt.number(p["new_tokens"]),
             "runtime": str(p["runtime"]), "region": tables.region_name(p["region"]) if p["region"] else "none",
             "student": models.model(p["student"]).name if p["student"] else "none",
             "techniques": ", ".join(map(technique_name, p["techniques"])),
             "batches": ", ".join(str(int(b)) for b in p["batches"]),
             "helps_threshold": fmt.ratio(p["helps_threshold"])}
    df = pd.DataFrame({"parameter": list(shown), "value": list(shown.values())})
    return tables.table(df, {"parameter": "Parameter", "value": "Value"}, caption="Parameters of this run")


def assumptions_table(est) -> tables.Table:
    return tables.assumptions_table(est.assumptions.to_frame(),
                                    caption="Assumptions of the baseline (override any of them by name)")


def sources_table(plan: Mapping[str, Any], est) -> tables.Table:
    src = data.sources_for(source_ids(plan, est))
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


# --------------------------------------------------------------------------- metrics

def metrics(plan: Mapping[str, Any], table: pd.DataFrame, sweep: pd.DataFrame) -> dict[str, Any]:
    """The report's ``metrics.json``: the finding, key figures and the per-technique numbers."""
    pick = headline_choice(table)
    lead, lowest = pick["lead"], pick["lowest"]
    base = table[table["technique"] == "baseline"].iloc[0]
    headline, _ = finding(plan, table, sweep)
    figs = [{"label": "baseline energy per 1,000 tokens", "value": round6(base["energy_j_per_1k_tokens"]), "unit": "J"}]
    if lead is not None:
        figs.append({"label": f"{technique_name(lead['technique'])} energy per 1,000 tokens",
                     "value": round6(lead["energy_j_per_1k_tokens"]), "unit": "J"})
    figs.append({"label": "baseline latency per 1,000 tokens", "value": round6(base["latency_ms_per_1k_tokens"]),
                 "unit": "ms"})
    return {
        "title": title(plan), "finding": headline.replace("**", ""), "key_figures": figs[:4],
        "baseline_energy_j_per_1k_tokens": round6(base["energy_j_per_1k_tokens"]),
        "baseline_latency_ms_per_1k_tokens": round6(base["latency_ms_per_1k_tokens"]),
        "baseline_memory_gb_per_accelerator": round6(base["memory_gb_per_accelerator"]),
        "baseline_fits_in_memory": bool(base["fits_in_memory"]),
        "baseline_bound_decode": base["bound_decode"],
        "best_technique": lead["technique"] if lead is not None else None,
        "best_technique_with_accuracy_data": lead["technique"] if lead is not None else None,
        "lowest_energy_technique": lowest["technique"] if lowest is not None else None,
        "lower_energy_without_accuracy_data": [r["technique"] for r in pick["unevidenced"]],
        "other_models": [r["technique"] for r in pick["other_models"]],
        "techniques": {r["technique"]: ({"speedup": round6(r["speedup"]), "memory_reduction": round6(r["memory_reduction"]),
                                         "energy_j_per_1k_tokens": round6(r["energy_j_per_1k_tokens"]),
                                         "latency_ms_per_1k_tokens": round6(r["latency_ms_per_1k_tokens"]),
                                         "fits_in_memory": bool(r["fits_in_memory"]),
                                         "accuracy_change_pct": round6(r["accuracy_change_pct"])}
                                        if r["supported"] else {"supported": False, "reason": r["reason"]})
                       for _, r in table.iterrows()},
        "stops_helping_from_batch": _stops(sweep, plan),
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics.json`` straight from the notebook's parameters (every name of the parameters cell)."""
    plan = _plan(parameters)
    return metrics(plan, technique_frame(plan), sweep_frame(plan))
