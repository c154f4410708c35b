"""Story: one reference training job in every region the data knows, ranked by emissions.

Parameters (:func:`check`; their defaults live in the notebook's parameters cell: the same job as
``10_training_energy``), the computed frame (:func:`compare_regions`), the finding and its tiles
(:func:`finding`), the metrics (:func:`metrics`, :func:`metrics_for`) and the display tables and
figure of ``15_region_comparison.ipynb``.

Every region of :func:`joulebook.data.regions` is evaluated at once by the vectorized
:func:`joulebook.models.training.estimate_training_frame` with annual-average grid intensity. Each
row says which of its values are *substituted*, i.e. not a figure for that region
(:func:`substitutions`): a bloc-average or sub-national electricity price, a national grid
intensity for a cloud or grid-zone region, the industry-average PUE and on-site WUE where
the operator has no figure, and the US-average water intensity of electricity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, reject_unknown
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.display import plots, tables
from joulebook.models import training

TITLE = "The same training job in every region"
PARAMETERS = ("params", "tokens", "layers", "hidden", "seq_len", "accelerator", "count", "precision", "mfu", "pue")
"""The notebook's parameters (their defaults live in its parameters cell, once)."""

KIND_NAMES = {"country": "country", "us-zone": "US grid zone", "cloud": "cloud region"}


# --------------------------------------------------------------------------- parameters

def check(**parameters: Any) -> dict[str, Any]:
    """The job's parameters, checked: one clear error naming the parameter at fault.

    Every name of :data:`PARAMETERS` is needed except ``layers``, ``hidden``, ``seq_len``, ``mfu`` and ``pue``
    (missing means None: attention FLOPs left out, the data's MFU, each operator's PUE).
    """
    reject_unknown(parameters, PARAMETERS, otherwise=f"; parameters: {', '.join(PARAMETERS)}")
    for name in ("params", "tokens", "accelerator", "count", "precision"):
        if name not in parameters:
            raise InputError(name, "missing (the notebook's parameters cell gives every parameter)")
    p = {k: parameters.get(k) for k in PARAMETERS}
    out: dict[str, Any] = {}
    out["params"] = number("params", p["params"], strictly_positive=True)
    out["tokens"] = number("tokens", p["tokens"], strictly_positive=True)
    for name in ("layers", "hidden", "seq_len"):
        v = number(name, p[name], strictly_positive=True, integer=True, allow_none=True)
        out[name] = None if v is None else int(v)
    if (out["layers"] is None) != (out["hidden"] is None) or (out["layers"] is None) != (out["seq_len"] is None):
        raise InputError("layers", "give layers, hidden and seq_len together (or all None: attention FLOPs left out)")
    acc = data.accelerator(p["accelerator"])
    out["accelerator"] = acc.accelerator_id
    out["count"] = int(number("count", p["count"], strictly_positive=True, integer=True))
    prec = data.normalise_precision(p["precision"])
    acc.peak(prec)  # raises naming the precision if the accelerator lacks it
    out["precision"] = prec
    out["mfu"] = number("mfu", p["mfu"], strictly_positive=True, maximum=1.0, allow_none=True)
    out["pue"] = number("pue", p["pue"], minimum=1.0, maximum=3.0, allow_none=True)
    return out


def _job(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Checked parameters whether given raw or already checked."""
    return check(**dict(parameters))


# --------------------------------------------------------------------------- substitutions (helper)
# The data records these stand-ins in prose (regions.csv notes, operator_defaults.csv notes, the
# ewif_l_per_kwh assumption note); this helper turns them into one boolean per value and region.

def _price_rows() -> pd.DataFrame:
    prices = data.table("electricity_prices")
    return prices.drop_duplicates("region_id").set_index("region_id")


def substitutions(region_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per region: which of its values are stand-ins rather than figures for that region.

    Columns: ``region``; ``intensity_substituted`` (a national grid average for a cloud region or
    grid zone); ``price_substituted`` (a bloc average such as EU-27, or one state's tariff for a
    whole country); ``price_missing`` (no price row: cost unknown, not zero); ``pue_substituted``
    (industry-average PUE: the operator has no figure); ``wue_substituted`` (industry on-site WUE);
    ``ewif_substituted`` (the US-average water intensity of electricity); ``substituted`` (short text for a
    table cell; the US water factor, a stand-in almost everywhere, is left out of it and said once on the page).
    """
    idx = data.regions()
    ids = list(idx) if region_ids is None else [data.region(r).region_id for r in region_ids]
    meta = data.table("regions").set_index("region_id")
    prices = _price_rows()
    industry_pue, industry_wue = data.operator_defaults("industry")
    ewif_default = data.assumption_row("ewif_l_per_kwh")[:3]
    rows = []
    for rid in ids:
        reg = idx[rid]
        m = meta.loc[rid] if rid in meta.index else None
        intensity_file = m["intensity_file"] if m is not None else "grid_intensity_country.csv"
        intensity_sub = reg.kind != "country" and intensity_file == "grid_intensity_country.csv"
        key = m["price_key"] if m is not None and isinstance(m["price_key"], str) else ""
        price_missing = reg.price_usd_per_kwh is None
        price_sub, price_what = False, ""
        if not price_missing and key in prices.index:
            prow = prices.loc[key]
            iso = prow["country_iso3"] if isinstance(prow["country_iso3"], str) else ""
            if iso != reg.iso3:
                price_sub, price_what = True, f"{prow['region_name']} average"
            elif reg.kind == "country" and "-" in key:
                price_sub, price_what = True, f"{prow['region_name']} for the country"
        pue_sub = reg.operator == "industry"
        wue_sub = tuple(data.operator_defaults(reg.operator)[1]) == tuple(industry_wue)
        ewif_sub = tuple(reg.ewif_l_per_kwh) == tuple(ewif_default) and not (reg.kind == "country" and reg.iso3 == "USA")
        what = []  # short, for a table cell; substitutions_md explains each kind
        if intensity_sub:
            what.append("intensity: national")
        if price_sub:
            what.append(f"price: {price_what}")
        if price_missing:
            what.append("no price")
        if pue_sub:
            what.append("PUE: industry")
        if wue_sub:
            what.append("on-site water: industry")
        # the US-average water of electricity stands in almost everywhere: said once on the page, not per row
        rows.append({"region": rid, "intensity_substituted": intensity_sub, "price_substituted": price_sub,
                     "price_missing": price_missing, "pue_substituted": pue_sub, "wue_substituted": wue_sub,
                     "ewif_substituted": ewif_sub, "substituted": ", ".join(what)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- computed frame

def basis_label(basis: str) -> str:
    """A short name for an intensity basis: ``lifecycle`` or ``operational`` (the cloud provider's published grid
    average counts operational emissions only: Google's region-carbon-info README, "average operational gross
    emissions per unit of energy from the grid")."""
    b = str(basis).lower()
    if "lifecycle" in b:
        return "lifecycle"
    if "provider" in b or "operational" in b or "direct" in b:
        return "operational"
    return str(basis)


def compare_regions(parameters: Mapping[str, Any]) -> pd.DataFrame:
    """The job in every region, ranked by emissions (rank 1 = lowest; ties by region id).

    One row per region with the estimate (central, and low/high emissions), the region's grid
    intensity and its data year, price and its year, the PUE used and the substitution flags.
    A missing price leaves cost NaN (unknown), never 0.
    """
    job = _job(parameters)
    regs = data.regions()
    ids = list(regs)
    row = {k: (np.nan if v is None else v) for k, v in job.items()}
    frame = pd.DataFrame([{**row, "region": r} for r in ids])
    est = training.estimate_training_frame(frame).reset_index(drop=True)
    meta = pd.DataFrame([{
        "region": r.region_id, "name": r.name, "kind": KIND_NAMES.get(r.kind, r.kind), "operator": r.operator,
        "intensity_g_per_kwh": r.intensity_g_per_kwh, "intensity_year": r.intensity_year,
        "intensity_source_id": r.intensity_source_id, "intensity_basis": basis_label(r.intensity_basis),
        "price_usd_per_kwh": np.nan if r.price_usd_per_kwh is None else r.price_usd_per_kwh,
        "price_year": np.nan if r.price_year is None else float(r.price_year), "price_source_id": r.price_source_id or "",
        "pue_used": job["pue"] if job["pue"] is not None else r.pue[1],
    } for r in regs.values()])
    keep = ["accelerator_hours", "wall_clock_hours", "facility_energy_kwh", "emissions_kg", "emissions_kg_low",
            "emissions_kg_high", "electricity_cost_usd", "cloud_cost_usd", "water_l", "embodied_emissions_kg"]
    out = meta.merge(est[["region", *keep]], on="region").merge(substitutions(ids), on="region")
    if job["pue"] is not None:  # a given PUE is the user's figure, not a stand-in
        out["pue_substituted"] = False
    out["water_substituted"] = out["ewif_substituted"] | out["wue_substituted"]
    out = out.sort_values(["emissions_kg", "region"], kind="mergesort").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    # cost and water ranks too (1 = lowest); a region without a price has no cost rank (shown "—", sorted last)
    out["rank_cost"] = out["electricity_cost_usd"].rank(method="min").astype("Int64")
    out["rank_water"] = out["water_l"].rank(method="min").astype("Int64")
    return out


# --------------------------------------------------------------------------- findings

def _job_words(job: Mapping[str, Any]) -> str:
    acc = data.accelerator(job["accelerator"]).name
    return (f"{fmt.count(job['params'])} parameters, {fmt.count(job['tokens'])} tokens on {job['count']} × {acc} "
            f"in {job['precision']}")


def q(v: Any) -> str:
    """Emissions for prose: ``18.1 kg CO2e``, ``6.76 t CO2e``."""
    return fmt.quantity(v, "kg CO2e")


def headline(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> str:
    """The answer in one or two sentences: where the job emits least and most (3 s.f., names).

    Grid intensities come on two bases (lifecycle; the cloud providers' operational figures): a factor between the
    two ends is given only within one basis, the one most regions share, never across bases.
    """
    job = _job(parameters)
    best, worst = frame.iloc[0], frame.iloc[-1]
    if best["intensity_basis"] == worst["intensity_basis"] and frame["intensity_basis"].nunique() == 1:
        factor = worst["emissions_kg"] / best["emissions_kg"] if best["emissions_kg"] > 0 else math.nan
        spread = f"{fmt.ratio(factor)} less than" if math.isfinite(factor) else "against"
        return (f"The same training job ({_job_words(job)}) emits least in {best['name']}: {q(best['emissions_kg'])}, "
                f"{spread} in {worst['name']} ({q(worst['emissions_kg'])}), across {len(frame)} regions.")
    basis = frame["intensity_basis"].value_counts().index[0]
    sub = frame[frame["intensity_basis"] == basis]
    lo, hi = sub.iloc[0], sub.iloc[-1]
    factor = hi["emissions_kg"] / lo["emissions_kg"] if lo["emissions_kg"] > 0 else math.nan
    return (f"Across {len(frame)} regions, the same training job ({_job_words(job)}) emits from "
            f"{q(best['emissions_kg'])} in {best['name']} ({best['intensity_basis']} basis) to "
            f"{q(worst['emissions_kg'])} in {worst['name']} ({worst['intensity_basis']} basis). On the {basis} basis "
            f"of {len(sub)} regions, the least is {q(lo['emissions_kg'])} in {lo['name']}, "
            f"{fmt.ratio(factor)} less than in {hi['name']}.")


def finding(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """(headline, tiles): lowest and highest emissions, the lowest electricity bill and the least water, by name."""
    best, worst = frame.iloc[0], frame.iloc[-1]
    tiles = [("Lowest emissions", fmt.quantity(best["emissions_kg"], "kg CO2e"),
              f"{best['name']} ({fmt.number(best['intensity_g_per_kwh'])} g/kWh, {fmt.year(best['intensity_year'])}, "
              f"{best['intensity_basis']} basis)"),
             (f"Median of {len(frame)} regions", fmt.quantity(frame["emissions_kg"].median(), "kg CO2e"), ""),
             ("Highest emissions", fmt.quantity(worst["emissions_kg"], "kg CO2e"),
              f"{worst['name']} ({fmt.number(worst['intensity_g_per_kwh'])} g/kWh, {fmt.year(worst['intensity_year'])}, "
              f"{worst['intensity_basis']} basis)")]
    priced = frame.dropna(subset=["electricity_cost_usd"])
    if len(priced):
        cheap = priced.loc[priced["electricity_cost_usd"].idxmin()]
        mark = f" {tables.SUBSTITUTED_MARK} substituted price" if cheap["price_substituted"] else ""
        tiles.append(("Lowest electricity bill", fmt.money(cheap["electricity_cost_usd"]),
                      f"{cheap['name']}, {fmt.year(cheap['price_year'])} price{mark}; "
                      f"{len(frame) - len(priced)} regions have no price"))
    dry = frame.loc[frame["water_l"].idxmin()]
    tiles.append(("Least water", fmt.quantity(dry["water_l"], "L"),
                  f"{dry['name']}" + (f" {tables.SUBSTITUTED_MARK} US-average water of electricity"
                                      if dry["water_substituted"] else "")))
    return headline(frame, parameters), tiles


def key_figures(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """3-4 key figures: lowest, median and highest emissions, and the cheapest priced electricity bill."""
    best, worst = frame.iloc[0], frame.iloc[-1]
    figs = [
        {"label": f"lowest emissions ({best['name']})", "value": round6(best["emissions_kg"]), "unit": "kg CO2e"},
        {"label": f"median of {len(frame)} regions", "value": round6(frame["emissions_kg"].median()), "unit": "kg CO2e"},
        {"label": f"highest emissions ({worst['name']})", "value": round6(worst["emissions_kg"]), "unit": "kg CO2e"},
    ]
    priced = frame.dropna(subset=["electricity_cost_usd"])
    if len(priced):
        cheap = priced.loc[priced["electricity_cost_usd"].idxmin()]
        figs.append({"label": f"lowest electricity bill ({cheap['name']})", "value": round6(cheap["electricity_cost_usd"]),
                     "unit": "USD"})
    return figs


def summary_md(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> str:
    """What is equal everywhere, what changes, and the spread of cost and water (the finding is shown above it)."""
    first = frame.iloc[0]
    n = len(frame)
    priced = frame.dropna(subset=["electricity_cost_usd"])
    parts = []
    parts.append(
        f"Every region runs the same {fmt.number(first['accelerator_hours'])} accelerator-hours "
        f"({fmt.number(first['wall_clock_hours'])} h of wall clock); what changes is the grid's carbon intensity "
        f"(annual average, location-based), the data centre's PUE, the electricity price and the water factors.")
    if len(priced):
        lo = priced.loc[priced["electricity_cost_usd"].idxmin()]
        hi = priced.loc[priced["electricity_cost_usd"].idxmax()]
        parts.append(f"The electricity bill ranges from {fmt.money(lo['electricity_cost_usd'])} in {lo['name']} to "
                     f"{fmt.money(hi['electricity_cost_usd'])} in {hi['name']}; {n - len(priced)} of {n} regions have no "
                     f"price in the data (shown as {fmt.MISSING}, not 0). A cloud rental would cost "
                     f"{fmt.money(first['cloud_cost_usd'])} wherever it runs (one price per accelerator in the data).")
    bases = frame["intensity_basis"].value_counts()
    if len(bases) > 1:
        parts.append("Grid intensities come on different bases: " + ", ".join(
            f"{int(c)} regions {b}" for b, c in bases.items()) + ". Lifecycle figures include upstream emissions "
            "(fuel supply, plant construction); the cloud provider's published averages count operational emissions "
            "only, so they read lower for the same grid: compare within one basis (a column of the table).")
        for basis, sub in frame.groupby("intensity_basis", sort=True):
            lo, hi = sub.iloc[0], sub.iloc[-1]
            parts.append(f"On the {basis} basis alone, emissions run from {fmt.quantity(lo['emissions_kg'], 'kg CO2e')} "
                         f"in {lo['name']} to {fmt.quantity(hi['emissions_kg'], 'kg CO2e')} in {hi['name']}.")
    w = frame["water_l"]
    parts.append(f"Water ranges from {fmt.quantity(w.min(), 'L')} to {fmt.quantity(w.max(), 'L')}.")
    return " ".join(parts)


def substitutions_md(frame: pd.DataFrame) -> str:
    """How many regions carry each kind of stand-in value, in words."""
    n = len(frame)

    def c(col: str) -> int:
        return int(frame[col].sum())

    return (
        f"{tables.SUBSTITUTED_MARK} marks a value that is not a figure for that region: "
        f"a national grid average stands in for {c('intensity_substituted')} cloud regions and grid zones; "
        f"a bloc-average or state price for {c('price_substituted')} regions, and {c('price_missing')} have no price at all; "
        f"the industry-average PUE is used for {c('pue_substituted')} regions whose operator publishes none; "
        f"the on-site water use is the industry average in {c('wue_substituted')} regions; and the water consumed to "
        f"generate electricity is the US average in {c('ewif_substituted')} of {n} regions (the data set has no "
        f"regional figure). Emissions inherit the marks of intensity and PUE, cost those of price and PUE.")


# --------------------------------------------------------------------------- display

TABLE_COLUMNS = {
    "rank": "Emissions rank",
    "rank_cost": "Cost rank",
    "rank_water": "Water rank",
    "name": "Region",
    "kind": "Kind",
    "emissions_kg": fmt.header("Emissions", "kg CO2e"),
    "electricity_cost_usd": fmt.header("Electricity cost", "USD"),
    "water_l": fmt.header("Water", "L"),
    "facility_energy_kwh": fmt.header("Facility energy", "kWh"),
    "intensity_g_per_kwh": fmt.header("Grid intensity", "g CO2e/kWh"),
    "intensity_year": "Intensity year",
    "intensity_basis": "Intensity basis",
    "price_usd_per_kwh": fmt.header("Price", "USD/kWh"),
    "price_year": "Price year",
    "pue_used": "PUE",
    "substituted": "Stand-in values",
}
TABLE_MARKS = {"intensity_g_per_kwh": "intensity_substituted", "price_usd_per_kwh": "price_substituted",
               "pue_used": "pue_substituted", "water_l": "water_substituted"}


def regions_table(frame: pd.DataFrame) -> tables.Table:
    """Every region, sortable by any column offline; names, units in headers, † on stand-in values."""
    return tables.table(frame, TABLE_COLUMNS, kinds={"rank": "integer", "rank_cost": "integer", "rank_water": "integer", "price_year": "year", "intensity_year": "year",
                                                     "substituted": "text", "intensity_basis": "text"},
                        marks=TABLE_MARKS, sortable=True,
                        caption=f"The job in each of {len(frame)} regions, ranked by emissions (click a header to sort)")


def emissions_figure(frame: pd.DataFrame):
    """A strip chart: each region's emissions as a dot, one row per kind of region and intensity basis, log scale.

    Rows instead of a legend, so nothing covers the data; the lowest and highest region of each row are
    named above and below it. The full ranking is the table. (A bar per region would be a 1,500-pixel image.)
    """
    import seaborn as sns

    big = frame["emissions_kg"].max() >= 1e4
    scale, unit = (1e3, "t CO2e") if big else (1.0, "kg CO2e")
    order = {k: i for i, k in enumerate(KIND_NAMES.values())}
    groups = sorted({(k, b) for k, b in zip(frame["kind"], frame["intensity_basis"], strict=True)},
                    key=lambda kb: (order.get(kb[0], 99), kb[1]))
    colors = dict(zip(KIND_NAMES.values(), sns.color_palette(plots.PALETTE), strict=False))
    fig, ax = plots.figure(figsize=(9.0, 1.4 + 1.0 * len(groups)))
    for y, (kind, basis) in enumerate(groups):
        sub = frame[(frame["kind"] == kind) & (frame["intensity_basis"] == basis)].reset_index(drop=True)
        x = (sub["emissions_kg"] / scale).to_numpy()
        offsets = ((np.arange(len(sub)) % 5) - 2) * 0.07  # deterministic spread so dots do not hide each other
        ax.scatter(x, y + offsets, s=22, color=colors.get(kind, "grey"), alpha=0.85, edgecolor="white", linewidth=0.5)
        # name the row's lowest above the strip and its highest below it, clear of the dots
        for i, dy, ha, va in ((0, -0.2, "left", "bottom"), (len(sub) - 1, 0.2, "right", "top")):
            ax.text(x[i], y + dy, f"{sub['name'].iloc[i]}: {fmt.number(x[i])}", ha=ha, va=va, fontsize=8)
    positive = frame["emissions_kg"] > 0
    log = bool(positive.all() and frame["emissions_kg"].max() > 20 * frame["emissions_kg"].min())
    if log:
        ax.set_xscale("log")
        plots.log_ticks(ax.xaxis, float(frame["emissions_kg"].min() / scale), float(frame["emissions_kg"].max() / scale))
    ax.set_xlabel(f"emissions from electricity ({unit}{', log scale' if log else ''}; location-based, embodied excluded)")
    ax.set_yticks(range(len(groups)), [f"{k}\n({b} intensity)" for k, b in groups])
    ax.set_ylim(len(groups) - 0.45, -0.55)
    ax.margins(x=0.08)
    ax.set_title(f"Emissions of the same job in {len(frame)} regions")
    return fig


def emissions_alt(frame: pd.DataFrame) -> str:
    """The figure's description for screen readers: what it shows and its extremes."""
    best, worst = frame.iloc[0], frame.iloc[-1]
    return (f"Strip chart of the job's emissions in {len(frame)} regions, one dot per region, in rows by kind of "
            f"region (country, US grid zone, cloud region) and intensity basis (lifecycle or operational): from {fmt.quantity(best['emissions_kg'], 'kg CO2e')} in {best['name']} "
            f"to {fmt.quantity(worst['emissions_kg'], 'kg CO2e')} in {worst['name']}.")


# --------------------------------------------------------------------------- assumptions and sources

def reference_estimate(parameters: Mapping[str, Any]) -> training.TrainingEstimate:
    """The job without a region: its region-independent assumptions (MFU, power, embodied...) and sources."""
    return training.estimate_training(**_job(parameters), region=None)


def assumptions_table(parameters: Mapping[str, Any]) -> tables.Table:
    est = reference_estimate(parameters)
    df = est.assumptions.to_frame()
    ewif = data.assumption_row("ewif_l_per_kwh")
    extra = pd.DataFrame([
        {"name": "intensity_g_per_kwh", "value": "per region (table above)", "unit": "gCO2e/kWh",
         "source": "per region", "note": "latest annual average, location-based; the year is in the table"},
        {"name": "pue", "value": "per region (table above)", "unit": "ratio", "source": "joulebook_operator_defaults",
         "note": "operator fleet figure where published, else the industry average"},
        {"name": "ewif_l_per_kwh", "value": ewif[1], "unit": ewif[3], "source": ewif[4],
         "note": f"range {fmt.number(ewif[0])}-{fmt.number(ewif[2])}; US average applied to every region"},
    ])
    df = pd.concat([df[df["name"] != "pue"], extra], ignore_index=True)
    return tables.assumptions_table(df)


def source_ids(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> list[str]:
    est = reference_estimate(parameters)
    ids = list(est.source_ids)
    for rid in frame["region"]:
        ids += data.region(rid).source_ids
    ids.append(data.assumption_row("ewif_l_per_kwh")[4])
    return [i for i in dict.fromkeys(ids) if i]


def sources_table(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> tables.Table:
    src = data.sources_for(source_ids(frame, parameters))
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


def parameters_table(parameters: Mapping[str, Any]) -> tables.Table:
    job = _job(parameters)
    shown = {"params": fmt.count(job["params"]), "tokens": fmt.count(job["tokens"]), "layers": fmt.number(job["layers"]),
             "hidden": fmt.number(job["hidden"]), "seq_len": fmt.number(job["seq_len"]),
             "accelerator": tables.accelerator_name(job["accelerator"]), "count": fmt.number(job["count"]),
             "precision": job["precision"],
             "mfu": "data default" if job["mfu"] is None else fmt.number(job["mfu"]),
             "pue": "each operator's default" if job["pue"] is None else fmt.number(job["pue"])}
    df = pd.DataFrame({"parameter": list(shown), "value": list(shown.values())})
    return tables.table(df, {"parameter": "Parameter", "value": "Value"}, caption="Parameters of this run")


# --------------------------------------------------------------------------- metrics

def metrics(frame: pd.DataFrame, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``metrics.json``: title, finding, key figures and the ranking's ends."""
    job = _job(parameters)
    best, worst = frame.iloc[0], frame.iloc[-1]
    return {
        "title": TITLE,
        "finding": headline(frame, job),
        "key_figures": key_figures(frame),
        "regions": int(len(frame)),
        "lowest_emission_region": str(best["region"]),
        "highest_emission_region": str(worst["region"]),
        "lowest_emissions_kg": round6(best["emissions_kg"]),
        "highest_emissions_kg": round6(worst["emissions_kg"]),
        "median_emissions_kg": round6(frame["emissions_kg"].median()),
        "substituted_counts": {c: int(frame[c].sum()) for c in
                               ("intensity_substituted", "price_substituted", "price_missing", "pue_substituted",
                                "wue_substituted", "ewif_substituted")},
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics.json`` straight from the notebook's parameters."""
    job = _job(parameters)
    return metrics(compare_regions(job), job)
