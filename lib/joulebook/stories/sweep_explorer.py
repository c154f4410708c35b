"""The sweep explorer report (notebooks/95_sweep_explorer.ipynb): run a small sweep, read it, show it.

The notebook states a training grid (model sizes x accelerators x regions x hourly start
times), runs it with :func:`joulebook.sweeps.engine.run_sweep` into a temporary folder (or reads an
existing sweep folder), and reads the Parquet back: pandas when small, ``dask.dataframe``
past ``large_rows`` rows (then the figures use a fixed-seed sample and the Pareto front is
computed partition by partition). Everything the page shows is computed here, under the stories' naming
convention: :func:`check` (the notebook's parameters), :func:`explore` (the sweep read back), :func:`finding`,
the ``*_table`` frames, the ``plot_*`` figures with their ``*_alt`` texts, and :func:`metrics` / :func:`metrics_for`.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from joulebook.core import format as fmt
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round_to
from joulebook.display import plots, tables
from joulebook.sweeps import engine as sweep

PARAMETERS = ("model_params", "tokens", "accelerators", "precision", "count", "regions", "start", "cost_column",
              "objective", "focus_params", "large_rows", "sample_rows", "sweep_dir")
"""The notebook's parameters (their defaults live in its parameters cell)."""
COST_COLUMNS = ("cloud_cost_usd", "electricity_cost_usd")
LABELS = {"facility_energy_kwh": ("Facility energy", "kWh"), "emissions_kg": ("Emissions", "kg CO2e"),
          "cloud_cost_usd": ("Cloud rental cost", "USD"), "electricity_cost_usd": ("Electricity cost", "USD"),
          "accelerator_hours": ("Accelerator-hours", "GPU-h"), "wall_clock_hours": ("Wall-clock time", "h"),
          "water_l": ("Water", "L")}


@dataclass
class Explorer:
    """A sweep read back: ``frame`` (pandas, or a sample of a large sweep), its summary and spec."""

    parameters: dict[str, Any]
    summary: dict[str, Any]
    frame: pd.DataFrame
    rows: int
    reader: str  # "pandas" or "dask.dataframe (sample of N rows for the figures)"
    pareto: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)


def spec_for(p: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep spec the report runs (a plain mapping, as a SPEC.toml would hold it)."""
    regions = p["regions"]
    return {"model": "training", "max_scenarios": 2_000_000, "partition_size": 50_000,
            "group_by": ["params", "region", "start_hour"], "objective": p["objective"],
            "fixed": {"tokens": float(p["tokens"]), "count": int(p["count"]), "precision": p["precision"]},
            "axes": {"params": [float(x) for x in p["model_params"]], "accelerator": list(p["accelerators"]),
                     "region": regions if regions == "all" else list(regions), "start": p["start"]}}


def check(**parameters: Any) -> dict[str, Any]:
    """The notebook's parameters, checked; every one must be given (the defaults live in the notebook).

    Raises :class:`InputError` naming the parameter (unknown names list close matches).
    """
    require_parameters(parameters, PARAMETERS)
    out = dict(parameters)
    for name in ("model_params", "accelerators"):
        if isinstance(out[name], (str, bytes)) or not isinstance(out[name], (list, tuple)) or not out[name]:
            raise InputError(name, f"give a non-empty list, got {out[name]!r}")
    if out["regions"] != "all" and (not isinstance(out["regions"], (list, tuple)) or not out["regions"]):
        raise InputError("regions", f'give a non-empty list of region ids or "all", got {out["regions"]!r}')
    if out["cost_column"] not in COST_COLUMNS:
        raise InputError("cost_column", f"one of {', '.join(COST_COLUMNS)}, got {out['cost_column']!r}")
    if out["objective"] not in ("emissions_kg", "facility_energy_kwh", *COST_COLUMNS):
        raise InputError("objective", f"emissions_kg, facility_energy_kwh or a cost column, got {out['objective']!r}")
    try:
        focus = float(out["focus_params"])
        sizes = [float(x) for x in out["model_params"]]
    except (TypeError, ValueError):
        raise InputError("focus_params", f"a model size (number of parameters), got {out['focus_params']!r}") from None
    if focus not in sizes:
        raise InputError("focus_params", f"must be one of model_params {out['model_params']}")
    for name in ("large_rows", "sample_rows"):
        if isinstance(out[name], bool) or not isinstance(out[name], int) or out[name] < 1:
            raise InputError(name, f"a positive whole number of rows, got {out[name]!r}")
    return out


def explore(plan: Mapping[str, Any]) -> Explorer:
    """Run the report's sweep (or open ``plan["sweep_dir"]``) and read it back; ``plan`` comes from :func:`check`."""
    p = dict(plan)
    if p["sweep_dir"]:
        out, tmp = Path(p["sweep_dir"]), None
        source = f"existing sweep {out.name}"
    else:
        tmp = Path(tempfile.mkdtemp(prefix="joulebook-sweep-"))
        out = tmp / "sweep"
        spec = sweep.parse_spec(spec_for(p))
        sweep.run_sweep(spec, out, jobs=1, progress=False)
        source = "a sweep run by this report"
    try:
        summary = json.loads((out / sweep.SUMMARY).read_text(encoding="utf-8"))
        cols = ["scenario", "params", "accelerator", "region", "start", "start_hour", "facility_energy_kwh",
                "emissions_kg", p["cost_column"]]
        data = sweep.read_sweep(out, columns=cols, large_rows=int(p["large_rows"]))
        rows = int(summary["scenarios"])
        focus = float(p["focus_params"])
        if isinstance(data, pd.DataFrame):
            frame, reader = data.sort_values("scenario").reset_index(drop=True), "pandas"
            front = sweep.pareto_front(frame[frame["params"] == focus], "emissions_kg", p["cost_column"])
        else:  # dask.dataframe: a fixed-seed sample for the figures, the front partition by partition
            frac = min(1.0, int(p["sample_rows"]) / max(rows, 1))
            frame = data.sample(frac=frac, random_state=0).compute().sort_values("scenario").reset_index(drop=True)
            reader = f"dask.dataframe (a {len(frame):,}-row sample for the figures)"
            focused = data[data["params"] == focus]
            local = focused.map_partitions(sweep.pareto_front, "emissions_kg", p["cost_column"]).compute()
            front = sweep.pareto_front(local, "emissions_kg", p["cost_column"])
        for c in ("accelerator", "region"):
            frame[c] = frame[c].astype(str)
            front[c] = front[c].astype(str)
    finally:
        if tmp is not None and isinstance(locals().get("data"), pd.DataFrame):
            shutil.rmtree(tmp, ignore_errors=True)
    shown = {k: v for k, v in p.items() if k not in ("sample_rows",)}
    return Explorer(parameters=shown, summary=summary, frame=frame, rows=rows, reader=reader,
                    pareto=front.reset_index(drop=True), source=source)


def _focus(ex: Explorer) -> str:
    return fmt.params(float(ex.parameters["focus_params"]))


def _label(col: str) -> str:
    name, unit = LABELS.get(col, (col.replace("_", " "), ""))
    return fmt.header(name, unit)


def summary_frame(ex: Explorer) -> pd.DataFrame:
    """Count, min, approximate median and max of the headline columns, from summary.json (raw numbers)."""
    rows = []
    for c, st in ex.summary["columns"].items():
        rows.append({"output": _label(c), "scenarios": st["count"], "min": st["min"],
                     "median_approx": st["median_approx"], "max": st["max"]})
    return pd.DataFrame(rows, columns=["output", "scenarios", "min", "median_approx", "max"])


def summary_table(ex: Explorer) -> tables.Table:
    """:func:`summary_frame` as a reader table (3 significant figures, the unit in each row's name)."""
    return tables.table(summary_frame(ex), {"output": "Output (unit)", "scenarios": "Scenarios", "min": "Minimum",
                                            "median_approx": "Median (approx.)", "max": "Maximum"},
                        caption="Headline outputs over every scenario of the sweep")


def best_table(ex: Explorer) -> pd.DataFrame:
    """Best scenario (objective minimised) for each region and local start hour, for ``focus_params``."""
    best = pd.DataFrame(ex.summary["best"]["rows"])
    best = best[best["params"] == float(ex.parameters["focus_params"])]
    return best[["region", "start_hour", "accelerator", "start", ex.summary["best"]["objective"]]].reset_index(drop=True)


def pareto_frame(ex: Explorer) -> pd.DataFrame:
    """The Pareto front of emissions against cost for the focus model size (raw ids and numbers)."""
    cost = ex.parameters["cost_column"]
    cols = ["params", "accelerator", "region", "start", "emissions_kg", cost, "facility_energy_kwh"]
    out = ex.pareto[cols].reset_index(drop=True)
    out["start"] = [pd.Timestamp(t).strftime("%Y-%m-%d %H:%M") for t in out["start"]]
    return out


def pareto_table(ex: Explorer) -> tables.Table:
    """:func:`pareto_frame` as a reader table: accelerator and region names, units in the headers."""
    cost = ex.parameters["cost_column"]
    return tables.table(pareto_frame(ex), {
        "accelerator": "Accelerator", "region": "Region", "start": "Start (local time)",
        "emissions_kg": _label("emissions_kg"), cost: _label(cost), "facility_energy_kwh": _label("facility_energy_kwh"),
    }, caption=f"The Pareto front for the {_focus(ex)}-parameter run, from lowest emissions to lowest cost")


def plot_distributions(ex: Explorer):
    """Histograms (log x) of energy, emissions and cost over every scenario read: one panel, one unit each."""
    cols = ["facility_energy_kwh", "emissions_kg", ex.parameters["cost_column"]]
    fig, axes = plots.figure(1, 3, figsize=(12, 3.6))
    for ax, c in zip(axes, cols, strict=True):
        v = ex.frame[c].to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        bins = np.geomspace(v.min(), v.max(), 40) if len(v) and v.max() > v.min() else 10
        ax.hist(v, bins=bins)
        ax.set_xscale("log")
        if len(v):
            plots.log_ticks(ax.xaxis, float(v.min()), float(v.max()))
        ax.set_xlabel(_label(c))
        ax.set_title(LABELS[c][0])
    axes[0].set_ylabel("scenarios")
    return fig


def distributions_alt(ex: Explorer) -> str:
    cols = ex.summary["columns"]
    parts = [f"{LABELS[c][0].lower()} from {fmt.number(cols[c]['min'])} to {fmt.number(cols[c]['max'])} {LABELS[c][1]}"
             for c in ("facility_energy_kwh", "emissions_kg", ex.parameters["cost_column"]) if c in cols]
    return f"Histograms over {ex.rows:,} scenarios, log scale: " + "; ".join(parts) + "."


def plot_pareto(ex: Explorer):
    """Emissions against cost for every scenario of the focus size, the Pareto front highlighted; legend outside."""
    import seaborn as sns

    cost = ex.parameters["cost_column"]
    fig, ax = plots.figure(figsize=(9, 4.6))
    focus = ex.frame[ex.frame["params"] == float(ex.parameters["focus_params"])].copy()
    focus["Accelerator"] = [tables.accelerator_name(a) for a in focus["accelerator"]]
    sns.scatterplot(data=focus, x="emissions_kg", y=cost, hue="Accelerator", s=8, alpha=0.35, linewidth=0, ax=ax)
    ax.plot(ex.pareto["emissions_kg"], ex.pareto[cost], "k.-", lw=1.5, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, col in ((ax.xaxis, "emissions_kg"), (ax.yaxis, cost)):
        v = focus[col].to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            plots.log_ticks(axis, float(v.min()), float(v.max()))
    ax.set_xlabel(_label("emissions_kg"))
    ax.set_ylabel(_label(cost))
    ax.set_title(f"{_focus(ex)}-parameter run: emissions against {LABELS[cost][0].lower()}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def pareto_alt(ex: Explorer) -> str:
    cost = ex.parameters["cost_column"]
    low, cheap = ex.pareto.iloc[0], ex.pareto.iloc[-1]
    return (f"Scatter of emissions (kg CO2e) against {LABELS[cost][0].lower()} (USD), log–log, for every "
            f"{_focus(ex)}-parameter scenario, coloured by accelerator; the {len(ex.pareto)}-point Pareto front runs "
            f"from {fmt.number(low['emissions_kg'])} kg CO2e at {fmt.money(low[cost])} to "
            f"{fmt.number(cheap['emissions_kg'])} kg CO2e at {fmt.money(cheap[cost])}.")


def _short_accelerator(a: str) -> str:
    return tables.accelerator_name(a).replace("NVIDIA ", "").split(" ")[0]


def plot_best_heatmap(ex: Explorer):
    """Region x local start hour: the lowest objective value (in % against the region's mean over the hours, so
    the hour-to-hour pattern shows next to regions an order of magnitude apart), annotated with the accelerator."""
    import seaborn as sns

    best = best_table(ex)
    obj = ex.summary["best"]["objective"]
    best["region"] = [tables.region_name(r) for r in best["region"]]
    values = best.pivot(index="region", columns="start_hour", values=obj)
    relative = values.div(values.mean(axis=1), axis=0).sub(1.0).mul(100.0)  # % against the region's mean
    choice = best.pivot(index="region", columns="start_hour", values="accelerator")
    annot = choice.apply(lambda col: col.map(_short_accelerator))
    fig, ax = plots.figure(figsize=(12, 0.45 * len(values) + 1.8))
    sns.heatmap(relative, annot=annot, fmt="", annot_kws={"fontsize": 6}, cmap="RdYlGn_r", center=0.0,
                cbar_kws={"label": f"best {LABELS.get(obj, (obj, ''))[0].lower()}: % against the region's mean"},
                ax=ax)
    ax.set_xlabel("start hour (region-local civil time)")
    ax.set_ylabel("")
    ax.set_title(f"Best choice per region and start hour ({_focus(ex)} parameters; cell text = accelerator)")
    return fig


def best_heatmap_alt(ex: Explorer) -> str:
    best = best_table(ex)
    obj = ex.summary["best"]["objective"]
    values = best.pivot(index="region", columns="start_hour", values=obj)
    swing = (values.max(axis=1) / values.min(axis=1) - 1.0).mul(100.0)
    top = swing.idxmax() if len(swing) else None
    text = (f"Heatmap of {len(values)} regions by 24 local start hours: the lowest "
            f"{LABELS.get(obj, (obj, ''))[0].lower()} at each hour relative to the region's mean")
    if top is not None:
        text += (f"; the largest hour-to-hour swing is in {tables.region_name(top)} "
                 f"({fmt.percent(swing[top] / 100.0)} between its best and worst hour)")
    return text + "."


def _r(v: Any) -> Any:
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    return round_to(float(v), 6) if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v)) else v


def finding(ex: Explorer) -> tuple[str, list[tuple[str, str, str]]]:
    """The answer first: the lowest-emission choice for the focus size, the cheapest, and the trade-off between."""
    cost = ex.parameters["cost_column"]
    cost_name = LABELS[cost][0].lower()
    low, cheap = ex.pareto.iloc[0], ex.pareto.iloc[-1]
    n = len(ex.pareto)

    def where(r) -> str:
        return f"{tables.accelerator_name(r['accelerator'])} in {tables.region_name(r['region'])}"

    headline = (f"For the {_focus(ex)}-parameter run, {where(low)} starting "
                f"{pd.Timestamp(low['start']):%Y-%m-%d %H:%M} local time emits least "
                f"({fmt.mass_kg(low['emissions_kg'])}, {fmt.money(low[cost])} {cost_name})")
    if n > 1:
        headline += (f"; the cheapest choice, {where(cheap)}, costs {fmt.money(cheap[cost])} and emits "
                     f"{fmt.mass_kg(cheap['emissions_kg'])}.")
        headline += (" No other choice beats either on both counts." if n == 2 else
                     f" {n - 2} more choice{'s' if n > 3 else ''} trade emissions against {cost_name} between them.")
    else:
        headline += "; it is also the cheapest."
    em = ex.summary["columns"]["emissions_kg"]
    tiles = [
        ("Scenarios explored", fmt.number(ex.rows), f"read with {ex.reader.split(' (')[0]}"),
        ("Lowest emissions", fmt.mass_kg(low["emissions_kg"]), where(low)),
        (f"Lowest {cost_name}", fmt.money(cheap[cost]), where(cheap)),
        ("Emissions over the grid", f"{fmt.mass_kg(em['min'])} to {fmt.mass_kg(em['max'])}",
         f"median about {fmt.mass_kg(em['median_approx'])}"),
    ]
    return headline, tiles


def findings(ex: Explorer) -> str:
    """Where the sweep comes from and how the grid intensity is taken (a short paragraph under the finding)."""
    cost = ex.parameters["cost_column"]
    return (f"This page explores {ex.rows:,} training scenarios from {ex.source} (read with {ex.reader}); grid "
            f"intensity is taken {ex.summary['intensity']}. A choice is on the Pareto front when no other "
            f"accelerator, region and start hour is both lower-emission and lower in {LABELS[cost][0].lower()}.")


def metrics(ex: Explorer) -> dict[str, Any]:
    s = ex.summary
    em = s["columns"]["emissions_kg"]
    low = ex.pareto.iloc[0]
    return {
        "title": f"Sweep explorer: {ex.rows:,} training scenarios",
        "finding": finding(ex)[0],
        "key_figures": [
            {"label": "Scenarios", "value": ex.rows, "unit": "scenarios"},
            {"label": "Lowest emissions", "value": _r(em["min"]), "unit": "kg CO2e"},
            {"label": "Median emissions (approx.)", "value": _r(em["median_approx"]), "unit": "kg CO2e"},
            {"label": "Pareto-front scenarios", "value": len(ex.pareto), "unit": "scenarios"},
        ],
        "scenarios": ex.rows, "spec_hash": s["spec_hash"], "data_fingerprint": s["data_fingerprint"],
        "columns": {c: {k: _r(v) for k, v in st.items()} for c, st in s["columns"].items()},
        "pareto_points": len(ex.pareto), "best_groups": len(s["best"]["rows"]),
        "lowest_emissions_scenario": {k: (str(v) if k in ("accelerator", "region", "start") else _r(v))
                                      for k, v in low.items() if k in ("scenario", "params", "accelerator", "region",
                                                                      "start", "emissions_kg")},
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What the notebook's last cell writes, computed straight from its parameters (every one given)."""
    return metrics(explore(check(**dict(parameters))))
