"""From a measured window to the numbers people ask for: kWh, per step, per token, CO2e, money.

The computing half of the measurement report (frames and numbers, no prose, no plotting);
:mod:`joulebook.stories.measurement` builds the page's finding, prose and figures on top of it,
and ``joulebook measure`` prints :func:`run_summary`. One direction only: this module never
imports :mod:`joulebook.stories.measurement`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.core.validate import number
from joulebook.measure.jsonl import Measurement, load_measurement, resolve_measurement_file
from joulebook.models.calibration import (
    CalibrationProfile,
    compare_frame,
    fit_frame,
    profile_from_fit,
    runs_from_measurement,
)
from joulebook.models.training import TrainingEstimate, estimate_training

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


# --------------------------------------------------------------------------- measurement files

def windows_table(measurement) -> pd.DataFrame:
    """One row per window: name, duration, energy (J, kWh), mean and peak power, method, steps, J per step/token.

    ``incomplete`` marks a window rebuilt from its last checkpoint (the run was killed before it
    closed): its energy is a lower bound.
    """
    w = measurement.windows_frame()
    if w.empty:
        return w
    out = pd.DataFrame({
        "window": w["name"], "duration_s": w["duration_s"], "energy_j": w["energy_j"],
        "energy_kwh": w["energy_j"] / 3.6e6, "mean_power_w": w["mean_power_w"], "peak_power_w": w["peak_power_w"],
        "method": w["method"].fillna("missing"),
        # a window the run never closed (killed): energy up to its last checkpoint, a lower bound
        "incomplete": w["incomplete"].fillna(False).astype(bool) if "incomplete" in w else False,
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
        return "trace", measurement.samples_frame()
    t = windows_table(measurement)
    return "windows", t[["window", "mean_power_w", "peak_power_w", "method"]]


# --------------------------------------------------------------------------- calibration of the report

@dataclass(frozen=True)
class Calibrated:
    """One measurement file, fitted and compared, and the full-scale job before and after calibration.

    ``fitted``: every training window of the file (one row each, :func:`~joulebook.models.calibration.compare_frame`
    columns); ``chosen``: the calibration window's row; ``job_before`` / ``job_after``: the full-scale job
    estimated with the library's default (the training page's estimate) and with the profile.
    """

    plan: dict[str, Any]
    path: Path
    measurement: Measurement
    fitted: pd.DataFrame
    chosen: pd.Series
    profile: CalibrationProfile
    job_arch: dict[str, Any]
    job_before: TrainingEstimate
    job_after: TrainingEstimate


def calibrate(plan: dict[str, Any]) -> Calibrated:
    """Fit every training window of the plan's file, build the profile, estimate the full-scale job twice.

    ``plan``: the checked parameters (:func:`joulebook.stories.measurement.check`).
    """
    p = plan
    path = resolve_measurement_file(p["measurement_file"])
    m = load_measurement(path)
    names = [w.get("name") for w in m.windows
             if (w.get("meta") or {}).get("steps") is not None and w.get("energy_j") is not None]
    if p["calibration_window"] not in names:
        names.append(p["calibration_window"])
    runs = runs_from_measurement(
        m, accelerator=p["accelerator"], params=p["params"], precision=None, tokens_per_step=p["tokens_per_step"],
        steps=p["steps"], layers=p["layers"], hidden=p["hidden"], seq_len=p["seq_len"],
        windows=list(dict.fromkeys(names)))
    if p["precision"] is not None:
        runs.loc[runs["window"] == p["calibration_window"], "precision"] = p["precision"]
    if runs["precision"].isna().any():
        raise InputError("precision", f"window {p['calibration_window']!r} does not record its precision: give it")
    fitted = compare_frame(fit_frame(runs)).reset_index(drop=True)
    chosen = fitted[fitted["window"] == p["calibration_window"]].iloc[0]
    profile = profile_from_fit(chosen, source=path.name, created_from={"window": p["calibration_window"]})
    # the job's own architecture (the training page's job) for its attention FLOPs, when the calibration was
    # fitted on the same FLOPs basis (6N + 6 L s d); otherwise none (6N for both)
    arch = chosen["flops_basis"] == "6N+6Lsd" and p["job_layers"] is not None
    job_arch = {k: (p[f"job_{k}"] if arch else None) for k in ("layers", "hidden", "seq_len")}
    kw = dict(params=p["job_params"], tokens=p["job_tokens"], accelerator=profile.accelerator_id,
              count=p["job_count"], precision=profile.precision, region=p["job_region"] or None, **job_arch)
    return Calibrated(plan=dict(p), path=path, measurement=m, fitted=fitted, chosen=chosen, profile=profile,
                      job_arch=job_arch, job_before=estimate_training(**kw),
                      job_after=estimate_training(**kw, calibration=profile))


FULL_SCALE_KEYS = (("accelerator_hours", "accelerator-hours", "h", 1.0),
                   ("wall_clock_hours", "wall-clock time", "h", 1.0),
                   ("accelerator_power_w", "power per accelerator", "W", 1.0),
                   ("it_energy_kwh", "IT energy", "MWh", 1e-3),
                   ("facility_energy_kwh", "facility energy", "MWh", 1e-3),
                   ("emissions_kg", "emissions", "t CO2e", 1e-3),
                   ("electricity_cost_usd", "electricity cost", "USD", 1.0))


def full_scale_comparison(before: TrainingEstimate, after: TrainingEstimate) -> pd.DataFrame:
    """The full-scale job before and after calibration: central, low and high of each quantity, and the change.

    Columns: key, quantity, unit, before, before_low, before_high, after, after_low, after_high, change_pct
    (NaN where the estimate has no value, e.g. no price for the region).
    """
    rows = []
    for k, label, unit, scale in FULL_SCALE_KEYS:
        b, a = before.central.get(k), after.central.get(k)
        if b is None and a is None:
            continue
        rows.append({"key": k, "quantity": label, "unit": unit,
                     "before": _s(b, scale), "before_low": _s(before.low.get(k), scale),
                     "before_high": _s(before.high.get(k), scale),
                     "after": _s(a, scale), "after_low": _s(after.low.get(k), scale),
                     "after_high": _s(after.high.get(k), scale),
                     "change_pct": (a / b - 1) * 100 if (a is not None and b) else np.nan})
    return pd.DataFrame(rows)


def _s(v, scale) -> float:
    return np.nan if v is None else v * scale
