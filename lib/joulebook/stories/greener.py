"""Story: greener NLP training, compute-optimal sizing and data-efficiency levers (``80_greener_nlp.ipynb``).

The notebook's parameters cell holds every default; :func:`check` validates a complete set of them
(one :class:`InputError` naming the parameter). The computed frames come from
:mod:`joulebook.models.greener` (scaling laws, sizing, levers) priced by the training model; this
module adds the finding, the prose of each section, the display tables and the metrics.

Totals and extras are kept apart everywhere: a table column says "total" or "extra" in its header
and the prose quotes the same columns with the same word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import array, number
from joulebook.display import tables
from joulebook.models import greener, training

TITLE = "Greener NLP training: sizing and data efficiency"

#: The notebook's parameter names (their defaults live in its parameters cell only).
PARAMETERS = ("flops_budget", "target_loss", "fit", "size_factors", "params", "tokens", "layers", "hidden", "seq_len",
              "accelerator", "count", "precision", "region", "dedup_fraction", "pruning_fraction",
              "slw_warmup_fraction", "slw_start_seq_len", "slw_token_reduction_factor", "early_stop_fraction",
              "student_params", "deployment_tokens", "distill_tokens")
JOB_KEYS = ("accelerator", "count", "precision", "region")
LEVER_KEYS = ("params", "tokens", "layers", "hidden", "seq_len", "dedup_fraction", "pruning_fraction",
              "slw_warmup_fraction", "slw_start_seq_len", "slw_token_reduction_factor", "early_stop_fraction",
              "student_params", "deployment_tokens", "distill_tokens")
FIT_NAMES = {"chinchilla_approach3": "Hoffmann et al. 2022 (Approach 3, as published)",
             "epoch_replication_2024": "Besiroglu et al. 2024 (refit)"}
CLAIM_LEVERS = {"dedup": "deduplication", "data_pruning": "data pruning",
                "sequence_length_warmup": "sequence-length warmup", "distillation": "distillation"}
STATUS_WORDS = {"verified_repo": "checked in the source's repository", "verified_page": "checked on the publication's page",
                "secondary": "read in a secondary source", "derived": "derived from a cited figure"}
FIT_SHORT = {"chinchilla_approach3": "Hoffmann et al. 2022", "epoch_replication_2024": "Besiroglu et al. 2024"}
"""Figure legends: the short names (the tables and prose give the full ones)."""
SERVING_ROWS = ("serving: teacher", "serving: distilled student", "distillation run")


# --------------------------------------------------------------------------- parameters

def check(**parameters: Any) -> dict[str, Any]:
    """The notebook's parameters, checked: every name of :data:`PARAMETERS` is required (None where the
    notebook allows it); unknown names, bad values and unreachable targets raise one InputError each."""
    require_parameters(parameters, PARAMETERS)
    p = dict(parameters)
    number("flops_budget", p["flops_budget"], strictly_positive=True)
    f = greener.scaling_fit(p["fit"])
    p["fit"] = f.fit_id
    number("target_loss", p["target_loss"], strictly_positive=True)
    if p["target_loss"] <= f.E:
        raise InputError("target_loss", f"must be above the irreducible loss E = {f.E:g} of fit {f.fit_id}")
    if not isinstance(p["size_factors"], (list, tuple)) or not p["size_factors"]:
        raise InputError("size_factors", "give a non-empty list")
    array("size_factors", list(p["size_factors"]), strictly_positive=True)
    p["size_factors"] = [float(x) for x in p["size_factors"]]
    number("count", p["count"], strictly_positive=True, integer=True)
    p["count"] = int(p["count"])
    acc = data.accelerator(p["accelerator"])
    p["accelerator"] = acc.accelerator_id
    p["precision"] = data.normalise_precision(p["precision"])
    acc.peak(p["precision"])
    p["region"] = data.region(p["region"]).region_id
    levers(p)  # every lever check (fractions, sizes, distillation inputs) happens here
    return p


def job(p: Mapping[str, Any]) -> dict[str, Any]:
    """The training job's keywords (accelerator, count, precision, region)."""
    return {k: p[k] for k in JOB_KEYS}


# --------------------------------------------------------------------------- computed frames

def allocation(p: Mapping[str, Any]) -> pd.DataFrame:
    """Each fit's compute-optimal split of the budget and the tokens-per-parameter rule, priced."""
    return greener.allocation_frame(p["flops_budget"], p["fit"], **job(p))


def sizing(p: Mapping[str, Any]) -> pd.DataFrame:
    """Models of each size factor reaching the target loss under the chosen fit (totals and extras)."""
    return greener.sizing_frame(p["target_loss"], p["size_factors"], p["fit"], **job(p))


def levers(p: Mapping[str, Any]) -> pd.DataFrame:
    """One row per data-efficiency lever (and the distillation rows), priced."""
    return greener.levers_frame(**{k: p[k] for k in LEVER_KEYS}, **job(p))


def _factor_index(values, what: str) -> pd.Index:
    return pd.Index([f"{fmt.number(x)}×" for x in values], name=what)


def budget_loss(p: Mapping[str, Any]) -> pd.DataFrame:
    """Predicted loss (nats/token) at the fixed FLOP budget by model size, one column per fit (fit names)."""
    cols = {FIT_SHORT.get(fid, fid): greener.budget_frame(p["flops_budget"], p["size_factors"], fid)
            .set_index("size_factor")["loss"] for fid in greener.scaling_fits()}
    out = pd.DataFrame(cols)
    out.index = _factor_index(out.index, "model size / compute-optimal size")
    return out


def sizing_energy(p: Mapping[str, Any]) -> pd.DataFrame:
    """Facility energy (kWh, total) to reach the target loss by model size, one column per fit that can reach it
    (NaN where that size never reaches the target under that fit)."""
    cols = {}
    for fid, f in greener.scaling_fits().items():
        if p["target_loss"] <= f.E:
            continue
        sf = greener.sizing_frame(p["target_loss"], p["size_factors"], f, **job(p))
        cols[FIT_SHORT.get(fid, fid)] = sf.set_index("size_factor")["facility_energy_kwh"]
    out = pd.DataFrame(cols)
    out.index = _factor_index(out.index, "model size / loss-optimal size")
    return out


def training_levers(lv: pd.DataFrame) -> pd.DataFrame:
    """The training levers only (no baseline, no serving rows)."""
    return lv[~lv["lever"].isin(("baseline", *SERVING_ROWS))].reset_index(drop=True)


def savings_by_basis(lv: pd.DataFrame) -> pd.DataFrame:
    """Training energy saved (kWh) per lever, in an arithmetic column and a claim-dependent column."""
    t = training_levers(lv)
    arith = t["basis"] == greener.ARITHMETIC
    out = pd.DataFrame({"arithmetic (FLOPs removed)": np.where(arith, t["saved_facility_energy_kwh"], np.nan),
                        "depends on a quality claim": np.where(arith, np.nan, t["saved_facility_energy_kwh"])},
                       index=pd.Index(t["lever"].to_numpy(), name="lever"))
    return out


# --------------------------------------------------------------------------- figure descriptions

def budget_loss_alt(frame: pd.DataFrame) -> str:
    parts = [f"{fit}: from {fmt.number(col.min())} to {fmt.number(col.max())} nats per token"
             for fit, col in frame.items()]
    return (f"Line chart of the loss each scaling-law fit predicts at a fixed FLOP budget for models "
            f"{frame.index[0]} to {frame.index[-1]} the compute-optimal size; " + "; ".join(parts) + ".")


def sizing_energy_alt(frame: pd.DataFrame) -> str:
    parts = [f"{fit}: {fmt.quantity(col.min(), 'kWh')} at the cheapest size, up to {fmt.quantity(col.max(), 'kWh')}"
             for fit, col in frame.items() if col.notna().any()]
    return (f"Line chart of the facility energy needed to reach the target loss for models {frame.index[0]} to "
            f"{frame.index[-1]} the loss-optimal size, one line per fit; " + "; ".join(parts) + ".")


def savings_alt(frame: pd.DataFrame) -> str:
    total = frame.fillna(0.0).sum(axis=1)
    parts = [f"{lever} {_kwh(v)}" for lever, v in total.items()]
    return ("Horizontal bar chart of the training energy each lever saves, coloured by whether the saving is "
            "arithmetic or depends on a quality claim: " + ", ".join(parts) + ".")


# --------------------------------------------------------------------------- finding

def _worst_and_best(sz: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    worst = sz.loc[sz["extra_energy_pct"].idxmax()]
    best = sz.loc[np.isclose(sz["size_factor"], 1.0)].iloc[0]
    return worst, best


def _lever_extremes(lv: pd.DataFrame):
    t = training_levers(lv)
    arith = t[t["basis"] == greener.ARITHMETIC]
    claims = t[(t["basis"] != greener.ARITHMETIC) & (t["lever"] != "all training levers combined")]
    a_best = arith.loc[arith["saved_energy_pct"].idxmax()] if len(arith) else None
    c_best = claims.loc[claims["saved_energy_pct"].idxmax()] if len(claims) else None
    return a_best, c_best


def _kwh(v: float) -> str:
    """Energy in kWh, the unit of every table on the page (so prose and table show the same figure)."""
    return f"{fmt.number(v)} kWh"


def _kg(v: float) -> str:
    return f"{fmt.number(v)} kg CO2e"


def _pct(v: float) -> str:
    return f"{fmt.number(v)}%"


def finding(p: Mapping[str, Any], sz: pd.DataFrame, lv: pd.DataFrame) -> tuple[str, list[tuple[str, str, str]]]:
    """The answer first: the cost of a mis-sized model and what the levers save, with 3-4 key-figure tiles."""
    worst, best = _worst_and_best(sz)
    a_best, _ = _lever_extremes(lv)
    comb = lv.set_index("lever").loc["all training levers combined"]
    arith_pct = float(a_best["saved_energy_pct"]) if a_best is not None else 0.0
    headline = (
        f"Reaching a loss of {fmt.number(p['target_loss'])} with a model {fmt.number(worst['size_factor'])}× the "
        f"loss-optimal size takes {_pct(worst['extra_energy_pct'])} more energy "
        f"({_kwh(worst['extra_facility_energy_kwh'])} extra). Levers that only remove FLOPs save up to "
        f"{_pct(arith_pct)} of a training run; all training levers together would save "
        f"{_pct(comb['saved_energy_pct'])}, but only if the cited quality claims carry over to this model.")
    tiles = [
        ("Loss-optimal model size", f"{fmt.count(best['params'])} parameters",
         f"{_kwh(best['facility_energy_kwh'])} in total to reach loss {fmt.number(p['target_loss'])}"),
        (f"Extra energy at {fmt.number(worst['size_factor'])}× that size", _pct(worst["extra_energy_pct"]),
         f"{_kwh(worst['extra_facility_energy_kwh'])} extra"),
        ("Best FLOPs-only lever", _pct(arith_pct), a_best["lever"] if a_best is not None else "none"),
        ("All training levers combined", _pct(comb["saved_energy_pct"]), "if the cited claims hold and compose"),
    ]
    return headline, tiles


# --------------------------------------------------------------------------- section prose

def _job_words(p: Mapping[str, Any]) -> str:
    return (f"{p['count']} × {data.accelerator(p['accelerator']).name} in {data.region(p['region']).name}")


def allocation_md(p: Mapping[str, Any], alloc: pd.DataFrame) -> str:
    f = greener.scaling_fit(p["fit"])
    opt = greener.compute_optimal(p["flops_budget"], f)
    rule_row = alloc[alloc["fit_id"] == ""].iloc[0]
    dl = float(rule_row["loss"]) - opt["loss"]
    return (
        f"A budget of {fmt.number(p['flops_budget'])} FLOPs ({_kwh(alloc['facility_energy_kwh'].iloc[0])} "
        f"on {_job_words(p)}, whatever the split) is best spent, by {FIT_NAMES.get(f.fit_id, f.fit_id)}, on "
        f"{fmt.count(opt['params'])} parameters and {fmt.count(opt['tokens'])} tokens "
        f"({fmt.number(opt['tokens_per_param'])} tokens per parameter). The "
        f"{fmt.number(rule_row['tokens_per_param'])}-tokens-per-parameter rule gives {fmt.count(rule_row['params'])} "
        f"parameters, which that fit says ends {fmt.number(abs(dl))} nats {'higher' if dl >= 0 else 'lower'} in loss. "
        "The two published fits disagree about the ratio, so the split is only as good as the fit.")


def sizing_md(p: Mapping[str, Any], sz: pd.DataFrame) -> str:
    """The same-loss comparison in words: totals as the table's total columns, the extra as its extra column."""
    worst, best = _worst_and_best(sz)
    text = (
        f"Reaching a loss of {fmt.number(p['target_loss'])} costs least with {fmt.count(best['params'])} parameters: "
        f"{_kwh(best['facility_energy_kwh'])}, {_kg(best['emissions_kg'])} and "
        f"{fmt.money(best['electricity_cost_usd'])} of electricity in total. A model {fmt.number(worst['size_factor'])}× "
        f"that size needs {_kwh(worst['facility_energy_kwh'])}, "
        f"{_kg(worst['emissions_kg'])} and {fmt.money(worst['electricity_cost_usd'])} in total: "
        f"{_kwh(worst['extra_facility_energy_kwh'])} ({_pct(worst['extra_energy_pct'])}) extra energy.")
    unreachable = sz.attrs.get("unreachable") or []
    if unreachable:
        text += (f" {len(unreachable)} of the sizes asked for can never reach this loss under the fit and are left "
                 "out.")
    return text


def levers_md(lv: pd.DataFrame) -> str:
    a_best, c_best = _lever_extremes(lv)
    t = lv.set_index("lever")
    parts = []
    if a_best is not None:
        parts.append(f"Of the levers whose saving is plain arithmetic, {a_best['lever']} saves the most: "
                     f"{_kwh(a_best['saved_facility_energy_kwh'])} saved "
                     f"({_pct(a_best['saved_energy_pct'])} of the run).")
    if c_best is not None:
        study = greener.CLAIM_STUDY.get(c_best["claim_source_id"], c_best["claim_source_id"])
        parts.append(f"The largest claim-dependent saving is {c_best['lever']}: "
                     f"{_kwh(c_best['saved_facility_energy_kwh'])} saved "
                     f"({_pct(c_best['saved_energy_pct'])}), valid only if the cited result ({study}) carries over "
                     "to this model.")
    comb = t.loc["all training levers combined"]
    parts.append(f"Taken together the training levers would cut the run from "
                 f"{_kwh(t.loc['baseline', 'facility_energy_kwh'])} to "
                 f"{_kwh(comb['facility_energy_kwh'])} in total "
                 f"({_pct(comb['saved_energy_pct'])} less), if their effects compose.")
    return " ".join(parts)


def deployment_md(p: Mapping[str, Any], lv: pd.DataFrame) -> str:
    """The distilled model for deployment, net of its distillation run (empty when not asked for)."""
    t = lv.set_index("lever")
    if "serving: distilled student" not in t.index:
        return "No distilled model was asked for (student_params, deployment_tokens and distill_tokens are None)."
    st = t.loc["serving: distilled student"]
    be = greener.distillation_break_even_tokens(params=p["params"], student_params=p["student_params"],
                                                distill_tokens=p["distill_tokens"])
    verdict = "pays back" if st["saved_facility_energy_kwh"] > 0 else "does not pay back"
    q = greener.claim("distilbert_glue")
    return (f"Serving {fmt.count(p['deployment_tokens'])} tokens with a {fmt.count(p['student_params'])}-parameter "
            f"distilled model instead of the {fmt.count(p['params'])}-parameter one saves "
            f"{_kwh(st['saved_facility_energy_kwh'])} net of the distillation run, which {verdict} after "
            f"{fmt.count(be)} served tokens (FLOP basis). The quality cost is the cited DistilBERT result "
            f"({fmt.percent(q['value'])} of the teacher's GLUE score), not a measurement of this model.")


# --------------------------------------------------------------------------- tables

def allocation_table(alloc: pd.DataFrame) -> tables.Table:
    t = alloc.assign(split=[f"compute-optimal by {FIT_NAMES.get(f, f)}" if f else a
                            for a, f in zip(alloc["allocation"], alloc["fit_id"], strict=True)])
    return tables.table(t, {"split": "Split of the budget", "params": "Parameters", "tokens": "Tokens",
                            "tokens_per_param": "Tokens per parameter",
                            "loss": fmt.header("Predicted loss", "nats/token"),
                            "facility_energy_kwh": fmt.header("Energy, total", "kWh"),
                            "emissions_kg": fmt.header("Emissions, total", "kg CO2e"),
                            "electricity_cost_usd": fmt.header("Electricity, total", "USD")},
                        caption="Splitting the FLOP budget: each fit's optimum and the tokens-per-parameter rule "
                                f"(loss predicted by {FIT_NAMES.get(alloc.attrs.get('fit', ''), 'the chosen fit')}; "
                                "every split costs the same: same FLOPs)")


SIZING_COLUMNS = {
    "size_factor": "Model size (× loss-optimal)",
    "params": "Parameters",
    "tokens": "Tokens",
    "tokens_per_param": "Tokens per parameter",
    "facility_energy_kwh": fmt.header("Energy, total", "kWh"),
    "extra_facility_energy_kwh": fmt.header("Extra energy over loss-optimal", "kWh"),
    "extra_energy_pct": fmt.header("Extra energy", "%"),
    "emissions_kg": fmt.header("Emissions, total", "kg CO2e"),
    "electricity_cost_usd": fmt.header("Electricity, total", "USD"),
}


def sizing_table(sz: pd.DataFrame) -> tables.Table:
    """Same loss, different sizes: totals and the extra over the loss-optimal size, each labelled as such."""
    return tables.table(sz, SIZING_COLUMNS, caption=f"Same loss, different sizes ({FIT_NAMES.get(sz.attrs.get('fit'), 'chosen fit')})")


LEVER_COLUMNS = {
    "lever": "Lever",
    "basis": "Basis of the saving",
    "tokens": "Tokens",
    "facility_energy_kwh": fmt.header("Energy, total", "kWh"),
    "saved_facility_energy_kwh": fmt.header("Energy saved", "kWh"),
    "saved_energy_pct": fmt.header("Energy saved", "%"),
    "saved_emissions_kg": fmt.header("Emissions saved", "kg CO2e"),
    "saved_electricity_cost_usd": fmt.header("Electricity saved", "USD"),
    "saved_cloud_cost_usd": fmt.header("Cloud rental saved", "USD"),
    "note": "Note",
}


def levers_table(lv: pd.DataFrame) -> tables.Table:
    """Each lever's total energy after the lever and what it saves against the baseline (or, for the distilled
    model, against serving with the teacher, net of the distillation run)."""
    t = lv.copy()
    t["basis"] = [b if b else ("reference" if lev == "baseline" else "") for b, lev in zip(t["basis"], t["lever"],
                                                                                          strict=True)]
    return tables.table(t, LEVER_COLUMNS, kinds={"note": "text", "basis": "text"},
                        caption="Energy, emissions and cost saved per lever (serving rows: over the model's deployed "
                                "life)",
                        notes=[f"{fmt.MISSING}: not applicable (the teacher's serving and the distillation run are "
                               "the distilled model's reference and cost)."])


def claims_table() -> tables.Table:
    t = greener.claims_table()
    t = t[t["lever"] != "federated_convergence"].copy()
    titles = tables.source_titles(t["source_id"])
    t["study"] = [greener.CLAIM_STUDY.get(s, titles.get(s, s)) for s in t["source_id"]]
    t["value_shown"] = [fmt.number(v) if not fmt.is_missing(v) else fmt.MISSING
                        for v in pd.to_numeric(t["value"], errors="coerce")]
    t["value_shown"] = [f"{v} ({u})" if v != fmt.MISSING and isinstance(u, str) and u else v
                        for v, u in zip(t["value_shown"], t["unit"], strict=True)]
    t["lever"] = [CLAIM_LEVERS.get(x, str(x).replace("_", " ")) for x in t["lever"]]
    t["status"] = [STATUS_WORDS.get(x, x) for x in t["status"]]
    return tables.table(t, {"lever": "Lever", "claim": "Claim", "value_shown": "Value", "applies_to": "Shown for",
                            "study": "Study", "status": "How it was checked"},
                        kinds={"value_shown": "text"},
                        caption="Quality claims used, with where they were shown and how the figure was read")


# --------------------------------------------------------------------------- provenance (end of the page)

def assumptions(p: Mapping[str, Any]):
    """The training model's assumptions for the baseline run plus the levers' named inputs."""
    est = training.estimate_training(params=p["params"], tokens=p["tokens"], layers=p["layers"], hidden=p["hidden"],
                                     seq_len=p["seq_len"], **job(p))
    a = est.assumptions
    f = greener.scaling_fit(p["fit"])
    a.add("scaling_fit", FIT_NAMES.get(f.fit_id, f.fit_id), "", f.source_id,
          f"E={f.E:g}, A={f.A:g}, B={f.B:g}, alpha={f.alpha:g}, beta={f.beta:g}")
    for name, cid in (("dedup_fraction", "dedup_c4_near_duplicates"), ("pruning_fraction", "pruning_imagenet_fraction")):
        c = greener.claim(cid)
        given = p.get(name) is not None
        a.add(name, p[name] if given else c["value"], "fraction of tokens", "user" if given else c["source_id"],
              "given" if given else c["claim"], given)
    c = greener.claim("slw_gpt2_tokens")
    a.add("slw_token_reduction_factor", p["slw_token_reduction_factor"], "x fewer tokens", c["source_id"],
          f"claimed range {c['value_low']:g}-{c['value_high']:g} ({c['applies_to']})")
    a.add("serving_flops_per_token", "2 N", "FLOP", "joulebook_assumptions",
          "distilled-model serving priced as batched forward passes at the training MFU: a lower bound")
    return a


def source_ids(p: Mapping[str, Any]) -> list[str]:
    est = training.estimate_training(params=p["params"], tokens=p["tokens"], **job(p))
    return [s for s in dict.fromkeys(greener.sources(p["fit"]) + list(est.source_ids)) if s]


def parameters_table(p: Mapping[str, Any]) -> tables.Table:
    shown = {**p, "fit": FIT_NAMES.get(p["fit"], p["fit"])}
    df = pd.DataFrame({"parameter": list(shown), "value": [tables.parameter_text(k, v) for k, v in shown.items()]})
    return tables.table(df, {"parameter": "Parameter", "value": "Value"}, kinds={"value": "text"},
                        caption=f"Parameters of this run ({fmt.MISSING}: the cited figure is used)")


def assumptions_table(p: Mapping[str, Any]) -> tables.Table:
    return tables.assumptions_table(assumptions(p).to_frame())


def sources_table(p: Mapping[str, Any]) -> tables.Table:
    src = data.sources_for(source_ids(p))
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


# --------------------------------------------------------------------------- metrics

def metrics(p: Mapping[str, Any], alloc: pd.DataFrame, sz: pd.DataFrame, lv: pd.DataFrame) -> dict[str, Any]:
    """metrics.json of the greener-NLP report (the finding's headline and figures, and named numbers)."""
    f = greener.scaling_fit(p["fit"])
    opt = greener.compute_optimal(p["flops_budget"], f)
    worst, best = _worst_and_best(sz)
    a_best, _ = _lever_extremes(lv)
    arith_pct = float(a_best["saved_energy_pct"]) if a_best is not None else 0.0
    t = lv.set_index("lever")
    comb = t.loc["all training levers combined"]
    headline, _ = finding(p, sz, lv)
    out: dict[str, Any] = {
        "title": TITLE,
        "finding": headline,
        "key_figures": [
            {"label": "Loss-optimal model size", "value": round6(best["params"]), "unit": "parameters"},
            {"label": f"Extra energy at {fmt.number(worst['size_factor'])}× size",
             "value": round6(worst["extra_energy_pct"]), "unit": "%"},
            {"label": "Best FLOPs-only lever", "value": round6(arith_pct), "unit": "%"},
            {"label": "All training levers (claims)", "value": round6(comb["saved_energy_pct"]), "unit": "%"},
        ],
        "optimal_params": round6(opt["params"]), "optimal_tokens": round6(opt["tokens"]),
        "optimal_tokens_per_param": round6(opt["tokens_per_param"]), "optimal_loss": round6(opt["loss"]),
        "budget_energy_kwh": round6(alloc["facility_energy_kwh"].iloc[0]),
        "loss_optimal_params": round6(best["params"]),
        "loss_optimal_energy_kwh": round6(best["facility_energy_kwh"]),
        "worst_size_factor": round6(worst["size_factor"]), "worst_extra_energy_pct": round6(worst["extra_energy_pct"]),
        "worst_extra_energy_kwh": round6(worst["extra_facility_energy_kwh"]),
        "worst_energy_kwh": round6(worst["facility_energy_kwh"]),
        "baseline_energy_kwh": round6(t.loc["baseline", "facility_energy_kwh"]),
        "baseline_emissions_kg": round6(t.loc["baseline", "emissions_kg"]),
        "combined_energy_kwh": round6(comb["facility_energy_kwh"]),
        "combined_saved_energy_pct": round6(comb["saved_energy_pct"]),
    }
    for lever, row in t.iterrows():
        if lever in ("baseline", "serving: teacher", "distillation run"):
            continue
        key = lever.replace("serving: ", "").replace(" + ", "_").replace(" ", "_").replace("-", "_")
        out[f"saved_kwh_{key}"] = round6(row["saved_facility_energy_kwh"])
    return out


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What the notebook's last cell writes, computed directly from a complete parameter set."""
    p = check(**dict(parameters))
    return metrics(p, allocation(p), sizing(p), levers(p))
