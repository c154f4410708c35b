"""Training energy, time, emissions, water and money from first principles.

    FLOPs          = 6 N_act D  [+ 6 L s d D attention, x 4/3 with full recomputation]
    rate           = peak(precision) x MFU                      per accelerator
    MFU            = the prior of data/efficiency.csv (workload train) for the accelerator's
                     generation, the precision and the scale band (probe-sized model / cluster /
                     frontier); see :func:`mfu_prior` (or given, or calibrated)
    acc-hours      = FLOPs / (rate x scaling_efficiency) / 3600   (or given: skips the FLOPs path)
    wall clock     = acc-hours / count
    P_acc          = P_idle + (P_cap - P_idle) x busy_fraction  (or given mean power)
    IT energy      = acc-hours x (P_acc + P_node)
    facility       = IT x PUE
    peak facility  = count x (P_cap + P_node) x PUE
    emissions      = facility x grid intensity (annual, or hour by hour from a start time)
    embodied       = acc-hours x embodied per accelerator-hour
    water          = IT x on-site WUE + facility x water intensity of electricity
    money          = facility x tariff; acc-hours x rental price; or capex amortised + energy

Low and high bounds combine the favourable (resp. unfavourable) end of every
uncertain input: MFU, busy power, node overhead, PUE, WUE, water intensity of
electricity, embodied carbon and price ranges. So low <= central <= high.

The scalar API (:func:`estimate_training`) is a one-row call of the vectorized
one (:func:`estimate_training_frame`), so both always agree.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError
from joulebook.core.validate import bounded_array, check_named, flag, flag_array, number
from joulebook.models import costs, grid, hardware, lifecycle
from joulebook.models.calibration_profile import load_profile

OUTPUT_KEYS = (
    "flops", "accelerator_hours", "wall_clock_hours", "steps", "step_time_s", "energy_per_step_j",
    "energy_per_epoch_kwh", "accelerator_energy_kwh", "it_energy_kwh", "facility_energy_kwh", "peak_power_kw",
    "accelerator_power_w", "emissions_kg", "embodied_emissions_kg", "water_l", "electricity_cost_usd",
    "cloud_cost_usd", "onprem_cost_usd",
)
UNITS = {
    "flops": "FLOP", "accelerator_hours": "h", "wall_clock_hours": "h", "steps": "steps", "step_time_s": "s",
    "energy_per_step_j": "J (IT: accelerators + node, before PUE)", "energy_per_epoch_kwh": "kWh (facility)",
    "accelerator_energy_kwh": "kWh", "it_energy_kwh": "kWh", "facility_energy_kwh": "kWh", "peak_power_kw": "kW",
    "accelerator_power_w": "W", "emissions_kg": "kg CO2e", "embodied_emissions_kg": "kg CO2e", "water_l": "L",
    "electricity_cost_usd": "USD", "cloud_cost_usd": "USD", "onprem_cost_usd": "USD",
}
NUMERIC_INPUTS = ("params", "active_params", "tokens", "steps", "batch", "seq_len", "epochs", "dataset_tokens", "layers",
                  "hidden", "count", "mfu", "accelerator_hours", "power_w", "node_power_w", "pue",
                  "intensity_g_per_kwh", "price_usd_per_kwh", "cloud_price_usd_per_gpu_hour",
                  "purchase_usd_per_accelerator", "wue_l_per_kwh", "lifetime_years", "utilisation", "scaling_efficiency")


#: scale bands of the training-MFU prior (data/efficiency.csv ``scale_band``; built by scripts/build_data.py
#: with these thresholds, imported from here): models under PROBE_MAX_PARAMS take our H100 probe's MFU ("probe"); larger
#: models the published-run prior of the accelerator's generation, on fewer than FRONTIER_MIN_COUNT
#: accelerators ("cluster") or more ("frontier").
SCALE_BANDS = ("probe", "cluster", "frontier")
PROBE_MAX_PARAMS = 1e9
FRONTIER_MIN_COUNT = 2048
#: confidence values of a prior row that mark a part as low-confidence: no published production run on its
#: generation (a transferred prior, or vendor benchmarks only). Such parts are never ranked best.
LOW_CONFIDENCE = ("transferred", "benchmark")


@dataclass(frozen=True)
class MfuPrior:
    """The MFU basis of one accelerator, precision and scale band (a row of efficiency.csv)."""

    low: float
    central: float
    high: float
    source_id: str
    basis: str
    scale_band: str
    confidence: str
    generation: str
    note: str

    @property
    def low_confidence(self) -> bool:
        return self.confidence in LOW_CONFIDENCE


_BANDS_SORTED = tuple(sorted(SCALE_BANDS))  # cluster, frontier, probe


def _band_codes(params, count) -> np.ndarray:
    """Indices into ``_BANDS_SORTED`` (NaN parameters, i.e. accelerator-hours given, count as cluster)."""
    p = np.asarray(params, dtype=float)
    c = np.asarray(count, dtype=float)
    return np.where(p < PROBE_MAX_PARAMS, 2, np.where(c >= FRONTIER_MIN_COUNT, 1, 0))


def scale_band(params, count) -> np.ndarray:
    """Scale band per scenario (vectorized): ``probe`` below 1e9 parameters, else ``cluster`` / ``frontier``
    by accelerator count. Unknown parameters (accelerator-hours given) count as ``cluster``."""
    return np.array(_BANDS_SORTED, dtype=object)[_band_codes(params, count)]


@data.cached
def mfu_prior(accelerator, precision: str, band: str = "cluster") -> MfuPrior:
    """The training-MFU prior (low, central, high, basis, confidence) for an accelerator, precision and band.

    A part whose generation has no row falls back to the pooled (transferred) prior ``*`` of the band.
    """
    if band not in SCALE_BANDS:
        raise InputError("scale_band", f"unknown scale band {band!r} (one of {', '.join(SCALE_BANDS)})")
    acc = data.accelerator(accelerator)
    p = data.normalise_precision(precision)
    df = data.table("efficiency")
    tr = df[(df["workload"] == "train") & (df["scale_band"] == band)]
    hit = tr[(tr["accelerator_id"] == acc.accelerator_id) & (tr["precision"] == p)]
    if hit.empty:
        band_any = "cluster" if band == "probe" else band
        pooled = df[(df["workload"] == "train") & (df["scale_band"] == band_any) & (df["accelerator_id"] == "*")]
        hit = pooled[pooled["precision"] == p]
        if hit.empty:
            hit = pooled[pooled["precision"] == "bf16"]
    r = hit.iloc[0]
    return MfuPrior(float(r["efficiency_low"]), float(r["efficiency"]), float(r["efficiency_high"]), str(r["source_id"]),
                    str(r["basis"]), band, str(r["confidence"]), str(r["generation"]), str(r["note"]))


def training_flops(params, tokens, *, active_params=None, layers=None, hidden=None, seq_len=None, recompute=False):
    """Training FLOPs: 6 N_act D, plus 6 L s d D attention when the architecture is given (vectorized)."""
    n_act = params if active_params is None else active_params
    f = 6.0 * np.asarray(n_act, dtype=float) * np.asarray(tokens, dtype=float)
    if layers is not None and hidden is not None and seq_len is not None:
        att = 6.0 * np.asarray(layers, float) * np.asarray(seq_len, float) * np.asarray(hidden, float) * np.asarray(tokens, float)
        f = f + np.nan_to_num(att)
    if np.ndim(recompute) == 0:
        return f * (4.0 / 3.0) if recompute else f
    return np.where(np.asarray(recompute, bool), f * 4.0 / 3.0, f)


@dataclass
class TrainingEstimate:
    """Central, low and high results with the inputs and assumptions that produced them."""

    central: dict[str, float | None]
    low: dict[str, float | None]
    high: dict[str, float | None]
    assumptions: Assumptions
    inputs: dict[str, Any]
    region: data.Region | None = None
    source_ids: list[str] = field(default_factory=list)

    def __getitem__(self, key: str):
        return self.central[key]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.central)
        out["low"] = dict(self.low)
        out["high"] = dict(self.high)
        out["units"] = {k: UNITS[k] for k in OUTPUT_KEYS}
        out["inputs"] = dict(self.inputs)
        out["region"] = self.region.region_id if self.region else None
        out["assumptions"] = self.assumptions.to_list()
        out["sources"] = list(self.source_ids)
        return out

    def frame(self) -> pd.DataFrame:
        """low/central/high side by side, one row per output."""
        return pd.DataFrame({"output": list(OUTPUT_KEYS), "unit": [UNITS[k] for k in OUTPUT_KEYS],
                             "low": [self.low[k] for k in OUTPUT_KEYS], "central": [self.central[k] for k in OUTPUT_KEYS],
                             "high": [self.high[k] for k in OUTPUT_KEYS]})


# --------------------------------------------------------------------------- vectorized core

def _col(df: pd.DataFrame, name: str, n: int) -> np.ndarray:
    """The column as floats; all-NaN when absent (use :func:`_opt` where absence should be free)."""
    v = _opt(df, name)
    return np.full(n, np.nan) if v is None else v


def _opt(df: pd.DataFrame, name: str) -> np.ndarray | None:
    """The column as floats, or None when it is absent or entirely missing (cheap path for sweeps)."""
    if name not in df.columns:
        return None
    col = df[name]
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float) if col.dtype == object else col.to_numpy(dtype=float)
    if np.isnan(v).all():
        return None
    return v


def _ov(given: np.ndarray | None, default):
    """``given`` where present, else ``default`` (scalar or array)."""
    if given is None:
        return default
    return np.where(np.isnan(given), default, given)


def _given(a: np.ndarray) -> np.ndarray:
    return ~np.isnan(a)


def _tokens(df: pd.DataFrame, n: int):
    tokens = _col(df, "tokens", n)
    steps, batch, seq = _col(df, "steps", n), _col(df, "batch", n), _col(df, "seq_len", n)
    epochs, dataset = _col(df, "epochs", n), _col(df, "dataset_tokens", n)
    by_steps = _given(steps)
    by_epochs = _given(epochs) | _given(dataset)
    both = _given(tokens) & (by_steps | by_epochs) | (by_steps & by_epochs)
    if both.any():
        i = int(np.flatnonzero(both)[0])
        raise InputError("tokens", f"give tokens, or steps x batch x seq_len, or epochs x dataset_tokens — not several "
                                   f"(row {df.index[i]!r})")
    bad = by_steps & ~(_given(batch) & _given(seq))
    if bad.any():
        raise InputError("steps", f"steps needs batch and seq_len (tokens = steps x batch x seq_len; row "
                                  f"{df.index[np.flatnonzero(bad)[0]]!r})")
    bad = by_epochs & ~(_given(epochs) & _given(dataset))
    if bad.any():
        raise InputError("epochs", f"epochs and dataset_tokens go together (tokens = epochs x dataset_tokens; row "
                                   f"{df.index[np.flatnonzero(bad)[0]]!r})")
    tok = np.where(by_steps, steps * batch * seq, np.where(by_epochs, epochs * dataset, tokens))
    tokens_per_step = np.where(_given(batch) & _given(seq), batch * seq, np.nan)
    n_steps = np.where(by_steps, steps, tok / tokens_per_step)
    n_epochs = np.where(by_epochs, epochs, np.nan)
    return tok, n_steps, n_epochs


class _Take:
    """Per-unique rows expanded lazily to contiguous per-scenario columns (``X[:, j]``)."""

    def __init__(self, table: np.ndarray, codes: np.ndarray):
        self.table, self.codes, self._cache = table, codes, {}

    def __getitem__(self, key):
        j = key[1]
        if j not in self._cache:
            col = self.table[:, j]
            self._cache[j] = col[0] if (col == col[0]).all() and not np.isnan(col[0]) else col[self.codes]
        return self._cache[j]


def _factorize(values: pd.Series, default: str) -> tuple[np.ndarray, list[str]]:
    """Codes and unique names of a text column; missing values take ``default``."""
    codes, uniq = pd.factorize(values, sort=False, use_na_sentinel=True)
    names = [str(u) for u in uniq]
    if (codes < 0).any():
        names.append(default)
        codes = np.where(codes < 0, len(names) - 1, codes)
    return codes, names


FRAME_TEXT_INPUTS = ("accelerator", "precision", "region", "recompute")
SCALAR_ONLY = {"start": "per-row start times are not modelled here: pass intensity_g_per_kwh from "
                        "grid.mean_intensity, or use estimate_training",
               "calibration": "apply a profile with estimate_training, or pass its mfu and power_w columns"}


def _check_frame_inputs(df: pd.DataFrame) -> None:
    """Refuse what the frame would ignore: scalar-only parameters and near-misses of input names; check relations.

    Other columns (labels such as ``scenario``) pass through to the output unchanged.
    """
    known = [*NUMERIC_INPUTS, *FRAME_TEXT_INPUTS]
    outputs = {f"{k}{s}" for k in OUTPUT_KEYS for s in ("", "_low", "_high")}
    for col in map(str, df.columns):
        if col in SCALAR_ONLY:
            raise InputError(col, f"not understood by estimate_training_frame: {SCALAR_ONLY[col]}")
        if col in known or col in outputs:
            continue
        near = difflib.get_close_matches(col, known, n=3, cutoff=0.85)
        if near:
            raise InputError(col, f"unknown input column; close matches: {', '.join(near)}")
    if "params" in df.columns and "active_params" in df.columns:
        p, a = _col(df, "params", len(df)), _col(df, "active_params", len(df))
        bad = ~np.isnan(p) & ~np.isnan(a) & (a > p)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError("active_params", f"{a[i]:g} active parameters exceed the {p[i]:g} total (row {df.index[i]!r})")


def estimate_training_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Vectorized training estimate: one row per scenario.

    Input columns (missing or NaN = default): params, active_params, tokens | steps+batch+seq_len |
    epochs+dataset_tokens, layers, hidden, seq_len, recompute, accelerator, count, precision, mfu,
    accelerator_hours, power_w, node_power_w, pue, region, intensity_g_per_kwh, price_usd_per_kwh,
    cloud_price_usd_per_gpu_hour, purchase_usd_per_accelerator, wue_l_per_kwh, lifetime_years, utilisation.

    Output: the input columns plus ``<key>``, ``<key>_low``, ``<key>_high`` for every output key, and the
    MFU basis of each row: ``mfu_used`` (central), ``mfu_basis`` (``probe``, ``probe (transferred)``,
    ``published prior``, ``transferred prior``, ``given``, ``accelerator-hours given``), ``mfu_confidence``,
    ``mfu_scale_band`` and ``mfu_low_confidence`` (True: no published large-scale run on the generation;
    never rank such a row best).
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("scenarios", "expected a pandas DataFrame")
    n = len(df)
    if n == 0:
        return df.copy()
    if "params" not in df.columns and "accelerator_hours" not in df.columns:
        raise InputError("params", "a value is required (or accelerator_hours)")
    _check_frame_inputs(df)
    for name in NUMERIC_INPUTS:
        if name in df.columns:
            raw = df[name]
            if raw.dtype == object:
                text = raw.notna() & pd.to_numeric(raw, errors="coerce").isna()
                if text.any():
                    raise InputError(name, f"expected a plain number (units are in the parameter name), got "
                                           f"{raw[text].iloc[0]!r} (row {raw.index[text][0]!r})")
            if raw.isna().any() and name in ("params",) and "accelerator_hours" not in df.columns:
                raise InputError(name, f"is NaN (row {raw.index[raw.isna()][0]!r})")
            bounded_array(name, _col(df, name, n), df.index)
    params = _col(df, "params", n)
    given_hours = _col(df, "accelerator_hours", n)
    if (np.isnan(params) & np.isnan(given_hours)).any():
        raise InputError("params", f"a value is required (or accelerator_hours; row "
                                   f"{df.index[np.flatnonzero(np.isnan(params) & np.isnan(given_hours))[0]]!r})")
    mfu_in = _col(df, "mfu", n)
    if (_given(mfu_in) & (mfu_in > 1)).any():
        raise InputError("mfu", "must be <= 1 (a fraction of peak)")
    pue_in = _col(df, "pue", n)
    if (_given(pue_in) & ((pue_in < 1) | (pue_in > 3))).any():
        raise InputError("pue", "must be between 1 and 3")
    util_in = _col(df, "utilisation", n)
    if (_given(util_in) & (util_in > 1)).any():
        raise InputError("utilisation", "must be <= 1")
    scaling_opt = _opt(df, "scaling_efficiency")
    if scaling_opt is not None and (np.nan_to_num(scaling_opt) > 1).any():
        raise InputError("scaling_efficiency", "must be <= 1 (share of single-accelerator throughput kept)")
    scaling = _ov(scaling_opt, 1.0)
    count = _col(df, "count", n)
    count = np.where(_given(count), count, 1.0)
    if (count != np.floor(count)).any():
        raise InputError("count", f"must be a whole number of accelerators (row {df.index[count != np.floor(count)][0]!r})")

    tokens, steps, epochs = _tokens(df, n)
    need_flops = ~_given(given_hours)
    if (need_flops & np.isnan(tokens)).any():
        raise InputError("tokens", "a value is required: tokens, steps x batch x seq_len, or epochs x dataset_tokens "
                                   f"(or give accelerator_hours; row {df.index[np.flatnonzero(need_flops & np.isnan(tokens))[0]]!r})")
    arch = [_opt(df, c) for c in ("layers", "hidden", "seq_len")]
    flops = training_flops(params, tokens, active_params=_ov(_opt(df, "active_params"), params),
                           layers=arch[0] if all(a is not None for a in arch) else None, hidden=arch[1], seq_len=arch[2],
                           recompute=flag_array("recompute", df["recompute"], df.index) if "recompute" in df.columns else False)

    # accelerators x precision
    acc_series = df["accelerator"] if "accelerator" in df.columns else pd.Series(["h100-sxm"] * n)
    prec_series = df["precision"] if "precision" in df.columns else pd.Series(["bf16"] * n)
    a_codes, a_uniq = _factorize(acc_series, "h100-sxm")
    p_codes, p_uniq = _factorize(prec_series, "bf16")
    b_codes = _band_codes(params, count)
    nb = len(SCALE_BANDS)
    key = (a_codes.astype(np.int64) * len(p_uniq) + p_codes) * nb + b_codes
    pair_codes, pair_uniq = pd.factorize(key, sort=False)
    codes = pair_codes
    resolved = [_resolve_acc(a_uniq[int(u) // nb // len(p_uniq)], p_uniq[int(u) // nb % len(p_uniq)],
                             _BANDS_SORTED[int(u) % nb]) for u in pair_uniq]
    R = np.array([[r["peak"], r["mfu"][0], r["mfu"][1], r["mfu"][2], r["tdp"], r["idle"], r["node"][0], r["node"][1],
                   r["node"][2], r["emb"][0], r["emb"][1], r["emb"][2], r["cloud"][0], r["cloud"][1], r["cloud"][2],
                   r["buy"][0], r["buy"][1], r["buy"][2]] for r in resolved], dtype=float)
    R = _Take(R, codes)
    peak, mfu_l, mfu_c, mfu_h, tdp, idle = R[:, 0], R[:, 1], R[:, 2], R[:, 3], R[:, 4], R[:, 5]
    node_l, node_c, node_h = R[:, 6], R[:, 7], R[:, 8]
    node_in = _opt(df, "node_power_w")
    node = [_ov(node_in, x) for x in (node_l, node_c, node_h)]
    mfu_opt = _opt(df, "mfu")
    mfu = [_ov(mfu_opt, x) for x in (mfu_h, mfu_c, mfu_l)]  # low case uses high MFU
    # power: hardware.training_power_w (compute share = MFU) with each accelerator's fitted/transferred coefficients
    pcoef = [_Take(np.array([[hardware.power_coefficients(r["id"], w)[t] for t in hardware.POWER_TERMS]
                             for r in resolved], dtype=float), codes) for w in ("low", "central", "high")]
    power_opt = _opt(df, "power_w")
    power_in = _col(df, "power_w", n) if power_opt is not None else None
    missing_cap = np.isnan(tdp) if power_in is None else (np.isnan(power_in) & np.isnan(tdp))
    if missing_cap.any():
        bad = [resolved[c]["id"] for c in np.unique(codes[missing_cap])]
        raise InputError("power_w", f"no power cap in the data for {', '.join(bad)}: give the mean power (power_w)")
    # the power range comes from the coefficients' range at the central MFU (the MFU range acts on the hours)
    acc_power = [_ov(power_opt, hardware.training_power_w(idle, tdp, mfu[1], {t: c[:, j] for j, t in
                                                                             enumerate(hardware.POWER_TERMS)}))
                 for c in pcoef]

    # regions
    if "region" in df.columns:
        rcodes, runiq = _factorize(df["region"], "")
        rres = [_resolve_region(u) for u in runiq]
    else:
        rcodes, rres = np.zeros(n, dtype=int), [_resolve_region("")]
    G = np.array([[r["ci"], r["price"], r["pue"][0], r["pue"][1], r["pue"][2], r["wue"][0], r["wue"][1], r["wue"][2],
                   r["ewif"][0], r["ewif"][1], r["ewif"][2]] for r in rres], dtype=float)
    G = _Take(G, rcodes)
    ci = _ov(_opt(df, "intensity_g_per_kwh"), G[:, 0])
    price = _ov(_opt(df, "price_usd_per_kwh"), G[:, 1])
    pue_opt = _opt(df, "pue")
    pue = [_ov(pue_opt, G[:, i]) for i in (2, 3, 4)]
    wue_opt = _opt(df, "wue_l_per_kwh")
    wue = [_ov(wue_opt, G[:, i]) for i in (5, 6, 7)]
    ewif = [G[:, i] for i in (8, 9, 10)]

    cloud_opt = _opt(df, "cloud_price_usd_per_gpu_hour")
    cloud = [_ov(cloud_opt, R[:, i]) for i in (12, 13, 14)]
    buy_opt = _opt(df, "purchase_usd_per_accelerator")
    buy = [_ov(buy_opt, R[:, i]) for i in (15, 16, 17)]
    life_l, life_c, life_h, _, _ = data.assumption_row("hardware_lifetime_years")
    uti_l, uti_c, uti_h, _, _ = data.assumption_row("hardware_utilisation")
    life_opt, util_opt = _opt(df, "lifetime_years"), _opt(df, "utilisation")
    life = [_ov(life_opt, x) for x in (life_h, life_c, life_l)]  # low cost: long life
    util = [_ov(util_opt, x) for x in (uti_h, uti_c, uti_l)]
    emb = [R[:, 9], R[:, 10], R[:, 11]]

    # Results go straight into one preallocated block (rows = output columns), so a sweep of a
    # million scenarios allocates a handful of temporaries rather than hundreds of arrays.
    names = [name for key in OUTPUT_KEYS for name in (key, f"{key}_low", f"{key}_high")]
    block = np.empty((len(names), n))
    case_row = {"central": 0, "low": 1, "high": 2}

    def row(key: str, case: str) -> np.ndarray:
        return block[OUTPUT_KEYS.index(key) * 3 + case_row[case]]

    hours_opt = _opt(df, "accelerator_hours")
    no_steps, no_epochs = bool(np.isnan(steps).all()), bool(np.isnan(epochs).all())
    cap = tdp if power_in is None else np.where(np.isnan(tdp), power_in, tdp)
    flops_out = flops if hours_opt is None else np.where(np.isnan(hours_opt), flops, np.nan)
    for k, case in enumerate(("low", "central", "high")):
        hours = row("accelerator_hours", case)
        np.divide(flops, peak * (1e12 * 3600.0) * mfu[k] * scaling, out=hours)
        if hours_opt is not None:
            np.copyto(hours, hours_opt, where=~np.isnan(hours_opt))
        wall = row("wall_clock_hours", case)
        np.divide(hours, count, out=wall)
        p_acc = acc_power[k]
        row("accelerator_power_w", case)[:] = p_acc
        np.multiply(hours, np.asarray(p_acc) / 1000.0, out=row("accelerator_energy_kwh", case))
        it = row("it_energy_kwh", case)
        np.multiply(hours, (np.asarray(p_acc) + node[k]) / 1000.0, out=it)
        fac = row("facility_energy_kwh", case)
        np.multiply(it, pue[k], out=fac)
        np.multiply(count, (cap + node[k]) * pue[k] / 1000.0, out=row("peak_power_kw", case))
        elec = row("electricity_cost_usd", case)
        np.multiply(fac, price, out=elec)
        row("flops", case)[:] = flops_out
        row("steps", case)[:] = steps
        if no_steps:
            row("step_time_s", case).fill(np.nan)
            row("energy_per_step_j", case).fill(np.nan)
        else:
            np.divide(wall * 3600.0, steps, out=row("step_time_s", case))
            np.divide(it * 3.6e6, steps, out=row("energy_per_step_j", case))
        if no_epochs:
            row("energy_per_epoch_kwh", case).fill(np.nan)
        else:
            np.divide(fac, epochs, out=row("energy_per_epoch_kwh", case))
        np.multiply(fac, ci / 1000.0, out=row("emissions_kg", case))
        np.multiply(hours, emb[k], out=row("embodied_emissions_kg", case))
        water = row("water_l", case)
        np.multiply(it, wue[k], out=water)
        water += fac * ewif[k]
        np.multiply(hours, cloud[k], out=row("cloud_cost_usd", case))
        onprem = row("onprem_cost_usd", case)
        np.multiply(hours, costs.amortised_usd_per_hour(buy[k], life[k], util[k]), out=onprem)
        onprem += elec
    res = pd.DataFrame(block.T, index=df.index, columns=names, copy=False)
    # the MFU basis of every row: like-with-like comparisons and rankings read these
    low = np.array([r["mfu_confidence"] in LOW_CONFIDENCE for r in resolved], dtype=bool)[codes]
    used = np.broadcast_to(np.asarray(mfu[1], dtype=float), (n,)).copy()
    overrides = []
    for given, label in ((mfu_opt, "given"), (hours_opt, "accelerator-hours given")):
        if given is not None:
            g = ~np.isnan(given)
            overrides.append((g, label))
            low[g] = False
            if label != "given":
                used[g] = np.nan
    res["mfu_used"] = used
    res["mfu_basis"] = _labels([r["mfu_basis"] for r in resolved], codes, overrides)
    res["mfu_confidence"] = _labels([r["mfu_confidence"] for r in resolved], codes,
                                    [(g, "given") for g, _ in overrides])
    res["mfu_scale_band"] = pd.Categorical.from_codes(b_codes, categories=list(_BANDS_SORTED))
    res["mfu_low_confidence"] = low
    names = names + ["mfu_used", "mfu_basis", "mfu_confidence", "mfu_scale_band", "mfu_low_confidence"]
    keep = [c for c in df.columns if c not in names]
    return pd.concat([df[keep], res], axis=1)


def _labels(per_unique: list[str], codes: np.ndarray, overrides) -> pd.Categorical:
    """A text column for every scenario from one label per unique row (categorical: cheap for sweeps)."""
    cats = list(dict.fromkeys([*per_unique, *(label for _, label in overrides)]))
    idx = np.array([cats.index(x) for x in per_unique], dtype=np.int64)[codes]
    for mask, label in overrides:
        idx[mask] = cats.index(label)
    return pd.Categorical.from_codes(idx, categories=cats)


def _resolve_acc(acc_name: str, precision: str, band: str = "cluster") -> dict[str, Any]:
    return _resolve_acc_cached(str(data.data_dir()), str(acc_name).lower(), str(precision).lower(), band)


def _resolve_region(name: str) -> dict[str, Any]:
    return _resolve_region_cached(str(data.data_dir()), str(name).lower())


@lru_cache(maxsize=256)
def _resolve_acc_cached(_dir: str, acc_name: str, precision: str, band: str) -> dict[str, Any]:
    acc = data.accelerator(acc_name)
    p = data.normalise_precision(precision)
    peak = acc.peak(p)
    prior = mfu_prior(acc.accelerator_id, p, band)
    lo, mid, hi, src = prior.low, prior.central, prior.high, prior.source_id
    idle, _, _ = hardware.idle_power_w(acc) if not math.isnan(acc.tdp_w) else (float("nan"), "", "")
    node = tuple(hardware.node_power_w(acc, w) if not math.isnan(acc.tdp_w) else 0.0 for w in ("low", "central", "high"))
    nan3 = (float("nan"),) * 3
    prof = lifecycle.embodied_profile(acc)
    emb = prof.kg_per_accelerator_hour() if prof is not None else nan3
    cp = costs.cloud_price(acc)
    bp = costs.purchase_price(acc)
    return {"id": acc.accelerator_id, "peak": peak, "mfu": (lo, mid, hi), "mfu_source": src,
            "mfu_basis": prior.basis, "mfu_confidence": prior.confidence, "tdp": acc.tdp_w,
            "idle": idle, "node": node, "emb": emb, "cloud": cp.as_tuple() if cp else nan3,
            "buy": bp.as_tuple() if bp else nan3}


@lru_cache(maxsize=1024)
def _resolve_region_cached(_dir: str, name: str) -> dict[str, Any]:
    if not name or name == "nan":
        pue, wue = data.operator_defaults("industry")
        return {"ci": float("nan"), "price": float("nan"), "pue": pue, "wue": wue,
                "ewif": data.assumption_row("ewif_l_per_kwh")[:3]}
    r = data.region(name)
    return {"ci": r.intensity_g_per_kwh, "price": r.price_usd_per_kwh if r.price_usd_per_kwh is not None else float("nan"),
            "pue": r.pue, "wue": r.wue_onsite_l_per_kwh, "ewif": r.ewif_l_per_kwh}


# --------------------------------------------------------------------------- scalar API

def _clean(v):
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def estimate_training(
    *, params: float | None = None, tokens: float | None = None, accelerator: str = "h100-sxm", count: int = 1,
    precision: str = "bf16", region: str | None = None, mfu: float | None = None, active_params: float | None = None,
    steps: float | None = None, batch: float | None = None, seq_len: float | None = None, epochs: float | None = None,
    dataset_tokens: float | None = None, layers: int | None = None, hidden: int | None = None, recompute: bool = False,
    accelerator_hours: float | None = None, power_w: float | None = None, node_power_w: float | None = None,
    pue: float | None = None, intensity_g_per_kwh: float | None = None, price_usd_per_kwh: float | None = None,
    start=None, cloud_price_usd_per_gpu_hour: float | None = None, purchase_usd_per_accelerator: float | None = None,
    wue_l_per_kwh: float | None = None, lifetime_years: float | None = None, utilisation: float | None = None,
    scaling_efficiency: float | None = None, calibration=None,
) -> TrainingEstimate:
    """Estimate one training run. See the module docstring for the equations.

    ``start`` (ISO date-time, naive = region local time) switches emissions from the
    annual intensity to the hour-by-hour profile over the run's wall-clock window.
    ``calibration`` (a profile file from ``joulebook calibrate``, a dict or a profile
    object) supplies MFU and mean power under load measured on this accelerator.
    """
    inputs = {k: v for k, v in dict(
        params=params, active_params=active_params, tokens=tokens, steps=steps, batch=batch, seq_len=seq_len,
        epochs=epochs, dataset_tokens=dataset_tokens, layers=layers, hidden=hidden, recompute=recompute,
        accelerator=accelerator, count=count, precision=precision, mfu=mfu, accelerator_hours=accelerator_hours,
        power_w=power_w, node_power_w=node_power_w, pue=pue, region=region, intensity_g_per_kwh=intensity_g_per_kwh,
        price_usd_per_kwh=price_usd_per_kwh, start=str(start) if start is not None else None,
        cloud_price_usd_per_gpu_hour=cloud_price_usd_per_gpu_hour,
        purchase_usd_per_accelerator=purchase_usd_per_accelerator, wue_l_per_kwh=wue_l_per_kwh,
        lifetime_years=lifetime_years, utilisation=utilisation, scaling_efficiency=scaling_efficiency).items()}
    inputs["recompute"] = recompute = flag("recompute", recompute)
    check_named({k: v for k, v in inputs.items() if k in NUMERIC_INPUTS})  # physical ranges; active <= total
    if count is not None:
        number("count", count, strictly_positive=True, integer=True)
    acc = data.accelerator(accelerator)
    prec = data.normalise_precision(precision)
    acc.peak(prec)  # raises if unsupported
    calib = None
    if calibration is not None:
        calib = load_profile(calibration)
        if calib.accelerator_id != acc.accelerator_id:
            raise InputError("calibration", f"profile was measured on {calib.accelerator_id}, the job uses {acc.accelerator_id}")
        if data.normalise_precision(calib.precision) != prec:
            raise InputError("calibration", f"profile was measured in {calib.precision}, the job uses {prec}")
        if mfu is None:
            inputs["mfu"] = calib.mfu
        if power_w is None and calib.power_w is not None:
            inputs["power_w"] = calib.power_w
    reg = data.region(region) if region else None
    row = {k: (np.nan if v is None else v) for k, v in inputs.items() if k not in ("start",)}
    row["accelerator"] = acc.accelerator_id
    row["precision"] = prec
    row["region"] = reg.region_id if reg else ""
    if start is not None and reg is None:
        raise InputError("start", "a start time needs a region (for its time zone and hourly profile)")
    frame = estimate_training_frame(pd.DataFrame([row]))
    ci_window = None
    if start is not None and intensity_g_per_kwh is None:
        ci_window = grid.mean_intensity(reg, start, float(frame["wall_clock_hours"].iloc[0]))
        row["intensity_g_per_kwh"] = ci_window
        frame = estimate_training_frame(pd.DataFrame([row]))
    r0 = frame.iloc[0]
    central = {k: _clean(r0[k]) for k in OUTPUT_KEYS}
    low = {k: _clean(r0[f"{k}_low"]) for k in OUTPUT_KEYS}
    high = {k: _clean(r0[f"{k}_high"]) for k in OUTPUT_KEYS}
    assumptions, sources = _assumptions(acc, prec, reg, inputs, calib, ci_window, frame)
    return TrainingEstimate(central, low, high, assumptions, inputs, reg, sources)


def _assumptions(acc, prec, reg, inputs: Mapping[str, Any], calib, ci_window, frame):
    a = Assumptions()
    src: list[str] = [acc.source_id]
    a.add("peak_tflops", acc.peak(prec), f"TFLOP/s dense {prec}", acc.source_id, acc.name)
    band = str(frame["mfu_scale_band"].iloc[0])
    prior = mfu_prior(acc.accelerator_id, prec, band)
    lo, mid, hi, esrc = prior.low, prior.central, prior.high, prior.source_id
    band_text = {"probe": f"a model under {PROBE_MAX_PARAMS:.0e} parameters (probe-sized)",
                 "cluster": f"a model of {PROBE_MAX_PARAMS:.0e} parameters or more on fewer than {FRONTIER_MIN_COUNT:,} accelerators",
                 "frontier": f"a model of {PROBE_MAX_PARAMS:.0e} parameters or more on {FRONTIER_MIN_COUNT:,} accelerators or more"}[band]
    if inputs.get("accelerator_hours") is not None:
        a.add("accelerator_hours", inputs["accelerator_hours"], "h", "user", "given: skips the FLOPs path", True)
    elif inputs.get("mfu") is not None:
        calibrated = calib is not None and inputs.get("mfu") == calib.mfu
        a.add("mfu", inputs["mfu"], "fraction of peak", calib.source if calibrated else "user",
              "calibrated" if calibrated else "given", True)
        a.add("mfu_basis", "calibrated" if calibrated else "given", "", calib.source if calibrated else "user",
              f"the prior for {band_text} would be {mid:.3g} ({prior.basis}, {prior.confidence})")
    else:
        a.add("mfu", mid, "fraction of peak", esrc, f"range {lo:.3g}-{hi:.3g} (low estimate uses the high MFU)")
        conf = (f"LOW ({prior.confidence}): no published large-scale production run on this generation"
                if prior.low_confidence else prior.confidence)
        a.add("mfu_basis", f"{prior.basis} ({prior.generation}, {band})", "", esrc,
              f"{band_text}; confidence {conf}; {prior.note}")
        src.append(esrc)
        if esrc == "joulebook_published_mfu":
            src += sorted(set(data.table("published_mfu")["source_id"]))
    if inputs.get("accelerator_hours") is None:
        se = inputs.get("scaling_efficiency")
        a.add("scaling_efficiency", 1.0 if se is None else se, "fraction", "user" if se is not None else "joulebook_assumptions",
              "share of per-accelerator throughput kept at this count; default 1: the MFU prior comes from "
              "published large-scale runs, which already include their scaling losses", se is not None)
    idle, isrc, inote = hardware.idle_power_w(acc) if not math.isnan(acc.tdp_w) else (None, "", "")
    if inputs.get("power_w") is not None:
        a.add("accelerator_power_w", inputs["power_w"], "W mean per accelerator",
              calib.source if calib and inputs.get("power_w") == calib.power_w else "user", "skips the power model", True)
    else:
        a.add("power_cap_w", acc.tdp_w, "W", acc.source_id, "TDP / power cap")
        a.add("idle_power_w", idle, "W", isrc, inote)
        src.append(isrc)
        for t in ("compute_power_fraction", "memory_power_fraction", "training_memory_utilisation"):
            lo, mid, hi, psrc, basis, _ = hardware.power_model_row(t, acc.accelerator_id)
            a.add(t, mid, "power model (hardware.training_power_w: compute share = MFU)", psrc,
                  f"{basis}; range {lo:.3g}-{hi:.3g}")
            src.append(psrc)
    if inputs.get("node_power_w") is not None:
        a.add("node_power_w", inputs["node_power_w"], "W per accelerator", "user", "given", True)
    else:
        nrow = data.assumption_row("node_overhead_fraction_of_tdp")
        a.add("node_overhead_fraction_of_tdp", nrow[1], nrow[3], nrow[4], f"range {nrow[0]:g}-{nrow[2]:g}; "
              f"{nrow[1] * acc.tdp_w:.0f} W per accelerator")
        src += [nrow[4], "nvidia_dgx_h100_guide"]
    if reg is not None:
        src += reg.source_ids
        a.add("region", reg.region_id, "", "joulebook_regions", reg.name)
        a.add("timezone", reg.timezone, "IANA", "joulebook_regions", "")
    if inputs.get("pue") is not None:
        a.add("pue", inputs["pue"], "ratio", "user", "given", True)
    elif reg is not None:
        p = reg.pue
        a.add("pue", p[1], "ratio", "joulebook_operator_defaults", f"{reg.operator} default; range {p[0]:g}-{p[2]:g}")
    if inputs.get("intensity_g_per_kwh") is not None:
        a.add("intensity_g_per_kwh", inputs["intensity_g_per_kwh"], "gCO2e/kWh", "user", "given", True)
    elif ci_window is not None:
        a.add("intensity_g_per_kwh", ci_window, "gCO2e/kWh", reg.intensity_source_id,
              f"hour-by-hour mean over the run from {inputs.get('start')} ({reg.timezone}); annual "
              f"{reg.intensity_g_per_kwh:g} ({reg.intensity_year}, {reg.intensity_basis}); location-based")
        src.append("dcrl_eia930_2022")
    elif reg is not None:
        a.add("intensity_g_per_kwh", reg.intensity_g_per_kwh, "gCO2e/kWh", reg.intensity_source_id,
              f"annual {reg.intensity_year}, {reg.intensity_basis}; location-based")
    if inputs.get("price_usd_per_kwh") is not None:
        a.add("price_usd_per_kwh", inputs["price_usd_per_kwh"], "USD/kWh", "user", "given", True)
    elif reg is not None:
        a.add("price_usd_per_kwh", reg.price_usd_per_kwh, "USD/kWh", reg.price_source_id or "", reg.price_note)
    if reg is not None:
        w = reg.wue_onsite_l_per_kwh if inputs.get("wue_l_per_kwh") is None else (inputs["wue_l_per_kwh"],) * 3
        a.add("wue_onsite_l_per_kwh", w[1], "L/kWh of IT energy",
              "user" if inputs.get("wue_l_per_kwh") is not None else "joulebook_operator_defaults",
              f"range {w[0]:g}-{w[2]:g}", inputs.get("wue_l_per_kwh") is not None)
        e = reg.ewif_l_per_kwh
        a.add("ewif_l_per_kwh", e[1], "L/kWh of electricity", "li_2023_thirsty",
              f"range {e[0]:g}-{e[2]:g}; US average applied to every region (no regional figure in the data set)")
        src += ["li_2023_thirsty", "scope3_methodology"]
    prof = lifecycle.embodied_profile(acc)
    if prof is not None:
        a.add("embodied_kg_per_accelerator_hour", prof.kg_per_accelerator_hour()[1], "kgCO2e/h", prof.source_id, prof.note)
        src += [prof.source_id, "ecologits_methodology", "ccf_coefficients", "luccioni_bloom_2023"]
    else:
        a.add("embodied_kg_per_accelerator_hour", None, "kgCO2e/h", "",
              "no embodied-carbon figure in the data set for this accelerator: embodied emissions n/a")
    if inputs.get("cloud_price_usd_per_gpu_hour") is not None:
        a.add("cloud_price_usd_per_gpu_hour", inputs["cloud_price_usd_per_gpu_hour"], "USD/accelerator-hour", "user", "given", True)
    else:
        cp = costs.cloud_price(acc)
        if cp:
            a.add("cloud_price_usd_per_gpu_hour", cp.central, cp.unit, cp.source_id, cp.detail + f"; range {cp.low:g}-{cp.high:g}")
            src.append(cp.source_id)
        else:
            a.add("cloud_price_usd_per_gpu_hour", None, "USD/accelerator-hour", "", "no rental price in the data set for this accelerator")
    if inputs.get("purchase_usd_per_accelerator") is not None:
        a.add("purchase_usd_per_accelerator", inputs["purchase_usd_per_accelerator"], "USD", "user", "given", True)
    else:
        bp = costs.purchase_price(acc)
        if bp:
            a.add("purchase_usd_per_accelerator", bp.central, bp.unit, bp.source_id, bp.detail)
            src.append(bp.source_id)
    life = data.assumption_row("hardware_lifetime_years")
    uti = data.assumption_row("hardware_utilisation")
    a.add("hardware_lifetime_years", inputs.get("lifetime_years") or life[1], "years", life[4], f"range {life[0]:g}-{life[2]:g}",
          inputs.get("lifetime_years") is not None)
    a.add("hardware_utilisation", inputs.get("utilisation") or uti[1], "fraction", uti[4], f"range {uti[0]:g}-{uti[2]:g}",
          inputs.get("utilisation") is not None)
    src += ["joulebook_assumptions"]
    a.add("emissions_basis", "location-based, operational (grid average) + embodied shown separately", "", "", "not market-based")
    return a, [s for s in dict.fromkeys(src) if s]
