"""Story of ``notebooks/10_training_energy.ipynb``: one training run, where, when, on what, and at what cost.

The notebook reads top to bottom and draws its own figures; this module gives it

* :func:`check`: the parameters, validated (one :class:`InputError` naming the parameter at fault),
  returned as a :class:`TrainingRun`;
* frames: :func:`estimate` (the model's low/central/high estimate), :func:`energy`, :func:`energy_parts`,
  :func:`regions`, :func:`start_hours`, :func:`accelerators`, :func:`lifecycle`, :func:`money`,
  :func:`cloud_price_rows`; and their reader-facing tables (``*_table``: names not ids, units in
  headers, 3 significant figures, "—" for a missing value, † on substituted values);
* :func:`finding` (headline and key-figure tiles), prose (``*_text``) and figure descriptions (``*_alt``),
  all written from the numbers, never the other way round;
* :func:`metrics` and :func:`metrics_for` (``metrics.json``; the test-suite compares the two).

Numbers come from :mod:`joulebook.models.training` (one scenario, and the vectorized frame for the
region and accelerator comparisons), :mod:`joulebook.models.grid` (hour-by-hour intensity and
time-of-use prices), :mod:`joulebook.models.costs` and the data tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError
from joulebook.core.util import round6
from joulebook.core.validate import fraction, number
from joulebook.display import tables
from joulebook.models import costs, grid, training
from joulebook.stories.region_comparison import substitutions

SHORT_JOB_H = 4.0  # a short job (fine-tuning, evaluation) used to show what timing can gain
DEFAULT_MONTH = 7  # month of the time-of-day view when no start is given (July)
MARK = tables.SUBSTITUTED_MARK
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class TrainingRun:
    """The notebook's parameters, checked and resolved (ids, not aliases)."""

    params: float
    tokens: float | None
    epochs: float | None
    dataset_tokens: float | None
    layers: int | None
    hidden: int | None
    seq_len: int | None
    batch: int | None
    accelerator: str
    count: int
    precision: str
    mfu: float | None
    region: str
    comparison_regions: tuple[str, ...]
    start: str | None
    pue: float | None
    cloud_price_usd_per_gpu_hour: float | None
    onprem: bool
    parameters: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def regions(self) -> list[str]:
        """The chosen region first, then the comparison regions (no duplicates)."""
        return list(dict.fromkeys([self.region, *self.comparison_regions]))

    @property
    def total_tokens(self) -> float:
        return self.tokens if self.tokens is not None else float(self.epochs) * float(self.dataset_tokens)

    @property
    def region_name(self) -> str:
        return data.region(self.region).name

    @property
    def accelerator_name(self) -> str:
        return data.accelerator(self.accelerator).name

    @property
    def cost_key(self) -> str:
        return "onprem_cost_usd" if self.onprem else "cloud_cost_usd"

    @property
    def job_text(self) -> str:
        """``a 7 billion-parameter model on 200 billion tokens with 64 × NVIDIA H100 SXM5``."""
        return (f"a {fmt.count(self.params)}-parameter model on {fmt.count(self.total_tokens)} tokens with "
                f"{self.count} × {self.accelerator_name}")

    def estimate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`joulebook.models.training.estimate_training` for this run."""
        return {"params": self.params, "tokens": self.tokens, "epochs": self.epochs,
                "dataset_tokens": self.dataset_tokens, "layers": self.layers, "hidden": self.hidden,
                "seq_len": self.seq_len, "batch": self.batch, "accelerator": self.accelerator, "count": self.count,
                "precision": self.precision, "mfu": self.mfu, "region": self.region, "start": self.start,
                "pue": self.pue, "cloud_price_usd_per_gpu_hour": self.cloud_price_usd_per_gpu_hour}

    def frame_row(self) -> dict[str, Any]:
        """The same job as one row of :func:`joulebook.models.training.estimate_training_frame` (NaN = default)."""
        keys = ("params", "tokens", "epochs", "dataset_tokens", "layers", "hidden", "seq_len", "batch", "accelerator",
                "count", "precision", "mfu", "region", "pue", "cloud_price_usd_per_gpu_hour")
        kw = self.estimate_kwargs()
        return {k: (math.nan if kw[k] is None else kw[k]) for k in keys}


def _opt_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    return int(number(name, value, strictly_positive=True, integer=True))


def check(*, params: float, accelerator: str, count: int, precision: str, region: str,
          tokens: float | None = None, epochs: float | None = None, dataset_tokens: float | None = None,
          layers: int | None = None, hidden: int | None = None, seq_len: int | None = None, batch: int | None = None,
          mfu: float | None = None, comparison_regions=(), start: str | None = None, pue: float | None = None,
          cloud_price_usd_per_gpu_hour: float | None = None, onprem: bool = False) -> TrainingRun:
    """Check the notebook's parameters; raise :class:`InputError` / ``Unknown*Error`` naming the one at fault.

    The defaults live in the notebook's parameters cell; the optional arguments here mean "not given".
    """
    given = dict(params=params, tokens=tokens, epochs=epochs, dataset_tokens=dataset_tokens, layers=layers,
                 hidden=hidden, seq_len=seq_len, batch=batch, accelerator=accelerator, count=count,
                 precision=precision, mfu=mfu, region=region, comparison_regions=list(comparison_regions or []),
                 start=start, pue=pue, cloud_price_usd_per_gpu_hour=cloud_price_usd_per_gpu_hour, onprem=onprem)
    params = number("params", params, strictly_positive=True)
    if tokens is not None and (epochs is not None or dataset_tokens is not None):
        raise InputError("tokens", "give tokens, or epochs x dataset_tokens, not both (set the other to None)")
    if tokens is None and (epochs is None or dataset_tokens is None):
        raise InputError("tokens", "give tokens, or both epochs and dataset_tokens")
    tokens = number("tokens", tokens, strictly_positive=True, allow_none=True)
    epochs = number("epochs", epochs, strictly_positive=True, allow_none=True)
    dataset_tokens = number("dataset_tokens", dataset_tokens, strictly_positive=True, allow_none=True)
    layers, hidden = _opt_int("layers", layers), _opt_int("hidden", hidden)
    seq_len, batch = _opt_int("seq_len", seq_len), _opt_int("batch", batch)
    if batch is not None and seq_len is None:
        raise InputError("batch", "the batch (in sequences) needs seq_len to give tokens per step")
    if (layers is None) != (hidden is None):
        raise InputError("layers", "give both layers and hidden (or neither) for the attention FLOPs")
    acc = data.accelerator(accelerator)
    prec = data.normalise_precision(precision)
    acc.peak(prec)  # raises InputError('precision') when unsupported
    if math.isnan(acc.tdp_w):
        raise InputError("accelerator", f"{acc.accelerator_id} has no power cap in the data; pick another accelerator")
    count = int(number("count", count, strictly_positive=True, integer=True))
    mfu = fraction("mfu", mfu, allow_none=True)
    reg = data.region(region)
    if isinstance(comparison_regions, str) or not all(isinstance(r, str) for r in comparison_regions or []):
        raise InputError("comparison_regions", "expected a list of region ids, e.g. [\"se\", \"sg\"]")
    comp = tuple(dict.fromkeys(data.region(r).region_id for r in comparison_regions or []))
    if start is not None:
        if not isinstance(start, str):
            raise InputError("start", "expected an ISO date-time string such as \"2026-07-01T02:00\" or None")
        grid.to_utc(start, reg.timezone)
    pue = number("pue", pue, minimum=1.0, maximum=3.0, allow_none=True)
    cloud = number("cloud_price_usd_per_gpu_hour", cloud_price_usd_per_gpu_hour, allow_none=True)
    if not isinstance(onprem, bool):
        raise InputError("onprem", f"expected True or False, got {onprem!r}")
    return TrainingRun(params=params, tokens=tokens, epochs=epochs, dataset_tokens=dataset_tokens, layers=layers,
                       hidden=hidden, seq_len=seq_len, batch=batch, accelerator=acc.accelerator_id, count=count,
                       precision=prec, mfu=mfu, region=reg.region_id, comparison_regions=comp, start=start, pue=pue,
                       cloud_price_usd_per_gpu_hour=cloud, onprem=onprem, parameters=given)


# --------------------------------------------------------------------------- small helpers for prose

def _q(v: Any, unit: str) -> str:
    return fmt.quantity(v, unit)


def _hours(v: Any) -> str:
    """``96.8 h (4.03 days)`` / ``36 min``."""
    if fmt.is_missing(v):
        return fmt.MISSING
    f = float(v)
    if f < 1:
        return f"{fmt.number(f * 60)} min"
    return f"{fmt.number(f)} h" + (f" ({fmt.number(f / 24)} days)" if f >= 48 else "")


def _range(lo: Any, hi: Any, unit: str) -> str:
    """``4.22 MWh to 24.8 MWh`` (empty when a bound is missing)."""
    if fmt.is_missing(lo) or fmt.is_missing(hi):
        return ""
    return f"{_q(lo, unit)} to {_q(hi, unit)}"


def _span(lo: Any, hi: Any, unit: str) -> str:
    """``4.22–24.8 MWh`` (one unit when both ends share it, else ``950 kWh–1.2 MWh``); empty when a bound is missing."""
    if fmt.is_missing(lo) or fmt.is_missing(hi):
        return ""
    a, b = _q(lo, unit), _q(hi, unit)
    if unit == "USD":
        a, b = fmt.number(float(lo)), fmt.money(hi)
        return f"{a}–{b}"
    ua, ub = a.split(" ", 1)[1], b.split(" ", 1)[1]
    return f"{a.split(' ', 1)[0]}–{b}" if ua == ub else f"{a}–{b}"


def _times(a: Any, b: Any) -> str:
    if fmt.is_missing(a) or fmt.is_missing(b) or float(b) == 0:
        return fmt.MISSING
    return fmt.ratio(float(a) / float(b))


def _listing(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _scale(max_value: float, unit: str) -> tuple[float, str]:
    """Divisor and unit so a figure's axis reads in a few digits (kWh -> MWh, kg CO2e -> t CO2e, L -> m³)."""
    ladders = {"kWh": ((1e6, "GWh"), (1e3, "MWh")), "kg CO2e": ((1e6, "kt CO2e"), (1e3, "t CO2e")),
               "L": ((1e6, "million L"), (1e3, "m³")), "USD": ((1e6, "million USD"), (1e3, "thousand USD")),
               "h": ((48, "days"),)}
    for div, name in ladders.get(unit, ()):
        if max_value >= div:
            return (24.0 if name == "days" else div), name
    return 1.0, unit


def _utc_offset(tz: str, month: int) -> str:
    off = datetime(2026, month, 15, 12, tzinfo=ZoneInfo(tz)).utcoffset()
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def _assumption(est, name: str):
    return est.assumptions.get(name)


# --------------------------------------------------------------------------- the estimate and its energy

def estimate(run: TrainingRun) -> training.TrainingEstimate:
    """The model's estimate of the run (low, central and high) with its assumptions and sources."""
    return training.estimate_training(**run.estimate_kwargs())


ENERGY_ROWS = (("accelerator_hours", "Accelerator time", "h"), ("wall_clock_hours", "Wall clock", "h"),
               ("step_time_s", "Time per optimizer step", "s"), ("energy_per_step_j", "Energy per step (IT)", "J"),
               ("energy_per_epoch_kwh", "Energy per epoch (facility)", "kWh"), ("it_energy_kwh", "IT energy", "kWh"),
               ("facility_energy_kwh", "Facility energy", "kWh"), ("peak_power_kw", "Peak facility power", "kW"),
               ("emissions_kg", "Operational emissions", "kg CO2e"),
               ("embodied_emissions_kg", "Embodied emissions", "kg CO2e"), ("water_l", "Water", "L"),
               ("electricity_cost_usd", "Electricity cost", "USD"), ("cloud_cost_usd", "Cloud rental", "USD"),
               ("onprem_cost_usd", "Owned hardware", "USD"))


def energy(est) -> pd.DataFrame:
    """Low, central and high value of each quantity the model gives (rows the run cannot give are left out)."""
    rows = [{"key": k, "quantity": label, "unit": unit, "low": est.low[k], "central": est.central[k],
             "high": est.high[k]} for k, label, unit in ENERGY_ROWS if not fmt.is_missing(est.central[k])]
    return pd.DataFrame(rows)


def energy_table(est) -> tables.Table:
    df = energy(est)
    return tables.table(df, {"quantity": "Quantity", "unit": "Unit", "low": "Low", "central": "Central",
                             "high": "High"},
                        kinds={"quantity": "text", "unit": "text"},
                        caption="The run, low to high: the bounds combine the favourable and unfavourable ends of "
                                "MFU, busy power, node overhead and PUE")


def energy_parts(est) -> tuple[pd.DataFrame, str]:
    """Where the facility energy goes, for the low, central and high estimate: accelerators, the rest of the node
    (CPU, memory, network, fans) and the facility overhead (cooling, power conversion: PUE). Returns the frame and
    its unit (kWh, MWh or GWh, whichever reads best)."""
    rows = []
    for case, e in (("low", est.low), ("central", est.central), ("high", est.high)):
        rows.append({"estimate": case, "accelerators": e["accelerator_energy_kwh"],
                     "rest of the node": e["it_energy_kwh"] - e["accelerator_energy_kwh"],
                     "facility overhead (PUE)": e["facility_energy_kwh"] - e["it_energy_kwh"]})
    df = pd.DataFrame(rows).set_index("estimate")
    div, unit = _scale(float(est.high["facility_energy_kwh"]), "kWh")
    return df / div, unit


def energy_parts_alt(est) -> str:
    c = est.central
    return (f"Stacked horizontal bars of the facility energy for the low, central and high estimate, split into "
            f"accelerators, the rest of the node and the facility overhead: central {_q(c['facility_energy_kwh'], 'kWh')} "
            f"({_q(c['accelerator_energy_kwh'], 'kWh')} in the accelerators), low "
            f"{_q(est.low['facility_energy_kwh'], 'kWh')}, high {_q(est.high['facility_energy_kwh'], 'kWh')}.")


def _node_w(est) -> float:
    a = _assumption(est, "node_power_w")
    if a is not None:
        return float(a.value)
    return float(_assumption(est, "node_overhead_fraction_of_tdp").value) * float(_assumption(est, "power_cap_w").value)


def energy_text(run: TrainingRun, est) -> str:
    c, lo, hi = est.central, est.low, est.high
    parts = [
        f"Each {run.accelerator_name} draws about {fmt.number(c['accelerator_power_w'])} W under sustained training "
        f"(between its idle power and its {fmt.number(_assumption(est, 'power_cap_w').value)} W cap), and the rest of "
        f"the node adds {fmt.number(_node_w(est))} W per accelerator. At an MFU of "
        f"{fmt.percent(_assumption(est, 'mfu').value)} the job needs {fmt.number(c['flops'])} FLOPs, so "
        f"{fmt.number(c['accelerator_hours'])} accelerator-hours: {_hours(c['wall_clock_hours'])} on {run.count} "
        "accelerators.",
    ]
    if not fmt.is_missing(c["energy_per_step_j"]):
        parts.append(
            f"One optimizer step ({run.batch} sequences × {run.seq_len} tokens) takes {fmt.number(c['step_time_s'])} s "
            f"and uses {fmt.number(c['energy_per_step_j'] / 1e3)} kJ across all {run.count} accelerators and their "
            f"nodes (IT energy, before PUE), over {fmt.number(c['steps'])} steps.")
    if not fmt.is_missing(c["energy_per_epoch_kwh"]):
        parts.append(f"Each of the {fmt.number(run.epochs)} epochs uses {_q(c['energy_per_epoch_kwh'], 'kWh')} at the "
                     "facility.")
    parts.append(
        f"In total: {_q(c['it_energy_kwh'], 'kWh')} of IT energy and {_q(c['facility_energy_kwh'], 'kWh')} at the "
        f"facility with PUE {fmt.number(_assumption(est, 'pue').value)} (range "
        f"{_range(lo['facility_energy_kwh'], hi['facility_energy_kwh'], 'kWh')}). Peak facility power, with every "
        f"accelerator at its cap, is {fmt.number(c['peak_power_kw'])} kW: the figure to clear with the data centre "
        "before the job starts.")
    return " ".join(parts)


# --------------------------------------------------------------------------- where: regions

def regions(run: TrainingRun) -> pd.DataFrame:
    """The job in every compared region (chosen first): estimates, each region's data rows and what is substituted.

    Annual-average intensities throughout (a start time applies to the headline estimate only). A PUE
    given by the user applies to every region (it describes the facility) and is then not a substitute.
    """
    ids = run.regions
    est = training.estimate_training_frame(pd.DataFrame([{**run.frame_row(), "region": r} for r in ids]))
    meta = []
    for r in ids:
        reg = data.region(r)
        meta.append({"name": reg.name, "timezone": reg.timezone, "intensity_g_per_kwh": reg.intensity_g_per_kwh,
                     "intensity_year": reg.intensity_year, "intensity_source_id": reg.intensity_source_id,
                     "price_usd_per_kwh": math.nan if reg.price_usd_per_kwh is None else reg.price_usd_per_kwh,
                     "price_year": math.nan if reg.price_year is None else float(reg.price_year),
                     "price_source_id": reg.price_source_id or "",
                     "pue_used": run.pue if run.pue is not None else reg.pue[1],
                     "hourly_zone": reg.hourly_zone or "", "tou_schedule": reg.tou_schedule or ""})
    drop = [c for c in est.columns if c in ("region", "pue", "intensity_g_per_kwh", "price_usd_per_kwh")]
    out = pd.concat([est[["region"]].reset_index(drop=True), pd.DataFrame(meta),
                     est.drop(columns=drop).reset_index(drop=True)], axis=1)
    out["embodied_share"] = out["embodied_emissions_kg"] / (out["embodied_emissions_kg"] + out["emissions_kg"])
    flags = substitutions(ids)
    out = out.merge(flags, on="region", how="left")
    if run.pue is not None:
        out["pue_substituted"] = False
    out["substituted"] = [", ".join(p for p in s.split(", ") if not (run.pue is not None and p.startswith("PUE")))
                          for s in out["substituted"]]
    out["water_substituted"] = out["ewif_substituted"] | out["wue_substituted"]
    return out


def regions_table(run: TrainingRun, frame: pd.DataFrame) -> tables.Table:
    """The compared regions: names, units in headers, data years, † on substituted values."""
    e_div, e_unit = _scale(float(frame["facility_energy_kwh"].max()), "kWh")
    df = frame.assign(energy=frame["facility_energy_kwh"] / e_div)
    notes = [f"{MARK} substituted: not a figure for that region. {substitution_text(run, frame)}"]
    return tables.table(
        df, {"region": "Region", "intensity_g_per_kwh": "Grid intensity (g CO2e/kWh)", "intensity_year": "Intensity year",
             "price_usd_per_kwh": "Electricity price (USD/kWh)", "price_year": "Price year", "pue_used": "PUE",
             "energy": f"Facility energy ({e_unit})", "emissions_kg": "Emissions (kg CO2e)", "water_l": "Water (L)",
             "electricity_cost_usd": "Electricity cost (USD)", "substituted": "Substituted values"},
        kinds={"substituted": "text", "intensity_year": "year", "price_year": "year"},
        marks={"intensity_g_per_kwh": "intensity_substituted", "price_usd_per_kwh": "price_substituted",
               "pue_used": "pue_substituted", "water_l": "water_substituted"},
        caption="The same job in each region (annual-average, location-based grid intensity)", notes=notes)


def substitution_text(run: TrainingRun, frame: pd.DataFrame) -> str:
    """One sentence per kind of substituted value among the compared regions ("" when none)."""
    def names(col: str) -> list[str]:
        return list(frame.loc[frame[col].astype(bool), "name"])

    parts = []
    price = [f"{n} ({s.split('price: ', 1)[1].split(', ')[0]})" for n, s, f in
             zip(frame["name"], frame["substituted"], frame["price_substituted"], strict=True) if f and "price: " in s]
    if price:
        parts.append(f"the electricity price of {_listing(price)} is not that region's own figure")
    if names("price_missing"):
        parts.append(f"{_listing(names('price_missing'))} {'has' if len(names('price_missing')) == 1 else 'have'} no "
                     f"electricity price in the data (cost shown as {fmt.MISSING}, not 0)")
    if names("pue_substituted"):
        parts.append(f"the PUE of {_listing(names('pue_substituted'))} is the industry default, as the operator "
                     "publishes none")
    if names("intensity_substituted"):
        parts.append(f"the grid intensity of {_listing(names('intensity_substituted'))} is the national average")
    ewif = names("ewif_substituted")
    if ewif:
        who = "every region here" if len(ewif) == len(frame) else _listing(ewif)
        parts.append(f"the water consumed to generate electricity is the US average for {who} (the data has no "
                     "regional figure)")
    return ("Substituted: " + "; ".join(parts) + ".") if parts else ""


def region_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """The four region panels, one unit each, indexed by region name (a missing price stays missing)."""
    cols = {}
    for key, label, unit in (("facility_energy_kwh", "Facility energy", "kWh"), ("emissions_kg", "Emissions", "kg CO2e"),
                             ("water_l", "Water", "L"), ("electricity_cost_usd", "Electricity cost", "USD")):
        div, shown = _scale(float(frame[key].max()), unit)
        head = f"{label} ({shown})"
        if key == "electricity_cost_usd" and frame[key].isna().any():
            head += f"; no price: {_listing(list(frame.loc[frame[key].isna(), 'name']))}"
        cols[head] = (frame[key] / div).to_numpy()
    return pd.DataFrame(cols, index=pd.Index(frame["name"], name="region"))


def regions_alt(run: TrainingRun, frame: pd.DataFrame) -> str:
    lo = frame.loc[frame["emissions_kg"].idxmin()]
    hi = frame.loc[frame["emissions_kg"].idxmax()]
    return (f"Four bar charts, one bar per region ({_listing(list(frame['name']))}): facility energy, emissions, "
            f"water and electricity cost of the same job. Emissions run from {_q(lo['emissions_kg'], 'kg CO2e')} in "
            f"{lo['name']} to {_q(hi['emissions_kg'], 'kg CO2e')} in {hi['name']}.")


def _extreme(frame: pd.DataFrame, column: str, lowest: bool) -> pd.Series:
    df = frame.dropna(subset=[column])
    return df.loc[df[column].idxmin() if lowest else df[column].idxmax()]


def regions_text(run: TrainingRun, frame: pd.DataFrame) -> str:
    lo, hi = _extreme(frame, "emissions_kg", True), _extreme(frame, "emissions_kg", False)
    here = frame.iloc[0]
    pue = "" if run.pue is None else f" (here the given PUE {fmt.number(run.pue)} everywhere)"
    parts = [
        f"The same job in {len(frame)} regions, each with its latest annual grid intensity (location-based) and its "
        f"operator's PUE{pue}. Emissions range from {_q(lo['emissions_kg'], 'kg CO2e')} in {lo['name']} "
        f"({fmt.number(lo['intensity_g_per_kwh'])} g/kWh, {fmt.year(lo['intensity_year'])}) to "
        f"{_q(hi['emissions_kg'], 'kg CO2e')} in {hi['name']} ({fmt.number(hi['intensity_g_per_kwh'])} g/kWh, "
        f"{fmt.year(hi['intensity_year'])}): a factor of {_times(hi['emissions_kg'], lo['emissions_kg'])}.",
    ]
    fe = frame["facility_energy_kwh"]
    if fe.max() > fe.min() * 1.001:
        parts.append(f"Facility energy differs only through PUE: {_q(fe.min(), 'kWh')} to {_q(fe.max(), 'kWh')}.")
    priced = frame.dropna(subset=["electricity_cost_usd"])
    if len(priced):
        c_lo = priced.loc[priced["electricity_cost_usd"].idxmin()]
        c_hi = priced.loc[priced["electricity_cost_usd"].idxmax()]
        parts.append(f"The electricity bill ranges from {fmt.money(c_lo['electricity_cost_usd'])} in {c_lo['name']} "
                     f"to {fmt.money(c_hi['electricity_cost_usd'])} in {c_hi['name']} (industrial tariffs), small next "
                     f"to a cloud rental of {fmt.money(here['cloud_cost_usd'])}.")
    w = frame["water_l"]
    parts.append(f"Water ranges from {_q(w.min(), 'L')} to {_q(w.max(), 'L')}; most of it is water consumed to "
                 "generate the electricity rather than on-site cooling.")
    if run.start:
        parts.append(f"The headline figures for {run.region_name} use the hour-by-hour intensity from {run.start}; "
                     "this comparison uses annual averages for every region.")
    return " ".join(parts)


# --------------------------------------------------------------------------- when: start hour

def month_of(run: TrainingRun) -> int:
    """The month of the time-of-day view: the start's month, else July."""
    return grid.month_of(run.start, data.region(run.region).timezone) if run.start else DEFAULT_MONTH


def hourly_regions() -> list[str]:
    """Names of the countries and US grid zones with an hour-by-hour intensity profile in the data."""
    return [r.name for r in data.regions().values() if r.hourly_zone and r.kind != "cloud"]


def start_hours(run: TrainingRun, frame: pd.DataFrame, duration_h: float) -> pd.DataFrame:
    """Emissions and electricity cost by local start hour, for each compared region with an hourly profile or a
    time-of-use tariff: the job itself (``job`` = "this job") and a job of the same power lasting
    :data:`SHORT_JOB_H` hours (``job`` = "4-hour job"). Empty when no compared region has either."""
    month = month_of(run)
    parts = []
    for _, r in frame.iterrows():
        if not (r["hourly_zone"] or r["tou_schedule"]):
            continue
        energy_kwh = float(r["facility_energy_kwh"])
        for label, hours, e in (("this job", duration_h, energy_kwh),
                                (f"{SHORT_JOB_H:g}-hour job", SHORT_JOB_H, energy_kwh / duration_h * SHORT_JOB_H)):
            df = grid.by_start_hour(r["region"], hours, e, month=month)
            parts.append(df.assign(region=r["region"], name=r["name"], job=label, month=month,
                                   hourly=bool(r["hourly_zone"])))
    cols = ["region", "name", "job", "month", "hourly", "start_hour_local", "start_utc", "timezone",
            "intensity_g_per_kwh", "emissions_kg", "price_usd_per_kwh", "cost_usd", "price_basis"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _best(df: pd.DataFrame, column: str) -> dict[str, Any] | None:
    vals = df[column].to_numpy(dtype=float)
    if len(vals) == 0 or np.isnan(vals).all():
        return None
    i, j = int(np.nanargmin(vals)), int(np.nanargmax(vals))
    mean = float(np.nanmean(vals))
    return {"hour": int(df["start_hour_local"].iloc[i]), "start_utc": str(df["start_utc"].iloc[i]),
            "best": float(vals[i]), "worst": float(vals[j]), "worst_hour": int(df["start_hour_local"].iloc[j]),
            "mean": mean, "saving_vs_worst": (float(vals[j]) - float(vals[i])) / float(vals[j]) if vals[j] else 0.0,
            "saving_vs_mean": (mean - float(vals[i])) / mean if mean else 0.0}


def _by_region(hours: pd.DataFrame, job: str = "this job") -> dict[str, pd.DataFrame]:
    sub = hours[hours["job"] == job]
    return {r: g.reset_index(drop=True) for r, g in sub.groupby("region", sort=False)}


def emissions_by_start_hour(hours: pd.DataFrame, job: str = "this job") -> pd.DataFrame:
    """% change of the job's emissions against the average start hour: index local hour, one column per region
    name (regions with an hourly profile only; a flat profile would be a line at 0)."""
    sub = hours[(hours["job"] == job) & hours["hourly"].astype(bool)]
    wide = sub.pivot_table(index="start_hour_local", columns="name", values="emissions_kg", sort=False)
    return (100 * (wide / wide.mean() - 1)).rename_axis(index="local start hour", columns=None)


def cost_by_start_hour(hours: pd.DataFrame, job: str = "this job") -> pd.DataFrame:
    """% change of the electricity cost against the average start hour, only for regions whose cost changes with
    the start hour (a time-of-use tariff); empty when every price is flat, so no flat panel is drawn."""
    keep = [r for r, df in _by_region(hours, job).items() if df["cost_usd"].notna().all()
            and float(df["cost_usd"].max()) > float(df["cost_usd"].min()) * 1.0001]
    sub = hours[(hours["job"] == job) & hours["region"].isin(keep)]
    wide = sub.pivot_table(index="start_hour_local", columns="name", values="cost_usd", sort=False)
    return (100 * (wide / wide.mean() - 1)).rename_axis(index="local start hour", columns=None)


def hourly_intensity(run: TrainingRun, hours: pd.DataFrame) -> pd.DataFrame:
    """Grid intensity (g CO2e/kWh) by local hour in the month of the view, one column per region with a profile."""
    month = month_of(run)
    cols = {}
    for region, name in hours.loc[hours["hourly"].astype(bool), ["region", "name"]].drop_duplicates().itertuples(
            index=False):
        prof = grid.hourly_intensity(region, month)
        if prof is not None:
            cols[name] = prof
    return pd.DataFrame(cols, index=pd.RangeIndex(24, name="local hour"))


def start_hours_alt(run: TrainingRun, hours: pd.DataFrame) -> str:
    e = {r: _best(df, "emissions_kg") for r, df in _by_region(hours).items() if df["hourly"].iloc[0]}
    top = max(e, key=lambda r: e[r]["saving_vs_worst"])
    name = hours.loc[hours["region"] == top, "name"].iloc[0]
    return (f"Two line charts by local start hour in {MONTHS[month_of(run) - 1]}: left, the job's emissions as % above "
            f"or below the average start hour for {_listing(list(hours.loc[hours['hourly'].astype(bool), 'name'].unique()))}"
            f"; right, the grid intensity hour by hour (g CO2e/kWh). The largest spread is in {name}: "
            f"{fmt.percent(e[top]['saving_vs_worst'])} between the best and the worst start hour.")


def cost_alt(hours: pd.DataFrame) -> str:
    wide = cost_by_start_hour(hours)
    return (f"Line chart of the job's electricity cost by local start hour, as % above or below the average start "
            f"hour, for {_listing(list(wide.columns))} (time-of-use tariff); the spread is "
            f"{fmt.number(float(wide.max().max() - wide.min().min()))} percentage points.")


def start_hours_table(run: TrainingRun, hours: pd.DataFrame) -> tables.Table:
    """The best start hour per region, for this job and a short job, in local time with its time zone."""
    month = month_of(run)
    short = _by_region(hours, f"{SHORT_JOB_H:g}-hour job")
    rows = []
    for region, df in _by_region(hours).items():
        tz = df["timezone"].iloc[0]
        e, c, s = _best(df, "emissions_kg"), _best(df, "cost_usd"), _best(short[region], "emissions_kg")
        hourly = bool(df["hourly"].iloc[0])
        varies = c is not None and c["worst"] > c["best"] * 1.0001
        rows.append({
            "name": df["name"].iloc[0], "tz": f"{tz} ({_utc_offset(tz, month)})",
            "best": f"{e['hour']:02d}:00 ({e['start_utc'][-5:]} UTC)" if hourly else "any (no hourly profile)",
            "spread": e["saving_vs_worst"] if hourly else math.nan,
            "short": s["saving_vs_worst"] if hourly else math.nan,
            "cheapest": (f"{c['hour']:02d}:00" if varies else "any (flat tariff)" if c else "no price in the data"),
            "basis": df["price_basis"].iloc[0]})
    return tables.table(pd.DataFrame(rows),
                        {"name": "Region", "tz": "Time zone", "best": "Lowest-emission start (local)",
                         "spread": "Emissions, best vs worst start (%)",
                         "short": f"{SHORT_JOB_H:g}-hour job, best vs worst (%)",
                         "cheapest": "Cheapest start (local)", "basis": "Price basis"},
                        kinds={"spread": "percent", "short": "percent"},
                        caption=f"Best start hour by region, for a run starting on {MONTHS[month - 1]} 15")


def when_text(run: TrainingRun, frame: pd.DataFrame, hours: pd.DataFrame, duration_h: float) -> str:
    """Why each region is (or is not) in the time-of-day view, and what the start hour is worth."""
    here = frame.iloc[0]
    month = month_of(run)
    with_profile = list(frame.loc[frame["hourly_zone"].astype(bool), "name"])
    without = list(frame.loc[~frame["hourly_zone"].astype(bool), "name"])
    parts = []
    if without:
        parts.append(f"Hour-by-hour grid intensity profiles exist in the data only for US grid zones "
                     f"({_listing(hourly_regions())}) and the cloud regions inside them. "
                     f"{_listing(without)} {'has' if len(without) == 1 else 'have'} none, so "
                     f"{'its' if len(without) == 1 else 'their'} estimate uses the annual-average intensity and the "
                     "start hour does not change the emissions.")
    if not with_profile:
        parts.append("None of the compared regions has an hourly profile, so no start-hour chart is drawn: add a US "
                     "grid zone or a cloud region in one (for example us-ca or gcp:us-central1) to "
                     "`comparison_regions` to see the daily cycle.")
    elif not here["hourly_zone"]:
        parts.append(f"This section shows {_listing(with_profile)} from the comparison regions instead, to show how "
                     "much timing can matter on a grid with a daily cycle.")
    if fmt.is_missing(here["price_usd_per_kwh"]):
        parts.append(f"{here['name']} has no electricity price in the data, so its cost is unknown at any start hour.")
    elif not here["tou_schedule"]:
        parts.append(f"Flat tariff in {here['name']}: the start hour does not change the electricity cost.")
    if not with_profile:
        return " ".join(parts)
    why, parts = " ".join(parts), []
    parts.append(f"Start hours are local civil time in each region's time zone, for a run starting on "
                 f"{MONTHS[month - 1]} 15 ({'the month of the chosen start' if run.start else 'no start given, so July'}).")
    job = {r: _best(df, "emissions_kg") for r, df in _by_region(hours).items() if df["hourly"].iloc[0]}
    names = frame.set_index("region")["name"]
    top = max(job, key=lambda r: job[r]["saving_vs_worst"])
    b = job[top]
    tz = hours.loc[hours["region"] == top, "timezone"].iloc[0]
    if duration_h >= 24:
        parts.append(f"Because the run lasts {_hours(duration_h)}, every start hour averages over several daily "
                     f"cycles: the largest effect is in {names[top]}, where starting at {b['hour']:02d}:00 {tz} "
                     f"({_utc_offset(tz, month)}) instead of {b['worst_hour']:02d}:00 saves only "
                     f"{fmt.percent(b['saving_vs_worst'])} of the emissions.")
    else:
        parts.append(f"The best window is in {names[top]}: starting at {b['hour']:02d}:00 {tz} "
                     f"({_utc_offset(tz, month)}) emits {_q(b['best'], 'kg CO2e')} instead of "
                     f"{_q(b['worst'], 'kg CO2e')} at {b['worst_hour']:02d}:00, {fmt.percent(b['saving_vs_worst'])} less.")
    short = {r: _best(df, "emissions_kg") for r, df in _by_region(hours, f"{SHORT_JOB_H:g}-hour job").items()
             if df["hourly"].iloc[0]}
    s_top = max(short, key=lambda r: short[r]["saving_vs_worst"])
    s = short[s_top]
    parts.append(f"A {SHORT_JOB_H:g}-hour job at the same power gains more from timing: in {names[s_top]}, starting "
                 f"at {s['hour']:02d}:00 rather than {s['worst_hour']:02d}:00 cuts its emissions by "
                 f"{fmt.percent(s['saving_vs_worst'])}.")
    varying = cost_by_start_hour(hours)
    if len(varying.columns):
        by = {names[r]: r for r in _by_region(hours)}
        r0 = by[varying.columns[0]]
        c = _best(_by_region(hours)[r0], "cost_usd")
        parts.append(f"Under its time-of-use tariff, the cheapest start in {names[r0]} is {c['hour']:02d}:00 local "
                     f"({fmt.money(c['best'])} against {fmt.money(c['worst'])} at the dearest start).")
    else:
        parts.append("Every tariff here is flat: the start hour does not change the electricity cost, so no cost "
                     "chart is drawn.")
    return (why + "\n\n" if why else "") + " ".join(parts)


# --------------------------------------------------------------------------- which accelerator

def comparable_accelerators(precision: str) -> list[str]:
    """Accelerators in the data that support ``precision`` and have a power cap (needed by the power model)."""
    return [a.accelerator_id for a in data.accelerators().values() if a.supports(precision) and not math.isnan(a.tdp_w)]


def _price_rows(accelerator_id: str) -> pd.DataFrame:
    """On-demand rows of cloud_gpu_prices.csv for one accelerator, with their basis."""
    model, mem, _ = costs.PRICE_NAMES.get(accelerator_id, (None, None, None))
    df = data.table("cloud_gpu_prices")
    if model is None:
        return df.iloc[0:0].assign(basis=pd.Series(dtype=str))
    df = df[df["gpu_model"].str.startswith(model) & (df["purchase_option"] == "on-demand")]
    if mem is not None:
        df = df[pd.to_numeric(df["gpu_mem_gb"], errors="coerce") == mem]
    gpu_only = df["instance"].str.contains("billed separately", na=False)
    return df.assign(basis=np.where(gpu_only, "GPU only (host billed separately)", "whole instance (host included)"))


def like_for_like_prices(accelerator_ids: list[str]) -> pd.DataFrame:
    """One on-demand rental price per accelerator on one basis: the same provider, whole instances (host included),
    each part's latest row. The provider is the one with such rows for the most of ``accelerator_ids``.
    Columns: accelerator, provider, instance, price_date, price_year, usd_per_gpu_hour (NaN: no such row)."""
    rows = {a: _price_rows(a) for a in accelerator_ids}
    rows = {a: df[df["basis"].str.startswith("whole")].sort_values("price_date") for a, df in rows.items()}
    providers = sorted({p for df in rows.values() for p in df["provider"]})
    coverage = {p: sum(bool((df["provider"] == p).any()) for df in rows.values()) for p in providers}
    best = max(providers, key=lambda p: (coverage[p], p in ("aws", "gcp", "azure"), -providers.index(p))) \
        if providers else ""
    out = []
    for a, df in rows.items():
        pick = df[df["provider"] == best]
        r = pick.iloc[-1] if len(pick) else None
        out.append({"accelerator": a, "provider": best if r is not None else "",
                    "instance": r["instance"] if r is not None else "",
                    "price_date": str(r["price_date"]) if r is not None else "",
                    "price_year": float(r["year"]) if r is not None else math.nan,
                    "usd_per_gpu_hour": float(r["usd_per_gpu_hour"]) if r is not None else math.nan})
    return pd.DataFrame(out)


PROVIDER_NAMES = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Azure", "lambda": "Lambda", "runpod": "RunPod"}


def accelerators(run: TrainingRun) -> pd.DataFrame:
    """The same job (same count, region, precision) on every comparable accelerator, on one MFU basis.

    Every row, the chosen accelerator's included, uses the MFU prior for this model size and count, so the
    comparison is like with like even when the headline uses a given MFU. ``low_confidence`` marks parts without
    a published large-scale run on their generation: shown, never ranked. Rental is priced like for like
    (:func:`like_for_like_prices`) in ``rental_usd``; ``cloud_cost_usd`` is the model's own price basis.
    """
    ids = comparable_accelerators(run.precision)
    if run.accelerator not in ids:
        ids.insert(0, run.accelerator)
    base = run.frame_row()
    rows = [{**base, "accelerator": a, "mfu": math.nan, "cloud_price_usd_per_gpu_hour": math.nan} for a in ids]
    est = training.estimate_training_frame(pd.DataFrame(rows)).reset_index(drop=True)
    meta = []
    for a, band in zip(ids, est["mfu_scale_band"], strict=True):
        acc = data.accelerator(a)
        prior = training.mfu_prior(a, run.precision, band)
        meta.append({"name": acc.name, "peak_tflops": acc.peak(run.precision), "tdp_w": acc.tdp_w,
                     "memory_gb": acc.memory_gb, "mfu_source": prior.source_id, "generation": prior.generation,
                     "accelerator_source_id": acc.source_id})
    out = pd.concat([pd.DataFrame(meta), est], axis=1)
    prices = like_for_like_prices(ids)
    out = out.merge(prices, on="accelerator", how="left")
    out["rental_usd"] = out["accelerator_hours"] * out["usd_per_gpu_hour"]
    out["low_confidence"] = out["mfu_low_confidence"].astype(bool)
    out["chosen"] = out["accelerator"] == run.accelerator
    return out


def ranked_accelerators(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a report may rank: parts with a published large-scale MFU for their generation."""
    return df[~df["low_confidence"].astype(bool)]


def rental_basis(df: pd.DataFrame) -> str:
    """``AWS on-demand, whole instance, 2026`` for the like-for-like rental column."""
    priced = df.dropna(subset=["usd_per_gpu_hour"])
    if priced.empty:
        return "no like-for-like price in the data"
    years = sorted({fmt.year(y) for y in priced["price_year"]})
    provider = PROVIDER_NAMES.get(priced["provider"].iloc[0], priced["provider"].iloc[0])
    return f"{provider} on-demand, whole instance, {'–'.join([years[0], years[-1]] if len(years) > 1 else years)}"


def accelerators_table(run: TrainingRun, df: pd.DataFrame) -> tables.Table:
    shown = df.assign(confidence=np.where(df["low_confidence"], df["mfu_confidence"].astype(str) + " (not ranked)",
                                          df["mfu_confidence"].astype(str)))
    return tables.table(
        shown, {"accelerator": "Accelerator", "peak_tflops": f"Peak {run.precision} (TFLOP/s)", "mfu_used": "MFU",
                "confidence": "MFU confidence", "tdp_w": "Power cap (W)", "wall_clock_hours": "Wall clock (h)",
                "facility_energy_kwh": "Facility energy (kWh)", "emissions_kg": "Emissions (kg CO2e)",
                "usd_per_gpu_hour": "Rental price (USD per accelerator-hour)", "price_date": "Price date",
                "rental_usd": f"Cloud rental ({rental_basis(df)}; USD)"},
        kinds={"mfu_used": "percent", "confidence": "text", "price_date": "text"},
        caption=f"The same job on each accelerator ({run.count} of them, {run.precision}, in {run.region_name})",
        notes=[f"Rental prices compared like for like: {rental_basis(df)}, each part's latest row; "
               f"{fmt.MISSING} where that provider lists no such instance."])


def accelerator_bars(df: pd.DataFrame) -> pd.DataFrame:
    """Three panels, one unit each (wall clock, facility energy, like-for-like rental), indexed by name."""
    cols = {}
    for key, label, unit in (("wall_clock_hours", "Wall clock", "h"), ("facility_energy_kwh", "Facility energy", "kWh"),
                             ("rental_usd", "Cloud rental", "USD")):
        div, shown = _scale(float(df[key].max()) if df[key].notna().any() else 0.0, unit)
        cols[f"{label} ({shown})"] = (df[key] / div).to_numpy()
    return pd.DataFrame(cols, index=pd.Index(df["name"], name="accelerator"))


def accelerators_alt(run: TrainingRun, df: pd.DataFrame) -> str:
    fast = df.loc[df["wall_clock_hours"].idxmin()]
    slow = df.loc[df["wall_clock_hours"].idxmax()]
    return (f"Three bar charts, one bar per accelerator ({len(df)} parts): wall clock, facility energy and cloud "
            f"rental ({rental_basis(df)}) of the same job. Wall clock runs from {_hours(fast['wall_clock_hours'])} on {fast['name']} to "
            f"{_hours(slow['wall_clock_hours'])} on {slow['name']}; parts without a price have no rental bar.")


def accelerators_text(run: TrainingRun, df: pd.DataFrame) -> str:
    by_id = df.set_index("accelerator")
    parts = [f"The same job ({fmt.count(run.params)} parameters, {fmt.count(run.total_tokens)} tokens, {run.count} "
             f"accelerators, {run.precision}, in {run.region_name}) on the {len(df)} accelerators in the data that "
             f"support {run.precision}."]
    if "a100-sxm4-80gb" in by_id.index and "h100-sxm" in by_id.index:
        a, h = by_id.loc["a100-sxm4-80gb"], by_id.loc["h100-sxm"]
        parts.append(
            f"**A100 against H100:** on {run.count} × {a['name']} the job takes {_hours(a['wall_clock_hours'])} and "
            f"{_q(a['facility_energy_kwh'], 'kWh')}; on {run.count} × {h['name']} {_hours(h['wall_clock_hours'])} and "
            f"{_q(h['facility_energy_kwh'], 'kWh')}: the H100 is {_times(a['wall_clock_hours'], h['wall_clock_hours'])} "
            f"faster and uses {fmt.percent(abs(1 - h['facility_energy_kwh'] / a['facility_energy_kwh']))} "
            f"{'less' if h['facility_energy_kwh'] < a['facility_energy_kwh'] else 'more'} energy.")
        if not (fmt.is_missing(a["rental_usd"]) or fmt.is_missing(h["rental_usd"])):
            parts.append(f"Rented on the same basis ({rental_basis(df)}) it costs {fmt.money(a['rental_usd'])} on "
                         f"A100 and {fmt.money(h['rental_usd'])} on H100.")
    ranked = ranked_accelerators(df)
    parts.append(f"Every accelerator, the chosen one included, is estimated on one MFU basis: the published-run prior "
                 f"of its generation for this model size and count (scale band {df['mfu_scale_band'].iloc[0]}), or a "
                 f"transferred prior where no run is published"
                 f"{' (the headline estimate uses the MFU given)' if run.mfu is not None else ''}.")
    if len(ranked):
        e = ranked.loc[ranked["facility_energy_kwh"].idxmin()]
        t = ranked.loc[ranked["wall_clock_hours"].idxmin()]
        parts.append(f"Among the parts with a published large-scale MFU for their generation "
                     f"({_listing(ranked['name'].tolist())}): least energy: {e['name']} "
                     f"({_q(e['facility_energy_kwh'], 'kWh')}); fastest: {t['name']} ({_hours(t['wall_clock_hours'])}).")
        priced = ranked.dropna(subset=["rental_usd"])
        if len(priced):
            p = priced.loc[priced["rental_usd"].idxmin()]
            parts.append(f"Cheapest to rent among those with a like-for-like price: {p['name']} "
                         f"({fmt.money(p['rental_usd'])}).")
    mine = df[df["chosen"]].iloc[0]
    if not fmt.is_missing(mine["rental_usd"]) and not fmt.is_missing(mine["cloud_cost_usd"]) and \
            abs(mine["rental_usd"] / mine["cloud_cost_usd"] - 1) > 1e-3:
        parts.append(f"The headline's rental for {mine['name']} ({fmt.money(mine['cloud_cost_usd'])} at this MFU) uses "
                     "the median of several providers' prices (see Money), so it differs from this like-for-like "
                     "column.")
    else:
        parts.append("No compared part has a published large-scale MFU for its generation, so none is ranked.")
    unranked = df[df["low_confidence"]]["name"].tolist()
    if unranked:
        parts.append(f"Not ranked (low confidence: no published large-scale run on their generation, so their MFU is a "
                     f"transferred prior or a vendor benchmark): {_listing(unranked)}.")
    parts.append("Memory fit is not checked: a model may need more accelerators than given on small-memory parts.")
    return " ".join(parts)


# --------------------------------------------------------------------------- lifecycle

def lifecycle(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Operational (electricity) and embodied (hardware, amortised) emissions per region name, and their unit
    (kg or t CO2e, whichever reads best)."""
    total = (frame["emissions_kg"] + frame["embodied_emissions_kg"].fillna(0)).max()
    div, unit = _scale(float(total), "kg CO2e")
    df = pd.DataFrame({"operational (electricity)": frame["emissions_kg"].to_numpy(),
                       "embodied (hardware, amortised)": frame["embodied_emissions_kg"].to_numpy()},
                      index=pd.Index(frame["name"], name="region"))
    return df / div, unit


def lifecycle_alt(frame: pd.DataFrame) -> str:
    here = frame.iloc[0]
    top = frame.loc[frame["embodied_share"].idxmax()]
    return (f"Stacked bars per region of operational and embodied emissions. In {here['name']} the embodied part is "
            f"{_q(here['embodied_emissions_kg'], 'kg CO2e')}, {fmt.percent(here['embodied_share'])} of the total"
            + (f"; its share is largest in {top['name']} ({fmt.percent(top['embodied_share'])})."
               if top["region"] != here["region"] else ", the largest share of the regions compared (cleanest grid)."))


def lifecycle_text(run: TrainingRun, est, frame: pd.DataFrame) -> str:
    here = frame.iloc[0]
    a = _assumption(est, "embodied_kg_per_accelerator_hour")
    if fmt.is_missing(here["embodied_emissions_kg"]):
        return (f"The data has no embodied-carbon profile for {run.accelerator_name}, so the hardware's manufacturing "
                "emissions are not estimated here (shown as —, not 0).")
    top = frame.loc[frame["embodied_share"].idxmax()]
    parts = [f"Manufacturing the hardware also emits CO2e. Amortised over its service life and utilisation "
             f"({fmt.number(a.value)} kg CO2e per accelerator-hour), this job's share is "
             f"{_q(here['embodied_emissions_kg'], 'kg CO2e')}: {fmt.percent(here['embodied_share'])} of its total in "
             f"{here['name']}, next to {_q(here['emissions_kg'], 'kg CO2e')} from electricity."]
    if top["region"] != here["region"]:
        parts.append(f"On the cleanest grid compared ({top['name']}) the embodied part grows to "
                     f"{fmt.percent(top['embodied_share'])} of the total: where electricity is low-carbon, hardware is "
                     "the larger lever.")
    parts.append("Operational emissions are location-based (grid average, lifecycle factors where the source gives "
                 "them), not market-based: renewable certificates are not counted.")
    return " ".join(parts)


# --------------------------------------------------------------------------- money

def cloud_price_rows(run: TrainingRun) -> pd.DataFrame:
    """The on-demand price rows of the chosen accelerator in the data, with provider, basis and date."""
    df = _price_rows(run.accelerator).sort_values(["price_date", "provider"], ascending=[False, True])
    return df.assign(provider=[PROVIDER_NAMES.get(p, p) for p in df["provider"]])[
        ["provider", "instance", "basis", "price_date", "usd_per_gpu_hour"]].reset_index(drop=True)


def headline_price_rows(run: TrainingRun) -> pd.DataFrame:
    """The rows behind the model's default rental price (:func:`joulebook.models.costs.cloud_price`): each
    hyperscaler's latest on-demand row for the chosen accelerator (any provider's when no hyperscaler lists it)."""
    df = _price_rows(run.accelerator).sort_values("price_date")
    latest = df.groupby("provider").tail(1)
    hyper = latest[latest["provider"].isin(["aws", "gcp", "azure"])]
    out = (hyper if len(hyper) else latest).sort_values("provider")
    return out.assign(provider=[PROVIDER_NAMES.get(p, p) for p in out["provider"]],
                      price_date=out["price_date"].astype(str))[
        ["provider", "instance", "basis", "price_date", "usd_per_gpu_hour"]].reset_index(drop=True)


def cloud_price_table(run: TrainingRun) -> tables.Table:
    return tables.table(cloud_price_rows(run),
                        {"provider": "Provider", "instance": "Instance or SKU", "basis": "Basis",
                         "price_date": "Price date", "usd_per_gpu_hour": "Price (USD per accelerator-hour)"},
                        kinds={"price_date": "text", "instance": "text"},
                        caption=f"On-demand rental prices for {run.accelerator_name} in the data, newest first")


def money(run: TrainingRun, est) -> pd.DataFrame:
    """The run's cost three ways (cloud rental, owned hardware, electricity alone), low/central/high, USD."""
    rows = [("Cloud rental (includes the provider's electricity)", "cloud_cost_usd"),
            ("Owned hardware (capex written off + electricity)", "onprem_cost_usd"),
            ("Electricity alone", "electricity_cost_usd")]
    return pd.DataFrame([{"option": label, "low": est.low[k], "central": est.central[k], "high": est.high[k]}
                         for label, k in rows])


def money_table(run: TrainingRun, est) -> tables.Table:
    return tables.table(money(run, est), {"option": "Cost", "low": "Low (USD)", "central": "Central (USD)",
                                          "high": "High (USD)"}, kinds={"option": "text"},
                        caption="What the run costs")


def money_text(run: TrainingRun, est) -> str:
    c, lo, hi = est.central, est.low, est.high
    cp = _assumption(est, "cloud_price_usd_per_gpu_hour")
    bp = _assumption(est, "purchase_usd_per_accelerator")
    life = _assumption(est, "hardware_lifetime_years")
    util = _assumption(est, "hardware_utilisation")
    parts = []
    if not fmt.is_missing(c["cloud_cost_usd"]):
        used = headline_price_rows(run)
        how = "the price given" if cp.overridden or used.empty else (
            "the median of the latest on-demand prices of " + _listing(
                [f"{r.provider} ({fmt.money(r.usd_per_gpu_hour)}, {r.basis}, {r.price_date})"
                 for r in used.itertuples(index=False)]))
        parts.append(f"Renting {run.count} × {run.accelerator_name} for {fmt.number(c['accelerator_hours'])} "
                     f"accelerator-hours at {fmt.money(cp.value)} each ({how}) costs {fmt.money(c['cloud_cost_usd'])} "
                     f"(range {fmt.money(lo['cloud_cost_usd'])} to {fmt.money(hi['cloud_cost_usd'])}, the cheapest "
                     "and dearest latest price of any provider).")
        if not cp.overridden and (used["basis"].nunique() > 1 or used["price_date"].str[:4].nunique() > 1):
            parts.append("Those prices are not like for like (they differ in basis or year); the accelerator section "
                         "compares parts on one basis, and the table below gives each row's basis and date.")
    else:
        parts.append(f"The data has no rental price for {run.accelerator_name}; set `cloud_price_usd_per_gpu_hour` to "
                     "cost a cloud run.")
    if bp is not None and bp.value is not None and not fmt.is_missing(c["onprem_cost_usd"]):
        parts.append(f"Owned hardware ({fmt.money(bp.value)} per accelerator, written off over "
                     f"{fmt.number(life.value)} years at {fmt.percent(util.value)} utilisation) costs this job "
                     f"{fmt.money(c['onprem_cost_usd'])}, of which {fmt.money(c['electricity_cost_usd'])} is electricity "
                     "(staff, networking and the building are not included).")
    elif fmt.is_missing(c["electricity_cost_usd"]):
        parts.append(f"There is no electricity price for {run.region_name} in the data, so the owned-hardware cost "
                     "cannot be computed.")
    parts.append(f"The headline cost is {'owned hardware' if run.onprem else 'cloud rental'} (parameter `onprem`).")
    return " ".join(parts)


# --------------------------------------------------------------------------- the finding

def _timing_clause(run: TrainingRun, frame: pd.DataFrame, hours: pd.DataFrame) -> str:
    here = frame.iloc[0]
    if not here["hourly_zone"]:
        return f"and the start hour does not change this (no hourly intensity profile for {here['name']})"
    b = _best(_by_region(hours)[here["region"]], "emissions_kg")
    return (f"and starting at {b['hour']:02d}:00 local time rather than {b['worst_hour']:02d}:00 saves "
            f"{fmt.percent(b['saving_vs_worst'])} of the emissions")


def headline(run: TrainingRun, est, frame: pd.DataFrame, hours: pd.DataFrame) -> str:
    """The answer in one or two sentences, from the numbers the page shows."""
    c, lo, hi = est.central, est.low, est.high
    cost = c[run.cost_key]
    cost_text = (f" and {fmt.money(cost)} {'with owned hardware' if run.onprem else 'of cloud rental'}"
                 if not fmt.is_missing(cost) else "")
    best = _extreme(frame, "emissions_kg", True)
    if best["region"] != run.region:
        where = (f"of the {len(frame)} regions compared, {best['name']} would emit least "
                 f"({_q(best['emissions_kg'], 'kg CO2e')}, {fmt.percent(1 - best['emissions_kg'] / c['emissions_kg'])} less)")
    elif len(frame) > 1:
        worst = _extreme(frame, "emissions_kg", False)
        where = (f"{run.region_name} is the lowest of the {len(frame)} regions compared ({worst['name']}: "
                 f"{_times(worst['emissions_kg'], c['emissions_kg'])} as much)")
    else:
        where = "no other region compared"
    return (f"Training {run.job_text} in {run.region_name} takes {_hours(c['wall_clock_hours'])}, "
            f"{_q(c['facility_energy_kwh'], 'kWh')} ({_span(lo['facility_energy_kwh'], hi['facility_energy_kwh'], 'kWh')}), "
            f"{_q(c['emissions_kg'], 'kg CO2e')}{cost_text}; {where}, {_timing_clause(run, frame, hours)}.")


def finding(run: TrainingRun, est, frame: pd.DataFrame, hours: pd.DataFrame) -> tuple[str, list[tuple[str, str, str]]]:
    """(headline, tiles): energy, emissions, cost, water and wall clock, each with its range (3 s.f., names)."""
    c, lo, hi = est.central, est.low, est.high

    def tile(label: str, key: str, unit: str, extra: str = "") -> tuple[str, str, str]:
        rng = _span(lo[key], hi[key], unit)
        note = "; ".join(p for p in (f"range {rng}" if rng else "", extra) if p)
        return (label, _q(c[key], unit), note)

    tiles = [tile("Facility energy", "facility_energy_kwh", "kWh", f"PUE {fmt.number(_assumption(est, 'pue').value)}"),
             tile("Emissions (location-based)", "emissions_kg", "kg CO2e",
                  f"+ {_q(c['embodied_emissions_kg'], 'kg CO2e')} embodied"
                  if not fmt.is_missing(c["embodied_emissions_kg"]) else "")]
    if not fmt.is_missing(c[run.cost_key]):
        tiles.append(("Owned-hardware cost" if run.onprem else "Cloud rental", fmt.money(c[run.cost_key]),
                      f"range {_span(lo[run.cost_key], hi[run.cost_key], 'USD')}"))
    else:
        tiles.append(("Cost", fmt.MISSING, "no price in the data"))
    tiles.append(tile("Water", "water_l", "L", "US-average water of electricity (substituted)"
                      if bool(frame.iloc[0]["ewif_substituted"]) else ""))
    tiles.append(("Wall clock", _hours(c["wall_clock_hours"]),
                  f"range {_span(lo['wall_clock_hours'], hi['wall_clock_hours'], 'h')}"))
    return headline(run, est, frame, hours), tiles


# --------------------------------------------------------------------------- provenance

def parameters_table(run: TrainingRun, est) -> tables.Table:
    """Each parameter: the value given, and what the report used where it was left to the data."""
    a = est.assumptions
    rows = []

    def used(name: str, text: str) -> None:
        v = run.parameters.get(name)
        rows.append({"parameter": name, "given": tables.parameter_text(name, v), "used": text})

    used("params", f"{fmt.count(run.params)} parameters")
    used("tokens", f"{fmt.count(run.total_tokens)} tokens" + (" (epochs × dataset_tokens)" if run.tokens is None else ""))
    used("epochs", fmt.number(run.epochs) if run.epochs else "no per-epoch figures")
    used("dataset_tokens", fmt.count(run.dataset_tokens) if run.dataset_tokens else "not used")
    used("layers", str(run.layers) if run.layers else "attention FLOPs (6·L·s·d per token) left out")
    used("hidden", str(run.hidden) if run.hidden else "attention FLOPs left out")
    used("seq_len", str(run.seq_len) if run.seq_len else "no per-step figures")
    used("batch", f"{run.batch} sequences = {fmt.count(run.batch * run.seq_len)} tokens per step" if run.batch
         else "no per-step figures")
    used("accelerator", run.accelerator_name)
    used("count", str(run.count))
    used("precision", run.precision)
    m = a["mfu"]
    used("mfu", fmt.number(m.value) + ("" if m.overridden else " (prior for this generation, precision and scale)"))
    used("region", run.region_name)
    used("comparison_regions", _listing([data.region(r).name for r in run.comparison_regions]) or "none")
    used("start", f"{run.start} local time: hour-by-hour intensity over the run" if run.start
         else "annual-average intensity")
    p = a["pue"]
    used("pue", fmt.number(p.value) + ("" if p.overridden else f" ({p.note.split(';')[0]})"))
    cp = a["cloud_price_usd_per_gpu_hour"]
    used("cloud_price_usd_per_gpu_hour", (fmt.money(cp.value) + " per accelerator-hour") if cp.value is not None
         else "no rental price in the data")
    used("onprem", "headline cost: owned hardware" if run.onprem else "headline cost: cloud rental")
    return tables.table(pd.DataFrame(rows), {"parameter": "Parameter", "given": "Given", "used": "Used"},
                        kinds={"given": "text", "used": "text"}, caption="Parameters of this run and the values used")


def assumptions_table(est) -> tables.Table:
    """Every assumption of the headline estimate: value, unit, note, source title, whether you gave it."""
    df = est.assumptions.to_frame()
    df["note"] = ["" if n == "region" else t for n, t in zip(df["name"], df["note"], strict=True)]
    df["given"] = df["overridden"].astype(bool)
    return tables.assumptions_table(df, caption="Assumptions of the headline estimate (override any of them by name)")


def source_ids(est, frame: pd.DataFrame, accels: pd.DataFrame) -> list[str]:
    """Every source behind the page: the estimate, each compared region and accelerator, hourly profiles, tariffs."""
    ids = list(est.source_ids)
    for _, r in frame.iterrows():
        ids += [r["intensity_source_id"], r["price_source_id"]]
    for _, a in accels.iterrows():
        ids += [a["accelerator_source_id"], a["mfu_source"]]
    zones = {z for z in frame["hourly_zone"] if z}
    if zones:
        prof = data.table("hourly_intensity_profiles")
        ids += sorted(set(prof.loc[prof["zone_id"].isin(zones), "source_id"]))
    tariffs = {t for t in frame["tou_schedule"] if t}
    if tariffs:
        tou = data.table("tou_tariffs")
        ids += sorted(set(tou.loc[(tou["utility"] + " " + tou["schedule"]).isin(tariffs), "source_id"]))
    prices = data.table("cloud_gpu_prices")
    ids += sorted(set(prices["source_id"]))
    known = set(data.table("sources")["source_id"])
    return [i for i in dict.fromkeys(ids) if i and i in known]


def sources_table(est, frame: pd.DataFrame, accels: pd.DataFrame) -> tables.Table:
    src = data.sources_for(source_ids(est, frame, accels))
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


# --------------------------------------------------------------------------- metrics.json

def _plain(obj: Any) -> Any:
    """numpy scalars -> Python; floats rounded to 6 significant figures; NaN -> None (recursively)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return round6(obj)
    return obj


def metrics(run: TrainingRun, est, frame: pd.DataFrame, accels: pd.DataFrame, hours: pd.DataFrame) -> dict[str, Any]:
    """The report's ``metrics.json``: title, finding (= the page's headline), key figures and the numbers behind them."""
    c, lo, hi = est.central, est.low, est.high
    best = _extreme(frame, "emissions_kg", True)
    cost = c[run.cost_key]
    figures = [{"label": "facility energy", "value": c["facility_energy_kwh"] / 1000, "unit": "MWh"},
               {"label": "emissions (location-based)", "value": c["emissions_kg"] / 1000, "unit": "t CO2e"}]
    if not fmt.is_missing(cost):
        figures.append({"label": "owned hardware cost" if run.onprem else "cloud rental cost", "value": cost,
                        "unit": "USD"})
    figures.append({"label": "wall clock", "value": c["wall_clock_hours"] / 24, "unit": "days"})
    tod = {}
    for region, df in _by_region(hours).items():
        if df["hourly"].iloc[0]:
            b = _best(df, "emissions_kg")
            tod[region] = {"best_start_hour_local": b["hour"], "emissions_saving_vs_worst": b["saving_vs_worst"]}
    out = {
        "title": f"Training energy: {fmt.count(run.params)}-parameter model on {run.count} × {run.accelerator_name} "
                 f"in {run.region_name}",
        "finding": headline(run, est, frame, hours),
        "key_figures": figures,
        "region": run.region, "accelerator": run.accelerator, "count": run.count, "precision": run.precision,
        **{k: c[k] for k in ("flops", "accelerator_hours", "wall_clock_hours", "steps", "step_time_s",
                             "energy_per_step_j", "energy_per_epoch_kwh", "it_energy_kwh", "facility_energy_kwh",
                             "peak_power_kw", "accelerator_power_w", "emissions_kg", "embodied_emissions_kg",
                             "water_l", "electricity_cost_usd", "cloud_cost_usd", "onprem_cost_usd")},
        "facility_energy_kwh_low": lo["facility_energy_kwh"], "facility_energy_kwh_high": hi["facility_energy_kwh"],
        "emissions_kg_low": lo["emissions_kg"], "emissions_kg_high": hi["emissions_kg"],
        "lowest_emission_region": best["region"], "lowest_emissions_kg": best["emissions_kg"],
        "regions": {row["region"]: {"facility_energy_kwh": row["facility_energy_kwh"],
                                    "emissions_kg": row["emissions_kg"], "water_l": row["water_l"],
                                    "electricity_cost_usd": row["electricity_cost_usd"],
                                    "embodied_share": row["embodied_share"]}
                    for _, row in frame.iterrows()},
        "accelerators": {row["accelerator"]: {"wall_clock_hours": row["wall_clock_hours"],
                                              "facility_energy_kwh": row["facility_energy_kwh"],
                                              "rental_usd": row["rental_usd"], "mfu": row["mfu_used"],
                                              "mfu_basis": row["mfu_basis"],
                                              "mfu_low_confidence": bool(row["low_confidence"])}
                         for _, row in accels.iterrows()},
        "rental_basis": rental_basis(accels),
        "time_of_day_month": month_of(run),
        "time_of_day": tod,
    }
    return _plain(out)


def compute(run: TrainingRun) -> tuple[Any, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Everything the page shows: (estimate, regions, accelerators, start hours)."""
    est = estimate(run)
    frame = regions(run)
    return est, frame, accelerators(run), start_hours(run, frame, float(est.central["wall_clock_hours"]))


def metrics_for(parameters: dict[str, Any]) -> dict[str, Any]:
    """The report's ``metrics.json`` computed directly from the notebook's parameters (used by the tests)."""
    run = check(**parameters)
    return metrics(run, *compute(run))
