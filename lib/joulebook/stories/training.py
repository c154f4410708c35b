"""Everything ``notebooks/10_training_energy.ipynb`` computes, writes and draws.

The notebook stays thin: it validates its parameters with :func:`training_run`,
builds a :class:`TrainingStory` with :func:`build_story` and shows one piece
per cell (prose, a table or a figure). :func:`metrics_for` runs the same
computation straight from a parameter dict; the test-suite compares it with the
``metrics.json`` the executed notebook wrote.

Numbers come from :mod:`joulebook.models.training` (one scenario and the vectorized
frame for the region and accelerator comparisons), :mod:`joulebook.models.grid`
(hour-by-hour intensity and time-of-use prices) and the data tables; prose is
written from those numbers, never the other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from joulebook.core.errors import InputError
from joulebook.display import prose as fmt
from joulebook.stories.region_comparison import substitutions

SHORT_JOB_H = 4.0  # a short job (fine-tuning, evaluation) used to show what timing can gain
DEFAULT_MONTH = 7  # month used for the time-of-day view when no start is given (July)
FIGURE_ROUND = 6  # significant digits in metrics.json


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
    from joulebook.core.validate import number

    if value is None:
        return None
    return int(number(name, value, strictly_positive=True, integer=True))


def training_run(*, params: float, tokens: float | None = None, epochs: float | None = None,
                 dataset_tokens: float | None = None, layers: int | None = None, hidden: int | None = None,
                 seq_len: int | None = None, batch: int | None = None, accelerator: str = "h100-sxm", count: int = 1,
                 precision: str = "bf16", mfu: float | None = None, region: str = "us-va",
                 comparison_regions=(), start: str | None = None, pue: float | None = None,
                 cloud_price_usd_per_gpu_hour: float | None = None, onprem: bool = False) -> TrainingRun:
    """Check the notebook's parameters; raise :class:`InputError` / ``Unknown*Error`` naming the one at fault."""
    from joulebook import data
    from joulebook.core.validate import fraction, number
    from joulebook.models import grid

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


# --------------------------------------------------------------------------- computations (no prose)

def region_frame(run: TrainingRun):
    """The job in every region (chosen first): estimates plus each region's data rows and sources.

    Annual-average intensities throughout (the chosen region's start time, if
    any, is applied in the main estimate only). A PUE override applies to every
    region: it describes the facility, which is then assumed the same everywhere.
    """
    import pandas as pd

    from joulebook import data
    from joulebook.models import training

    regions = run.regions
    rows = [{**run.frame_row(), "region": r} for r in regions]
    est = training.estimate_training_frame(pd.DataFrame(rows))
    meta = []
    for r in regions:
        reg = data.region(r)
        meta.append({"name": reg.name, "timezone": reg.timezone, "intensity_g_per_kwh": reg.intensity_g_per_kwh,
                     "intensity_year": reg.intensity_year, "intensity_source_id": reg.intensity_source_id,
                     "intensity_basis": reg.intensity_basis, "price_usd_per_kwh": reg.price_usd_per_kwh,
                     "price_year": reg.price_year, "price_source_id": reg.price_source_id or "",
                     "pue_used": run.pue if run.pue is not None else reg.pue[1],
                     "hourly_zone": reg.hourly_zone or "", "tou_schedule": reg.tou_schedule or ""})
    out = pd.concat([est[["region"]].reset_index(drop=True), pd.DataFrame(meta),
                     est.drop(columns=[c for c in est.columns if c in ("region", "pue", "intensity_g_per_kwh",
                                                                        "price_usd_per_kwh")]).reset_index(drop=True)],
                    axis=1)
    out["embodied_share"] = out["embodied_emissions_kg"] / (out["embodied_emissions_kg"] + out["emissions_kg"])
    return out


def comparable_accelerators(precision: str) -> list[str]:
    """Accelerators in the data that support ``precision`` and have a power cap (needed by the power model)."""
    from joulebook import data

    return [a.accelerator_id for a in data.accelerators().values()
            if a.supports(precision) and not math.isnan(a.tdp_w)]


def accelerator_frame(run: TrainingRun):
    """The same job (same count, region, precision) on every comparable accelerator, on one MFU basis.

    Every row, the chosen accelerator's included, uses the MFU prior for this model size and count
    (``mfu_basis``), so the comparison is like with like even when the run's headline estimate uses a
    given or calibrated MFU. ``low_confidence`` marks parts without a published large-scale run on their
    generation (transferred prior or vendor benchmarks only): they are shown but never ranked. The run's
    cloud-price override applies to its own accelerator only.
    """
    import pandas as pd

    from joulebook import data
    from joulebook.models import training

    ids = comparable_accelerators(run.precision)
    if run.accelerator not in ids:
        ids.insert(0, run.accelerator)
    base = run.frame_row()
    rows = []
    for a in ids:
        row = {**base, "accelerator": a, "mfu": math.nan}
        if a != run.accelerator:
            row["cloud_price_usd_per_gpu_hour"] = math.nan
        rows.append(row)
    est = training.estimate_training_frame(pd.DataFrame(rows)).reset_index(drop=True)
    meta = []
    for a, band in zip(ids, est["mfu_scale_band"], strict=True):
        acc = data.accelerator(a)
        prior = training.mfu_prior(a, run.precision, band)
        meta.append({"name": acc.name, "peak_tflops": acc.peak(run.precision), "tdp_w": acc.tdp_w,
                     "memory_gb": acc.memory_gb, "mfu_source": prior.source_id, "generation": prior.generation,
                     "accelerator_source_id": acc.source_id})
    out = pd.concat([pd.DataFrame(meta), est], axis=1)
    out["low_confidence"] = out["mfu_low_confidence"].astype(bool)
    out["chosen"] = out["accelerator"] == run.accelerator
    return out


def ranked_accelerators(df):
    """The rows a report may rank: parts with a published large-scale MFU for their generation."""
    return df[~df["low_confidence"].astype(bool)]


def month_for(run: TrainingRun) -> int:
    from joulebook import data
    from joulebook.models import grid

    return grid.month_of(run.start, data.region(run.region).timezone) if run.start else DEFAULT_MONTH


def time_of_day(run: TrainingRun, regions_df, duration_h: float) -> dict[str, Any]:
    """Emissions and cost by local start hour for the regions with an hourly profile or a TOU tariff.

    Returns {region: DataFrame of :func:`joulebook.models.grid.by_start_hour`} for the job
    itself and, under ``"short"``, for a job of the same power lasting
    :data:`SHORT_JOB_H` hours.
    """
    from joulebook.models import grid

    month = month_for(run)
    job, short = {}, {}
    for _, r in regions_df.iterrows():
        if not (r["hourly_zone"] or r["tou_schedule"]):
            continue
        energy = float(r["facility_energy_kwh"])
        job[r["region"]] = grid.by_start_hour(r["region"], duration_h, energy, month=month)
        short_energy = energy / duration_h * SHORT_JOB_H
        short[r["region"]] = grid.by_start_hour(r["region"], SHORT_JOB_H, short_energy, month=month)
    return {"month": month, "job": job, "short": short}


def hourly_profile_zones() -> list[str]:
    """The grid zones with an hour-by-hour intensity profile in ``data/hourly_intensity_profiles.csv``."""
    from joulebook import data

    return sorted(set(data.table("hourly_intensity_profiles")["zone_id"]))


def pd_isnan(value: Any) -> bool:
    """True for None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _best(df, column: str) -> dict[str, Any] | None:
    import numpy as np

    vals = df[column].to_numpy(dtype=float)
    if np.isnan(vals).all():
        return None
    i, j = int(np.nanargmin(vals)), int(np.nanargmax(vals))
    mean = float(np.nanmean(vals))
    return {"hour": int(df["start_hour_local"].iloc[i]), "start_utc": str(df["start_utc"].iloc[i]),
            "best": float(vals[i]), "worst": float(vals[j]), "worst_hour": int(df["start_hour_local"].iloc[j]),
            "mean": mean, "saving_vs_worst": (float(vals[j]) - float(vals[i])) / float(vals[j]) if vals[j] else 0.0,
            "saving_vs_mean": (mean - float(vals[i])) / mean if mean else 0.0}


def _utc_offset(tz: str, month: int) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    off = datetime(2026, month, 15, 12, tzinfo=ZoneInfo(tz)).utcoffset()
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


# --------------------------------------------------------------------------- the story

@dataclass
class TrainingStory:
    """The computed report: estimates and frames, with the prose, tables and figures drawn from them."""

    run: TrainingRun
    estimate: Any  # joulebook.models.training.TrainingEstimate
    regions: Any  # DataFrame (region_frame)
    accelerators: Any  # DataFrame (accelerator_frame)
    tod: dict[str, Any]

    # ----------------------------------------------------------------- shortcuts
    @property
    def c(self) -> dict[str, Any]:
        return self.estimate.central

    @property
    def region_name(self) -> str:
        return self.estimate.region.name if self.estimate.region else self.run.region

    @property
    def accelerator_name(self) -> str:
        from joulebook import data

        return data.accelerator(self.run.accelerator).name

    def _assumption(self, name: str):
        return self.estimate.assumptions.get(name)

    @property
    def cost_key(self) -> str:
        return "onprem_cost_usd" if self.run.onprem else "cloud_cost_usd"

    @property
    def job_text(self) -> str:
        r = self.run
        data_part = (f"{fmt.tokens(r.total_tokens)} tokens ({fmt.sig(r.epochs)} epochs of {fmt.tokens(r.dataset_tokens)})"
                     if r.tokens is None else f"{fmt.tokens(r.total_tokens)} tokens")
        return (f"a {fmt.params(r.params)}-parameter model on {data_part} with {r.count} × {self.accelerator_name} "
                f"in {r.precision}")

    @cached_property
    def source_ids(self) -> list[str]:
        """Every source behind the page: the estimate, each compared region and accelerator, hourly profiles and tariffs."""
        from joulebook import data

        ids = list(self.estimate.source_ids)
        for _, r in self.regions.iterrows():
            ids += [r["intensity_source_id"], r["price_source_id"]]
        for _, a in self.accelerators.iterrows():
            ids += [a["accelerator_source_id"], a["mfu_source"]]
        zones = {z for z in self.regions["hourly_zone"] if z}
        if zones:
            prof = data.table("hourly_intensity_profiles")
            ids += sorted(set(prof.loc[prof["zone_id"].isin(zones), "source_id"]))
        tariffs = {t for t in self.regions["tou_schedule"] if t}
        if tariffs:
            tou = data.table("tou_tariffs")
            names = (tou["utility"] + " " + tou["schedule"]).isin(tariffs)
            ids += sorted(set(tou.loc[names, "source_id"]))
        known = set(data.table("sources")["source_id"])
        return [i for i in dict.fromkeys(ids) if i and i in known]

    # ----------------------------------------------------------------- summary and defaults
    def summary_md(self) -> str:
        c, r = self.c, self.run
        cheapest = self._extreme("emissions_kg", lowest=True)
        cost_word = "owning the hardware" if r.onprem else "renting it in the cloud"
        lines = [
            f"**In short.** Training {self.job_text} in {self.region_name} takes "
            f"{fmt.hours(c['wall_clock_hours'])} of wall-clock time and {fmt.sig(c['accelerator_hours'])} "
            f"accelerator-hours. It uses {fmt.energy_kwh(c['facility_energy_kwh'])} at the facility "
            f"{fmt.span(self.estimate.low['facility_energy_kwh'], self.estimate.high['facility_energy_kwh'], fmt.energy_kwh)}, "
            f"emits {fmt.mass_kg(c['emissions_kg'])} from electricity (location-based) plus "
            f"{fmt.mass_kg(c['embodied_emissions_kg'])} of embodied hardware emissions, and consumes "
            f"{fmt.water_l(c['water_l'])} of water. Cost when {cost_word}: {fmt.usd(c[self.cost_key])}.",
        ]
        if cheapest["region"] != r.region:
            lines.append(
                f"Of the {len(self.regions)} regions compared, {cheapest['name']} has the lowest emissions for the "
                f"same job: {fmt.mass_kg(cheapest['emissions_kg'])}, "
                f"{fmt.times(c['emissions_kg'], cheapest['emissions_kg'])} less than {self.region_name}.")
        elif len(self.regions) > 1:
            worst = self._extreme("emissions_kg", lowest=False)
            lines.append(f"{self.region_name} is the lowest-emission region of the {len(self.regions)} compared; "
                         f"{worst['name']} would emit {fmt.times(worst['emissions_kg'], c['emissions_kg'])} as much.")
        return "\n\n".join(lines)

    def defaults_frame(self):
        """Every parameter, the value given and what the report used where it was left to the data (None)."""
        import json

        import pandas as pd

        r = self.run
        a = self._assumption
        rows = []

        def used(name: str, text: str, source: str = "") -> None:
            rows.append({"parameter": name, "given": json.dumps(r.parameters.get(name)), "used": text,
                         "source": source})

        used("params", fmt.params(r.params))
        used("tokens", f"{fmt.tokens(r.total_tokens)} tokens" + (" (epochs × dataset_tokens)" if r.tokens is None else ""))
        used("epochs", fmt.sig(r.epochs) if r.epochs else "not given: no per-epoch figures beyond the whole run")
        used("dataset_tokens", fmt.tokens(r.dataset_tokens) if r.dataset_tokens else "not given")
        used("layers", str(r.layers) if r.layers else "not given: attention FLOPs (6·L·s·d per token) left out")
        used("hidden", str(r.hidden) if r.hidden else "not given")
        used("seq_len", str(r.seq_len) if r.seq_len else "not given")
        used("batch", f"{r.batch} sequences = {fmt.tokens(r.batch * r.seq_len)} tokens per step" if r.batch
             else "not given: no per-step figures")
        used("accelerator", self.accelerator_name, self.accelerators.loc[self.accelerators["chosen"],
                                                                          "accelerator_source_id"].iloc[0])
        used("count", str(r.count))
        used("precision", r.precision)
        m = a("mfu")
        used("mfu", fmt.sig(m.value) + ("" if m.overridden else " (prior for this generation, precision and scale band: see mfu_basis)"),
             m.source)
        used("region", f"{self.region_name} ({r.region})", "joulebook_regions")
        used("comparison_regions", ", ".join(self.regions["region"]))
        ci = a("intensity_g_per_kwh")
        used("start", (f"{r.start} local time ({self.estimate.region.timezone}): hour-by-hour intensity over the run"
                       if r.start else "not given: annual-average intensity"), ci.source if ci else "")
        p = a("pue")
        used("pue", fmt.sig(p.value) + ("" if p.overridden else f" ({p.note})"), p.source)
        cp = a("cloud_price_usd_per_gpu_hour")
        used("cloud_price_usd_per_gpu_hour", (fmt.usd_rate(cp.value) + " per accelerator-hour" if cp.value is not None
                                               else "no rental price in the data")
             + ("" if cp.overridden or cp.value is None else f" ({cp.note})"), cp.source)
        used("onprem", "headline cost = owned hardware (capex amortised + electricity)" if r.onprem
             else "headline cost = cloud rental")
        return pd.DataFrame(rows)

    # ----------------------------------------------------------------- energy
    def energy_md(self) -> str:
        c, lo, hi, r = self.c, self.estimate.low, self.estimate.high, self.run
        parts = [
            f"Each {self.accelerator_name} draws about {fmt.sig(c['accelerator_power_w'])} W under sustained training "
            f"(between its idle power and its {fmt.sig(self._assumption('power_cap_w').value)} W cap), and the rest of "
            f"the node adds {fmt.sig(self._node_w())} W per accelerator. At an MFU of {fmt.pct(self._assumption('mfu').value)} "
            f"the job needs {fmt.sci(c['flops'])} FLOPs, so {fmt.sig(c['accelerator_hours'])} accelerator-hours: "
            f"{fmt.hours(c['wall_clock_hours'])} on {r.count} accelerators.",
        ]
        if not fmt.missing(c["energy_per_step_j"]):
            parts.append(
                f"One optimizer step ({r.batch} sequences × {r.seq_len} tokens) takes {fmt.seconds(c['step_time_s'])} "
                f"and uses {fmt.energy_j(c['energy_per_step_j'])} across all {r.count} accelerators and their nodes "
                f"(IT energy, before PUE), over {fmt.sig(c['steps'])} steps.")
        if not fmt.missing(c["energy_per_epoch_kwh"]):
            parts.append(f"Each of the {fmt.sig(r.epochs)} epochs uses {fmt.energy_kwh(c['energy_per_epoch_kwh'])} "
                         f"at the facility.")
        parts.append(
            f"In total: {fmt.energy_kwh(c['it_energy_kwh'])} of IT energy and {fmt.energy_kwh(c['facility_energy_kwh'])} "
            f"at the facility with PUE {fmt.sig(self._assumption('pue').value)} "
            f"{fmt.span(lo['facility_energy_kwh'], hi['facility_energy_kwh'], fmt.energy_kwh)}. The low and high bounds "
            f"combine the favourable and unfavourable ends of MFU, busy power, node overhead and PUE.")
        parts.append(
            f"Peak facility power, with every accelerator at its cap, is {fmt.power_kw(c['peak_power_kw'])}: the "
            "figure to clear with the data centre before the job starts.")
        return " ".join(parts)

    def _node_w(self) -> float:
        a = self._assumption("node_power_w")
        if a is not None:
            return float(a.value)
        frac = float(self._assumption("node_overhead_fraction_of_tdp").value)
        return frac * float(self._assumption("power_cap_w").value)

    def energy_table(self):
        import pandas as pd

        keys = [("accelerator_hours", "accelerator-hours", "h"), ("wall_clock_hours", "wall clock", "h"),
                ("step_time_s", "time per step", "s"), ("energy_per_step_j", "energy per step (IT)", "J"),
                ("energy_per_epoch_kwh", "energy per epoch (facility)", "kWh"),
                ("it_energy_kwh", "IT energy", "kWh"), ("facility_energy_kwh", "facility energy", "kWh"),
                ("peak_power_kw", "peak facility power", "kW"), ("emissions_kg", "operational emissions", "kg CO2e"),
                ("embodied_emissions_kg", "embodied emissions", "kg CO2e"), ("water_l", "water", "L"),
                ("electricity_cost_usd", "electricity cost", "USD"), ("cloud_cost_usd", "cloud rental", "USD"),
                ("onprem_cost_usd", "owned hardware", "USD")]
        rows = [{"quantity": label, "unit": unit, "low": self.estimate.low[k], "central": self.c[k],
                 "high": self.estimate.high[k]} for k, label, unit in keys if not fmt.missing(self.c[k])]
        return fmt.frame(pd.DataFrame(rows))

    def cumulative_frame(self):
        """Cumulative facility energy (low/central/high) at the end of each epoch, or each tenth of the run."""
        import numpy as np
        import pandas as pd

        r = self.run
        if r.epochs is not None and float(r.epochs) == int(r.epochs) and 1 <= r.epochs <= 200:
            n = int(r.epochs)
            marks = np.arange(0, n + 1) / n
            label = "epoch"
            x = np.arange(0, n + 1)
        else:
            marks = np.arange(0, 11) / 10
            label = "tokens seen (billions)"
            x = marks * r.total_tokens / 1e9
        return pd.DataFrame({label: x,
                             "facility_energy_kwh_low": marks * self.estimate.low["facility_energy_kwh"],
                             "facility_energy_kwh": marks * self.c["facility_energy_kwh"],
                             "facility_energy_kwh_high": marks * self.estimate.high["facility_energy_kwh"]})

    def cumulative_figure(self):
        from joulebook.display import plots

        df = self.cumulative_frame()
        xcol = df.columns[0]
        scale, unit = _energy_scale(float(df["facility_energy_kwh_high"].max()))
        fig, ax = plots.figure(figsize=(7.5, 3.4))
        ax.fill_between(df[xcol], df["facility_energy_kwh_low"] / scale, df["facility_energy_kwh_high"] / scale,
                        alpha=0.25, label="low to high")
        ax.plot(df[xcol], df["facility_energy_kwh"] / scale, marker="o", label="central")
        ax.set_xlabel(xcol)
        if xcol == "epoch":
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"cumulative facility energy ({unit})")
        ax.set_title(f"Cumulative energy: {fmt.params(self.run.params)} model, {self.run.count} × {self.accelerator_name}")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
        return fig

    # ----------------------------------------------------------------- regions
    def _extreme(self, column: str, lowest: bool) -> dict[str, Any]:
        df = self.regions.dropna(subset=[column])
        row = df.loc[df[column].idxmin() if lowest else df[column].idxmax()]
        return row.to_dict()

    def regions_md(self) -> str:
        df = self.regions
        lo, hi = self._extreme("emissions_kg", True), self._extreme("emissions_kg", False)
        here = df.iloc[0]
        parts = [
            f"The same job in {len(df)} regions, each with its latest annual grid intensity (location-based) and its "
            f"operator's default PUE{'' if self.run.pue is None else f' (here overridden to {fmt.sig(self.run.pue)} everywhere)'}. "
            f"Emissions range from {fmt.mass_kg(lo['emissions_kg'])} in {lo['name']} "
            f"({fmt.sig(lo['intensity_g_per_kwh'])} g/kWh, {lo['intensity_year']}) to {fmt.mass_kg(hi['emissions_kg'])} in "
            f"{hi['name']} ({fmt.sig(hi['intensity_g_per_kwh'])} g/kWh, {hi['intensity_year']}): a factor of "
            f"{fmt.times(hi['emissions_kg'], lo['emissions_kg'])}.",
        ]
        fe = df["facility_energy_kwh"]
        if fe.max() > fe.min() * 1.001:
            e_lo = df.loc[fe.idxmin()]
            parts.append(f"Facility energy differs only through PUE: {fmt.energy_kwh(fe.min())} in {e_lo['name']} "
                         f"(PUE {fmt.sig(e_lo['pue_used'])}) to {fmt.energy_kwh(fe.max())}.")
        priced = df.dropna(subset=["electricity_cost_usd"])
        if len(priced):
            c_lo = priced.loc[priced["electricity_cost_usd"].idxmin()]
            c_hi = priced.loc[priced["electricity_cost_usd"].idxmax()]
            parts.append(f"The electricity bill ranges from {fmt.usd(c_lo['electricity_cost_usd'])} in {c_lo['name']} to "
                         f"{fmt.usd(c_hi['electricity_cost_usd'])} in {c_hi['name']} (industrial tariffs; small next to "
                         f"a cloud rental of {fmt.usd(here['cloud_cost_usd'])}).")
        unpriced = df[df["electricity_cost_usd"].isna()]["name"].tolist()
        if unpriced:
            parts.append(f"No electricity price in the data for {fmt.listing(unpriced)}: their cost bars are empty.")
        w = df["water_l"]
        parts.append(f"Water ranges from {fmt.water_l(w.min())} to {fmt.water_l(w.max())}; most of it is the water "
                     "consumed to generate the electricity (stand-in: one US-average factor, applied everywhere) rather "
                     "than on-site cooling.")
        stand = self.stand_in_md()
        if stand:
            parts.append(stand)
        if self.run.start:
            parts.append(f"The chosen region's headline figures use the hour-by-hour intensity from {self.run.start}; "
                         "this comparison uses annual averages for every region.")
        return " ".join(parts)

    @cached_property
    def stand_ins(self):
        """Per compared region, which values are stand-ins (:func:`joulebook.stories.region_comparison.substitutions`)."""
        return substitutions(list(self.regions["region"])).set_index("region")

    def stand_in_notes(self, region: str) -> dict[str, str]:
        """``{column: "stand-in: ..."}`` for the values of ``region`` that are not figures for that region.

        A PUE given by the user is an override, not a stand-in; the US-average water intensity of electricity is
        a stand-in almost everywhere and is said once, in :meth:`stand_in_md`, not per row.
        """
        f = self.stand_ins.loc[region]
        out = {}
        if f["intensity_substituted"]:
            out["intensity"] = "stand-in: national grid average"
        if f["price_substituted"]:
            what = [w for w in str(f["substituted"]).split(", ") if w.startswith("price: ")]
            out["price"] = "stand-in: " + (what[0][len("price: "):] if what else "another region's price")
        if f["pue_substituted"] and self.run.pue is None:
            out["pue"] = "stand-in: industry default"
        return out

    def stand_in_md(self) -> str:
        """One sentence on the stand-in values in the region comparison."""
        df = self.regions
        names = df.set_index("region")["name"]
        f = self.stand_ins
        parts = []
        price = [f"{names[r]} ({self.stand_in_notes(r)['price'][len('stand-in: '):]})"
                 for r in f.index if f.loc[r, "price_substituted"]]
        if price:
            parts.append(f"the electricity price of {fmt.listing(price)} is not a national figure")
        pue = [names[r] for r in f.index if f.loc[r, "pue_substituted"]]
        if pue and self.run.pue is None:
            parts.append(f"the PUE of {fmt.listing(pue)} is the industry default, as the operator publishes none")
        inten = [names[r] for r in f.index if f.loc[r, "intensity_substituted"]]
        if inten:
            parts.append(f"the grid intensity of {fmt.listing(inten)} is the national average")
        ewif = [names[r] for r in f.index if f.loc[r, "ewif_substituted"]]
        if ewif:
            parts.append(f"the water consumed to generate electricity is the US average for "
                         f"{'every region here' if len(ewif) == len(f) else fmt.listing(ewif)} (the data has no regional figure)")
        if not parts:
            return ""
        return "Stand-in values, marked \"(stand-in: …)\" in the table: " + "; ".join(parts) + "."

    def regions_table(self):
        import pandas as pd

        df = self.regions
        out = fmt.frame(pd.DataFrame({
            "region": df["region"], "name": df["name"],
            "intensity (g/kWh)": df["intensity_g_per_kwh"],
            "intensity source (year)": [f"{s} ({y})" for s, y in zip(df["intensity_source_id"], df["intensity_year"], strict=True)],
            "price (USD/kWh)": df["price_usd_per_kwh"],
            "price source (year)": [f"{s} ({int(y)})" if s else "no price data"
                                    for s, y in zip(df["price_source_id"], df["price_year"].fillna(0), strict=True)],
            "PUE": df["pue_used"], "facility energy (kWh)": df["facility_energy_kwh"],
            "emissions (kg CO2e)": df["emissions_kg"],
            "water (L; stand-in: US-average water of electricity)": df["water_l"],
            "electricity (USD)": df["electricity_cost_usd"],
        }))
        columns = {"intensity": "intensity (g/kWh)", "price": "price (USD/kWh)", "pue": "PUE"}
        for i, region in enumerate(df["region"]):
            for key, note in self.stand_in_notes(region).items():
                col = columns[key]
                out.loc[out.index[i], col] = f"{out.loc[out.index[i], col]} ({note})"
        return out

    def regions_figure(self):
        from joulebook.display import plots

        df = self.regions
        labels = list(df["region"])
        fig, axes = plots.figure(2, 2, figsize=(10, 6.4))
        panels = [("facility_energy_kwh", "facility energy (kWh)"), ("emissions_kg", "emissions (kg CO2e, location-based)"),
                  ("water_l", "water (L)"), ("electricity_cost_usd", "electricity cost (USD)")]
        for ax, (col, title) in zip(axes.ravel(), panels, strict=True):
            _bars(ax, labels, list(df[col]), title=title, highlight=self.run.region)
        fig.suptitle(f"The same job in {len(df)} regions ({self.region_name} highlighted)")
        return fig

    # ----------------------------------------------------------------- time of day
    def time_of_day_table(self):
        import pandas as pd

        if not self.tod["job"]:
            return None
        rows = []
        month = self.tod["month"]
        for region, df in self.tod["job"].items():
            tz = df["timezone"].iloc[0]
            e = _best(df, "emissions_kg")
            c = _best(df, "cost_usd")
            s = _best(self.tod["short"][region], "emissions_kg")
            rows.append({
                "region": region, "time zone": f"{tz} ({_utc_offset(tz, month)})",
                "lowest-emission start (local)": f"{e['hour']:02d}:00 ({e['start_utc'][-5:]} UTC)",
                "emissions best / worst (kg)": f"{fmt.sig(e['best'])} / {fmt.sig(e['worst'])}",
                "spread": fmt.pct(e["saving_vs_worst"]),
                "cheapest start (local)": (f"{c['hour']:02d}:00" if c and c["worst"] > c["best"] * 1.0001
                                           else "any (flat price)" if c else "no price data"),
                "price basis": df["price_basis"].iloc[0],
                f"{SHORT_JOB_H:g}-h job: best start, saving vs worst": f"{s['hour']:02d}:00, {fmt.pct(s['saving_vs_worst'])}",
            })
        return pd.DataFrame(rows)

    def own_region_note(self) -> str:
        """Why the chosen region is (or is not) in the time-of-day view, and which regions stand in for it."""
        here = self.regions.iloc[0]
        shown = [self.regions.set_index("region").loc[r, "name"] for r in self.tod["job"] if r != here["region"]]
        zones = fmt.listing(hourly_profile_zones())
        parts = []
        if not here["hourly_zone"]:
            parts.append(f"{here['name']} has no hour-by-hour intensity profile in the data: hourly profiles exist "
                         f"only for the US grid zones ({zones}) and the cloud regions inside them, so its estimate "
                         "uses the annual-average intensity and its start hour does not change the emissions.")
            if shown:
                parts.append(f"This section shows {fmt.listing(shown)} instead, from the comparison regions, to "
                             "illustrate how much timing can matter on a grid with a daily cycle.")
        if pd_isnan(here["price_usd_per_kwh"]):
            parts.append(f"{here['name']} has no electricity price in the data, so its cost is unknown at any start hour.")
        elif not here["tou_schedule"]:
            parts.append(f"{here['name']} has no time-of-use tariff in the data, so its electricity price is flat: "
                         "the same at every hour, and no cost-by-start-hour panel is drawn for it.")
        return " ".join(parts)

    def time_of_day_md(self) -> str:
        job = self.tod["job"]
        month_name = _month_name(self.tod["month"])
        note = self.own_region_note()
        if not job:
            names = fmt.listing(list(self.regions["name"]))
            return (f"{note} None of the regions here ({names}) has an hourly intensity profile or a time-of-use tariff "
                    "in the data, so the start hour does not change the estimate: add a US grid zone or a cloud region "
                    "in one (for example us-ca or gcp:us-central1) to `comparison_regions` to see the daily cycle.").strip()
        dur = float(self.c["wall_clock_hours"])
        parts = [note] if note else []
        parts += [f"Start hours are local civil time in each region's time zone, for a run starting on {month_name} 15 "
                 f"({'the month of the chosen start' if self.run.start else 'no start given, so July'}); the hourly "
                 "profiles are in local standard time."]
        spreads = {r: _best(df, "emissions_kg") for r, df in job.items()}
        top = max(spreads, key=lambda r: spreads[r]["saving_vs_worst"])
        b = spreads[top]
        tz = job[top]["timezone"].iloc[0]
        name = self.regions.set_index("region").loc[top, "name"]
        if dur >= 24:
            parts.append(f"Because the run lasts {fmt.hours(dur)}, every start hour averages over several daily cycles: "
                         f"the largest effect is in {name}, where starting at {b['hour']:02d}:00 {tz} "
                         f"({_utc_offset(tz, self.tod['month'])}) instead of {b['worst_hour']:02d}:00 saves only "
                         f"{fmt.pct(b['saving_vs_worst'])} of the emissions.")
        else:
            parts.append(f"The best window is in {name}: starting at {b['hour']:02d}:00 {tz} "
                         f"({_utc_offset(tz, self.tod['month'])}, {b['start_utc'][-5:]} UTC) emits "
                         f"{fmt.mass_kg(b['best'])} instead of {fmt.mass_kg(b['worst'])} at {b['worst_hour']:02d}:00, "
                         f"{fmt.pct(b['saving_vs_worst'])} less.")
        short = {r: _best(df, "emissions_kg") for r, df in self.tod["short"].items()}
        s_top = max(short, key=lambda r: short[r]["saving_vs_worst"])
        s = short[s_top]
        s_tz = self.tod["short"][s_top]["timezone"].iloc[0]
        s_name = self.regions.set_index("region").loc[s_top, "name"]
        parts.append(f"A {SHORT_JOB_H:g}-hour job at the same power gains more from timing: in {s_name}, starting at "
                     f"{s['hour']:02d}:00 {s_tz} rather than {s['worst_hour']:02d}:00 cuts its emissions by "
                     f"{fmt.pct(s['saving_vs_worst'])}.")
        costs = {r: _best(df, "cost_usd") for r, df in job.items()}
        varying = {r: c for r, c in costs.items() if c and c["worst"] > c["best"] * 1.0001}
        if varying:
            r0 = max(varying, key=lambda r: varying[r]["saving_vs_worst"])
            c = varying[r0]
            parts.append(f"Under {job[r0]['price_basis'].iloc[0]}, the cheapest start in "
                         f"{self.regions.set_index('region').loc[r0, 'name']} is {c['hour']:02d}:00 local "
                         f"({fmt.usd(c['best'])} vs {fmt.usd(c['worst'])}).")
        else:
            bases = sorted({df["price_basis"].iloc[0] for df in job.values()})
            parts.append(f"The electricity cost does not depend on the start hour here ({'; '.join(bases)}).")
        return " ".join(parts)

    def time_of_day_figure(self):
        """Emissions and cost by local start hour (relative to each region's average), and the hourly intensity."""
        if not self.tod["job"]:
            return None
        from joulebook.display import plots
        from joulebook.models import grid

        varying = self.cost_varying_regions()
        n = 3 if varying else 2  # a flat price draws no cost panel: the prose says the price is flat
        fig, axes = plots.figure(1, n, figsize=(4 * n, 3.6))
        month = self.tod["month"]
        for region, df in self.tod["job"].items():
            e = df["emissions_kg"]
            axes[0].plot(df["start_hour_local"], 100 * (e / e.mean() - 1), marker=".", label=region)
            c = df["cost_usd"]
            if region in varying:
                axes[1].plot(df["start_hour_local"], 100 * (c / c.mean() - 1), marker=".", label=region)
            prof = grid.hourly_intensity(region, month)
            if prof is not None:
                axes[-1].plot(range(24), prof, label=region)
        axes[0].set_title("job emissions by start hour")
        axes[0].set_ylabel("% vs average start hour")
        if varying:
            axes[1].set_title("job electricity cost by start hour")
            axes[1].set_ylabel("% vs average start hour")
        axes[-1].set_title(f"grid intensity in {_month_name(month)}")
        axes[-1].set_ylabel("g CO2e/kWh")
        for ax in axes:
            ax.set_xlabel("local hour")
            ax.set_xticks(range(0, 24, 4))
        axes[-1].legend(fontsize=8, loc="best")
        return fig

    def cost_varying_regions(self) -> list[str]:
        """Regions of the time-of-day view whose job cost changes with the start hour (a time-of-use tariff)."""
        out = []
        for region, df in self.tod["job"].items():
            c = df["cost_usd"]
            if c.notna().all() and len(c) and float(c.max()) > float(c.min()) * 1.0001:
                out.append(region)
        return out

    # ----------------------------------------------------------------- accelerators
    def accelerators_md(self) -> str:
        df = self.accelerators
        r = self.run
        by_id = df.set_index("accelerator")
        parts = [f"The same job ({fmt.params(r.params)} parameters, {fmt.tokens(r.total_tokens)} tokens, {r.count} "
                 f"accelerators, {r.precision}, in {self.region_name}) on the {len(df)} accelerators in the data that "
                 f"support {r.precision}."]
        if "a100-sxm4-80gb" in by_id.index and "h100-sxm" in by_id.index:
            a, h = by_id.loc["a100-sxm4-80gb"], by_id.loc["h100-sxm"]
            parts.append(
                f"**A100 vs H100:** on {r.count} × A100 SXM4 80GB the job takes {fmt.hours(a['wall_clock_hours'])} and "
                f"{fmt.energy_kwh(a['facility_energy_kwh'])}; on {r.count} × H100 SXM5 {fmt.hours(h['wall_clock_hours'])} "
                f"and {fmt.energy_kwh(h['facility_energy_kwh'])}: the H100 is {fmt.times(a['wall_clock_hours'], h['wall_clock_hours'])} "
                f"faster and uses {fmt.pct(1 - h['facility_energy_kwh'] / a['facility_energy_kwh'])} "
                f"{'less' if h['facility_energy_kwh'] < a['facility_energy_kwh'] else 'more'} energy.")
            if not (fmt.missing(a["cloud_cost_usd"]) or fmt.missing(h["cloud_cost_usd"])):
                parts.append(f"Rented on demand it costs {fmt.usd(a['cloud_cost_usd'])} on A100 and "
                             f"{fmt.usd(h['cloud_cost_usd'])} on H100.")
        ranked = ranked_accelerators(df)
        unranked = df[df["low_confidence"]]["name"].tolist()
        parts.append(f"Every accelerator, the chosen one included, is estimated on one MFU basis: the published-run "
                     f"prior of its generation for this model size and count (scale band "
                     f"{df['mfu_scale_band'].iloc[0]}), or a transferred prior where no run is published"
                     f"{' (the headline estimate above uses the MFU given)' if r.mfu is not None else ''}.")
        if len(ranked):
            e = ranked.loc[ranked["facility_energy_kwh"].idxmin()]
            t = ranked.loc[ranked["wall_clock_hours"].idxmin()]
            parts.append(f"Among the parts with a published large-scale MFU for their generation "
                         f"({fmt.listing(ranked['name'].tolist())}): least energy: {e['name']} "
                         f"({fmt.energy_kwh(e['facility_energy_kwh'])}); fastest: {t['name']} "
                         f"({fmt.hours(t['wall_clock_hours'])}).")
            priced = ranked.dropna(subset=["cloud_cost_usd"])
            if len(priced):
                p = priced.loc[priced["cloud_cost_usd"].idxmin()]
                parts.append(f"Cheapest to rent among those with a price in the data: {p['name']} "
                             f"({fmt.usd(p['cloud_cost_usd'])}).")
        else:
            parts.append("No compared part has a published large-scale MFU for its generation, so none is ranked.")
        if unranked:
            parts.append(f"Not ranked (low confidence: no published large-scale run on their generation, so their "
                         f"MFU is a transferred prior or a vendor benchmark): {fmt.listing(unranked)}.")
        missing = df[df["cloud_cost_usd"].isna()]["name"].tolist()
        if missing:
            parts.append(f"No rental price in the data for {fmt.listing(missing)}.")
        parts.append("Memory fit is not checked: a model may need more accelerators than given on small-memory parts.")
        return " ".join(parts)

    def accelerators_table(self):
        import pandas as pd

        df = self.accelerators
        return fmt.frame(pd.DataFrame({
            "accelerator": df["name"], f"peak {self.run.precision} (TFLOP/s)": df["peak_tflops"],
            "MFU": df["mfu_used"], "MFU basis": df["mfu_basis"],
            "MFU confidence": df["mfu_confidence"].astype(str).where(
                ~df["low_confidence"], df["mfu_confidence"].astype(str) + " (low, not ranked)"),
            "power cap (W)": df["tdp_w"], "wall clock (h)": df["wall_clock_hours"],
            "facility energy (kWh)": df["facility_energy_kwh"], "emissions (kg CO2e)": df["emissions_kg"],
            "cloud rental (USD)": df["cloud_cost_usd"], "owned (USD)": df["onprem_cost_usd"],
        }))

    def accelerators_figure(self):
        from joulebook.display import plots

        df = self.accelerators
        labels = list(df["accelerator"])
        fig, axes = plots.figure(1, 3, figsize=(12, 0.32 * len(df) + 1.6))
        _bars(axes[0], labels, list(df["wall_clock_hours"]), title="wall clock (h)", highlight=self.run.accelerator)
        _bars(axes[1], labels, list(df["facility_energy_kwh"]), title="facility energy (kWh)",
              highlight=self.run.accelerator)
        _bars(axes[2], labels, list(df["cloud_cost_usd"]), title="cloud rental (USD)", highlight=self.run.accelerator)
        for ax in axes[1:]:
            ax.set_yticklabels([])
        fig.suptitle(f"The same job on each accelerator ({self.run.count} of them, {self.run.precision})")
        return fig

    # ----------------------------------------------------------------- lifecycle and money
    def lifecycle_md(self) -> str:
        df = self.regions
        here = df.iloc[0]
        a = self._assumption("embodied_kg_per_accelerator_hour")
        top = df.loc[df["embodied_share"].idxmax()]
        parts = [
            f"Manufacturing the hardware also emits CO2e. Amortised over its service life and utilisation "
            f"({fmt.sig(a.value)} kg CO2e per accelerator-hour, {a.source}), this job's share is "
            f"{fmt.mass_kg(here['embodied_emissions_kg'])}: {fmt.pct(here['embodied_share'])} of its total in "
            f"{here['name']}, next to {fmt.mass_kg(here['emissions_kg'])} from electricity.",
        ]
        if top["region"] != here["region"]:
            parts.append(f"On the cleanest grid compared ({top['name']}) the embodied part grows to "
                         f"{fmt.pct(top['embodied_share'])} of the total: where electricity is low-carbon, hardware "
                         "is the larger lever.")
        parts.append("Operational emissions are location-based (grid average, lifecycle factors where the source "
                     "gives them), not market-based: renewable certificates are not counted.")
        return " ".join(parts)

    def lifecycle_figure(self):
        from joulebook.display import plots

        df = self.regions
        fig, ax = plots.figure(figsize=(7.5, 0.35 * len(df) + 1.4))
        y = range(len(df))
        ax.barh(list(y), df["emissions_kg"] / 1000, label="operational (electricity)")
        ax.barh(list(y), df["embodied_emissions_kg"] / 1000, left=df["emissions_kg"] / 1000,
                label="embodied (hardware, amortised)")
        ax.set_yticks(list(y))
        ax.set_yticklabels(df["region"])
        ax.invert_yaxis()
        ax.set_xlabel("t CO2e")
        ax.set_title("Operational vs embodied emissions by region")
        ax.legend(loc="lower right", fontsize=8)
        return fig

    def money_md(self) -> str:
        c, lo, hi = self.c, self.estimate.low, self.estimate.high
        cp = self._assumption("cloud_price_usd_per_gpu_hour")
        bp = self._assumption("purchase_usd_per_accelerator")
        life = self._assumption("hardware_lifetime_years")
        util = self._assumption("hardware_utilisation")
        parts = []
        if not fmt.missing(c["cloud_cost_usd"]):
            parts.append(f"Renting {self.run.count} × {self.accelerator_name} for {fmt.sig(c['accelerator_hours'])} "
                         f"accelerator-hours at {fmt.usd_rate(cp.value)} each ({cp.source}{'' if cp.overridden else '; ' + cp.note}) "
                         f"costs {fmt.usd(c['cloud_cost_usd'])} {fmt.span(lo['cloud_cost_usd'], hi['cloud_cost_usd'], fmt.usd)}; "
                         "the rental price includes the provider's electricity.")
        else:
            parts.append(f"The data has no rental price for {self.accelerator_name}; set `cloud_price_usd_per_gpu_hour` "
                         "to cost a cloud run.")
        if bp is not None and not fmt.missing(c["onprem_cost_usd"]):
            parts.append(f"Owned hardware ({fmt.usd(bp.value)} per accelerator, {bp.source}, written off over "
                         f"{fmt.sig(life.value)} years at {fmt.pct(util.value)} utilisation) costs this job "
                         f"{fmt.usd(c['onprem_cost_usd'])}, of which {fmt.usd(c['electricity_cost_usd'])} is electricity "
                         "(staff, networking and the building are not included).")
        elif fmt.missing(c["electricity_cost_usd"]):
            parts.append(f"There is no electricity price for {self.region_name} in the data, so the owned-hardware cost "
                         "cannot be computed.")
        parts.append(f"The headline figure on the index uses {'owned hardware' if self.run.onprem else 'cloud rental'} "
                     "(parameter `onprem`).")
        return " ".join(parts)

    # ----------------------------------------------------------------- metrics.json
    def metrics(self) -> dict[str, Any]:
        c, lo, hi, r = self.c, self.estimate.low, self.estimate.high, self.run
        best = self._extreme("emissions_kg", True)
        cost = c[self.cost_key]
        if best["region"] != r.region:
            tail = f"{best['name']} would emit {fmt.times(c['emissions_kg'], best['emissions_kg'])} less."
        elif len(self.regions) > 1:
            worst = self._extreme("emissions_kg", False)
            tail = f"the lowest of {len(self.regions)} regions compared ({worst['name']}: {fmt.times(worst['emissions_kg'], c['emissions_kg'])} more)."
        else:
            tail = "no other region compared."
        finding = (f"Training {self.job_text} in {self.region_name} takes {fmt.hours(c['wall_clock_hours'])}, "
                   f"{fmt.energy_kwh(c['facility_energy_kwh'])} and {fmt.mass_kg(c['emissions_kg'])}; {tail}")
        figures = [
            {"label": "facility energy", "value": c["facility_energy_kwh"] / 1000, "unit": "MWh"},
            {"label": "emissions (location-based)", "value": c["emissions_kg"] / 1000, "unit": "t CO2e"},
        ]
        if not fmt.missing(cost):
            figures.append({"label": "owned hardware cost" if r.onprem else "cloud rental cost", "value": cost,
                            "unit": "USD"})
        figures.append({"label": "wall clock", "value": c["wall_clock_hours"] / 24, "unit": "days"})
        tod = {}
        for region, df in self.tod["job"].items():
            b = _best(df, "emissions_kg")
            tod[region] = {"best_start_hour_local": b["hour"], "emissions_saving_vs_worst": b["saving_vs_worst"]}
        out = {
            "title": f"Training energy: {fmt.params(r.params)} model on {r.count} × {self.accelerator_name} in {self.region_name}",
            "finding": finding,
            "key_figures": figures,
            "region": r.region, "accelerator": r.accelerator, "count": r.count, "precision": r.precision,
            **{k: c[k] for k in ("flops", "accelerator_hours", "wall_clock_hours", "steps", "step_time_s",
                                 "energy_per_step_j", "energy_per_epoch_kwh", "it_energy_kwh", "facility_energy_kwh",
                                 "peak_power_kw", "accelerator_power_w", "emissions_kg", "embodied_emissions_kg",
                                 "water_l", "electricity_cost_usd", "cloud_cost_usd", "onprem_cost_usd")},
            "facility_energy_kwh_low": lo["facility_energy_kwh"], "facility_energy_kwh_high": hi["facility_energy_kwh"],
            "emissions_kg_low": lo["emissions_kg"], "emissions_kg_high": hi["emissions_kg"],
            "lowest_emission_region": best["region"], "lowest_emissions_kg": best["emissions_kg"],
            "regions": {row["region"]: {"facility_energy_kwh": row["facility_energy_kwh"], "emissions_kg": row["emissions_kg"],
                                        "water_l": row["water_l"], "electricity_cost_usd": row["electricity_cost_usd"],
                                        "embodied_share": row["embodied_share"]}
                        for _, row in self.regions.iterrows()},
            "accelerators": {row["accelerator"]: {"wall_clock_hours": row["wall_clock_hours"],
                                                  "facility_energy_kwh": row["facility_energy_kwh"],
                                                  "cloud_cost_usd": row["cloud_cost_usd"],
                                                  "mfu": row["mfu_used"], "mfu_basis": row["mfu_basis"],
                                                  "mfu_low_confidence": bool(row["low_confidence"])}
                             for _, row in self.accelerators.iterrows()},
            "time_of_day_month": self.tod["month"],
            "time_of_day": tod,
        }
        return fmt.round_sig(_plain(out), FIGURE_ROUND)


def _plain(obj: Any) -> Any:
    """numpy scalars -> Python; NaN -> None (recursively)."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _month_name(m: int) -> str:
    return ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December")[m - 1]


def _energy_scale(max_kwh: float) -> tuple[float, str]:
    if max_kwh >= 1e6:
        return 1e6, "GWh"
    if max_kwh >= 1e3:
        return 1e3, "MWh"
    return 1.0, "kWh"


def _bars(ax, labels: list[str], values: list[Any], *, title: str, highlight: str | None = None) -> None:
    """Horizontal bars; missing values are labelled 'no data' instead of drawn."""
    import seaborn as sns

    from joulebook.display import plots

    colors = sns.color_palette(plots.PALETTE)
    vals = [0.0 if fmt.missing(v) else float(v) for v in values]
    cols = [colors[1] if lab == highlight else colors[0] for lab in labels]
    ax.barh(range(len(labels)), vals, color=cols)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(0 if fmt.missing(v) else float(v), i, " no data" if fmt.missing(v) else " " + fmt.sig(v),
                va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.22)


# --------------------------------------------------------------------------- entry points

def build_story(run: TrainingRun) -> TrainingStory:
    """Compute everything the report shows."""
    from joulebook.models import training

    est = training.estimate_training(**run.estimate_kwargs())
    regions = region_frame(run)
    accels = accelerator_frame(run)
    tod = time_of_day(run, regions, float(est.central["wall_clock_hours"]))
    return TrainingStory(run=run, estimate=est, regions=regions, accelerators=accels, tod=tod)


def metrics_for(parameters: dict[str, Any]) -> dict[str, Any]:
    """The report's ``metrics.json`` computed directly from a parameter dict (used by the tests)."""
    return build_story(training_run(**parameters)).metrics()


def show_table(df, caption: str | None = None) -> None:
    """Show a table (``None`` or empty: nothing to show)."""
    if df is None or len(df) == 0:
        return
    from joulebook.display import report

    report.table(df, caption=caption)


def alt_text(fig) -> str:
    """A figure's description for screen readers: its suptitle and panel titles."""
    parts = []
    if getattr(fig, "_suptitle", None) is not None and fig._suptitle.get_text():
        parts.append(fig._suptitle.get_text())
    parts += [ax.get_title() for ax in fig.axes if ax.get_title()]
    return "Figure: " + "; ".join(parts) if parts else "Figure"


def show(fig) -> None:
    """Show a figure once, with alt text for the HTML page (``None``: nothing to show)."""
    if fig is None:
        return
    import matplotlib.pyplot as plt
    from IPython.display import display

    try:
        display(fig, metadata={"image/png": {"alt": alt_text(fig)}})
    finally:
        plt.close(fig)
