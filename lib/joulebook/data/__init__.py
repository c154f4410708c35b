"""The one module that reads ``data/``: load, validate, look up (cached).

Every table is a CSV with units in column names, a ``source_id`` into
``sources.csv``, a ``year`` and a ``status``. Loading checks the schema, the
units and the value ranges and fails with the file, row and column named
(:class:`~joulebook.core.errors.DataValidationError`). Lookups of names raise
:class:`~joulebook.core.errors.UnknownRegionError` /
:class:`~joulebook.core.errors.UnknownAcceleratorError` listing close matches.

Nothing is read at import time.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from joulebook.core.errors import (
    DataValidationError,
    InputError,
    UnknownAcceleratorError,
    UnknownRegionError,
    close_matches,
)

STATUSES = {"verified_repo", "verified_page", "secondary", "derived"}
DATA_ENV = "JOULEBOOK_DATA_DIR"

# file -> (required columns, {numeric column: (min, max)})
SCHEMAS: dict[str, tuple[list[str], dict[str, tuple[float, float]]]] = {
    "sources.csv": (["source_id", "title", "publisher", "url_or_repo_path", "year_or_date", "licence"], {}),
    "accelerators.csv": (
        ["accelerator_id", "accelerator", "form_factor", "aliases", "precisions", "embodied_profile", "memory_gb",
         "memory_bandwidth_tb_per_s", "tdp_w"],
        {"memory_gb": (1, 1000), "memory_bandwidth_tb_per_s": (0.05, 50), "tdp_w": (10, 5000), "idle_w": (1, 1000),
         "fp32_tflops": (0.1, 1e4), "tf32_dense_tflops": (0.1, 1e4), "bf16_fp16_dense_tflops": (0.1, 1e5),
         "fp8_dense_tflops": (0.1, 1e5), "int8_dense_tops": (0.1, 1e5), "fp64_tflops": (0.01, 1e4),
         "measured_matmul_bf16_tflops": (0.1, 1e5), "measured_matmul_fp8_tflops": (0.1, 1e5)},
    ),
    "efficiency.csv": (["accelerator_id", "precision", "workload", "efficiency"],
                       {"efficiency_low": (0.001, 1), "efficiency": (0.001, 1), "efficiency_high": (0.001, 1)}),
    "grid_intensity_country.csv": (["area_id", "area_name", "intensity_g_per_kwh", "basis", "scope"],
                                   {"intensity_g_per_kwh": (0, 2000)}),
    "grid_intensity_us_zones.csv": (["zone_id", "zone_name", "intensity_g_per_kwh", "basis", "scope"],
                                    {"intensity_g_per_kwh": (0, 2000), "min_hourly_g_per_kwh": (0, 2000),
                                     "max_hourly_g_per_kwh": (0, 2000), "hours": (1, 8784)}),
    "grid_intensity_cloud_region.csv": (["provider", "region", "location", "iso3", "lookup_file"],
                                        {"grid_g_per_kwh": (0, 2000), "cfe_fraction": (0, 1)}),
    "hourly_intensity_profiles.csv": (["zone_id", "season", "hour_local", "intensity_g_per_kwh", "utc_offset_h"],
                                      {"hour_local": (0, 23), "intensity_g_per_kwh": (0, 2000), "ratio_to_annual_mean": (0, 10),
                                       "utc_offset_h": (-12, 14)}),
    "electricity_prices.csv": (["region_id", "customer_class", "period", "price_local", "currency"],
                               {"price_local": (0, 1000), "price_usd_per_kwh": (0, 5)}),
    "tou_tariffs.csv": (["utility", "schedule", "season", "months", "period", "start_local", "end_local"],
                        {"energy_usd_per_kwh": (0, 5), "demand_usd_per_kw": (0, 500)}),
    "datacenter_efficiency.csv": (["operator", "scope"], {"pue": (1, 3), "wue_l_per_kwh": (0, 20)}),
    "water_intensity_electricity.csv": (["region", "ewif_l_per_kwh"], {"ewif_l_per_kwh": (0, 100),
                                                                       "onsite_wue_l_per_kwh": (0, 20)}),
    "embodied_carbon.csv": (["item", "unit", "kgco2e"], {"kgco2e": (0, 1e6), "lifetime_years": (0.5, 30),
                                                          "utilisation": (0.01, 1)}),
    "carbon_prices.csv": (["scheme", "period", "price", "currency"], {"price": (0, 10000)}),
    "cloud_gpu_prices.csv": (["provider", "instance", "gpu_model", "gpus", "purchase_option", "usd_per_gpu_hour"],
                             {"gpus": (1, 64), "gpu_mem_gb": (1, 1000), "usd_per_hour": (0, 1000), "usd_per_gpu_hour": (0, 200)}),
    "hardware_purchase_prices.csv": (["system", "gpu_model", "gpus", "usd_per_gpu"], {"gpus": (1, 1e5), "usd": (100, 1e10), "usd_per_gpu": (100, 1e6)}),
    "compression_accuracy.csv": (["record_id", "technique", "method", "model", "metric"],
                                 {"baseline_value": (-1e6, 1e6), "compressed_value": (-1e6, 1e6),
                                  "params_baseline_b": (0, 1e4), "params_compressed_b": (0, 1e4),
                                  "model_size_baseline": (0, 1e7), "model_size_compressed": (0, 1e7),
                                  "memory_baseline": (0, 1e7), "memory_compressed": (0, 1e7),
                                  "memory_reduction_ratio": (0, 1e3)}),
    "published_training_runs.csv": (["run_id", "model", "component"],
                                    {"accelerator_hours": (0, 1e9), "power_per_device_w": (0, 5000), "pue": (1, 3),
                                     "params_b": (0, 1e5), "num_accelerators": (1, 1e7), "training_days": (0, 3650),
                                     "chip_tdp_w": (1, 5000), "reported_energy_mwh": (0, 1e7),
                                     "carbon_intensity_g_per_kwh": (0, 2000), "reported_emissions_tco2e": (0, 1e7),
                                     "gross_intensity_g_per_kwh": (0, 2000), "gross_emissions_tco2e": (0, 1e7),
                                     "measured_tflops_per_chip": (0, 1e5)}),
    "regions.csv": (["region_id", "name", "kind", "iso3", "intensity_file", "intensity_key", "timezone", "operator"], {}),
    "operator_defaults.csv": (["operator", "pue", "wue_onsite_l_per_kwh"],
                              {"pue_low": (1, 3), "pue": (1, 3), "pue_high": (1, 3), "wue_onsite_low_l_per_kwh": (0, 20),
                               "wue_onsite_l_per_kwh": (0, 20), "wue_onsite_high_l_per_kwh": (0, 20)}),
    "assumptions.csv": (["name", "value", "unit"], {"value_low": (0, 1e6), "value": (0, 1e6), "value_high": (0, 1e6)}),
    "embodied_profiles.csv": (["profile", "accelerator_kgco2e", "host_kgco2e_per_accelerator", "lifetime_years", "utilisation"],
                              {"accelerator_kgco2e_low": (0, 1e5), "accelerator_kgco2e": (0, 1e5), "accelerator_kgco2e_high": (0, 1e5),
                               "host_kgco2e_per_accelerator": (0, 1e5),
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
                                      {"seconds": (0, 1e6), "energy_j_counter": (0, 1e9), "power_w_mean": (0, 5000),
                                       "power_w_max": (0, 5000), "batch": (1, 1e6), "seq": (1, 1e7), "params": (1, 1e13),
                                       "flops_per_token": (1, 1e15), "calls": (1, 1e9), "tflops_achieved": (0, 1e5),
                                       "s_per_call": (0, 1e6), "tokens_per_s": (0, 1e9), "j_per_token": (0, 1e6)}),
    "power_model.csv": (["name", "family", "applies_to", "unit"],
                        {"value_low": (0, 100), "value": (0, 100), "value_high": (0, 100)}),
    "achievable_rates.csv": (["accelerator_id", "rate", "unit"],
                             {"value_low": (0, 1e6), "value": (0, 1e6), "value_high": (0, 1e6)}),
    "measured/h100_decode_probe.csv": (["experiment", "runtime", "precision", "batch", "ms_per_token_step",
                                        "power_w_mean"],
                                       {"batch": (1, 1e6), "prompt_tokens": (0, 1e7), "new_tokens": (1, 1e7),
                                        "params": (1, 1e13), "weight_bytes": (1, 1e14), "ms_per_token_step": (0, 1e6),
                                        "effective_tb_per_s": (0, 1e3), "power_w_mean": (0, 5000),
                                        "energy_j_per_1k_tokens": (0, 1e9), "seconds": (0, 1e6), "calls": (1, 1e9),
                                        "energy_j_counter": (0, 1e9)}),
    "measured/mlenergy_v3_llama31_h100.csv": (["model_id", "gpu", "gpu_count", "max_num_seqs",
                                               "energy_j_per_output_token", "median_itl_ms"],
                                              {"gpu_count": (1, 1e4), "tensor_parallel": (1, 1e4),
                                               "max_num_seqs": (1, 1e6), "avg_batch_size_measured": (0, 1e6),
                                               "energy_j_per_output_token": (0, 1e6), "mean_output_tokens": (1, 1e7),
                                               "median_itl_ms": (0, 1e6), "p90_itl_ms": (0, 1e6),
                                               "mean_power_w_total": (0, 1e6), "output_throughput_tok_s": (0, 1e9)}),
}

# data/validation/<family>.csv: measured cases the model is tested against (issue 10), one row per case
_CASE = ["case_id", "role", "quantity", "measured_value", "measured_unit"]
_ARCH = {"params": (1e6, 1e13), "layers": (1, 1000), "hidden": (16, 1e6), "heads": (1, 1000), "kv_heads": (1, 1000),
         "head_dim": (8, 1024), "vocab": (100, 1e7), "count": (1, 1e6), "measured_value": (0, 1e12)}
SCHEMAS.update({
    "validation/inference_deployment.csv": (
        _CASE + ["model", "accelerator"],
        {k: _ARCH[k] for k in ("params", "layers", "hidden", "heads", "vocab", "count", "measured_value")}
        | {"days": (0, 3650), "requests": (1, 1e15), "energy_kwh_measured": (0, 1e12)}),
    "validation/inference_serving.csv": (
        _CASE + ["model", "accelerator", "precision"],
        dict(_ARCH) | {"max_num_seqs": (1, 1e6), "mean_concurrency": (0, 1e6), "mean_output_tokens": (0, 1e7),
                       "mean_prompt_tokens": (0, 1e7)}),
    "validation/probe_decode.csv": (
        _CASE + ["experiment", "model", "accelerator", "precision"],
        {"count": (1, 1e6), "batch": (1, 1e6), "prompt_tokens": (0, 1e7), "new_tokens": (1, 1e7),
         "measured_value": (0, 1e12)}),
    "validation/probe_training.csv": (
        _CASE + ["accelerator", "precision"],
        {k: _ARCH[k] for k in ("params", "layers", "hidden", "count", "measured_value")}
        | {"batch": (1, 1e6), "seq_len": (1, 1e7)}),
    "validation/training_runs.csv": (
        _CASE + ["run", "accelerator"],
        {"params": (1e6, 1e13), "tokens": (1e6, 1e17), "count": (1, 1e7), "accelerator_hours_given": (0, 1e10),
         "pue": (1, 3), "measured_value": (0, 1e12)}),
})
VALIDATION_ROLES = ("fit", "check")


# The declarations below complete SCHEMAS. Every column named in SCHEMAS (required or numeric) must be in the
# header; a numeric column may be empty unless FILLED lists it (an empty cell means "not known": the code that
# reads it says so instead of guessing). data/README.md ("Keys and checks") explains each choice.

# file -> key columns: a second row with the same key is refused, naming both rows. None = the rows are repeated
# observations (a measurement log): only an exact duplicate row is refused.
KEYS: dict[str, tuple[str, ...] | None] = {
    "sources.csv": ("source_id",),
    "accelerators.csv": ("accelerator_id",),
    "efficiency.csv": ("accelerator_id", "precision", "workload", "scale_band"),
    "grid_intensity_country.csv": ("area_id", "year"),
    "grid_intensity_us_zones.csv": ("zone_id", "year"),
    "grid_intensity_cloud_region.csv": ("provider", "region", "year"),
    "hourly_intensity_profiles.csv": ("zone_id", "year", "season", "hour_local"),
    "electricity_prices.csv": ("region_id", "customer_class", "class_detail", "period"),
    "tou_tariffs.csv": ("utility", "schedule", "voltage", "season", "day_type", "period", "start_local"),
    "datacenter_efficiency.csv": ("operator", "scope", "year"),
    "water_intensity_electricity.csv": ("region", "year"),
    "embodied_carbon.csv": ("item",),
    "carbon_prices.csv": ("scheme", "period"),
    "cloud_gpu_prices.csv": ("provider", "instance", "region", "purchase_option", "price_date"),
    "hardware_purchase_prices.csv": ("system", "price_date", "price_kind"),
    "compression_accuracy.csv": ("record_id",),
    "published_training_runs.csv": ("run_id",),
    "regions.csv": ("region_id",),
    "operator_defaults.csv": ("operator",),
    "assumptions.csv": ("name",),
    "embodied_profiles.csv": ("profile",),
    "fx_rates.csv": ("currency", "year"),
    "network_energy.csv": ("estimate_id",),
    "client_devices.csv": ("device_class", "quantity"),
    "scaling_laws.csv": ("fit_id",),
    "data_efficiency_claims.csv": ("claim_id",),
    "model_presets.csv": ("model_id",),
    "inference_runtime.csv": ("name",),
    "published_mfu.csv": ("run_id",),
    "measured/h100_calibration.csv": None,  # probe windows; the idle window is measured twice (start, end)
    "power_model.csv": ("name", "family"),
    "achievable_rates.csv": ("accelerator_id", "rate"),
    "measured/h100_decode_probe.csv": ("experiment", "runtime", "precision", "batch"),
    "measured/mlenergy_v3_llama31_h100.csv": ("model_id", "gpu", "gpu_count", "max_num_seqs"),
    **{name: ("case_id",) for name in SCHEMAS if name.startswith("validation/")},
}

# file -> numeric columns that must be filled on every row (outputs are computed from them).
FILLED: dict[str, tuple[str, ...]] = {
    "accelerators.csv": (),  # tdp_w, memory_gb, bandwidth: not published for TPU v4 (empty; readers refuse it)
    "efficiency.csv": ("efficiency_low", "efficiency", "efficiency_high"),
    "grid_intensity_country.csv": ("intensity_g_per_kwh",),
    "grid_intensity_us_zones.csv": ("intensity_g_per_kwh",),
    "hourly_intensity_profiles.csv": ("hour_local", "intensity_g_per_kwh", "ratio_to_annual_mean", "utc_offset_h"),
    "electricity_prices.csv": ("price_local",),  # price_usd_per_kwh only where the source is in USD
    "datacenter_efficiency.csv": (),  # water-only rows have no PUE
    "water_intensity_electricity.csv": ("ewif_l_per_kwh",),
    "embodied_carbon.csv": ("kgco2e",),
    "carbon_prices.csv": ("price",),
    "cloud_gpu_prices.csv": ("gpus", "usd_per_gpu_hour"),
    "hardware_purchase_prices.csv": ("gpus", "usd_per_gpu"),
    "operator_defaults.csv": ("pue_low", "pue", "pue_high", "wue_onsite_low_l_per_kwh", "wue_onsite_l_per_kwh",
                              "wue_onsite_high_l_per_kwh"),
    "assumptions.csv": ("value_low", "value", "value_high"),
    "embodied_profiles.csv": ("accelerator_kgco2e_low", "accelerator_kgco2e", "accelerator_kgco2e_high",
                              "host_kgco2e_per_accelerator", "lifetime_years", "utilisation"),
    "fx_rates.csv": ("usd_per_unit",),
    "network_energy.csv": ("kwh_per_gb",),
    "client_devices.csv": ("value",),
    "scaling_laws.csv": ("loss_irreducible_nats", "loss_coef_params", "loss_coef_tokens", "exponent_params",
                         "exponent_tokens"),
    "model_presets.csv": ("params_total", "params_active", "layers", "hidden", "heads", "kv_heads", "head_dim",
                          "intermediate", "vocab", "experts", "experts_active"),
    "measured/h100_calibration.csv": ("seconds", "energy_j_counter"),
    "power_model.csv": ("value_low", "value", "value_high"),
    "measured/h100_decode_probe.csv": ("ms_per_token_step", "power_w_mean"),
    "measured/mlenergy_v3_llama31_h100.csv": ("energy_j_per_output_token", "median_itl_ms", "mean_output_tokens"),
    "published_mfu.csv": ("accelerator_count", "model_params", "mfu"),
    **{name: ("measured_value",) for name in SCHEMAS if name.startswith("validation/")},
    # tou_tariffs energy/demand, cloud grid_g_per_kwh (AWS/Azure mapping rows), inference_runtime value (claims
    # without a figure), data_efficiency_claims values (qualitative claims), published run figures the paper
    # does not give: empty means "not published" and every reader handles it.
}

# file -> columns that must be whole numbers where filled
INTEGERS: dict[str, tuple[str, ...]] = {
    "hourly_intensity_profiles.csv": ("hour_local",),
    "cloud_gpu_prices.csv": ("gpus",),
    "hardware_purchase_prices.csv": ("gpus",),
    "model_presets.csv": ("params_total", "params_active", "layers", "hidden", "heads", "kv_heads", "head_dim",
                          "intermediate", "vocab", "experts", "experts_active"),
}

# file -> column chains that must not decrease left to right on a row (where filled). Besides these, every
# triple ``X_low`` <= ``X`` <= ``X_high`` (e.g. ``pue_low``, ``wue_onsite_low_l_per_kwh``) is found and checked.
ORDERED: dict[str, tuple[tuple[str, ...], ...]] = {
    "accelerators.csv": (("idle_w", "tdp_w"),),
    "grid_intensity_us_zones.csv": (("min_hourly_g_per_kwh", "intensity_g_per_kwh", "max_hourly_g_per_kwh"),),
    "model_presets.csv": (("params_active", "params_total"), ("experts_active", "experts"), ("kv_heads", "heads")),
    "measured/h100_calibration.csv": (("power_w_mean", "power_w_max"),),
}

# file -> {column: (table, column)}: a filled cell must name a row of the other table (extra allowed values after)
REFS: dict[str, dict[str, tuple]] = {
    "accelerators.csv": {"embodied_profile": ("embodied_profiles.csv", "profile")},
    "efficiency.csv": {"accelerator_id": ("accelerators.csv", "accelerator_id", "*")},
    "regions.csv": {"operator": ("operator_defaults.csv", "operator"),
                    "hourly_zone": ("hourly_intensity_profiles.csv", "zone_id"),
                    "price_key": ("electricity_prices.csv", "region_id"),
                    "carbon_price_scheme": ("carbon_prices.csv", "scheme")},
}  # regions.csv intensity_key (per intensity_file) and tou_schedule ("utility schedule") are checked in _check_regions

# file -> (column, rows the code looks up by name): each must be present
REQUIRED_ROWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "assumptions.csv": ("name", ("idle_fraction_of_tdp", "busy_power_fraction", "node_overhead_fraction_of_tdp",
                                 "ewif_l_per_kwh", "hardware_lifetime_years", "hardware_utilisation")),
    "operator_defaults.csv": ("operator", ("industry",)),
    "fx_rates.csv": ("currency", ("USD",)),
}

# CSV files under data/ that are not tables of their own
SCHEMALESS: dict[str, str] = {"sources_*.csv": "topic files merged into sources.csv and validated with it"}

INTENSITY_FILES = ("grid_intensity_country.csv", "grid_intensity_us_zones.csv", "grid_intensity_cloud_region.csv")
REGION_KINDS = ("country", "us-zone", "cloud")


_CACHED: list = []


def cached(fn):
    """Memoise a look-up per data folder (cleared by :func:`clear_cache`). Arguments must be hashable."""
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
    package = Path(__file__).resolve().parents[1]  # lib/joulebook (this file is joulebook/data/__init__.py)
    root = package.parents[1]
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root / "data"
    return package / "_data"


def _row(df: pd.DataFrame, i: int) -> int:
    """The file row (header = row 1) of positional row ``i``."""
    return int(df["_row"].iloc[i]) if "_row" in df.columns else i + 2


def _file(name: str, df: pd.DataFrame, i: int) -> str:
    return str(df["_file"].iloc[i]) if "_file" in df.columns else name


def _first(mask) -> int | None:
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(hits[0]) if hits.size else None


def _is_blank(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _blank(series: pd.Series) -> np.ndarray:
    return np.fromiter((_is_blank(v) for v in series.tolist()), dtype=bool, count=len(series))


def _triples(columns) -> list[tuple[str, str, str]]:
    """Every ``X_low`` / ``X`` / ``X_high`` column triple (also ``a_low_b`` / ``a_b`` / ``a_high_b``)."""
    cols = set(columns)
    out = []
    for c in columns:
        if "_low" in c:
            mid, high = c.replace("_low", "", 1), c.replace("_low", "_high", 1)
            if mid in cols and high in cols:
                out.append((c, mid, high))
    return out


def _check_keys(name: str, df: pd.DataFrame) -> None:
    key = KEYS.get(name, ())
    cols = list(key) if key else [c for c in df.columns if not c.startswith("_")]
    if key:  # the first key column names the thing; later ones may be empty (empty is then part of the key)
        i = _first(_blank(df[key[0]]))
        if i is not None:
            raise DataValidationError(_file(name, df, i), "empty key cell", row=_row(df, i), column=key[0])
    seen: dict[tuple, int] = {}
    for second, values in enumerate(zip(*(df[c].astype(str).str.strip().tolist() for c in cols), strict=True)):
        first = seen.setdefault(values, second)
        if first == second:
            continue
        what = ", ".join(f"{c}={v!r}" for c, v in zip(cols, values, strict=True)) if key else "every column"
        kind = "duplicate key" if key else "exact duplicate row"
        raise DataValidationError(_file(name, df, second),
                                  f"{kind} {what}: same as {_file(name, df, first)} row {_row(df, first)} "
                                  "(one row per key)", row=_row(df, second), column=cols[0] if key else None)


def _check_numeric(name: str, df: pd.DataFrame, required: list[str], numeric: dict) -> None:
    num: dict[str, np.ndarray] = {}
    for col, (lo, hi) in numeric.items():
        raw = df[col]
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        i = _first(np.isnan(vals) & ~_blank(raw))
        if i is not None:
            raise DataValidationError(_file(name, df, i), f"not a number: {raw.iloc[i]!r} "
                                      "(units belong in the column name)", row=_row(df, i), column=col)
        with np.errstate(invalid="ignore"):
            i = _first((vals < lo) | (vals > hi))
        if i is not None:
            raise DataValidationError(_file(name, df, i), f"value {vals[i]:g} outside the plausible range "
                                      f"[{lo:g}, {hi:g}]", row=_row(df, i), column=col)
        num[col] = vals
        df[col] = vals
    for col in FILLED.get(name, ()):
        i = _first(np.isnan(num[col]))
        if i is not None:
            raise DataValidationError(_file(name, df, i), "empty cell: every row needs this number",
                                      row=_row(df, i), column=col)
    for col in INTEGERS.get(name, ()):
        v = num[col]
        i = _first(~np.isnan(v) & (v != np.round(v)))
        if i is not None:
            raise DataValidationError(_file(name, df, i), f"must be a whole number, got {v[i]:g}",
                                      row=_row(df, i), column=col)
    for col, v in num.items():  # a column named as a fraction holds a share in [0, 1]
        if col.endswith("_fraction") or col == "fraction":
            with np.errstate(invalid="ignore"):
                i = _first((v < 0) | (v > 1))
            if i is not None:
                raise DataValidationError(_file(name, df, i), f"a fraction must be in [0, 1], got {v[i]:g}",
                                          row=_row(df, i), column=col)
    value_cols = [c for c in ("value_low", "value", "value_high") if c in num]
    if "unit" in df.columns and value_cols:  # rows whose unit is a fraction hold shares in [0, 1]
        is_frac = np.array([str(u).strip().lower().startswith("fraction") for u in df["unit"].tolist()], dtype=bool)
        for col in value_cols:
            v = num[col]
            with np.errstate(invalid="ignore"):
                i = _first(is_frac & ((v < 0) | (v > 1)))
            if i is not None:
                raise DataValidationError(_file(name, df, i), f"unit is {df['unit'].iloc[i]!r}, so the value must be "
                                          f"in [0, 1], got {v[i]:g}", row=_row(df, i), column=col)
    chains = [t for t in _triples(list(df.columns)) if all(c in num for c in t)]
    chains += [t for t in ORDERED.get(name, ()) if all(c in num for c in t)]
    for chain in chains:
        for a_i, a in enumerate(chain):
            for b in chain[a_i + 1:]:
                with np.errstate(invalid="ignore"):
                    i = _first(num[a] > num[b])  # False where either is empty (NaN)
                if i is not None:
                    raise DataValidationError(_file(name, df, i), f"{a} = {num[a][i]:g} is above {b} = "
                                              f"{num[b][i]:g} (expected {' <= '.join(chain)})",
                                              row=_row(df, i), column=a)


def _check_refs(name: str, df: pd.DataFrame, directory: str) -> None:
    for col, spec in REFS.get(name, {}).items():
        other, other_col, *extra = spec
        known = set(_load_cached(directory, other)[other_col].astype(str)) | set(extra)
        filled = ~_blank(df[col])
        i = _first(filled & ~df[col].astype(str).isin(known))
        if i is not None:
            hint = close_matches(str(df[col].iloc[i]), known)
            raise DataValidationError(_file(name, df, i), f"{df[col].iloc[i]!r} is not a {other_col} of {other}"
                                      + (f" (close matches: {', '.join(hint)})" if hint else ""),
                                      row=_row(df, i), column=col)


def _check_accelerators(df: pd.DataFrame, directory: str) -> None:
    name = "accelerators.csv"
    seen: dict[str, int] = {}
    for i, r in enumerate(df.to_dict("records")):
        # no precision listed = no citable peak (e.g. A10G): the part is known but cannot be estimated
        precs = [] if _is_blank(r["precisions"]) else [p.strip() for p in str(r["precisions"]).split(",") if p.strip()]
        for p in precs:
            if p not in PRECISIONS:
                raise DataValidationError(name, f"unknown precision {p!r} (one of {', '.join(PRECISIONS)})",
                                          row=_row(df, i), column="precisions")
            col = PEAK_COLUMN[p]
            if p != "int4" and (col not in r or _is_blank(r[col])):
                raise DataValidationError(name, f"{p} is listed in precisions but its peak is empty",
                                          row=_row(df, i), column=col)
        _check_unique_name(df, name, i, r, "accelerator_id", seen)


def _check_unique_name(df: pd.DataFrame, name: str, i: int, r: dict, id_column: str, seen: dict[str, int]) -> None:
    """Row ``i``'s id and aliases name no other row (``seen``: lower-case name -> row position so far)."""
    names = [str(r[id_column]).lower()]
    names += [a.strip().lower() for a in str(r["aliases"] or "").split(";") if a.strip() and a != "nan"]
    for n in names:
        if n in seen and seen[n] != i:
            raise DataValidationError(name, f"id or alias {n!r} also names row {_row(df, seen[n])}",
                                      row=_row(df, i), column="aliases")
        seen[n] = i


def _check_model_presets(df: pd.DataFrame, directory: str) -> None:
    name = "model_presets.csv"
    seen: dict[str, int] = {}
    for i, r in enumerate(df.to_dict("records")):
        _check_unique_name(df, name, i, r, "model_id", seen)
        if int(r["heads"]) % int(r["kv_heads"]):
            raise DataValidationError(name, "heads must be a multiple of kv_heads", row=_row(df, i), column="kv_heads")
        tied = str(r["tied_embeddings"]).strip().lower()
        if tied not in ("true", "false"):
            raise DataValidationError(name, f"expected true or false, got {df['tied_embeddings'].iloc[i]!r}",
                                      row=_row(df, i), column="tied_embeddings")


def _check_regions(df: pd.DataFrame, directory: str) -> None:
    name = "regions.csv"
    keys = {
        "grid_intensity_country.csv": set(_load_cached(directory, "grid_intensity_country.csv")["area_id"].str.upper()),
        "grid_intensity_us_zones.csv": set(_load_cached(directory, "grid_intensity_us_zones.csv")["zone_id"]),
    }
    cloud = _load_cached(directory, "grid_intensity_cloud_region.csv")
    cloud = cloud[cloud["grid_g_per_kwh"].notna()]
    keys["grid_intensity_cloud_region.csv"] = set(cloud["provider"] + ":" + cloud["region"])
    tou = _load_cached(directory, "tou_tariffs.csv")
    schedules = set(tou["utility"] + " " + tou["schedule"])
    zones: dict[str, bool] = {}
    for i, r in enumerate(df.to_dict("records")):
        kind = str(r["kind"])
        if kind not in REGION_KINDS:
            raise DataValidationError(name, f"unknown kind {kind!r} (one of {', '.join(REGION_KINDS)})",
                                      row=_row(df, i), column="kind")
        file = str(r["intensity_file"])
        if file not in keys:
            raise DataValidationError(name, f"unknown intensity_file {file!r} (one of {', '.join(INTENSITY_FILES)})",
                                      row=_row(df, i), column="intensity_file")
        key = str(r["intensity_key"])
        probe = key.upper() if file == "grid_intensity_country.csv" else key
        if probe not in keys[file]:
            hint = close_matches(probe, keys[file])
            raise DataValidationError(name, f"{key!r} has no intensity value in {file}"
                                      + (f" (close matches: {', '.join(hint)})" if hint else ""),
                                      row=_row(df, i), column="intensity_key")
        tou = r["tou_schedule"]
        if not _is_blank(tou) and str(tou) not in schedules:
            raise DataValidationError(name, f"{tou!r} is not a 'utility schedule' of tou_tariffs.csv (known: "
                                      f"{', '.join(sorted(schedules))})", row=_row(df, i), column="tou_schedule")
        tz = str(r["timezone"])
        if tz not in zones:
            try:
                ZoneInfo(tz)
                zones[tz] = True
            except (ZoneInfoNotFoundError, ValueError):
                zones[tz] = False
        if not zones[tz]:
            raise DataValidationError(name, f"unknown IANA time zone {tz!r}", row=_row(df, i),
                                      column="timezone") from None


def _check_electricity_prices(df: pd.DataFrame, directory: str) -> None:
    need_fx = df["price_usd_per_kwh"].isna()
    if need_fx.any():
        known = set(_load_cached(directory, "fx_rates.csv")["currency"])
        i = _first(need_fx & ~df["currency"].str.upper().isin(known))
        if i is not None:
            raise DataValidationError("electricity_prices.csv", f"no price_usd_per_kwh and no exchange rate for "
                                      f"{df['currency'].iloc[i]!r} in fx_rates.csv", row=_row(df, i), column="currency")


def _check_validation_case(df: pd.DataFrame, directory: str, name: str = "validation") -> None:
    i = _first(~df["role"].astype(str).isin(VALIDATION_ROLES))
    if i is not None:
        raise DataValidationError(name, f"role must be one of {', '.join(VALIDATION_ROLES)} (fit cases calibrate, "
                                  f"check cases only test), got {df['role'].iloc[i]!r}", row=_row(df, i), column="role")


CHECKS = {"accelerators.csv": _check_accelerators, "model_presets.csv": _check_model_presets,
          "regions.csv": _check_regions, "electricity_prices.csv": _check_electricity_prices,
          **{n: functools.partial(_check_validation_case, name=n) for n in SCHEMAS if n.startswith("validation/")}}


def schema_columns(name: str) -> list[str]:
    """Every column the schema of ``name`` names (each must be in the file's header)."""
    required, numeric = SCHEMAS.get(name, ([], {}))
    cols = list(required) + list(numeric) + list(KEYS.get(name) or ())
    cols += list(FILLED.get(name, ())) + list(INTEGERS.get(name, ()))
    cols += [c for chain in ORDERED.get(name, ()) for c in chain] + list(REFS.get(name, {}))
    if name != "sources.csv":
        cols += ["source_id", "year", "status"]
    return list(dict.fromkeys(cols))


def _check_header(file: str, name: str, df: pd.DataFrame) -> None:
    for col in schema_columns(name):
        if col not in df.columns:
            raise DataValidationError(file, "missing column (the header must name it)", row=1, column=col)
    if df.empty:
        raise DataValidationError(file, "no data rows under the header", row=2, column=str(df.columns[0]))


def _validate(name: str, df: pd.DataFrame, known_sources: set[str] | None, directory: str | None = None) -> pd.DataFrame:
    _required, numeric = SCHEMAS.get(name, ([], {}))
    _check_header(name, name, df)
    _check_keys(name, df)
    _check_numeric(name, df, _required, numeric)
    if name != "sources.csv":
        status = df["status"].astype(str)
        i = _first(~status.isin(STATUSES))
        if i is not None:
            raise DataValidationError(name, f"unknown status {status.iloc[i]!r} (one of {sorted(STATUSES)})",
                                      row=_row(df, i), column="status")
        years = pd.to_numeric(df["year"], errors="coerce")
        i = _first(years.isna() | (years < 1990) | (years > 2100) | (years != years.round()))
        if i is not None:
            raise DataValidationError(name, f"year missing or implausible: {df['year'].iloc[i]!r}", row=_row(df, i),
                                      column="year")
        df["year"] = years.astype(int)
        if known_sources is not None:
            i = _first(~df["source_id"].isin(known_sources))
            if i is not None:
                raise DataValidationError(name, f"source_id {df['source_id'].iloc[i]!r} not in sources.csv",
                                          row=_row(df, i), column="source_id")
    if name in REQUIRED_ROWS:
        col, needed = REQUIRED_ROWS[name]
        have = set(df[col].astype(str))
        for want in needed:
            if want not in have:
                raise DataValidationError(name, f"no row {want!r}: the model looks it up by name", column=col)
    if directory is not None:
        _check_refs(name, df, directory)
        if name in CHECKS:
            CHECKS[name](df, directory)
    return df


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataValidationError(name, f"cannot be read as UTF-8 CSV: {e}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        first = (KEYS.get(name) or SCHEMAS.get(name, (["source_id"], {}))[0] or ["source_id"])[0]
        raise DataValidationError(name, "empty file: no header row", row=1, column=first)
    width = len(rows[0])
    for i, row in enumerate(rows[1:], start=2):
        if row and len(row) != width:
            raise DataValidationError(name, f"{len(row)} fields where the header has {width} (unquoted comma?)", row=i,
                                      column=rows[0][min(len(row), width) - 1])
    dup = [c for c in rows[0] if rows[0].count(c) > 1]
    if dup:
        raise DataValidationError(name, "column named twice in the header", row=1, column=dup[0])
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except Exception as e:  # malformed CSV
        raise DataValidationError(name, f"cannot be parsed as CSV: {e}") from None


# tables a table's checks read besides sources.csv and its REFS targets
DEPENDS: dict[str, tuple[str, ...]] = {"regions.csv": (*INTENSITY_FILES, "tou_tariffs.csv"),
                                       "electricity_prices.csv": ("fx_rates.csv",)}
_VALIDATED: dict[str, pd.DataFrame] = {}  # content key -> validated table (never stale: the key is the content)
_VALIDATED_MAX = 512


@cache
def _content_key(directory: str, name: str) -> str:
    """A hash of the file's bytes and of every table its checks read (so a validated copy can be reused)."""
    h = hashlib.sha256(name.encode())
    root = Path(directory)
    files = [root / name] + (sorted(root.glob("sources_*.csv")) if name == "sources.csv" else [])
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes() if p.is_file() else b"\0missing")
    if name != "sources.csv":
        deps = {"sources.csv", *DEPENDS.get(name, ()), *(spec[0] for spec in REFS.get(name, {}).values())}
        for d in sorted(deps):
            h.update(_content_key(directory, d).encode())
    return h.hexdigest()


@cache
def _load_cached(directory: str, name: str) -> pd.DataFrame:
    key = _content_key(directory, name)
    if key not in _VALIDATED:
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.pop(next(iter(_VALIDATED)))
        _VALIDATED[key] = _load_and_validate(directory, name)
    return _VALIDATED[key]


def _load_and_validate(directory: str, name: str) -> pd.DataFrame:
    path = Path(directory) / name
    if not path.exists():
        raise DataValidationError(name, f"file not found in {directory}")
    df = _read_csv(path, name)
    if name == "sources.csv":  # topic files (sources_<topic>.csv) extend the main list
        parts = [df.assign(_file=name, _row=range(2, len(df) + 2))]
        for p in sorted(Path(directory).glob("sources_*.csv")):
            extra = _read_csv(p, p.name)
            parts.append(extra.assign(_file=p.name, _row=range(2, len(extra) + 2)))
        for part in parts:
            _check_header(str(part["_file"].iloc[0]) if len(part) else name, "sources.csv", part)
        df = pd.concat(parts, ignore_index=True)
        df = _validate(name, df, None, directory)
        return df.drop(columns=["_file", "_row"])
    known = set(_load_cached(directory, "sources.csv")["source_id"])
    return _validate(name, df, known, directory)


def table(name: str) -> pd.DataFrame:
    """A validated copy of ``data/<name>`` (``.csv`` may be omitted)."""
    if not name.endswith(".csv"):
        name += ".csv"
    return _load_cached(str(data_dir()), name).copy()


def clear_cache() -> None:
    _load_cached.cache_clear()
    _content_key.cache_clear()
    _accelerator_index.cache_clear()
    _region_index.cache_clear()
    fingerprint.cache_clear()
    for fn in _CACHED:
        fn.cache_clear()


def table_names(directory: Path | None = None) -> list[str]:
    """Every table of the data folder: the declared ones, then any other CSV (topic source files excluded)."""
    root = Path(directory or data_dir())
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*.csv") if not p.name.startswith("sources_"))
    return list(SCHEMAS) + [n for n in found if n not in SCHEMAS]


def validate_all() -> list[str]:
    """Load every table (raises on the first problem); returns the file names checked."""
    names = table_names()
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
    measured_source_id: str = ""  # source of measured figures (idle power, matmul rates) where the row has them

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
            year=int(r["year"]), status=r["status"], generation=_text(r.get("generation")),
            measured_source_id=_text(r.get("measured_source_id")))
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
        raise DataValidationError("assumptions.csv", f"no row {name!r}: the model looks it up by name", column="name")
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
