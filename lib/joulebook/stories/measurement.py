"""The measurement-and-calibration report (``notebooks/30_measurement_and_calibration.ipynb``).

What did a real GPU job draw, and what does that measurement change in the estimate of the
training page's job? The notebook's parameters cell holds the defaults; this module:

* :func:`check` validates them (one :class:`~joulebook.core.errors.InputError` naming the parameter);
* :func:`calibrate` (from :mod:`joulebook.stories.measurement_analysis`) fits the file's training
  windows and estimates the full-scale job with the library's default and with the profile;
* :func:`finding` gives the page's answer (headline and key-figure tiles);
* ``*_frame`` functions return the DataFrames the notebook shows, ``*_COLUMNS`` their headers,
  ``*_bars`` what the notebook draws, ``*_text`` one paragraph each for the page;
* :func:`metrics` is what ``metrics.json`` holds; :func:`metrics_for` computes it from a
  parameter dict (the tests compare the two).

The calibration is measured against the **generic** default (the MFU of published runs), not
the probe-sized default, which comes from this same probe and agrees with it by construction;
the full-scale job is the training page's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, reject_unknown
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.display import plots
from joulebook.display.tables import accelerator_name, region_name
from joulebook.measure.jsonl import load_measurement, resolve_measurement_file
from joulebook.models.calibration import choose_window
from joulebook.stories import notebook_defaults as stories_notebook_defaults
from joulebook.stories.measurement_analysis import (
    Calibrated,
    calibrate,
    full_scale_comparison,
    power_view,
    windows_table,
)

__all__ = ["PARAMETERS", "Calibrated", "calibrate", "check", "finding", "metrics", "metrics_for"]

TITLE = "Measured GPU energy and calibration"
NOTEBOOK = "30_measurement_and_calibration.ipynb"

PARAMETERS = ("measurement_file", "accelerator", "calibration_window", "precision", "params", "tokens_per_step",
              "steps", "layers", "hidden", "seq_len", "job_params", "job_tokens", "job_count", "job_region",
              "job_layers", "job_hidden", "job_seq_len")
"""The notebook's parameters (their defaults live in its parameters cell only)."""


def check(**parameters) -> dict[str, Any]:
    """Check the notebook's parameters; return them complete (file resolved, window chosen, ids normalised)."""
    reject_unknown(parameters, PARAMETERS)
    for name in PARAMETERS:
        if name not in parameters:
            raise InputError(name, "missing (the notebook's parameters cell sets every parameter)")
    p = dict(parameters)
    path = resolve_measurement_file(p["measurement_file"])
    m = load_measurement(path)
    acc = data.accelerator(p["accelerator"])
    p["accelerator"] = acc.accelerator_id
    p["calibration_window"] = choose_window(m, p["calibration_window"] or None)
    if p["precision"] is not None:
        p["precision"] = data.normalise_precision(p["precision"])
        acc.peak(p["precision"])
    for name in ("params", "tokens_per_step", "steps", "layers", "hidden", "seq_len"):
        if p[name] is not None:
            number(name, p[name], strictly_positive=True)
    arch = [p["layers"], p["hidden"], p["seq_len"]]
    if any(a is not None for a in arch) and not all(a is not None for a in arch):
        raise InputError("layers", "the attention term needs layers, hidden and seq_len together (or all None)")
    number("job_params", p["job_params"], strictly_positive=True)
    number("job_tokens", p["job_tokens"], strictly_positive=True)
    number("job_count", p["job_count"], strictly_positive=True, integer=True)
    for name in ("job_layers", "job_hidden", "job_seq_len"):
        if p[name] is not None:
            number(name, p[name], strictly_positive=True, integer=True)
    job_arch = [p["job_layers"], p["job_hidden"], p["job_seq_len"]]
    if any(a is not None for a in job_arch) and not all(a is not None for a in job_arch):
        raise InputError("job_layers", "the job's attention term needs job_layers, job_hidden and job_seq_len "
                                       "together (or all None)")
    p["job_count"] = int(p["job_count"])
    if p["job_region"]:
        p["job_region"] = data.region(p["job_region"]).region_id
    return p


# --------------------------------------------------------------------------- helpers

def signed_percent(pct: float) -> str:
    """A change in percent with its sign, 3 s.f.: ``+26.7%``, ``-21.9%``, ``0%``."""
    if fmt.is_missing(pct):
        return fmt.MISSING
    v = float(pct)
    text = fmt.percent(v / 100.0)
    return text if text.startswith("-") or text == "0%" else "+" + text


def _job_words(c: Calibrated) -> str:
    p = c.plan
    where = f", {region_name(p['job_region'])}" if p["job_region"] else ""
    return (f"{fmt.count(p['job_params'])} parameters, {fmt.count(p['job_tokens'])} tokens, "
            f"{p['job_count']} × {accelerator_name(c.profile.accelerator_id)}{where}")


def _gpus(n: int) -> str:
    return "one GPU" if int(n) == 1 else f"{int(n)} GPUs"


def _model_words(c: Calibrated) -> str:
    n = c.chosen.get("params")
    return "measured model" if fmt.is_missing(n) else f"measured {fmt.count(n)}-parameter model"


def _energy(c: Calibrated) -> pd.Series:
    return full_scale_frame(c).set_index("key").loc["facility_energy_kwh"]


def _job_default_mfu(c: Calibrated) -> float:
    a = c.job_before.assumptions.get("mfu")
    return float(a.value) if a is not None else float("nan")


# --------------------------------------------------------------------------- the answer

def finding(c: Calibrated) -> tuple[str, list[tuple[str, str, str]]]:
    """The page's answer: what the measured run drew, how far the generic default was, what calibration changes
    for the full-scale job (by default the training page's).

    Returns ``(headline, tiles)`` for :func:`joulebook.display.report.finding`.
    """
    r = c.chosen
    e = _energy(c)
    acc = accelerator_name(r["accelerator"])
    gpus = f"{int(r['count'])} × {acc}" if int(r["count"]) > 1 else f"one {acc}"
    gen_err = float(r["generic_energy_error_pct"])
    direction = "too low" if gen_err < 0 else "too high"
    headline = (
        f"One {r['precision']} training step of the {_model_words(c)} drew {fmt.number(r['energy_per_step_j'])} J on "
        f"{gpus}; the generic estimate (MFU of published runs, {fmt.number(r['generic_mfu'])}) was "
        f"{fmt.percent(abs(gen_err) / 100)} {direction}. At the measured efficiency, the full-scale job "
        f"({_job_words(c)}) would need {fmt.quantity(e['after'] * 1e3, 'kWh')} of facility energy instead of "
        f"{fmt.quantity(e['before'] * 1e3, 'kWh')} ({signed_percent(e['change_pct'])}).")
    tiles = [
        (f"Energy per {r['precision']} step", f"{fmt.number(r['energy_per_step_j'])} J",
         f"{fmt.number(r['energy_per_token_j'] * 1000)} mJ per token"),
        ("Effective MFU, measured", fmt.number(r["mfu"]), f"generic default {fmt.number(r['generic_mfu'])}"),
        ("Generic estimate per step", signed_percent(gen_err), "against the measurement"),
        ("Full-scale job, facility energy", f"{fmt.quantity(e['after'] * 1e3, 'kWh')}",
         f"{signed_percent(e['change_pct'])} against the default {fmt.quantity(e['before'] * 1e3, 'kWh')}"),
    ]
    return headline, tiles


# --------------------------------------------------------------------------- power

def power_text(c: Calibrated) -> str:
    """What the power figure shows and why (computed from the file)."""
    kind, df = power_view(c.measurement)
    h = c.measurement.header
    if kind == "trace":
        gpus = df["gpu"].nunique()
        span = float(df["t_s"].max() - df["t_s"].min()) if len(df) else 0.0
        return (f"The file holds a power trace: {fmt.number(len(df) // max(gpus, 1))} samples per GPU over "
                f"{fmt.number(span)} s ({METHOD_WORDS.get(h.get('sample_method'), 'sampled power')}, every "
                f"{fmt.number(h.get('interval_ms'))} ms) on {_gpus(gpus)}. Power ranged from "
                f"{fmt.number(df['power_w'].min())} W to {fmt.number(df['power_w'].max())} W.")
    text = ("This file has no per-sample power trace (it was written without `--trace`, or, for the shipped "
            "sample, built from the probe's per-window table, which kept no samples), so the figure shows each "
            "window's mean power (energy / duration) and its peak reading instead of power over time.")
    if df["mean_power_w"].notna().any():
        hi, lo = df.loc[df["mean_power_w"].idxmax()], df.loc[df["mean_power_w"].idxmin()]
        text += (f" Mean power ranged from {fmt.number(lo['mean_power_w'])} W ({lo['window']}) to "
                 f"{fmt.number(hi['mean_power_w'])} W ({hi['window']}).")
    if (h.get("sample_method") or "") == "power_usage_sampled":
        text += (" Peaks come from nvmlDeviceGetPowerUsage, a ~1 s average on this GPU generation, so short "
                 "spikes above them are not visible.")
    return text


def power_figure(c: Calibrated):
    """``(figure, alt text)``: power over time when the file has a trace; else each window's mean and peak power."""
    kind, df = power_view(c.measurement)
    if kind == "trace":
        fig, ax = plots.figure(figsize=(9.0, 3.8))
        for g, part in df.groupby("gpu"):
            ax.plot(part["t_s"], part["power_w"], lw=1.0, label=f"GPU {g}")
        for w in c.measurement.windows:
            if w.get("t_start_s") is not None and w.get("t_end_s") is not None:
                ax.axvspan(w["t_start_s"], w["t_end_s"], alpha=0.08, color="grey")
        ax.set_xlabel("time since the meter started (s)")
        ax.set_ylabel("power (W)")
        ax.set_title("Power trace (shaded: measured windows)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        alt = (f"Power of {_gpus(df['gpu'].nunique())} over {fmt.number(float(df['t_s'].max()))} s, from "
               f"{fmt.number(df['power_w'].min())} W to {fmt.number(df['power_w'].max())} W, with the measured "
               "windows shaded")
        return fig, alt
    t = df.dropna(subset=["mean_power_w"]).reset_index(drop=True)
    fig, ax = plots.figure(figsize=(9.0, 0.34 * len(t) + 1.6))
    y = np.arange(len(t))
    ax.barh(y, t["mean_power_w"], color="#4c72b0", label="mean (energy / duration)")
    has_peak = t["peak_power_w"].notna().to_numpy()
    ax.scatter(t.loc[has_peak, "peak_power_w"], y[has_peak], marker="|", s=160, color="#dd8452",
               label="peak reading", zorder=3)
    ax.set_yticks(y, t["window"])
    ax.invert_yaxis()
    ax.set_xlabel("power per window (W)")
    ax.set_title("Mean and peak power per window")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    hi, lo = t.loc[t["mean_power_w"].idxmax()], t.loc[t["mean_power_w"].idxmin()]
    alt = (f"Bar chart of mean power for {len(t)} measured windows, from {fmt.number(lo['mean_power_w'])} W "
           f"({lo['window']}) to {fmt.number(hi['mean_power_w'])} W ({hi['window']}), with each window's peak reading "
           "marked")
    return fig, alt


WINDOW_COLUMNS = {"window": "Window", "duration_s": "Duration (s)", "energy_j": "GPU energy (J)",
                  "mean_power_w": "Mean power (W)", "peak_power_w": "Peak power (W)", "steps": "Steps",
                  "energy_per_step_j": "Energy per step (J)", "method": "Method"}


METHOD_WORDS = {"energy_counter": "energy counter", "power_instant_sampled": "sampled power",
                "power_usage_sampled": "sampled power (1 s averages)", "missing": "not measured"}
"""How each measurement method reads on the page."""


def windows_frame(c: Calibrated) -> pd.DataFrame:
    """Every measured window of the file (GPU energy from NVML); a killed run's window is marked a lower bound."""
    t = windows_table(c.measurement).copy()
    t["method"] = [METHOD_WORDS.get(m, m) for m in t["method"]]
    if "incomplete" in t and t["incomplete"].any():  # a killed run: energy up to its last checkpoint
        t.loc[t["incomplete"], "method"] = t.loc[t["incomplete"], "method"] + ", run killed: lower bound"
    return t[[k for k in WINDOW_COLUMNS if k in t]]


# --------------------------------------------------------------------------- steps and precisions

STEP_COLUMNS = {"window": "Window", "precision": "Precision", "step_time_ms": "Time per step (ms)",
                "energy_per_step_j": "Energy per step (J)", "energy_per_token_mj": "Energy per token (mJ)",
                "mfu": "Effective MFU", "times_most_frugal": "Against the most frugal (×)"}


def steps_frame(c: Calibrated) -> pd.DataFrame:
    """One row per training window: time, energy per step and per token, throughput, power, MFU."""
    f = c.fitted
    return pd.DataFrame({
        "window": f["window"], "precision": f["precision"], "steps": f["steps"], "step_time_ms": f["step_time_s"] * 1000,
        "energy_per_step_j": f["energy_per_step_j"], "energy_per_token_mj": f["energy_per_token_j"] * 1000,
        "tokens_per_s": f["tokens_per_s"], "power_w": f["power_w"], "mfu": f["mfu"],
        "times_most_frugal": f["energy_per_token_j"] / f["energy_per_token_j"].min()})


def steps_text(c: Calibrated) -> str:
    r = c.chosen
    per_kwh = 3.6e6 / r["energy_per_step_j"]
    text = (f"One **{r['window']}** step took {fmt.number(r['step_time_s'] * 1000)} ms and "
            f"{fmt.number(r['energy_per_step_j'])} J: one kWh of GPU energy buys about {fmt.number(per_kwh)} such steps "
            f"({fmt.count(per_kwh * r['tokens_per_step'])} tokens). "
            "These are GPU-only figures from NVML; the rest of the node and the data centre's overhead (PUE) come on "
            "top.")
    t = steps_frame(c).sort_values("energy_per_token_mj")
    if len(t) < 2:
        return text + " Only one training window was measured, so there is no comparison across precisions."
    best, worst = t.iloc[0], t.iloc[-1]
    text += (f" The most frugal precision was {best['precision']} ({fmt.number(best['energy_per_token_mj'])} mJ per "
             f"token); {worst['precision']} needed {fmt.ratio(worst['times_most_frugal'])} as much energy per token")
    power_ratio = worst["power_w"] / best["power_w"]
    if abs(power_ratio - 1) < 0.05:
        text += (f" at about the same power ({fmt.number(worst['power_w'])} W against "
                 f"{fmt.number(best['power_w'])} W): the difference is time per step "
                 f"({fmt.number(worst['step_time_ms'])} ms against {fmt.number(best['step_time_ms'])} ms per step of "
                 "the same size), not power.")
    else:
        text += (f": {fmt.number(worst['step_time_ms'])} ms per step at {fmt.number(worst['power_w'])} W against "
                 f"{fmt.number(best['step_time_ms'])} ms at {fmt.number(best['power_w'])} W.")
    return text


def precision_bars(c: Calibrated) -> tuple[list[str], list[float]]:
    """Labels and GPU energy per token (mJ) of each training window, for :func:`joulebook.display.plots.bar`."""
    t = steps_frame(c)
    labels = [f"{p} ({w})" if (t["precision"] == p).sum() > 1 else str(p)
              for p, w in zip(t["precision"], t["window"], strict=True)]
    return labels, [float(v) for v in t["energy_per_token_mj"]]


def precision_alt(c: Calibrated) -> str:
    labels, values = precision_bars(c)
    parts = ", ".join(f"{lab} {fmt.number(v)} mJ" for lab, v in zip(labels, values, strict=True))
    return f"Bar chart of measured GPU energy per training token by precision: {parts}"


# --------------------------------------------------------------------------- calibration

CALIBRATION_COLUMNS = {"estimate": "Estimate", "mfu": "MFU", "power_w": "Power per GPU (W)",
                       "step_time_ms": "Time per step (ms)", "energy_per_step_j": "Energy per step (J)",
                       "energy_per_token_mj": "Energy per token (mJ)",
                       "energy_error_pct": "Error (%)"}

_ESTIMATES = (("generic", "generic default (MFU of published runs)"),
              ("before", "probe-sized default (fitted on this probe)"),
              ("measured", "measured"),
              ("after", "calibrated (measured MFU and power)"))


def calibration_frame(c: Calibrated) -> pd.DataFrame:
    """The calibration window: each default estimate, the measurement and the calibrated estimate (GPU only)."""
    r = c.chosen
    rows = []
    for tag, label in _ESTIMATES:
        pre = "" if tag == "measured" else f"{tag}_"
        rows.append({"estimate": label, "mfu": r[f"{pre}mfu"] if tag != "measured" else r["mfu"],
                     "power_w": r[f"{pre}power_w"], "step_time_ms": r[f"{pre}step_time_s"] * 1000,
                     "energy_per_step_j": r[f"{pre}energy_per_step_j"],
                     "energy_per_token_mj": r[f"{pre}energy_per_token_j"] * 1000,
                     "energy_error_pct": np.nan if tag == "measured" else r[f"{pre}energy_error_pct"]})
    return pd.DataFrame(rows)


def calibration_bars(c: Calibrated) -> tuple[list[str], list[float]]:
    """Labels and energy per step (J) of each estimate and the measurement, for :func:`plots.bar`."""
    t = calibration_frame(c)
    return list(t["estimate"]), [float(v) for v in t["energy_per_step_j"]]


def calibration_alt(c: Calibrated) -> str:
    labels, values = calibration_bars(c)
    parts = ", ".join(f"{lab} {fmt.number(v)} J" for lab, v in zip(labels, values, strict=True))
    return f"Bar chart of GPU energy per {c.chosen['window']} step: {parts}"


def calibration_text(c: Calibrated) -> str:
    """Generic default, probe-sized default, measurement and calibrated estimate for the calibration window."""
    r = c.chosen
    return (
        f"Measured on **{r['window']}**: {fmt.number(r['energy_per_step_j'])} J per step, "
        f"{fmt.number(r['step_time_s'] * 1000)} ms per step at {fmt.number(r['power_w'])} W per GPU, an effective MFU of "
        f"{fmt.number(r['mfu'])} ({fmt.number(r['achieved_tflops'])} of {fmt.number(r['peak_tflops'])} TFLOP/s). "
        f"The **generic default**, the MFU of published training runs ({fmt.number(r['generic_mfu'])}), predicts "
        f"{fmt.number(r['generic_energy_per_step_j'])} J per step ({signed_percent(r['generic_energy_error_pct'])}): "
        "this is what an estimate without a measurement gets wrong. The probe-sized default "
        f"({fmt.number(r['before_mfu'])}, {signed_percent(r['before_energy_error_pct'])}) is itself fitted on this "
        "H100 probe, so its agreement is by construction, as is the calibrated estimate's (it uses the measured MFU "
        "and power). All four are GPU only: no node power, PUE 1, as NVML measures."
        + _generic_spread(c))


def _generic_spread(c: Calibrated) -> str:
    err = c.fitted["generic_energy_error_pct"]
    if len(err) < 2:
        return ""
    return (f" Across the file's {len(err)} training windows the generic default is off by "
            f"{signed_percent(err.min())} to {signed_percent(err.max())}: one MFU does not fit every precision.")


ALL_WINDOWS_COLUMNS = {"window": "Window", "mfu": "MFU measured", "generic_mfu": "MFU generic",
                       "before_mfu": "MFU probe-sized", "power_w": "Power measured (W)",
                       "generic_energy_error_pct": "Generic error (%)", "before_energy_error_pct": "Probe-sized error (%)"}


def all_windows_frame(c: Calibrated) -> pd.DataFrame:
    """Every training window of the file, fitted: measured MFU and power against both defaults."""
    return c.fitted[list(ALL_WINDOWS_COLUMNS)]


# --------------------------------------------------------------------------- the full-scale job

FULL_SCALE_COLUMNS = {"quantity": "Quantity (unit)", "before": "Default estimate", "before_low": "Default low",
                      "before_high": "Default high", "after": "Calibrated", "after_low": "Calibrated low",
                      "after_high": "Calibrated high", "change_pct": "Change (%)"}


def full_scale_frame(c: Calibrated) -> pd.DataFrame:
    """The full-scale job with the library's default and with the calibration (central, low, high)."""
    t = full_scale_comparison(c.job_before, c.job_after)
    t["quantity"] = [f"{q} ({u})" for q, u in zip(t["quantity"], t["unit"], strict=True)]
    return t


def full_scale_figure(c: Calibrated):
    """``(figure, alt text)``: the job's facility energy, default and calibrated, central with its low-high range."""
    e = _energy(c)
    labels = [f"default (MFU {fmt.number(_job_default_mfu(c))})", f"calibrated (MFU {fmt.number(c.profile.mfu)})"]
    central = np.array([e["before"], e["after"]], dtype=float)
    low = np.array([e["before_low"], e["after_low"]], dtype=float)
    high = np.array([e["before_high"], e["after_high"]], dtype=float)
    fig, ax = plots.figure(figsize=(8.0, 2.2))
    ax.errorbar(central, [0, 1], xerr=[central - low, high - central], fmt="o", capsize=6, color="#4c72b0")
    ax.set_yticks([0, 1], labels)
    ax.set_ylim(-0.6, 1.6)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("facility energy (MWh)")
    ax.set_title("The full-scale job: facility energy, central and low-high range")
    alt = (f"Facility energy of the full-scale job: default {fmt.number(e['before'])} MWh (range "
           f"{fmt.number(e['before_low'])} to {fmt.number(e['before_high'])}), calibrated {fmt.number(e['after'])} MWh "
           f"(range {fmt.number(e['after_low'])} to {fmt.number(e['after_high'])})")
    return fig, alt


def full_scale_text(c: Calibrated) -> str:
    t = full_scale_frame(c).set_index("key")
    e, h = t.loc["facility_energy_kwh"], t.loc["wall_clock_hours"]
    p = c.plan

    def mwh(v: float) -> str:
        return fmt.quantity(v * 1e3, "kWh")

    text = (f"The full-scale job ({_job_words(c)}, {c.profile.precision}) estimated with the library's default "
            f"MFU ({fmt.number(_job_default_mfu(c))}, from published runs at this scale) needs {mwh(e['before'])} of "
            f"facility energy [{mwh(e['before_low'])} to {mwh(e['before_high'])}]; with the measured MFU "
            f"({fmt.number(c.profile.mfu)}) and power ({fmt.number(c.profile.power_w)} W) it needs {mwh(e['after'])} "
            f"[{mwh(e['after_low'])} to {mwh(e['after_high'])}], {signed_percent(e['change_pct'])}, and "
            f"{fmt.number(h['after'])} h of wall clock instead of {fmt.number(h['before'])} h.")
    width_before = (e["before_high"] - e["before_low"]) / e["before"]
    width_after = (e["after_high"] - e["after_low"]) / e["after"]
    if width_after < width_before - 1e-9:
        text += (f" The low-to-high range shrinks from {fmt.percent(width_before)} to {fmt.percent(width_after)} of the "
                 "central value because the measured MFU and power replace the uncertain defaults; node overhead, PUE "
                 "and the grid keep theirs.")
    else:
        text += (f" The low-to-high range stays at {fmt.percent(width_after)} of the central value: it comes from node "
                 "overhead, PUE and the grid, which a GPU measurement does not calibrate.")
    n = int(c.chosen["count"])
    text += (f" The {_model_words(c)} ran on {_gpus(n)}; a "
             f"{fmt.count(p['job_params'])}-parameter job on {p['job_count']} accelerators may reach a different MFU, "
             "so the calibrated figure is what the job would draw at the measured efficiency, not a prediction of it.")
    return text


def profile_text(c: Calibrated) -> str:
    pr = c.profile
    idle = fmt.MISSING if pr.idle_w is None else f"{fmt.number(pr.idle_w)} W"
    return (f"The calibration profile (what `joulebook calibrate` writes, used by `joulebook estimate training "
            f"--calibration`): {accelerator_name(pr.accelerator_id)}, {pr.precision}, MFU {fmt.number(pr.mfu)}, power "
            f"{fmt.number(pr.power_w)} W, idle {idle}, FLOPs basis {pr.created_from.get('flops_basis')}, "
            f"source `{pr.source}`.")


# --------------------------------------------------------------------------- provenance

def assumptions(c: Calibrated) -> Assumptions:
    h = c.measurement.header
    r = c.chosen
    a = Assumptions()
    src = h.get("source_id") or c.path.name
    a.add("measurement_file", c.path.name, "", src, f"{len(c.measurement.windows)} windows; "
          f"{'with' if c.measurement.has_samples else 'no'} power trace")
    a.add("energy_method", h.get("method"), "", src, "energy_counter: NVML total-energy counter at window edges")
    a.add("peak_power_method", h.get("sample_method"), "", src,
          "power_usage_sampled is a ~1 s average on Ampere and newer GPUs")
    a.add("flops_basis", r["flops_basis"], "", "design", "6N (+ 6 L s d attention when the architecture is given)")
    a.add("peak_tflops", float(r["peak_tflops"]), f"TFLOP/s dense {r['precision']}",
          data.accelerator(r["accelerator"]).source_id, accelerator_name(r["accelerator"]))
    a.add("prediction_scope", "GPU only", "", "design", "node_power_w = 0 and PUE = 1 when comparing with NVML")
    return a.merge(c.job_before.assumptions)


def source_ids(c: Calibrated) -> list[str]:
    ids = [c.measurement.header.get("source_id"), *c.job_before.source_ids, *c.job_after.source_ids]
    return [i for i in dict.fromkeys(ids) if i]


# --------------------------------------------------------------------------- metrics

def _r6(x) -> float | None:
    """:func:`~joulebook.core.util.round6`, with -0.0 written as 0.0."""
    v = round6(x)
    return 0.0 if v == 0 else v


def metrics(c: Calibrated) -> dict[str, Any]:
    """What the notebook's last cell writes (``metrics.json``)."""
    r = c.chosen
    e = _energy(c)
    steps = steps_frame(c)
    ratio = float(steps["times_most_frugal"].max()) if len(steps) > 1 else 1.0
    headline, _ = finding(c)
    return {
        "title": TITLE,
        "finding": headline.replace("**", ""),
        "key_figures": [
            {"label": f"energy per {r['precision']} step", "value": _r6(r["energy_per_step_j"]), "unit": "J"},
            {"label": "measured effective MFU", "value": _r6(r["mfu"]), "unit": "fraction of peak"},
            {"label": "generic estimate against the measurement", "value": _r6(r["generic_energy_error_pct"]),
             "unit": "%"},
            {"label": "full-scale job: facility energy change with calibration", "value": _r6(e["change_pct"]),
             "unit": "%"},
        ],
        "measurement_file": c.path.name,
        "window": str(r["window"]),
        "windows": len(c.measurement.windows),
        "has_trace": bool(c.measurement.has_samples),
        "method": c.measurement.header.get("method"),
        "precision": str(r["precision"]),
        "mfu": _r6(r["mfu"]),
        "power_w": _r6(r["power_w"]),
        "energy_per_step_j": _r6(r["energy_per_step_j"]),
        "energy_per_step_kwh": _r6(r["energy_per_step_j"] / 3.6e6),
        "energy_per_token_j": _r6(r["energy_per_token_j"]),
        "error_before_pct": _r6(r["before_energy_error_pct"]),
        "error_generic_pct": _r6(r["generic_energy_error_pct"]),
        "error_after_pct": _r6(r["after_energy_error_pct"]),
        "generic_mfu": _r6(r["generic_mfu"]),
        "job_default_mfu": _r6(_job_default_mfu(c)),
        "precision_energy_ratio": _r6(ratio),
        "job_facility_energy_before_mwh": _r6(e["before"]),
        "job_facility_energy_after_mwh": _r6(e["after"]),
        "job_energy_change_pct": _r6(e["change_pct"]),
    }


def notebook_defaults() -> dict[str, Any]:
    """The defaults of the notebook's parameters cell (they live there only)."""
    return stories_notebook_defaults.defaults(NOTEBOOK)


def metrics_for(parameters: dict[str, Any]) -> dict[str, Any]:
    """``metrics.json`` computed directly from parameters; those not given take the notebook's defaults."""
    given = dict(parameters)
    if set(PARAMETERS) - set(given):
        given = {**notebook_defaults(), **given}
    return metrics(calibrate(check(**given)))
