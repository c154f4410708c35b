"""The sweep explorer report (notebooks/95_sweep_explorer.ipynb): run a small sweep, read it, show it.

The notebook states a training grid (model sizes x accelerators x regions x hourly start
times), runs it with :func:`joulebook.sweeps.engine.run_sweep` into a temporary folder (or reads an
existing sweep folder), and reads the Parquet back: pandas when small, ``dask.dataframe``
past ``large_rows`` rows (then the figures use a fixed-seed sample and the Pareto front is
computed partition by partition). Everything the page shows is computed here.
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

from joulebook.core.errors import InputError, reject_unknown
from joulebook.core.util import round_to
from joulebook.display import plots, prose
from joulebook.sweeps import engine as sweep

REPORT_DEFAULTS: dict[str, Any] = {
    "model_params": [1.25e8, 1.3e9, 7e9], "tokens": 2e10, "accelerators": ["h100-sxm", "a100-sxm4-80gb", "l40s"],
    "precision": "bf16", "count": 64, "regions": ["us-va", "us-ca", "de", "se", "sg", "in"],
    "start": "2026-07-01T00:00/2026-07-07T23:00", "cost_column": "electricity_cost_usd", "objective": "emissions_kg",
    "focus_params": 7e9, "large_rows": 5_000_000, "sample_rows": 200_000, "sweep_dir": None,
}
COST_COLUMNS = ("cloud_cost_usd", "electricity_cost_usd")
LABELS = {"facility_energy_kwh": ("Facility energy", "kWh"), "emissions_kg": ("Emissions", "kg CO2e"),
          "cloud_cost_usd": ("Cloud rental cost", "USD"), "electricity_cost_usd": ("Electricity cost", "USD")}


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


def _check(p: dict[str, Any]) -> dict[str, Any]:
    reject_unknown(p, REPORT_DEFAULTS, message="unknown report parameter")
    out = {**REPORT_DEFAULTS, **p}
    if out["cost_column"] not in COST_COLUMNS:
        raise InputError("cost_column", f"one of {', '.join(COST_COLUMNS)}, got {out['cost_column']!r}")
    if out["objective"] not in ("emissions_kg", "facility_energy_kwh", *COST_COLUMNS):
        raise InputError("objective", f"emissions_kg, facility_energy_kwh or a cost column, got {out['objective']!r}")
    if float(out["focus_params"]) not in [float(x) for x in out["model_params"]]:
        raise InputError("focus_params", f"must be one of model_params {out['model_params']}")
    return out


def explore(**parameters: Any) -> Explorer:
    """Run the report's sweep (or open ``sweep_dir``) and read it back."""
    p = _check(parameters)
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


def summary_table(ex: Explorer) -> pd.DataFrame:
    """Count, min, median and max of the headline columns, from summary.json."""
    rows = []
    for c, st in ex.summary["columns"].items():
        rows.append({"output": c, "scenarios": st["count"], "min": st["min"], "median (approx.)": st["median_approx"],
                     "max": st["max"]})
    return pd.DataFrame(rows)


def best_table(ex: Explorer) -> pd.DataFrame:
    """Best scenario (objective minimised) for each region and local start hour, for ``focus_params``."""
    best = pd.DataFrame(ex.summary["best"]["rows"])
    best = best[best["params"] == float(ex.parameters["focus_params"])]
    return best[["region", "start_hour", "accelerator", "start", ex.summary["best"]["objective"]]].reset_index(drop=True)


def pareto_table(ex: Explorer) -> pd.DataFrame:
    cost = ex.parameters["cost_column"]
    cols = ["params", "accelerator", "region", "start", "emissions_kg", cost, "facility_energy_kwh"]
    return ex.pareto[cols].reset_index(drop=True)


def plot_distributions(ex: Explorer):
    """Histograms (log x) of energy, emissions and cost over every scenario read."""
    cols = ["facility_energy_kwh", "emissions_kg", ex.parameters["cost_column"]]
    fig, axes = plots.figure(1, 3, figsize=(11, 3.4))
    for ax, c in zip(axes, cols, strict=True):
        v = ex.frame[c].to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        bins = np.geomspace(v.min(), v.max(), 40) if len(v) and v.max() > v.min() else 10
        ax.hist(v, bins=bins)
        ax.set_xscale("log")
        label, unit = LABELS[c]
        ax.set_xlabel(f"{label} ({unit})")
        ax.set_title(label)
    axes[0].set_ylabel("scenarios")
    return fig


def plot_pareto(ex: Explorer):
    """Emissions against cost for every scenario read, the Pareto front highlighted."""
    import seaborn as sns

    cost = ex.parameters["cost_column"]
    fig, ax = plots.figure()
    focus = ex.frame[ex.frame["params"] == float(ex.parameters["focus_params"])]
    sns.scatterplot(data=focus, x="emissions_kg", y=cost, hue="accelerator", s=8, alpha=0.35, linewidth=0, ax=ax)
    ax.plot(ex.pareto["emissions_kg"], ex.pareto[cost], "k.-", lw=1.5, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("emissions (kg CO2e)")
    ax.set_ylabel(f"{LABELS[cost][0].lower()} (USD)")
    ax.set_title(f"{prose.params(float(ex.parameters['focus_params']))}-parameter run: emissions against cost")
    ax.legend(fontsize=8)
    return fig


def plot_best_heatmap(ex: Explorer):
    """Region x local start hour: the lowest objective value (in % against the region's mean over the hours, so
    the hour-to-hour pattern shows next to regions an order of magnitude apart), annotated with the accelerator."""
    import seaborn as sns

    best = best_table(ex)
    obj = ex.summary["best"]["objective"]
    values = best.pivot(index="region", columns="start_hour", values=obj)
    relative = values.div(values.mean(axis=1), axis=0).sub(1.0).mul(100.0)  # % against the region's mean
    choice = best.pivot(index="region", columns="start_hour", values="accelerator")
    short = {a: a.split("-")[0] for a in sorted(best["accelerator"].unique())}
    annot = choice.apply(lambda col: col.map(short))
    fig, ax = plots.figure(figsize=(12, 0.45 * len(values) + 1.6))
    sns.heatmap(relative, annot=annot, fmt="", annot_kws={"fontsize": 6}, cmap="RdYlGn_r", center=0.0,
                cbar_kws={"label": f"best {LABELS.get(obj, (obj, ''))[0].lower()}: % against the region's mean"},
                ax=ax)
    ax.set_xlabel("start hour (region-local civil time)")
    ax.set_ylabel("region")
    ax.set_title(f"Best choice per region and start hour ({prose.params(float(ex.parameters['focus_params']))} "
                 f"parameters; cell text = accelerator)")
    return fig


def _r(v: Any) -> Any:
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    return round_to(float(v), 6) if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v)) else v


def findings(ex: Explorer) -> str:
    s = ex.summary
    em = s["columns"]["emissions_kg"]
    cost = ex.parameters["cost_column"]
    focus = prose.params(float(ex.parameters["focus_params"]))
    low, cheap = ex.pareto.iloc[0], ex.pareto.iloc[-1]
    n = len(ex.pareto)
    text = (
        f"This page explores {ex.rows:,} training scenarios from {ex.source} (read with {ex.reader}); grid "
        f"intensity is taken {s['intensity']}. Emissions range from {prose.sig(em['min'], 3)} to "
        f"{prose.sig(em['max'], 3)} kg CO2e, with a median of about {prose.sig(em['median_approx'], 3)} kg. "
        f"For the {focus}-parameter run, the lowest-emission choice is {low['accelerator']} in {low['region']} "
        f"starting {pd.Timestamp(low['start']):%Y-%m-%d %H:%M} local time ({prose.sig(low['emissions_kg'], 3)} kg, "
        f"{prose.usd(low[cost])} {LABELS[cost][0].lower()})")
    if n > 1:
        text += (f"; the cheapest is {cheap['accelerator']} in {cheap['region']} ({prose.sig(cheap['emissions_kg'], 3)} kg, "
                 f"{prose.usd(cheap[cost])}). {n} choices form the Pareto front of emissions against "
                 f"{LABELS[cost][0].lower()}: one of them matches or beats any other accelerator, region and start hour "
                 "on both counts.")
    else:
        text += "; it is also the cheapest, so it alone forms the Pareto front."
    return text


def metrics(ex: Explorer) -> dict[str, Any]:
    s = ex.summary
    em = s["columns"]["emissions_kg"]
    low = ex.pareto.iloc[0]
    finding = (f"Across {ex.rows:,} training scenarios, the {prose.params(float(ex.parameters['focus_params']))}-parameter "
               f"run emits least on {low['accelerator']} in {low['region']} ({prose.sig(low['emissions_kg'], 3)} kg CO2e); "
               f"{len(ex.pareto)} choice{'s' if len(ex.pareto) != 1 else ''} form the Pareto front of emissions "
               "against cost.")
    return {
        "title": f"Sweep explorer: {ex.rows:,} training scenarios",
        "finding": finding,
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


def report_metrics(parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the notebook's last cell writes, computed directly from the report parameters."""
    return metrics(explore(**dict(parameters or {})))
