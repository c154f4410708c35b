"""From a measured window to the numbers people ask for: kWh, per step, per token, CO2e, money.

Pure functions on results and measurement files (no NVML, no plotting). The
measurement report and ``joulebook measure`` both use them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from joulebook.core.errors import InputError
from joulebook.core.validate import number

if TYPE_CHECKING:  # pandas is imported where a function needs it: `joulebook measure` starts fast without it
    import pandas as pd

FOOTPRINT_BASIS = ("location-based, operational: measured GPU energy only (no CPU, memory, network or fans of the "
                   "node) x the region's PUE = facility energy, x the grid's annual average intensity")


def per_step(energy_j: float | None, steps: float | None = None, tokens_per_step: float | None = None) -> dict[str, Any]:
    """Energy per step (J and kWh) and per token (J); None where the inputs are missing."""
    if steps is None:
        if tokens_per_step is not None:
            raise InputError("tokens_per_step", "needs steps (tokens = steps x tokens_per_step)")
        return {}
    n = number("steps", steps, strictly_positive=True)
    t = number("tokens_per_step", tokens_per_step, strictly_positive=True, allow_none=True)
    if energy_j is None:
        return {"steps": n, "tokens_per_step": t, "energy_per_step_j": None, "energy_per_step_kwh": None,
                "energy_per_token_j": None}
    e = float(energy_j)
    return {"steps": n, "tokens_per_step": t, "energy_per_step_j": e / n, "energy_per_step_kwh": e / n / 3.6e6,
            "energy_per_token_j": e / (n * t) if t else None, "tokens": n * t if t else None}


def footprint(energy_kwh: float | None, region) -> dict[str, Any]:
    """Facility energy, emissions and electricity cost of a measured GPU energy in a region.

    facility_kWh = GPU kWh x PUE (low / central / high of the region's operator);
    emissions_kg = facility_kWh x intensity / 1000; cost = facility_kWh x price (None if no
    price row for the region).
    """
    from joulebook import data

    r = data.region(region)
    out: dict[str, Any] = {
        "region": r.region_id, "name": r.name, "basis": FOOTPRINT_BASIS,
        "pue": dict(zip(("low", "central", "high"), r.pue, strict=True)),
        "intensity_g_per_kwh": r.intensity_g_per_kwh, "intensity_year": r.intensity_year,
        "intensity_basis": r.intensity_basis, "price_usd_per_kwh": r.price_usd_per_kwh, "price_note": r.price_note,
        "source_ids": r.source_ids,
    }
    if energy_kwh is None:
        out.update(facility_energy_kwh=None, emissions_kg=None, electricity_cost_usd=None)
        return out
    e = number("energy_kwh", energy_kwh)
    fac = {k: e * p for k, p in out["pue"].items()}
    out["facility_energy_kwh"] = fac
    out["emissions_kg"] = {k: v * r.intensity_g_per_kwh / 1000.0 for k, v in fac.items()}
    out["electricity_cost_usd"] = ({k: v * r.price_usd_per_kwh for k, v in fac.items()}
                                   if r.price_usd_per_kwh is not None else None)
    return out


def run_summary(result, *, steps=None, tokens_per_step=None, region=None, extra: dict[str, Any] | None = None) -> dict:
    """The JSON object ``joulebook measure --json`` prints for a :class:`WindowResult`."""
    e = result.energy_j
    out: dict[str, Any] = {
        **(extra or {}),
        "duration_s": result.duration_s, "energy_j": e, "energy_kwh": result.energy_kwh,
        "mean_power_w": result.mean_power_w, "peak_power_w": result.peak_power_w, "samples": result.samples,
        "method": result.method, "sample_method": result.sample_method,
        "interval_ms": None if result.interval_s is None else result.interval_s * 1000.0,
        "idle_power_w": result.idle_power_w, "net_energy_j": result.net_energy_j,
        "net_energy_kwh": None if result.net_energy_j is None else result.net_energy_j / 3.6e6,
        "missing_reason": result.missing_reason, "notes": list(result.notes),
        "gpus": [g.to_dict() for g in result.gpus],
    }
    out["per_step"] = per_step(e, steps, tokens_per_step) or None
    out["footprint"] = footprint(result.energy_kwh, region) if region else None
    return out


# --------------------------------------------------------------------------- measurement files (report helpers)

def windows_table(measurement) -> pd.DataFrame:
    """One row per window: name, duration, energy (J, kWh), mean and peak power, method, steps, J per step/token.

    ``incomplete`` marks a window rebuilt from its last checkpoint (the run was killed before it
    closed): its energy is a lower bound.
    """
    import numpy as np
    import pandas as pd

    w = measurement.windows_frame()
    if w.empty:
        return w
    out = pd.DataFrame({
        "window": w["name"], "duration_s": w["duration_s"], "energy_j": w["energy_j"],
        "energy_kwh": w["energy_j"] / 3.6e6, "mean_power_w": w["mean_power_w"], "peak_power_w": w["peak_power_w"],
        "method": w["method"].fillna("missing"),
        # a window the run never closed (killed): energy up to its last checkpoint, a lower bound
        "incomplete": w["incomplete"] if "incomplete" in w else False,
    })
    steps = pd.to_numeric(w["steps"], errors="coerce") if "steps" in w else pd.Series(np.nan, index=w.index)
    tps = pd.to_numeric(w["tokens_per_step"], errors="coerce") if "tokens_per_step" in w else pd.Series(np.nan, index=w.index)
    out["steps"] = steps
    out["energy_per_step_j"] = w["energy_j"] / steps
    out["energy_per_step_kwh"] = out["energy_per_step_j"] / 3.6e6
    out["energy_per_token_j"] = w["energy_j"] / (steps * tps)
    return out.reset_index(drop=True)


def training_windows(measurement) -> pd.DataFrame:
    """Windows with a step count and an energy (training steps), with their precision when recorded."""
    t = windows_table(measurement)
    if t.empty:
        return t
    w = measurement.windows_frame()
    t["precision"] = w["precision"] if "precision" in w else None
    keep = t["steps"].notna() & t["energy_j"].notna()
    return t[keep].reset_index(drop=True)


def precision_comparison(measurement) -> pd.DataFrame:
    """Training windows per precision: J per step, J per token, and each relative to the most frugal one."""
    import pandas as pd

    t = training_windows(measurement)
    if t.empty or t["precision"].isna().all():
        return pd.DataFrame(columns=["precision", "window", "energy_per_step_j", "energy_per_token_j", "step_time_s",
                                     "mean_power_w", "times_best"])
    t = t[t["precision"].notna()].copy()
    t["step_time_s"] = t["duration_s"] / t["steps"]
    best = t["energy_per_token_j"].min()
    t["times_best"] = t["energy_per_token_j"] / best
    return t[["precision", "window", "energy_per_step_j", "energy_per_token_j", "step_time_s", "mean_power_w",
              "times_best"]].reset_index(drop=True)


def power_view(measurement) -> tuple[str, pd.DataFrame]:
    """What the power figure can show: ``("trace", samples)`` when the file has samples,
    else ``("windows", per-window mean and peak)``."""
    if measurement.has_samples:
        s = measurement.samples_frame()
        return "trace", s
    t = windows_table(measurement)
    return "windows", t[["window", "mean_power_w", "peak_power_w", "method"]]


def power_prose(measurement) -> str:
    """One paragraph on what the power figure shows and why (computed from the file)."""
    kind, df = power_view(measurement)
    h = measurement.header
    if kind == "trace":
        per = df.groupby("gpu")["power_w"]
        gpus = per.ngroups
        span = float(df["t_s"].max() - df["t_s"].min()) if len(df) else 0.0
        return (f"The file holds a power trace: {len(df) // max(gpus, 1):,} samples per GPU over {span:,.1f} s "
                f"({h.get('sample_method') or 'sampled power'}, every {h.get('interval_ms') or float('nan'):g} ms) on "
                f"{gpus} GPU(s). Power ranged from {df['power_w'].min():,.0f} W to {df['power_w'].max():,.0f} W.")
    hi = df.loc[df["mean_power_w"].idxmax()] if df["mean_power_w"].notna().any() else None
    lo = df.loc[df["mean_power_w"].idxmin()] if df["mean_power_w"].notna().any() else None
    text = ("This file has no per-sample power trace (it was written without `--trace`, or, for the shipped "
            "sample, built from the probe's per-window table, which kept no samples), so the figure shows each "
            "window's mean power (energy / duration) and its peak reading instead of power over time.")
    if hi is not None:
        text += (f" Mean power ranged from {lo['mean_power_w']:,.0f} W ({lo['window']}) to "
                 f"{hi['mean_power_w']:,.0f} W ({hi['window']}).")
    if (h.get("sample_method") or "") == "power_usage_sampled":
        text += (" Peaks come from nvmlDeviceGetPowerUsage, a ~1 s average on this GPU generation, so short "
                 "spikes above them are not visible.")
    return text


def precision_prose(table: pd.DataFrame) -> str:
    """Sentences comparing training energy per token across precisions."""
    if table.empty:
        return "The measurement file has no training windows tagged with a precision, so no comparison is possible."
    t = table.sort_values("energy_per_token_j")
    best, worst = t.iloc[0], t.iloc[-1]
    parts = [f"The most frugal precision was {best['precision']}: {best['energy_per_token_j'] * 1000:,.2f} mJ per token "
             f"({best['energy_per_step_j']:,.1f} J per step)."]
    if len(t) > 1:
        power_ratio = worst["mean_power_w"] / best["mean_power_w"]
        if abs(power_ratio - 1) < 0.05:
            why = (f"its mean power ({worst['mean_power_w']:,.0f} W) was within {abs(power_ratio - 1) * 100:.0f} % of "
                   f"{best['precision']}'s, so the difference is time per step "
                   f"({worst['step_time_s'] * 1000:,.0f} ms vs {best['step_time_s'] * 1000:,.0f} ms), not power")
        else:
            why = (f"each of its steps took {worst['step_time_s'] * 1000:,.0f} ms instead of "
                   f"{best['step_time_s'] * 1000:,.0f} ms, at {worst['mean_power_w']:,.0f} W instead of "
                   f"{best['mean_power_w']:,.0f} W")
        parts.append(f"{worst['precision']} needed {worst['times_best']:.1f}x as much energy per token "
                     f"({worst['energy_per_token_j'] * 1000:,.2f} mJ): {why}.")
    return " ".join(parts)


def pct(x: float) -> str:
    """A signed percentage with one decimal, without a "-0.0"."""
    v = round(float(x), 1)
    return f"{v + 0.0:+.1f} %"


def calibration_prose(row: pd.Series) -> str:
    """Before / measured / after for one calibrated window."""
    txt = (f"Measured: {row['energy_per_step_j']:,.2f} J per step ({row['energy_per_step_j'] / 3.6e6:.3g} kWh), "
           f"{row['step_time_s'] * 1000:,.1f} ms per step at {row['power_w']:,.0f} W per GPU, i.e. an effective MFU "
           f"of {row['mfu']:.3f} ({row['achieved_tflops']:,.1f} of {row['peak_tflops']:,.0f} TFLOP/s). "
           f"Before calibration the model predicted {row['before_energy_per_step_j']:,.2f} J per step "
           f"({pct(row['before_energy_error_pct'])}) with MFU {row['before_mfu']:.3f} and {row['before_power_w']:,.0f} W; "
           f"the fleet-wide default MFU of {row['generic_mfu']:.3f} would give {row['generic_energy_per_step_j']:,.2f} J "
           f"({pct(row['generic_energy_error_pct'])}). After calibration: {row['after_energy_per_step_j']:,.2f} J "
           f"({pct(row['after_energy_error_pct'])}).")
    if abs(row["before_energy_error_pct"]) < 2:
        txt += (" The defaults for this accelerator and precision already come from this kind of measurement, "
                "so calibration changes little here; the generic column shows what it corrects elsewhere.")
    return txt


def full_scale_comparison(profile, *, params: float, tokens: float, count: int, region: str | None = None,
                          layers=None, hidden=None, seq_len=None) -> pd.DataFrame:
    """A full-scale training estimate before and after calibration (central, low, high)."""
    import pandas as pd

    from joulebook.models.training import estimate_training

    kw = dict(params=params, tokens=tokens, accelerator=profile.accelerator_id, count=count,
              precision=profile.precision, region=region or None, layers=layers, hidden=hidden, seq_len=seq_len)
    before = estimate_training(**kw)
    after = estimate_training(**kw, calibration=profile)
    keys = [("accelerator_hours", "accelerator-hours", 1.0), ("wall_clock_hours", "wall-clock hours", 1.0),
            ("accelerator_power_w", "accelerator power (W)", 1.0), ("it_energy_kwh", "IT energy (MWh)", 1e-3),
            ("facility_energy_kwh", "facility energy (MWh)", 1e-3), ("emissions_kg", "emissions (t CO2e)", 1e-3),
            ("electricity_cost_usd", "electricity cost (USD)", 1.0)]
    rows = []
    for k, label, scale in keys:
        b, a = before.central.get(k), after.central.get(k)
        if b is None and a is None:
            continue
        rows.append({"quantity": label, "key": k,
                     "before": None if b is None else b * scale,
                     "before_low": _s(before.low.get(k), scale), "before_high": _s(before.high.get(k), scale),
                     "after": None if a is None else a * scale,
                     "after_low": _s(after.low.get(k), scale), "after_high": _s(after.high.get(k), scale),
                     "change_pct": (a / b - 1) * 100 if (a is not None and b) else None})
    return pd.DataFrame(rows)


def _energy(mwh: float) -> str:
    return f"{mwh:,.1f} MWh" if mwh >= 1 else f"{mwh * 1000:,.1f} kWh"


def _mass(t: float) -> str:
    return f"{t:,.1f} t" if t >= 1 else f"{t * 1000:,.1f} kg"


def _s(v, scale):
    return None if v is None else v * scale


def full_scale_prose(table: pd.DataFrame, *, params: float, tokens: float, count: int, accelerator: str,
                     precision: str, region: str | None) -> str:
    t = table.set_index("key")
    e = t.loc["facility_energy_kwh"]
    h = t.loc["wall_clock_hours"]
    where = f" in {region}" if region else ""
    from joulebook.stories.measurement import fmt_count

    txt = (f"For a {fmt_count(params)}-parameter model trained on {fmt_count(tokens)} tokens on {count} {accelerator} "
           f"({precision}){where}, calibration moves the facility energy from {_energy(e['before'])} "
           f"[{_energy(e['before_low'])} .. {_energy(e['before_high'])}] to {_energy(e['after'])} "
           f"[{_energy(e['after_low'])} .. {_energy(e['after_high'])}] ({pct(e['change_pct'])}), and the wall clock "
           f"from {h['before']:,.0f} h to {h['after']:,.0f} h.")
    width_before = (e["before_high"] - e["before_low"]) / e["before"]
    width_after = (e["after_high"] - e["after_low"]) / e["after"]
    txt += (f" The low-to-high range shrinks from {width_before * 100:.0f} % to {width_after * 100:.0f} % of the "
            "central value because the measured MFU and power replace the uncertain defaults; node overhead, PUE and "
            "the grid still carry theirs." if width_after < width_before - 1e-9 else
            f" The low-to-high range stays at {width_after * 100:.0f} % of the central value: it comes from node "
            "overhead, PUE and the grid, which a GPU measurement does not calibrate.")
    if "emissions_kg" in t.index and t.loc["emissions_kg", "before"] is not None:
        em = t.loc["emissions_kg"]
        txt += f" Emissions: {_mass(em['before'])} → {_mass(em['after'])} CO2e (location-based)."
    if not math.isfinite(e["change_pct"]):
        txt += " (no change could be computed)"
    return txt
