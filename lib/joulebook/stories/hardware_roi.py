"""Story: hardware benchmarking and return on investment (``50_hardware_and_roi.ipynb``).

:func:`check` validates the notebook's parameters, :func:`compute` runs the models of
:mod:`joulebook.models.roi` once, the ``*_frame`` functions return the DataFrames the notebook
draws, the ``*_table`` functions the reader's tables (names not ids, units in headers, 3
significant figures), :func:`finding` the headline and key-figure tiles, :func:`metrics` what
``metrics.json`` holds and :func:`metrics_for` the same straight from a parameter dict.

Cloud prices are like for like: every accelerator is priced from one provider's list
(``cloud_provider``), on one basis (full VM: the instance with its host, per GPU) and one purchase
option, at the provider's latest date; the switch compares a pair of the same provider, basis,
option and date class (:func:`joulebook.models.costs.cloud_price_pair`). Where the data has no
such pair the page says so and compares nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import fraction, number
from joulebook.display import tables
from joulebook.display.tables import accelerator_name, region_name
from joulebook.models import costs, roi, training
from joulebook.stories import notebook_defaults

NOTEBOOK = "50_hardware_and_roi.ipynb"
TITLE = "Hardware benchmarking and ROI"
PARAMETERS = (
    "params", "tokens", "finetune_share", "precision", "accelerators", "counts", "region", "owned_utilisation",
    "lifetime_years", "operations_share_per_year", "cloud_provider", "purchase_option", "from_accelerator",
    "to_accelerator", "fleet_count", "fleet_utilisation", "to_count", "migration_usd", "resale_fraction",
    "horizon_months", "burst_accelerator", "baseline_accelerators", "peak_accelerators", "peak_days_per_year",
    "campaigns_per_year", "demand_resolution",
)
BASIS = "full VM"
PURCHASE_OPTIONS = ("on-demand", "1-year commitment", "3-year commitment")


# --------------------------------------------------------------------------- parameters

def check(**p: Any) -> dict[str, Any]:
    """The notebook's parameters, checked (each error names the parameter) and normalised; all are required."""
    require_parameters(p, PARAMETERS)
    number("params", p["params"], strictly_positive=True)
    number("tokens", p["tokens"], strictly_positive=True)
    fraction("finetune_share", p["finetune_share"])
    prec = data.normalise_precision(p["precision"])
    accs = roi.accelerator_list(p["accelerators"])
    cnts = roi.count_list(p["counts"])
    reg = data.region(p["region"]).region_id if p["region"] else None
    fraction("owned_utilisation", p["owned_utilisation"])
    number("lifetime_years", p["lifetime_years"], strictly_positive=True)
    number("operations_share_per_year", p["operations_share_per_year"], minimum=0.0, maximum=1.0)
    provider = costs.check_provider(p["cloud_provider"])
    if p["purchase_option"] not in PURCHASE_OPTIONS:
        raise InputError("purchase_option", f"expected one of {', '.join(PURCHASE_OPTIONS)}, got {p['purchase_option']!r}")
    fa = data.accelerator(p["from_accelerator"]).accelerator_id
    ta = data.accelerator(p["to_accelerator"]).accelerator_id
    if fa == ta:
        raise InputError("to_accelerator", f"switching from {fa} to itself")
    number("fleet_count", p["fleet_count"], strictly_positive=True, integer=True)
    fraction("fleet_utilisation", p["fleet_utilisation"])
    number("to_count", p["to_count"], integer=True)
    number("migration_usd", p["migration_usd"])
    fraction("resale_fraction", p["resale_fraction"], allow_zero=True)
    number("horizon_months", p["horizon_months"], strictly_positive=True, integer=True)
    ba = data.accelerator(p["burst_accelerator"]).accelerator_id
    number("baseline_accelerators", p["baseline_accelerators"])
    number("peak_accelerators", p["peak_accelerators"], minimum=float(p["baseline_accelerators"]))
    number("peak_days_per_year", p["peak_days_per_year"], integer=True, maximum=365)
    number("campaigns_per_year", p["campaigns_per_year"], strictly_positive=True, integer=True)
    if p["demand_resolution"] not in ("hourly", "daily"):
        raise InputError("demand_resolution", f"must be 'hourly' or 'daily', got {p['demand_resolution']!r}")
    out = dict(p)
    out.update({"precision": prec, "accelerators": accs, "counts": cnts, "region": reg, "from_accelerator": fa,
                "to_accelerator": ta, "burst_accelerator": ba, "params": float(p["params"]),
                "tokens": float(p["tokens"]), "cloud_provider": provider})
    return out


# --------------------------------------------------------------------------- computation

@dataclass
class Results:
    """Everything the page shows, computed once from checked parameters."""

    parameters: dict[str, Any]
    hardware: pd.DataFrame
    ranked: pd.DataFrame
    switch: roi.SwitchResult
    sweep: pd.DataFrame
    demand: np.ndarray
    mix: roi.MixResult
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)

    @property
    def chart_count(self) -> int:
        c = sorted(self.parameters["counts"])
        return c[len(c) // 2]


def compute(p: Mapping[str, Any]) -> Results:
    """Run the hardware comparison, the switch, its utilisation sweep and the burst mix for ``check``-ed parameters."""
    p = dict(p)
    cloud = dict(cloud_provider=p["cloud_provider"], purchase_option=p["purchase_option"], basis=BASIS)
    hw = roi.hardware_frame(params=p["params"], tokens=p["tokens"], accelerators=p["accelerators"], counts=p["counts"],
                            precision=p["precision"], region=p["region"], finetune_share=p["finetune_share"],
                            lifetime_years=p["lifetime_years"], utilisation=p["owned_utilisation"],
                            operations_share_per_year=p["operations_share_per_year"], **cloud)
    ranked = roi.ranking(hw, "pre-training")
    sw_kw = dict(from_accelerator=p["from_accelerator"], to_accelerator=p["to_accelerator"], from_count=p["fleet_count"],
                 to_count=p["to_count"] or None, precision_from=p["precision"], precision_to=p["precision"],
                 region=p["region"], migration_usd=p["migration_usd"], resale_fraction=p["resale_fraction"],
                 operations_share_per_year=p["operations_share_per_year"], horizon_months=p["horizon_months"], **cloud)
    sw = roi.switch_roi(utilisation=p["fleet_utilisation"], **sw_kw)
    sweep = roi.switch_sweep(**sw_kw)
    demand = roi.demand_profile(baseline_accelerators=p["baseline_accelerators"],
                                peak_accelerators=p["peak_accelerators"], peak_days_per_year=p["peak_days_per_year"],
                                campaigns_per_year=p["campaigns_per_year"], resolution=p["demand_resolution"])
    mix = roi.burst_mix(demand, accelerator=p["burst_accelerator"], region=p["region"],
                        lifetime_years=p["lifetime_years"], operations_share_per_year=p["operations_share_per_year"],
                        precision=p["precision"], **cloud)
    est = training.estimate_training(params=p["params"], tokens=p["tokens"], accelerator=p["to_accelerator"],
                                     count=p["counts"][0], precision=p["precision"], region=p["region"],
                                     lifetime_years=p["lifetime_years"], utilisation=p["owned_utilisation"])
    a = est.assumptions.merge(sw.assumptions)
    a.add("finetune_share", p["finetune_share"], "share of pre-training tokens", "user",
          "full fine-tuning (6 N D FLOPs)", True)
    a.add("state_bytes_per_param", roi.STATE_BYTES_PER_PARAM, "bytes", "rajbhandari_zero_2020",
          f"memory-fit check: fully sharded model state must fit in {roi.MEMORY_HEADROOM:.0%} of memory")
    a.add("cloud_price_basis", f"{BASIS}, {p['purchase_option']}", "", "user",
          f"every rental price from {_provider_words(p['cloud_provider'])}, same basis and option")
    src = list(dict.fromkeys([*est.source_ids, *sw.source_ids, *mix.source_ids, "rajbhandari_zero_2020"]))
    for acc in p["accelerators"]:
        src.append(data.accelerator(acc).source_id)
        src.append(data.efficiency(acc, p["precision"], "train")[3])
        bp = costs.purchase_price(acc)
        if bp:
            src.append(bp.source_id)
    for acc in p["accelerators"]:
        cp = roi.provider_price(acc, p["cloud_provider"], p["purchase_option"], BASIS)
        if cp:
            src.append(cp.source_id)
    known = set(data.table("sources")["source_id"])
    return Results(p, hw, ranked, sw, sweep, demand, mix, a, [s for s in dict.fromkeys(src) if s and s in known])


def _provider_words(provider: str | None) -> str:
    return f"one provider's list ({provider_name(provider)})" if provider else "the median of the hyperscalers' latest rows"


PROVIDER_NAMES = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Microsoft Azure", "runpod": "RunPod",
                  "lambda": "Lambda"}


def provider_name(provider: str | None) -> str:
    if not provider:
        return fmt.MISSING
    return PROVIDER_NAMES.get(str(provider).lower(), str(provider))


def _n(a: str) -> str:
    return accelerator_name(a)


# --------------------------------------------------------------------------- frames

def comparison_frame(res: Results, job: str = "pre-training") -> pd.DataFrame:
    """One row per accelerator x count for ``job``: time, energy (and range), emissions, cloud and owned cost."""
    f = res.hardware[res.hardware["job"] == job].copy()
    f["count"] = f["count"].astype(int)
    f["emissions_t"] = f["emissions_kg"] / 1000.0
    f["energy_range"] = [f"{fmt.number(lo)}–{fmt.number(hi)}" for lo, hi in
                         zip(f["facility_energy_kwh_low"], f["facility_energy_kwh_high"], strict=True)]
    return f.reset_index(drop=True)


def prices_frame(res: Results) -> pd.DataFrame:
    """The rental and purchase price behind each accelerator's costs: provider, basis, date, source."""
    f = res.hardware.drop_duplicates("accelerator")
    rows = []
    for a in f["accelerator"]:
        cp = roi.provider_price(a, res.parameters["cloud_provider"], res.parameters["purchase_option"], BASIS)
        bp = costs.purchase_price(a)
        rows.append({"accelerator": a, "provider": provider_name(cp.provider) if cp else fmt.MISSING,
                     "basis": f"{cp.basis}, {cp.purchase_option}" if cp else fmt.MISSING,
                     "cloud_usd_per_gpu_hour": cp.central if cp else np.nan,
                     "price_date": cp.price_date if cp else fmt.MISSING,
                     "purchase_usd": bp.central if bp else np.nan, "purchase_year": bp.year if bp else np.nan})
    return pd.DataFrame(rows)


def energy_cost_frames(res: Results) -> tuple[pd.Series, pd.DataFrame]:
    """At the middle count, per accelerator (by name): facility energy (kWh) and the cloud / owned cost (USD)."""
    f = res.hardware[(res.hardware["job"] == "pre-training") & (res.hardware["count"] == res.chart_count)]
    idx = pd.Index([_n(a) for a in f["accelerator"]], name="accelerator")
    energy = pd.Series(f["facility_energy_kwh"].to_numpy(), index=idx, name="facility energy (kWh)")
    cost = pd.DataFrame({"cloud (rented)": f["cloud_cost_usd"].to_numpy(), "owned": f["owned_cost_usd"].to_numpy()},
                        index=idx)
    return energy, cost


def switch_curves(res: Results) -> pd.DataFrame:
    """Cumulative cost of staying and of switching, month 0..horizon, owned and cloud (columns by name)."""
    s = res.switch
    c = s.curves().set_index("month")
    a, b = _n(s.from_accelerator), _n(s.to_accelerator)
    c.columns = [f"stay on {a} (owned)", f"switch to {b} (owned)", f"stay on {a} (cloud)", f"switch to {b} (cloud)"]
    return c


def sweep_frame(res: Results) -> pd.DataFrame:
    """Monthly savings of the switch against the old fleet's utilisation (percent), owned and cloud."""
    w = res.sweep
    return pd.DataFrame({"owned": w["owned_savings_usd_per_month"].to_numpy(),
                         "cloud (rented)": w["cloud_savings_usd_per_month"].to_numpy()},
                        index=pd.Index(100 * w["utilisation"].to_numpy(), name="utilisation of today's fleet (%)"))


def demand_frame(res: Results) -> pd.DataFrame:
    d = res.demand
    per_day = d.reshape(365, -1).mean(axis=1) if d.size % 365 == 0 else d
    return pd.DataFrame({"accelerators needed (daily mean)": per_day,
                         "owned in the cheapest mix": float(res.mix.best_count)},
                        index=pd.Index(np.arange(1, per_day.size + 1), name="day of the year"))


def mix_frame(res: Results) -> pd.DataFrame:
    f = res.mix.frame.set_index("owned_count")[["owned_fixed_usd", "owned_energy_usd", "cloud_burst_usd", "total_usd"]]
    f.index.name = "owned accelerators"
    return f.rename(columns={"owned_fixed_usd": "owned: capex + operations", "owned_energy_usd": "owned: energy",
                             "cloud_burst_usd": "cloud burst", "total_usd": "total"})


def number_ticks(ax, which: str = "y") -> None:
    """Tick labels through the house formatter (``80,000``), few enough not to collide."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(MaxNLocator(nbins=4))
    axis.set_major_formatter(FuncFormatter(_tick))


def _tick(v, _pos=None) -> str:
    return fmt.number(v)


# --------------------------------------------------------------------------- tables

def comparison_table(res: Results, job: str = "pre-training") -> tables.Table:
    f = comparison_frame(res, job)
    p = res.parameters
    cap = (f"{job.capitalize()} job: {fmt.count(f['params'].iloc[0])} parameters on {fmt.count(f['tokens'].iloc[0])} "
           f"tokens in {p['precision']}")
    return tables.table(f, {"accelerator": "Accelerator", "count": "Count", "wall_clock_hours": "Wall clock (h)",
                            "facility_energy_kwh": "Facility energy (kWh)", "energy_range": "Energy range (kWh)",
                            "emissions_t": "Emissions (t CO2e)", "cloud_cost_usd": "Cloud cost (USD)",
                            "owned_cost_usd": "Owned cost (USD)", "fits_memory": "Fits in memory"},
                        kinds={"energy_range": "text"}, caption=cap,
                        notes=[f"Cloud cost: {_price_words(res)}; owned: capex over {fmt.number(p['lifetime_years'])} "
                               f"years at {fmt.percent(p['owned_utilisation'])} use plus "
                               f"{fmt.percent(p['operations_share_per_year'])} a year for operations, and energy at "
                               f"the {region_name(p['region'])} tariff. {fmt.MISSING}: no price in the data set."])


def _price_words(res: Results) -> str:
    p = res.parameters
    return (f"{BASIS} {p['purchase_option']} prices from {_provider_words(p['cloud_provider'])}, "
            "one basis and date class for every accelerator")


def prices_table(res: Results) -> tables.Table:
    return tables.table(prices_frame(res), {
        "accelerator": "Accelerator", "provider": "Cloud provider", "basis": "Price basis",
        "cloud_usd_per_gpu_hour": "Rental (USD per GPU-hour)", "price_date": "Price date",
        "purchase_usd": "Purchase (USD per GPU)", "purchase_year": "Purchase price year"},
        kinds={"price_date": "text", "purchase_year": "year"}, caption="Prices behind the costs",
        notes=["Full VM: the instance with its host CPUs, memory and network, per GPU. GPU-only SKUs (host billed "
               "separately) are never compared with full-VM prices."])


def ranking_table(res: Results) -> tables.Table:
    r = res.ranked.copy()
    r["rank"] = np.where(r["ranked"], r["rank_tokens_per_kwh"].astype(str),
                         np.where(r["mfu_low_confidence"], "not ranked: low-confidence MFU", "not ranked: does not fit"))
    r["count"] = r["count"].astype(int)
    r["tokens_per_kwh_m"] = r["tokens_per_kwh"] / 1e6
    r["tokens_per_usd_cloud_k"] = r["tokens_per_usd_cloud"] / 1e3
    r["tokens_per_usd_owned_k"] = r["tokens_per_usd_owned"] / 1e3
    return tables.table(r, {"rank": "Rank (tokens per kWh)", "accelerator": "Accelerator", "count": "Count",
                            "mfu_basis": "MFU basis", "tokens_per_kwh_m": "Tokens per kWh (million)",
                            "tokens_per_usd_cloud_k": "Tokens per USD, cloud (thousand)",
                            "tokens_per_usd_owned_k": "Tokens per USD, owned (thousand)",
                            "fits_memory": "Fits in memory"},
                        kinds={"rank": "text", "mfu_basis": "text"},
                        caption="Pre-training configurations ranked (1 = best)",
                        notes=["Configurations whose model state does not fit, or whose accelerator has only a "
                               "low-confidence MFU prior, are shown but not ranked."])


def monthly_table(res: Results) -> tables.Table:
    m = res.switch.monthly.copy()
    m["fleet"] = [f"{c} × {_n(a)}" for c, a in zip(m["count"], m["accelerator"], strict=True)]
    m["emissions_t"] = m["emissions_kg"] / 1000.0
    m["mode"] = m["mode"].map({"owned": "owned", "cloud": "cloud (rented)"})
    return tables.table(m, {"mode": "Mode", "option": "Option", "fleet": "Fleet", "busy_hours": "Busy hours per month",
                            "energy_kwh": "Energy (kWh per month)", "energy_usd": "Energy (USD per month)",
                            "operations_usd": "Operations (USD per month)", "rental_usd": "Rental (USD per month)",
                            "total_usd": "Total (USD per month)", "emissions_t": "Emissions (t CO2e per month)"},
                        caption="Monthly cost before and after the switch",
                        notes=[f"Cloud: {_pair_words(res)}. Energy cost shows {fmt.MISSING} for a rented fleet: the rental "
                               "price includes it."])


def _has_pair(res: Results) -> bool:
    return res.switch.from_cloud is not None and res.switch.to_cloud is not None


def _pair_words(res: Results) -> str:
    s = res.switch
    if not _has_pair(res):
        return (f"the data set has no like-for-like {BASIS} {res.parameters['purchase_option']} price pair (same "
                f"provider, dates at most a year apart) for {_n(s.from_accelerator)} and {_n(s.to_accelerator)}, so the "
                "cloud side is not compared")
    a, b = s.from_cloud, s.to_cloud
    return (f"{_n(s.from_accelerator)} at {fmt.money(a.central)} and {_n(s.to_accelerator)} at {fmt.money(b.central)} "
            f"per GPU-hour, both {provider_name(a.provider)} {a.basis} {a.purchase_option} list prices "
            f"({a.price_date} and {b.price_date})")


def sweep_table(res: Results) -> tables.Table:
    w = res.sweep.copy()
    return tables.table(w, {"utilisation": "Today's fleet busy", "to_utilisation": "New fleet busy",
                            "owned_savings_usd_per_month": "Owned savings (USD per month)",
                            "owned_break_even_month": "Owned break-even (month)",
                            "cloud_savings_usd_per_month": "Cloud savings (USD per month)",
                            "cloud_break_even_month": "Cloud break-even (month)"},
                        kinds={"utilisation": "percent", "to_utilisation": "percent",
                               "owned_break_even_month": "integer", "cloud_break_even_month": "integer"},
                        caption="Break-even month by utilisation",
                        notes=[f"{fmt.MISSING}: does not pay back within {res.switch.horizon_months} months."])


def mix_table(res: Results) -> tables.Table:
    f = res.mix.frame
    pick = sorted({0, res.mix.best_count, int(f["owned_count"].max()),
                   int(round(res.parameters["baseline_accelerators"]))})
    rows = f[f["owned_count"].isin(pick)].copy()
    rows["energy_mwh"] = rows["energy_kwh"] / 1000.0
    return tables.table(rows, {"owned_count": "Owned accelerators", "owned_fixed_usd": "Capex + operations (USD)",
                               "owned_energy_usd": "Owned energy (USD)", "cloud_burst_usd": "Cloud burst (USD)",
                               "total_usd": "Total per year (USD)", "owned_share_of_demand": "Share served owned",
                               "owned_utilisation": "Owned busy", "energy_mwh": "Energy (MWh)"},
                        kinds={"owned_utilisation": "percent", "owned_share_of_demand": "percent"},
                        caption="Selected mixes, per year")


# --------------------------------------------------------------------------- prose

def hardware_md(res: Results) -> str:
    p = res.parameters
    f = res.hardware[res.hardware["job"] == "pre-training"]
    best = roi.best_ranked(res.ranked)
    ok = f[~f["mfu_low_confidence"] & f["fits_memory"]]
    text = (f"Pre-training {fmt.count(p['params'])} parameters on {fmt.count(p['tokens'])} tokens in {p['precision']}, "
            "every configuration on one MFU basis (the published-run prior of its accelerator generation for this "
            "model size; a transferred prior where no run is published): ")
    if best is None:
        text += "no compared accelerator has a published large-scale MFU for its generation, so none is ranked. "
    else:
        fastest = ok.loc[ok["wall_clock_hours"].idxmin()]
        text += (f"the fewest kWh are used by **{_best_names(res)}** "
                 f"({fmt.quantity(best['facility_energy_kwh'], 'kWh')}, {fmt.count(best['tokens_per_kwh'])} tokens "
                 f"per kWh); the fastest is {int(fastest['count'])} × {_n(fastest['accelerator'])} at "
                 f"{fmt.number(fastest['wall_clock_hours'])} h. ")
    cloud = ok[ok["tokens_per_usd_cloud"].notna()]
    if not cloud.empty:
        bc = cloud.loc[cloud["tokens_per_usd_cloud"].idxmax()]
        text += (f"Rented ({_price_words(res)}), the cheapest is {_n(bc['accelerator'])} "
                 f"({fmt.money(bc['cloud_cost_usd'])}). ")
    owned = ok[ok["tokens_per_usd_owned"].notna()]
    if not owned.empty:
        bo = owned.loc[owned["tokens_per_usd_owned"].idxmax()]
        text += (f"Owned, the cheapest is {_n(bo['accelerator'])} ({fmt.money(bo['owned_cost_usd'])}). ")
    unranked = sorted({_n(a) for a in f.loc[f["mfu_low_confidence"], "accelerator"]})
    if unranked:
        text += (f"Not ranked, shown for reference: {', '.join(unranked)} (no published large-scale run on their "
                 "generation, so their MFU is a transferred prior or a vendor benchmark: low confidence). ")
    no_price = sorted({_n(a) for a in f.loc[f["cloud_cost_usd"].isna(), "accelerator"]})
    if no_price:
        text += f"No rental price on this basis for {', '.join(no_price)}: their cloud cost shows {fmt.MISSING}. "
    text += ("The training model has no communication overhead: the count changes the wall-clock time, not the "
             "energy or the cost.")
    return text


def _best_names(res: Results) -> str:
    """The accelerator(s) ranked first by tokens per kWh; a tie names every one of them."""
    r = res.ranked
    top = r[r["ranked"] & (r["rank_tokens_per_kwh"] == 1)]
    names = [_n(a) for a in dict.fromkeys(top["accelerator"])]
    return names[0] if len(names) == 1 else " and ".join(names) + " (tied)"


def _verdict(be: roi.BreakEven, horizon: int) -> str:
    if be.month is None:
        return f"never within {horizon} months"
    return "at once" if be.month == 0 else f"in month {be.month}"


def _pays(be: roi.BreakEven, horizon: int) -> str:
    return f"does not pay back within {horizon} months" if be.month is None else f"pays back {_verdict(be, horizon)}"


def switch_md(res: Results) -> str:
    s = res.switch
    text = (f"The work of **{s.from_count} × {_n(s.from_accelerator)}**, busy {fmt.percent(s.utilisation)} of the "
            f"time, moves to **{s.to_count} × {_n(s.to_accelerator)}** ({fmt.number(s.speed_ratio)} times the training "
            f"rate each, so the new fleet is busy {fmt.percent(s.to_utilisation)} of the time). ")
    text += f"Owned, switching {_pays(s.owned, s.horizon_months)}: {s.owned.reason}. "
    text += f"Rented, it {_pays(s.cloud, s.horizon_months)}: {s.cloud.reason}. "
    text += f"Cloud prices: {_pair_words(res)}."
    return text


def sweep_md(res: Results) -> str:
    sw = res.sweep
    h = res.switch.horizon_months
    ok = sw[sw["owned_break_even_month"].notna()]
    if ok.empty:
        text = (f"Owned, the switch does not pay back within {h} months at any utilisation from "
                f"{fmt.percent(sw['utilisation'].min())} to {fmt.percent(sw['utilisation'].max())}: with the old fleet "
                "paid for, the energy and operations it saves are small against a new purchase. ")
    else:
        text = f"Owned, the switch pays back within {h} months from {fmt.percent(ok['utilisation'].min())} utilisation on. "
    okc = sw[sw["cloud_break_even_month"].notna()]
    if okc.empty:
        text += "Rented, it does not pay back within the horizon at any utilisation swept."
    else:
        text += f"Rented, it pays back within the horizon from {fmt.percent(okc['utilisation'].min())} utilisation on."
    return text


def mix_md(res: Results) -> str:
    m = res.mix
    b = m.best
    p = res.parameters
    saving = 1 - m.best_total_usd / m.all_cloud_usd if m.all_cloud_usd > 0 else 0.0
    text = (f"A year with {fmt.number(p['baseline_accelerators'])} accelerators of steady demand and "
            f"{p['peak_days_per_year']} days at {fmt.number(p['peak_accelerators'])} ({p['campaigns_per_year']} "
            f"campaigns) on {_n(m.accelerator)}: the cheapest mix owns **{m.best_count}** ")
    if 0 < m.best_count < int(np.ceil(res.demand.max())):
        text += (f"and rents the rest ({fmt.percent(b['owned_share_of_demand'])} of the accelerator-hours on owned "
                 f"hardware, which is busy {fmt.percent(b['owned_utilisation'])} of the time), ")
    elif m.best_count > 0:
        text += f"(enough for the peak; the owned hardware is busy {fmt.percent(b['owned_utilisation'])} of the time), "
    else:
        text += "(everything rented), "
    text += (f"for {fmt.money(m.best_total_usd)} a year: {fmt.percent(saving)} less than all-cloud "
             f"({fmt.money(m.all_cloud_usd)})")
    if m.best_total_usd < m.all_owned_usd:
        text += (f" and {fmt.percent(1 - m.best_total_usd / m.all_owned_usd)} less than owning for the peak "
                 f"({fmt.money(m.all_owned_usd)}). ")
    else:
        text += ". "
    if m.best_count == 0:
        text += "Owning does not pay at these prices: every accelerator-hour is cheaper rented."
    elif m.best_count >= m.frame["owned_count"].max():
        text += "Owning for the whole peak is cheapest: cloud burst never pays at these prices."
    else:
        above = float((res.demand > m.best_count).sum() * m.period_hours)
        text += (f"One more owned accelerator pays for itself only if it is busy more than "
                 f"{fmt.number(m.owned_break_even_hours)} h a year ({fmt.percent(m.owned_break_even_hours / roi.HOURS_PER_YEAR)} "
                 f"of the year); demand exceeds {m.best_count} accelerators for only {fmt.number(above)} h, so the "
                 "peaks are cheaper rented.")
    return text


# --------------------------------------------------------------------------- figures' alt text

def energy_cost_alt(res: Results) -> str:
    e, c = energy_cost_frames(res)
    parts = [f"{a}: {fmt.quantity(v, 'kWh')}" for a, v in e.items()]
    return (f"Two bar panels for {res.chart_count} accelerators of each type: facility energy of the pre-training job "
            f"({'; '.join(parts)}) and its cost rented and owned in USD.")


def switch_alt(res: Results) -> str:
    s = res.switch
    return (f"Cumulative cost over {s.horizon_months} months of staying on {_n(s.from_accelerator)} or switching to "
            f"{_n(s.to_accelerator)}, owned (left) and rented (right); owned the switch {_pays(s.owned, s.horizon_months)}, "
            f"rented it {_pays(s.cloud, s.horizon_months)}.")


def sweep_alt(res: Results) -> str:
    w = res.sweep
    return (f"Monthly savings of the switch against today's fleet utilisation from {fmt.percent(w['utilisation'].min())} "
            f"to {fmt.percent(w['utilisation'].max())}: owned {fmt.money(w['owned_savings_usd_per_month'].min())} to "
            f"{fmt.money(w['owned_savings_usd_per_month'].max())}, rented "
            f"{fmt.money(w['cloud_savings_usd_per_month'].min())} to {fmt.money(w['cloud_savings_usd_per_month'].max())}.")


def demand_alt(res: Results) -> str:
    return (f"A year of demand, daily mean, between {fmt.number(res.demand.min())} and {fmt.number(res.demand.max())} "
            f"accelerators, with the {res.mix.best_count} owned in the cheapest mix as a flat line.")


def mix_alt(res: Results) -> str:
    m = res.mix
    return (f"Annual cost against the number of owned accelerators, split into capex and operations, owned energy and "
            f"cloud burst; the total is lowest, {fmt.money(m.best_total_usd)}, at {m.best_count} owned.")


# --------------------------------------------------------------------------- finding and metrics

def finding(res: Results) -> tuple[str, list[tuple[str, str, str]]]:
    """(headline, key-figure tiles): the switch verdict owned and rented, the cheapest mix, the most efficient part."""
    s = res.switch
    h = s.horizon_months
    own = ("owned it pays back at once" if s.owned.month == 0 else f"owned it pays back in {s.owned.month} months"
           if s.owned.month is not None else f"owned it does not pay back within {h} months")
    if not _has_pair(res):
        cloud = "rented there is no like-for-like cloud price pair to compare"
    elif s.cloud.month is None:
        cloud = f"rented it does not pay back within {h} months ({_cloud_basis_words(res)})"
    else:
        cloud = (f"rented it pays back {'at once' if s.cloud.month == 0 else f'in {s.cloud.month} months'} "
                 f"({_cloud_basis_words(res)})")
    m = res.mix
    if m.best_count == 0:
        mix = f"renting everything is cheapest ({fmt.money(m.best_total_usd)} a year)"
    elif m.best_count >= int(np.ceil(res.demand.max())):
        mix = f"owning {m.best_count} {_n(m.accelerator)}, enough for the peak, is cheapest"
    else:
        mix = (f"owning {m.best_count} {_n(m.accelerator)} and renting the peaks is cheapest "
               f"({fmt.money(m.best_total_usd)} a year)")
    headline = (f"Switching {s.from_count} {_n(s.from_accelerator)} to {s.to_count} {_n(s.to_accelerator)} "
                f"at {fmt.percent(s.utilisation)} use: {own}; {cloud}. For a year of "
                f"{fmt.number(res.demand.min())}–{fmt.number(res.demand.max())} accelerators of demand, {mix}.")
    tiles: list[tuple[str, str, str]] = [
        ("Owned switch pays back", _verdict(s.owned, h),
         f"{fmt.money(s.owned.savings_usd_per_month)} saved a month against {fmt.money(s.owned.switch_cost_usd)}"),
        ("Rented switch pays back", _verdict(s.cloud, h) if _has_pair(res) else fmt.MISSING,
         _cloud_basis_words(res)),
        ("Cheapest mix", f"own {m.best_count}, rent the rest" if 0 < m.best_count else "rent everything",
         f"{fmt.money(m.best_total_usd)} a year"),
    ]
    best = roi.best_ranked(res.ranked)
    if best is not None:
        tiles.append(("Fewest kWh for the job", _best_names(res),
                      f"{fmt.count(best['tokens_per_kwh'])} tokens per kWh"))
    return headline, tiles


def _cloud_basis_words(res: Results) -> str:
    if not _has_pair(res):
        return f"no like-for-like {BASIS} price pair"
    b = res.switch.to_cloud
    return f"{provider_name(b.provider)} {b.basis} {b.purchase_option} prices, {b.price_date}"


def metrics(res: Results) -> dict[str, Any]:
    """What ``metrics.json`` holds: title, finding, key figures and the named numbers behind them."""
    r = roi.best_ranked(res.ranked)
    s = res.switch
    headline, _ = finding(res)
    kf = [{"label": f"tokens per kWh, {_n(r['accelerator'])}", "value": round6(r["tokens_per_kwh"]),
           "unit": "tokens/kWh"}] if r is not None else []
    kf.append({"label": "owned switch savings per month", "value": round6(s.owned.savings_usd_per_month),
               "unit": "USD"})
    if s.owned.month is not None:
        kf.append({"label": "owned switch break-even", "value": s.owned.month, "unit": "months"})
    elif s.cloud.month is not None:
        kf.append({"label": "cloud switch break-even", "value": s.cloud.month, "unit": "months"})
    kf.append({"label": "owned accelerators in the cheapest mix", "value": res.mix.best_count, "unit": "accelerators"})
    cloud_savings = s.cloud.savings_usd_per_month
    return {
        "title": TITLE,
        "finding": headline,
        "key_figures": kf[:4],
        "best_tokens_per_kwh_accelerator": r["accelerator"] if r is not None else None,
        "best_tokens_per_kwh": round6(r["tokens_per_kwh"]) if r is not None else None,
        "mfu_basis": sorted(set(res.hardware["mfu_basis"])),
        "low_confidence_accelerators": sorted(set(res.hardware.loc[res.hardware["mfu_low_confidence"], "accelerator"])),
        "to_count": s.to_count,
        "speed_ratio": round6(s.speed_ratio),
        "owned_break_even_month": s.owned.month,
        "owned_savings_usd_per_month": round6(s.owned.savings_usd_per_month),
        "owned_switch_cost_usd": round6(s.owned.switch_cost_usd),
        "cloud_break_even_month": s.cloud.month,
        "cloud_savings_usd_per_month": round6(cloud_savings) if np.isfinite(cloud_savings) else None,
        "cloud_price_basis": f"{BASIS}, {res.parameters['purchase_option']}",
        "cloud_provider": res.parameters["cloud_provider"],
        "mix_best_owned_count": res.mix.best_count,
        "mix_best_total_usd": round6(res.mix.best_total_usd),
        "mix_all_cloud_usd": round6(res.mix.all_cloud_usd),
        "mix_all_owned_usd": round6(res.mix.all_owned_usd),
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics.json`` straight from a parameter dict (names it lacks take the notebook's parameters cell)."""
    return metrics(compute(check(**notebook_defaults.merged(NOTEBOOK, parameters))))
