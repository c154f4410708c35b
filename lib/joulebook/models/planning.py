"""Where and when to run a job: regions side by side, data residency, carbon price, best start times.

The job. Given either as ``energy_kwh`` + ``hours`` or as a training estimate
(:func:`job_from_training`). The energy is **IT energy** (accelerators + host,
what the servers draw, before cooling and power distribution): the same job
draws the same IT energy anywhere, while each region's data-centre PUE turns it
into a different amount of facility energy taken from the grid. Pass ``pue=1``
if the energy you have is already facility energy.

Per region (low / central / high where inputs are uncertain):

    facility_energy_kwh = it_energy_kwh x PUE                 (operator default of the region)
    emissions_kg        = facility_energy_kwh x mean intensity over the chosen start window / 1000
    cost_usd            = facility_energy_kwh x mean price over the window  (TOU where the data has it)
    water_l             = it_energy_kwh x on-site WUE + facility_energy_kwh x water intensity of electricity
    carbon_cost_usd     = emissions_kg / 1000 x the carbon price of the region's scheme (EU ETS, UK ETS,
                          California-Quebec cap-and-trade) -- only where a scheme applies

Intensity is location-based and operational only (no embodied carbon: the job
is given as energy). The carbon line is an *internal* (shadow) carbon cost: it
is not added to the electricity bill, because the allowance costs of an ETS are
already passed through in wholesale power prices; it shows the carbon exposure
a team carrying an internal carbon price would book.

The best start per region comes from :mod:`joulebook.models.schedule` (every whole
local hour of the planning date as a candidate). The ranking minimises the
objective: ``emissions`` (kg), ``cost`` (USD of electricity; regions without
price data rank last) or ``weighted`` (USD of electricity + emissions x one
internal carbon price for all regions).

Data residency: ``residency`` lists the jurisdictions where the data may be
processed (ISO-3 country codes such as ``DEU``, ``USA``; blocs ``EU``, ``EEA``,
``US``). Regions outside them are removed; what the constraint costs is the
best allowed region minus the best region overall, in kg and in USD.

No I/O beyond :mod:`joulebook.data`, no plotting. Prose helpers return strings
written from the numbers (the notebook shows them).
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
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.models import costs, grid, schedule

ENERGY_BASIS = ("IT energy (servers: accelerators + host, before PUE); each region's data-centre PUE turns it "
                "into the facility energy drawn from the grid")
CARBON_LINE_LABEL = "internal carbon cost"
CARBON_LINE_NOTE = ("an internal (shadow) carbon cost, not an extra bill: ETS allowance costs are already embedded "
                    "in wholesale power prices, so the electricity cost above includes them")
PROFILE_SOURCE = "dcrl_eia930_2022"
TOU_SOURCES = ("pge_b19_2026", "pge_tou_periods")
WATER_SOURCES = ("li_2023_thirsty", "scope3_methodology")


class UnknownJurisdictionError(UnknownNameError):
    kind = "jurisdiction"


# --------------------------------------------------------------------------- the job

@dataclass(frozen=True)
class Job:
    """A job to place: IT energy (low, central, high) drawn evenly over ``hours``."""

    it_energy_kwh: float
    hours: float
    it_energy_low_kwh: float | None = None
    it_energy_high_kwh: float | None = None
    label: str = ""
    source: str = "given"

    @property
    def it_energy_bounds_kwh(self) -> tuple[float, float, float]:
        lo = self.it_energy_kwh if self.it_energy_low_kwh is None else self.it_energy_low_kwh
        hi = self.it_energy_kwh if self.it_energy_high_kwh is None else self.it_energy_high_kwh
        return (lo, self.it_energy_kwh, hi)

    def to_dict(self) -> dict[str, Any]:
        lo, c, hi = self.it_energy_bounds_kwh
        return {"it_energy_kwh": c, "it_energy_low_kwh": lo, "it_energy_high_kwh": hi, "hours": self.hours,
                "label": self.label, "source": self.source, "energy_basis": ENERGY_BASIS}


def job(energy_kwh, hours, *, label: str = "") -> Job:
    """A job given as IT energy (kWh) and duration (h)."""
    e = number("energy_kwh", energy_kwh, strictly_positive=True)
    h = number("hours", hours, strictly_positive=True, maximum=schedule.MAX_DURATION_H)
    return Job(it_energy_kwh=e, hours=h, label=label or f"{e:,.0f} kWh over {h:g} h", source="given")


def job_from_training(estimate=None, **training_kwargs) -> Job:
    """A job from a training estimate (given, or computed from ``training_kwargs``).

    Uses the estimate's IT energy (low, central, high) and its central wall-clock
    time; the region the estimate was made for does not matter (IT energy does
    not depend on the region).
    """
    from joulebook.models import training

    est = estimate if estimate is not None else training.estimate_training(**training_kwargs)
    c, lo, hi = est.central, est.low, est.high
    hours = c.get("wall_clock_hours")
    if not c.get("it_energy_kwh") or not hours:
        raise InputError("estimate", "the training estimate has no IT energy or wall-clock time")
    inputs = getattr(est, "inputs", {}) or {}
    label = "training estimate"
    if inputs.get("params") and inputs.get("tokens"):
        label = (f"training {inputs['params']:.3g} parameters on {inputs['tokens']:.3g} tokens"
                 f" ({inputs.get('count', '')} x {inputs.get('accelerator', '')})")
    return Job(it_energy_kwh=float(c["it_energy_kwh"]), hours=float(hours),
               it_energy_low_kwh=float(lo["it_energy_kwh"]), it_energy_high_kwh=float(hi["it_energy_kwh"]),
               label=label, source="training estimate")


# --------------------------------------------------------------------------- data residency

def known_jurisdictions() -> list[str]:
    """Every jurisdiction a region of the data set belongs to (ISO-3 codes and blocs)."""
    out: set[str] = set()
    for r in data.regions().values():
        out |= r.jurisdictions
    return sorted(out)


def parse_residency(residency) -> tuple[str, ...] | None:
    """``None``/``""``/``[]`` (anywhere) or the checked, upper-case jurisdiction codes.

    Accepts ``"EU,USA"`` or ``["EU", "USA"]``; an unknown code raises
    :class:`UnknownJurisdictionError` with close matches.
    """
    if residency is None:
        return None
    if isinstance(residency, str):
        tokens = [t for t in residency.replace(";", ",").split(",")]
    elif isinstance(residency, (list, tuple, set, frozenset)):
        tokens = list(residency)
    else:
        raise InputError("residency", f"expected jurisdiction codes like 'EU,USA', got {type(residency).__name__}")
    codes = []
    for t in tokens:
        if not isinstance(t, str):
            raise InputError("residency", f"expected jurisdiction codes (strings), got {t!r}")
        t = t.strip().upper()
        if t and t not in codes:
            codes.append(t)
    if not codes:
        return None
    known = known_jurisdictions()
    for c in codes:
        if c not in known:
            raise UnknownJurisdictionError(c, known, parameter="residency")
    return tuple(codes)


def residency_allows(regions, residency) -> np.ndarray:
    """Boolean per region: may the data be processed there? (all True without a constraint)"""
    regs = [data.region(r) for r in regions]
    res = parse_residency(residency)
    if res is None:
        return np.ones(len(regs), dtype=bool)
    return np.array([bool(r.jurisdictions & set(res)) for r in regs], dtype=bool)


def filter_residency(regions, residency) -> tuple[list[data.Region], list[data.Region]]:
    """(allowed, removed) regions; :class:`InputError` naming ``residency`` when none is allowed."""
    regs = [data.region(r) for r in regions]
    res = parse_residency(residency)
    ok = residency_allows(regs, res)
    if res is not None and not ok.any():
        where = "; ".join(f"{r.region_id} is in {', '.join(sorted(r.jurisdictions)) or 'no listed jurisdiction'}"
                          for r in regs)
        fits = [r.region_id for r in data.regions().values() if r.jurisdictions & set(res)]
        more = f" and {len(fits) - 8} more" if len(fits) > 8 else ""
        hint = f" Regions of the data set that qualify: {', '.join(fits[:8])}{more}." if fits else ""
        raise InputError("residency", f"no candidate region is allowed: data may be processed only in "
                                      f"{', '.join(res)}, but {where}.{hint}")
    return [r for r, a in zip(regs, ok, strict=True) if a], [r for r, a in zip(regs, ok, strict=True) if not a]


# --------------------------------------------------------------------------- carbon price

def carbon_line(region, emissions_kg) -> dict[str, Any] | None:
    """The internal carbon cost of ``emissions_kg`` where the region's carbon-pricing scheme applies, else None."""
    r = data.region(region)
    if not r.carbon_price_scheme:
        return None
    em = number("emissions_kg", emissions_kg)
    p = costs.carbon_price(r.carbon_price_scheme)
    return {"label": CARBON_LINE_LABEL, "scheme": r.carbon_price_scheme, "carbon_price_usd_per_t": p.central,
            "carbon_price_low_usd_per_t": p.low, "carbon_price_high_usd_per_t": p.high,
            "carbon_cost_usd": em / 1000.0 * p.central, "source_id": p.source_id, "detail": p.detail,
            "note": CARBON_LINE_NOTE}


def default_internal_carbon_price() -> tuple[float, str, str]:
    """(USD/t, source_id, note) used by the ``weighted`` objective when none is given: the EU ETS average."""
    p = costs.carbon_price("EU ETS")
    return p.central, p.source_id, f"EU ETS used as the internal carbon price: {p.detail}"


# --------------------------------------------------------------------------- the plan

@dataclass
class Plan:
    """Regions side by side for one job; ``table`` is ranked (allowed regions first)."""

    job: Job
    objective: str
    team_tz: str
    month: int
    year: int
    day: int
    residency: tuple[str, ...] | None
    table: pd.DataFrame
    starts: pd.DataFrame
    start_choices: pd.DataFrame
    constraint: dict[str, Any]
    notes: list[str]
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)
    internal_carbon_price_usd_per_t: float | None = None

    @property
    def allowed(self) -> pd.DataFrame:
        return self.table[self.table["allowed"]]

    @property
    def best(self) -> pd.Series:
        """The top-ranked allowed region."""
        return self.allowed.iloc[0]

    def to_dict(self) -> dict[str, Any]:
        cols = ["rank", "region", "name", "kind", "jurisdictions", "allowed", "timezone", "best_start_local",
                "best_start_local_iso", "best_start_team", "best_start_team_iso", "best_start_utc", "best_end_local",
                "best_end_team", "objective_value", "emissions_kg", "emissions_low_kg", "emissions_high_kg",
                "emissions_mean_start_kg", "timing_saving_kg", "intensity_g_per_kwh", "annual_intensity_g_per_kwh",
                "hourly_profile", "pue", "pue_low", "pue_high", "facility_energy_kwh", "facility_energy_low_kwh",
                "facility_energy_high_kwh", "water_l", "water_low_l", "water_high_l", "price_usd_per_kwh",
                "price_basis", "cost_usd", "cost_low_usd", "cost_high_usd", "carbon_price_scheme",
                "carbon_price_usd_per_t", "carbon_cost_usd"]
        rows = self.table[cols].astype(object).where(pd.notna(self.table[cols]), None).to_dict(orient="records")
        for row in rows:
            if row["rank"] is not None:
                row["rank"] = int(row["rank"])
            row["carbon_line"] = None if row["carbon_price_scheme"] is None else {
                "label": CARBON_LINE_LABEL, "scheme": row["carbon_price_scheme"],
                "usd_per_t": row["carbon_price_usd_per_t"], "cost_usd": row["carbon_cost_usd"], "note": CARBON_LINE_NOTE}
        choices = self.start_choices.astype(object).where(pd.notna(self.start_choices), None).to_dict(orient="records")
        return {
            "job": self.job.to_dict(), "objective": self.objective, "team_tz": self.team_tz,
            "date": f"{self.year}-{self.month:02d}-{self.day:02d}",
            "residency": list(self.residency) if self.residency else None,
            "internal_carbon_price_usd_per_t": self.internal_carbon_price_usd_per_t,
            "regions": [r for r in rows if r["allowed"]], "excluded": [r for r in rows if not r["allowed"]],
            "start_choices": choices, "residency_constraint": self.constraint, "notes": list(self.notes),
            "assumptions": self.assumptions.to_list(), "sources": list(self.source_ids),
        }


def _regions_list(regions) -> list[data.Region]:
    if isinstance(regions, str):
        regions = [x for x in regions.split(",")]
    if isinstance(regions, data.Region):
        regions = [regions]
    try:
        items = list(regions)
    except TypeError:
        raise InputError("regions", f"expected a list of region ids, got {type(regions).__name__}") from None
    regs: list[data.Region] = []
    for x in items:
        if isinstance(x, str) and not x.strip():
            continue
        r = data.region(x.strip() if isinstance(x, str) else x)
        if r.region_id not in {g.region_id for g in regs}:
            regs.append(r)
    if not regs:
        raise InputError("regions", "give at least one region (e.g. us-va,se,de)")
    return regs


def compare(job_or_energy, regions, *, hours=None, team_tz: str = "UTC", residency=None, objective: str = "emissions",
            month: int = 7, year: int = schedule.DEFAULT_YEAR, day: int = schedule.DEFAULT_DAY, days: int = 1,
            pue=None, internal_carbon_price_usd_per_t=None) -> Plan:
    """Compare ``regions`` for a job: best start, emissions, cost, water, PUE, carbon line, ranking.

    ``job_or_energy``: a :class:`Job`, a training estimate, or IT energy in kWh
    (then ``hours`` is required). ``team_tz``: IANA zone in which start times are
    also shown. ``residency``: jurisdictions where the data may be processed.
    ``pue``: one PUE for every region (default: each region's operator default,
    with its range). Candidate starts: every whole local hour on ``year-month-day``
    (and the ``days - 1`` following days).
    """
    if isinstance(job_or_energy, Job):
        jb = job_or_energy
        if hours is not None:
            raise InputError("hours", "the job already has a duration")
    elif hasattr(job_or_energy, "central") and hasattr(job_or_energy, "low"):
        jb = job_from_training(job_or_energy)
    else:
        if hours is None:
            raise InputError("hours", "a value is required with energy_kwh (the job's duration in hours)")
        jb = job(job_or_energy, hours)
    objective = schedule.check_objective(objective)
    team = schedule.time_zone(team_tz, "team_tz").key
    month = int(number("month", month, minimum=1, maximum=12, integer=True))
    res = parse_residency(residency)
    regs = _regions_list(regions)
    allowed_regs, _removed = filter_residency(regs, res)
    allowed_ids = {r.region_id for r in allowed_regs}
    pue_given = number("pue", pue, minimum=1.0, maximum=3.0, allow_none=True)
    icp, icp_src, icp_note = None, "", ""
    if objective == "weighted":
        if internal_carbon_price_usd_per_t is None:
            icp, icp_src, icp_note = default_internal_carbon_price()
        else:
            icp = number("internal_carbon_price_usd_per_t", internal_carbon_price_usd_per_t)
            icp_src, icp_note = "user", "given"
    elif internal_carbon_price_usd_per_t is not None:
        raise InputError("internal_carbon_price_usd_per_t", "only used by objective='weighted'")

    pue_tab = np.array([(pue_given,) * 3 if pue_given is not None else r.pue for r in regs], dtype=float)  # (n, 3)
    it = np.array(jb.it_energy_bounds_kwh, dtype=float)  # (3,)
    facility = it[None, :] * pue_tab  # (n, 3): low, central, high
    summary, starts = schedule.best_starts(regs, jb.hours, facility[:, 1], objective=objective,
                                           carbon_price_usd_per_t=icp, team_tz=team, month=month, year=year,
                                           day=day, days=days)
    ci = summary["intensity_g_per_kwh"].to_numpy(dtype=float)
    price = summary["price_usd_per_kwh"].to_numpy(dtype=float)
    wue = np.array([r.wue_onsite_l_per_kwh for r in regs], dtype=float)
    ewif = np.array([r.ewif_l_per_kwh for r in regs], dtype=float)
    emissions = facility * ci[:, None] / 1000.0
    cost = facility * price[:, None]
    water = it[None, :] * wue + facility * ewif
    scheme = [r.carbon_price_scheme for r in regs]
    cprice = np.array([costs.carbon_price(s).central if s else np.nan for s in scheme], dtype=float)
    carbon_cost = emissions[:, 1] / 1000.0 * cprice
    objective_value = summary["objective_value"].to_numpy(dtype=float)
    table = pd.DataFrame({
        "region": [r.region_id for r in regs], "name": [r.name for r in regs], "kind": [r.kind for r in regs],
        "jurisdictions": [",".join(sorted(r.jurisdictions)) for r in regs],
        "allowed": [r.region_id in allowed_ids for r in regs], "timezone": [r.timezone for r in regs],
        "best_start_local": summary["start_local"].to_numpy(), "best_start_local_iso": summary["start_local_iso"].to_numpy(),
        "best_start_hour_local": summary["start_hour_local"].to_numpy(),
        "best_start_team": summary["start_team"].to_numpy(), "best_start_team_iso": summary["start_team_iso"].to_numpy(),
        "best_start_hour_team": summary["start_hour_team"].to_numpy(),
        "team_date_shift_days": summary["team_date_shift_days"].to_numpy(),
        "best_start_utc": summary["start_utc"].to_numpy(), "best_end_local": summary["end_local"].to_numpy(),
        "best_end_team": summary["end_team"].to_numpy(), "objective_value": objective_value,
        "emissions_kg": emissions[:, 1], "emissions_low_kg": emissions[:, 0], "emissions_high_kg": emissions[:, 2],
        "emissions_mean_start_kg": summary["emissions_mean_kg"].to_numpy(),
        "emissions_worst_start_kg": summary["emissions_worst_kg"].to_numpy(),
        "timing_saving_kg": summary["timing_saving_kg"].to_numpy(),
        "timing_saving_usd": summary["timing_saving_usd"].to_numpy(),
        "intensity_g_per_kwh": ci, "annual_intensity_g_per_kwh": [r.intensity_g_per_kwh for r in regs],
        "intensity_year": [r.intensity_year for r in regs],
        "hourly_profile": [r.hourly_zone is not None for r in regs], "hourly_zone": [r.hourly_zone or "" for r in regs],
        "pue_low": pue_tab[:, 0], "pue": pue_tab[:, 1], "pue_high": pue_tab[:, 2],
        "facility_energy_low_kwh": facility[:, 0], "facility_energy_kwh": facility[:, 1],
        "facility_energy_high_kwh": facility[:, 2],
        "water_low_l": water[:, 0], "water_l": water[:, 1], "water_high_l": water[:, 2],
        "price_usd_per_kwh": price, "price_known_share": summary["price_known_share"].to_numpy(),
        "price_basis": summary["price_basis"].to_numpy(), "tou_schedule": [r.tou_schedule or "" for r in regs],
        "cost_low_usd": cost[:, 0], "cost_usd": cost[:, 1], "cost_high_usd": cost[:, 2],
        "carbon_price_scheme": scheme, "carbon_price_usd_per_t": cprice, "carbon_cost_usd": carbon_cost,
    })
    # rank: allowed first, then objective (NaN last), emissions, cost, input order
    allowed_key = (~table["allowed"].to_numpy()).astype(float)
    base = schedule.rank_order(objective_value, emissions[:, 1], cost[:, 1])
    order = base[np.argsort(allowed_key[base], kind="stable")]
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", pd.array([i + 1 if a else pd.NA for i, a in enumerate(table["allowed"])], dtype="Int64"))

    choices = _start_choices(starts, icp)
    constraint = _constraint(table, objective, res)
    notes = _notes(regs, table, jb, month)
    assumptions, sources = _assumptions(regs, jb, pue_given, objective, icp, icp_src, icp_note, team, year, month,
                                        day, days, table)
    return Plan(job=jb, objective=objective, team_tz=team, month=month, year=int(year), day=int(day), residency=res,
                table=table, starts=starts, start_choices=choices, constraint=constraint, notes=notes,
                assumptions=assumptions, source_ids=sources, internal_carbon_price_usd_per_t=icp)


def _start_choices(starts: pd.DataFrame, icp: float | None) -> pd.DataFrame:
    """Per region: the cleanest and the cheapest start, in local time and the team's time."""
    clean = schedule.summarise_starts(starts, "emissions").set_index("region")
    cheap = schedule.summarise_starts(starts, "cost").set_index("region")
    out = pd.DataFrame({
        "region": clean.index, "timezone": clean["timezone"].to_numpy(),
        "cleanest_start_local": clean["start_local"].to_numpy(), "cleanest_start_team": clean["start_team"].to_numpy(),
        "cleanest_intensity_g_per_kwh": clean["intensity_g_per_kwh"].to_numpy(),
        "mean_start_intensity_g_per_kwh": (starts.groupby("region", sort=False)["intensity_g_per_kwh"].mean()
                                           .loc[clean.index].to_numpy()),
        "worst_start_intensity_g_per_kwh": (starts.groupby("region", sort=False)["intensity_g_per_kwh"].max()
                                            .loc[clean.index].to_numpy()),
        "cheapest_start_local": cheap.loc[clean.index, "start_local"].to_numpy(),
        "cheapest_start_team": cheap.loc[clean.index, "start_team"].to_numpy(),
        "cheapest_price_usd_per_kwh": cheap.loc[clean.index, "price_usd_per_kwh"].to_numpy(),
        "mean_start_price_usd_per_kwh": (starts.groupby("region", sort=False)["price_usd_per_kwh"].mean()
                                         .loc[clean.index].to_numpy()),
        "price_known_share": cheap.loc[clean.index, "price_known_share"].to_numpy(),
    })
    # a price that does not change with the start time picks no start: say so instead of showing midnight
    flat_price = (starts.groupby("region", sort=False)["price_usd_per_kwh"].agg(lambda s: s.max() - s.min())
                  .loc[clean.index].fillna(0).to_numpy() <= 0)
    flat_ci = (out["worst_start_intensity_g_per_kwh"] - out["cleanest_intensity_g_per_kwh"]).to_numpy() <= 1e-9 * \
        out["worst_start_intensity_g_per_kwh"].to_numpy()
    out["intensity_varies"] = ~flat_ci
    out["price_varies"] = ~flat_price
    return out


def _constraint(table: pd.DataFrame, objective: str, res) -> dict[str, Any]:
    """What the residency constraint costs: best allowed region minus best region overall."""
    every = table.iloc[schedule.rank_order(table["objective_value"], table["emissions_kg"], table["cost_usd"])]
    best_all = every.iloc[0]
    best_ok = table[table["allowed"]].iloc[0]
    d_kg = float(best_ok["emissions_kg"] - best_all["emissions_kg"])
    d_usd = float(best_ok["cost_usd"] - best_all["cost_usd"])
    return {
        "residency": list(res) if res else None,
        "removed": [r for r, a in zip(table["region"], table["allowed"], strict=True) if not a],
        "best_overall": best_all["region"], "best_allowed": best_ok["region"], "binding": best_all["region"] != best_ok["region"],
        "extra_emissions_kg": d_kg, "extra_cost_usd": None if math.isnan(d_usd) else d_usd,
        "extra_objective": float(best_ok["objective_value"] - best_all["objective_value"])
        if pd.notna(best_ok["objective_value"]) and pd.notna(best_all["objective_value"]) else None,
        "objective": objective,
    }


def _notes(regs, table: pd.DataFrame, jb: Job, month: int) -> list[str]:
    notes = []
    prof = [r.region_id for r in regs if r.hourly_zone]
    flat = [r.region_id for r in regs if not r.hourly_zone]
    profiles = data.table("hourly_intensity_profiles")
    zones = sorted(profiles["zone_id"].unique())
    years = sorted(profiles["year"].unique())
    notes.append(f"The data set has hourly intensity profiles ({'/'.join(str(y) for y in years)}, EIA-930, by local "
                 f"standard hour and season) only for {len(zones)} US balancing authorities ({', '.join(zones)}) and "
                 "the US zones and cloud regions mapped to them; every other region has one annual value.")
    if prof:
        notes.append(f"Candidates with an hourly profile: {', '.join(prof)}; start times there follow the profile's "
                     "daily shape.")
    if flat:
        notes.append(f"No hourly profile for {', '.join(flat)}: their intensity is one annual value, so every start "
                     "time gives the same emissions there in this data set (real grids vary by hour).")
    if jb.hours >= 24 and abs(jb.hours / 24 - round(jb.hours / 24)) < 1e-9:
        notes.append(f"The job runs {jb.hours:g} h, a whole number of days: under a repeating daily profile it covers "
                     "every hour of the day equally often, so its start time changes little (only across a season "
                     "boundary).")
    tou = [r for r in regs if r.tou_schedule]
    n_tariffs = len(data.table("tou_tariffs")[["utility", "schedule"]].drop_duplicates()) if tou else 0
    only = " It is the only time-of-use tariff in the data set." if n_tariffs == 1 else ""
    for r in tou:
        share = table.loc[table["region"] == r.region_id, "price_known_share"].iloc[0]
        arrays = schedule.tou_arrays(r)
        year_share = float(arrays[1].mean()) if arrays is not None else 0.0
        month_share = float(arrays[1][month - 1].mean()) if arrays is not None else 0.0
        notes.append(f"{r.region_id}: the {r.tou_schedule} time-of-use tariff has a published energy rate for only "
                     f"{year_share:.0%} of the hours of the year ({month_share:.0%} in month {month}; "
                     f"{share:.0%} of this job's best window); the other hours are priced at the average "
                     f"{r.price_usd_per_kwh:.4g} USD/kWh." + only)
    noprice = [r.region_id for r in regs if r.price_usd_per_kwh is None]
    if noprice:
        notes.append(f"No electricity price in the data set for {', '.join(noprice)}: cost is n/a there.")
    schemes = sorted({r.carbon_price_scheme for r in regs if r.carbon_price_scheme})
    if schemes:
        notes.append(f"Carbon price line ({', '.join(schemes)}): {CARBON_LINE_NOTE}.")
    notes.append("Emissions are location-based and operational (no embodied carbon); water uses one US-average "
                 "water intensity of electricity for every region (no regional figure in the data set).")
    return notes


def _assumptions(regs, jb: Job, pue_given, objective, icp, icp_src, icp_note, team, year, month, day, days, table):
    a = Assumptions()
    src: list[str] = []
    a.add("it_energy_kwh", jb.it_energy_kwh, "kWh (IT)", "user" if jb.source == "given" else "joulebook_training",
          f"{ENERGY_BASIS}; range {jb.it_energy_bounds_kwh[0]:.4g}-{jb.it_energy_bounds_kwh[2]:.4g}", jb.source == "given")
    a.add("hours", jb.hours, "h", "user" if jb.source == "given" else "joulebook_training",
          "energy drawn evenly over the run", jb.source == "given")
    if pue_given is not None:
        a.add("pue", pue_given, "ratio", "user", "one PUE for every region", True)
    else:
        a.add("pue", "per region", "ratio", "joulebook_operator_defaults",
              "operator default of each region (industry, Google, AWS, Microsoft) with its range")
        src.append("joulebook_operator_defaults")
    a.add("candidate_starts", f"every whole local hour of {year}-{month:02d}-{day:02d}"
          + (f" and the next {days - 1} days" if days > 1 else ""), "", "joulebook_regions",
          "nonexistent local hours on a spring-forward day are skipped")
    a.add("team_tz", team, "IANA", "user", "start times are also shown on the team's clock")
    a.add("objective", objective, "", "user", {"emissions": "minimise kg CO2e", "cost": "minimise electricity USD",
                                               "weighted": "minimise electricity USD + kg CO2e x internal carbon price"}[objective])
    if icp is not None:
        a.add("internal_carbon_price_usd_per_t", icp, "USD/t CO2e", icp_src, icp_note, icp_src == "user")
        if icp_src and icp_src != "user":
            src.append(icp_src)
    e = regs[0].ewif_l_per_kwh
    a.add("ewif_l_per_kwh", e[1], "L/kWh of electricity", "li_2023_thirsty",
          f"range {e[0]:g}-{e[2]:g}; one US-average value for every region")
    src += list(WATER_SOURCES)
    for r in regs:
        src += r.source_ids
        if r.hourly_zone:
            src.append(PROFILE_SOURCE)
        if r.tou_schedule:
            src += list(TOU_SOURCES)
        if r.carbon_price_scheme:
            src.append(costs.carbon_price(r.carbon_price_scheme).source_id)
    known = set(data.table("sources")["source_id"])
    return a, [s for s in dict.fromkeys(src) if s and s in known]


# --------------------------------------------------------------------------- figures' data

def heatmap_frame(regions, *, value: str = "intensity", team_tz=None, month: int = 7, year: int = schedule.DEFAULT_YEAR,
                  day: int = schedule.DEFAULT_DAY) -> pd.DataFrame:
    """Intensity (g/kWh) or price (USD/kWh) by hour (rows: regions; columns: hours of the team's clock)."""
    regs = _regions_list(regions)
    return schedule.hour_by_hour(regs, value=value, tz=team_tz, month=month, year=year, day=day)


def plan_heatmap(plan: Plan, value: str = "intensity", *, relative: bool = False) -> pd.DataFrame:
    """:func:`heatmap_frame` for a plan's regions, date and team clock.

    ``relative``: each row divided by its own daily mean, so the clean (cheap) hours of
    every region show up whatever its level.
    """
    heat = heatmap_frame(list(plan.table["region"]), value=value, team_tz=plan.team_tz, month=plan.month,
                         year=plan.year, day=plan.day)
    if relative:
        mean = heat.mean(axis=1)
        heat = heat.div(mean.where(mean > 0), axis=0)
    return heat


def heatmap_label(value: str = "intensity", relative: bool = False) -> str:
    if relative:
        return f"{'intensity' if value == 'intensity' else 'price'} / the region's daily mean"
    return "grid intensity (g CO2e/kWh)" if value == "intensity" else "electricity price (USD/kWh)"


def timing_value(regions, durations_h, *, month: int = 7) -> pd.DataFrame:
    """What the start time is worth for jobs of each duration, region by region.

    Long format: region, duration_h, hourly_profile, saving_vs_mean_pct (best start
    vs the average start), saving_vs_worst_pct. From the region's 24-hour profile
    for ``month`` (wrapping round the clock for jobs longer than a day), vectorized
    over regions and durations. Regions without an hourly profile are listed with
    ``hourly_profile`` False and zero saving: the data cannot tell, not "no effect".
    """
    regs = _regions_list(regions)
    d = np.atleast_1d(np.asarray(durations_h, dtype=float))
    if d.size == 0:
        raise InputError("durations_h", "give at least one duration")
    month = int(number("month", month, minimum=1, maximum=12, integer=True))
    has = np.array([r.hourly_zone is not None for r in regs])
    prof = np.stack([grid.hourly_intensity(r, month) if r.hourly_zone else np.full(24, r.intensity_g_per_kwh)
                     for r in regs])  # (R, 24)
    m = schedule.profile_window_means_many(prof, d)  # (R, D, 24)
    best, mean, worst = m.min(axis=-1), m.mean(axis=-1), m.max(axis=-1)
    tiny = 1e-9 * np.abs(mean)  # whole-day windows: equal up to float noise
    best = np.where(mean - best <= tiny, mean, best)
    worst = np.where(worst - best <= tiny, best, worst)
    with np.errstate(invalid="ignore", divide="ignore"):
        vs_mean = np.where(mean > 0, 100.0 * (mean - best) / mean, 0.0)
        vs_worst = np.where(worst > 0, 100.0 * (worst - best) / worst, 0.0)
    return pd.DataFrame({
        "region": np.repeat([r.region_id for r in regs], len(d)), "duration_h": np.tile(d, len(regs)),
        "hourly_profile": np.repeat(has, len(d)),
        "saving_vs_mean_pct": vs_mean.ravel(), "saving_vs_worst_pct": vs_worst.ravel(),
    })


def timing_value_wide(tv: pd.DataFrame) -> pd.DataFrame:
    """Durations down, one column per region with an hourly profile, for a line plot.

    Regions without hourly data are left out (their line would be zero for want of
    data), unless no region has a profile: then they are shown, labelled as such.
    """
    if tv["hourly_profile"].any():
        tv = tv[tv["hourly_profile"]]
    label = {r: (r if h else f"{r} (no hourly data)") for r, h in zip(tv["region"], tv["hourly_profile"], strict=True)}
    out = tv.assign(region=tv["region"].map(label)).pivot(index="duration_h", columns="region",
                                                           values="saving_vs_mean_pct")
    out = out[list(dict.fromkeys(tv["region"].map(label)))]
    out.index.name = "job duration (h)"
    return out


def timing_value_text(tv: pd.DataFrame, hours: float) -> str:
    """What the figure shows, in numbers: short jobs gain most, whole days gain nothing."""
    prof = tv[tv["hourly_profile"]]
    if prof.empty:
        return ("None of the candidate regions has an hourly profile in the data set, so the start time cannot be "
                "valued here.")
    short = prof[prof["duration_h"] == prof["duration_h"].min()].sort_values("saving_vs_mean_pct").iloc[-1]
    whole = prof[(prof["duration_h"] >= 24) & (np.isclose(prof["duration_h"] % 24, 0))]
    parts = [f"For a {short['duration_h']:g} h job the best start hour beats the average one by up to "
             f"{short['saving_vs_mean_pct']:.1f}% ({short['region']})."]
    if not whole.empty:
        parts.append(f"At whole days ({', '.join(f'{x:g} h' for x in sorted(whole['duration_h'].unique()))}) the "
                     f"saving is {whole['saving_vs_mean_pct'].max():.1f}%: the job covers every hour of the day "
                     "equally, whatever its start.")
    frac = hours % 24
    parts.append(f"This job lasts {hours:g} h: " + (f"{frac:g} h of it can be placed in the cleaner part of the day."
                                                     if frac > 1e-9 else "a whole number of days, so timing is "
                                                     "worth next to nothing."))
    return " ".join(parts)


def emissions_bars(plan: Plan) -> tuple[list[str], list[float]]:
    """(labels, kg CO2e) in ranking order; regions the residency rule removes are marked."""
    t = plan.table
    labels = [r if a else f"{r} (not allowed)" for r, a in zip(t["region"], t["allowed"], strict=True)]
    return labels, [float(x) for x in t["emissions_kg"]]


def notes_markdown(plan: Plan) -> str:
    """The data caveats of this plan as a Markdown list."""
    return "\n".join(f"- {n}" for n in plan.notes)


# --------------------------------------------------------------------------- tables and prose for the report

def _kg(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    return f"{x / 1000:,.2f} t" if abs(x) >= 10_000 else f"{x:,.0f} kg"


def _usd(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    return f"${x:,.2f}" if abs(x) < 10 else f"${x:,.0f}"


TABLE_FORMATS = {
    "PUE": "{:.2f}", "facility kWh": "{:,.0f}", "g/kWh (best window)": "{:,.0f}", "kg CO2e": "{:,.0f}",
    "water L": "{:,.0f}", "electricity USD": "{:,.0f}", "carbon line USD": "{:,.2f}", "USD/t": "{:,.2f}",
    f"{CARBON_LINE_LABEL} USD": "{:,.2f}", "carbon line / electricity": "{:.1%}",
}  # number formats for report.table(..., formats=TABLE_FORMATS)


def comparison_table(plan: Plan) -> pd.DataFrame:
    """The regions side by side (ranked), for display."""
    t = plan.table
    return pd.DataFrame({
        "rank": t["rank"].astype(object).where(t["rank"].notna(), "excluded"), "region": t["region"],
        "name": t["name"], "PUE": t["pue"], "facility kWh": t["facility_energy_kwh"],
        "g/kWh (best window)": t["intensity_g_per_kwh"],
        "kg CO2e": t["emissions_kg"],
        "kg CO2e low-high": [f"{lo:,.0f}-{hi:,.0f}" for lo, hi in zip(t["emissions_low_kg"], t["emissions_high_kg"], strict=True)],
        "water L": t["water_l"], "electricity USD": t["cost_usd"],
        "carbon line USD": t["carbon_cost_usd"],
        "carbon scheme": ["none" if pd.isna(s) else s for s in t["carbon_price_scheme"]],
        "hourly profile": ["yes" if h else "flat annual" for h in t["hourly_profile"]],
    })


def start_times_table(plan: Plan) -> pd.DataFrame:
    """Cleanest and cheapest start per region, local and on the team's clock."""
    c = plan.start_choices
    return pd.DataFrame({
        "region": c["region"],
        "cleanest start (local)": np.where(c["intensity_varies"], c["cleanest_start_local"], "any (flat)"),
        f"cleanest start ({plan.team_tz})": np.where(c["intensity_varies"], c["cleanest_start_team"], "any (flat)"),
        "g/kWh best / mean start": [f"{b:,.0f} / {m:,.0f}" for b, m in
                                     zip(c["cleanest_intensity_g_per_kwh"], c["mean_start_intensity_g_per_kwh"], strict=True)],
        "cheapest start (local)": np.where(c["price_varies"], c["cheapest_start_local"], "any (flat price)"),
        f"cheapest start ({plan.team_tz})": np.where(c["price_varies"], c["cheapest_start_team"], "any (flat price)"),
        "USD/kWh best / mean start": [("n/a" if (isinstance(b, float) and math.isnan(b)) else f"{b:.4f} / {m:.4f}")
                                       for b, m in zip(c["cheapest_price_usd_per_kwh"], c["mean_start_price_usd_per_kwh"], strict=True)],
    })


def carbon_table(plan: Plan) -> pd.DataFrame:
    """The carbon-price line, for the regions where a scheme applies."""
    t = plan.table[plan.table["carbon_price_scheme"].notna()]
    return pd.DataFrame({
        "region": t["region"], "scheme": t["carbon_price_scheme"], "USD/t": t["carbon_price_usd_per_t"],
        "kg CO2e": t["emissions_kg"], f"{CARBON_LINE_LABEL} USD": t["carbon_cost_usd"],
        "electricity USD": t["cost_usd"],
        "carbon line / electricity": t["carbon_cost_usd"] / t["cost_usd"],
    })


def summary_text(plan: Plan) -> str:
    """The headline: which region wins for the objective, by how much, and when to start there."""
    ok = plan.allowed
    best = ok.iloc[0]
    if plan.objective in ("cost", "weighted") and pd.isna(best["objective_value"]):
        what_nan = ("has the lowest emissions (no allowed region has an electricity price in the data set, so the "
                    f"{plan.objective} objective cannot rank them)")
    else:
        what_nan = None
    what = {"emissions": "emits least", "cost": "costs least",
            "weighted": f"costs least with carbon priced at ${plan.internal_carbon_price_usd_per_t or 0:,.0f}/t"}[plan.objective]
    what_job = (f"a job drawing {plan.job.it_energy_kwh:,.0f} kWh of IT energy over {plan.job.hours:g} h"
                + (f" ({plan.job.label})" if plan.job.source != "given" else ""))
    lines = [f"For {what_job}, planned for "
             f"{plan.year}-{plan.month:02d}-{plan.day:02d}: **{best['name']}** ({best['region']}) {what_nan or what} among the "
             f"{len(ok)} allowed regions: {_kg(best['emissions_kg'])} CO2e "
             f"(range {_kg(best['emissions_low_kg'])}-{_kg(best['emissions_high_kg'])} over its PUE range), "
             f"electricity {_usd(best['cost_usd'])}, water {best['water_l']:,.0f} L at PUE {best['pue']:.2f}."]
    if len(ok) > 1:
        by_em = ok.sort_values("emissions_kg")
        lo, hi = by_em.iloc[0], by_em.iloc[-1]
        ratio = hi["emissions_kg"] / lo["emissions_kg"] if lo["emissions_kg"] > 0 else float("inf")
        ci_ratio = ok["intensity_g_per_kwh"].max() / max(ok["intensity_g_per_kwh"].min(), 1e-9)
        pue_ratio = ok["pue"].max() / ok["pue"].min()
        driver = ("grid intensity more than PUE" if ci_ratio > pue_ratio else
                  "PUE as much as grid intensity" if ci_ratio == pue_ratio else "PUE more than grid intensity")
        lines.append(f"Emissions span {ratio:,.1f}x between {lo['region']} ({_kg(lo['emissions_kg'])}) and "
                     f"{hi['region']} ({_kg(hi['emissions_kg'])}). Grid intensity differs {ci_ratio:,.1f}x "
                     f"({ok['intensity_g_per_kwh'].min():,.0f}-{ok['intensity_g_per_kwh'].max():,.0f} g/kWh) and PUE "
                     f"{pue_ratio:.2f}x ({ok['pue'].min():.2f}-{ok['pue'].max():.2f}), so {driver} sets the ranking.")
        priced = ok[ok["cost_usd"].notna()]
        if len(priced) > 1:
            cheap = priced.sort_values("cost_usd").iloc[0]
            if cheap["region"] != by_em.iloc[0]["region"]:
                lines.append(f"The cheapest electricity is in {cheap['region']} ({_usd(cheap['cost_usd'])}), not in the "
                             f"cleanest region: cost and carbon point to different places here.")
            else:
                lines.append(f"{cheap['region']} is also the cheapest of the regions with a price "
                             f"({_usd(cheap['cost_usd'])}).")
    varies = bool(plan.start_choices.set_index("region").loc[best["region"], "intensity_varies"])
    if varies or plan.objective != "emissions":
        lines.append(f"Start there at **{best['best_start_local']}** local time, which is **{best['best_start_team']}** "
                     f"on the team's clock ({plan.team_tz}); the job ends {best['best_end_local']} "
                     f"({best['best_end_team']}).")
    else:
        lines.append(f"The data set has only an annual intensity for {best['region']}, so any start time is equal "
                     f"there; its clock runs {_clock_gap(best, plan.team_tz)}.")
    return " ".join(lines)


def _clock_gap(row, team_tz: str) -> str:
    """'6 h ahead of America/New_York' from the best start in both clocks."""
    gap = schedule.offset_difference_h(row["timezone"], team_tz, row["best_start_utc"].replace("Z", ""))
    if gap == 0:
        return f"on the same time as {team_tz}"
    return f"{abs(gap):g} h {'ahead of' if gap > 0 else 'behind'} {team_tz} on that date"


def timing_text(plan: Plan) -> str:
    """What choosing the start hour is worth, region by region, from the computed start tables."""
    t = plan.table
    c = plan.start_choices.set_index("region")
    varies = [r for r in t["region"] if c.loc[r, "intensity_varies"]]
    flat = [r for r in t["region"] if not c.loc[r, "intensity_varies"]]
    parts = []
    if varies:
        sav = t.set_index("region").loc[varies]
        pct = 100 * sav["timing_saving_kg"] / sav["emissions_mean_start_kg"]
        top = pct.idxmax()
        parts.append(f"Choosing the start hour is worth most in {top}: starting at {c.loc[top, 'cleanest_start_local']} "
                     f"({c.loc[top, 'cleanest_start_team']} for the team) saves {_kg(sav.loc[top, 'timing_saving_kg'])} "
                     f"({pct[top]:.1f}%) against the average start hour.")
        rest = [f"{r} {pct[r]:.1f}% (best {c.loc[r, 'cleanest_start_local']} = {c.loc[r, 'cleanest_start_team']})"
                for r in varies if r != top]
        if rest:
            parts.append("Elsewhere: " + "; ".join(rest) + ".")
    else:
        parts.append("In no candidate region does the start hour change this job's emissions.")
    if plan.job.hours >= 24:
        frac = plan.job.hours % 24
        nd = int(plan.job.hours // 24)
        parts.append(f"The job lasts {plan.job.hours:g} h, so it spans {nd} full day{'s' if nd > 1 else ''}"
                     + (f" plus {frac:g} h: only those {frac:g} h depend on the start hour." if frac > 1e-9 else
                        ": every hour of the daily profile is covered equally, so the start hour hardly matters.")
                     )
    if flat:
        parts.append(f"For {', '.join(flat)} the data set has only an annual intensity, so any start is equal there; "
                     "this is a gap in the data, not a flat grid.")
    pv = plan.start_choices[plan.start_choices["price_varies"]]
    for _, r in pv.iterrows():
        parts.append(f"In {r['region']} the time-of-use tariff makes {r['cheapest_start_local']} "
                     f"({r['cheapest_start_team']} for the team) the cheapest start: "
                     f"{r['cheapest_price_usd_per_kwh']:.4f} vs {r['mean_start_price_usd_per_kwh']:.4f} USD/kWh on "
                     f"average ({r['price_known_share']:.0%} of that window at a published rate).")
    if pv.empty:
        parts.append("No candidate region has a time-of-use price that varies in this month, so the cheapest start "
                     "is any start.")
    return " ".join(parts)


def residency_text(plan: Plan) -> str:
    c = plan.constraint
    if not c["residency"]:
        return "No data-residency constraint: every candidate region is allowed."
    removed = ", ".join(c["removed"]) if c["removed"] else "none"
    s = (f"Data may be processed only in {', '.join(c['residency'])}. Regions removed: {removed}. ")
    if not c["binding"]:
        return s + (f"The constraint costs nothing here: the best region overall ({c['best_overall']}) is allowed.")
    usd = c["extra_cost_usd"]
    usd_txt = ("an unknown amount of money (no price data for one of them)" if usd is None else
               (f"{_usd(usd)} more for electricity" if usd >= 0 else f"{_usd(-usd)} less for electricity"))
    return s + (f"The best allowed region is {c['best_allowed']} instead of {c['best_overall']}: the constraint costs "
                f"{_kg(c['extra_emissions_kg'])} CO2e" + (" more" if c["extra_emissions_kg"] >= 0 else " (it saves emissions)")
                + f" and {usd_txt} for this job.")


def carbon_text(plan: Plan) -> str:
    t = plan.table[plan.table["carbon_price_scheme"].notna()]
    if t.empty:
        return ("No candidate region falls under a carbon-pricing scheme in the data set (EU ETS, UK ETS, "
                "California-Quebec cap-and-trade), so there is no carbon line.")
    top = t.sort_values("carbon_cost_usd").iloc[-1]
    share = top["carbon_cost_usd"] / top["cost_usd"] if pd.notna(top["cost_usd"]) and top["cost_usd"] > 0 else None
    without = [r for r in plan.table["region"] if r not in set(t["region"])]
    return (f"A carbon-price line applies in {', '.join(t['region'])}; it is largest in {top['region']}: "
            f"{_usd(top['carbon_cost_usd'])} at {top['carbon_price_usd_per_t']:.0f} USD/t ({top['carbon_price_scheme']})"
            + (f", {share:.0%} of its electricity cost" if share is not None else "")
            + f". This is {CARBON_LINE_NOTE}."
            + (f" No scheme applies in {', '.join(without)}." if without else ""))


def heatmap_text(heat: pd.DataFrame, value: str = "intensity") -> str:
    """Which hours of the team's day are cleanest (or cheapest) in each region with an hourly shape."""
    unit = "g/kWh" if value == "intensity" else "USD/kWh"
    clock = heat.columns.name or "hour"
    parts = []
    varying = []
    for reg, row in heat.iterrows():
        r = row.dropna()
        if r.empty or r.max() - r.min() <= 1e-9 * max(abs(r.max()), 1e-12):
            continue
        varying.append(reg)
        parts.append(f"{reg} lowest at {int(r.idxmin()):02d}:00 ({r.min():,.3g} {unit}), highest at "
                     f"{int(r.idxmax()):02d}:00 ({r.max():,.3g})")
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


# --------------------------------------------------------------------------- notebook parameters and metrics

PARAMETER_DEFAULTS: dict[str, Any] = {
    "energy_kwh": 5000.0, "hours": 30.0,
    "regions": ["us-va", "us-ca", "us-tx", "us-or", "se", "de", "gb", "sg", "gcp:us-central1", "aws:eu-north-1"],
    "team_tz": "America/New_York", "residency": ["USA"], "objective": "emissions", "month": 7,
    "year": schedule.DEFAULT_YEAR, "day": schedule.DEFAULT_DAY, "days": 1, "pue": None,
    "internal_carbon_price_usd_per_t": None, "heatmap_value": "intensity",
    "timing_durations_h": [1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 18.0, 24.0, 30.0, 36.0, 48.0],
}


def check_parameters(**params) -> dict[str, Any]:
    """Validate the notebook's parameters (unknown names, types, values); return them normalised."""
    unknown = set(params) - set(PARAMETER_DEFAULTS)
    if unknown:
        name = sorted(unknown)[0]
        raise UnknownNameError(name, PARAMETER_DEFAULTS, parameter="parameters")
    p = {**PARAMETER_DEFAULTS, **params}
    p["energy_kwh"] = number("energy_kwh", p["energy_kwh"], strictly_positive=True)
    p["hours"] = number("hours", p["hours"], strictly_positive=True, maximum=schedule.MAX_DURATION_H)
    p["regions"] = [r.region_id for r in _regions_list(p["regions"])]
    p["team_tz"] = schedule.time_zone(p["team_tz"], "team_tz").key
    p["residency"] = list(parse_residency(p["residency"]) or [])
    filter_residency(p["regions"], p["residency"])
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


def compare_from_parameters(params: Mapping[str, Any]) -> Plan:
    """:func:`compare` for a notebook's parameters (after :func:`check_parameters`)."""
    p = check_parameters(**dict(params))
    return compare(p["energy_kwh"], p["regions"], hours=p["hours"], team_tz=p["team_tz"],
                   residency=p["residency"] or None, objective=p["objective"], month=p["month"], year=p["year"],
                   day=p["day"], days=p["days"], pue=p["pue"],
                   internal_carbon_price_usd_per_t=p["internal_carbon_price_usd_per_t"])


def metrics(plan: Plan) -> dict[str, Any]:
    """The report's metrics.json: title, finding, key figures and the named numbers behind them."""
    ok = plan.allowed
    best = ok.iloc[0]
    by_em = ok.sort_values("emissions_kg")
    ratio = by_em.iloc[-1]["emissions_kg"] / by_em.iloc[0]["emissions_kg"] if by_em.iloc[0]["emissions_kg"] > 0 else None
    c = plan.constraint
    timing = ok.sort_values("timing_saving_kg", ascending=False, kind="stable").iloc[0]
    finding = (f"{best['region']} is the best allowed region for this {plan.job.hours:g} h job "
               f"({_kg(best['emissions_kg'])} CO2e, start {best['best_start_local']} = {best['best_start_team']})"
               + (f"; the residency constraint costs {_kg(c['extra_emissions_kg'])} CO2e." if c["binding"] else
                  "; the residency constraint costs nothing." if c["residency"] else "."))
    key = [
        {"label": f"Emissions in {best['region']} (best allowed)", "value": round6(best["emissions_kg"]), "unit": "kg CO2e"},
        {"label": "Worst / best allowed region", "value": round6(ratio) if ratio is not None else 0.0, "unit": "x"},
        {"label": "Residency constraint cost", "value": round6(c["extra_emissions_kg"]), "unit": "kg CO2e"},
        {"label": f"Best-start saving in {timing['region']}", "value": round6(timing["timing_saving_kg"]), "unit": "kg CO2e"},
    ]
    return {
        "title": f"Where and when to run: {plan.job.it_energy_kwh:,.0f} kWh over {plan.job.hours:g} h",
        "finding": finding, "key_figures": key,
        "objective": plan.objective, "team_tz": plan.team_tz, "best_region": best["region"],
        "best_start_local": best["best_start_local"], "best_start_team": best["best_start_team"],
        "best_emissions_kg": round6(best["emissions_kg"]), "best_cost_usd": round6(best["cost_usd"]),
        "best_water_l": round6(best["water_l"]), "worst_to_best_ratio": round6(ratio) if ratio is not None else None,
        "constraint_binding": bool(c["binding"]), "constraint_extra_emissions_kg": round6(c["extra_emissions_kg"]),
        "constraint_extra_cost_usd": round6(c["extra_cost_usd"]), "best_overall_region": c["best_overall"],
        "largest_timing_saving_region": timing["region"], "largest_timing_saving_kg": round6(timing["timing_saving_kg"]),
        "n_regions": int(len(plan.table)), "n_allowed": int(len(ok)),
        "emissions_kg_by_region": {r: round6(v) for r, v in zip(plan.table["region"], plan.table["emissions_kg"], strict=True)},
        "carbon_cost_usd_by_region": {r: round6(v) for r, v in zip(plan.table["region"], plan.table["carbon_cost_usd"], strict=True)
                                      if pd.notna(v)},
    }


def report_metrics(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics the notebook writes, computed directly from its parameters (for the runner's check)."""
    return metrics(compare_from_parameters(parameters))


__all__ = ["Job", "job", "job_from_training", "ENERGY_BASIS", "CARBON_LINE_LABEL", "CARBON_LINE_NOTE",
           "UnknownJurisdictionError", "known_jurisdictions", "parse_residency", "residency_allows",
           "filter_residency", "carbon_line", "default_internal_carbon_price", "Plan", "compare", "heatmap_frame",
           "plan_heatmap", "heatmap_label", "timing_value", "timing_value_wide", "timing_value_text", "emissions_bars",
           "notes_markdown", "comparison_table", "start_times_table", "carbon_table", "summary_text", "timing_text",
           "residency_text", "carbon_text", "heatmap_text", "TABLE_FORMATS", "PARAMETER_DEFAULTS", "check_parameters",
           "compare_from_parameters", "metrics", "report_metrics"]
