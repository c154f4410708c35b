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

No I/O beyond :mod:`joulebook.data`, no plotting, no prose: the report's tables, text and
metrics live in :mod:`joulebook.stories.planner`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.validate import number
from joulebook.models import costs, grid, schedule, training

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


def regions_list(regions) -> list[data.Region]:
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
    regs = regions_list(regions)
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
    prof = [r.name for r in regs if r.hourly_zone]
    flat = [r.name for r in regs if not r.hourly_zone]
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
        notes.append(f"{r.name}: the {r.tou_schedule} time-of-use tariff has a published energy rate for only "
                     f"{year_share:.0%} of the hours of the year ({month_share:.0%} in month {month}; "
                     f"{share:.0%} of this job's best window); the other hours are priced at the average "
                     f"{r.price_usd_per_kwh:.4g} USD/kWh." + only)
    noprice = [r.name for r in regs if r.price_usd_per_kwh is None]
    if noprice:
        notes.append(f"No electricity price in the data set for {', '.join(noprice)}: its cost is left blank.")
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
    regs = regions_list(regions)
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


def timing_value(regions, durations_h, *, month: int = 7) -> pd.DataFrame:
    """What the start time is worth for jobs of each duration, region by region.

    Long format: region, duration_h, hourly_profile, saving_vs_mean_pct (best start
    vs the average start), saving_vs_worst_pct. From the region's 24-hour profile
    for ``month`` (wrapping round the clock for jobs longer than a day), vectorized
    over regions and durations. Regions without an hourly profile are listed with
    ``hourly_profile`` False and zero saving: the data cannot tell, not "no effect".
    """
    regs = regions_list(regions)
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
