"""Greener NLP training: compute-optimal sizing and data-efficiency levers, priced by joulebook.models.training.

Scaling law (Hoffmann et al. 2022, Approach 3; refit by Besiroglu et al. 2024), loss in nats per token::

    L(N, D) = E + A / N^alpha + B / D^beta

* Compute-optimal allocation of a FLOP budget C = 6 N D (closed form)::

      N_opt = G (C/6)^(beta/(alpha+beta)),   G = (alpha A / (beta B))^(1/(alpha+beta)),   D_opt = C / (6 N_opt)

* Tokens a model of N parameters needs to reach a target loss L*::

      D(N, L*) = (B / (L* - E - A/N^alpha))^(1/beta)        (unreachable when L* <= E + A/N^alpha)

* The cheapest (N, D) for a target loss satisfies alpha A/N^alpha = beta B/D^beta, so with
  x = (L* - E) / (1 + alpha/beta):  N = (A/x)^(1/alpha),  D = (beta B / (alpha x))^(1/beta).

Data-efficiency levers, each priced with :func:`joulebook.models.training.estimate_training_frame` and labelled
either ``arithmetic (FLOPs removed)`` or ``depends on a quality claim from <study>``:

* deduplication / data pruning: fewer tokens (quality claims: Lee et al. 2022; Sorscher et al. 2022);
* sequence-length warmup: the first tokens are trained at shorter sequences, so the attention term
  6 L s d per token falls (arithmetic); Li et al. 2022 additionally claim fewer tokens for the same quality;
* early stopping: the tokens after the validation plateau are not trained (arithmetic);
* a distilled (smaller) model for deployment: serving FLOPs 2 N per token fall (arithmetic) at a quality
  cost measured by the DistilBERT authors; the distillation run itself is charged against the saving.

Serving is approximated as batched forward passes (2 N FLOPs per token) at the accelerator's training MFU:
a lower bound on energy; decode-bound serving costs more (see the inference report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.validate import array, fraction, number
from joulebook.models import training

ARITHMETIC = "arithmetic (FLOPs removed)"
ENERGY_COLUMNS = ("flops", "accelerator_hours", "facility_energy_kwh", "emissions_kg", "water_l",
                  "electricity_cost_usd", "cloud_cost_usd")
CLAIM_STUDY = {
    "lee_2022_dedup": "Lee et al. 2022",
    "sorscher_2022_pruning": "Sorscher et al. 2022",
    "li_2022_slw": "Li et al. 2022",
    "distilbert_readme": "Sanh et al. 2019 (DistilBERT)",
    "hoffmann_2022_chinchilla": "Hoffmann et al. 2022",
    "besiroglu_2024_replication": "Besiroglu et al. 2024",
}


def claim_basis(source_id: str) -> str:
    """The label of a saving that rests on a study's quality claim."""
    return f"depends on a quality claim from {CLAIM_STUDY.get(source_id, source_id)}"


class UnknownFitError(UnknownNameError):
    kind = "scaling-law fit"


class UnknownClaimError(UnknownNameError):
    kind = "claim"


# --------------------------------------------------------------------------- scaling laws


@dataclass(frozen=True)
class ScalingFit:
    fit_id: str
    fit: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    tokens_per_param_rule: float | None
    source_id: str
    status: str
    note: str = ""

    @property
    def basis(self) -> str:
        return claim_basis(self.source_id)


def scaling_fits() -> dict[str, ScalingFit]:
    df = data.table("scaling_laws")
    out = {}
    for _, r in df.iterrows():
        rule = pd.to_numeric(r.get("tokens_per_param_rule"), errors="coerce")
        out[r["fit_id"]] = ScalingFit(
            r["fit_id"], r["fit"], float(r["loss_irreducible_nats"]), float(r["loss_coef_params"]),
            float(r["loss_coef_tokens"]), float(r["exponent_params"]), float(r["exponent_tokens"]),
            None if pd.isna(rule) else float(rule), r["source_id"], r["status"], str(r.get("note") or ""))
    return out


def scaling_fit(fit: str | ScalingFit = "chinchilla_approach3") -> ScalingFit:
    """A scaling-law fit from ``data/scaling_laws.csv`` (``chinchilla_approach3``, ``epoch_replication_2024``)."""
    if isinstance(fit, ScalingFit):
        return fit
    fits = scaling_fits()
    if fit in fits:
        return fits[fit]
    raise UnknownFitError(str(fit), list(fits), parameter="fit")


def loss(params, tokens, fit="chinchilla_approach3"):
    """Predicted loss (nats/token) for N parameters trained on D tokens (vectorized)."""
    f = scaling_fit(fit)
    n = array("params", params, strictly_positive=True)
    d = array("tokens", tokens, strictly_positive=True)
    out = f.E + f.A / n ** f.alpha + f.B / d ** f.beta
    return float(out) if np.ndim(out) == 0 else out


def compute_optimal(flops_budget, fit="chinchilla_approach3") -> dict[str, Any]:
    """Compute-optimal params, tokens, loss and tokens per parameter for a FLOP budget C = 6 N D."""
    f = scaling_fit(fit)
    c = array("flops_budget", flops_budget, strictly_positive=True)
    g = (f.alpha * f.A / (f.beta * f.B)) ** (1.0 / (f.alpha + f.beta))
    n = g * (c / 6.0) ** (f.beta / (f.alpha + f.beta))
    d = c / (6.0 * n)
    lo = f.E + f.A / n ** f.alpha + f.B / d ** f.beta
    sc = np.ndim(c) == 0
    return {"params": float(n) if sc else n, "tokens": float(d) if sc else d, "loss": float(lo) if sc else lo,
            "tokens_per_param": float(d / n) if sc else d / n}


def rule_allocation(flops_budget, tokens_per_param: float = 20.0) -> dict[str, Any]:
    """Params and tokens of a budget split by a fixed tokens-per-parameter rule (C = 6 N D, D = r N)."""
    c = array("flops_budget", flops_budget, strictly_positive=True)
    r = number("tokens_per_param", tokens_per_param, strictly_positive=True)
    n = np.sqrt(c / (6.0 * r))
    sc = np.ndim(c) == 0
    return {"params": float(n) if sc else n, "tokens": float(r * n) if sc else r * n}


def tokens_for_loss(params, target_loss, fit="chinchilla_approach3"):
    """Tokens needed for N parameters to reach ``target_loss`` (NaN where the model can never reach it)."""
    f = scaling_fit(fit)
    n = array("params", params, strictly_positive=True)
    t = array("target_loss", target_loss, strictly_positive=True)
    gap = t - f.E - f.A / n ** f.alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(gap > 0, (f.B / np.where(gap > 0, gap, 1.0)) ** (1.0 / f.beta), np.nan)
    return float(d) if np.ndim(d) == 0 else d


def optimal_for_loss(target_loss, fit="chinchilla_approach3") -> dict[str, Any]:
    """The (N, D) that reach ``target_loss`` with the fewest FLOPs (closed form)."""
    f = scaling_fit(fit)
    t = array("target_loss", target_loss, strictly_positive=True)
    if (t <= f.E).any():
        raise InputError("target_loss", f"must be above the irreducible loss E = {f.E:g} nats of fit {f.fit_id}")
    x = (t - f.E) / (1.0 + f.alpha / f.beta)
    n = (f.A / x) ** (1.0 / f.alpha)
    d = (f.beta * f.B / (f.alpha * x)) ** (1.0 / f.beta)
    sc = np.ndim(t) == 0
    return {"params": float(n) if sc else n, "tokens": float(d) if sc else d,
            "flops": float(6 * n * d) if sc else 6 * n * d}


def _job(**job) -> dict[str, Any]:
    allowed = {"accelerator", "count", "precision", "region", "mfu", "pue", "node_power_w", "power_w",
               "intensity_g_per_kwh", "price_usd_per_kwh", "cloud_price_usd_per_gpu_hour"}
    for k in job:
        if k not in allowed:
            raise InputError(k, f"unknown training option (one of {', '.join(sorted(allowed))})")
    out = {"accelerator": "h100-sxm", "count": 8, "precision": "bf16", "region": "us-va"}
    out.update({k: v for k, v in job.items() if v is not None})
    return out


def sizing_frame(target_loss: float, size_factors=(0.25, 0.5, 1.0, 2.0, 4.0), fit="chinchilla_approach3",
                 **job) -> pd.DataFrame:
    """Energy of models from under- to over-sized that all reach ``target_loss``.

    ``size_factors`` multiply the loss-optimal parameter count; each model gets the tokens it needs
    (``tokens_for_loss``). Rows whose model cannot reach the target are dropped (listed in ``unreachable``
    in ``frame.attrs``). Priced by ``estimate_training_frame`` with ``job`` (accelerator, count, precision,
    region, mfu ...). Adds extra_energy_kwh / extra_energy_pct over the loss-optimal model.
    """
    f = scaling_fit(fit)
    number("target_loss", target_loss, strictly_positive=True)
    factors = array("size_factors", list(size_factors), strictly_positive=True)
    opt = optimal_for_loss(target_loss, f)
    if not np.any(np.isclose(factors, 1.0)):
        factors = np.sort(np.append(factors, 1.0))
    params = opt["params"] * factors
    tokens = tokens_for_loss(params, np.full(len(params), float(target_loss)), f)
    ok = ~np.isnan(tokens)
    jobs = pd.DataFrame({"size_factor": factors[ok], "params": params[ok], "tokens": tokens[ok]})
    for k, v in _job(**job).items():
        jobs[k] = [v] * len(jobs)
    est = training.estimate_training_frame(jobs)
    est["tokens_per_param"] = est["tokens"] / est["params"]
    est["loss"] = loss(est["params"].to_numpy(), est["tokens"].to_numpy(), f)
    base = est.loc[np.isclose(est["size_factor"], 1.0)].iloc[0]
    for col in ("facility_energy_kwh", "emissions_kg", "electricity_cost_usd"):
        est[f"extra_{col}"] = est[col] - base[col]
    est["extra_energy_pct"] = 100.0 * (est["facility_energy_kwh"] / base["facility_energy_kwh"] - 1.0)
    est["basis"] = f.basis
    est.attrs["unreachable"] = [float(p) for p in params[~ok]]
    est.attrs["fit"] = f.fit_id
    return est


def budget_frame(flops_budget: float, size_factors=(0.25, 0.5, 1.0, 2.0, 4.0), fit="chinchilla_approach3") -> pd.DataFrame:
    """At a fixed FLOP budget: loss of models smaller or larger than compute-optimal (no pricing needed:
    the budget fixes the energy)."""
    f = scaling_fit(fit)
    number("flops_budget", flops_budget, strictly_positive=True)
    factors = array("size_factors", list(size_factors), strictly_positive=True)
    opt = compute_optimal(flops_budget, f)
    n = opt["params"] * factors
    d = flops_budget / (6.0 * n)
    lo = loss(n, d, f)
    return pd.DataFrame({"size_factor": factors, "params": n, "tokens": d, "tokens_per_param": d / n, "loss": lo,
                         "loss_above_optimal": lo - opt["loss"]})


# --------------------------------------------------------------------------- data-efficiency levers


def claim(claim_id: str) -> dict[str, Any]:
    """A row of ``data/data_efficiency_claims.csv`` as a dict (values as floats or None)."""
    df = data.table("data_efficiency_claims")
    hit = df[df["claim_id"] == claim_id]
    if hit.empty:
        raise UnknownClaimError(claim_id, list(df["claim_id"]), parameter="claim_id")
    r = hit.iloc[0].to_dict()
    for k in ("value_low", "value", "value_high"):
        v = pd.to_numeric(r.get(k), errors="coerce")
        r[k] = None if pd.isna(v) else float(v)
    return r


def claims_table() -> pd.DataFrame:
    return data.table("data_efficiency_claims")


def warmup_mean_seq_len(start_seq_len: float, seq_len: float) -> float:
    """Token-weighted mean sequence length of a linear warmup from ``start_seq_len`` to ``seq_len``.

    With a fixed number of sequences per step, a step at length s carries s tokens per sequence, so the
    token-weighted mean is E[s^2] / E[s] = 2 (a^2 + a b + b^2) / (3 (a + b)).
    """
    a = number("slw_start_seq_len", start_seq_len, strictly_positive=True)
    b = number("seq_len", seq_len, strictly_positive=True)
    if a > b:
        raise InputError("slw_start_seq_len", f"must be <= seq_len ({b:g}), got {a:g}")
    return 2.0 * (a * a + a * b + b * b) / (3.0 * (a + b))


def levers_frame(*, params: float, tokens: float, layers: int, hidden: int, seq_len: int,
                 dedup_fraction: float | None = None, pruning_fraction: float | None = None,
                 slw_warmup_fraction: float = 0.0, slw_start_seq_len: float | None = None,
                 slw_token_reduction_factor: float = 1.0, early_stop_fraction: float = 1.0,
                 student_params: float | None = None, deployment_tokens: float | None = None,
                 distill_tokens: float | None = None, **job) -> pd.DataFrame:
    """One row per lever with its tokens, FLOPs, energy, emissions, water and cost, and what it saves.

    ``dedup_fraction`` / ``pruning_fraction``: share of training tokens removed (default: the cited
    claims' figures). ``slw_warmup_fraction``: share of the tokens trained during the sequence-length
    warmup, which ramps linearly from ``slw_start_seq_len`` to ``seq_len``. ``slw_token_reduction_factor``:
    a claimed token reduction (Li et al. report up to 2.2x; 1 = none). ``early_stop_fraction``: share of the
    planned tokens trained before the validation plateau stops the run. ``student_params``,
    ``deployment_tokens`` (tokens served over the model's life) and ``distill_tokens`` (tokens of the
    distillation run) price a distilled model for deployment.

    Columns: lever, basis (arithmetic or a claim), claim_source_id, tokens, <ENERGY_COLUMNS> (+ _low/_high
    for energy, emissions and cost), saved_<column> (baseline minus lever; for distillation: teacher
    serving minus student serving minus the distillation run), saved_energy_pct.
    """
    n = number("params", params, strictly_positive=True)
    d = number("tokens", tokens, strictly_positive=True)
    L = number("layers", layers, strictly_positive=True, integer=True)
    h = number("hidden", hidden, strictly_positive=True, integer=True)
    s = number("seq_len", seq_len, strictly_positive=True)
    if dedup_fraction is None:
        dedup_fraction = claim("dedup_c4_near_duplicates")["value"]
    if pruning_fraction is None:
        pruning_fraction = claim("pruning_imagenet_fraction")["value"]
    fd = fraction("dedup_fraction", dedup_fraction, allow_zero=True)
    fp = fraction("pruning_fraction", pruning_fraction, allow_zero=True)
    if fd >= 1 or fp >= 1:
        raise InputError("dedup_fraction" if fd >= 1 else "pruning_fraction", "must be < 1 (some tokens must remain)")
    w = fraction("slw_warmup_fraction", slw_warmup_fraction, allow_zero=True)
    r = number("slw_token_reduction_factor", slw_token_reduction_factor, minimum=1.0)
    e = fraction("early_stop_fraction", early_stop_fraction)
    s0 = s if slw_start_seq_len is None else slw_start_seq_len
    s_warm = warmup_mean_seq_len(s0, s)
    base_job = _job(**job)

    phases: list[dict[str, Any]] = []

    def add(lever: str, n_: float, d_: float, seq: float | None, arch: bool = True, real_tokens: float | None = None):
        row = {"lever": lever, "params": n_, "tokens": d_, "lever_tokens": d_ if real_tokens is None else real_tokens}
        if arch:
            row.update(layers=L, hidden=h, seq_len=seq)
        phases.append(row)

    def train(lever: str, toks: float, warm: float = 0.0):
        if warm > 0:
            add(lever, n, toks * warm, s_warm)
            add(lever, n, toks * (1.0 - warm), s)
        else:
            add(lever, n, toks, s)

    rows: list[tuple[str, str, str, str]] = []  # lever, basis, claim source, note
    train("baseline", d)
    rows.append(("baseline", "", "", f"{fmt.count(n)} parameters on {fmt.count(d)} tokens at sequence length {s:,.0f}"))
    train("deduplication", d * (1 - fd))
    rows.append(("deduplication", claim_basis("lee_2022_dedup"), "lee_2022_dedup",
                 f"{fmt.percent(fd)} of tokens removed; Lee et al. report the same or better accuracy in fewer steps"))
    train("data pruning", d * (1 - fp))
    rows.append(("data pruning", claim_basis("sorscher_2022_pruning"), "sorscher_2022_pruning",
                 f"{fmt.percent(fp)} of examples removed; the no-loss claim was shown on ImageNet (vision), not for LMs"))
    if w > 0:
        train("sequence-length warmup", d, w)
        rows.append(("sequence-length warmup", ARITHMETIC, "li_2022_slw",
                     f"first {fmt.percent(w)} of tokens at a mean length of {fmt.number(s_warm)} instead of {fmt.number(s)}: attention "
                     "FLOPs removed at equal tokens"))
        if r > 1:
            train("sequence-length warmup + claimed token cut", d / r, w)
            rows.append(("sequence-length warmup + claimed token cut", claim_basis("li_2022_slw"), "li_2022_slw",
                         f"tokens divided by {fmt.number(r)} (Li et al.: up to 2.2x for GPT-2 at the same or better zero-shot)"))
    if e < 1:
        train("early stopping", d * e)
        rows.append(("early stopping", ARITHMETIC, "",
                     f"stops after {fmt.percent(e)} of the planned tokens; valid only if your validation loss has plateaued"))
    combined = d * (1 - fd) * (1 - fp) * e / r
    train("all training levers combined", combined, w)
    rows.append(("all training levers combined", "depends on quality claims (and on the levers composing, "
                 "which no cited study shows)", "", f"{fmt.count(combined)} tokens"))
    distill = student_params is not None or deployment_tokens is not None or distill_tokens is not None
    if distill:
        if student_params is None or deployment_tokens is None or distill_tokens is None:
            missing = [k for k, v in (("student_params", student_params), ("deployment_tokens", deployment_tokens),
                                      ("distill_tokens", distill_tokens)) if v is None][0]
            raise InputError(missing, "student_params, deployment_tokens and distill_tokens go together")
        ns = number("student_params", student_params, strictly_positive=True)
        if ns >= n:
            raise InputError("student_params", f"must be smaller than params ({fmt.number(n)}), got {fmt.number(ns)}")
        t_dep = number("deployment_tokens", deployment_tokens, strictly_positive=True)
        t_dis = number("distill_tokens", distill_tokens, strictly_positive=True)
        # serving: 2 N FLOPs per token == training formula 6 N (T / 3)
        add("serving: teacher", n, t_dep / 3.0, None, arch=False, real_tokens=t_dep)
        add("serving: distilled student", ns, t_dep / 3.0, None, arch=False, real_tokens=t_dep)
        add("distillation run", ns, t_dis, None, arch=False)
        # teacher forward passes for the soft labels (2 N_t per token); no extra tokens
        add("distillation run", n, t_dis / 3.0, None, arch=False, real_tokens=0.0)
        q = claim("distilbert_glue")
        rows.append(("serving: teacher", "", "", f"{fmt.count(t_dep)} tokens served by the {fmt.count(n)}-parameter model"))
        rows.append(("serving: distilled student", claim_basis("distilbert_readme"), "distilbert_readme",
                     f"{fmt.count(ns)} parameters; DistilBERT kept {fmt.percent(q['value'])} of its teacher's GLUE score at "
                     "60% of the size"))
        rows.append(("distillation run", "cost of the lever", "",
                     f"student trained on {fmt.count(t_dis)} tokens plus teacher forward passes"))
    jobs = pd.DataFrame(phases)
    for k, v in base_job.items():
        jobs[k] = [v] * len(jobs)
    est = training.estimate_training_frame(jobs)
    cols = [c for c in est.columns if any(c == k or c == f"{k}_low" or c == f"{k}_high" for k in ENERGY_COLUMNS)]
    agg = est.groupby("lever", sort=False)[["lever_tokens", *cols]].sum().rename(columns={"lever_tokens": "tokens"})
    meta = pd.DataFrame(rows, columns=["lever", "basis", "claim_source_id", "note"]).set_index("lever")
    out = meta.join(agg, how="left").reset_index()
    base = out.loc[out["lever"] == "baseline"].iloc[0]
    for k in ("flops", "facility_energy_kwh", "emissions_kg", "water_l", "electricity_cost_usd", "cloud_cost_usd"):
        out[f"saved_{k}"] = base[k] - out[k]
    if distill:
        t = out.set_index("lever")
        for k in ("flops", "facility_energy_kwh", "emissions_kg", "water_l", "electricity_cost_usd", "cloud_cost_usd"):
            net = t.loc["serving: teacher", k] - t.loc["serving: distilled student", k] - t.loc["distillation run", k]
            out.loc[out["lever"] == "serving: distilled student", f"saved_{k}"] = net
            out.loc[out["lever"].isin(["serving: teacher", "distillation run"]), f"saved_{k}"] = np.nan
    ref = np.where(out["lever"] == "serving: distilled student",
                   float(out.loc[out["lever"] == "serving: teacher", "facility_energy_kwh"].iloc[0]) if distill else np.nan,
                   float(base["facility_energy_kwh"]))
    out["saved_energy_pct"] = 100.0 * out["saved_facility_energy_kwh"] / ref
    out.loc[out["lever"] == "baseline", "saved_energy_pct"] = 0.0
    return out


def distillation_break_even_tokens(*, params: float, student_params: float, distill_tokens: float) -> float:
    """Tokens that must be served before a distilled student pays back its distillation run (FLOP basis).

    Saving per served token 2 (N_t - N_s); cost 6 N_s D_d + 2 N_t D_d. Same accelerator and MFU assumed.
    """
    nt = number("params", params, strictly_positive=True)
    ns = number("student_params", student_params, strictly_positive=True)
    dd = number("distill_tokens", distill_tokens, strictly_positive=True)
    if ns >= nt:
        raise InputError("student_params", f"must be smaller than params ({nt:g}), got {ns:g}")
    return (6.0 * ns * dd + 2.0 * nt * dd) / (2.0 * (nt - ns))


def sources(fit: str = "chinchilla_approach3") -> list[str]:
    """Source ids behind the greener-NLP models (for the provenance block)."""
    f = scaling_fit(fit)
    ids = [f.source_id, "hoffmann_2022_chinchilla", "besiroglu_2024_replication"]
    claims = claims_table()
    ids += list(claims.loc[claims["lever"] != "federated_convergence", "source_id"])
    return list(dict.fromkeys(ids))


def allocation_frame(flops_budget: float, fit="chinchilla_approach3", **job) -> pd.DataFrame:
    """How each fit (and the tokens-per-parameter rule) splits a FLOP budget, the loss the chosen fit
    predicts for each split (``loss``), and what the budget costs (the same for every split: same FLOPs).

    Columns: allocation, fit_id (empty for the rule), params, tokens, tokens_per_param, loss, source_id,
    facility_energy_kwh, emissions_kg, electricity_cost_usd.
    """
    f = scaling_fit(fit)
    number("flops_budget", flops_budget, strictly_positive=True)
    rows = []
    fits = scaling_fits()
    for fid, g in fits.items():
        o = compute_optimal(flops_budget, g)
        rows.append({"allocation": "compute-optimal", "fit_id": fid, "params": o["params"], "tokens": o["tokens"],
                     "source_id": g.source_id})
    rule = next((g.tokens_per_param_rule for g in fits.values() if g.tokens_per_param_rule), 20.0)
    r = rule_allocation(flops_budget, rule)
    rows.append({"allocation": f"{rule:g} tokens per parameter rule", "fit_id": "", "params": r["params"],
                 "tokens": r["tokens"], "source_id": "hoffmann_2022_chinchilla"})
    t = pd.DataFrame(rows)
    t["tokens_per_param"] = t["tokens"] / t["params"]
    t["loss"] = loss(t["params"].to_numpy(), t["tokens"].to_numpy(), f)
    jobs = t[["params", "tokens"]].copy()
    for k, v in _job(**job).items():
        jobs[k] = [v] * len(jobs)
    est = training.estimate_training_frame(jobs)
    for col in ("facility_energy_kwh", "emissions_kg", "electricity_cost_usd"):
        t[col] = est[col].to_numpy()
    t.attrs["fit"] = f.fit_id
    return t
