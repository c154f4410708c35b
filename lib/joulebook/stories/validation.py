"""The model validation report (notebooks/90_model_validation.ipynb): predicted against measured.

The computation lives in :mod:`joulebook.models.modelcheck` (cases, mappings, ratios, summaries); this module
turns it into the page: :func:`check` validates the notebook's parameters, :func:`run` evaluates every case,
:func:`finding` writes the answer first, the ``*_table`` functions return reader tables (names, units in the
headers, 3 significant figures), :func:`parity_figure` draws model against measured and :func:`metrics` is what
``metrics.json`` holds (:func:`metrics_for` computes it straight from a parameter dict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.display import plots, tables
from joulebook.models import modelcheck, presets
from joulebook.models.modelcheck import FAMILY_TITLES, ROLES, STATUS_OK, Validation

PARAMETERS = ("families", "roles", "band")
"""The notebook's parameters (their defaults live in its parameters cell)."""

TITLE = "Model validation: predicted against measured"

# quantity -> (what it is, unit) for axes and tables; a quantity not listed shows its id and the data's unit
QUANTITIES = {
    "power_w": ("Power", "W"),
    "step_ms": ("Time per token step", "ms"),
    "energy_per_step_j": ("Energy per training step", "J"),
    "step_time_s": ("Training step time", "s"),
    "gpu_energy_j_per_output_token": ("GPU energy per output token", "J"),
    "itl_ms": ("Inter-token latency", "ms"),
    "energy_wh_per_request": ("Energy per request", "Wh"),
    "accelerator_hours": ("Accelerator-hours", "GPU-h"),
    "facility_energy_kwh": ("Facility energy", "kWh"),
}
ROLE_NAMES = {"fit": "fit (model fitted on it)", "check": "check (kept back)"}


def check(families: Any = None, roles: Any = None, band: Any = None, **unknown: Any) -> dict[str, Any]:
    """The notebook's parameters, checked: families and roles as lists in display order, band a factor above 1.

    An empty ``families`` list means every family of ``data/validation``. Raises :class:`InputError` (or an
    :class:`UnknownNameError` with close matches) naming the parameter.
    """
    if unknown:
        raise UnknownNameError(sorted(unknown)[0], PARAMETERS, parameter="parameters")
    for name, value in (("families", families), ("roles", roles)):
        if not isinstance(value, (list, tuple)):
            raise InputError(name, f"give a list, e.g. {['training_runs'] if name == 'families' else ['check']}, "
                                   f"got {value!r}")
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 1.0 < float(band) <= 10.0:
        raise InputError("band", f"a factor above 1 (e.g. 1.25), got {band!r}")
    return {"families": modelcheck.check_families(families), "roles": modelcheck.check_roles(roles),
            "band": float(band)}


def run(plan: Mapping[str, Any]) -> Validation:
    """Every chosen case against the model, summarised (fit and check apart) with the plan's band."""
    return modelcheck.validate(plan["families"], plan["roles"], band=plan["band"])


# --------------------------------------------------------------------------- the finding

def _row(v: Validation, family: str, role: str) -> dict[str, Any] | None:
    s = v.summary[(v.summary["family"] == family) & (v.summary["role"] == role)]
    return None if s.empty else s.iloc[0].to_dict()


def _evaluated(v: Validation) -> pd.DataFrame:
    return v.cases[v.cases["status"] == STATUS_OK]


def finding(v: Validation) -> tuple[str, list[tuple[str, str, str]]]:
    """The answer first: how many measurements the model's range covers, and the median miss by role."""
    ok = _evaluated(v)
    if ok.empty:
        return "No validation case could be evaluated with this build.", [
            ("Cases", fmt.number(len(v.cases)), "none evaluable")]
    covered = int(ok["covered"].astype(bool).sum())
    misses = []
    tiles: list[tuple[str, str, str]] = [
        ("Inside the model's low–high range", fmt.percent(covered / len(ok)), f"{covered} of {len(ok)} measurements")]
    for role, what in (("fit", "cases the model was fitted on"), ("check", "cases kept back")):
        r = _row(v, "all", role)
        if r is None or not r["n_evaluated"]:
            continue
        misses.append(f"{fmt.ratio(r['median_factor'])} on {role} cases")
        tiles.append((f"Median miss, {role} cases", fmt.ratio(r["median_factor"]), f"{r['n_evaluated']} {what}"))
    chk = _row(v, "all", "check")
    if chk is not None and chk["n_evaluated"]:
        tiles.append(("Worst miss, check cases", fmt.ratio(chk["worst_factor"]), chk["worst_case"]))
    headline = (f"The model's low–high range covers {covered} of {len(ok)} measurements "
                f"({fmt.percent(covered / len(ok))}); median miss {fmt.listing(misses)}.")
    not_evaluable = len(v.cases) - len(ok)
    if not_evaluable:
        headline += f" {not_evaluable} case{'s' if not_evaluable != 1 else ''} cannot be expressed by this build yet."
    return headline, tiles


def _direction(r: Mapping[str, Any]) -> str:
    """In which direction a group of cases errs: high, low, or both ways (share of ratios above 1)."""
    if r["median_abs_ln_ratio"] <= 0.02:
        return "on target"
    if r["share_high"] >= 0.8:
        return "the model runs high"
    if r["share_high"] <= 0.2:
        return "the model runs low"
    return f"the model errs both ways, {fmt.percent(r['share_high'])} of cases high"


def family_text(v: Validation, family: str) -> str:
    """One line per role for a family: how far to trust it (Markdown)."""
    out = [f"**{FAMILY_TITLES.get(family, family)}**"]
    for role in ROLES:
        r = _row(v, family, role)
        if r is None:
            continue
        if not r["n_evaluated"]:
            out.append(f"{role}: {r['n_cases']} case(s), none evaluable in this build.")
            continue
        out.append(f"{role}: {r['n_evaluated']} of {r['n_cases']} evaluated; median miss "
                   f"{fmt.ratio(r['median_factor'])} ({_direction(r)}; median ratio {fmt.number(r['median_ratio'])}), "
                   f"worst {fmt.ratio(r['worst_factor'])}; the low–high range covers {fmt.percent(r['coverage'])}.")
    return "  \n".join(out)


def families_text(v: Validation) -> str:
    """:func:`family_text` for every family of the run, one paragraph each."""
    return "\n\n".join(family_text(v, f) for f in dict.fromkeys(v.cases["family"]))


# --------------------------------------------------------------------------- tables

def _quantity(q: str, unit: str = "") -> tuple[str, str]:
    if q in QUANTITIES:
        return QUANTITIES[q]
    return q.replace("_", " "), unit.split(" ")[0] if unit else ""


def summary_table(v: Validation) -> tables.Table:
    """Per family and role: cases, median and worst miss, direction and coverage."""
    s = v.summary.copy()
    s["family_name"] = [FAMILY_TITLES.get(f, "All families" if f == "all" else f) for f in s["family"]]
    s["worst_case"] = s["worst_case"].replace("", fmt.MISSING)
    return tables.table(s, {
        "family_name": "Family", "role": "Role", "n_evaluated": "Cases evaluated",
        "median_factor": "Median miss (×)", "worst_factor": "Worst miss (×)", "worst_case": "Worst case",
        "median_ratio": "Median ratio (model / measured)", "share_high": "Model high (% of cases)",
        "coverage": "Inside low–high (% of cases)", "within_band": f"Within ×{fmt.number(v.band)} (% of cases)",
    }, kinds={"median_factor": "ratio", "worst_factor": "ratio", "share_high": "percent", "coverage": "percent",
              "within_band": "percent"}, caption="Per family, fit and check cases apart")


def _model_name(row: Mapping[str, Any]) -> str:
    published = row.get("model_id")  # the name the source publishes (e.g. meta-llama/Llama-3.1-70B-Instruct)
    if isinstance(published, str) and published.strip():
        return published.split("/")[-1].replace("-", " ")
    name = row.get("model")
    if isinstance(name, str) and name.strip():
        try:
            return presets.model(name).name
        except UnknownNameError:
            return name
    params = row.get("params")
    return f"{fmt.params(params)}-parameter model" if not fmt.is_missing(params) else "a model"


def describe(row: Mapping[str, Any]) -> str:
    """What a case measured, in words: the published run's name, or model, accelerators, precision and load."""
    run_name = row.get("run")
    if isinstance(run_name, str) and run_name.strip():
        return run_name
    parts = [_model_name(row)]
    acc = row.get("accelerator")
    if isinstance(acc, str) and acc:
        count = row.get("count")
        n = int(count) if not fmt.is_missing(count) and float(count) > 1 else 1
        parts.append(f"on {n} × {tables.accelerator_name(acc)}" if n > 1 else f"on {tables.accelerator_name(acc)}")
    details = []
    if isinstance(row.get("precision"), str) and row["precision"]:
        details.append(row["precision"])
    if row.get("runtime") == "graph_replay":
        details.append("weight streaming")
    elif row.get("runtime") == "eager":
        details.append("eager generate()")
    if not fmt.is_missing(row.get("batch")):
        details.append(f"batch {fmt.number(int(float(row['batch'])))}")
    if not fmt.is_missing(row.get("max_num_seqs")):
        details.append(f"up to {fmt.number(int(float(row['max_num_seqs'])))} requests at once")
    if not fmt.is_missing(row.get("requests")) and not fmt.is_missing(row.get("days")):
        details.append(f"{fmt.count(row['requests'])} requests over {fmt.number(row['days'])} days")
    return " ".join(parts) + (f" ({', '.join(details)})" if details else "")


def cases_table(v: Validation) -> tables.Table:
    """Every case: measured, model central and low–high, the ratio, whether the range covers it, the command."""
    c = v.cases.copy()
    c["family_name"] = [FAMILY_TITLES.get(f, f) for f in c["family"]]
    rows = {r["case_id"]: r for r in modelcheck.cases(v.families, v.roles).to_dict(orient="records")}
    c["measured_what"] = [describe(rows.get(cid, {})) for cid in c["case_id"]]
    named = [_quantity(q, u) for q, u in zip(c["quantity"], c["unit"], strict=True)]
    c["quantity_name"] = [f"{name} ({unit})" if unit else name for name, unit in named]
    c["covered_text"] = [fmt.text(x if fmt.is_missing(x) else bool(x)) for x in c["covered"]]
    c["status_text"] = ["evaluated" if s == STATUS_OK else f"not evaluable: {r}"
                        for s, r in zip(c["status"], c["reason"], strict=True)]
    return tables.table(c, {
        "family_name": "Family", "case_id": "Case", "measured_what": "What was measured", "role": "Role",
        "quantity_name": "Quantity (unit)",
        "measured": "Measured", "model": "Model", "low": "Model low", "high": "Model high",
        "ratio": "Ratio (model / measured)", "covered_text": "Inside low–high", "status_text": "Status",
        "command": "Command",
    }, caption="Model against measured, case by case (values in the quantity's unit)", sortable=True)


def assumptions_table() -> tables.Table:
    """What the case mappings assume where a measurement does not publish an input."""
    a = pd.DataFrame(list(modelcheck.assumptions()))
    a["family_name"] = [FAMILY_TITLES.get(f, f) for f in a["applies_to"]]
    a["value"] = [fmt.text(x) if isinstance(x, str) else fmt.number(x) for x in a["value"]]
    a["unit"] = [u if u else fmt.MISSING for u in a["unit"]]
    return tables.table(a, {"name": "Assumption", "value": "Value", "unit": "Unit", "family_name": "Applies to",
                            "note": "Why"}, caption="Assumptions of the case mappings")


# --------------------------------------------------------------------------- the figure

def _panels(v: Validation) -> list[tuple[str, str]]:
    ok = _evaluated(v)
    return list(dict.fromkeys(zip(ok["family"], ok["quantity"], strict=True)))


def parity_figure(v: Validation):
    """Model against measured on log–log axes, one panel per family and quantity (one unit per axis): y = x, the
    ×band band, low–high bars; circles are fit cases, triangles check cases. The legend sits below the panels."""
    ok = _evaluated(v)
    panels = _panels(v) or [("none", "none")]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plots.figure(nrows, ncols, figsize=(4.3 * ncols, 3.9 * nrows + 0.6), squeeze=False)
    import seaborn as sns

    colours = dict(zip(ROLES, sns.color_palette(plots.PALETTE), strict=False))
    band = v.band
    for ax, (fam, q) in zip(axes.ravel(), panels, strict=False):
        g = ok[(ok["family"] == fam) & (ok["quantity"] == q)]
        for role, marker in (("fit", "o"), ("check", "^")):
            h = g[g["role"] == role]
            if h.empty:
                continue
            lo, hi = h[["low", "high"]].min(axis=1), h[["low", "high"]].max(axis=1)
            err = np.clip(np.vstack([h["model"] - lo, hi - h["model"]]), 0, None)
            ax.errorbar(h["measured"], h["model"], yerr=err, fmt=marker, ms=5, lw=0.8, color=colours[role],
                        alpha=0.85, label=ROLE_NAMES[role])
        vals = pd.concat([g["measured"], g["low"], g["high"], g["model"]]).to_numpy(float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        lo_ax, hi_ax = (vals.min() / 1.6, vals.max() * 1.6) if len(vals) else (0.1, 10.0)
        x = np.geomspace(lo_ax, hi_ax, 50)
        ax.plot(x, x, color="0.3", lw=1, label="model = measured")
        ax.fill_between(x, x / band, x * band, color="0.6", alpha=0.2, label=f"within ×{fmt.number(band)}")
        name, unit = _quantity(q, str(g["unit"].iloc[0]) if len(g) else "")
        ax.set(xscale="log", yscale="log", xlim=(lo_ax, hi_ax), ylim=(lo_ax, hi_ax),
               xlabel=f"measured ({unit})", ylabel=f"model ({unit})")
        for axis in (ax.xaxis, ax.yaxis):
            plots.log_ticks(axis, lo_ax, hi_ax)
        ax.set_title(f"{FAMILY_TITLES.get(fam, fam).split(' (')[0]}\n{name}", fontsize=10)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    handles, labels = {}, {}
    for ax in axes.ravel()[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
            labels.setdefault(lab, lab)
    fig.legend(list(handles.values()), list(labels.values()), loc="lower center", ncol=len(handles),
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    fig.tight_layout(rect=(0, 0.6 / (3.9 * nrows + 0.6), 1, 1))
    return fig


def parity_alt(v: Validation) -> str:
    """The figure's alt text: what it shows, with its main numbers."""
    ok = _evaluated(v)
    covered = int(ok["covered"].astype(bool).sum()) if len(ok) else 0
    return (f"Model against measured on log–log axes in {len(_panels(v))} panels, one per family and quantity: "
            f"{covered} of {len(ok)} measurements lie inside the model's low–high range; points near the diagonal "
            f"are close predictions, the grey band marks ×{fmt.number(v.band)}.")


# --------------------------------------------------------------------------- metrics

def _round(x: Any) -> float | None:
    return None if fmt.is_missing(x) else round(float(x), 6)


def metrics(v: Validation) -> dict[str, Any]:
    """The report's metrics.json: title, the finding, key figures, and per family the miss and coverage."""
    chk, fit = _row(v, "all", "check"), _row(v, "all", "fit")
    main = chk if chk and chk["n_evaluated"] else fit
    label = "check" if main is chk else "fit"
    if main is None or not main["n_evaluated"]:
        kf = [{"label": "cases", "value": int(len(v.cases)), "unit": "cases"},
              {"label": "evaluated", "value": 0, "unit": "cases"}]
    else:
        kf = [{"label": f"median miss ({label} cases)", "value": round(float(main["median_factor"]), 4), "unit": "x"},
              {"label": f"covered by low-high ({label} cases)", "value": round(100 * float(main["coverage"]), 2),
               "unit": "%"},
              {"label": "cases evaluated", "value": int((v.cases["status"] == STATUS_OK).sum()), "unit": "cases"}]
        if fit and fit["n_evaluated"] and main is not fit:
            kf.insert(2, {"label": "median miss (fit cases)", "value": round(float(fit["median_factor"]), 4), "unit": "x"})
    by_family = {f"{r['family']}:{r['role']}": {"n": int(r["n_evaluated"]),
                                                "median_abs_ln_ratio": _round(r["median_abs_ln_ratio"]),
                                                "coverage": _round(r["coverage"])}
                 for r in v.summary.to_dict(orient="records")}
    return {"title": TITLE, "finding": finding(v)[0], "key_figures": kf, "families": list(v.families),
            "roles": list(v.roles), "by_family": by_family,
            "not_evaluable": int((v.cases["status"] != STATUS_OK).sum())}


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What the notebook writes, computed straight from its parameters (every one given: defaults live in it)."""
    return metrics(run(check(**dict(parameters))))
