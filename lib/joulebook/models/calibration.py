"""Calibrate the training model with a measured run: effective MFU and mean power under load.

From a measured window of ``steps`` training steps of ``tokens_per_step`` tokens on
``count`` accelerators (duration ``T`` seconds, energy ``E`` joules):

    tokens/s          = steps x tokens_per_step / T
    FLOPs per token   = 6 N  [+ 6 L s d when layers, hidden and seq_len are given]
    effective MFU     = tokens/s x FLOPs per token / (count x peak(precision))
    power under load  = E / T / count                     (mean per accelerator, gross of idle)

A *calibration profile* stores these (JSON, or TOML when the file ends in ``.toml``)::

    {"kind": "joulebook-calibration", "version": 1, "accelerator_id": "h100-sxm",
     "precision": "bf16", "mfu": 0.32, "power_w": 688.0, "idle_w": 119.6,
     "measured": {...}, "source": "run.jsonl", "created_from": {...}}

``training.estimate_training(..., calibration=profile)`` then uses the measured MFU and
power instead of the defaults. The MFU is only meaningful with the same FLOPs basis:
``created_from.flops_basis`` says whether the attention term was counted.

Model code: no I/O except :func:`load_profile` / :func:`save_profile` (from
:mod:`joulebook.models.calibration_profile`, re-exported here) and the reader of the shipped
CSV. :func:`runs_from_measurement` takes a measurement already loaded by
:func:`joulebook.measure.load_measurement` (models do not import the measurement layer).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.core.validate import array
from joulebook.models.calibration_profile import KIND, VERSION, CalibrationProfile, load_profile, save_profile
from joulebook.models.training import estimate_training_frame, training_flops

__all__ = [
    "KIND", "RUN_COLUMNS", "VERSION", "CalibrationProfile", "choose_window", "compare_frame", "fit_frame",
    "fit_from_calibration_csv", "flops_per_token", "load_profile", "profile_from_fit", "runs_from_calibration_csv",
    "runs_from_measurement", "save_profile",
]

# --------------------------------------------------------------------------- fitting (vectorized)

RUN_COLUMNS = ("window", "accelerator", "precision", "count", "steps", "tokens_per_step", "duration_s", "energy_j",
               "params", "layers", "hidden", "seq_len", "flops_per_token", "peak_power_w", "idle_w")


def flops_per_token(params, layers=None, hidden=None, seq_len=None):
    """6 N, plus 6 L s d when the architecture is given (vectorized, NaN architecture = not given)."""
    if layers is None or hidden is None or seq_len is None:
        return training_flops(params, 1.0)
    return training_flops(params, 1.0, layers=layers, hidden=hidden, seq_len=seq_len)


def fit_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Effective MFU and mean power per accelerator for each measured run (one row each).

    Input columns (see ``RUN_COLUMNS``): accelerator, precision, count, steps, tokens_per_step,
    duration_s, energy_j and either params (+ optional layers, hidden, seq_len) or flops_per_token
    (if both are given they must agree within 1 %). Output adds tokens_per_s, step_time_s,
    flops_per_token, flops_basis, achieved_tflops, peak_tflops, mfu, power_w, energy_per_step_j,
    energy_per_token_j.
    """
    if not isinstance(runs, pd.DataFrame) or runs.empty:
        raise InputError("runs", "expected a non-empty DataFrame of measured runs")
    df = runs.copy()
    n = len(df)

    def col(name, default=np.nan):
        if name not in df.columns:
            return np.full(n, default, dtype=float)
        return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)

    for name in ("steps", "tokens_per_step", "duration_s", "energy_j"):
        if name not in df.columns:
            raise InputError(name, "a value is required")
        array(name, col(name), strictly_positive=True)
    count = col("count", 1.0)
    count = np.where(np.isnan(count), 1.0, count)
    array("count", count, strictly_positive=True)
    if (count != np.floor(count)).any():
        raise InputError("count", "must be a whole number of accelerators")
    steps, tps, dur, energy = col("steps"), col("tokens_per_step"), col("duration_s"), col("energy_j")
    params, layers, hidden, seq = col("params"), col("layers"), col("hidden"), col("seq_len")
    fpt_in = col("flops_per_token")
    arch = ~(np.isnan(layers) | np.isnan(hidden) | np.isnan(seq))
    for name, a in (("params", params), ("layers", layers), ("hidden", hidden), ("seq_len", seq)):
        given = ~np.isnan(a)
        if given.any():
            array(name, a[given], strictly_positive=True)
    fpt_model = 6.0 * params + np.where(arch, 6.0 * np.nan_to_num(layers) * np.nan_to_num(seq) * np.nan_to_num(hidden), 0.0)
    no_size = np.isnan(fpt_model) & np.isnan(fpt_in)
    if no_size.any():
        raise InputError("params", f"give params (or flops_per_token) for every run (row {int(np.flatnonzero(no_size)[0])})")
    both = ~np.isnan(fpt_model) & ~np.isnan(fpt_in)
    if both.any():
        rel = np.abs(fpt_model[both] - fpt_in[both]) / fpt_in[both]
        if (rel > 0.01).any():
            i = int(np.flatnonzero(both)[int(np.argmax(rel))])
            raise InputError("flops_per_token",
                             f"row {i}: the run records {fpt_in[i]:.6g} FLOPs per token but params/layers/hidden/seq_len "
                             f"give {fpt_model[i]:.6g} ({'with' if arch[i] else 'without'} the attention term); "
                             "give the architecture that matches the run")
    fpt = np.where(np.isnan(fpt_model), fpt_in, fpt_model)
    basis = np.where(~np.isnan(fpt_model), np.where(arch, "6N+6Lsd", "6N"), "recorded")

    accs = df["accelerator"].astype(str) if "accelerator" in df.columns else pd.Series(["h100-sxm"] * n, index=df.index)
    precs = df["precision"].astype(str) if "precision" in df.columns else pd.Series(["bf16"] * n, index=df.index)
    pairs = pd.Series(list(zip(accs, precs, strict=True)), index=df.index)
    codes, uniq = pd.factorize(pairs, sort=False)
    resolved = []
    for a_name, p_name in uniq:
        acc = data.accelerator(a_name)
        prec = data.normalise_precision(p_name)
        resolved.append((acc.accelerator_id, prec, acc.peak(prec)))
    acc_id = np.array([r[0] for r in resolved], dtype=object)[codes]
    prec_n = np.array([r[1] for r in resolved], dtype=object)[codes]
    peak = np.array([r[2] for r in resolved], dtype=float)[codes]

    tokens_per_s = steps * tps / dur
    achieved = tokens_per_s * fpt / count / 1e12
    mfu = achieved / peak
    if (mfu > 1).any():
        i = int(np.flatnonzero(mfu > 1)[0])
        raise InputError("mfu", f"row {i}: the measured throughput implies MFU {mfu[i]:.3g} > 1 on {acc_id[i]} {prec_n[i]}: "
                                "check params, tokens_per_step, steps and the precision")
    df["accelerator"] = acc_id
    df["precision"] = prec_n
    df["count"] = count
    df["tokens_per_s"] = tokens_per_s
    df["step_time_s"] = dur / steps
    df["flops_per_token"] = fpt
    df["flops_basis"] = basis
    df["achieved_tflops"] = achieved
    df["peak_tflops"] = peak
    df["mfu"] = mfu
    df["power_w"] = energy / dur / count
    df["energy_per_step_j"] = energy / steps
    df["energy_per_token_j"] = energy / (steps * tps)
    return df


def compare_frame(fitted: pd.DataFrame) -> pd.DataFrame:
    """Predicted before calibration vs measured vs predicted after, per fitted run (vectorized).

    Predictions use :func:`joulebook.models.training.estimate_training_frame` for the run itself:
    ``count`` accelerators, ``node_power_w = 0`` and ``pue = 1`` (NVML measures the GPU only),
    tokens = steps x tokens_per_step, the same FLOPs basis as the fit. *Before*: the library's
    default MFU and power model for the accelerator; *generic*: the fleet-wide default MFU
    (published runs) with the same power model; *after*: the fitted MFU and power.
    """
    f = fitted.reset_index(drop=True)
    n = len(f)
    tokens = f["steps"].to_numpy(float) * f["tokens_per_step"].to_numpy(float)
    arch = f["flops_basis"].eq("6N+6Lsd").to_numpy()
    base = pd.DataFrame({
        "params": f["params"].to_numpy(float) if "params" in f else np.full(n, np.nan),
        "tokens": tokens, "accelerator": f["accelerator"].to_numpy(), "precision": f["precision"].to_numpy(),
        "count": f["count"].to_numpy(float), "node_power_w": 0.0, "pue": 1.0,
    })
    if np.isnan(base["params"]).any():
        # only flops_per_token was recorded: express it as an equivalent 6 N so the FLOPs match
        base["params"] = np.where(np.isnan(base["params"]), f["flops_per_token"].to_numpy(float) / 6.0, base["params"])
        arch = arch & ~np.isnan(f["params"].to_numpy(float) if "params" in f else np.full(n, np.nan))
    for c in ("layers", "hidden", "seq_len"):
        base[c] = np.where(arch, f[c].to_numpy(float), np.nan) if c in f else np.nan
    generic = _generic_mfu()
    before = estimate_training_frame(base)
    gen = estimate_training_frame(base.assign(mfu=generic[1]))
    after = estimate_training_frame(base.assign(mfu=f["mfu"].to_numpy(float), power_w=f["power_w"].to_numpy(float)))
    steps = f["steps"].to_numpy(float)
    out = f.copy()
    for tag, est in (("before", before), ("generic", gen), ("after", after)):
        kwh = est["it_energy_kwh"].to_numpy(float)
        out[f"{tag}_energy_per_step_j"] = kwh * 3.6e6 / steps
        out[f"{tag}_energy_per_token_j"] = kwh * 3.6e6 / tokens
        out[f"{tag}_step_time_s"] = est["wall_clock_hours"].to_numpy(float) * 3600.0 / steps
        out[f"{tag}_power_w"] = est["accelerator_power_w"].to_numpy(float)
        # rounded to 1e-6 percentage points so that an exact reproduction reads 0, not 1e-14
        out[f"{tag}_energy_error_pct"] = np.round(
            100.0 * (out[f"{tag}_energy_per_step_j"] / out["energy_per_step_j"] - 1.0), 6) + 0.0
    # MFU used by each prediction
    out["before_mfu"] = before["mfu_used"].to_numpy(float)  # the prior for this model size (scale band)
    out["generic_mfu"] = generic[1]
    out["after_mfu"] = f["mfu"].to_numpy(float)
    return out


def _generic_mfu() -> tuple[float, float, float, str]:
    """The fleet-wide training MFU (row ``*`` of efficiency.csv: published runs)."""
    df = data.table("efficiency")
    r = df[(df["accelerator_id"] == "*") & (df["workload"] == "train")].iloc[0]
    return float(r["efficiency_low"]), float(r["efficiency"]), float(r["efficiency_high"]), str(r["source_id"])


def profile_from_fit(row: pd.Series | dict, *, source: str, idle_w: float | None = None,
                     created_from: dict[str, Any] | None = None) -> CalibrationProfile:
    """Turn one row of :func:`fit_frame` into a validated profile."""
    r = dict(row)

    def f(k):
        v = r.get(k)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else (float(v) if isinstance(
            v, (int, float, np.integer, np.floating)) else v)

    measured = {k: f(k) for k in ("duration_s", "energy_j", "steps", "tokens_per_step", "count", "tokens_per_s",
                                  "step_time_s", "achieved_tflops", "peak_tflops", "energy_per_step_j",
                                  "energy_per_token_j", "peak_power_w", "power_w")}
    measured["window"] = r.get("window")
    measured["method"] = r.get("method")
    created = {k: f(k) for k in ("params", "layers", "hidden", "seq_len", "flops_per_token")}
    created["flops_basis"] = r.get("flops_basis")
    created.update(created_from or {})
    idle = idle_w if idle_w is not None else f("idle_w")
    prof = CalibrationProfile(str(r["accelerator"]), str(r["precision"]), float(r["mfu"]), float(r["power_w"]),
                              None if idle is None else float(idle), source, measured, created)
    return load_profile(prof.to_dict())


# --------------------------------------------------------------------------- runs from measurements

def runs_from_measurement(measurement, *, accelerator: str, params: float | None = None,
                          tokens_per_step: float | None = None, precision: str | None = None,
                          steps: float | None = None, layers: float | None = None, hidden: float | None = None,
                          seq_len: float | None = None, windows: list[str] | None = None) -> pd.DataFrame:
    """A runs frame (for :func:`fit_frame`) from the windows of a measurement file.

    A window qualifies when it has a step count (``meta.steps``, or ``steps`` given here) and
    an energy. ``meta`` values (precision, tokens_per_step, params, flops_per_token) fill what
    is not given; explicit arguments win (explicit ``params`` also drop the recorded FLOPs per
    token: the FLOPs basis is then 6 N, plus attention if the architecture is given).
    ``windows`` picks windows by name.
    """
    m = measurement
    if not hasattr(m, "windows"):
        raise InputError("measurement", "expected a loaded measurement (joulebook.measure.load_measurement(path)), "
                                        f"got {type(m).__name__}")
    chosen = [m.window(w) for w in windows] if windows else list(m.windows)
    idle = _idle_from(m)
    rows = []
    for w in chosen:
        meta = w.get("meta") or {}
        if meta.get("baseline") or _is_idle(w):
            continue
        n_steps = steps if steps is not None else meta.get("steps")
        if n_steps is None or w.get("energy_j") is None:
            if windows:
                why = "no step count (give --steps)" if n_steps is None else f"no energy ({w.get('missing_reason')})"
                raise InputError("window", f"window {w.get('name')!r} cannot be calibrated: {why}")
            continue
        prec = precision or meta.get("precision")
        if precision and meta.get("precision") and _same_precision(precision, meta["precision"]) is False:
            raise InputError("precision", f"window {w.get('name')!r} was recorded in {meta['precision']}, not {precision}")
        if not prec:
            raise InputError("precision", f"window {w.get('name')!r} does not record its precision: give it")
        tps = tokens_per_step if tokens_per_step is not None else meta.get("tokens_per_step")
        if tps is None:
            raise InputError("tokens_per_step", f"window {w.get('name')!r} does not record tokens per step: give it")
        rows.append({
            "window": w.get("name"), "accelerator": accelerator, "precision": prec,
            "count": len(w.get("gpus") or []) or 1, "steps": n_steps, "tokens_per_step": tps,
            "duration_s": w.get("duration_s"), "energy_j": w.get("energy_j"),
            # the model size: explicit, else recorded; with only a recorded FLOPs-per-token (no architecture
            # given) the recorded figure is the FLOPs basis and compare_frame maps it to an equivalent 6 N
            "params": params if params is not None else (
                meta.get("params") if (layers is not None or meta.get("flops_per_token") is None) else None),
            "layers": layers, "hidden": hidden,
            "seq_len": seq_len if seq_len is not None else (meta.get("seq") if layers is not None else None),
            # explicit params choose their own FLOPs basis; otherwise the run's recorded FLOPs per token is kept
            "flops_per_token": None if params is not None else meta.get("flops_per_token"),
            "peak_power_w": w.get("peak_power_w"),
            "idle_w": _window_idle(w, idle), "method": w.get("method"),
        })
    if not rows:
        raise InputError("window", f"{m.path.name} has no window with a step count and an energy "
                                   f"(windows: {', '.join(m.window_names()) or 'none'}); give --steps and --window")
    return pd.DataFrame(rows)


def _same_precision(a: str, b: str) -> bool | None:
    try:
        return data.normalise_precision(a) == data.normalise_precision(b)
    except InputError:
        return None


def _is_idle(w: dict) -> bool:
    meta = w.get("meta") or {}
    return meta.get("experiment") == "idle" or str(w.get("name", "")).startswith("idle")


def _idle_from(m) -> float | None:
    """Idle power per GPU from the first idle window of the file (measured before the load), if any."""
    for w in m.windows:
        if _is_idle(w) and w.get("mean_power_w") is not None:
            n = len(w.get("gpus") or []) or 1
            return float(w["mean_power_w"]) / n
    return None


def _window_idle(w: dict, file_idle: float | None) -> float | None:
    if w.get("idle_power_w") is not None:
        n = len(w.get("gpus") or []) or 1
        return float(w["idle_power_w"]) / n
    return file_idle


def choose_window(measurement, name: str | None) -> str:
    """The window to calibrate from: ``name``, else the only non-idle window with energy."""
    if name:
        measurement.window(name)
        return name
    cands = [w.get("name") for w in measurement.windows
             if not _is_idle(w) and not (w.get("meta") or {}).get("baseline") and w.get("energy_j") is not None]
    cands = list(dict.fromkeys(cands))
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise InputError("window", f"{measurement.path.name} has no measured window with an energy")
    raise InputError("window", f"{measurement.path.name} has several windows ({', '.join(cands)}): pick one with --window")


def runs_from_calibration_csv(*, layers: float | None = 24, hidden: float | None = 1024,
                              accelerator: str = "h100-sxm") -> pd.DataFrame:
    """The train_step rows of ``data/measured/h100_calibration.csv`` as a runs frame.

    ``layers`` and ``hidden`` (24 and 1,024 for the probe's GPT) add the attention term; the
    fit checks them against the row's recorded FLOPs per token.
    """
    t = data.table("measured/h100_calibration.csv")
    tr = t[t["experiment"] == "train_step"].reset_index(drop=True)
    idle = t[t["experiment"] == "idle"]
    idle_w = float(pd.to_numeric(idle["energy_j_counter"]).iloc[0] / pd.to_numeric(idle["seconds"]).iloc[0]) \
        if not idle.empty else None
    num = {c: pd.to_numeric(tr[c]) for c in ("batch", "seq", "params", "flops_per_token", "seconds", "calls",
                                             "energy_j_counter", "power_w_max")}
    return pd.DataFrame({
        "window": "train_step:" + tr["precision"].astype(str), "accelerator": accelerator, "precision": tr["precision"],
        "count": 1, "steps": num["calls"], "tokens_per_step": num["batch"] * num["seq"], "duration_s": num["seconds"],
        "energy_j": num["energy_j_counter"], "params": num["params"], "layers": layers, "hidden": hidden,
        "seq_len": num["seq"] if layers is not None else np.nan, "flops_per_token": num["flops_per_token"],
        "peak_power_w": num["power_w_max"], "idle_w": idle_w, "method": "energy_counter",
    })


def fit_from_calibration_csv(**kw) -> pd.DataFrame:
    """Fit and compare every measured H100 train_step row (fp32, tf32, bf16)."""
    return compare_frame(fit_frame(runs_from_calibration_csv(**kw)))
