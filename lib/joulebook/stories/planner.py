"""Story: where and when to run a job (``60_region_and_time_planner.ipynb``).

:func:`check` validates the notebook's parameters, :func:`compute` runs
:func:`joulebook.models.planning.compare`, the ``*_frame`` functions return what the notebook
draws, the ``*_table`` functions the reader's tables (region names, units in headers, 3
significant figures, "—" for missing), the ``*_md`` functions the prose written from this run's
numbers, :func:`finding` the headline and tiles, :func:`metrics` what ``metrics.json`` holds and
:func:`metrics_for` the same straight from a parameter dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from joulebook.core import format as fmt
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.display import tables
from joulebook.display.tables import region_name
from joulebook.models import planning, schedule
from joulebook.models.planning import CARBON_LINE_NOTE, Plan
from joulebook.stories import notebook_defaults, region_comparison

NOTEBOOK = "60_region_and_time_planner.ipynb"
PARAMETERS = ("energy_kwh", "hours", "regions", "team_tz", "residency", "objective", "month", "year", "day", "days",
              "pue", "internal_carbon_price_usd_per_t", "heatmap_value", "timing_durations_h")


# --------------------------------------------------------------------------- parameters

def check(**params: Any) -> dict[str, Any]:
    """The notebook's parameters, checked (each error names the parameter) and normalised; all are required."""
    require_parameters(params, PARAMETERS)
    p = dict(params)
    p["energy_kwh"] = number("energy_kwh", p["energy_kwh"], strictly_positive=True)
    p["hours"] = number("hours", p["hours"], strictly_positive=True, maximum=schedule.MAX_DURATION_H)
    p["regions"] = [r.region_id for r in planning.regions_list(p["regions"])]
    p["team_tz"] = schedule.time_zone(p["team_tz"], "team_tz").key
    p["residency"] = list(planning.parse_residency(p["residency"]) or [])
    planning.filter_residency(p["regions"], p["residency"])
    p["objective"] = schedule.check_objective(p["objective"])
    schedule.candidate_dates(month=p["month"], year=p["year"], day=p["day"], days=p["days"])
    p["month"], p["year"], p["day"], p["days"] = int(p["month"]), int(p["year"]), int(p["day"]), int(p["days"])
    p["pue"] = number("pue", p["pue"], minimum=1.0, maximum=3.0, allow_none=True)
    durs = p["timing_durations_h"]
    if isinstance(durs, (int, float)) or not list(durs):
        raise InputError("timing_durations_h", "give a list of job durations in hours, e.g. [1.0, 6.0, 30.0]")
    p["timing_durations_h"] = [number("timing_durations_h", x, strictly_positive=True,
                                      maximum=schedule.MAX_DURATION_H) for x in durs]
    if p["heatmap_value"] not in ("intensity", "price"):
        raise InputError("heatmap_value", f"expected 'intensity' or 'price', got {p['heatmap_value']!r}")
    if p["internal_carbon_price_usd_per_t"] is not None and p["objective"] != "weighted":
        raise InputError("internal_carbon_price_usd_per_t", "only used by objective='weighted'")
    return p


def compute(p: Mapping[str, Any]) -> Plan:
    """:func:`joulebook.models.planning.compare` for ``check``-ed parameters."""
    return planning.compare(p["energy_kwh"], p["regions"], hours=p["hours"], team_tz=p["team_tz"],
                            residency=p["residency"] or None, objective=p["objective"], month=p["month"],
                            year=p["year"], day=p["day"], days=p["days"], pue=p["pue"],
                            internal_carbon_price_usd_per_t=p["internal_carbon_price_usd_per_t"])


def _kg(x: Any) -> str:
    return fmt.quantity(x, "kg CO2e")


def _name(region_id: str) -> str:
    return region_name(region_id)


# --------------------------------------------------------------------------- frames for figures

def emissions_frame(plan: Plan) -> pd.Series:
    """kg CO2e at each region's best start, in ranking order, indexed by region name (regions not allowed marked)."""
    t = plan.table
    labels = [_name(r) if a else f"{_name(r)} (not allowed)" for r, a in zip(t["region"], t["allowed"], strict=True)]
    return pd.Series(t["emissions_kg"].to_numpy(dtype=float), index=pd.Index(labels, name="region"),
                     name="emissions (kg CO2e)")


def bar_labels(values) -> list[str]:
    """Value labels for bars, through the house formatter (3 significant figures)."""
    return [fmt.number(v) for v in values]


def heatmap(plan: Plan, value: str = "intensity", *, relative: bool = False) -> pd.DataFrame:
    """Hour-by-hour intensity or price on the team's clock, rows named by region."""
    h = planning.plan_heatmap(plan, value, relative=relative)
    h.index = [_name(r) for r in h.index]
    return h


def heatmap_label(value: str = "intensity", relative: bool = False) -> str:
    if relative:
        return f"{'intensity' if value == 'intensity' else 'price'} / the region's daily mean"
    return "grid intensity (g CO2e/kWh)" if value == "intensity" else "electricity price (USD/kWh)"


def timing_value(plan: Plan, durations_h) -> pd.DataFrame:
    """Long frame: what choosing the start hour is worth, per region and job duration (model: planning.timing_value)."""
    return planning.timing_value(list(plan.table["region"]), durations_h, month=plan.month)


def timing_value_frame(tv: pd.DataFrame) -> pd.DataFrame:
    """Durations down, one column per region (by name) with an hourly profile, for a line plot."""
    w = planning.timing_value_wide(tv)
    w.columns = [_name(c.replace(" (no hourly data)", "")) + (" (no hourly data)" if "(no hourly data)" in c else "")
                 for c in w.columns]
    return w


# --------------------------------------------------------------------------- figure descriptions

def emissions_alt(plan: Plan) -> str:
    e = emissions_frame(plan)
    parts = [f"{r}: {_kg(v)}" for r, v in e.items()]
    return f"Horizontal bars of the job's emissions at each region's best start, ranked: {'; '.join(parts)}."


def heatmap_alt(plan: Plan, heat: pd.DataFrame, value: str, relative: bool = False) -> str:
    what = heatmap_label(value, relative)
    return (f"Heatmap of {what} by hour of the team's day ({plan.team_tz}) on {plan.year}-{plan.month:02d}-"
            f"{plan.day:02d}, one row per region ({', '.join(map(str, heat.index))}); "
            f"values from {fmt.number(np.nanmin(heat.to_numpy()))} to {fmt.number(np.nanmax(heat.to_numpy()))}.")


def timing_value_alt(tv: pd.DataFrame) -> str:
    prof = tv[tv["hourly_profile"]]
    if prof.empty:
        return "No candidate region has an hourly profile: every line is zero for want of data."
    top = prof.sort_values("saving_vs_mean_pct").iloc[-1]
    return (f"Saving of the best start hour over the average one, in percent, against job length from "
            f"{fmt.number(tv['duration_h'].min())} h to {fmt.number(tv['duration_h'].max())} h; largest "
            f"{fmt.number(top['saving_vs_mean_pct'])}% in {_name(top['region'])} at {fmt.number(top['duration_h'])} h, "
            "zero at whole days.")


# --------------------------------------------------------------------------- tables

def comparison_table(plan: Plan) -> tables.Table:
    """The regions side by side (ranked)."""
    t = plan.table.copy()
    t["rank_shown"] = [str(int(r)) if a else "not allowed" for r, a in zip(t["rank"].fillna(0), t["allowed"], strict=True)]
    t["emissions_range"] = [f"{fmt.number(lo)}–{fmt.number(hi)}" for lo, hi in
                            zip(t["emissions_low_kg"], t["emissions_high_kg"], strict=True)]
    t["hourly"] = ["hourly profile" if h else "annual value only" for h in t["hourly_profile"]]
    sub = region_comparison.substitutions(list(t["region"])).set_index("region").loc[list(t["region"])]
    t["water_sub"] = sub["ewif_substituted"].to_numpy()  # the US-average water factor stands in outside the US
    t["intensity_sub"] = ~t["hourly_profile"].to_numpy(dtype=bool) | sub["intensity_substituted"].to_numpy()
    t["pue_sub"] = sub["pue_substituted"].to_numpy() & (plan.assumptions.to_frame().set_index("name")
                                                        .loc["pue", "source"] != "user")
    t["price_sub"] = sub["price_substituted"].to_numpy()
    return tables.table(t, {
        "rank_shown": "Rank", "region": "Region", "pue": "PUE",
        "intensity_g_per_kwh": "Grid intensity, best window (g CO2e/kWh)", "emissions_kg": "Emissions (kg CO2e)",
        "emissions_range": "Emissions over the PUE range (kg CO2e)", "water_l": "Water (L)",
        "cost_usd": "Electricity (USD)", "hourly": "Intensity data"},
        kinds={"rank_shown": "text", "emissions_range": "text", "hourly": "text"},
        marks={"water_l": "water_sub", "intensity_g_per_kwh": "intensity_sub", "pue": "pue_sub",
               "cost_usd": "price_sub"},
        caption="Emissions at each region's best start, cost, water and PUE, ranked by the objective",
        notes=[f"{tables.SUBSTITUTED_MARK} substituted, not a figure for that region at that hour: grid intensity is an "
               "annual (or national) average where the data set has no hourly profile; PUE is the industry average "
               "where the operator publishes none; the electricity price is a wider area's average (e.g. EU-27 for a "
               "member state); water uses the US-average water intensity of electricity everywhere. "
               f"{fmt.MISSING}: no electricity price in the data set."])


def start_times_table(plan: Plan) -> tables.Table:
    """Cleanest and cheapest start per region, local and on the team's clock."""
    c = plan.start_choices.copy()
    c["clean_local"] = np.where(c["intensity_varies"], c["cleanest_start_local"], "any hour (no hourly data)")
    c["clean_team"] = np.where(c["intensity_varies"], c["cleanest_start_team"], "any hour")
    c["cheap_local"] = np.where(c["price_varies"], c["cheapest_start_local"], "any hour (flat price)")
    c["cheap_team"] = np.where(c["price_varies"], c["cheapest_start_team"], "any hour")
    return tables.table(c, {
        "region": "Region", "clean_local": "Cleanest start (local)", "clean_team": f"Cleanest start ({plan.team_tz})",
        "cleanest_intensity_g_per_kwh": "Intensity, best start (g CO2e/kWh)",
        "mean_start_intensity_g_per_kwh": "Intensity, average start (g CO2e/kWh)",
        "cheap_local": "Cheapest start (local)", "cheap_team": f"Cheapest start ({plan.team_tz})",
        "cheapest_price_usd_per_kwh": "Price, best start (USD/kWh)",
        "mean_start_price_usd_per_kwh": "Price, average start (USD/kWh)"},
        kinds={"clean_local": "text", "clean_team": "text", "cheap_local": "text", "cheap_team": "text"},
        caption="Cleanest and cheapest start per region, in local time and on the team's clock")


def carbon_table(plan: Plan) -> tables.Table:
    """The internal carbon-price line, for the regions where a scheme applies."""
    t = plan.table[plan.table["carbon_price_scheme"].notna()].copy()
    t["share"] = t["carbon_cost_usd"] / t["cost_usd"]
    return tables.table(t, {
        "region": "Region", "carbon_price_scheme": "Scheme", "carbon_price_usd_per_t": "Carbon price (USD/t CO2e)",
        "emissions_kg": "Emissions (kg CO2e)", "carbon_cost_usd": "Internal carbon cost (USD)",
        "cost_usd": "Electricity (USD)", "share": "Carbon cost / electricity"},
        kinds={"share": "percent"},
        caption="Internal carbon cost where a carbon-pricing scheme applies (not added to the electricity cost)")


# --------------------------------------------------------------------------- prose

def summary_md(plan: Plan) -> str:
    """Which region wins for the objective, by how much, and what drives the ranking."""
    ok = plan.allowed
    best = ok.iloc[0]
    what = {"emissions": "emits least", "cost": "costs least",
            "weighted": f"costs least with carbon priced at {fmt.money(plan.internal_carbon_price_usd_per_t)} per t"}[
        plan.objective]
    if plan.objective in ("cost", "weighted") and pd.isna(best["objective_value"]):
        what = (f"has the lowest emissions (no allowed region has an electricity price in the data set, so the "
                f"{plan.objective} objective cannot rank them)")
    what_job = (f"a job drawing {fmt.quantity(plan.job.it_energy_kwh, 'kWh')} of IT energy over "
                f"{fmt.number(plan.job.hours)} h" + (f" ({plan.job.label})" if plan.job.source != "given" else ""))
    lines = [f"For {what_job}, planned for {plan.year}-{plan.month:02d}-{plan.day:02d}: **{best['name']}** {what} among "
             f"the {len(ok)} allowed regions: {_kg(best['emissions_kg'])} (range {_kg(best['emissions_low_kg'])} to "
             f"{_kg(best['emissions_high_kg'])} over its PUE range), electricity {fmt.money(best['cost_usd'])}, water "
             f"{fmt.quantity(best['water_l'], 'L')} at PUE {fmt.number(best['pue'])}."]
    if len(ok) > 1:
        by_em = ok.sort_values("emissions_kg")
        lo, hi = by_em.iloc[0], by_em.iloc[-1]
        ratio = hi["emissions_kg"] / lo["emissions_kg"] if lo["emissions_kg"] > 0 else float("inf")
        ci_ratio = ok["intensity_g_per_kwh"].max() / max(ok["intensity_g_per_kwh"].min(), 1e-9)
        pue_ratio = ok["pue"].max() / ok["pue"].min()
        driver = ("grid intensity more than PUE" if ci_ratio > pue_ratio else
                  "PUE as much as grid intensity" if ci_ratio == pue_ratio else "PUE more than grid intensity")
        lines.append(f"Emissions span {fmt.ratio(ratio)} between {lo['name']} ({_kg(lo['emissions_kg'])}) and "
                     f"{hi['name']} ({_kg(hi['emissions_kg'])}). Grid intensity differs {fmt.ratio(ci_ratio)} "
                     f"({fmt.number(ok['intensity_g_per_kwh'].min())}–{fmt.number(ok['intensity_g_per_kwh'].max())} "
                     f"g CO2e/kWh) and PUE {fmt.ratio(pue_ratio)} ({fmt.number(ok['pue'].min())}–"
                     f"{fmt.number(ok['pue'].max())}), so {driver} sets the ranking.")
        priced = ok[ok["cost_usd"].notna()]
        if len(priced) > 1:
            cheap = priced.sort_values("cost_usd").iloc[0]
            if cheap["region"] != by_em.iloc[0]["region"]:
                lines.append(f"The cheapest electricity is in {cheap['name']} ({fmt.money(cheap['cost_usd'])}), not "
                             "in the cleanest region: cost and carbon point to different places here.")
            else:
                lines.append(f"{cheap['name']} is also the cheapest of the regions with a price "
                             f"({fmt.money(cheap['cost_usd'])}).")
    if _varies(plan, best["region"]):
        lines.append(f"Start there at **{best['best_start_local']}** local time, which is **{best['best_start_team']}** "
                     f"on the team's clock ({plan.team_tz}); the job ends {best['best_end_local']} "
                     f"({best['best_end_team']}).")
    else:
        lines.append(f"The data set has only an annual intensity for {best['name']}, so any start time is equal "
                     f"there; its clock runs {_clock_gap(best, plan.team_tz)}.")
    return " ".join(lines)


def _varies(plan: Plan, region: str) -> bool:
    """Does the start hour change the objective in ``region`` (hourly intensity; for cost, a time-of-use price)?"""
    c = plan.start_choices.set_index("region").loc[region]
    return bool(c["intensity_varies"]) or (plan.objective != "emissions" and bool(c["price_varies"]))


def _clock_gap(row, team_tz: str) -> str:
    """'6 h ahead of America/New_York' from the best start in both clocks."""
    gap = schedule.offset_difference_h(row["timezone"], team_tz, row["best_start_utc"].replace("Z", ""))
    if gap == 0:
        return f"on the same time as {team_tz}"
    return f"{fmt.number(abs(gap))} h {'ahead of' if gap > 0 else 'behind'} {team_tz} on that date"


def timing_md(plan: Plan) -> str:
    """What choosing the start hour is worth, region by region."""
    t = plan.table
    c = plan.start_choices.set_index("region")
    varies = [r for r in t["region"] if c.loc[r, "intensity_varies"]]
    flat = [r for r in t["region"] if not c.loc[r, "intensity_varies"]]
    parts = []
    if varies:
        sav = t.set_index("region").loc[varies]
        share = sav["timing_saving_kg"] / sav["emissions_mean_start_kg"]
        top = share.idxmax()
        parts.append(f"Choosing the start hour is worth most in {_name(top)}: starting at "
                     f"{c.loc[top, 'cleanest_start_local']} ({c.loc[top, 'cleanest_start_team']} for the team) saves "
                     f"{_kg(sav.loc[top, 'timing_saving_kg'])} ({fmt.percent(share[top])}) against the average start "
                     "hour.")
        rest = [f"{_name(r)} {fmt.percent(share[r])} (best {c.loc[r, 'cleanest_start_local']} = "
                f"{c.loc[r, 'cleanest_start_team']})" for r in varies if r != top]
        if rest:
            parts.append("Elsewhere: " + "; ".join(rest) + ".")
    else:
        parts.append("In no candidate region does the start hour change this job's emissions.")
    if plan.job.hours >= 24:
        frac = plan.job.hours % 24
        nd = int(plan.job.hours // 24)
        parts.append(f"The job lasts {fmt.number(plan.job.hours)} h, so it spans {nd} full day{'s' if nd > 1 else ''}"
                     + (f" plus {fmt.number(frac)} h: only those {fmt.number(frac)} h depend on the start hour."
                        if frac > 1e-9 else
                        ": every hour of the daily profile is covered equally, so the start hour hardly matters."))
    if flat:
        parts.append(f"For {', '.join(_name(r) for r in flat)} the data set has only an annual intensity, so any start "
                     "is equal there; this is a gap in the data, not a flat grid.")
    pv = plan.start_choices[plan.start_choices["price_varies"]]
    for r in pv.itertuples():
        parts.append(f"In {_name(r.region)} the time-of-use tariff makes {r.cheapest_start_local} "
                     f"({r.cheapest_start_team} for the team) the cheapest start: "
                     f"{fmt.number(r.cheapest_price_usd_per_kwh)} vs {fmt.number(r.mean_start_price_usd_per_kwh)} "
                     f"USD/kWh on average ({fmt.percent(r.price_known_share)} of that window at a published rate).")
    if pv.empty:
        parts.append("No candidate region has a time-of-use price that varies in this month, so the cheapest start "
                     "is any start.")
    return " ".join(parts)


def heatmap_md(heat: pd.DataFrame, value: str = "intensity") -> str:
    """Which hours of the team's day are cleanest (or cheapest) in each region with an hourly shape."""
    unit = "g CO2e/kWh" if value == "intensity" else "USD/kWh"
    clock = heat.columns.name or "hour"
    parts = []
    varying = []
    for reg, row in heat.iterrows():
        r = row.dropna()
        if r.empty or r.max() - r.min() <= 1e-9 * max(abs(r.max()), 1e-12):
            continue
        varying.append(reg)
        parts.append(f"{reg} lowest at {int(r.idxmin()):02d}:00 ({fmt.number(r.min())} {unit}), highest at "
                     f"{int(r.idxmax()):02d}:00 ({fmt.number(r.max())})")
    flat = [x for x in heat.index if x not in varying]
    out = (f"By {clock}: " + "; ".join(parts) + ".") if parts else f"No region's {value} varies by hour in the data."
    if flat and value == "intensity":
        out += f" Flat rows ({', '.join(flat)}) are regions without hourly data, not grids without hourly variation."
    elif flat:
        out += (f" Flat rows ({', '.join(flat)}) are regions without a time-of-use tariff in the data set (one average "
                "price), not markets without hourly prices.")
    if value == "price" and varying:
        out += (" Tariff hours without a published energy rate are shown at the region's average price, which can "
                "sit above the published peak rate: read the pattern, not the level.")
    return out


def timing_value_md(tv: pd.DataFrame, hours: float) -> str:
    """What the timing-value figure shows, in numbers: short jobs gain most, whole days gain nothing."""
    prof = tv[tv["hourly_profile"]]
    if prof.empty:
        return ("None of the candidate regions has an hourly profile in the data set, so the start time cannot be "
                "valued here.")
    short = prof[prof["duration_h"] == prof["duration_h"].min()].sort_values("saving_vs_mean_pct").iloc[-1]
    whole = prof[(prof["duration_h"] >= 24) & (np.isclose(prof["duration_h"] % 24, 0))]
    parts = [f"For a {fmt.number(short['duration_h'])} h job the best start hour beats the average one by up to "
             f"{fmt.number(short['saving_vs_mean_pct'])}% ({_name(short['region'])})."]
    if not whole.empty:
        parts.append(f"At whole days ({', '.join(f'{fmt.number(x)} h' for x in sorted(whole['duration_h'].unique()))}) "
                     f"the saving is {fmt.number(whole['saving_vs_mean_pct'].max())}%: the job covers every hour of the "
                     "day equally, whatever its start.")
    frac = hours % 24
    parts.append(f"This job lasts {fmt.number(hours)} h: " + (
        f"{fmt.number(frac)} h of it can be placed in the cleaner part of the day." if frac > 1e-9 else
        "a whole number of days, so timing is worth next to nothing."))
    return " ".join(parts)


def residency_md(plan: Plan) -> str:
    c = plan.constraint
    if not c["residency"]:
        return "No data-residency constraint: every candidate region is allowed."
    removed = ", ".join(_name(r) for r in c["removed"]) if c["removed"] else "none"
    s = f"Data may be processed only in {', '.join(c['residency'])}. Regions removed: {removed}. "
    if not c["binding"]:
        return s + f"The constraint costs nothing here: the best region overall ({_name(c['best_overall'])}) is allowed."
    usd = c["extra_cost_usd"]
    usd_txt = ("an unknown amount of money (no price data for one of them)" if usd is None else
               (f"{fmt.money(usd)} more for electricity" if usd >= 0 else f"{fmt.money(-usd)} less for electricity"))
    return s + (f"The best allowed region is {_name(c['best_allowed'])} instead of {_name(c['best_overall'])}: the "
                f"constraint costs {_kg(c['extra_emissions_kg'])}"
                + (" more" if c["extra_emissions_kg"] >= 0 else " (it saves emissions)") + f" and {usd_txt} for this job.")


def carbon_md(plan: Plan) -> str:
    t = plan.table[plan.table["carbon_price_scheme"].notna()]
    if t.empty:
        return ("No candidate region falls under a carbon-pricing scheme in the data set (EU ETS, UK ETS, "
                "California-Quebec cap-and-trade), so there is no carbon line.")
    top = t.sort_values("carbon_cost_usd").iloc[-1]
    share = top["carbon_cost_usd"] / top["cost_usd"] if pd.notna(top["cost_usd"]) and top["cost_usd"] > 0 else None
    without = [r for r in plan.table["region"] if r not in set(t["region"])]
    return (f"A carbon-price line applies in {', '.join(_name(r) for r in t['region'])}; it is largest in "
            f"{top['name']}: {fmt.money(top['carbon_cost_usd'])} at {fmt.money(top['carbon_price_usd_per_t'])} per t "
            f"({top['carbon_price_scheme']})" + (f", {fmt.percent(share)} of its electricity cost" if share is not None
                                                 else "")
            + f". This is {CARBON_LINE_NOTE}."
            + (f" No scheme applies in {', '.join(_name(r) for r in without)}." if without else ""))


def notes_md(plan: Plan) -> str:
    """The data caveats of this plan as a Markdown list."""
    return "\n".join(f"- {n}" for n in plan.notes)


# --------------------------------------------------------------------------- finding and metrics

def _ratio(ok: pd.DataFrame) -> float | None:
    by_em = ok.sort_values("emissions_kg")
    lo = by_em.iloc[0]["emissions_kg"]
    return float(by_em.iloc[-1]["emissions_kg"] / lo) if lo > 0 else None


def finding(plan: Plan) -> tuple[str, list[tuple[str, str, str]]]:
    """(headline, tiles): the best allowed region and start hour, and what they save."""
    ok = plan.allowed
    best = ok.iloc[0]
    worst = ok.sort_values("emissions_kg").iloc[-1]
    c = plan.constraint
    when = (f"starting at {best['best_start_local']} local time ({best['best_start_team']} on the team's clock)"
            if _varies(plan, best["region"]) else
            "at any hour (the data set has no hourly variation there)")
    obj = {"emissions": "emits least", "cost": "costs least", "weighted": "costs least with carbon priced in"}[
        plan.objective]
    head = (f"Of {len(ok)} allowed regions, {best['name']} {obj} for this {fmt.number(plan.job.hours)} h job, "
            f"{when}: {_kg(best['emissions_kg'])}")
    if plan.objective != "emissions":
        head += f" and {fmt.money(best['cost_usd'])} of electricity"
    if plan.objective == "emissions" and len(ok) > 1 and worst["region"] != best["region"]:
        head += f", {_kg(worst['emissions_kg'] - best['emissions_kg'])} less than in {worst['name']}"
    if best["timing_saving_kg"] > 0:
        head += f"; the start hour saves {_kg(best['timing_saving_kg'])} against an average start there"
    head += "."
    tiles = [("Best allowed region", str(best["name"]), f"{_kg(best['emissions_kg'])} at PUE {fmt.number(best['pue'])}")]
    if _varies(plan, best["region"]):
        tiles.append(("Start", f"{best['best_start_local']} local", f"{best['best_start_team']} ({plan.team_tz})"))
    else:
        tiles.append(("Start", "any hour", "no hourly variation in the data for this region"))
    ratio = _ratio(ok)
    if ratio is not None and len(ok) > 1:
        low = ok.sort_values("emissions_kg").iloc[0]
        tiles.append(("Emissions spread, allowed regions", fmt.ratio(ratio),
                      f"{low['name']} {_kg(low['emissions_kg'])} to {worst['name']} {_kg(worst['emissions_kg'])}"))
    if c["residency"]:
        tiles.append(("Residency rule costs", _kg(c["extra_emissions_kg"]) if c["binding"] else "nothing",
                      f"best overall: {_name(c['best_overall'])}"))
    return head, tiles


def metrics(plan: Plan) -> dict[str, Any]:
    """The report's metrics.json: title, finding, key figures and the named numbers behind them."""
    ok = plan.allowed
    best = ok.iloc[0]
    ratio = _ratio(ok)
    c = plan.constraint
    timing = ok.sort_values("timing_saving_kg", ascending=False, kind="stable").iloc[0]
    headline, _ = finding(plan)
    key = [
        {"label": f"Emissions in {best['name']} (best allowed)", "value": round6(best["emissions_kg"]), "unit": "kg CO2e"},
        {"label": "Worst / best allowed region", "value": round6(ratio) if ratio is not None else 0.0, "unit": "x"},
        {"label": "Residency constraint cost", "value": round6(c["extra_emissions_kg"]), "unit": "kg CO2e"},
        {"label": f"Best-start saving in {timing['name']}", "value": round6(timing["timing_saving_kg"]),
         "unit": "kg CO2e"},
    ]
    return {
        "title": f"Where and when to run: {fmt.quantity(plan.job.it_energy_kwh, 'kWh')} over {fmt.number(plan.job.hours)} h",
        "finding": headline, "key_figures": key,
        "objective": plan.objective, "team_tz": plan.team_tz, "best_region": best["region"],
        "best_start_local": best["best_start_local"], "best_start_team": best["best_start_team"],
        "best_emissions_kg": round6(best["emissions_kg"]), "best_cost_usd": round6(best["cost_usd"]),
        "best_water_l": round6(best["water_l"]), "worst_to_best_ratio": round6(ratio) if ratio is not None else None,
        "constraint_binding": bool(c["binding"]), "constraint_extra_emissions_kg": round6(c["extra_emissions_kg"]),
        "constraint_extra_cost_usd": round6(c["extra_cost_usd"]), "best_overall_region": c["best_overall"],
        "largest_timing_saving_region": timing["region"], "largest_timing_saving_kg": round6(timing["timing_saving_kg"]),
        "n_regions": int(len(plan.table)), "n_allowed": int(len(ok)),
        "emissions_kg_by_region": {r: round6(v) for r, v in zip(plan.table["region"], plan.table["emissions_kg"],
                                                                strict=True)},
        "carbon_cost_usd_by_region": {r: round6(v) for r, v in zip(plan.table["region"], plan.table["carbon_cost_usd"],
                                                                   strict=True) if pd.notna(v)},
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics.json`` straight from a parameter dict (names it lacks take the notebook's parameters cell)."""
    return metrics(compute(check(**notebook_defaults.merged(NOTEBOOK, parameters))))
