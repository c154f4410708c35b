"""The measurement-and-calibration report: everything ``notebooks/30_measurement_and_calibration.ipynb`` shows.

The notebook stays thin: it validates its parameters with :func:`report_scenario`, builds a
:class:`MeasurementStory` and calls one method per cell. :func:`report_metrics` computes the
metrics the notebook writes, directly from the parameters (the tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, reject_unknown
from joulebook.core.util import round6
from joulebook.core.validate import number

REPORT_DEFAULTS: dict[str, Any] = {
    "measurement_file": "measured/h100_probe1_sample.jsonl",
    "accelerator": "h100-sxm",
    "calibration_window": "train_step:bf16",
    "precision": None,
    "params": 3.68896e8,
    "tokens_per_step": 8192,
    "steps": None,
    "layers": 24,
    "hidden": 1024,
    "seq_len": 1024,
    "job_params": 7e9,
    "job_tokens": 2e11,
    "job_count": 64,
    "job_region": "us-va",
    "job_layers": 32,
    "job_hidden": 4096,
    "job_seq_len": 4096,
}


def report_scenario(**parameters) -> dict[str, Any]:
    """Check the report's parameters and return them complete (defaults filled, file resolved)."""
    from joulebook.measure.jsonl import load_measurement, resolve_measurement_file
    from joulebook.models.calibration import choose_window

    reject_unknown(parameters, REPORT_DEFAULTS)
    p = {**REPORT_DEFAULTS, **parameters}
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
    job_arch = [p["job_layers"], p["job_hidden"], p["job_seq_len"]]
    for name in ("job_layers", "job_hidden", "job_seq_len"):
        if p[name] is not None:
            number(name, p[name], strictly_positive=True, integer=True)
    if any(a is not None for a in job_arch) and not all(a is not None for a in job_arch):
        raise InputError("job_layers", "the job's attention term needs job_layers, job_hidden and job_seq_len "
                                       "together (or all None)")
    p["job_count"] = int(p["job_count"])
    if p["job_region"]:
        p["job_region"] = data.region(p["job_region"]).region_id
    return p


@dataclass
class MeasurementStory:
    """The report's computations, one method per notebook cell."""

    parameters: dict[str, Any]
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ inputs
    @cached_property
    def path(self) -> Path:
        from joulebook.measure.jsonl import resolve_measurement_file

        return resolve_measurement_file(self.parameters["measurement_file"])

    @cached_property
    def measurement(self):
        from joulebook.measure.jsonl import load_measurement

        return load_measurement(self.path)

    @cached_property
    def fitted(self) -> pd.DataFrame:
        """Every training window of the file, fitted and compared (one row each)."""
        from joulebook.models.calibration import compare_frame, fit_frame, runs_from_measurement

        p = self.parameters
        names = [w.get("name") for w in self.measurement.windows
                 if (w.get("meta") or {}).get("steps") is not None and w.get("energy_j") is not None]
        if p["calibration_window"] not in names:
            names.append(p["calibration_window"])
        runs = runs_from_measurement(
            self.measurement, accelerator=p["accelerator"], params=p["params"], precision=None,
            tokens_per_step=p["tokens_per_step"], steps=p["steps"], layers=p["layers"], hidden=p["hidden"],
            seq_len=p["seq_len"], windows=list(dict.fromkeys(names)))
        if p["precision"] is not None:
            runs.loc[runs["window"] == p["calibration_window"], "precision"] = p["precision"]
        if runs["precision"].isna().any():
            raise InputError("precision", f"window {p['calibration_window']!r} does not record its precision: give it")
        return compare_frame(fit_frame(runs)).reset_index(drop=True)

    @cached_property
    def chosen(self) -> pd.Series:
        f = self.fitted
        return f[f["window"] == self.parameters["calibration_window"]].iloc[0]

    @cached_property
    def profile(self):
        from joulebook.models.calibration import profile_from_fit

        return profile_from_fit(self.chosen, source=self.path.name,
                                created_from={"window": self.parameters["calibration_window"]})

    @cached_property
    def full_scale(self) -> pd.DataFrame:
        from joulebook.stories.measurement_analysis import full_scale_comparison

        p = self.parameters
        return full_scale_comparison(self.profile, params=p["job_params"], tokens=p["job_tokens"], count=p["job_count"],
                                     region=p["job_region"], **self.job_arch)

    @property
    def job_arch(self) -> dict[str, Any]:
        """The full-scale job's own architecture (notebook 10's job by default) for its attention FLOPs, when the
        calibration was fitted on the same FLOPs basis (6N + 6 L s d); otherwise none (6N for both)."""
        p = self.parameters
        arch = self.chosen["flops_basis"] == "6N+6Lsd" and p["job_layers"] is not None
        return {"layers": p["job_layers"] if arch else None, "hidden": p["job_hidden"] if arch else None,
                "seq_len": p["job_seq_len"] if arch else None}

    @cached_property
    def job_estimates(self):
        from joulebook.models.training import estimate_training

        p = self.parameters
        kw = dict(params=p["job_params"], tokens=p["job_tokens"], accelerator=self.profile.accelerator_id,
                  count=p["job_count"], precision=self.profile.precision, region=p["job_region"] or None,
                  **self.job_arch)
        return estimate_training(**kw), estimate_training(**kw, calibration=self.profile)

    # ------------------------------------------------------------------ provenance
    def assumptions(self) -> Assumptions:
        h = self.measurement.header
        c = self.chosen
        a = Assumptions()
        src = h.get("source_id") or self.path.name
        a.add("measurement_file", self.path.name, "", src, f"{len(self.measurement.windows)} windows; "
              f"{'with' if self.measurement.has_samples else 'no'} power trace")
        a.add("energy_method", h.get("method"), "", src, "energy_counter: NVML total-energy counter at window edges")
        a.add("peak_power_method", h.get("sample_method"), "", src,
              "power_usage_sampled is a ~1 s average on Ampere and newer GPUs")
        a.add("flops_basis", c["flops_basis"], "", "design", "6N (+ 6 L s d attention when the architecture is given)")
        a.add("peak_tflops", float(c["peak_tflops"]), f"TFLOP/s dense {c['precision']}",
              data.accelerator(c["accelerator"]).source_id, c["accelerator"])
        a.add("prediction_scope", "GPU only", "", "design", "node_power_w = 0 and PUE = 1 when comparing with NVML")
        before, _ = self.job_estimates
        return a.merge(before.assumptions)

    def source_ids(self) -> list[str]:
        before, after = self.job_estimates
        ids = [self.measurement.header.get("source_id")] + list(before.source_ids) + list(after.source_ids)
        return [i for i in dict.fromkeys(ids) if i]

    # ------------------------------------------------------------------ sections
    def summary_md(self) -> str:
        c, h = self.chosen, self.measurement.header
        full = self.full_scale.set_index("key")
        e = full.loc["facility_energy_kwh"]
        return (f"**{self.path.name}** holds {len(self.measurement.windows)} measured windows "
                f"({h.get('method') or 'mixed methods'}). Calibrating on **{c['window']}** "
                f"({c['precision']}, {int(c['count'])} GPU) gives an effective MFU of **{c['mfu']:.3f}** and "
                f"**{c['power_w']:,.0f} W** per GPU under load, i.e. **{c['energy_per_step_j']:,.2f} J per step** "
                f"({c['energy_per_step_j'] / 3.6e6:.3g} kWh) and {c['energy_per_token_j'] * 1000:,.3f} mJ per token. "
                f"The uncalibrated model {_off_by(c['before_energy_error_pct'])} per step; for the "
                f"{fmt_count(self.parameters['job_params'])}-parameter full-scale job the calibration changes the "
                f"facility energy by {pct(e['change_pct'])}.")

    def power_md(self) -> str:
        from joulebook.stories.measurement_analysis import power_prose

        return power_prose(self.measurement)

    def power_figure(self):
        """Power over time when the file has a trace; else per-window mean and peak power."""
        from joulebook.display import plots
        from joulebook.stories.measurement_analysis import power_view

        kind, df = power_view(self.measurement)
        if kind == "trace":
            fig, ax = plots.figure(figsize=(8.0, 3.6))
            for g, part in df.groupby("gpu"):
                ax.plot(part["t_s"], part["power_w"], lw=1.0, label=f"GPU {g}")
            for w in self.measurement.windows:
                if w.get("t_start_s") is not None and w.get("t_end_s") is not None:
                    ax.axvspan(w["t_start_s"], w["t_end_s"], alpha=0.08, color="grey")
                    ax.text(w["t_start_s"], df["power_w"].max(), f" {w['name']}", fontsize=8, va="top")
            ax.set_xlabel("time since the meter started (s)")
            ax.set_ylabel("power (W)")
            ax.set_title("Power trace (shaded: measured windows)")
            ax.set_ylim(bottom=0)
            if df["gpu"].nunique() > 1:
                ax.legend(loc="lower right", fontsize=8)
            return fig
        t = df.dropna(subset=["mean_power_w"])
        fig, ax = plots.figure(figsize=(8.0, 0.32 * len(t) + 1.4))
        y = np.arange(len(t))
        ax.barh(y, t["mean_power_w"], color="#4c72b0", label="mean (energy / duration)")
        has_peak = t["peak_power_w"].notna()
        ax.scatter(t.loc[has_peak, "peak_power_w"], y[has_peak.to_numpy()], marker="|", s=160, color="#dd8452",
                   label="peak reading", zorder=3)
        ax.set_yticks(y, t["window"])
        ax.invert_yaxis()
        ax.set_xlabel("power per window (W)")
        ax.set_title("Mean and peak power per window (no per-sample trace in this file)")
        ax.legend(loc="lower right", fontsize=8)
        return fig

    def windows_table(self) -> pd.DataFrame:
        from joulebook.stories.measurement_analysis import windows_table

        t = windows_table(self.measurement)
        if "incomplete" in t and t["incomplete"].any():  # a killed run: energy up to its last checkpoint
            t = t.copy()
            t.loc[t["incomplete"], "method"] = t.loc[t["incomplete"], "method"] + ", run killed: lower bound"
        return t[["window", "duration_s", "energy_j", "energy_kwh", "mean_power_w", "peak_power_w", "method",
                  "steps", "energy_per_step_j", "energy_per_step_kwh", "energy_per_token_j"]]

    def steps_table(self) -> pd.DataFrame:
        f = self.fitted
        return pd.DataFrame({
            "window": f["window"], "precision": f["precision"], "steps": f["steps"],
            "step_time_ms": f["step_time_s"] * 1000, "energy_per_step_j": f["energy_per_step_j"],
            "energy_per_step_kwh": f["energy_per_step_j"] / 3.6e6, "energy_per_token_mj": f["energy_per_token_j"] * 1000,
            "tokens_per_s": f["tokens_per_s"], "power_w": f["power_w"]})

    def steps_md(self) -> str:
        c = self.chosen
        n_per_kwh = 3.6e6 / c["energy_per_step_j"]
        return (f"One **{c['window']}** step took {c['step_time_s'] * 1000:,.1f} ms and "
                f"{c['energy_per_step_j']:,.2f} J, which is {c['energy_per_step_j'] / 3.6e6:.3g} kWh per step: "
                f"one kWh of GPU energy buys about {n_per_kwh:,.0f} such steps "
                f"({n_per_kwh * c['tokens_per_step']:,.0f} tokens). These are GPU-only figures from NVML; the node "
                "around the GPU and the data-centre overhead (PUE) come on top.")

    def precision_table(self) -> pd.DataFrame:
        f = self.fitted
        best = f["energy_per_token_j"].min()
        return pd.DataFrame({"precision": f["precision"], "window": f["window"],
                             "energy_per_token_mj": f["energy_per_token_j"] * 1000,
                             "energy_per_step_j": f["energy_per_step_j"], "step_time_ms": f["step_time_s"] * 1000,
                             "power_w": f["power_w"], "mfu": f["mfu"],
                             "times_most_frugal": f["energy_per_token_j"] / best})

    def precision_md(self) -> str:
        from joulebook.stories.measurement_analysis import precision_prose

        t = self.precision_table()
        tt = pd.DataFrame({"precision": t["precision"], "window": t["window"],
                           "energy_per_token_j": t["energy_per_token_mj"] / 1000,
                           "energy_per_step_j": t["energy_per_step_j"], "step_time_s": t["step_time_ms"] / 1000,
                           "mean_power_w": t["power_w"], "times_best": t["times_most_frugal"]})
        if len(tt) < 2:
            return (precision_prose(tt) + " Only one training window was measured, so there is no comparison "
                    "across precisions in this file.")
        return precision_prose(tt)

    def precision_figure(self):
        from joulebook.display import plots

        t = self.precision_table()
        fig, ax = plots.figure(figsize=(7.0, 0.45 * len(t) + 1.3))
        labels = [f"{p} ({w})" if (t["precision"] == p).sum() > 1 else str(p) for p, w in zip(t["precision"], t["window"],
                                                                                              strict=True)]
        plots.bar(ax, labels, t["energy_per_token_mj"].tolist(), xlabel="GPU energy per token (mJ)",
                  title="Training energy per token by precision", fmt="{:,.2f} mJ",
                  highlight=labels[int(np.argmin(t["energy_per_token_mj"].to_numpy()))])
        return fig

    def calibration_table(self) -> pd.DataFrame:
        c = self.chosen
        rows = [("generic default (published-run MFU)", c["generic_mfu"], c["generic_power_w"],
                 c["generic_step_time_s"], c["generic_energy_per_step_j"], c["generic_energy_per_token_j"],
                 c["generic_energy_error_pct"]),
                ("probe-sized default (from this probe)", c["before_mfu"],
                 c["before_power_w"], c["before_step_time_s"], c["before_energy_per_step_j"],
                 c["before_energy_per_token_j"], c["before_energy_error_pct"]),
                ("measured", c["mfu"], c["power_w"], c["step_time_s"], c["energy_per_step_j"], c["energy_per_token_j"],
                 0.0),
                ("predicted after calibration", c["after_mfu"], c["after_power_w"], c["after_step_time_s"],
                 c["after_energy_per_step_j"], c["after_energy_per_token_j"], c["after_energy_error_pct"])]
        return pd.DataFrame(rows, columns=["", "mfu", "power_w", "step_time_s", "energy_per_step_j",
                                           "energy_per_token_j", "energy_error_pct"])

    def calibration_md(self) -> str:
        from joulebook.stories.measurement_analysis import calibration_prose

        return calibration_prose(self.chosen)

    def calibration_figure(self):
        from joulebook.display import plots

        t = self.calibration_table()
        fig, ax = plots.figure(figsize=(7.0, 2.6))
        plots.bar(ax, list(t[""]), t["energy_per_step_j"].tolist(), xlabel="GPU energy per step (J)",
                  title=f"Energy per step, {self.chosen['window']}: estimate vs measurement", fmt="{:,.2f} J",
                  highlight="measured")
        return fig

    def all_windows_calibration_table(self) -> pd.DataFrame:
        f = self.fitted
        return pd.DataFrame({"window": f["window"], "precision": f["precision"], "mfu_default": f["before_mfu"],
                             "mfu_measured": f["mfu"], "power_w_default": f["before_power_w"],
                             "power_w_measured": f["power_w"], "error_before_pct": f["before_energy_error_pct"],
                             "error_generic_pct": f["generic_energy_error_pct"],
                             "error_after_pct": f["after_energy_error_pct"]})

    def full_scale_table(self) -> pd.DataFrame:
        t = self.full_scale
        return t[["quantity", "before", "before_low", "before_high", "after", "after_low", "after_high", "change_pct"]]

    def full_scale_md(self) -> str:
        from joulebook.stories.measurement_analysis import full_scale_prose

        p = self.parameters
        return full_scale_prose(self.full_scale, params=p["job_params"], tokens=p["job_tokens"], count=p["job_count"],
                                accelerator=self.profile.accelerator_id, precision=self.profile.precision,
                                region=p["job_region"])

    def profile_md(self) -> str:
        pr = self.profile
        return (f"Calibration profile (what `joulebook calibrate` writes, usable as `estimate training --calibration`): "
                f"accelerator `{pr.accelerator_id}`, precision `{pr.precision}`, MFU {pr.mfu:.4f}, power "
                f"{pr.power_w:,.1f} W, idle {'n/a' if pr.idle_w is None else f'{pr.idle_w:,.1f} W'}, "
                f"FLOPs basis {pr.created_from.get('flops_basis')}, source `{pr.source}`.")

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> dict[str, Any]:
        c = self.chosen
        full = self.full_scale.set_index("key")
        e = full.loc["facility_energy_kwh"]
        prec = self.precision_table()
        ratio = float(prec["times_most_frugal"].max()) if len(prec) > 1 else 1.0
        before, _ = self.job_estimates
        job_mfu = before.assumptions.get("mfu")
        job_mfu = float(job_mfu.value) if job_mfu is not None else float("nan")
        p = self.parameters
        # measured against the generic default (published runs), not the probe-sized default, which is derived
        # from this same probe and so agrees with it by construction; the job is the training page's
        finding = (f"Measured {c['energy_per_step_j']:,.1f} J per {c['precision']} training step "
                   f"({c['energy_per_token_j'] * 1000:.2f} mJ per token, MFU {c['mfu']:.2f}); the generic estimate "
                   f"(published-run MFU {c['generic_mfu']:.2f}) {_off_by(c['generic_energy_error_pct'])}, and "
                   f"calibration moves the {fmt_count(p['job_params'])}-parameter job on {p['job_count']} x "
                   f"{self.profile.accelerator_id} by {pct(e['change_pct'])} against the training page's default "
                   f"({job_mfu:.2f}).")
        return {
            "title": "Measured GPU energy and calibration",
            "finding": finding,
            "key_figures": [
                {"label": f"energy per {c['precision']} step", "value": _r6(c["energy_per_step_j"]), "unit": "J"},
                {"label": "energy per token", "value": _r6(c["energy_per_token_j"] * 1000), "unit": "mJ"},
                {"label": "calibrated MFU", "value": _r6(c["mfu"]), "unit": "fraction of peak"},
                {"label": "full-scale energy change vs published-MFU default", "value": _r6(e["change_pct"]),
                 "unit": "%"},
            ],
            "measurement_file": self.path.name,
            "window": str(c["window"]),
            "windows": len(self.measurement.windows),
            "has_trace": bool(self.measurement.has_samples),
            "method": self.measurement.header.get("method"),
            "precision": str(c["precision"]),
            "mfu": _r6(c["mfu"]),
            "power_w": _r6(c["power_w"]),
            "energy_per_step_j": _r6(c["energy_per_step_j"]),
            "energy_per_step_kwh": _r6(c["energy_per_step_j"] / 3.6e6),
            "energy_per_token_j": _r6(c["energy_per_token_j"]),
            "error_before_pct": _r6(c["before_energy_error_pct"]),
            "error_generic_pct": _r6(c["generic_energy_error_pct"]),
            "error_after_pct": _r6(c["after_energy_error_pct"]),
            "generic_mfu": _r6(c["generic_mfu"]),
            "job_default_mfu": _r6(job_mfu),
            "precision_energy_ratio": _r6(ratio),
            "job_facility_energy_before_mwh": _r6(e["before"]),
            "job_facility_energy_after_mwh": _r6(e["after"]),
            "job_energy_change_pct": _r6(e["change_pct"]),
        }


def pct(x: float) -> str:
    """A signed percentage with one decimal, without a "-0.0"."""
    v = round(float(x), 1)
    return f"{v + 0.0:+.1f} %"


def _off_by(err_pct: float) -> str:
    return "matched the measurement within 0.1 %" if abs(err_pct) < 0.05 else f"was off by {pct(err_pct)}"


def fmt_count(n: float) -> str:
    """7e9 -> "7 billion", 3.68896e8 -> "369 million"."""
    n = float(n)
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if abs(n) >= scale:
            return f"{n / scale:,.3g} {word}"
    return f"{n:,.0f}"


def _r6(x) -> float | None:
    """:func:`~joulebook.core.util.round6`, with -0.0 written as 0.0."""
    v = round6(x)
    return 0.0 if v == 0 else v


def report_metrics(parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the notebook's last cell writes, computed directly from the report parameters."""
    return MeasurementStory(report_scenario(**dict(parameters or {}))).metrics()
