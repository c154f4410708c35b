"""Training precision: fp32, tf32, bf16 mixed and fp8 mixed, and schedules that mix them.

Where the savings come from
    Energy = time x power. On our H100 probe a GPT training step drew 699 W in fp32,
    685 W in tf32 and 688 W in bf16 against a 700 W cap (``data/measured``): a lower
    precision does not lower the power, it shortens the step. So the energy of a step
    follows its time, and the time follows 1 / (peak(precision) x MFU) -- the training
    model (:mod:`joulebook.models.training`) with a per-precision MFU.

Where they stop: a per-step floor
    A step cannot be shorter than the time to move its bytes through memory, nor than
    the time the host needs to launch its kernels. Neither shrinks much with the
    arithmetic precision, so when a step is that short the precision no longer matters::

        t_step    = max(t_compute, t_memory, t_host)
        t_compute = FLOPs per step / (count x peak(precision) x MFU)       (training model)
        t_memory  = bytes per step and accelerator / (bandwidth x memory_efficiency)
        bytes     = params x state_bytes_per_param_step(precision)          (weights, grads, AdamW)
                  + tokens per step and accelerator x layers x hidden
                    x activation_bytes_per_token_layer_hidden (34, Korthikanti et al.)
                    x activation_scale(precision) x activation_traffic_factor
        t_host    = (layers x kernels_per_layer_step + fixed_kernels_per_step) x kernel_launch_s

    Power stays at the training-load power for the whole step, also when it is
    floor-bound (a labelled simplification: memory-bound kernels draw somewhat less,
    host-bound gaps much less). Gradient communication between accelerators is not
    modelled. The floor parameters are labelled assumptions with a low/central/high
    range (:data:`FLOOR_CASES`); give a :class:`StepFloor` to override them.

Schedules
    A schedule runs a share of the steps in each precision (e.g. 90 % fp8, the last
    10 % in bf16). Every additive output (hours, energy, emissions, water, money) of a
    schedule is the share-weighted sum of the single-precision runs, so a schedule is a
    piecewise combination of rows of :func:`joulebook.models.training.estimate_training_frame`.
    Accuracy effects of a precision are not modelled here.

Model modules do no I/O and no plotting: this one returns DataFrames. The report built on it
(notebook 40: its parameters, finding, prose and display tables) is :mod:`joulebook.stories.precision`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError
from joulebook.core.validate import number
from joulebook.models import training

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8")
DEFAULT_PRECISIONS = ("fp32", "tf32", "bf16", "fp8")
LABELS = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16 mixed", "fp16": "fp16 mixed", "fp8": "fp8 mixed"}

#: bytes read or written per parameter in one step (weights, gradients, AdamW update).
#: fp32/tf32: forward and backward read the fp32 weights (4 + 4), gradients written (4),
#: AdamW reads weight, gradient, m, v (16) and writes weight, m, v (12) = 40.
#: bf16/fp16 mixed: + cast of the fp32 master to a 16-bit copy (read 4, write 2), forward and
#: backward read the copy (2 + 2), fp32 gradients (4), AdamW 28 = 42.
#: fp8 mixed: cast to an 8-bit copy (read 4, write 1), reads (1 + 1), fp32 gradients (4),
#: AdamW 28, scaling-factor bookkeeping neglected = 39.
STATE_BYTES_PER_PARAM_STEP = {"fp32": 40.0, "tf32": 40.0, "bf16": 42.0, "fp16": 42.0, "fp8": 39.0}
#: activation element size relative to the 16-bit activations of Korthikanti et al.
ACTIVATION_SCALE = {"fp32": 2.0, "tf32": 2.0, "bf16": 1.0, "fp16": 1.0, "fp8": 1.0}

#: additive outputs of the training model (a schedule's value is the share-weighted sum)
ADDITIVE_KEYS = ("accelerator_hours", "wall_clock_hours", "steps", "accelerator_energy_kwh", "it_energy_kwh",
                 "facility_energy_kwh", "emissions_kg", "embodied_emissions_kg", "water_l", "electricity_cost_usd",
                 "cloud_cost_usd", "onprem_cost_usd")
CASES = ("low", "central", "high")
_SUFFIX = {"low": "_low", "central": "", "high": "_high"}

#: the GPT configuration of our H100 probe (``data/measured/h100_calibration.csv``)
PROBE_CONFIG = {"params": 368_896_000.0, "layers": 24, "hidden": 1024, "seq_len": 1024, "batch": 8,
                "accelerator": "h100-sxm", "count": 1}


# --------------------------------------------------------------------------- the per-step floor

@dataclass(frozen=True)
class StepFloor:
    """Parameters of the per-step floor (see the module docstring). All overridable."""

    memory_efficiency: float = 0.8
    activation_bytes_per_token_layer_hidden: float = 34.0
    activation_traffic_factor: float = 2.0
    kernels_per_layer_step: float = 50.0
    fixed_kernels_per_step: float = 30.0
    kernel_launch_s: float = 10e-6
    enabled: bool = True

    def __post_init__(self):
        number("memory_efficiency", self.memory_efficiency, strictly_positive=True, maximum=1.0)
        for name in ("activation_bytes_per_token_layer_hidden", "activation_traffic_factor", "kernels_per_layer_step",
                     "fixed_kernels_per_step", "kernel_launch_s"):
            number(name, getattr(self, name), minimum=0.0)


#: favourable / central / unfavourable floors. Low: streaming kernels at 90 % of the
#: bandwidth and 2 us per launch (compiled graphs); high: 60 % and 20 us (eager, slow host).
FLOOR_CASES: dict[str, StepFloor] = {
    "low": StepFloor(memory_efficiency=0.9, kernel_launch_s=2e-6),
    "central": StepFloor(),
    "high": StepFloor(memory_efficiency=0.6, activation_traffic_factor=3.0, kernel_launch_s=20e-6),
}
FLOOR_NOTES = {
    "memory_efficiency": ("fraction of peak bandwidth", "achievable share of the memory bandwidth in streaming kernels"),
    "activation_bytes_per_token_layer_hidden": ("bytes per token, layer and unit of width",
                                                "activations stored per layer: 34 s b h bytes (16-bit; attention "
                                                "scores not stored with fused attention)"),
    "activation_traffic_factor": ("x", "activations are written in the forward pass and read in the backward pass"),
    "kernels_per_layer_step": ("kernels", "kernels launched per layer in one forward+backward (eager framework)"),
    "fixed_kernels_per_step": ("kernels", "embedding, loss and fused optimizer kernels per step"),
    "kernel_launch_s": ("s per kernel", "host time to launch one kernel (eager ~10 us; CUDA graphs ~2 us)"),
}


def floor_cases(floor: StepFloor | None = None) -> dict[str, StepFloor]:
    """The (low, central, high) floors: the labelled defaults, or ``floor`` for all three."""
    if floor is None:
        return dict(FLOOR_CASES)
    if not isinstance(floor, StepFloor):
        raise InputError("floor", f"expected a StepFloor, got {type(floor).__name__}")
    return {c: floor for c in CASES}


def floor_assumptions(floor: StepFloor | None = None) -> Assumptions:
    a = Assumptions()
    cases = floor_cases(floor)
    given = floor is not None
    for name, (unit, note) in FLOOR_NOTES.items():
        lo, mid, hi = (getattr(cases[c], name) for c in CASES)
        src = "korthikanti_2022" if name.startswith("activation_bytes") else "joulebook_precision_roi_assumptions"
        rng = "" if given else f"; low-case {lo:g}, high-case {hi:g}"
        a.add(name, mid, unit, "user" if given else src, note + rng, given)
    a.add("state_bytes_per_param_step", ", ".join(f"{k} {v:g}" for k, v in STATE_BYTES_PER_PARAM_STEP.items()),
          "bytes per parameter per step", "rajbhandari_zero_2020",
          "weights, gradients and AdamW state read/written once per step (derivation in joulebook.models.precision)")
    a.add("floor_power", "training-load power", "", "joulebook_h100_probe1",
          "power assumed near the cap for the whole step, also when floor-bound (labelled simplification)")
    return a


def transformer_params(layers, hidden, *, vocab: float = 50_304, seq_len: float = 1024):
    """Approximate GPT parameter count: 12 L d^2 + 13 L d + (vocab + seq_len) d (vectorized)."""
    L = np.asarray(layers, dtype=float)
    d = np.asarray(hidden, dtype=float)
    return 12.0 * L * d * d + 13.0 * L * d + (float(vocab) + float(seq_len)) * d


def _floor_columns(df: pd.DataFrame, floor: StepFloor, precision: np.ndarray) -> dict[str, np.ndarray]:
    n = len(df)
    params = df["params"].to_numpy(dtype=float)
    batch = df["batch"].to_numpy(dtype=float)
    seq = df["seq_len"].to_numpy(dtype=float)
    count = df["count"].to_numpy(dtype=float) if "count" in df.columns else np.ones(n)
    layers = df["layers"].to_numpy(dtype=float) if "layers" in df.columns else np.full(n, np.nan)
    hidden = df["hidden"].to_numpy(dtype=float) if "hidden" in df.columns else np.full(n, np.nan)
    accs = pd.Series(df["accelerator"]).astype(str)
    codes, uniq = pd.factorize(accs)
    bw = np.array([data.accelerator(a).memory_bandwidth_tb_per_s for a in uniq], dtype=float)[codes] * 1e12
    state = np.array([STATE_BYTES_PER_PARAM_STEP[p] for p in precision])
    act_scale = np.array([ACTIVATION_SCALE[p] for p in precision])
    tokens_per_acc = batch * seq / count
    act = tokens_per_acc * np.nan_to_num(layers) * np.nan_to_num(hidden) * floor.activation_bytes_per_token_layer_hidden \
        * act_scale * floor.activation_traffic_factor
    bytes_step = params * state + act
    t_mem = bytes_step / (bw * floor.memory_efficiency)
    t_host = (np.nan_to_num(layers) * floor.kernels_per_layer_step + floor.fixed_kernels_per_step) * floor.kernel_launch_s
    if not floor.enabled:
        t_mem = np.zeros(n)
        t_host = np.zeros(n)
    return {"bytes_per_step": bytes_step, "memory_step_time_s": t_mem, "host_step_time_s": t_host}


def step_frame(df: pd.DataFrame, floor: StepFloor | None = None) -> pd.DataFrame:
    """Training estimate with the per-step floor, one row per scenario (vectorized).

    Input: the columns of :func:`joulebook.models.training.estimate_training_frame`; ``params``,
    ``batch``, ``seq_len``, ``accelerator`` and ``precision`` are required (the floor is
    per step); ``layers`` and ``hidden`` add the activation traffic and the per-layer
    kernel launches (without them the floor counts weights and optimizer only).

    Output: the training outputs (``<key>``, ``<key>_low``, ``<key>_high``) with the step
    time raised to the floor where the floor binds, plus ``compute_step_time_s*`` (the
    training model alone), ``memory_step_time_s*``, ``host_step_time_s*``,
    ``floor_step_time_s*``, ``bytes_per_step``, ``bound`` (central case: ``compute``,
    ``memory`` or ``host``) and ``accelerator_energy_per_step_j*`` (accelerators only,
    comparable with an NVML counter).
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("scenarios", "expected a pandas DataFrame")
    for col in ("params", "batch", "seq_len", "accelerator", "precision"):
        if col not in df.columns:
            raise InputError(col, "a value is required for the per-step floor")
        if df[col].isna().any():
            raise InputError(col, "a value is required for the per-step floor (missing in some rows)")
    if "accelerator_hours" in df.columns and df["accelerator_hours"].notna().any():
        raise InputError("accelerator_hours", "the precision model derives accelerator-hours itself; leave it out")
    if len(df) == 0:
        return df.copy()
    df = df.reset_index(drop=True)
    precision = np.array([data.normalise_precision(p) for p in df["precision"].astype(str)])
    bad = [p for p in precision if p not in PRECISIONS]
    if bad:
        raise InputError("precision", f"{bad[0]} is not a training precision (one of {', '.join(PRECISIONS)})")
    df = df.assign(precision=precision)
    base = training.estimate_training_frame(df)  # validates every input; compute-bound times
    cases = floor_cases(floor)
    n = len(df)
    out = base.copy()
    count = df["count"].to_numpy(dtype=float) if "count" in df.columns else np.ones(n)
    steps = base["steps"].to_numpy(dtype=float)
    hours = {}
    for case in CASES:
        s = _SUFFIX[case]
        fl = _floor_columns(df, cases[case], precision)
        t_comp = base[f"step_time_s{s}"].to_numpy(dtype=float)
        t_floor = np.maximum(fl["memory_step_time_s"], fl["host_step_time_s"])
        t_step = np.maximum(t_comp, t_floor)
        hours[case] = steps * count * t_step / 3600.0
        out[f"compute_step_time_s{s}"] = t_comp
        out[f"memory_step_time_s{s}"] = fl["memory_step_time_s"]
        out[f"host_step_time_s{s}"] = fl["host_step_time_s"]
        out[f"floor_step_time_s{s}"] = t_floor
        if case == "central":
            out["bytes_per_step"] = fl["bytes_per_step"]
            out["bound"] = np.where(t_comp >= t_floor, "compute",
                                    np.where(fl["memory_step_time_s"] >= fl["host_step_time_s"], "memory", "host"))
    # second pass: the same scenarios with the floor-adjusted accelerator-hours, one block per case
    stacked = pd.concat([df.assign(accelerator_hours=hours[c]) for c in CASES], ignore_index=True)
    second = training.estimate_training_frame(stacked)
    for key in training.OUTPUT_KEYS:
        if key == "flops":
            continue
        for k, case in enumerate(CASES):
            s = _SUFFIX[case]
            out[f"{key}{s}"] = second[f"{key}{s}"].to_numpy()[k * n:(k + 1) * n]
    for case in CASES:
        s = _SUFFIX[case]
        out[f"accelerator_energy_per_step_j{s}"] = out[f"accelerator_energy_kwh{s}"] * 3.6e6 / out["steps"]
    return out


# --------------------------------------------------------------------------- precisions side by side

def check_job(params, tokens, batch, seq_len, layers, hidden, count) -> None:
    """Check a training job's shape (each error names the parameter)."""
    number("params", params, strictly_positive=True)
    number("tokens", tokens, strictly_positive=True)
    number("batch", batch, strictly_positive=True, integer=True)
    number("seq_len", seq_len, strictly_positive=True, integer=True)
    number("layers", layers, strictly_positive=True, integer=True, allow_none=True)
    number("hidden", hidden, strictly_positive=True, integer=True, allow_none=True)
    number("count", count, strictly_positive=True, integer=True)


def _precisions(precisions: Iterable[str]) -> list[str]:
    if isinstance(precisions, str):
        precisions = [p for p in precisions.split(",") if p.strip()]
    out = []
    for p in precisions:
        q = data.normalise_precision(p)
        if q not in PRECISIONS:
            raise InputError("precisions", f"{q} is not a training precision (one of {', '.join(PRECISIONS)})")
        if q not in out:
            out.append(q)
    if not out:
        raise InputError("precisions", "give at least one precision")
    return out


def accelerator_ids(accelerators: Iterable[str] | str) -> list[str]:
    """Canonical accelerator ids, in order, without repeats (a comma-separated string is accepted)."""
    if isinstance(accelerators, str):
        accelerators = [a for a in accelerators.split(",") if a.strip()]
    ids = []
    for a in accelerators:
        acc = data.accelerator(a).accelerator_id  # raises UnknownAcceleratorError with close matches
        if acc not in ids:
            ids.append(acc)
    if not ids:
        raise InputError("accelerators", "give at least one accelerator")
    return ids


def precision_frame(*, params: float, tokens: float, batch: int, seq_len: int, layers: int | None = None,
                    hidden: int | None = None, accelerators: Iterable[str] | str = ("h100-sxm",),
                    precisions: Iterable[str] | str = DEFAULT_PRECISIONS, count: int = 1, region: str | None = None,
                    mfu: Mapping[str, float] | None = None, floor: StepFloor | None = None,
                    baseline: str = "bf16", **extra: Any) -> pd.DataFrame:
    """One training job at every precision each accelerator supports (one row each).

    Adds ``label``, ``speedup_vs_baseline`` and ``energy_saving_vs_baseline`` (share of the
    facility energy saved against the same accelerator at ``baseline``; NaN where the
    accelerator does not support the baseline). ``mfu`` maps precision -> MFU override.
    ``extra``: further columns for the training model (``pue``, ``price_usd_per_kwh``...).
    """
    check_job(params, tokens, batch, seq_len, layers, hidden, count)
    accs = accelerator_ids(accelerators)
    precs = _precisions(precisions)
    base_p = data.normalise_precision(baseline)
    mfu = dict(mfu or {})
    for k, v in mfu.items():
        number(f"mfu[{k}]", v, strictly_positive=True, maximum=1.0)
    mfu = {data.normalise_precision(k): float(v) for k, v in mfu.items()}
    rows = []
    for a in accs:
        acc = data.accelerator(a)
        for p in precs:
            if acc.supports(p):
                rows.append({"accelerator": a, "precision": p})
    if not rows:
        raise InputError("precisions", f"none of {', '.join(precs)} is supported by {', '.join(accs)}")
    df = pd.DataFrame(rows)
    df = df.assign(params=float(params), tokens=float(tokens), batch=float(batch), seq_len=float(seq_len),
                   count=float(count), region=region or "")
    if layers is not None and hidden is not None:
        df = df.assign(layers=float(layers), hidden=float(hidden))
    if mfu:
        df["mfu"] = df["precision"].map(mfu).astype(float)
    for k, v in extra.items():
        df[k] = v
    out = step_frame(df, floor)
    out.insert(2, "label", out["precision"].map(LABELS))
    return add_savings(out, baseline=base_p)


def add_savings(frame: pd.DataFrame, baseline: str = "bf16", key: str = "facility_energy_kwh") -> pd.DataFrame:
    """Speed-up and energy saving of every row against the same accelerator at ``baseline`` precision."""
    base_p = data.normalise_precision(baseline)
    ref = frame[frame["precision"] == base_p].set_index("accelerator")
    e_ref = frame["accelerator"].map(ref[key])
    t_ref = frame["accelerator"].map(ref["step_time_s"])
    out = frame.copy()
    out["baseline"] = base_p
    out["speedup_vs_baseline"] = t_ref / frame["step_time_s"]
    out["energy_saving_vs_baseline"] = 1.0 - frame[key] / e_ref
    return out


# --------------------------------------------------------------------------- schedules

@dataclass(frozen=True)
class Schedule:
    """Phases in order: (precision, share of the steps). Shares are >= 0 and add up to 1."""

    phases: tuple[tuple[str, float], ...]
    name: str = ""

    def __post_init__(self):
        if not self.phases:
            raise InputError("schedule", "a schedule needs at least one phase")
        total = 0.0
        for p, s in self.phases:
            q = data.normalise_precision(p)
            if q not in PRECISIONS:
                raise InputError("schedule", f"{q} is not a training precision (one of {', '.join(PRECISIONS)})")
            number(f"schedule share of {q}", s, minimum=0.0, maximum=1.0)
            total += float(s)
        if abs(total - 1.0) > 1e-9:
            raise InputError("schedule", f"phase shares add up to {total:g}, not 1")
        object.__setattr__(self, "phases", tuple((data.normalise_precision(p), float(s)) for p, s in self.phases))
        if not self.name:
            object.__setattr__(self, "name", self.spec)

    @property
    def spec(self) -> str:
        return ",".join(f"{p}:{s:g}" for p, s in self.phases)

    def shares(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p, s in self.phases:
            out[p] = out.get(p, 0.0) + s
        return out

    def precisions(self) -> list[str]:
        return [p for p, s in self.shares().items() if s > 0]


def parse_schedule(spec: Any, name: str = "") -> Schedule:
    """A :class:`Schedule` from ``"fp8:0.9,bf16:0.1"``, ``"bf16"``, a dict or (precision, share) pairs."""
    if isinstance(spec, Schedule):
        return spec if not name else replace(spec, name=name)
    if isinstance(spec, str):
        parts = [x.strip() for x in spec.split(",") if x.strip()]
        if not parts:
            raise InputError("schedule", "empty schedule")
        phases = []
        for part in parts:
            if ":" in part:
                p, s = part.split(":", 1)
                try:
                    share = float(s)
                except ValueError:
                    raise InputError("schedule", f"share {s!r} in {part!r} is not a number") from None
            elif len(parts) == 1:
                p, share = part, 1.0
            else:
                raise InputError("schedule", f"phase {part!r} needs a share (precision:share)")
            phases.append((p.strip(), share))
        return Schedule(tuple(phases), name)
    if isinstance(spec, Mapping):
        return Schedule(tuple((str(k), v) for k, v in spec.items()), name)
    if isinstance(spec, Sequence):
        try:
            return Schedule(tuple((str(p), s) for p, s in spec), name)
        except (TypeError, ValueError):
            raise InputError("schedule", "expected (precision, share) pairs") from None
    raise InputError("schedule", f"cannot read a schedule from {type(spec).__name__}")


def schedule_frame(per_precision: pd.DataFrame, schedules: Schedule | str | Iterable[Any],
                   baseline: str = "bf16") -> pd.DataFrame:
    """Every schedule on every accelerator of ``per_precision`` (output of :func:`precision_frame`).

    Additive outputs are share-weighted sums of the single-precision rows (one matrix
    product, no loop over schedules); ``step_time_s`` and ``energy_per_step_j`` are the
    step-weighted means; ``peak_power_kw`` the largest of the phases. A schedule using a
    precision the accelerator lacks gives a row with ``supported`` False and NaN values.
    """
    if isinstance(schedules, (Schedule, str, Mapping)):
        schedules = [schedules]
    scheds = [parse_schedule(s) for s in schedules]
    if not scheds:
        raise InputError("schedule", "give at least one schedule")
    base_p = data.normalise_precision(baseline)
    accs = list(dict.fromkeys(per_precision["accelerator"]))
    precs = list(PRECISIONS)
    cases = [_SUFFIX[c] for c in CASES]
    keys = [k + s for k in ADDITIVE_KEYS for s in cases]
    # V[a, p, k]
    idx = per_precision.set_index(["accelerator", "precision"])
    full = pd.MultiIndex.from_product([accs, precs], names=["accelerator", "precision"])
    wide = idx.reindex(full)
    V = wide[keys].to_numpy(dtype=float).reshape(len(accs), len(precs), len(keys))
    peak = wide[["peak_power_kw" + s for s in cases]].to_numpy(dtype=float).reshape(len(accs), len(precs), 3)
    missing = wide["steps"].isna().to_numpy().reshape(len(accs), len(precs))  # [a, p]: no such row
    S = np.array([[sc.shares().get(p, 0.0) for p in precs] for sc in scheds])  # [s, p]
    used = S > 0
    R = np.einsum("sp,apk->sak", S, np.nan_to_num(V))
    # a value the data set lacks (e.g. no rental price) stays NaN in every schedule that uses it
    R[np.einsum("sp,apk->sak", used.astype(float), np.isnan(V).astype(float)) > 0] = np.nan
    unsupported = (used[:, None, :] & missing[None, :, :]).any(axis=2)  # [s, a]
    R[unsupported] = np.nan
    pk = np.where(used[:, None, :, None], peak[None, :, :, :], -np.inf).max(axis=2)  # [s, a, 3]
    pk[unsupported] = np.nan
    ns, na = len(scheds), len(accs)
    out = pd.DataFrame({
        "schedule": np.repeat([s.name for s in scheds], na),
        "spec": np.repeat([s.spec for s in scheds], na),
        "accelerator": np.tile(accs, ns),
        "supported": ~unsupported.reshape(-1),
    })
    for j, k in enumerate(keys):
        out[k] = R[:, :, j].reshape(-1)
    for j, s in enumerate(cases):
        out["peak_power_kw" + s] = pk[:, :, j].reshape(-1)
        out["step_time_s" + s] = out["wall_clock_hours" + s] * 3600.0 / out["steps"]
        out["energy_per_step_j" + s] = out["it_energy_kwh" + s] * 3.6e6 / out["steps"]
    for p in precs:
        out[f"share_{p}"] = np.repeat(S[:, precs.index(p)], na)
    ref = idx.xs(base_p, level="precision") if base_p in idx.index.get_level_values("precision") else None
    out["baseline"] = base_p
    if ref is not None:
        e_ref = out["accelerator"].map(ref["facility_energy_kwh"])
        t_ref = out["accelerator"].map(ref["wall_clock_hours"])
        out["energy_saving_vs_baseline"] = 1.0 - out["facility_energy_kwh"] / e_ref
        out["energy_saved_kwh"] = e_ref - out["facility_energy_kwh"]
        out["emissions_saved_kg"] = out["accelerator"].map(ref["emissions_kg"]) - out["emissions_kg"]
        out["cost_saved_usd"] = out["accelerator"].map(ref["electricity_cost_usd"]) - out["electricity_cost_usd"]
        out["time_saving_vs_baseline"] = 1.0 - out["wall_clock_hours"] / t_ref
    else:
        for c in ("energy_saving_vs_baseline", "energy_saved_kwh", "emissions_saved_kg", "cost_saved_usd",
                  "time_saving_vs_baseline"):
            out[c] = np.nan
    return out


def fp8_share_sweep(per_precision: pd.DataFrame, shares: Iterable[float] = tuple(np.linspace(0, 1, 11)),
                    rest: str = "bf16", baseline: str = "bf16") -> pd.DataFrame:
    """Schedules with a share ``s`` of the steps in fp8 and the rest in ``rest``, for each ``s``."""
    rest_p = data.normalise_precision(rest)
    scheds = []
    for s in shares:
        s = number("fp8_share", s, minimum=0.0, maximum=1.0)
        scheds.append(Schedule((("fp8", s), (rest_p, 1.0 - s)), name=f"fp8 {s:.0%}"))
    out = schedule_frame(per_precision, scheds, baseline=baseline)
    out.insert(1, "fp8_share", out["share_fp8"])
    return out


def schedule_timeline(per_precision: pd.DataFrame, sched: Schedule | str, accelerator: str,
                      baseline: str = "bf16") -> pd.DataFrame:
    """Cumulative facility energy against training progress, at the phase boundaries (for plots)."""
    sc = parse_schedule(sched)
    acc = data.accelerator(accelerator).accelerator_id
    rows = per_precision[per_precision["accelerator"] == acc].set_index("precision")
    base_p = data.normalise_precision(baseline)
    missing = [p for p in sc.precisions() + [base_p] if p not in rows.index]
    if missing:
        raise InputError("schedule", f"{acc} has no {missing[0]} row (unsupported or not computed)")
    share = np.array([0.0] + [s for _, s in sc.phases])
    energy = np.array([0.0] + [s * rows.loc[p, "facility_energy_kwh"] for p, s in sc.phases])
    progress = np.cumsum(share)
    return pd.DataFrame({"progress": progress, "schedule_energy_kwh": np.cumsum(energy),
                         "baseline_energy_kwh": progress * rows.loc[base_p, "facility_energy_kwh"],
                         "phase": ["start"] + [LABELS[p] for p, _ in sc.phases]})


# --------------------------------------------------------------------------- where savings stop

def floor_sweep(*, accelerator: str = "h100-sxm", layers: int = 24, hiddens: Iterable[int] = (256, 512, 1024, 2048),
                batches: Iterable[int] = (1, 2, 4, 8, 16, 32, 64), seq_len: int = 1024, count: int = 1,
                low: str = "fp8", high: str = "bf16", vocab: float = 50_304, floor: StepFloor | None = None) -> pd.DataFrame:
    """Energy saving of ``low`` against ``high`` precision per step, by model width and batch.

    Parameters come from :func:`transformer_params`. The saving collapses where the step
    becomes memory- or host-bound (column ``bound_low``: the bound of the ``low`` precision).
    """
    number("layers", layers, strictly_positive=True, integer=True)
    number("seq_len", seq_len, strictly_positive=True, integer=True)
    hiddens = [number("hiddens", h, strictly_positive=True, integer=True) for h in hiddens]
    batches = [number("batches", b, strictly_positive=True, integer=True) for b in batches]
    if not hiddens or not batches:
        raise InputError("batches", "give at least one width and one batch size")
    acc = data.accelerator(accelerator)
    lo, hi = data.normalise_precision(low), data.normalise_precision(high)
    for p in (lo, hi):
        acc.peak(p)
    H, B = np.meshgrid(np.array(hiddens), np.array(batches), indexing="ij")
    H, B = H.reshape(-1), B.reshape(-1)
    n = len(H)
    grid = pd.DataFrame({"hidden": np.concatenate([H, H]), "batch": np.concatenate([B, B]),
                         "precision": [lo] * n + [hi] * n})
    grid["layers"] = float(layers)
    grid["seq_len"] = float(seq_len)
    grid["params"] = transformer_params(layers, grid["hidden"], vocab=vocab, seq_len=seq_len)
    grid["steps"] = 100.0
    grid["accelerator"] = acc.accelerator_id
    grid["count"] = float(count)
    res = step_frame(grid, floor)
    a, b = res.iloc[:n].reset_index(drop=True), res.iloc[n:].reset_index(drop=True)
    return pd.DataFrame({
        "hidden": H, "batch": B, "params": a["params"], "tokens_per_step": B * seq_len,
        f"step_time_s_{lo}": a["step_time_s"], f"step_time_s_{hi}": b["step_time_s"],
        f"energy_per_step_j_{lo}": a["energy_per_step_j"], f"energy_per_step_j_{hi}": b["energy_per_step_j"],
        "energy_saving": 1.0 - a["energy_per_step_j"] / b["energy_per_step_j"],
        "compute_only_saving": 1.0 - a["compute_step_time_s"] / b["compute_step_time_s"],
        "bound_low": a["bound"], "bound_high": b["bound"],
    })


def collapse_batch(sweep: pd.DataFrame, hidden: int, threshold: float = 0.5) -> int | None:
    """Smallest batch at which ``hidden``'s saving reaches ``threshold`` x its compute-only saving (None: never)."""
    rows = sweep[sweep["hidden"] == hidden].sort_values("batch")
    if rows.empty:
        raise InputError("hidden", f"{hidden} is not in the sweep")
    ok = rows[rows["energy_saving"] >= threshold * rows["compute_only_saving"]]
    return None if ok.empty else int(ok["batch"].iloc[0])


# --------------------------------------------------------------------------- measured points

def measured_points() -> pd.DataFrame:
    """Our H100 probe's training steps: time, energy (NVML counter) and mean power per precision."""
    df = data.table("measured/h100_calibration")
    t = df[df["experiment"] == "train_step"].copy()
    for c in ("s_per_call", "energy_j_counter", "calls", "power_w_mean", "batch", "seq", "params", "tokens_per_s",
              "j_per_token", "flops_per_token", "tflops_achieved"):
        t[c] = pd.to_numeric(t[c])
    return pd.DataFrame({
        "precision": [data.normalise_precision(p) for p in t["precision"]],
        "measured_step_time_s": t["s_per_call"].to_numpy(),
        "measured_energy_per_step_j": (t["energy_j_counter"] / t["calls"]).to_numpy(),
        "measured_power_w": t["power_w_mean"].to_numpy(),
        "measured_tflops": t["tflops_achieved"].to_numpy(),
        "batch": t["batch"].to_numpy(), "seq_len": t["seq"].to_numpy(), "params": t["params"].to_numpy(),
        "flops_per_token": t["flops_per_token"].to_numpy(), "source_id": t["source_id"].to_numpy(),
    })


def _matmul_tflops() -> dict[str, float]:
    df = data.table("measured/h100_calibration")
    m = df[df["experiment"] == "matmul"]
    return {data.normalise_precision(p): float(v) for p, v in zip(m["precision"], pd.to_numeric(m["tflops_achieved"]),
                                                                  strict=True)}


def model_vs_measured(floor: StepFloor | None = None, precisions: Iterable[str] = DEFAULT_PRECISIONS) -> pd.DataFrame:
    """The model for the probe's GPT configuration next to the measured points.

    Rows per precision: model step time and accelerator energy per step (low, central,
    high) and the measurement where there is one. The central MFU of fp32, tf32 and bf16
    was derived from these same runs, so their central agreement is calibration, not
    validation; the power model (one busy fraction for every precision) and the floor are
    tested by them. A last row, ``fp8 (matmul-only)``, is an Amdahl bound from the
    measurements: the bf16 step with only its matmul time sped up by the measured
    fp8/bf16 large-matmul rates, at the bf16 power.
    """
    cfg = PROBE_CONFIG
    pf = precision_frame(params=cfg["params"], tokens=cfg["batch"] * cfg["seq_len"] * 100, batch=cfg["batch"],
                         seq_len=cfg["seq_len"], layers=cfg["layers"], hidden=cfg["hidden"],
                         accelerators=[cfg["accelerator"]], precisions=precisions, count=cfg["count"], floor=floor)
    meas = measured_points().set_index("precision")
    rows = []
    for _, r in pf.iterrows():
        p = r["precision"]
        m = meas.loc[p] if p in meas.index else None
        rows.append({
            "precision": p, "label": LABELS[p], "basis": "model",
            "model_step_time_s": r["step_time_s"], "model_step_time_s_low": r["step_time_s_low"],
            "model_step_time_s_high": r["step_time_s_high"],
            "model_energy_per_step_j": r["accelerator_energy_per_step_j"],
            "model_energy_per_step_j_low": r["accelerator_energy_per_step_j_low"],
            "model_energy_per_step_j_high": r["accelerator_energy_per_step_j_high"],
            "model_power_w": r["accelerator_power_w"], "bound": r["bound"],
            "measured_step_time_s": m["measured_step_time_s"] if m is not None else np.nan,
            "measured_energy_per_step_j": m["measured_energy_per_step_j"] if m is not None else np.nan,
            "measured_power_w": m["measured_power_w"] if m is not None else np.nan,
        })
    if "bf16" in meas.index:
        mm = _matmul_tflops()
        if "bf16" in mm and "fp8" in mm:
            b = meas.loc["bf16"]
            flops_step = b["flops_per_token"] * b["batch"] * b["seq_len"]
            t_mm = flops_step / (mm["bf16"] * 1e12)
            t = b["measured_step_time_s"] - t_mm + flops_step / (mm["fp8"] * 1e12)
            rows.append({"precision": "fp8", "label": "fp8 mixed (matmul-only speed-up)", "basis": "Amdahl bound",
                         "model_step_time_s": t, "model_step_time_s_low": t, "model_step_time_s_high": t,
                         "model_energy_per_step_j": t * b["measured_power_w"],
                         "model_energy_per_step_j_low": t * b["measured_power_w"],
                         "model_energy_per_step_j_high": t * b["measured_power_w"],
                         "model_power_w": b["measured_power_w"], "bound": "compute",
                         "measured_step_time_s": np.nan, "measured_energy_per_step_j": np.nan,
                         "measured_power_w": np.nan})
    out = pd.DataFrame(rows)
    out["energy_ratio_model_to_measured"] = out["model_energy_per_step_j"] / out["measured_energy_per_step_j"]
    out["time_ratio_model_to_measured"] = out["model_step_time_s"] / out["measured_step_time_s"]
    return out
