"""Story: precision tuning for training energy (``notebooks/40_precision_tuning.ipynb``).

The report's parameters (:func:`check`), its computed frames (:func:`frames`: every precision on every
accelerator, the schedules, the fp8-share sweep, the energy timeline, the where-savings-stop sweep and
the measured H100 points, all from :mod:`joulebook.models.precision`), the finding and key-figure tiles
(:func:`finding`), prose written from the computed values, display tables with names and units, alt text
for the figures, and the metrics (:func:`metrics`, :func:`metrics_for`).

The headline gives the range the page shows: on the probe's configuration the low end is the Amdahl
bound from our measured bf16 step (only the matmuls sped up by the measured fp8/bf16 rates), the high
end the model's figure (:func:`saving_ranges`); elsewhere it says that no measured bound exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import number
from joulebook.display import tables
from joulebook.models import precision as model
from joulebook.models import training

PARAMETERS = ("params", "layers", "hidden", "seq_len", "batch", "tokens", "accelerator", "accelerators", "count",
              "region", "schedule", "baseline", "sweep_hiddens", "sweep_batches")
TITLE = "Precision tuning: dynamic precision for energy savings"


# --------------------------------------------------------------------------- parameters

def check(*, params, layers, hidden, seq_len, batch, tokens, accelerator, accelerators, count, region, schedule,
          baseline, sweep_hiddens, sweep_batches) -> dict[str, Any]:
    """Check the notebook's parameters (each error names the parameter); returns them cleaned (the job)."""
    model.check_job(params, tokens, batch, seq_len, layers, hidden, count)
    acc = data.accelerator(accelerator).accelerator_id
    accs = model.accelerator_ids(accelerators)
    if acc not in accs:
        accs = [acc, *accs]
    reg = data.region(region).region_id if region else None
    sc = model.parse_schedule(schedule)
    base = data.normalise_precision(baseline)
    for p in sc.precisions() + [base]:
        if not data.accelerator(acc).supports(p):
            raise InputError("schedule" if p != base else "baseline", f"{acc} does not support {p}")
    if not isinstance(sweep_hiddens, (list, tuple)) or not sweep_hiddens:
        raise InputError("sweep_hiddens", "give a non-empty list of model widths")
    if not isinstance(sweep_batches, (list, tuple)) or not sweep_batches:
        raise InputError("sweep_batches", "give a non-empty list of batch sizes")
    for h in sweep_hiddens:
        number("sweep_hiddens", h, strictly_positive=True, integer=True)
    for b in sweep_batches:
        number("sweep_batches", b, strictly_positive=True, integer=True)
    return {"params": float(params), "layers": int(layers), "hidden": int(hidden), "seq_len": int(seq_len),
            "batch": int(batch), "tokens": float(tokens), "accelerator": acc, "accelerators": accs, "count": int(count),
            "region": reg, "schedule": sc.spec, "baseline": base, "sweep_hiddens": [int(h) for h in sweep_hiddens],
            "sweep_batches": [int(b) for b in sweep_batches]}


def _job(parameters: Mapping[str, Any]) -> dict[str, Any]:
    require_parameters(parameters, PARAMETERS)
    return check(**dict(parameters))


# --------------------------------------------------------------------------- names a reader uses

def schedule_name(spec: Any) -> str:
    """A schedule as a reader says it: ``fp8:0.9,bf16:0.1`` -> ``90% fp8, 10% bf16``; one phase: ``all fp8``."""
    sc = model.parse_schedule(spec)
    if len(sc.phases) == 1:
        return f"all {sc.phases[0][0]}"
    return ", ".join(f"{fmt.number(100 * s)}% {p}" for p, s in sc.phases)


def _acc(accelerator_id: str) -> str:
    return tables.accelerator_name(accelerator_id)


def _pct(fraction: float) -> str:
    """``0.412`` -> ``41.2%`` (3 s.f., :func:`joulebook.core.format.percent`)."""
    return fmt.percent(fraction)


def _pct_range(lo: float, hi: float) -> str:
    """``21–41%`` (whole percent at the ends, as a headline says it)."""
    a, b = round(100 * lo), round(100 * hi)
    return f"{a}%" if a == b else f"{a}–{b}%"


# --------------------------------------------------------------------------- frames

@dataclass
class Frames:
    """Everything notebook 40 shows, computed from the checked parameters (frames, no prose)."""

    job: dict[str, Any]
    per_precision: pd.DataFrame
    schedules: pd.DataFrame
    fp8_sweep: pd.DataFrame
    timeline: pd.DataFrame
    floor: pd.DataFrame
    measured: pd.DataFrame
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)


def _unique(scheds: list[model.Schedule]) -> list[model.Schedule]:
    seen, out = set(), []
    for s in scheds:
        if s.spec not in seen:
            seen.add(s.spec)
            out.append(s)
    return out


def frames(job: Mapping[str, Any], floor: model.StepFloor | None = None) -> Frames:
    """Compute every frame of the report for a checked job (:func:`check`)."""
    p = dict(job)
    per = model.precision_frame(params=p["params"], tokens=p["tokens"], batch=p["batch"], seq_len=p["seq_len"],
                                layers=p["layers"], hidden=p["hidden"], accelerators=p["accelerators"],
                                count=p["count"], region=p["region"], floor=floor, baseline=p["baseline"])
    main = model.parse_schedule(p["schedule"])
    extra = [main]
    share = main.shares().get("fp8", 0.0)
    if share > 0 and len(main.phases) > 1:
        extra.append(model.Schedule((("fp8", share), (p["baseline"], 1 - share))))
    rest_p = p["baseline"] if p["baseline"] != "fp8" else "bf16"
    extra.append(model.Schedule((("fp8", 0.5), (rest_p, 0.5))))
    extra.append(model.Schedule((("fp8", 1.0),)))
    scheds = model.schedule_frame(per, _unique(extra), baseline=p["baseline"])
    scheds["schedule"] = scheds["spec"].map(schedule_name)
    fp8 = model.fp8_share_sweep(per, rest=rest_p, baseline=p["baseline"])
    timeline = model.schedule_timeline(per, main, p["accelerator"], baseline=p["baseline"])
    fl = model.floor_sweep(accelerator=p["accelerator"], layers=p["layers"], hiddens=p["sweep_hiddens"],
                           batches=p["sweep_batches"], seq_len=p["seq_len"], count=1, floor=floor)
    meas = model.model_vs_measured(floor)
    est = training.estimate_training(params=p["params"], tokens=p["tokens"], accelerator=p["accelerator"],
                                     count=p["count"], precision=p["baseline"], region=p["region"],
                                     batch=p["batch"], seq_len=p["seq_len"], layers=p["layers"], hidden=p["hidden"])
    assumptions = est.assumptions.merge(model.floor_assumptions(floor))
    assumptions.add("schedule", schedule_name(main), "share of steps per precision", "user", "phases in order", True)
    src = list(dict.fromkeys([*est.source_ids, "joulebook_h100_probe1", "korthikanti_2022", "rajbhandari_zero_2020",
                              "joulebook_precision_roi_assumptions"]))
    for a in p["accelerators"]:
        src.append(data.accelerator(a).source_id)
        src.append(data.efficiency(a, "bf16", "train")[3])
    return Frames(p, per, scheds, fp8, timeline, fl, meas, assumptions, list(dict.fromkeys(src)))


def focus(fr: Frames) -> pd.DataFrame:
    """The rows of the accelerator the schedules are computed for."""
    return fr.per_precision[fr.per_precision["accelerator"] == fr.job["accelerator"]]


def _row(fr: Frames, precision: str) -> pd.Series | None:
    f = focus(fr)
    hit = f[f["precision"] == precision]
    return None if hit.empty else hit.iloc[0]


def schedule_row(fr: Frames) -> pd.Series:
    s = fr.schedules
    return s[(s["accelerator"] == fr.job["accelerator"]) & (s["spec"] == fr.job["schedule"])].iloc[0]


def collapse(fr: Frames) -> dict[int, int | None]:
    """Per sweep width: the smallest batch at which fp8 keeps half of its compute-only saving (None: never)."""
    return {h: model.collapse_batch(fr.floor, h) for h in fr.job["sweep_hiddens"]}


def probe_job(job: Mapping[str, Any]) -> bool:
    """Whether the job is the probe's configuration (same accelerator, model shape and batch per accelerator),
    so that the measured Amdahl bound applies to it."""
    cfg = model.PROBE_CONFIG
    return (job["accelerator"] == cfg["accelerator"] and int(job["layers"]) == cfg["layers"]
            and int(job["hidden"]) == cfg["hidden"] and int(job["seq_len"]) == cfg["seq_len"]
            and job["batch"] / job["count"] == cfg["batch"] / cfg["count"])


def fp8_bound_saving(fr: Frames) -> float | None:
    """All-fp8 saving against the measured bf16 step under the Amdahl bound (only the matmuls sped up by the
    measured fp8/bf16 rates, at the bf16 power): the pessimistic end. ``None`` off the probe's configuration."""
    m = fr.measured
    amd = m[m["basis"] == "Amdahl bound"]
    bf = m[(m["precision"] == "bf16") & m["measured_energy_per_step_j"].notna()]
    if not probe_job(fr.job) or amd.empty or bf.empty:
        return None
    return float(1 - amd["model_energy_per_step_j"].iloc[0] / bf["measured_energy_per_step_j"].iloc[0])


def saving_ranges(fr: Frames) -> dict[str, tuple[float, float] | None]:
    """(bound, model) energy savings against the baseline for the schedule and for all-fp8. Energy is linear in
    the shares, so the schedule's bound replaces only its fp8 share's saving. ``None`` where there is no measured
    bound for this job (then only the model figure is known)."""
    fp8 = _row(fr, "fp8")
    bound = fp8_bound_saving(fr)
    if fp8 is None or bound is None or fr.job["baseline"] != "bf16":
        return {"schedule": None, "fp8": None}
    r = schedule_row(fr)
    share = model.parse_schedule(r["spec"]).shares().get("fp8", 0.0)
    mod = float(fp8["energy_saving_vs_baseline"])
    low = float(r["energy_saving_vs_baseline"]) - share * (mod - bound)
    return {"schedule": (low, float(r["energy_saving_vs_baseline"])), "fp8": (bound, mod)}


# --------------------------------------------------------------------------- the finding

def finding(fr: Frames) -> tuple[str, list[tuple[str, ...]]]:
    """The answer first: (headline, key-figure tiles). A range where the page shows a range."""
    job = fr.job
    r = schedule_row(fr)
    fp8 = _row(fr, "fp8")
    base = _row(fr, job["baseline"])
    base_label = model.LABELS[job["baseline"]]
    rng = saving_ranges(fr)
    name = schedule_name(r["spec"])
    where = f"On {_acc(job['accelerator'])}"
    tiles: list[tuple[str, ...]] = []
    if rng["schedule"] is not None:
        lo, hi = rng["schedule"]
        flo, fhi = rng["fp8"]
        head = (f"{where}, the schedule {name} saves {_pct_range(lo, hi)} of the training energy against "
                f"{base_label}; all-fp8 saves {_pct_range(flo, fhi)}. The low end is the Amdahl bound from our "
                "measured bf16 step (only the matmuls sped up), the high end the model.")
        tiles.append((f"Saving of {name}", _pct_range(lo, hi), f"against {base_label}; bound–model"))
        tiles.append(("Saving of all-fp8", _pct_range(flo, fhi), "bound–model"))
    elif r["supported"]:
        head = (f"{where}, the schedule {name} saves {_pct(r['energy_saving_vs_baseline'])} of the training energy "
                f"against {base_label} by the model")
        if fp8 is not None:
            head += f" (all-fp8: {_pct(fp8['energy_saving_vs_baseline'])})"
        head += "; no measured bound exists for this configuration, so this is the optimistic end."
        tiles.append((f"Saving of {name}", _pct(r["energy_saving_vs_baseline"]), "model only, optimistic"))
        if fp8 is not None:
            tiles.append(("Saving of all-fp8", _pct(fp8["energy_saving_vs_baseline"]), "model only, optimistic"))
    else:
        head = f"{where}, the schedule {name} uses a precision the accelerator does not support."
    coll = collapse(fr).get(job["hidden"])
    if coll is not None and coll > min(job["sweep_batches"]):
        head += f" At width {job['hidden']} the saving collapses below batch {coll} per accelerator."
    if base is not None:
        tiles.append((f"{base_label} training energy", fmt.quantity(base["facility_energy_kwh"], "kWh"),
                      f"{fmt.number(base['wall_clock_hours'])} h on {job['count']} accelerators"))
    tiles.append((f"Energy of {name}", fmt.quantity(r["facility_energy_kwh"], "kWh"),
                  f"{fmt.quantity(r['emissions_kg'], 'kg CO2e')}" if not fmt.is_missing(r["emissions_kg"]) else ""))
    return head, tiles[:4]


# --------------------------------------------------------------------------- prose

def job_md(fr: Frames) -> str:
    p = fr.job
    f = focus(fr).set_index("precision")
    base = p["baseline"]
    parts = []
    for prec in model.PRECISIONS:
        if prec in f.index:
            r = f.loc[prec]
            parts.append(f"{model.LABELS[prec]} {fmt.quantity(r['facility_energy_kwh'], 'kWh')} in "
                         f"{fmt.number(r['wall_clock_hours'])} h")
    least = f["facility_energy_kwh"].idxmin()
    region = tables.region_name(p["region"]) if p["region"] else "an unspecified region"
    text = (f"Training {fmt.count(p['params'])} parameters on {fmt.count(p['tokens'])} tokens with {p['count']} × "
            f"{_acc(p['accelerator'])} in {region}: " + "; ".join(parts) + ". ")
    if least != base and base in f.index:
        text += (f"The least energy is used in **{model.LABELS[least]}**, "
                 f"{_pct(f.loc[least, 'energy_saving_vs_baseline'])} less than {model.LABELS[base]}")
    else:
        text += f"**{model.LABELS[least]}** uses the least energy"
    if "fp32" in f.index and base in f.index:
        text += (f"; fp32 would use {fmt.ratio(f.loc['fp32', 'facility_energy_kwh'] / f.loc[base, 'facility_energy_kwh'])}"
                 f" the energy of {model.LABELS[base]}")
    power = f["accelerator_power_w"]
    span = (f"{fmt.number(power.min())} W" if round(power.min()) == round(power.max()) else
            f"{fmt.number(power.min())}–{fmt.number(power.max())} W")
    text += f". The modelled accelerator power is {span} in every precision: the saving is time, not power."
    return text + " " + basis_md(fr)


def basis_md(fr: Frames) -> str:
    """Which MFU basis the comparison uses and which accelerators are low confidence."""
    f = fr.per_precision
    band = sorted(set(f["mfu_scale_band"]))
    low = sorted(set(f.loc[f["mfu_low_confidence"].astype(bool), "accelerator"]))
    what = ("our H100 probe's MFU per precision (a probe-sized model)" if band == ["probe"] else
            "the published-run prior of each accelerator's generation")
    text = (f"Every accelerator and precision uses one MFU basis for this model size and count: {what} "
            f"(scale band {', '.join(band)}).")
    if low:
        text += (" Low confidence (no MFU measured or published on their generation, transferred): "
                 f"{', '.join(map(_acc, low))}.")
    return text


def measured_md(fr: Frames) -> str:
    m = fr.measured
    meas = m[m["measured_energy_per_step_j"].notna()]
    if meas.empty:
        return "No measured points are available for this configuration."
    pw = meas["measured_power_w"]
    ratios = meas["energy_ratio_model_to_measured"]
    text = (f"On our H100 the 369M-parameter GPT step took {fmt.number(meas['measured_energy_per_step_j'].max())} J in "
            f"the slowest and {fmt.number(meas['measured_energy_per_step_j'].min())} J in the fastest measured "
            f"precision, while the mean power stayed between {fmt.number(pw.min())} and {fmt.number(pw.max())} W: the "
            f"energy fell with the step time at near-constant power. The model is within "
            f"{_pct(abs(ratios - 1).max())} of each measured point (its central MFU comes from these runs, so this "
            "checks the power model, not the MFU).")
    fp8 = m[(m["precision"] == "fp8") & (m["basis"] == "model")]
    amd = m[m["basis"] == "Amdahl bound"]
    bf = meas[meas["precision"] == "bf16"]
    if not fp8.empty and not amd.empty and not bf.empty:
        e_bf = bf["measured_energy_per_step_j"].iloc[0]
        e_fp8, e_amd = fp8["model_energy_per_step_j"].iloc[0], amd["model_energy_per_step_j"].iloc[0]
        text += (f" fp8 was not measured in training: the model (fp8 MFU derived from the bf16 MFU and the measured "
                 f"matmul rates) gives {fmt.number(e_fp8)} J per step, {_pct(1 - e_fp8 / e_bf)} below bf16; if only "
                 f"the matmuls sped up (Amdahl bound from the measurements) the step would take {fmt.number(e_amd)} J, "
                 f"{_pct(1 - e_amd / e_bf)} below bf16. The truth for a model this small lies between the two.")
    return text


def schedule_md(fr: Frames) -> str:
    p = fr.job
    r = schedule_row(fr)
    base = p["baseline"]
    if not r["supported"]:
        return f"The schedule {schedule_name(p['schedule'])} uses a precision {_acc(p['accelerator'])} does not support."
    sweep = fr.fp8_sweep[fr.fp8_sweep["accelerator"] == p["accelerator"]].sort_values("fp8_share")
    full = sweep["energy_saving_vs_baseline"].iloc[-1]
    verdict = "saves" if r["energy_saving_vs_baseline"] > 0 else "costs"
    text = (f"The schedule **{schedule_name(r['spec'])}** {verdict} {_pct(abs(r['energy_saving_vs_baseline']))} of "
            f"the facility energy of an all-{model.LABELS[base]} run on {_acc(p['accelerator'])} "
            f"({fmt.quantity(abs(r['energy_saved_kwh']), 'kWh')}, {fmt.quantity(abs(r['emissions_saved_kg']), 'kg CO2e')}, "
            f"{fmt.money(abs(r['cost_saved_usd']))} of electricity) and {_pct(abs(r['time_saving_vs_baseline']))} of "
            "the wall-clock time. ")
    if np.isfinite(full):
        text += (f"Running every step in fp8 would save {_pct(full)}; each 10 points of fp8 share are worth "
                 f"{_pct(full / 10)}. ")
    rng = saving_ranges(fr)
    if rng["schedule"] is not None:
        text += (f"These are the model's figures, the optimistic end: if only the matmuls sped up (the Amdahl bound "
                 f"from our measured bf16 step) the schedule would save {_pct(rng['schedule'][0])} and all-fp8 "
                 f"{_pct(rng['fp8'][0])}. ")
    text += ("Keeping a higher precision for the last phase costs exactly its share of that saving: energy is linear "
             "in the shares; whether the final phase is needed for accuracy is a question this model does not answer.")
    return text


def floor_md(fr: Frames) -> str:
    p = fr.job
    f = fr.floor
    parts = []
    for h, b in collapse(fr).items():
        rows = f[f["hidden"] == h]
        top = rows["compute_only_saving"].max()
        if b is None:
            parts.append(f"width {h}: fp8 never reaches half of its compute-only saving ({_pct(top)}) in the "
                         "batches swept")
        elif b == rows["batch"].min():
            parts.append(f"width {h}: the saving holds down to batch {b}")
        else:
            parts.append(f"width {h}: below batch {b} the saving falls under half of its compute-only {_pct(top)}")
    bound = focus(fr).set_index("precision")["bound"].to_dict()
    return ("**Where savings stop.** The step time is the largest of the compute time, the memory time (bytes moved / "
            "bandwidth) and the host time (kernel launches); only the compute time shrinks with the precision. "
            + "; ".join(parts) + ". "
            + f"For this job (batch {p['batch']}, width {p['hidden']}) the steps are "
            + ", ".join(f"{model.LABELS[k]} {v}-bound" for k, v in bound.items()) + ".")


# --------------------------------------------------------------------------- display tables

def _range(lo, hi) -> str:
    if fmt.is_missing(lo) or fmt.is_missing(hi):
        return fmt.MISSING
    a, b = fmt.number(lo), fmt.number(hi)
    return a if a == b else f"{a}–{b}"


def step_table(fr: Frames) -> tables.Table:
    """Per step and per job, every accelerator and precision."""
    f = fr.per_precision.copy()
    text = f["mfu_basis"].astype(str)
    f["basis"] = text.where(~f["mfu_low_confidence"].astype(bool), text + " (low confidence)")
    f["step_ms"] = f["step_time_s"] * 1e3
    f["energy_range"] = [_range(a, b) for a, b in zip(f["facility_energy_kwh_low"], f["facility_energy_kwh_high"],
                                                      strict=True)]
    f["vs_base"] = 1.0 - f["energy_saving_vs_baseline"]
    base = model.LABELS[fr.job["baseline"]]
    return tables.table(f, {"accelerator": "Accelerator", "label": "Precision", "basis": "MFU basis", "bound": "Bound",
                            "step_ms": "Step time (ms)", "energy_per_step_j": "Energy per step (J)",
                            "wall_clock_hours": "Wall clock (h)", "facility_energy_kwh": "Facility energy (kWh)",
                            "energy_range": "Energy range (kWh)", "emissions_kg": "Emissions (kg CO2e)",
                            "vs_base": f"Energy against {base} (×)"},
                        kinds={"basis": "text", "energy_range": "text"},
                        caption="Per step and for the whole job (facility energy includes PUE)")


def schedule_table(fr: Frames) -> tables.Table:
    s = fr.schedules[fr.schedules["accelerator"] == fr.job["accelerator"]].copy()
    base = model.LABELS[fr.job["baseline"]]
    return tables.table(s, {"schedule": "Schedule", "facility_energy_kwh": "Facility energy (kWh)",
                            "wall_clock_hours": "Wall clock (h)", "emissions_kg": "Emissions (kg CO2e)",
                            "electricity_cost_usd": "Electricity (USD)",
                            "energy_saving_vs_baseline": f"Saving against all-{base} (%)",
                            "energy_saved_kwh": "Energy saved (kWh)"},
                        kinds={"energy_saving_vs_baseline": "percent"},
                        caption=f"Schedules on {_acc(fr.job['accelerator'])} against all-{base} (the model's figures)")


def measured_table(fr: Frames) -> tables.Table:
    m = fr.measured.copy()
    m["measured_ms"] = m["measured_step_time_s"] * 1e3
    m["model_ms"] = m["model_step_time_s"] * 1e3
    m["model_range"] = [_range(a, b) for a, b in zip(m["model_energy_per_step_j_low"], m["model_energy_per_step_j_high"],
                                                     strict=True)]
    return tables.table(m, {"label": "Precision", "basis": "Basis", "measured_ms": "Measured step (ms)",
                            "model_ms": "Model step (ms)", "measured_energy_per_step_j": "Measured energy (J per step)",
                            "model_energy_per_step_j": "Model energy (J per step)",
                            "model_range": "Model range (J per step)", "measured_power_w": "Measured power (W)",
                            "model_power_w": "Model power (W)",
                            "energy_ratio_model_to_measured": "Model / measured energy (×)"},
                        kinds={"model_range": "text"},
                        caption="369M-parameter GPT training step on one H100: measured and modelled "
                                "(accelerator energy, as the NVML counter sees it)")


# --------------------------------------------------------------------------- chart frames and alt text

def energy_by_precision(fr: Frames) -> pd.DataFrame:
    """Facility kWh, accelerators (by name) down, precisions across (for a grouped bar chart)."""
    f = fr.per_precision.assign(name=fr.per_precision["accelerator"].map(_acc))
    wide = f.pivot(index="name", columns="label", values="facility_energy_kwh").reindex(
        index=list(dict.fromkeys(f["name"])),
        columns=[model.LABELS[p] for p in model.PRECISIONS if model.LABELS[p] in set(f["label"])])
    wide.index.name, wide.columns.name = None, None
    return wide


def energy_alt(fr: Frames) -> str:
    f = focus(fr)
    return (f"Grouped horizontal bars of facility training energy (kWh, log scale) per accelerator and precision; on "
            f"{_acc(fr.job['accelerator'])}: " + ", ".join(f"{r['label']} {fmt.quantity(r['facility_energy_kwh'], 'kWh')}"
                                                           for _, r in f.iterrows()) + ".")


def measured_chart(fr: Frames) -> pd.DataFrame:
    """Model and measured accelerator J per step, by precision (for a grouped bar chart)."""
    m = fr.measured
    return pd.DataFrame({"model": m["model_energy_per_step_j"].to_numpy(),
                         "measured (NVML counter)": m["measured_energy_per_step_j"].to_numpy()},
                        index=[lab.replace(" (", "\n(") for lab in m["label"]])


def measured_alt(fr: Frames) -> str:
    m = fr.measured
    return ("Bars of accelerator energy per training step, model next to measurement: " + "; ".join(
        f"{r['label']} model {fmt.number(r['model_energy_per_step_j'])} J"
        + (f", measured {fmt.number(r['measured_energy_per_step_j'])} J"
           if not fmt.is_missing(r["measured_energy_per_step_j"]) else ", not measured")
        for _, r in m.iterrows()) + ".")


def sweep_chart(fr: Frames) -> pd.DataFrame:
    """Energy saving (percent) by fp8 share, one column per accelerator with fp8 (by name)."""
    has_fp8 = [a for a in fr.job["accelerators"] if data.accelerator(a).supports("fp8")]
    f = fr.fp8_sweep[fr.fp8_sweep["accelerator"].isin(has_fp8)]
    wide = f.pivot(index="fp8_share", columns="accelerator", values="energy_saving_vs_baseline") * 100
    wide = wide[[a for a in has_fp8 if a in wide.columns]].rename(columns=_acc)
    wide.index = wide.index * 100
    wide.index.name, wide.columns.name = None, None
    return wide


def sweep_alt(fr: Frames) -> str:
    w = sweep_chart(fr)
    return (f"Lines of the energy saving against {model.LABELS[fr.job['baseline']]} (%) by the share of steps in fp8 "
            "(0 to 100%), one line per accelerator with fp8; at 100% fp8: "
            + ", ".join(f"{c} {fmt.number(w[c].iloc[-1])}%" for c in w.columns) + ". The saving grows linearly.")


def timeline_chart(fr: Frames) -> pd.DataFrame:
    t = fr.timeline
    return pd.DataFrame({f"all {model.LABELS[fr.job['baseline']]}": t["baseline_energy_kwh"].to_numpy(),
                         schedule_name(fr.job["schedule"]): t["schedule_energy_kwh"].to_numpy()},
                        index=pd.Index(t["progress"].to_numpy() * 100, name=None))


def timeline_alt(fr: Frames) -> str:
    t = fr.timeline
    return (f"Cumulative facility energy (kWh) through the run for all-{model.LABELS[fr.job['baseline']]} and "
            f"{schedule_name(fr.job['schedule'])}: at the end {fmt.quantity(t['baseline_energy_kwh'].iloc[-1], 'kWh')} "
            f"against {fmt.quantity(t['schedule_energy_kwh'].iloc[-1], 'kWh')}.")


def floor_pivot(fr: Frames) -> pd.DataFrame:
    """Energy saving of fp8 against bf16 per step (percent): batch down, one column per width."""
    f = fr.floor
    wide = (f.pivot(index="batch", columns="hidden", values="energy_saving") * 100).rename(
        columns=lambda h: f"width {int(h)}")
    wide.index.name, wide.columns.name = None, None
    return wide


def floor_alt(fr: Frames) -> str:
    w = floor_pivot(fr)
    return ("Lines of the fp8 saving against bf16 per step (%) by sequences per accelerator (log scale), one line per "
            "model width: " + "; ".join(f"{c} from {fmt.number(w[c].iloc[0])}% at batch {int(w.index[0])} to "
                                        f"{fmt.number(w[c].iloc[-1])}% at batch {int(w.index[-1])}"
                                        for c in w.columns) + ".")


# --------------------------------------------------------------------------- provenance

def parameters_table(job: Mapping[str, Any]) -> tables.Table:
    shown = {"params": fmt.count(job["params"]), "layers": fmt.number(job["layers"]), "hidden": fmt.number(job["hidden"]),
             "seq_len": fmt.number(job["seq_len"]), "batch": fmt.number(job["batch"]), "tokens": fmt.count(job["tokens"]),
             "accelerator": _acc(job["accelerator"]), "accelerators": ", ".join(map(_acc, job["accelerators"])),
             "count": fmt.number(job["count"]), "region": tables.region_name(job["region"]) if job["region"] else "none",
             "schedule": schedule_name(job["schedule"]), "baseline": model.LABELS[job["baseline"]],
             "sweep_hiddens": ", ".join(map(str, job["sweep_hiddens"])),
             "sweep_batches": ", ".join(map(str, job["sweep_batches"]))}
    df = pd.DataFrame({"parameter": list(shown), "value": list(shown.values())})
    return tables.table(df, {"parameter": "Parameter", "value": "Value"}, caption="Parameters of this run")


def assumptions_table(fr: Frames) -> tables.Table:
    return tables.assumptions_table(fr.assumptions.to_frame())


def sources_table(fr: Frames) -> tables.Table:
    src = data.sources_for(fr.source_ids)
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


# --------------------------------------------------------------------------- metrics

def metrics(fr: Frames) -> dict[str, Any]:
    """The report's ``metrics.json``: finding, key figures and the savings with their bounds."""
    job = fr.job
    r = schedule_row(fr)
    fp8 = _row(fr, "fp8")
    base = _row(fr, job["baseline"])
    fp32 = _row(fr, "fp32")
    meas = fr.measured[(fr.measured["basis"] == "model") & (fr.measured["precision"] == "bf16")]
    rng = saving_ranges(fr)
    name = schedule_name(r["spec"])
    figs = [{"label": f"{name} saving vs {job['baseline']}" + (" (model, optimistic)" if rng["schedule"] else ""),
             "value": round6(100 * r["energy_saving_vs_baseline"]), "unit": "%"}]
    if rng["schedule"] is not None:
        figs.append({"label": f"{name} saving (Amdahl bound)", "value": round6(100 * rng["schedule"][0]), "unit": "%"})
    figs.append({"label": f"{job['baseline']} training energy", "value": round6(base["facility_energy_kwh"]),
                 "unit": "kWh"})
    if fp8 is not None:
        figs.append({"label": "all-fp8 saving" + (" (model, optimistic)" if rng["fp8"] else ""),
                     "value": round6(100 * fp8["energy_saving_vs_baseline"]), "unit": "%"})
    headline, _ = finding(fr)
    return {
        "title": TITLE,
        "finding": headline,
        "key_figures": figs[:4],
        "accelerator": job["accelerator"],
        "schedule": r["spec"],
        "schedule_energy_kwh": round6(r["facility_energy_kwh"]),
        "schedule_saving_fraction": round6(r["energy_saving_vs_baseline"]),
        "schedule_saving_fraction_bound": round6(rng["schedule"][0]) if rng["schedule"] is not None else None,
        "fp8_saving_fraction_bound": round6(rng["fp8"][0]) if rng["fp8"] is not None else None,
        "baseline_energy_kwh": round6(base["facility_energy_kwh"]),
        "baseline_step_time_s": round6(base["step_time_s"]),
        "fp8_saving_fraction": round6(fp8["energy_saving_vs_baseline"]) if fp8 is not None else None,
        "fp32_energy_kwh": round6(fp32["facility_energy_kwh"]) if fp32 is not None else None,
        "bf16_model_to_measured_energy": round6(meas["energy_ratio_model_to_measured"].iloc[0]) if len(meas) else None,
        "collapse_batch_by_width": {str(h): b for h, b in collapse(fr).items()},
    }


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics.json`` straight from the notebook's parameters (every name of the parameters cell)."""
    return metrics(frames(_job(parameters)))
