"""The one module that reads ``data/``: load, validate, look up (cached).

Every table is a CSV with units in column names, a ``source_id`` into
``sources.csv``, a ``year`` and a ``status``. Loading checks the schema, the
units and the value ranges and fails with the file, row and column named
(:class:`~joulebook.errors.DataValidationError`). Lookups of names raise
:class:`~joulebook.errors.UnknownRegionError` /
:class:`~joulebook.errors.UnknownAcceleratorError` listing close matches.

Nothing is read at import time.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

from .errors import DataValidationError, InputError, UnknownAcceleratorError, UnknownRegionError

STATUSES = {"verified_repo", "verified_page", "secondary", "derived"}
DATA_ENV = "JOULEBOOK_DATA_DIR"

# file -> (required columns, {numeric column: (min, max)})
SCHEMAS: dict[str, tuple[list[str], dict[str, tuple[float, float]]]] = {
    "sources.csv": (["source_id", "title", "publisher", "url_or_repo_path", "year_or_date", "licence"], {}),
    "accelerators.csv": (
        ["accelerator_id", "accelerator", "aliases", "precisions", "memory_gb", "memory_bandwidth_tb_per_s", "tdp_w"],
        {"memory_gb": (1, 1000), "memory_bandwidth_tb_per_s": (0.05, 50), "tdp_w": (10, 5000), "idle_w": (1, 1000),
         "fp32_tflops": (0.1, 1e4), "tf32_dense_tflops": (0.1, 1e4), "bf16_fp16_dense_tflops": (0.1, 1e5),
         "fp8_dense_tflops": (0.1, 1e5), "int8_dense_tops": (0.1, 1e5)},
    ),
    "efficiency.csv": (["accelerator_id", "precision", "workload", "efficiency"],
                       {"efficiency_low": (0.001, 1), "efficiency": (0.001, 1), "efficiency_high": (0.001, 1)}),
    "grid_intensity_country.csv": (["area_id", "area_name", "intensity_g_per_kwh", "basis", "scope"],
                                   {"intensity_g_per_kwh": (0, 2000)}),
    "grid_intensity_us_zones.csv": (["zone_id", "zone_name", "intensity_g_per_kwh", "basis", "scope"],
                                    {"intensity_g_per_kwh": (0, 2000), "min_hourly_g_per_kwh": (0, 2000),
                                     "max_hourly_g_per_kwh": (0, 2000)}),
    "grid_intensity_cloud_region.csv": (["provider", "region", "location", "iso3", "lookup_file"],
                                        {"grid_g_per_kwh": (0, 2000), "cfe_fraction": (0, 1)}),
    "hourly_intensity_profiles.csv": (["zone_id", "season", "hour_local", "intensity_g_per_kwh", "utc_offset_h"],
                                      {"hour_local": (0, 23), "intensity_g_per_kwh": (0, 2000), "utc_offset_h": (-12, 14)}),
    "electricity_prices.csv": (["region_id", "customer_class", "period", "price_local", "currency"],
                               {"price_local": (0, 1000), "price_usd_per_kwh": (0, 5)}),
    "tou_tariffs.csv": (["utility", "schedule", "season", "months", "period", "start_local", "end_local"],
                        {"energy_usd_per_kwh": (0, 5), "demand_usd_per_kw": (0, 500)}),
    "datacenter_efficiency.csv": (["operator", "scope"], {"pue": (1, 3), "wue_l_per_kwh": (0, 20)}),
    "water_intensity_electricity.csv": (["region", "ewif_l_per_kwh"], {"ewif_l_per_kwh": (0, 100),
                                                                       "onsite_wue_l_per_kwh": (0, 20)}),
    "embodied_carbon.csv": (["item", "unit", "kgco2e"], {"kgco2e": (0, 1e6)}),
    "carbon_prices.csv": (["scheme", "period", "price", "currency"], {"price": (0, 10000)}),
    "cloud_gpu_prices.csv": (["provider", "instance", "gpu_model", "gpus", "purchase_option", "usd_per_gpu_hour"],
                             {"gpus": (1, 64), "usd_per_hour": (0, 1000), "usd_per_gpu_hour": (0, 200)}),
    "hardware_purchase_prices.csv": (["system", "gpu_model", "gpus", "usd_per_gpu"], {"usd_per_gpu": (100, 1e6)}),
    "compression_accuracy.csv": (["record_id", "technique", "method", "model", "metric"], {}),
    "published_training_runs.csv": (["run_id", "model", "component"],
                                    {"accelerator_hours": (0, 1e9), "power_per_device_w": (0, 5000), "pue": (1, 3)}),
    "regions.csv": (["region_id", "name", "kind", "iso3", "intensity_file", "intensity_key", "timezone", "operator"], {}),
    "operator_defaults.csv": (["operator", "pue", "wue_onsite_l_per_kwh"],
                              {"pue_low": (1, 3), "pue": (1, 3), "pue_high": (1, 3), "wue_onsite_low_l_per_kwh": (0, 20),
                               "wue_onsite_l_per_kwh": (0, 20), "wue_onsite_high_l_per_kwh": (0, 20)}),
    "assumptions.csv": (["name", "value", "unit"], {"value_low": (0, 1e6), "value": (0, 1e6), "value_high": (0, 1e6)}),
    "embodied_profiles.csv": (["profile", "accelerator_kgco2e", "host_kgco2e_per_accelerator", "lifetime_years", "utilisation"],
                              {"accelerator_kgco2e": (0, 1e5), "host_kgco2e_per_accelerator": (0, 1e5),
                               "lifetime_years": (0.5, 20), "utilisation": (0.01, 1)}),
    "fx_rates.csv": (["currency", "usd_per_unit"], {"usd_per_unit": (1e-6, 100)}),
    "network_energy.csv": (["access_type", "estimate_id", "role", "kwh_per_gb", "scope"],
                           {"kwh_per_gb": (1e-5, 10), "data_year": (1990, 2100)}),
    "client_devices.csv": (["device_class", "device", "quantity", "value", "unit"],
                           {"value_low": (0, 1e4), "value": (0, 1e4), "value_high": (0, 1e4)}),
    "scaling_laws.csv": (["fit_id", "loss_irreducible_nats", "loss_coef_params", "loss_coef_tokens", "exponent_params",
                          "exponent_tokens"],
                         {"loss_irreducible_nats": (0, 10), "loss_coef_params": (0, 1e5), "loss_coef_tokens": (0, 1e5),
                          "exponent_params": (0.01, 2), "exponent_tokens": (0.01, 2), "tokens_per_param_rule": (1, 1e4)}),
    "data_efficiency_claims.csv": (["claim_id", "lever", "claim", "quantity", "unit", "applies_to"],
                                   {"value_low": (0, 1e3), "value": (0, 1e3), "value_high": (0, 1e3)}),
    "model_presets.csv": (["model_id", "name", "aliases", "params_total", "params_active", "layers", "hidden", "heads",
                           "kv_heads", "head_dim", "intermediate", "vocab", "experts", "experts_active", "tied_embeddings"],
                          {"params_total": (1e6, 1e13), "params_active": (1e6, 1e13), "layers": (1, 1000),
                           "hidden": (16, 1e6), "heads": (1, 1000), "kv_heads": (1, 1000), "head_dim": (8, 1024),
                           "intermediate": (16, 1e7), "vocab": (100, 1e7), "experts": (1, 1024), "experts_active": (1, 1024)}),
    "inference_runtime.csv": (["name", "kind", "applies_to", "unit"],
                              {"value_low": (0, 1e6), "value": (0, 1e6), "value_high": (0, 1e6)}),
    "published_mfu.csv": (["run_id", "generation", "precision", "accelerator_count", "model_params", "mfu", "kind"],
                          {"accelerator_count": (1, 1e6), "model_params": (1e6, 1e13), "active_params": (1e6, 1e13),
                           "mfu": (0.01, 1)}),
    "measured/h100_calibration.csv": (["experiment", "seconds", "energy_j_counter"],
                                      {"seconds": (0, 1e6), "energy_j_counter": (0, 1e9), "power_w_mean": (0, 5000)}),
}


_CACHED: list = []


def cached(fn):
    """Memoise a look-up per data folder (cleared by :func:`clear_cache`). Arguments must be hashable."""
    import functools

    @functools.lru_cache(maxsize=4096)
    def inner(_dir, *args, **kw):
        return fn(*args, **kw)

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        return inner(str(data_dir()), *args, **kw)

    wrapper.cache_clear = inner.cache_clear
    _CACHED.append(inner)
    return wrapper


def data_dir() -> Path:
    """The folder holding the tables, first found of:

    1. ``$JOULEBOOK_DATA_DIR`` (an override, read on every call);
    2. the checkout's ``data/`` when this package runs from a joulebook checkout
       (``lib/joulebook`` next to ``pyproject.toml``: an editable install or ``PYTHONPATH=lib``);
    3. ``joulebook/_data/``, the copy of ``data/`` a wheel ships (``pip install .``; see ``setup.py``).
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return _default_data_dir()


@cache
def _default_data_dir() -> Path:
    """Where the tables are without the override (part of :func:`data_dir`; looked up once per process)."""
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root / "data"
    return package / "_data"


def _validate(name: str, df: pd.DataFrame, known_sources: set[str] | None) -> pd.DataFrame:
    required, numeric = SCHEMAS.get(name, ([], {}))
    for col in required:
        if col not in df.columns:
            raise DataValidationError(name, "missing required column", column=col)
    if name != "sources.csv":
        for col in ("source_id", "year", "status"):
            if col not in df.columns:
                raise DataValidationError(name, "missing provenance column", column=col)
    for col, (lo, hi) in numeric.items():
        if col not in df.columns:
            continue
        vals = pd.to_numeric(df[col], errors="coerce")
        bad_text = vals.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
        if bad_text.any():
            i = int(bad_text.to_numpy().nonzero()[0][0])
            raise DataValidationError(name, f"not a number: {df[col].iloc[i]!r} (units belong in the column name)",
                                      row=i + 2, column=col)
        out = (vals < lo) | (vals > hi)
        if out.any():
            i = int(out.to_numpy().nonzero()[0][0])
            raise DataValidationError(name, f"value {vals.iloc[i]} outside the plausible range [{lo:g}, {hi:g}]",
                                      row=i + 2, column=col)
        df[col] = vals
    if name != "sources.csv":
        status = df["status"].astype(str)
        bad = ~status.isin(STATUSES)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise DataValidationError(name, f"unknown status {status.iloc[i]!r} (one of {sorted(STATUSES)})",
                                      row=i + 2, column="status")
        years = pd.to_numeric(df["year"], errors="coerce")
        bad = years.isna() | (years < 1990) | (years > 2100)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise DataValidationError(name, f"year missing or implausible: {df['year'].iloc[i]!r}", row=i + 2,
                                      column="year")
        df["year"] = years.astype(int)
        if known_sources is not None:
            bad = ~df["source_id"].isin(known_sources)
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise DataValidationError(name, f"source_id {df['source_id'].iloc[i]!r} not in sources.csv",
                                          row=i + 2, column="source_id")
    return df


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataValidationError(name, f"cannot be read as UTF-8 CSV: {e}") from None
    if not rows:
        raise DataValidationError(name, "empty file")
    width = len(rows[0])
    for i, row in enumerate(rows[1:], start=2):
        if row and len(row) != width:
            raise DataValidationError(name, f"{len(row)} fields where the header has {width} (unquoted comma?)", row=i)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except Exception as e:  # malformed CSV
        raise DataValidationError(name, f"cannot be parsed as CSV: {e}") from None


@cache
def _load_cached(directory: str, name: str) -> pd.DataFrame:
    path = Path(directory) / name
    if not path.exists():
        raise DataValidationError(name, f"file not found in {directory}")
    df = _read_csv(path, name)
    if name == "sources.csv":  # topic files (sources_<topic>.csv) extend the main list
        extra = [_read_csv(p, p.name) for p in sorted(Path(directory).glob("sources_*.csv"))]
        if extra:
            df = pd.concat([df, *extra], ignore_index=True)
        dup = df["source_id"].duplicated()
        if dup.any():
            raise DataValidationError(name, f"duplicate source_id {df['source_id'][dup].iloc[0]!r}", column="source_id")
    known = None if name == "sources.csv" else set(_load_cached(directory, "sources.csv")["source_id"])
    return _validate(name, df, known)


def table(name: str) -> pd.DataFrame:
    """A validated copy of ``data/<name>`` (``.csv`` may be omitted)."""
    if not name.endswith(".csv"):
        name += ".csv"
    return _load_cached(str(data_dir()), name).copy()


def clear_cache() -> None:
    _load_cached.cache_clear()
    _accelerator_index.cache_clear()
    _region_index.cache_clear()
    fingerprint.cache_clear()
    for fn in _CACHED:
        fn.cache_clear()


def validate_all() -> list[str]:
    """Load every table (raises on the first problem); returns the file names checked."""
    names = list(SCHEMAS)
    for n in names:
        table(n)
    return names


@cache
def fingerprint() -> str:
    """A short hash of every data file: the data version shown in reports and used by the runner."""
    h = hashlib.sha256()
    root = data_dir()
    for p in sorted(q for q in root.rglob("*") if q.suffix in (".csv", ".jsonl", ".json")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def sources_for(source_ids) -> pd.DataFrame:
    """Rows of ``sources.csv`` for the given ids (title, publisher, where, year, licence)."""
    src = table("sources")
    ids = list(dict.fromkeys(source_ids))
    out = src[src["source_id"].isin(ids)].copy()
    out["order"] = out["source_id"].map({s: i for i, s in enumerate(ids)})
    return out.sort_values("order")[["source_id", "title", "url_or_repo_path", "year_or_date", "licence"]]


# --------------------------------------------------------------------------- accelerators

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")
PEAK_COLUMN = {"fp32": "fp32_tflops", "tf32": "tf32_dense_tflops", "bf16": "bf16_fp16_dense_tflops",
               "fp16": "bf16_fp16_dense_tflops", "fp8": "fp8_dense_tflops", "int8": "int8_dense_tops",
               "int4": "int8_dense_tops"}


@dataclass(frozen=True)
class Accelerator:
    accelerator_id: str
    name: str
    form_factor: str
    memory_gb: float
    memory_bandwidth_tb_per_s: float
    tdp_w: float
    idle_w: float | None
    precisions: tuple[str, ...]
    peak_tflops: dict[str, float] = field(hash=False, compare=False)
    embodied_profile: str = ""  # "" = no embodied-carbon profile in the data set
    source_id: str = ""
    year: int = 0
    status: str = ""
    generation: str = ""  # key of the training-MFU prior (efficiency.csv)

    def peak(self, precision: str) -> float:
        """Dense peak TFLOP/s (TOP/s for int8) at ``precision``; raises if unsupported."""
        precision = normalise_precision(precision)
        if precision not in self.precisions or precision not in self.peak_tflops:
            raise InputError("precision", f"{precision} is not supported by {self.accelerator_id} "
                                          f"(supported: {', '.join(self.precisions) or 'none: the data set has no peak figures for it'})")
        return self.peak_tflops[precision]

    def supports(self, precision: str) -> bool:
        p = normalise_precision(precision)
        return p in self.precisions and p in self.peak_tflops


def normalise_precision(precision: str) -> str:
    p = str(precision).strip().lower().replace("-", "").replace("_", "")
    aliases = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "fp8e4m3": "fp8",
               "e4m3": "fp8", "fp8e5m2": "fp8", "tensorfloat32": "tf32", "bf16mixed": "bf16", "fp16mixed": "fp16",
               "fp8mixed": "fp8"}
    p = aliases.get(p, p)
    if p not in PRECISIONS:
        raise InputError("precision", f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    return p


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _text(v) -> str:
    """A text cell, or "" when it is empty (pandas reads empty cells as NaN)."""
    return v.strip() if isinstance(v, str) else ""


@cache
def _accelerator_index(directory: str) -> tuple[dict[str, Accelerator], dict[str, str]]:
    df = table("accelerators")
    accs: dict[str, Accelerator] = {}
    alias: dict[str, str] = {}
    for _, r in df.iterrows():
        precs = tuple(p.strip() for p in _text(r["precisions"]).split(",") if p.strip())
        peaks = {p: _num(r.get(col)) for p, col in PEAK_COLUMN.items() if p != "int4"}
        peaks = {p: v for p, v in peaks.items() if v is not None}
        a = Accelerator(
            accelerator_id=r["accelerator_id"], name=f"{r['accelerator']} {r['form_factor']}",
            form_factor=r["form_factor"], memory_gb=_num(r["memory_gb"]) or float("nan"),
            memory_bandwidth_tb_per_s=_num(r["memory_bandwidth_tb_per_s"]) or float("nan"),
            tdp_w=_num(r["tdp_w"]) or float("nan"), idle_w=_num(r.get("idle_w")), precisions=precs,
            peak_tflops=peaks, embodied_profile=_text(r.get("embodied_profile")), source_id=r["source_id"],
            year=int(r["year"]), status=r["status"], generation=_text(r.get("generation")))
        accs[a.accelerator_id] = a
        alias[a.accelerator_id] = a.accelerator_id
        for al in str(r.get("aliases") or "").split(";"):
            if al.strip():
                alias[al.strip().lower()] = a.accelerator_id
    return accs, alias


def accelerators() -> dict[str, Accelerator]:
    return dict(_accelerator_index(str(data_dir()))[0])


def accelerator(name: str) -> Accelerator:
    """Look up an accelerator by id or alias (case-insensitive): ``h100``, ``a100-80gb``, ``H100-SXM``."""
    if isinstance(name, Accelerator):
        return name
    accs, alias = _accelerator_index(str(data_dir()))
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key in alias:
        return accs[alias[key]]
    raise UnknownAcceleratorError(str(name), list(accs) + [k for k in alias if k not in accs], parameter="accelerator")


@cached
def efficiency(accelerator_id: str, precision: str, workload: str = "train") -> tuple[float, float, float, str]:
    """(low, central, high, source_id) achieved fraction of dense peak.

    ``workload``: ``train`` (model FLOPs utilisation), ``matmul`` (large GEMM) or
    ``mamf``. Falls back to the fleet-wide row (``*``) for training.
    """
    acc = accelerator(accelerator_id)
    precision = normalise_precision(precision)
    df = table("efficiency")
    exact = df[(df["accelerator_id"] == acc.accelerator_id) & (df["precision"] == precision) & (df["workload"] == workload)]
    for fallback in ("matmul", "mamf"):
        if exact.empty and workload != "train":
            exact = df[(df["accelerator_id"] == acc.accelerator_id) & (df["precision"] == precision)
                       & (df["workload"] == fallback)]
    if exact.empty:
        exact = df[(df["accelerator_id"] == "*") & (df["workload"] == "train")]
    r = exact.iloc[0]
    return float(r["efficiency_low"]), float(r["efficiency"]), float(r["efficiency_high"]), r["source_id"]


# --------------------------------------------------------------------------- assumptions

@cached
def assumption_row(name: str) -> tuple[float, float, float, str, str]:
    """(low, central, high, unit, source_id) of a row of ``assumptions.csv``."""
    df = table("assumptions")
    hit = df[df["name"] == name]
    if hit.empty:
        raise KeyError(f"assumptions.csv has no row {name!r}")
    r = hit.iloc[0]
    return float(r["value_low"]), float(r["value"]), float(r["value_high"]), r["unit"], r["source_id"]


# --------------------------------------------------------------------------- regions

@dataclass(frozen=True)
class Region:
    """Everything a region id resolves to. ``None`` where the data set has no value."""

    region_id: str
    name: str
    kind: str  # country, us-zone, cloud
    iso3: str
    blocs: tuple[str, ...]
    timezone: str
    intensity_g_per_kwh: float
    intensity_basis: str
    intensity_year: int
    intensity_source_id: str
    hourly_zone: str | None
    price_usd_per_kwh: float | None
    price_year: int | None
    price_source_id: str | None
    price_note: str
    tou_schedule: str | None
    operator: str
    pue: tuple[float, float, float]
    wue_onsite_l_per_kwh: tuple[float, float, float]
    ewif_l_per_kwh: tuple[float, float, float]
    carbon_price_scheme: str | None
    cloud_provider: str | None
    cloud_region: str | None
    note: str = ""

    @property
    def source_ids(self) -> list[str]:
        ids = ["joulebook_regions", self.intensity_source_id, "joulebook_operator_defaults"]
        if self.price_source_id:
            ids.append(self.price_source_id)
        return [i for i in dict.fromkeys(ids) if i]

    @property
    def jurisdictions(self) -> set[str]:
        return {self.iso3, *self.blocs} - {""}


def _country_intensity(iso: str) -> tuple[float, str, int, str]:
    df = table("grid_intensity_country")
    hit = df[df["area_id"].str.upper() == iso.upper()]
    if hit.empty:
        raise DataValidationError("grid_intensity_country.csv", f"no row for {iso}")
    r = hit.sort_values("year").iloc[-1]
    return float(r["intensity_g_per_kwh"]), f"{r['basis']}, {r['scope']}", int(r["year"]), r["source_id"]


def _intensity(file: str, key: str) -> tuple[float, str, int, str]:
    if file == "grid_intensity_country.csv":
        return _country_intensity(key)
    if file == "grid_intensity_us_zones.csv":
        df = table("grid_intensity_us_zones")
        r = df[df["zone_id"] == key].sort_values("year").iloc[-1]
        return float(r["intensity_g_per_kwh"]), f"{r['basis']}, {r['scope']}", int(r["year"]), r["source_id"]
    if file == "grid_intensity_cloud_region.csv":
        prov, reg = key.split(":", 1)
        df = table("grid_intensity_cloud_region")
        hit = df[(df["provider"] == prov) & (df["region"] == reg) & df["grid_g_per_kwh"].notna()]
        r = hit.sort_values("year").iloc[-1]
        return float(r["grid_g_per_kwh"]), "provider location-based grid average", int(r["year"]), r["source_id"]
    raise DataValidationError("regions.csv", f"unknown intensity_file {file!r}", column="intensity_file")


@cached
def fx_usd_per_unit(currency: str) -> tuple[float, str]:
    """USD per unit of ``currency`` and the source id (see ``fx_rates.csv``; rates flagged secondary)."""
    df = table("fx_rates")
    hit = df[df["currency"] == currency.upper()]
    if hit.empty:
        raise InputError("currency", f"no exchange rate for {currency!r} in fx_rates.csv")
    r = hit.sort_values("year").iloc[-1]
    return float(r["usd_per_unit"]), r["source_id"]


@cached
def electricity_price(price_key: str, customer_class: str = "industrial") -> tuple[float, int, str, str] | None:
    """(USD/kWh, year, source_id, note) for a price row, latest annual/semester figure first."""
    if not price_key:
        return None
    df = table("electricity_prices")
    hit = df[(df["region_id"] == price_key) & (df["customer_class"] == customer_class)]
    if hit.empty:
        return None
    hit = hit.assign(_monthly=hit["period"].str.contains("month")).sort_values(["_monthly", "year"],
                                                                                ascending=[True, False])
    r = hit.iloc[0]
    if pd.notna(r.get("price_usd_per_kwh")):
        return float(r["price_usd_per_kwh"]), int(r["year"]), r["source_id"], f"{r['region_name']} {r['period']}"
    rate, fx_src = fx_usd_per_unit(r["currency"])
    usd = float(r["price_local"]) * rate
    return usd, int(r["year"]), r["source_id"], (f"{r['region_name']} {r['period']}: {r['price_local']} {r['currency']}/kWh "
                                                 f"converted at {rate:g} USD/{r['currency']} ({fx_src}, unverified rate)")


@cached
def operator_defaults(operator: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(PUE low/central/high, on-site WUE low/central/high in L/kWh) of an operator class of ``operator_defaults.csv``."""
    op = table("operator_defaults").set_index("operator").loc[operator]
    return ((float(op["pue_low"]), float(op["pue"]), float(op["pue_high"])),
            (float(op["wue_onsite_low_l_per_kwh"]), float(op["wue_onsite_l_per_kwh"]),
             float(op["wue_onsite_high_l_per_kwh"])))


@cache
def _region_index(directory: str) -> dict[str, Region]:
    regions = table("regions")
    ewif = assumption_row("ewif_l_per_kwh")
    out: dict[str, Region] = {}
    for _, r in regions.iterrows():
        val, basis, year, src = _intensity(r["intensity_file"], r["intensity_key"])
        price = electricity_price(r.get("price_key") or "")
        pue, wue = operator_defaults(r["operator"])
        out[r["region_id"]] = Region(
            region_id=r["region_id"], name=r["name"], kind=r["kind"], iso3=r["iso3"],
            blocs=tuple(b for b in str(r.get("blocs") or "").split(";") if b and b != "nan"),
            timezone=r["timezone"], intensity_g_per_kwh=val, intensity_basis=basis, intensity_year=year,
            intensity_source_id=src, hourly_zone=r.get("hourly_zone") if isinstance(r.get("hourly_zone"), str) else None,
            price_usd_per_kwh=price[0] if price else None, price_year=price[1] if price else None,
            price_source_id=price[2] if price else None, price_note=price[3] if price else "no electricity price row",
            tou_schedule=r.get("tou_schedule") if isinstance(r.get("tou_schedule"), str) else None,
            operator=r["operator"], pue=pue, wue_onsite_l_per_kwh=wue,
            ewif_l_per_kwh=(ewif[0], ewif[1], ewif[2]),
            carbon_price_scheme=r.get("carbon_price_scheme") if isinstance(r.get("carbon_price_scheme"), str) else None,
            cloud_provider=r.get("cloud_provider") if isinstance(r.get("cloud_provider"), str) else None,
            cloud_region=r.get("cloud_region") if isinstance(r.get("cloud_region"), str) else None,
            note=r.get("note") if isinstance(r.get("note"), str) else "",
        )
    return out


def regions() -> dict[str, Region]:
    """Every named region (countries, US grid zones, cloud regions)."""
    return dict(_region_index(str(data_dir())))


def region(name: str) -> Region:
    """Resolve a region id (``us-va``, ``se``, ``gcp:us-central1``, ``aws:us-east-1``).

    Any ISO-3 country code of the country intensity table (``fra``, ``NOR``) also
    resolves, with UTC as time zone and no price (the result says so).
    """
    if isinstance(name, Region):
        return name
    idx = _region_index(str(data_dir()))
    key = str(name).strip().lower()
    if key in idx:
        return idx[key]
    for alias_prefix in ("google:", "gcp-", "amazon:", "aws-", "azure-"):
        if key.startswith(alias_prefix):
            fixed = {"google:": "gcp:", "gcp-": "gcp:", "amazon:": "aws:", "aws-": "aws:", "azure-": "azure:"}[alias_prefix]
            cand = fixed + key[len(alias_prefix):]
            if cand in idx:
                return idx[cand]
    countries = table("grid_intensity_country")
    code = key.split(":", 1)[1] if key.startswith("country:") else key
    hit = countries[(countries["area_id"].str.lower() == code) & (countries["area_type"] == "country")]
    if not hit.empty:
        iso = hit.iloc[0]["area_id"]
        val, basis, year, src = _country_intensity(iso)
        named = [r for r in idx.values() if r.kind == "country" and r.iso3 == iso]
        if named:
            return named[0]
        pue, wue = operator_defaults("industry")
        ewif = assumption_row("ewif_l_per_kwh")
        return Region(
            region_id=f"country:{iso.lower()}", name=hit.iloc[0]["area_name"], kind="country", iso3=iso, blocs=(),
            timezone="UTC", intensity_g_per_kwh=val, intensity_basis=basis, intensity_year=year,
            intensity_source_id=src, hourly_zone=None, price_usd_per_kwh=None, price_year=None, price_source_id=None,
            price_note="no electricity price row", tou_schedule=None, operator="industry",
            pue=pue, wue_onsite_l_per_kwh=wue,
            ewif_l_per_kwh=(ewif[0], ewif[1], ewif[2]), carbon_price_scheme=None, cloud_provider=None,
            cloud_region=None, note="country resolved from the intensity table only: time zone UTC (not local), no price")
    choices = list(idx) + [a.lower() for a in countries.loc[countries["area_type"] == "country", "area_id"]]
    raise UnknownRegionError(str(name), choices, parameter="region")


def regions_frame() -> pd.DataFrame:
    """The region table as shown by ``joulebook regions``."""
    rows = []
    for r in regions().values():
        rows.append({
            "region": r.region_id, "name": r.name, "kind": r.kind, "timezone": r.timezone,
            "intensity_g_per_kwh": r.intensity_g_per_kwh, "intensity_year": r.intensity_year,
            "price_usd_per_kwh": r.price_usd_per_kwh, "pue": r.pue[1], "hourly_profile": r.hourly_zone or "",
            "tou": r.tou_schedule or "",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- validation cases

VALIDATION_DIR = "validation"


def validation_tables() -> dict[str, pd.DataFrame]:
    """Every ``data/validation/<family>.csv`` (validated like any table: provenance, known source_id), by family."""
    root = data_dir() / VALIDATION_DIR
    return {p.stem: table(f"{VALIDATION_DIR}/{p.name}") for p in sorted(root.glob("*.csv"))}
