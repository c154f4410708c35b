"""Parameter sweeps past one machine: a TOML spec, bounded partitions, Parquet out, local or on Dask.

A spec names the model (``training`` or ``inference``), ``[fixed]`` parameters and
``[axes]`` whose values are crossed (or a ``scenarios`` file, CSV or Parquet, one
row per scenario)::

    model = "training"
    max_scenarios = 5_000_000       # refuse bigger grids unless --yes
    partition_size = 250_000        # scenarios per task / Parquet file
    group_by = ["region", "start_hour"]   # best scenario per group (objective minimised)
    objective = "emissions_kg"
    [fixed]
    params = 7e9
    tokens = 1.4e11
    count = 64
    [axes]
    accelerator = ["h100-sxm", "a100-sxm4-80gb"]
    region = "all"                              # every region of the shipped data
    start = "2026-01-01T00:00/2026-12-31T23:00" # hourly range, region-local civil time
    count = { from = 8, to = 64, step = 8 }     # arithmetic range (inclusive)
    params = { from = 1e9, to = 7e10, num = 4, log = true }

Scenario ``i`` of the grid is never materialised with the others: each partition
``[lo, hi)`` rebuilds its rows by index arithmetic over the axes' cartesian
product (last axis fastest), evaluates them with the vectorized frame function
(:func:`joulebook.models.training.estimate_training_frame` or
:func:`joulebook.models.inference.inference_frame`) and writes one Parquet file named
from the spec hash and the range, atomically (temp file + rename). A re-run with
``resume`` skips files that exist; a task that dies leaves at most a hidden
temp file, which later runs delete; a task re-run by Dask writes the same name
with the same content, so every scenario is in the output exactly once.

Hourly carbon intensity (training with a ``start`` axis or column): the mean of
the region's hour-by-hour profile over the run's central wall-clock window,
exactly as :func:`joulebook.models.grid.mean_intensity`, computed for all rows at once
from a cumulative sum over a 4-year (leap-cycle) table of the profile; the
emissions columns (central, low, high) are then facility energy x that mean, as
in :func:`joulebook.models.training.estimate_training`. Prices stay the region's flat
average.

``summary.json``: counts, exact min and max, and an approximate median of the
headline columns from a mergeable log-binned histogram (``HIST_BINS_PER_DECADE``
bins per decade: the median is the geometric centre of its bin, relative error
at most ``10**(1/(2*HIST_BINS_PER_DECADE)) - 1``, about 1.2%), the best scenario
per ``group_by`` group, the spec, package versions and the data fingerprint.
Each partition's statistics travel inside its Parquet file's metadata, so a
resumed sweep summarises finished partitions without reading their rows.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from joulebook import __version__, data
from joulebook.core.errors import InputError, JoulebookError, reject_unknown
from joulebook.core.io import atomic_write_json, read_toml
from joulebook.models import grid, inference, training
from joulebook.models import presets as models
from joulebook.sweeps.cluster import check_cluster, dask_client

SPEC_KEYS = {"model", "fixed", "axes", "scenarios", "max_scenarios", "partition_size", "group_by", "objective",
             "outputs", "name", "description"}
MODELS = ("training", "inference")
DEFAULT_PARTITION = 250_000
DEFAULT_MAX_SCENARIOS = 10_000_000
HIST_BINS_PER_DECADE = 100
HIST_LOG_MIN, HIST_LOG_MAX = -12, 18  # log10 range of the histogram; outside it values count as under/over
META_KEY = b"joulebook.sweeps.engine"
PART_RE = re.compile(r"^part-([0-9a-f]{16})-(\d{12})-(\d{12})\.parquet$")
SUMMARY = "summary.json"
SPEC_COPY = "spec.json"
# Leap-cycle epoch of the hourly table: 4 years from here repeat exactly for 2001-2099.
_EPOCH = np.datetime64("2024-01-01T00:00", "m")
_CYCLE_H = 4 * 8760 + 24

TRAINING_TEXT = ("accelerator", "precision", "region")
TRAINING_PARAMS = set(training.NUMERIC_INPUTS) | set(TRAINING_TEXT) | {"recompute", "start"}
INFERENCE_TEXT = ("model", "technique", "accelerator", "precision", "weight_precision", "activation_precision",
                  "kv_precision", "runtime", "region")
INFERENCE_PARAMS = (set(inference._NUMERIC_INPUTS) | set(inference.OVERRIDES) | set(inference.RUNTIME_PARAMETERS)
                    | set(INFERENCE_TEXT) | {"weight_only", "tied_embeddings"})
HEADLINE = {
    "training": ("facility_energy_kwh", "emissions_kg", "water_l", "electricity_cost_usd", "cloud_cost_usd",
                 "wall_clock_hours", "accelerator_hours"),
    "inference": ("energy_j_per_1k_tokens", "emissions_g_per_1k_tokens", "cost_usd_per_1k_tokens",
                  "latency_ms_per_1k_tokens", "tokens_per_s", "memory_gb_per_accelerator"),
}
EXTRA_OUTPUTS = {
    "training": ("facility_energy_kwh_low", "facility_energy_kwh_high", "emissions_kg_low", "emissions_kg_high",
                 "peak_power_kw", "intensity_g_per_kwh"),
    "inference": ("energy_j_per_1k_tokens_low", "energy_j_per_1k_tokens_high", "emissions_g_per_1k_tokens_low",
                  "emissions_g_per_1k_tokens_high", "fits_in_memory", "bound_decode"),
}
DEFAULT_OBJECTIVE = {"training": "emissions_kg", "inference": "emissions_g_per_1k_tokens"}


# --------------------------------------------------------------------------- the spec

@dataclass
class Axis:
    name: str
    values: np.ndarray  # numbers, strings (object) or datetime64[m] (start)

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Spec:
    """A checked sweep spec. ``payload()`` is what travels to workers (small, picklable)."""

    model: str
    fixed: dict[str, Any]
    axes: list[Axis]
    scenarios_file: Path | None
    scenarios_rows: int
    max_scenarios: int
    partition_size: int
    group_by: list[str]
    objective: str
    outputs: list[str]
    raw: dict[str, Any]
    digest: str = ""
    data_fingerprint: str = ""
    file_columns: list[str] = field(default_factory=list)

    @property
    def n_scenarios(self) -> int:
        if self.scenarios_file is not None:
            return self.scenarios_rows
        return int(math.prod(len(a) for a in self.axes))

    def partitions(self) -> list[tuple[int, int]]:
        n, size = self.n_scenarios, self.partition_size
        return [(lo, min(lo + size, n)) for lo in range(0, n, size)]

    def part_name(self, lo: int, hi: int) -> str:
        return f"part-{self.digest}-{lo:012d}-{hi:012d}.parquet"

    def payload(self) -> dict[str, Any]:
        return {"model": self.model, "fixed": self.fixed,
                "axes": [(a.name, a.values) for a in self.axes],
                "scenarios_file": str(self.scenarios_file) if self.scenarios_file else None,
                "group_by": self.group_by, "objective": self.objective, "outputs": self.outputs,
                "digest": self.digest, "data_fingerprint": self.data_fingerprint}


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and check a spec file (TOML). Raises :class:`InputError` (or an unknown-name error) naming the key."""
    path = Path(path)
    return parse_spec(read_toml(path, "SPEC"), base_dir=path.parent)


def parse_spec(raw: dict[str, Any], base_dir: str | os.PathLike = ".") -> Spec:
    """Check a spec given as a mapping (the parsed TOML). Nothing is evaluated or written."""
    reject_unknown(raw, SPEC_KEYS, message="unknown spec key")
    model = raw.get("model")
    if model not in MODELS:
        raise InputError("model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    known = TRAINING_PARAMS if model == "training" else INFERENCE_PARAMS
    fixed = raw.get("fixed", {})
    axes_raw = raw.get("axes", {})
    if not isinstance(fixed, dict) or not isinstance(axes_raw, dict):
        raise InputError("fixed" if not isinstance(fixed, dict) else "axes", "must be a table")
    reject_unknown(fixed, known, message=f"unknown {model} parameter")
    reject_unknown(axes_raw, known, message=f"unknown {model} parameter")
    both = set(fixed) & set(axes_raw)
    if both:
        raise InputError(sorted(both)[0], "is both fixed and an axis")
    for k, v in fixed.items():
        if isinstance(v, (list, dict)):
            raise InputError(k, "a fixed parameter takes one value (put lists under [axes])")
        _check_names(k, [v])
    scen = raw.get("scenarios")
    if scen is not None and axes_raw:
        raise InputError("scenarios", "give [axes] or a scenarios file, not both")
    if scen is None and not axes_raw:
        raise InputError("axes", "give at least one axis (or a scenarios file)")
    axes: list[Axis] = []
    for name, spec_v in axes_raw.items():
        axes.append(Axis(name, _axis_values(name, spec_v)))
    scen_path, scen_rows, file_cols = None, 0, []
    if scen is not None:
        scen_path = (Path(base_dir) / str(scen)).resolve()
        frame = _read_scenarios(str(scen_path), _mtime(scen_path))
        file_cols = list(frame.columns)
        reject_unknown(file_cols, known, message=f"unknown {model} parameter (column of {scen_path.name})")
        clash = set(file_cols) & set(fixed)
        if clash:
            raise InputError(sorted(clash)[0], "is both fixed and a column of the scenarios file")
        if frame.empty:
            raise InputError("scenarios", f"{scen_path.name} has no rows")
        for c in file_cols:
            if c in ("region", "accelerator", "model") or c in ("start",):
                _check_names(c, frame[c].dropna().unique())
        scen_rows = len(frame)
    max_s = _whole_key(raw, "max_scenarios", DEFAULT_MAX_SCENARIOS)
    part = _whole_key(raw, "partition_size", DEFAULT_PARTITION)
    columns_in = set(fixed) | {a.name for a in axes} | set(file_cols)
    has_start = "start" in columns_in
    if has_start and model != "training":
        raise InputError("start", "hourly start times are modelled for training sweeps")
    produced = set(training.OUTPUT_KEYS if model == "training" else inference.OUTPUT_KEYS)
    produced |= {f"{k}_{c}" for k in produced for c in ("low", "high")}
    produced |= set(EXTRA_OUTPUTS[model]) | {"intensity_g_per_kwh", "start_hour"}
    outputs = raw.get("outputs")
    if outputs is None:
        outputs = [c for c in (*HEADLINE[model], *EXTRA_OUTPUTS[model]) if c != "intensity_g_per_kwh" or has_start]
    elif outputs == "all":
        outputs = sorted(produced)
    else:
        if not isinstance(outputs, list) or not outputs:
            raise InputError("outputs", "a non-empty list of output columns, or \"all\"")
        reject_unknown(outputs, produced, message="unknown output column")
    outputs = list(dict.fromkeys(outputs))
    if has_start and "start_hour" not in outputs:
        outputs.append("start_hour")
    objective = raw.get("objective", DEFAULT_OBJECTIVE[model])
    reject_unknown([objective], produced, message="unknown objective column")
    if objective not in outputs:
        outputs.append(objective)
    group_by = raw.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    groupable = columns_in | set(outputs)
    reject_unknown(group_by, groupable, message="group_by: not a column of the sweep")
    spec = Spec(model=model, fixed=dict(fixed), axes=axes, scenarios_file=scen_path, scenarios_rows=scen_rows,
                max_scenarios=max_s, partition_size=part, group_by=list(group_by), objective=objective,
                outputs=outputs, raw=raw, file_columns=file_cols)
    if spec.n_scenarios == 0:
        raise InputError("axes", "the grid is empty")
    spec.data_fingerprint = data.fingerprint()
    spec.digest = _digest(spec)
    _probe(spec)
    return spec


def _whole_key(raw: dict[str, Any], key: str, default: int) -> int:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError(key, f"must be a whole number >= 1, got {v!r}")
    return v


def _check_names(name: str, values: Iterable[Any]) -> None:
    """Unknown regions, accelerators or model presets fail here, with close matches."""
    for v in values:
        if name == "region":
            data.region(str(v))
        elif name == "accelerator":
            data.accelerator(str(v))
        elif name == "model" and str(v):
            models.model(str(v))
        elif name == "precision":
            data.normalise_precision(str(v))


def _axis_values(name: str, v: Any) -> np.ndarray:
    if name == "region" and v == "all":
        vals: list[Any] = sorted(data.regions())
    elif name == "start" and isinstance(v, str) and "/" in v:
        return _hourly_range(v)
    elif isinstance(v, dict):
        vals = _range(name, v)
    elif isinstance(v, list):
        vals = v
    else:
        raise InputError(name, "an axis is a list, a range table {from, to, step|num[, log]}"
                               + (", an hourly range \"A/B\"" if name == "start" else "")
                               + (" or \"all\"" if name == "region" else ""))
    if not vals:
        raise InputError(name, "the axis is empty")
    if name == "start":
        try:
            out = np.array([np.datetime64(pd.Timestamp(x).to_datetime64(), "m") for x in vals])
        except (ValueError, TypeError):
            raise InputError(name, f"not ISO date-times: {vals[:3]!r}") from None
        return out
    kinds = {type(x) for x in vals}
    if kinds <= {int, float} and not (kinds & {bool}):
        return np.asarray(vals, dtype=float)
    if kinds <= {str}:
        _check_names(name, vals)
        if len(set(vals)) != len(vals):
            raise InputError(name, "axis values must be distinct")
        return np.asarray(vals, dtype=object)
    if kinds <= {bool}:
        return np.asarray(vals, dtype=bool)
    raise InputError(name, f"axis values must be all numbers or all strings, got {sorted(k.__name__ for k in kinds)}")


def _range(name: str, v: dict[str, Any]) -> list[float]:
    reject_unknown(v, {"from", "to", "step", "num", "log"}, message=f"{name}: unknown range key")
    if "from" not in v or "to" not in v or ("step" in v) == ("num" in v):
        raise InputError(name, "a range needs from, to and one of step or num")
    a, b = float(v["from"]), float(v["to"])
    if "num" in v:
        num = int(v["num"])
        if num < 1:
            raise InputError(name, "the axis is empty (num < 1)")
        if v.get("log"):
            if a <= 0 or b <= 0:
                raise InputError(name, "a log range needs positive from and to")
            return [float(x) for x in np.geomspace(a, b, num)]
        return [float(x) for x in np.linspace(a, b, num)]
    step = float(v["step"])
    if step <= 0:
        raise InputError(name, "step must be > 0")
    n = int(math.floor((b - a) / step + 1e-9)) + 1
    if n < 1:
        raise InputError(name, "the axis is empty (to < from)")
    return [a + i * step for i in range(n)]


def _hourly_range(text: str) -> np.ndarray:
    a, b = text.split("/", 1)
    try:
        t0, t1 = pd.Timestamp(a), pd.Timestamp(b)
    except ValueError:
        raise InputError("start", f"not an ISO date-time range: {text!r} (e.g. 2026-01-01T00:00/2026-12-31T23:00)") from None
    if t0.tzinfo is not None or t1.tzinfo is not None:
        raise InputError("start", "give naive date-times: they are read as each region's local civil time")
    out = np.arange(np.datetime64(t0.to_datetime64(), "h"), np.datetime64(t1.to_datetime64(), "h") + 1,
                    np.timedelta64(1, "h")).astype("datetime64[m]")
    if len(out) == 0:
        raise InputError("start", f"the axis is empty ({a} is after {b})")
    return out


def _mtime(p: Path) -> float:
    if not p.is_file():
        raise InputError("scenarios", f"no such file: {p}")
    return p.stat().st_mtime


@lru_cache(maxsize=4)
def _read_scenarios(path: str, _mtime_key: float) -> pd.DataFrame:
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        return pd.read_parquet(p)
    if p.suffix.lower() == ".csv":
        return pd.read_csv(p)
    raise InputError("scenarios", f"{p.name}: expected a .csv or .parquet file")


def _digest(spec: Spec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"model": spec.model, "fixed": spec.fixed, "outputs": spec.outputs, "data": spec.data_fingerprint,
                         "version": __version__, "part": spec.partition_size}, sort_keys=True, default=str).encode())
    for a in spec.axes:
        h.update(a.name.encode() + b"\0")
        v = a.values
        h.update("\0".join(map(str, v)).encode() if v.dtype == object else np.ascontiguousarray(v).tobytes())
        h.update(str(v.dtype).encode())
    if spec.scenarios_file is not None:
        h.update(spec.scenarios_file.read_bytes())
    return h.hexdigest()[:16]


def _probe(spec: Spec) -> None:
    """Evaluate a small frame before any work: each axis's values once, and accelerator x precision pairs."""
    if spec.scenarios_file is not None:
        frame = _read_scenarios(str(spec.scenarios_file), _mtime(spec.scenarios_file))
        probe = frame.drop_duplicates().head(5000)
        _evaluate(spec.payload(), probe.reset_index(drop=True).assign(scenario=np.arange(len(probe))))
        return
    first = {a.name: a.values[:1] for a in spec.axes}
    rows = []
    for a in spec.axes:
        vals = a.values if len(a) <= 10_000 else a.values[:: max(1, len(a) // 10_000)]
        rows.append(pd.DataFrame({**{k: np.repeat(v, len(vals)) for k, v in first.items()}, a.name: vals}))
    names = [a.name for a in spec.axes]
    if "accelerator" in names and "precision" in names:
        acc = next(a for a in spec.axes if a.name == "accelerator").values
        prec = next(a for a in spec.axes if a.name == "precision").values
        pairs = pd.MultiIndex.from_product([acc, prec]).to_frame(index=False, name=["accelerator", "precision"])
        rows.append(pd.DataFrame({**{k: np.repeat(v, len(pairs)) for k, v in first.items()},
                                  "accelerator": pairs["accelerator"].to_numpy(), "precision": pairs["precision"].to_numpy()}))
    probe = pd.concat(rows, ignore_index=True)
    _evaluate(spec.payload(), probe.assign(scenario=np.arange(len(probe))))


# --------------------------------------------------------------------------- one partition (runs in a worker)

def scenario_frame(payload: dict[str, Any], lo: int, hi: int) -> pd.DataFrame:
    """Rows ``lo..hi-1`` of the grid (axes crossed, last axis fastest) or of the scenarios file."""
    idx = np.arange(lo, hi, dtype=np.int64)
    cols: dict[str, Any] = {"scenario": idx}
    if payload["scenarios_file"]:
        p = Path(payload["scenarios_file"])
        frame = _read_scenarios(str(p), _mtime(p)).iloc[lo:hi].reset_index(drop=True)
        for c in frame.columns:
            cols[c] = frame[c].to_numpy()
    else:
        stride = 1
        sizes = [len(v) for _, v in payload["axes"]]
        strides = []
        for s in reversed(sizes):
            strides.append(stride)
            stride *= s
        strides.reverse()
        for (name, values), s, st in zip(payload["axes"], sizes, strides, strict=True):
            codes = (idx // st) % s
            if values.dtype == object:  # only this partition's values as categories: look-ups stay per partition
                used = np.unique(codes)
                cols[name] = pd.Categorical.from_codes(np.searchsorted(used, codes), categories=list(values[used]))
            else:
                cols[name] = values[codes]
    return pd.DataFrame(cols)


def _utc_minutes(start_local: np.ndarray, tz: str) -> np.ndarray:
    """Naive local civil times (datetime64[m]) -> UTC minutes since the epoch (int64), DST-aware.

    Ambiguous times take the first (daylight) occurrence and times in a spring-forward gap move one
    hour on, as :func:`joulebook.models.grid.to_utc` does for a naive start.
    """
    uniq, inv = np.unique(start_local, return_inverse=True)
    idx = pd.DatetimeIndex(uniq).tz_localize(tz, ambiguous=np.ones(len(uniq), dtype=bool),
                                             nonexistent=pd.Timedelta(hours=1))
    utc = idx.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[m]").astype(np.int64)
    return utc[inv]


@lru_cache(maxsize=1)
def _cycle_calendar() -> tuple[np.ndarray, np.ndarray]:
    """Month (1..12) and hour of day of every hour of the 4-year cycle from the epoch (region-independent)."""
    hours = _EPOCH.astype("datetime64[h]") + np.arange(_CYCLE_H)
    hod = (hours.astype(np.int64) % 24).astype(np.intp)
    month = (hours.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.intp)
    return month, hod


@lru_cache(maxsize=512)
def _cycle_table(zone: str, annual: float) -> tuple[np.ndarray, float]:
    """Cumulative intensity (g/kWh x h) over the 4-year cycle, by local standard hour since the epoch."""
    tab, offset = grid._ratio_table(zone)
    month, hod = _cycle_calendar()
    vals = annual * tab[month, hod]
    return np.concatenate([[0.0], np.cumsum(vals)]), offset


def _cum(cum: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Integral of the periodic hourly series from the epoch to ``x`` hours."""
    total = cum[-1]
    k = np.floor(x / _CYCLE_H)
    y = x - k * _CYCLE_H
    i = np.minimum(np.floor(y).astype(np.int64), _CYCLE_H - 1)
    frac = y - i
    return k * total + cum[i] + frac * (cum[i + 1] - cum[i])


def window_intensity(region: str, start_local: np.ndarray, duration_h: np.ndarray) -> np.ndarray:
    """Mean hourly intensity (g/kWh) over each window [start, start + duration) in ``region`` (vectorized)."""
    r = data.region(region)
    if r.hourly_zone is None:
        return np.full(len(start_local), r.intensity_g_per_kwh)
    cum, offset = _cycle_table(r.hourly_zone, r.intensity_g_per_kwh)
    utc_min = _utc_minutes(start_local, r.timezone)
    x0 = (utc_min - _EPOCH.astype(np.int64)) / 60.0 + offset
    d = np.asarray(duration_h, dtype=float)
    x1 = x0 + d
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (_cum(cum, x1) - _cum(cum, x0)) / d
    i = np.floor(x0 - np.floor(x0 / _CYCLE_H) * _CYCLE_H).astype(np.int64) % _CYCLE_H
    point = cum[i + 1] - cum[i]  # zero-length window: the value of the starting hour
    return np.where(d > 0, mean, point)


def _evaluate(payload: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed parameters + scenario columns -> the model's frame, restricted to the spec's output columns."""
    fixed = payload["fixed"]
    inp = frame.assign(**{k: v for k, v in fixed.items() if k != "start"})
    start = None
    if "start" in fixed:
        start = np.full(len(frame), np.datetime64(pd.Timestamp(fixed["start"]).to_datetime64(), "m"))
    elif "start" in inp.columns:
        start = pd.to_datetime(inp["start"]).to_numpy().astype("datetime64[m]")
    if "start" in inp.columns:
        inp = inp.drop(columns=["start"])
    if payload["model"] == "training":
        out = training.estimate_training_frame(inp)
        if start is not None:
            if "region" not in inp.columns:
                raise InputError("start", "a start time needs a region (for its time zone and hourly profile)")
            out["start"] = start
            out["start_hour"] = (start.astype("datetime64[h]").astype(np.int64) % 24).astype(np.int8)
            if "intensity_g_per_kwh" not in inp.columns:
                ci = np.empty(len(out))
                reg_col = inp["region"]
                if isinstance(reg_col.dtype, pd.CategoricalDtype):
                    codes, uniq = reg_col.cat.codes.to_numpy(), [str(c) for c in reg_col.cat.categories]
                else:
                    codes, uniq = pd.factorize(reg_col.astype(str))
                wall = out["wall_clock_hours"].to_numpy()
                for j in np.unique(codes):  # only the regions present in this partition
                    m = codes == j
                    ci[m] = window_intensity(uniq[j], start[m], wall[m])
                out["intensity_g_per_kwh"] = ci
                for suf in ("", "_low", "_high"):
                    out[f"emissions_kg{suf}"] = out[f"facility_energy_kwh{suf}"].to_numpy() * ci / 1000.0
    else:
        out = inference.inference_frame(inp)
    keep = ["scenario"] + [c for c in frame.columns if c != "scenario"]
    keep += [c for c in payload["outputs"] if c in out.columns and c not in keep]
    return out[keep]


def _hist_index(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.floor((np.log10(v) - HIST_LOG_MIN) * HIST_BINS_PER_DECADE)
    return np.clip(b, -1, (HIST_LOG_MAX - HIST_LOG_MIN) * HIST_BINS_PER_DECADE).astype(np.int64)


def partition_stats(payload: dict[str, Any], df: pd.DataFrame) -> dict[str, Any]:
    """Mergeable statistics of one partition: per headline column count/min/max/log-histogram; best per group."""
    cols = {}
    for c in HEADLINE[payload["model"]]:
        if c not in df.columns:
            continue
        v = df[c].to_numpy(dtype=float)
        ok = v[~np.isnan(v)]
        pos = ok[ok > 0]
        counts = np.bincount(_hist_index(pos) + 1)  # bin -1 (below range) at index 0
        bins = np.flatnonzero(counts)
        counts, bins = counts[bins], bins - 1
        cols[c] = {"count": int(len(ok)), "nan": int(len(v) - len(ok)), "nonpositive": int(len(ok) - len(pos)),
                   "min": float(ok.min()) if len(ok) else None, "max": float(ok.max()) if len(ok) else None,
                   "hist": {str(int(b)): int(n) for b, n in zip(bins, counts, strict=True)}}
    return {"rows": len(df), "columns": cols, "best": best_rows(df, payload["group_by"], payload["objective"])}


def best_rows(df: pd.DataFrame, group_by: list[str], objective: str) -> list[dict[str, Any]]:
    """The scenario minimising ``objective`` per ``group_by`` group (ties: lowest scenario index), as records."""
    if objective not in df.columns:
        return []
    d = df[df[objective].notna()]
    if d.empty:
        return []
    d = d.sort_values("scenario", kind="stable") if not d["scenario"].is_monotonic_increasing else d
    if group_by:  # idxmin keeps the first (lowest-scenario) row among ties
        pick = d.groupby(group_by, observed=True, sort=True)[objective].idxmin().to_numpy()
        d = d.loc[pick]
    else:
        d = d.loc[[d[objective].idxmin()]]
    return _records(d)


def _records(d: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in d.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def run_partition(payload: dict[str, Any], out_dir: str, lo: int, hi: int) -> dict[str, Any]:
    """Evaluate scenarios ``lo..hi-1`` and write their Parquet file atomically. Picklable; runs in a worker.

    Returns the partition's statistics and ``evaluated`` (False when the file already existed).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if data.fingerprint() != payload["data_fingerprint"]:
        raise JoulebookError(f"this worker's data (fingerprint {data.fingerprint()}) differs from the spec's "
                           f"({payload['data_fingerprint']}): install the same joulebook and data on every worker")
    name = f"part-{payload['digest']}-{lo:012d}-{hi:012d}.parquet"
    final = Path(out_dir) / name
    if final.is_file():
        return {"lo": lo, "hi": hi, "evaluated": False, **read_part_stats(final)}
    t0 = time.perf_counter()
    df = _evaluate(payload, scenario_frame(payload, lo, hi))
    stats = partition_stats(payload, df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(stats, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    tmp = final.with_name(f".tmp-{name}-{uuid.uuid4().hex[:8]}")
    try:
        dictionary = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype) or df[c].dtype == object]
        pq.write_table(table, tmp, compression="lz4", use_dictionary=dictionary)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)  # same name + same content from any attempt: exactly once
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return {"lo": lo, "hi": hi, "evaluated": True, "seconds": time.perf_counter() - t0, **stats}


def read_part_stats(path: str | os.PathLike) -> dict[str, Any]:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        raise InputError("--resume", f"{Path(path).name} holds no joulebook sweep statistics")
    return json.loads(meta[META_KEY])


# --------------------------------------------------------------------------- the driver

@dataclass
class SweepResult:
    out_dir: Path
    scenarios: int
    partitions: int
    evaluated: int  # partitions evaluated in this run
    skipped: int  # partitions found finished (resume)
    evaluated_scenarios: int
    duration_s: float
    summary: dict[str, Any]


def prepare_out_dir(spec: Spec, out_dir: str | os.PathLike, resume: bool) -> Path:
    """Check the output folder (before any work). Refuses a non-empty folder unless resuming the same spec."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("--out", f"{out} exists and is not a folder")
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(".tmp-")]
        if entries and not resume:
            raise InputError("--out", f"{out} is not empty: pass --resume to continue a sweep, or choose a new folder")
        others = {m.group(1) for p in entries if (m := PART_RE.match(p.name)) and m.group(1) != spec.digest}
        if others:
            raise InputError("--resume", f"{out} holds partitions of another spec ({', '.join(sorted(others))}); "
                                         f"this spec is {spec.digest}")
    return out


def _progress_bar(total: int) -> Callable[[int, int], None]:
    if not sys.stderr.isatty():
        return lambda done, rows: None
    t0 = time.perf_counter()

    def show(done: int, rows: int) -> None:
        width = 30
        fill = int(width * done / max(total, 1))
        rate = rows / max(time.perf_counter() - t0, 1e-9)
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} partitions, {rate:,.0f} scenarios/s")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def run_sweep(spec: Spec, out_dir: str | os.PathLike, *, cluster: str | None = None, jobs: int | None = None,
              resume: bool = False, progress: bool = True,
              on_partition: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run every partition of ``spec`` into ``out_dir`` and write ``summary.json``.

    ``cluster``: None (local processes; ``jobs`` of them, 1 = in this process), ``"local"`` or
    ``"local:N"`` (a Dask LocalCluster with N single-threaded worker processes) or a scheduler
    address (``tcp://host:port``). ``on_partition`` is called in the driver after each partition.
    """
    t0 = time.perf_counter()
    if cluster is not None:
        check_cluster(cluster)
    if spec.n_scenarios > spec.max_scenarios:
        raise InputError("max_scenarios", f"the grid has {spec.n_scenarios:,} scenarios, above max_scenarios = "
                                          f"{spec.max_scenarios:,} (raise it or pass --yes)")
    out = prepare_out_dir(spec, out_dir, resume)
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob(".tmp-part-*"):  # left by a task that died mid-write
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    payload = spec.payload()
    parts = spec.partitions()
    results: list[dict[str, Any]] = []
    bar = _progress_bar(len(parts)) if progress else (lambda d, r: None)
    rows = 0

    acc = Accumulator(spec)

    def done(res: dict[str, Any]) -> None:
        nonlocal rows
        acc.add(res)
        if on_partition is not None:
            on_partition(res)
        results.append({k: v for k, v in res.items() if k not in ("columns", "best")})
        rows += res["rows"]
        bar(len(results), rows)

    pending = []
    for lo, hi in parts:
        path = out / spec.part_name(lo, hi)
        if resume and path.is_file():
            done({"lo": lo, "hi": hi, "evaluated": False, **read_part_stats(path)})
        else:
            pending.append((lo, hi))
    if pending:
        if cluster is None:
            _run_local(payload, str(out), pending, jobs, done)
        else:
            _run_dask(payload, str(out), pending, cluster, done)
    for p in out.glob(".tmp-part-*"):  # every task has finished: what is left is from writers that died
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    summary = summarise(spec, acc)
    summary["run"] = {"cluster": cluster or f"local processes ({_jobs(jobs, len(pending))})",
                      "evaluated_partitions": sum(r["evaluated"] for r in results),
                      "skipped_partitions": sum(not r["evaluated"] for r in results),
                      "duration_s": round(time.perf_counter() - t0, 3)}
    atomic_write_json(out / SUMMARY, summary)
    os.chmod(out / SUMMARY, 0o644)
    ev = [r for r in results if r["evaluated"]]
    return SweepResult(out_dir=out, scenarios=spec.n_scenarios, partitions=len(parts), evaluated=len(ev),
                       skipped=len(results) - len(ev), evaluated_scenarios=sum(r["rows"] for r in ev),
                       duration_s=time.perf_counter() - t0, summary=summary)


def _jobs(jobs: int | None, n: int) -> int:
    j = jobs if jobs else (os.cpu_count() or 1)
    return max(1, min(j, n)) if n else 1


def _mp_context():
    """``fork`` where it is safe (POSIX, no other Python thread): the workers inherit the loaded modules and
    data look-ups, so a sweep of a million scenarios does not pay two interpreter start-ups; ``spawn`` otherwise."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_local(payload, out: str, pending, jobs, done) -> None:
    j = _jobs(jobs, len(pending))
    if j == 1:
        for lo, hi in pending:
            done(run_partition(payload, out, lo, hi))
        return
    with cf.ProcessPoolExecutor(max_workers=j, mp_context=_mp_context()) as pool:
        futs = [pool.submit(run_partition, payload, out, lo, hi) for lo, hi in pending]
        try:
            for f in cf.as_completed(futs):
                done(f.result())
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def _run_dask(payload, out: str, pending, cluster: str, done) -> None:
    from dask.distributed import as_completed

    with dask_client(cluster) as client:
        futs = [client.submit(run_partition, payload, out, lo, hi, key=f"joulebook-sweep-{payload['digest']}-{lo}-{hi}")
                for lo, hi in pending]
        for f in as_completed(futs):
            done(f.result())


# --------------------------------------------------------------------------- summary

def _median_from_hist(hist: dict[int, int], n_nonpos: int, total: int) -> float | None:
    if total == 0:
        return None
    target = (total - 1) // 2  # the lower median: the value of rank (n-1)//2 (0-based)
    if target < n_nonpos:
        return 0.0
    seen = n_nonpos
    for b in sorted(hist):
        seen += hist[b]
        if seen > target:
            if b < 0:
                return 10.0 ** HIST_LOG_MIN
            return 10.0 ** (HIST_LOG_MIN + (b + 0.5) / HIST_BINS_PER_DECADE)
    return None


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "joulebook": __version__}
    for name in ("numpy", "pandas", "pyarrow", "dask", "distributed"):
        try:
            out[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


class Accumulator:
    """The running merge of partition statistics (independent of the order partitions finish in).

    Memory stays bounded: per headline column a histogram of at most
    ``(HIST_LOG_MAX - HIST_LOG_MIN) * HIST_BINS_PER_DECADE`` bins, and one best row per group.
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self.rows = 0
        self.partitions = 0
        self.cols: dict[str, dict[str, Any]] = {}
        self.best = pd.DataFrame()

    def add(self, res: dict[str, Any]) -> None:
        self.rows += res["rows"]
        self.partitions += 1
        for c, st in res["columns"].items():
            a = self.cols.setdefault(c, {"count": 0, "nan": 0, "nonpositive": 0, "min": None, "max": None, "hist": {}})
            for k in ("count", "nan", "nonpositive"):
                a[k] += st[k]
            if st["min"] is not None:
                a["min"] = st["min"] if a["min"] is None else min(a["min"], st["min"])
                a["max"] = st["max"] if a["max"] is None else max(a["max"], st["max"])
            for b, n in st["hist"].items():
                a["hist"][int(b)] = a["hist"].get(int(b), 0) + n
        if res["best"]:
            best = pd.concat([self.best, pd.DataFrame(res["best"])], ignore_index=True)
            best = best.sort_values([self.spec.objective, "scenario"], kind="stable")
            self.best = best.drop_duplicates(self.spec.group_by, keep="first") if self.spec.group_by else best.head(1)

    def columns(self) -> dict[str, Any]:
        out = {}
        for c in HEADLINE[self.spec.model]:
            if c not in self.cols:
                continue
            a = self.cols[c]
            med = _median_from_hist(a["hist"], a["nonpositive"], a["count"])
            if med is not None and a["min"] is not None:
                med = min(max(med, a["min"]), a["max"])  # the bin centre may fall outside the exact range
            out[c] = {"count": a["count"], "missing": a["nan"], "min": a["min"], "median_approx": med, "max": a["max"]}
        return out

    def best_rows(self) -> list[dict[str, Any]]:
        if self.best.empty:
            return []
        best = self.best.sort_values(self.spec.group_by, kind="stable") if self.spec.group_by else self.best
        return _records(best)


def summarise(spec: Spec, acc: Accumulator) -> dict[str, Any]:
    """The ``summary.json`` content from the merged partition statistics."""
    cols = acc.columns()
    return {
        "model": spec.model, "scenarios": acc.rows, "grid_scenarios": spec.n_scenarios,
        "partitions": acc.partitions, "partition_size": spec.partition_size, "spec_hash": spec.digest,
        "columns": cols,
        "median_method": (f"approximate: merged log10 histogram, {HIST_BINS_PER_DECADE} bins per decade over "
                          f"1e{HIST_LOG_MIN}..1e{HIST_LOG_MAX}, lower median = geometric centre of the bin holding rank (n-1)//2, clamped to [min, max] (relative error "
                          f"<= {10 ** (0.5 / HIST_BINS_PER_DECADE) - 1:.2%}); min and max are exact"),
        "best": {"objective": spec.objective, "minimised": True, "group_by": spec.group_by,
                 "rows": acc.best_rows()},
        "spec": spec.raw, "versions": package_versions(), "data_fingerprint": spec.data_fingerprint,
        "intensity": ("hour by hour over each run's central wall-clock window (start in region-local civil time)"
                      if any(a.name == "start" for a in spec.axes) or "start" in spec.fixed
                      or "start" in spec.file_columns else "annual mean of each region"),
    }


# --------------------------------------------------------------------------- reading a sweep back

def read_sweep(out_dir: str | os.PathLike, columns: list[str] | None = None, *, large_rows: int = 5_000_000):
    """The sweep's rows: a pandas DataFrame when small, a ``dask.dataframe`` past ``large_rows`` rows."""
    out = Path(out_dir)
    files = sorted(p for p in out.glob("part-*.parquet") if PART_RE.match(p.name))
    if not files:
        raise InputError("sweep", f"no partitions in {out}")
    summary = json.loads((out / SUMMARY).read_text()) if (out / SUMMARY).is_file() else {}
    rows = summary.get("scenarios")
    if rows is None or rows > large_rows:
        import dask.dataframe as dd

        return dd.read_parquet([str(f) for f in files], columns=columns)
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)


def pareto_front(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated on (x, y), both minimised, sorted by x."""
    d = df[[x, y]].dropna()
    d = d.sort_values([x, y], kind="stable")
    best = np.minimum.accumulate(d[y].to_numpy())
    keep = np.r_[True, d[y].to_numpy()[1:] < best[:-1]]
    return df.loc[d.index[keep]].sort_values(x, kind="stable")


def best_choice_table(df: pd.DataFrame, rows: str, cols: str, choice: str, objective: str) -> pd.DataFrame:
    """For each (rows, cols) cell, the ``choice`` value of the scenario minimising ``objective`` (long form)."""
    d = df.dropna(subset=[objective]).sort_values([objective, "scenario"], kind="stable")
    d = d.drop_duplicates([rows, cols], keep="first")
    return d[[rows, cols, choice, objective]].sort_values([rows, cols], kind="stable").reset_index(drop=True)


__all__ = ["Spec", "Axis", "load_spec", "parse_spec", "run_sweep", "run_partition", "scenario_frame",
           "window_intensity", "summarise", "Accumulator", "dask_client", "read_sweep", "pareto_front", "best_choice_table", "SweepResult"]
