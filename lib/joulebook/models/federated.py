"""Federated versus centralized training: energy and emissions, and where they break even.

Federated learning (FedAvg-style, cross-device or cross-silo), one scenario per row::

    participants / round   P   = clients x participation
    client FLOPs / round   F_c = 6 N x local_epochs x tokens_per_client          (per participant)
    client time / round    t_c = F_c / (achieved TFLOP/s x 1e12)
    client energy          E_c = rounds x P x t_c x P_client / 3.6e6            kWh
                                 P_client = load power ("total" basis) or load - idle ("marginal": the
                                 device is on anyway; the default)
    downlink / round       P x N x download_bits / 8                             bytes (global model)
    uplink / round         P x update_bytes(N, compression)                      bytes (client updates)
    network energy         E_n = rounds x (down + up) / 1e9 x I_access           kWh (I: kWh/GB)
    server energy          E_s = rounds x (t_c + round_overhead_s) x P_server x PUE / 3.6e6
    emissions              (E_c + E_n) x CI_clients + E_s x CI_server

Centralized training of the same model on the same data::

    tokens                 = rounds x P x local_epochs x tokens_per_client / fl_convergence_penalty
    compute                = joulebook.models.training.estimate_training_frame (accelerator, count, region: PUE, CI)
    moving the data there  = clients x data_bytes_per_client / 1e9 x I_access    kWh at CI_clients

``update_bytes``: ``none`` = N x upload_bits / 8; ``int8`` = N x 8 / 8 (per-block scales ignored);
``topk`` = N x topk_fraction x (upload_bits + index_bits) / 8 (values plus 32-bit indices).

Network intensities come from ``data/network_energy.csv`` (low / central / high per access type, each
with its data year); ``network_year`` optionally ages them from the central figure's data year with the
halving time Aslan et al. (2018) found for fixed-line networks (2 years): an extrapolation, labelled so.

Low and high bounds combine the favourable (resp. unfavourable) end of every uncertain input of
*one* option: device power and throughput, network intensity, server power, PUE; so a comparison is
robust when one option's high bound is below the other's low bound.

Everything is linear in the parameter count N except the constant data-movement term, so the
break-even model size where both options use the same energy (or emit the same) has a closed form
per scenario (``break_even_params_*``). Omitted: client radio energy while transmitting (outside the
network figures), charger losses, embodied carbon of client devices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, UnknownNameError, reject_unknown
from joulebook.core.validate import array, fraction, number
from joulebook.models import training

DEVICE_CLASSES = ("phone", "laptop", "edge_gpu")
ACCESS_TYPES = ("cellular", "fixed_wifi", "datacentre")
COMPRESSIONS = ("none", "int8", "topk")
POWER_BASES = ("marginal", "total")
CASES = ("low", "central", "high")
#: The year the data set was compiled (ages of the network figures are stated relative to it).
REFERENCE_YEAR = 2026
SERVER_CLASS = "fl_server"

#: Defaults that are model assumptions (name -> (value, unit, source, note)); each is an overridable column.
DEFAULTS: dict[str, tuple[Any, str, str, str]] = {
    "download_bits": (32, "bits per parameter", "joulebook_assumptions",
                      "global model sent to each participant in fp32 (the usual FedAvg checkpoint)"),
    "upload_bits": (32, "bits per value", "joulebook_assumptions", "update values before compression, fp32"),
    "topk_fraction": (0.01, "fraction of parameters", "joulebook_assumptions",
                      "share of update entries kept by sparse top-k (only with compression='topk')"),
    "index_bits": (32, "bits per kept entry", "joulebook_assumptions", "index sent with every top-k value"),
    "round_overhead_s": (60.0, "s per round", "bonawitz_2019",
                         "selection and reporting windows during which the server waits (labelled assumption; "
                         "production FL opens time windows per phase)"),
    "bytes_per_token": (4.0, "bytes of raw data per training token", "joulebook_assumptions",
                        "raw UTF-8 text is a few bytes per subword token (labelled assumption); set "
                        "data_bytes_per_client for images, audio or sensor data"),
    "fl_convergence_penalty": (1.0, "FL tokens / centralized tokens for equal quality", "savazzi_2021",
                               "1 = the same computation; Savazzi et al. report FL often 2x slower on non-IID data"),
    "power_basis": ("marginal", "", "joulebook_assumptions",
                    "client energy counts load minus idle power: the device would be on anyway"),
}


class UnknownDeviceClassError(UnknownNameError):
    kind = "device class"


class UnknownAccessTypeError(UnknownNameError):
    kind = "access type"


@dataclass(frozen=True)
class DeviceClass:
    """Power and achieved training throughput of one client device class (low, central, high)."""

    device_class: str
    device: str
    load_power_w: tuple[float, float, float]
    idle_power_w: tuple[float, float, float]
    train_tflops: tuple[float, float, float]
    source_ids: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def power_w(self, basis: str = "marginal") -> tuple[float, float, float]:
        """Power attributed to training (low, central, high): load, or load minus idle."""
        if basis not in POWER_BASES:
            raise InputError("power_basis", f"one of {', '.join(POWER_BASES)}, got {basis!r}")
        if basis == "total":
            return self.load_power_w
        lo = self.load_power_w[0] - self.idle_power_w[2]
        mid = self.load_power_w[1] - self.idle_power_w[1]
        hi = self.load_power_w[2] - self.idle_power_w[0]
        return (max(lo, 0.0), max(mid, 0.0), max(hi, 0.0))


def _device_rows() -> pd.DataFrame:
    return data.table("client_devices")


def device_classes() -> dict[str, DeviceClass]:
    """Every device class in ``data/client_devices.csv`` (including the aggregation server)."""
    df = _device_rows()
    out: dict[str, DeviceClass] = {}
    for cls, g in df.groupby("device_class", sort=False):
        q = {r["quantity"]: (float(r["value_low"]), float(r["value"]), float(r["value_high"])) for _, r in g.iterrows()}
        nan3 = (math.nan,) * 3
        out[cls] = DeviceClass(
            device_class=cls, device=str(g["device"].iloc[0]), load_power_w=q.get("load_power_w", nan3),
            idle_power_w=q.get("idle_power_w", (0.0, 0.0, 0.0)), train_tflops=q.get("train_tflops", nan3),
            source_ids=tuple(dict.fromkeys(g["source_id"])), notes=tuple(g["note"].fillna("")))
    return out


def device_class(name: str) -> DeviceClass:
    """Look up a client device class: ``phone``, ``laptop``, ``edge_gpu``."""
    if isinstance(name, DeviceClass):
        return name
    classes = device_classes()
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key in classes:
        return classes[key]
    raise UnknownDeviceClassError(str(name), list(classes), parameter="device_class")


# --------------------------------------------------------------------------- network


def network_table(reference_year: int = REFERENCE_YEAR) -> pd.DataFrame:
    """All network energy figures with their role and age (``reference_year`` minus the data year)."""
    number("reference_year", reference_year, minimum=1990, maximum=2100)
    df = data.table("network_energy")
    df["kwh_per_gb"] = pd.to_numeric(df["kwh_per_gb"], errors="raise")
    if (df["kwh_per_gb"] <= 0).any():
        raise InputError("kwh_per_gb", "network_energy.csv holds a non-positive intensity")
    dy = pd.to_numeric(df["data_year"], errors="coerce")
    df["data_year"] = dy
    df["age_years"] = reference_year - dy
    return df


def access_key(access_type: str) -> str:
    """The canonical access type (``cellular``, ``fixed_wifi``, ``datacentre``) of a name or alias."""
    key = str(access_type).strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {"mobile": "cellular", "4g": "cellular", "5g": "cellular", "wifi": "fixed_wifi", "wi_fi": "fixed_wifi",
               "fixed": "fixed_wifi", "broadband": "fixed_wifi", "dc": "datacentre", "datacenter": "datacentre",
               "data_centre": "datacentre", "core": "datacentre"}
    key = aliases.get(key, key)
    if key not in ACCESS_TYPES:
        raise UnknownAccessTypeError(str(access_type), list(ACCESS_TYPES) + list(aliases), parameter="access_type")
    return key


def network_range(access_type: str, year: int | None = None, *, halving_years: float = 2.0
                  ) -> tuple[float, float, float, list[str]]:
    """(low, central, high kWh/GB, source_ids) for an access type.

    With ``year``, all three are scaled by 0.5 ** ((year - data year of the central figure) / halving_years):
    the Aslan et al. trend (an extrapolation) moves the central estimate's vintage and keeps the published
    spread around it.
    """
    key = access_key(access_type)
    if year is not None:
        number("network_year", year, minimum=1990, maximum=2100)
    number("halving_years", halving_years, strictly_positive=True)
    df = network_table()
    df = df[df["access_type"] == key]
    vals = {}
    srcs = []
    for role in ("central", "low", "high"):  # central source first
        r = df[df["role"] == role].iloc[0]
        vals[role] = float(r["kwh_per_gb"])
        srcs.append(r["source_id"])
    factor = 1.0
    if year is not None:
        central_year = float(df[df["role"] == "central"].iloc[0]["data_year"])
        if not math.isnan(central_year):
            factor = 0.5 ** ((year - central_year) / halving_years)
    lo, mid, hi = (vals["low"] * factor, vals["central"] * factor, vals["high"] * factor)
    if not lo <= mid <= hi:
        raise InputError("network_energy", f"{key}: low/central/high rows are not ordered in network_energy.csv")
    return lo, mid, hi, list(dict.fromkeys(srcs))


def network_kwh_per_gb(access_type: str, which: str = "central", year: int | None = None) -> float:
    lo, mid, hi, _ = network_range(access_type, year)
    return {"low": lo, "central": mid, "high": hi}[which]


# --------------------------------------------------------------------------- updates and clients


def update_bytes(params, compression="none", *, upload_bits=32, topk_fraction=0.01, index_bits=32):
    """Bytes of one client update (vectorized over ``params`` and ``compression``)."""
    n = array("params", params, strictly_positive=True)
    comp = np.broadcast_to(np.asarray(compression, dtype=object), n.shape) if n.ndim else np.asarray(compression, dtype=object)
    bad = [c for c in np.atleast_1d(comp) if c not in COMPRESSIONS]
    if bad:
        raise InputError("compression", f"one of {', '.join(COMPRESSIONS)}, got {bad[0]!r}")
    ub = array("upload_bits", upload_bits, strictly_positive=True)
    k = array("topk_fraction", topk_fraction, strictly_positive=True, maximum=1.0)
    ib = array("index_bits", index_bits, minimum=0.0)
    out = np.where(comp == "int8", n * 1.0,
                   np.where(comp == "topk", n * k * (ub + ib) / 8.0, n * ub / 8.0))
    return float(out) if np.ndim(out) == 0 else out


def client_mix_intensity(client_regions: Mapping[str, float]) -> tuple[float, list[str]]:
    """Share-weighted grid intensity (g/kWh) of the clients' regions and the sources behind it.

    ``client_regions`` maps region ids (``us-ca``, ``in``, ``de`` ...) to shares that sum to 1.
    """
    if not isinstance(client_regions, Mapping) or not client_regions:
        raise InputError("client_regions", "give a mapping of region -> share, e.g. {'us-ca': 0.5, 'in': 0.5}")
    total = 0.0
    acc = 0.0
    srcs: list[str] = []
    for name, share in client_regions.items():
        s = number(f"client_regions[{name}]", share, minimum=0.0, maximum=1.0)
        reg = data.region(name)
        acc += s * reg.intensity_g_per_kwh
        total += s
        srcs += reg.source_ids
    if abs(total - 1.0) > 1e-6:
        raise InputError("client_regions", f"shares must sum to 1, got {total:g}")
    return acc, list(dict.fromkeys(srcs))


# --------------------------------------------------------------------------- vectorized models


def _col(df: pd.DataFrame, name: str, n: int, default=None) -> np.ndarray:
    if name in df.columns:
        v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
        if default is not None:
            v = np.where(np.isnan(v), float(default), v)
        return v
    return np.full(n, np.nan if default is None else float(default))


def _text(df: pd.DataFrame, name: str, n: int, default: str) -> pd.Series:
    if name in df.columns:
        return df[name].fillna(default).astype(str).reset_index(drop=True)
    return pd.Series([default] * n)


def _require(df: pd.DataFrame, names) -> None:
    for name in names:
        if name not in df.columns:
            raise InputError(name, "a value is required")


def _validated(df: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    """Shared checks of the FL inputs; each error names its column."""
    _require(df, ("params", "clients", "participation", "rounds", "local_epochs", "tokens_per_client"))
    v = {
        "params": array("params", _col(df, "params", n), strictly_positive=True),
        "clients": array("clients", _col(df, "clients", n), strictly_positive=True),
        "participation": array("participation", _col(df, "participation", n), strictly_positive=True, maximum=1.0),
        "rounds": array("rounds", _col(df, "rounds", n), strictly_positive=True),
        "local_epochs": array("local_epochs", _col(df, "local_epochs", n), strictly_positive=True),
        "tokens_per_client": array("tokens_per_client", _col(df, "tokens_per_client", n), strictly_positive=True),
    }
    for name in ("clients", "rounds"):
        if (v[name] != np.floor(v[name])).any():
            raise InputError(name, "must be a whole number")
    for name in ("download_bits", "upload_bits", "index_bits", "topk_fraction", "round_overhead_s", "bytes_per_token",
                 "fl_convergence_penalty"):
        a = _col(df, name, n, DEFAULTS[name][0])
        kw: dict[str, Any] = {"minimum": 0.0}
        if name in ("download_bits", "upload_bits", "bytes_per_token", "fl_convergence_penalty"):
            kw["strictly_positive"] = True
        if name == "topk_fraction":
            kw.update(strictly_positive=True, maximum=1.0)
        v[name] = array(name, a, **kw)
    dbytes = _col(df, "data_bytes_per_client", n)
    given = ~np.isnan(dbytes)
    if given.any():
        array("data_bytes_per_client", dbytes[given], minimum=0.0)
    v["data_bytes_per_client"] = np.where(given, dbytes, v["tokens_per_client"] * v["bytes_per_token"])
    ci = _col(df, "client_intensity_g_per_kwh", n)
    if np.isnan(ci).any():
        raise InputError("client_intensity_g_per_kwh", "a value is required (see client_mix_intensity)")
    v["client_intensity_g_per_kwh"] = array("client_intensity_g_per_kwh", ci, minimum=0.0, maximum=2000.0)
    year = _col(df, "network_year", n)
    if (~np.isnan(year)).any():
        array("network_year", year[~np.isnan(year)], minimum=1990, maximum=2100)
    v["network_year"] = year
    return v


def _network_matrix(access: pd.Series, years: np.ndarray) -> np.ndarray:
    """(n, 3) low/central/high kWh/GB per row (vectorized over the unique access type x year pairs)."""
    keys = pd.Series([f"{access_key(a)}|{'' if math.isnan(y) else int(y)}" for a, y in zip(access, years, strict=True)])
    codes, uniques = pd.factorize(keys, sort=False)
    vals = []
    for u in uniques:
        a, y = u.split("|")
        vals.append(network_range(a, int(y) if y else None)[:3])
    return np.asarray(vals, dtype=float)[codes]


def _device_matrix(names: pd.Series, basis: pd.Series) -> np.ndarray:
    """(n, 6): power low/central/high (per basis) and achieved TFLOP/s high/central/low (favourable first)."""
    keys = names.str.lower() + "|" + basis.str.lower()
    codes, uniques = pd.factorize(keys, sort=False)
    rows = []
    for u in uniques:
        cls, b = u.split("|")
        dc = device_class(cls)
        if cls == SERVER_CLASS:
            raise InputError("device_class", f"{SERVER_CLASS} is the aggregation server, not a client device class")
        p = dc.power_w(b)
        t = dc.train_tflops
        rows.append([p[0], p[1], p[2], t[2], t[1], t[0]])
    return np.asarray(rows, dtype=float)[codes]


def _server_region_matrix(regions: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(regions, sort=False)
    rows = []
    for u in uniques:
        r = data.region(u)
        rows.append([r.pue[0], r.pue[1], r.pue[2], r.intensity_g_per_kwh])
    m = np.asarray(rows, dtype=float)[codes]
    return m[:, :3], m[:, 3]


def _scenarios(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray] | None]:
    """The output frame (a copy of ``df``, index reset) and the checked FL inputs (``None`` when ``df`` is empty)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError("scenarios", "expected a pandas DataFrame")
    out = df.copy().reset_index(drop=True)
    return out, (_validated(df, len(df)) if len(df) else None)


def federated_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Vectorized federated-learning energy and emissions, one scenario per row.

    Required columns: params, clients, participation (0, 1], rounds, local_epochs, tokens_per_client,
    client_intensity_g_per_kwh. Optional: device_class (phone), access_type (fixed_wifi), compression
    (none|int8|topk), topk_fraction, download_bits, upload_bits, index_bits, power_basis (marginal|total),
    round_overhead_s, server_region (us-va), server_power_w, network_year.

    Output columns (each also ``_low`` / ``_high``): fl_client_energy_kwh, fl_network_energy_kwh,
    fl_server_energy_kwh, fl_energy_kwh, fl_client_emissions_kg, fl_network_emissions_kg,
    fl_server_emissions_kg, fl_emissions_kg, fl_wall_clock_hours; plus participants_per_round,
    fl_tokens_processed, fl_client_flops, uplink_gb, downlink_gb (central only: no uncertainty).
    """
    out, v = _scenarios(df)
    if v is None:
        return out
    n = len(df)
    device = _text(df, "device_class", n, "phone")
    basis = _text(df, "power_basis", n, DEFAULTS["power_basis"][0]).str.lower()
    bad = ~basis.isin(POWER_BASES)
    if bad.any():
        raise InputError("power_basis", f"one of {', '.join(POWER_BASES)}, got {basis[bad].iloc[0]!r}")
    access = _text(df, "access_type", n, "fixed_wifi")
    comp = _text(df, "compression", n, "none").str.lower()
    badc = ~comp.isin(COMPRESSIONS)
    if badc.any():
        raise InputError("compression", f"one of {', '.join(COMPRESSIONS)}, got {comp[badc].iloc[0]!r}")
    server_region = _text(df, "server_region", n, "us-va")
    sp_in = _col(df, "server_power_w", n)
    if (~np.isnan(sp_in)).any():
        array("server_power_w", sp_in[~np.isnan(sp_in)], minimum=0.0)

    D = _device_matrix(device, basis)
    NET = _network_matrix(access, v["network_year"])
    pue, server_ci = _server_region_matrix(server_region)
    srv = device_classes()[SERVER_CLASS].load_power_w

    N = v["params"]
    P = v["clients"] * v["participation"]
    flops_round = 6.0 * N * v["local_epochs"] * v["tokens_per_client"]
    down_b = P * N * v["download_bits"] / 8.0
    up_b = P * update_bytes(N, comp.to_numpy(dtype=object), upload_bits=v["upload_bits"],
                            topk_fraction=v["topk_fraction"], index_bits=v["index_bits"])
    gb_round = (down_b + up_b) / 1e9
    ci_c = v["client_intensity_g_per_kwh"]

    out["participants_per_round"] = P
    out["fl_tokens_processed"] = v["rounds"] * P * v["local_epochs"] * v["tokens_per_client"]
    out["fl_client_flops"] = v["rounds"] * P * flops_round
    out["downlink_gb"] = v["rounds"] * down_b / 1e9
    out["uplink_gb"] = v["rounds"] * up_b / 1e9
    for k, case in enumerate(CASES):
        t_client = flops_round / (D[:, 3 + k] * 1e12)  # favourable case: fastest device
        client_kwh = v["rounds"] * P * t_client * D[:, k] / 3.6e6
        net_kwh = v["rounds"] * gb_round * NET[:, k]
        p_srv = np.where(np.isnan(sp_in), srv[k], sp_in)
        round_s = t_client + v["round_overhead_s"]
        server_kwh = v["rounds"] * round_s * p_srv * pue[:, k] / 3.6e6
        sfx = "" if case == "central" else f"_{case}"
        out[f"fl_client_energy_kwh{sfx}"] = client_kwh
        out[f"fl_network_energy_kwh{sfx}"] = net_kwh
        out[f"fl_server_energy_kwh{sfx}"] = server_kwh
        out[f"fl_energy_kwh{sfx}"] = client_kwh + net_kwh + server_kwh
        out[f"fl_client_emissions_kg{sfx}"] = client_kwh * ci_c / 1000.0
        out[f"fl_network_emissions_kg{sfx}"] = net_kwh * ci_c / 1000.0
        out[f"fl_server_emissions_kg{sfx}"] = server_kwh * server_ci / 1000.0
        out[f"fl_emissions_kg{sfx}"] = (client_kwh + net_kwh) * ci_c / 1000.0 + server_kwh * server_ci / 1000.0
        out[f"fl_wall_clock_hours{sfx}"] = v["rounds"] * round_s / 3600.0
    return out


def centralized_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Centralized training of the same model and data, including moving the data to the data centre.

    Same FL columns as :func:`federated_frame` (the data and the computation are derived from them), plus
    accelerator (a100-sxm4-80gb), count (8), precision (bf16), region (us-va: the data centre), mfu, pue.

    Output (each also ``_low`` / ``_high``): central_compute_energy_kwh, central_data_move_energy_kwh,
    central_energy_kwh, central_compute_emissions_kg, central_data_move_emissions_kg, central_emissions_kg,
    central_wall_clock_hours; plus central_tokens, central_data_gb, central_electricity_cost_usd.
    """
    out, v = _scenarios(df)
    if v is None:
        return out
    n = len(df)
    access = _text(df, "access_type", n, "fixed_wifi")
    NET = _network_matrix(access, v["network_year"])
    tokens = v["rounds"] * v["clients"] * v["participation"] * v["local_epochs"] * v["tokens_per_client"] \
        / v["fl_convergence_penalty"]
    job = pd.DataFrame({
        "params": v["params"], "tokens": tokens,
        "accelerator": _text(df, "accelerator", n, "a100-sxm4-80gb"),
        "count": _col(df, "count", n, 8), "precision": _text(df, "precision", n, "bf16"),
        "region": _text(df, "region", n, "us-va"),
    })
    for opt in ("mfu", "pue", "node_power_w", "power_w", "intensity_g_per_kwh", "price_usd_per_kwh"):
        if opt in df.columns:
            job[opt] = pd.to_numeric(df[opt], errors="coerce").to_numpy()
    est = training.estimate_training_frame(job)
    data_gb = v["clients"] * v["data_bytes_per_client"] / 1e9
    ci_c = v["client_intensity_g_per_kwh"]
    out["central_tokens"] = tokens
    out["central_data_gb"] = data_gb
    out["central_electricity_cost_usd"] = est["electricity_cost_usd"].to_numpy()
    out["central_mfu_used"] = est["mfu_used"].to_numpy()  # the MFU prior depends on the model size (scale band)
    for k, case in enumerate(CASES):
        sfx = "" if case == "central" else f"_{case}"
        comp_kwh = est[f"facility_energy_kwh{sfx}"].to_numpy()
        comp_kg = est[f"emissions_kg{sfx}"].to_numpy()
        move_kwh = data_gb * NET[:, k]
        out[f"central_compute_energy_kwh{sfx}"] = comp_kwh
        out[f"central_data_move_energy_kwh{sfx}"] = move_kwh
        out[f"central_energy_kwh{sfx}"] = comp_kwh + move_kwh
        out[f"central_compute_emissions_kg{sfx}"] = comp_kg
        out[f"central_data_move_emissions_kg{sfx}"] = move_kwh * ci_c / 1000.0
        out[f"central_emissions_kg{sfx}"] = comp_kg + move_kwh * ci_c / 1000.0
        out[f"central_wall_clock_hours{sfx}"] = est[f"wall_clock_hours{sfx}"].to_numpy()
    return out


def compare_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Both options side by side, who wins on energy and on emissions, and the break-even model size.

    Adds: energy_ratio_fl_to_central, emissions_ratio_fl_to_central (central cases), winner_energy,
    winner_emissions ('federated' | 'centralized'), robust_energy / robust_emissions (the winner also wins
    when its own high bound meets the other's low bound), break_even_params_energy and
    break_even_params_emissions (parameter count where both are equal, other inputs fixed; NaN when one
    option wins at every size) and fl_wins_below_break_even_* (True: FL wins for models smaller than it).
    """
    fl = federated_frame(df)
    if len(fl) == 0:
        return fl
    ce = centralized_frame(df)
    out = fl
    for c in ce.columns:
        if c.startswith("central_"):
            out[c] = ce[c].to_numpy()
    for what, unit in (("energy", "energy_kwh"), ("emissions", "emissions_kg")):
        f, c = out[f"fl_{unit}"].to_numpy(), out[f"central_{unit}"].to_numpy()
        out[f"{what}_ratio_fl_to_central"] = f / c
        fl_wins = f < c
        out[f"winner_{what}"] = np.where(fl_wins, "federated", "centralized")
        out[f"robust_{what}"] = np.where(fl_wins, out[f"fl_{unit}_high"].to_numpy() < out[f"central_{unit}_low"].to_numpy(),
                                         out[f"central_{unit}_high"].to_numpy() < out[f"fl_{unit}_low"].to_numpy())
    # break-even: at a fixed MFU both totals are affine in the parameter count, so two evaluations fix the
    # line; the second pins the MFU of the first (the prior changes with the model size's scale band)
    df2 = df.copy().reset_index(drop=True)
    df2["params"] = pd.to_numeric(df2["params"]).to_numpy(dtype=float) * 2.0
    given = pd.to_numeric(df2["mfu"], errors="coerce").to_numpy(dtype=float) if "mfu" in df2.columns else np.full(len(df2), np.nan)
    df2["mfu"] = np.where(np.isnan(given), out["central_mfu_used"].to_numpy(dtype=float), given)
    fl2 = federated_frame(df2)
    ce2 = centralized_frame(df2)
    n1 = pd.to_numeric(df["params"]).to_numpy(dtype=float)
    for what, unit in (("energy", "energy_kwh"), ("emissions", "emissions_kg")):
        d1 = out[f"fl_{unit}"].to_numpy() - out[f"central_{unit}"].to_numpy()
        d2 = fl2[f"fl_{unit}"].to_numpy() - ce2[f"central_{unit}"].to_numpy()
        slope = (d2 - d1) / n1
        icpt = d1 - slope * n1
        with np.errstate(divide="ignore", invalid="ignore"):
            nstar = np.where(slope != 0, -icpt / slope, np.nan)
        nstar = np.where(nstar > 0, nstar, np.nan)
        out[f"break_even_params_{what}"] = nstar
        out[f"fl_wins_below_break_even_{what}"] = slope > 0
    return out


def scenario_grid(base: Mapping[str, Any], **axes) -> pd.DataFrame:
    """Cartesian product of ``axes`` (name -> list of values) over the ``base`` scenario (a DataFrame)."""
    if not axes:
        return pd.DataFrame([dict(base)])
    idx = pd.MultiIndex.from_product([list(vals) for vals in axes.values()], names=list(axes))
    grid = idx.to_frame(index=False)
    for k, val in base.items():
        if k not in grid.columns:
            grid[k] = [val] * len(grid)
    return grid


# --------------------------------------------------------------------------- one scenario


@dataclass
class Comparison:
    """One scenario: central / low / high for both options, the inputs, assumptions and sources."""

    central: dict[str, Any]
    low: dict[str, Any]
    high: dict[str, Any]
    row: dict[str, Any]
    assumptions: Assumptions
    source_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {**self.central, "low": dict(self.low), "high": dict(self.high), "inputs": dict(self.row),
                "assumptions": self.assumptions.to_list(), "sources": list(self.source_ids)}

    def breakdown(self) -> pd.DataFrame:
        """Energy and emissions per component for both options (central, low, high)."""
        parts = [("federated", "clients (on-device training)", "fl_client"),
                 ("federated", "network (model down, updates up)", "fl_network"),
                 ("federated", "aggregation server", "fl_server"),
                 ("centralized", "data centre training", "central_compute"),
                 ("centralized", "moving the data to the data centre", "central_data_move")]
        rows = []
        for option, label, key in parts:
            rows.append({"option": option, "component": label,
                         "energy_kwh": self.central[f"{key}_energy_kwh"],
                         "energy_low_kwh": self.low[f"{key}_energy_kwh"],
                         "energy_high_kwh": self.high[f"{key}_energy_kwh"],
                         "emissions_kg": self.central[f"{key}_emissions_kg"]})
        return pd.DataFrame(rows)


OUT_KEYS = ("fl_client_energy_kwh", "fl_network_energy_kwh", "fl_server_energy_kwh", "fl_energy_kwh",
            "fl_client_emissions_kg", "fl_network_emissions_kg", "fl_server_emissions_kg", "fl_emissions_kg",
            "fl_wall_clock_hours", "central_compute_energy_kwh", "central_data_move_energy_kwh", "central_energy_kwh",
            "central_compute_emissions_kg", "central_data_move_emissions_kg", "central_emissions_kg",
            "central_wall_clock_hours")
POINT_KEYS = ("participants_per_round", "fl_tokens_processed", "fl_client_flops", "uplink_gb", "downlink_gb",
              "central_tokens", "central_data_gb", "central_electricity_cost_usd", "energy_ratio_fl_to_central",
              "emissions_ratio_fl_to_central", "winner_energy", "winner_emissions", "robust_energy",
              "robust_emissions", "break_even_params_energy", "break_even_params_emissions",
              "fl_wins_below_break_even_energy", "fl_wins_below_break_even_emissions")


def _py(x):
    if isinstance(x, np.generic):
        x = x.item()
    return x


def compare(*, params: float, clients: int, participation: float, rounds: int, local_epochs: float,
            tokens_per_client: float, device_class: str = "phone", access_type: str = "fixed_wifi",
            compression: str = "none", client_regions: Mapping[str, float] | None = None,
            server_region: str = "us-va", region: str = "us-va", accelerator: str = "a100-sxm4-80gb",
            count: int = 8, precision: str = "bf16", **overrides) -> Comparison:
    """Federated vs centralized for one scenario (a one-row call of :func:`compare_frame`).

    ``client_regions`` (region -> share) sets the clients' grid intensity; default: the data-centre region.
    ``overrides``: any optional column of :func:`federated_frame` / :func:`centralized_frame`
    (topk_fraction, download_bits, upload_bits, power_basis, round_overhead_s, server_power_w,
    data_bytes_per_client, bytes_per_token, fl_convergence_penalty, network_year, mfu, pue ...).
    """
    known = set(DEFAULTS) | {"index_bits", "server_power_w", "data_bytes_per_client", "network_year", "mfu", "pue",
                             "node_power_w", "power_w", "intensity_g_per_kwh", "price_usd_per_kwh"}
    reject_unknown(overrides, known, message="unknown option")
    mix = client_regions if client_regions is not None else {region: 1.0}
    ci, ci_src = client_mix_intensity(mix)
    row = dict(params=params, clients=clients, participation=participation, rounds=rounds, local_epochs=local_epochs,
               tokens_per_client=tokens_per_client, device_class=device_class, access_type=access_type,
               compression=compression, client_intensity_g_per_kwh=ci, server_region=server_region, region=region,
               accelerator=accelerator, count=count, precision=precision, **overrides)
    for name in ("params", "clients", "participation", "rounds", "local_epochs", "tokens_per_client"):
        if name == "participation":
            fraction(name, row[name])
        else:
            number(name, row[name], strictly_positive=True)
    res = compare_frame(pd.DataFrame([row])).iloc[0]
    central = {k: _py(res[k]) for k in OUT_KEYS}
    central.update({k: _py(res[k]) for k in POINT_KEYS})
    low = {k: _py(res[f"{k}_low"]) for k in OUT_KEYS}
    high = {k: _py(res[f"{k}_high"]) for k in OUT_KEYS}
    a, src = _assumptions(row, mix, ci, ci_src)
    est = training.estimate_training(params=row["params"], tokens=central["central_tokens"], accelerator=accelerator,
                                     count=count, precision=precision, region=region,
                                     **{k: overrides[k] for k in ("mfu", "pue", "node_power_w", "power_w",
                                                                  "intensity_g_per_kwh", "price_usd_per_kwh")
                                        if k in overrides})
    for item in est.assumptions.values():
        if item.name in ("region", "timezone"):
            continue
        a.add(f"centralized_{item.name}", item.value, item.unit, item.source, item.note, item.overridden)
    src = list(dict.fromkeys(src + [s for s in est.source_ids if s]))
    return Comparison(central, low, high, row, a, src)


def _assumptions(row: Mapping[str, Any], mix: Mapping[str, float], ci: float, ci_src: list[str]):
    a = Assumptions()
    src: list[str] = []
    dc = device_class(row["device_class"])
    basis = row.get("power_basis", DEFAULTS["power_basis"][0])
    p = dc.power_w(basis)
    a.add("client_power_w", p[1], f"W per client ({basis} basis)", dc.source_ids[0],
          f"{dc.device}; range {p[0]:g}-{p[2]:g}")
    a.add("client_train_tflops", dc.train_tflops[1], "TFLOP/s achieved", dc.source_ids[-1],
          f"range {dc.train_tflops[0]:g}-{dc.train_tflops[2]:g}")
    src += list(dc.source_ids)
    lo, mid, hi, nsrc = network_range(row["access_type"], row.get("network_year"))
    a.add("network_kwh_per_gb", mid, f"kWh/GB ({access_key(row['access_type'])})", nsrc[0],
          f"range {lo:g}-{hi:g}" + (f"; aged to {row['network_year']} with a 2-year halving time (Aslan et al.)"
                                    if row.get("network_year") else "; figures as published (see their data years)"))
    src += nsrc
    srv = device_class(SERVER_CLASS)
    if "server_power_w" in row:
        a.add("server_power_w", row["server_power_w"], "W", "user", "given", True)
    else:
        a.add("server_power_w", srv.load_power_w[1], "W", srv.source_ids[0],
              f"range {srv.load_power_w[0]:g}-{srv.load_power_w[2]:g}")
    for name, (val, unit, s, note) in DEFAULTS.items():
        if name == "power_basis":
            continue
        if name in row:
            a.add(name, row[name], unit, "user", note, True)
        else:
            a.add(name, val, unit, s, note)
            src.append(s)
    a.add("power_basis", basis, "", DEFAULTS["power_basis"][2], DEFAULTS["power_basis"][3], "power_basis" in row)
    a.add("client_intensity_g_per_kwh", ci, "gCO2e/kWh", ci_src[1] if len(ci_src) > 1 else "joulebook_regions",
          "share-weighted: " + ", ".join(f"{k} {v:g}" for k, v in mix.items()))
    sreg = data.region(row["server_region"])
    a.add("server_region", sreg.region_id, "", "joulebook_regions",
          f"{sreg.name}: {sreg.intensity_g_per_kwh:g} gCO2e/kWh, PUE {sreg.pue[1]:g}")
    creg = data.region(row["region"])
    a.add("datacentre_region", creg.region_id, "", "joulebook_regions",
          f"{creg.name}: {creg.intensity_g_per_kwh:g} gCO2e/kWh, PUE {creg.pue[1]:g}")
    src += ci_src + sreg.source_ids + creg.source_ids + ["bonawitz_2019", "savazzi_2021", "aslan_2018"]
    return a, list(dict.fromkeys(s for s in src if s and s != "user"))
