"""Hardware benchmarking and return on investment: which accelerators, rent or own, switch or stay.

Same job, many configurations
    One pre-training job and one fine-tuning job (a share of the pre-training tokens,
    full fine-tuning: 6 N D FLOPs) on every accelerator and count, through
    :func:`joulebook.models.training.estimate_training_frame`: time, energy, emissions, cloud
    on-demand cost, and the cost on owned hardware::

        owned cost = accelerator-hours x purchase x (1 / lifetime + operations share per year)
                                       / (8760 h x utilisation)
                   + facility energy x the region's tariff

    The operations share (maintenance, staff, space, network per year, as a share of the
    purchase price) is a labelled assumption (:data:`OPERATIONS_SHARE_PER_YEAR`).

Switching A100 -> H100 (:func:`switch_roi`)
    A fleet of ``from_count`` accelerators busy a share ``utilisation`` of the month does
    a fixed amount of work; the new fleet does the same work in fewer busy hours
    (ratio of peak x MFU). Owned: the old hardware is paid for (sunk), so its monthly
    cost is energy (busy, idle and node power, times PUE, times tariff) plus
    operations; switching costs the new purchase plus migration minus resale. Cloud:
    the monthly cost is busy hours x the on-demand price; switching costs the
    migration. Break-even is the first whole month whose cumulative cost with the
    switch is no higher than without it (:func:`break_even`).

On-prem rack vs cloud burst (:func:`burst_mix`)
    For a year of demand (accelerators needed, hour by hour or day by day), owning
    ``k`` accelerators serves min(demand, k); the rest is rented. For every ``k`` at
    once (sorted demand and prefix sums, no loop over ``k``)::

        cost(k) = k x purchase x (1 / lifetime + operations share)            per year
                + owned energy (busy + idle + node power, PUE, tariff)
                + cloud price x sum(max(demand - k, 0)) x period length

Model modules do no I/O and no plotting: this one returns DataFrames, dataclasses and text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError
from joulebook.core.util import round6
from joulebook.core.validate import array, fraction, number
from joulebook.models import costs, hardware, training

HOURS_PER_YEAR = 8760.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0
#: yearly operations cost (maintenance contracts, staff, space, network) as a share of the
#: purchase price: low, central, high. A labelled assumption; override by name.
OPERATIONS_SHARE_PER_YEAR = (0.05, 0.10, 0.20)
#: bytes of model state per parameter in mixed-precision Adam training (ZeRO paper)
STATE_BYTES_PER_PARAM = 16.0
#: share of accelerator memory usable for model state in the memory-fit check
MEMORY_HEADROOM = 0.9
JOBS = ("pre-training", "fine-tuning")
#: number formats for the report tables (column label -> format), for joulebook.display.report.table
TABLE_FORMATS = {
    "wall clock (h)": "{:,.1f}", "facility energy (kWh)": "{:,.0f}", "emissions (t CO2e)": "{:,.2f}",
    "cloud on-demand (USD)": "{:,.0f}", "owned (USD)": "{:,.0f}", "tokens per kWh": "{:,.0f}",
    "tokens per USD (cloud)": "{:,.0f}", "tokens per USD (owned)": "{:,.0f}", "busy hours / month": "{:,.0f}",
    "energy (kWh / month)": "{:,.0f}", "energy (USD / month)": "{:,.0f}", "operations (USD / month)": "{:,.0f}",
    "rental (USD / month)": "{:,.0f}", "total (USD / month)": "{:,.0f}", "emissions (t / month)": "{:,.2f}",
    "owned savings (USD / month)": "{:,.0f}", "owned break-even month": "{:.0f}",
    "cloud savings (USD / month)": "{:,.0f}", "cloud break-even month": "{:.0f}",
    "owned capex + operations (USD)": "{:,.0f}", "owned energy (USD)": "{:,.0f}", "cloud burst (USD)": "{:,.0f}",
    "total per year (USD)": "{:,.0f}", "owned share of demand": "{:.0%}", "owned utilisation": "{:.0%}",
    "energy (MWh)": "{:,.1f}",
}


def _ops_share(value: float | None) -> float:
    if value is None:
        return OPERATIONS_SHARE_PER_YEAR[1]
    return number("operations_share_per_year", value, minimum=0.0, maximum=1.0)


def _tariff(region, price_usd_per_kwh: float | None) -> tuple[float, str]:
    if price_usd_per_kwh is not None:
        return number("price_usd_per_kwh", price_usd_per_kwh, minimum=0.0), "user"
    if region is None:
        raise InputError("price_usd_per_kwh", "give a region with an electricity price, or price_usd_per_kwh")
    if region.price_usd_per_kwh is None:
        raise InputError("price_usd_per_kwh", f"the data set has no electricity price for {region.region_id}; "
                                              "give price_usd_per_kwh")
    return float(region.price_usd_per_kwh), region.price_source_id or ""


def owned_usd_per_hour(purchase_usd, lifetime_years, utilisation, operations_share_per_year):
    """Capex and operations per busy accelerator-hour (vectorized):
    purchase x (1 / lifetime + operations share) / (8760 x utilisation)."""
    return np.asarray(purchase_usd, float) * (1.0 / np.asarray(lifetime_years, float)
                                              + np.asarray(operations_share_per_year, float)) \
        / (HOURS_PER_YEAR * np.asarray(utilisation, float))


# --------------------------------------------------------------------------- same job, many configurations

def _accelerator_list(accelerators) -> list[str]:
    if isinstance(accelerators, str):
        accelerators = [a for a in accelerators.split(",") if a.strip()]
    ids = list(dict.fromkeys(data.accelerator(a).accelerator_id for a in accelerators))
    if not ids:
        raise InputError("accelerators", "give at least one accelerator")
    return ids


def _counts(counts) -> list[int]:
    if isinstance(counts, (int, float)):
        counts = [counts]
    out = [int(number("counts", c, strictly_positive=True, integer=True)) for c in counts]
    if not out:
        raise InputError("counts", "give at least one accelerator count")
    return list(dict.fromkeys(out))


def hardware_frame(*, params: float, tokens: float, accelerators: Iterable[str] | str = ("a100-sxm4-80gb", "h100-sxm"),
                   counts: Iterable[int] | int = (8,), precision: str = "bf16", region: str | None = "us-va",
                   finetune_share: float = 0.01, lifetime_years: float | None = None,
                   utilisation: float | None = None, operations_share_per_year: float | None = None,
                   price_usd_per_kwh: float | None = None) -> pd.DataFrame:
    """The same pre-training and fine-tuning job on every accelerator x count (one vectorized call).

    Columns: job, accelerator, count, the training outputs (central, ``_low``, ``_high``),
    ``owned_cost_usd*`` (capex and operations amortised + energy at the tariff),
    ``tokens_per_kwh``, ``tokens_per_usd_cloud``, ``tokens_per_usd_owned``,
    ``state_gb_per_accelerator`` (16 bytes per parameter, fully sharded) and
    ``fits_memory``. Prices the data set lacks give NaN (shown as n/a), never a guess.
    """
    number("params", params, strictly_positive=True)
    number("tokens", tokens, strictly_positive=True)
    fraction("finetune_share", finetune_share)
    accs = _accelerator_list(accelerators)
    cnts = _counts(counts)
    prec = data.normalise_precision(precision)
    lacking = [a for a in accs if not data.accelerator(a).supports(prec)]
    if lacking:
        raise InputError("precision", f"{prec} is not supported by {', '.join(lacking)}; pick a precision every "
                                      "compared accelerator supports (bf16 for A100, H100, H200, L40S, L4)")
    reg = data.region(region) if region else None
    ops = _ops_share(operations_share_per_year)
    life = data.assumption_row("hardware_lifetime_years")
    util = data.assumption_row("hardware_utilisation")
    life_c = number("lifetime_years", lifetime_years, strictly_positive=True) if lifetime_years is not None else None
    util_c = fraction("utilisation", utilisation) if utilisation is not None else None
    grid = pd.MultiIndex.from_product([list(JOBS), accs, cnts], names=["job", "accelerator", "count"]).to_frame(index=False)
    grid["tokens"] = np.where(grid["job"] == "pre-training", float(tokens), float(tokens) * finetune_share)
    grid["params"] = float(params)
    grid["precision"] = prec
    grid["region"] = reg.region_id if reg else ""
    grid["count"] = grid["count"].astype(float)
    if price_usd_per_kwh is not None:
        grid["price_usd_per_kwh"] = number("price_usd_per_kwh", price_usd_per_kwh)
    if life_c is not None:
        grid["lifetime_years"] = life_c
    if util_c is not None:
        grid["utilisation"] = util_c
    out = training.estimate_training_frame(grid)
    buy = {a: costs.purchase_price(a) for a in accs}
    cloud = {a: costs.cloud_price(a) for a in accs}
    nan3 = (np.nan, np.nan, np.nan)
    b = np.array([buy[a].as_tuple() if buy[a] else nan3 for a in out["accelerator"]])
    out["purchase_usd_per_accelerator"] = b[:, 1]
    out["cloud_price_usd_per_gpu_hour"] = [cloud[a].central if cloud[a] else np.nan for a in out["accelerator"]]
    # low cost: cheap purchase, long life, high utilisation, low operations share
    life_cases = (life_c or life[2], life_c or life[1], life_c or life[0])
    util_cases = (util_c or util[2], util_c or util[1], util_c or util[0])
    ops_cases = (ops, ops, ops) if operations_share_per_year is not None else OPERATIONS_SHARE_PER_YEAR
    for k, s in enumerate(("_low", "", "_high")):
        rate = owned_usd_per_hour(b[:, k], life_cases[k], util_cases[k], ops_cases[k])
        out[f"owned_cost_usd{s}"] = out[f"accelerator_hours{s}"] * rate + out[f"electricity_cost_usd{s}"]
    out["tokens_per_kwh"] = out["tokens"] / out["facility_energy_kwh"]
    out["tokens_per_usd_cloud"] = out["tokens"] / out["cloud_cost_usd"]
    out["tokens_per_usd_owned"] = out["tokens"] / out["owned_cost_usd"]
    mem = np.array([data.accelerator(a).memory_gb for a in out["accelerator"]])
    out["state_gb_per_accelerator"] = float(params) * STATE_BYTES_PER_PARAM / out["count"] / 1e9
    out["fits_memory"] = out["state_gb_per_accelerator"] <= mem * MEMORY_HEADROOM
    out["operations_share_per_year"] = ops
    return out


def ranking(frame: pd.DataFrame, job: str = "pre-training") -> pd.DataFrame:
    """Configurations of one job ranked by tokens per kWh and per dollar (1 = best; NaN prices rank last).

    Only configurations whose model state fits in memory and whose accelerator has a published
    large-scale MFU for its generation are ranked (``ranked``); the others (``mfu_low_confidence``: a
    transferred prior or vendor benchmarks only) follow, unranked, so a low-confidence part is never best.
    Every row of ``frame`` comes from one call of the training model, so all share one MFU basis.
    """
    if job not in JOBS:
        raise InputError("job", f"unknown job {job!r} (one of {', '.join(JOBS)})")
    f = frame[frame["job"] == job].copy()
    fits = f["fits_memory"].to_numpy(dtype=bool) if "fits_memory" in f.columns else np.ones(len(f), dtype=bool)
    low = (f["mfu_low_confidence"].to_numpy(dtype=bool) if "mfu_low_confidence" in f.columns
           else np.zeros(len(f), dtype=bool))
    f["ranked"] = fits & ~low
    for col in ("tokens_per_kwh", "tokens_per_usd_cloud", "tokens_per_usd_owned"):
        metric = f[col].where(f["ranked"])  # not ranked: does not fit, or low-confidence MFU
        f[f"rank_{col}"] = metric.rank(ascending=False, method="min", na_option="bottom").astype(int)
    f["_fits"] = fits
    f = f.sort_values(["rank_tokens_per_kwh", "ranked", "_fits", "rank_tokens_per_usd_cloud", "accelerator", "count"],
                      ascending=[True, False, False, True, True, True])
    return f.drop(columns="_fits").reset_index(drop=True)


def best_ranked(ranked: pd.DataFrame) -> pd.Series | None:
    """The top configuration of :func:`ranking`, or None when nothing may be ranked."""
    top = ranked[ranked["ranked"]]
    return None if top.empty else top.iloc[0]


# --------------------------------------------------------------------------- break-even

@dataclass(frozen=True)
class BreakEven:
    """When a switch pays back. ``month`` is None when it never does (``reason`` says why)."""

    month: int | None
    months_exact: float | None
    reason: str
    switch_cost_usd: float
    savings_usd_per_month: float
    horizon_months: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "months_exact": self.months_exact, "reason": self.reason,
                "switch_cost_usd": self.switch_cost_usd, "savings_usd_per_month": self.savings_usd_per_month,
                "horizon_months": self.horizon_months}


def break_even_months(switch_cost_usd, monthly_cost_before_usd, monthly_cost_after_usd) -> np.ndarray:
    """Vectorized: the first whole month m >= 0 with switch + m x after <= m x before (NaN: never)."""
    sw = np.asarray(switch_cost_usd, dtype=float)
    before = np.asarray(monthly_cost_before_usd, dtype=float)
    after = np.asarray(monthly_cost_after_usd, dtype=float)
    savings = before - after
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exact = np.where(savings > 0, sw / savings, np.nan)
        month = np.maximum(np.ceil(exact * (1 - 1e-9)), 1.0)  # tolerate float noise (5.0000000001 -> 5)
    month = np.where(sw <= 0, 0.0, month)  # nothing to recover (see break_even for the reason text)
    # never: a switch that costs more every month (whatever it returns up front), or no saving / too small to count
    never = (savings < 0) | ((sw > 0) & ((savings <= 0) | ~np.isfinite(month) | (month > 1e12)))
    return np.where(never, np.nan, np.maximum(month, 0.0))


def break_even(switch_cost_usd: float, monthly_cost_before_usd: float, monthly_cost_after_usd: float,
               horizon_months: float | None = None) -> BreakEven:
    """The month a switch pays back, or None with the reason.

    ``month`` is the first whole month at whose end the cumulative cost with the switch
    (switch cost + months x cost after) is no higher than without it (months x cost before).
    A switch cost of zero or less pays back in month 0 unless the monthly cost rises: a switch
    that costs more every month never breaks even (``month`` None), even when it returns money
    up front. Beyond ``horizon_months`` (e.g. the new hardware's life) it is reported as never,
    with the month it would have taken.
    """
    sw = number("switch_cost_usd", switch_cost_usd, minimum=None)
    before = number("monthly_cost_before_usd", monthly_cost_before_usd)
    after = number("monthly_cost_after_usd", monthly_cost_after_usd)
    if horizon_months is not None:
        number("horizon_months", horizon_months, strictly_positive=True)
    savings = before - after
    if sw <= 0:
        if savings >= 0:
            return BreakEven(0, 0.0, f"nothing to recover: the switch costs {sw:,.0f} USD up front and the monthly "
                                     "cost does not rise", sw, savings, horizon_months)
        lead = (f"; the {-sw:,.0f} USD it returns up front is used up after {-sw / -savings:,.1f} months"
                if sw < 0 else "")
        return BreakEven(None, None, f"never: switching costs {-savings:,.0f} USD more every month ({after:,.0f} USD "
                                     f"per month after vs {before:,.0f} before), so it never pays back{lead}",
                         sw, savings, horizon_months)
    if savings <= 0:
        return BreakEven(None, None, f"switching does not lower the monthly cost ({after:,.0f} USD per month after vs "
                                     f"{before:,.0f} before), so the {sw:,.0f} USD switch cost is never recovered",
                         sw, savings, horizon_months)
    exact = sw / savings
    if not math.isfinite(exact) or exact > 1e12:
        return BreakEven(None, None, f"the saving of {savings:.3g} USD per month is too small to recover "
                                     f"{sw:,.0f} USD", sw, savings, horizon_months)
    month = int(float(break_even_months(sw, before, after)))
    if horizon_months is not None and month > horizon_months:
        return BreakEven(None, exact, f"it would pay back only in month {month}, after the {horizon_months:g}-month "
                                      f"horizon ({savings:,.0f} USD saved per month against {sw:,.0f} USD up front)",
                         sw, savings, horizon_months)
    return BreakEven(month, exact, f"{savings:,.0f} USD saved per month recovers {sw:,.0f} USD in {exact:,.1f} months",
                     sw, savings, horizon_months)


def cumulative_costs(switch_cost_usd: float, monthly_cost_before_usd: float, monthly_cost_after_usd: float,
                     months: int) -> pd.DataFrame:
    """Cumulative cost without and with the switch, month 0..``months``."""
    m = np.arange(int(number("months", months, strictly_positive=True, integer=True)) + 1, dtype=float)
    return pd.DataFrame({"month": m.astype(int), "stay_usd": m * monthly_cost_before_usd,
                         "switch_usd": switch_cost_usd + m * monthly_cost_after_usd})


# --------------------------------------------------------------------------- switching A100 -> H100

@dataclass(frozen=True)
class _Hw:
    accelerator_id: str
    rate_tflops: float
    busy_w: float
    idle_w: float
    node_w: float
    purchase_usd: float
    cloud_usd_per_hour: float
    mfu: float
    mfu_source: str


def _hw(acc_name: str, precision: str, mfu: float | None, purchase_option: str) -> _Hw:
    acc = data.accelerator(acc_name)
    p = data.normalise_precision(precision)
    peak = acc.peak(p)
    lo, mid, hi, src = data.efficiency(acc.accelerator_id, p, "train")
    m = number("mfu", mfu, strictly_positive=True, maximum=1.0) if mfu is not None else mid
    idle, _, _ = hardware.idle_power_w(acc)
    busy = hardware.busy_power_w(acc)
    bp = costs.purchase_price(acc)
    cp = costs.cloud_price(acc, purchase_option=purchase_option)
    return _Hw(acc.accelerator_id, peak * m, busy, idle, hardware.node_power_w(acc), bp.central if bp else np.nan,
               cp.central if cp else np.nan, m, src if mfu is None else "user")


@dataclass
class SwitchResult:
    """Monthly costs before and after a switch, its cost, and when it pays back (owned and cloud)."""

    from_accelerator: str
    to_accelerator: str
    from_count: int
    to_count: int
    utilisation: float
    to_utilisation: float
    speed_ratio: float
    monthly: pd.DataFrame  # rows: owned/cloud x before/after, columns: cost items
    owned: BreakEven
    cloud: BreakEven
    horizon_months: int
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)

    def curves(self) -> pd.DataFrame:
        """Cumulative cost curves, month 0..horizon, for both modes (wide, for a line chart)."""
        m = self.monthly.set_index(["mode", "option"])["total_usd"]
        out = None
        for mode, be in (("owned", self.owned), ("cloud", self.cloud)):
            c = cumulative_costs(be.switch_cost_usd, m[(mode, "stay")], m[(mode, "switch")], self.horizon_months)
            c = c.rename(columns={"stay_usd": f"stay on {self.from_accelerator} ({mode})",
                                  "switch_usd": f"switch to {self.to_accelerator} ({mode})"})
            out = c if out is None else out.merge(c, on="month")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_accelerator, "to": self.to_accelerator, "from_count": self.from_count,
                "to_count": self.to_count, "utilisation": self.utilisation, "to_utilisation": self.to_utilisation,
                "speed_ratio": self.speed_ratio, "horizon_months": self.horizon_months,
                "monthly": self.monthly.to_dict(orient="records"),
                "owned": self.owned.to_dict(), "cloud": self.cloud.to_dict(),
                "assumptions": self.assumptions.to_list(), "sources": list(self.source_ids)}


def _monthly_arrays(h_from: _Hw, h_to: _Hw, from_count: float, to_count: float, u: np.ndarray, pue: float,
                    tariff: float, ops: float, intensity: float) -> dict[str, dict[str, np.ndarray]]:
    """Vectorized over utilisations ``u``: monthly cost items of each option."""
    busy_from = from_count * HOURS_PER_MONTH * u
    busy_to = busy_from * h_from.rate_tflops / h_to.rate_tflops
    out = {}
    for key, hw, count, busy in (("from", h_from, from_count, busy_from), ("to", h_to, to_count, busy_to)):
        all_h = count * HOURS_PER_MONTH
        kwh_owned = (busy * hw.busy_w + (all_h - busy) * hw.idle_w + all_h * hw.node_w) * pue / 1000.0
        kwh_cloud = busy * (hw.busy_w + hw.node_w) * pue / 1000.0
        out[key] = {
            "busy_hours": busy, "owned_energy_kwh": kwh_owned, "owned_energy_usd": kwh_owned * tariff,
            "owned_operations_usd": np.full_like(u, ops * hw.purchase_usd * count / 12.0),
            "cloud_rental_usd": busy * hw.cloud_usd_per_hour, "cloud_energy_kwh": kwh_cloud,
            "owned_emissions_kg": kwh_owned * intensity / 1000.0, "cloud_emissions_kg": kwh_cloud * intensity / 1000.0,
        }
    return out


def _switch_setup(from_accelerator, to_accelerator, from_count, to_count, precision_from, precision_to, region,
                  mfu_from, mfu_to, price_usd_per_kwh, operations_share_per_year, purchase_option):
    number("from_count", from_count, strictly_positive=True, integer=True)
    h_from = _hw(from_accelerator, precision_from, mfu_from, purchase_option)
    h_to = _hw(to_accelerator, precision_to, mfu_to, purchase_option)
    ratio = h_to.rate_tflops / h_from.rate_tflops
    if to_count is None or to_count == 0:
        to_count = max(1, math.ceil(from_count / ratio - 1e-9))
    number("to_count", to_count, strictly_positive=True, integer=True)
    reg = data.region(region) if region else None
    tariff, tariff_src = _tariff(reg, price_usd_per_kwh)
    pue = reg.pue[1] if reg else data.operator_defaults("industry")[0][1]
    intensity = reg.intensity_g_per_kwh if reg else np.nan
    ops = _ops_share(operations_share_per_year)
    return h_from, h_to, ratio, int(to_count), reg, tariff, tariff_src, float(pue), intensity, ops


def switch_roi(*, from_accelerator: str = "a100-sxm4-80gb", to_accelerator: str = "h100-sxm", from_count: int = 64,
               to_count: int | None = None, utilisation: float = 0.7, precision_from: str = "bf16",
               precision_to: str = "bf16", region: str | None = "us-va", migration_usd: float = 0.0,
               resale_fraction: float = 0.0, operations_share_per_year: float | None = None,
               horizon_months: int | None = None, price_usd_per_kwh: float | None = None,
               mfu_from: float | None = None, mfu_to: float | None = None,
               purchase_option: str = "on-demand") -> SwitchResult:
    """ROI of moving a fleet's work from ``from_accelerator`` to ``to_accelerator`` (owned and cloud).

    ``to_count`` None (or 0): the smallest fleet with the old fleet's capacity,
    ceil(from_count x old rate / new rate). ``horizon_months`` None: the new hardware's
    life (``hardware_lifetime_years`` x 12). ``resale_fraction``: share of the old
    fleet's current purchase price recovered by selling it (owned only).
    """
    u = fraction("utilisation", utilisation)
    number("migration_usd", migration_usd)
    resale = fraction("resale_fraction", resale_fraction, allow_zero=True)
    h_from, h_to, ratio, to_count, reg, tariff, tariff_src, pue, intensity, ops = _switch_setup(
        from_accelerator, to_accelerator, from_count, to_count, precision_from, precision_to, region, mfu_from, mfu_to,
        price_usd_per_kwh, operations_share_per_year, purchase_option)
    to_util = u * from_count / (to_count * ratio)
    if to_util > 1 + 1e-9:
        raise InputError("to_count", f"{to_count} x {h_to.accelerator_id} cannot do the work of {from_count} x "
                                     f"{h_from.accelerator_id} at {u:.0%} (needs {to_util:.0%} of their hours); "
                                     f"use at least {math.ceil(u * from_count / ratio)}")
    life = data.assumption_row("hardware_lifetime_years")
    horizon = int(number("horizon_months", horizon_months, strictly_positive=True, integer=True)) \
        if horizon_months is not None else int(round(life[1] * 12))
    m = _monthly_arrays(h_from, h_to, float(from_count), float(to_count), np.array([u]), pue, tariff, ops, intensity)
    rows = []
    for mode in ("owned", "cloud"):
        for option, key, hw in (("stay", "from", h_from), ("switch", "to", h_to)):
            d = {k: float(v[0]) for k, v in m[key].items()}
            if mode == "owned":
                total = d["owned_energy_usd"] + d["owned_operations_usd"]
                items = {"energy_usd": d["owned_energy_usd"], "operations_usd": d["owned_operations_usd"],
                         "rental_usd": 0.0, "energy_kwh": d["owned_energy_kwh"], "emissions_kg": d["owned_emissions_kg"]}
            else:
                total = d["cloud_rental_usd"]
                items = {"energy_usd": np.nan, "operations_usd": 0.0, "rental_usd": d["cloud_rental_usd"],
                         "energy_kwh": d["cloud_energy_kwh"], "emissions_kg": d["cloud_emissions_kg"]}
            rows.append({"mode": mode, "option": option, "accelerator": hw.accelerator_id,
                         "count": from_count if key == "from" else to_count, "busy_hours": d["busy_hours"],
                         **items, "total_usd": total})
    monthly = pd.DataFrame(rows)
    t = monthly.set_index(["mode", "option"])["total_usd"]
    if any(np.isnan(t[(md, "switch")]) or np.isnan(t[(md, "stay")]) for md in ("owned", "cloud")):
        pass  # a price the data set lacks: break-even below says so
    switch_owned = h_to.purchase_usd * to_count + migration_usd - resale * h_from.purchase_usd * from_count
    owned = _be_or_missing(switch_owned, t[("owned", "stay")], t[("owned", "switch")], horizon, "purchase price")
    cloud = _be_or_missing(float(migration_usd), t[("cloud", "stay")], t[("cloud", "switch")], horizon, "cloud price")
    a = Assumptions()
    src = []
    for hw, role in ((h_from, "from"), (h_to, "to")):
        acc = data.accelerator(hw.accelerator_id)
        a.add(f"{role}_rate_tflops", round(hw.rate_tflops, 3), "TFLOP/s achieved (peak x MFU)", hw.mfu_source,
              f"{hw.accelerator_id}: MFU {hw.mfu:.4g}")
        a.add(f"{role}_busy_power_w", round(hw.busy_w, 1), "W", "joulebook_h100_probe1", "idle + busy fraction x (cap - idle)")
        a.add(f"{role}_idle_power_w", round(hw.idle_w, 1), "W", hardware.idle_power_w(acc)[1], hardware.idle_power_w(acc)[2])
        a.add(f"{role}_node_power_w", round(hw.node_w, 1), "W per accelerator", "joulebook_assumptions",
              "node_overhead_fraction_of_tdp x TDP")
        bp, cp = costs.purchase_price(acc), costs.cloud_price(acc, purchase_option=purchase_option)
        a.add(f"{role}_purchase_usd", hw.purchase_usd, "USD per accelerator", bp.source_id if bp else "",
              bp.detail if bp else "no purchase price in the data set")
        a.add(f"{role}_cloud_usd_per_hour", hw.cloud_usd_per_hour, "USD per accelerator-hour", cp.source_id if cp else "",
              cp.detail if cp else "no rental price in the data set")
        src += [acc.source_id, hw.mfu_source] + ([bp.source_id] if bp else []) + ([cp.source_id] if cp else [])
    a.add("price_usd_per_kwh", tariff, "USD/kWh", tariff_src, reg.price_note if reg and tariff_src != "user" else "given",
          tariff_src == "user")
    a.add("pue", pue, "ratio", "joulebook_operator_defaults", f"{reg.operator if reg else 'industry'} default")
    a.add("operations_share_per_year", ops, "share of purchase price per year",
          "user" if operations_share_per_year is not None else "joulebook_precision_roi_assumptions",
          f"maintenance, staff, space, network; labelled assumption (range {OPERATIONS_SHARE_PER_YEAR[0]:g}-"
          f"{OPERATIONS_SHARE_PER_YEAR[2]:g})", operations_share_per_year is not None)
    a.add("migration_usd", float(migration_usd), "USD one-off", "user", "porting, validation, downtime", True)
    a.add("resale_fraction", resale, "share of the old fleet's price", "user", "recovered by selling the old fleet", True)
    a.add("owned_capex", "sunk", "", "", "the old fleet is already paid for: only energy and operations count")
    a.add("hours_per_month", HOURS_PER_MONTH, "h", "", "8760 / 12")
    src += reg.source_ids if reg else []
    src += ["joulebook_h100_probe1", "joulebook_assumptions", "joulebook_precision_roi_assumptions"]
    return SwitchResult(h_from.accelerator_id, h_to.accelerator_id, int(from_count), to_count, u, float(to_util),
                        float(ratio), monthly, owned, cloud, horizon, a, [s for s in dict.fromkeys(src) if s])


def _be_or_missing(switch, before, after, horizon, what) -> BreakEven:
    if not (np.isfinite(switch) and np.isfinite(before) and np.isfinite(after)):
        return BreakEven(None, None, f"the data set has no {what} for one of the accelerators", float(switch),
                         float(before - after), horizon)
    return break_even(switch, before, after, horizon)


def switch_sweep(utilisations: Iterable[float] = tuple(np.round(np.linspace(0.1, 1.0, 10), 2)), **kw) -> pd.DataFrame:
    """Savings per month and break-even month at each utilisation of the old fleet (vectorized).

    Keywords as :func:`switch_roi` (except ``utilisation``). Columns per utilisation:
    ``owned_savings_usd_per_month``, ``owned_break_even_month`` (NaN: never, or beyond
    the horizon), and the same for ``cloud``.
    """
    u = array("utilisations", list(utilisations), strictly_positive=True, maximum=1.0)
    if u.size == 0:
        raise InputError("utilisations", "give at least one utilisation")
    kw = dict(kw)
    for k in ("utilisation",):
        kw.pop(k, None)
    ref = switch_roi(utilisation=float(u.min()), **kw)  # validates everything; to_count fixed by it
    h_from, h_to, ratio, to_count, reg, tariff, _, pue, intensity, ops = _switch_setup(
        kw.get("from_accelerator", "a100-sxm4-80gb"), kw.get("to_accelerator", "h100-sxm"), kw.get("from_count", 64),
        ref.to_count, kw.get("precision_from", "bf16"), kw.get("precision_to", "bf16"), kw.get("region", "us-va"),
        kw.get("mfu_from"), kw.get("mfu_to"), kw.get("price_usd_per_kwh"), kw.get("operations_share_per_year"),
        kw.get("purchase_option", "on-demand"))
    from_count = float(kw.get("from_count", 64))
    m = _monthly_arrays(h_from, h_to, from_count, float(to_count), u, pue, tariff, ops, intensity)
    fits = u * from_count / (to_count * ratio) <= 1 + 1e-9
    before_o = m["from"]["owned_energy_usd"] + m["from"]["owned_operations_usd"]
    after_o = m["to"]["owned_energy_usd"] + m["to"]["owned_operations_usd"]
    before_c, after_c = m["from"]["cloud_rental_usd"], m["to"]["cloud_rental_usd"]
    sw_o, sw_c = ref.owned.switch_cost_usd, ref.cloud.switch_cost_usd
    be_o = break_even_months(sw_o, before_o, after_o)
    be_c = break_even_months(sw_c, before_c, after_c)
    h = ref.horizon_months
    return pd.DataFrame({
        "utilisation": u, "to_utilisation": u * from_count / (to_count * ratio), "fits": fits,
        "owned_savings_usd_per_month": before_o - after_o,
        "owned_break_even_month": np.where(fits & (be_o <= h), be_o, np.nan),
        "cloud_savings_usd_per_month": before_c - after_c,
        "cloud_break_even_month": np.where(fits & (be_c <= h), be_c, np.nan),
    })


# --------------------------------------------------------------------------- on-prem rack vs cloud burst

def demand_profile(*, baseline_accelerators: float, peak_accelerators: float, peak_days_per_year: int,
                   campaigns_per_year: int = 4, peak_hours_per_day: int = 24, peak_start_hour: int = 8,
                   resolution: str = "hourly") -> np.ndarray:
    """A year of demand (accelerators needed): a constant baseline with peak campaigns.

    ``peak_days_per_year`` days at ``peak_accelerators`` are split into
    ``campaigns_per_year`` blocks of consecutive days, evenly spaced through the year;
    on those days the peak lasts ``peak_hours_per_day`` hours from ``peak_start_hour``.
    ``resolution``: ``hourly`` (8760 values) or ``daily`` (365 daily means). Deterministic.
    """
    base = number("baseline_accelerators", baseline_accelerators)
    peak = number("peak_accelerators", peak_accelerators)
    if peak < base:
        raise InputError("peak_accelerators", f"must be >= baseline_accelerators ({base:g}), got {peak:g}")
    days = int(number("peak_days_per_year", peak_days_per_year, integer=True, maximum=365))
    camp = int(number("campaigns_per_year", campaigns_per_year, strictly_positive=True, integer=True, maximum=365))
    ph = int(number("peak_hours_per_day", peak_hours_per_day, strictly_positive=True, integer=True, maximum=24))
    start = int(number("peak_start_hour", peak_start_hour, integer=True, maximum=23))
    if resolution not in ("hourly", "daily"):
        raise InputError("resolution", f"must be 'hourly' or 'daily', got {resolution!r}")
    peak_day = np.zeros(365, dtype=bool)
    if days:
        camp = min(camp, days)
        lengths = np.full(camp, days // camp) + (np.arange(camp) < days % camp)
        starts = np.floor(np.arange(camp) * 365.0 / camp).astype(int)
        for s, n in zip(starts, lengths, strict=True):  # at most 365 short blocks
            peak_day[s:s + n] = True
        if peak_day.sum() < days:  # overlapping blocks (very long campaigns): fill the first free days
            free = np.flatnonzero(~peak_day)[: days - int(peak_day.sum())]
            peak_day[free] = True
    hour_in_peak = np.zeros(24, dtype=bool)
    hour_in_peak[(start + np.arange(ph)) % 24] = True
    hourly = np.where(peak_day[:, None] & hour_in_peak[None, :], peak, base).reshape(-1)
    if resolution == "daily":
        return hourly.reshape(365, 24).mean(axis=1)
    return hourly


@dataclass
class MixResult:
    """Annual cost of every owned count (``frame``) and the cheapest one."""

    frame: pd.DataFrame
    best_count: int
    best_total_usd: float
    all_cloud_usd: float
    all_owned_usd: float
    accelerator: str
    period_hours: float
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)
    #: busy hours a year above which one more owned accelerator is cheaper than renting
    owned_break_even_hours: float = float("nan")

    @property
    def best(self) -> pd.Series:
        return self.frame.loc[self.frame["owned_count"] == self.best_count].iloc[0]

    def to_dict(self) -> dict[str, Any]:
        b = self.best
        return {"accelerator": self.accelerator, "best_owned_count": self.best_count,
                "best_total_usd": self.best_total_usd, "all_cloud_usd": self.all_cloud_usd,
                "all_owned_usd": self.all_owned_usd, "best_owned_share_of_demand": float(b["owned_share_of_demand"]),
                "best_owned_utilisation": float(b["owned_utilisation"])}


def mix_costs(demand: np.ndarray, counts: np.ndarray, *, period_hours: float, fixed_usd_per_accelerator_year: float,
              busy_w: float, idle_w: float, node_w: float, pue: float, tariff_usd_per_kwh: float,
              cloud_usd_per_hour: float, intensity_g_per_kwh: float = np.nan) -> pd.DataFrame:
    """Annual cost of owning each of ``counts`` accelerators and renting the rest (vectorized over counts).

    ``demand``: accelerators needed per period (a year of periods of ``period_hours``).
    """
    d = np.sort(np.asarray(demand, dtype=float))
    k = np.asarray(counts, dtype=float)
    n = d.size
    prefix = np.concatenate([[0.0], np.cumsum(d)])
    idx = np.searchsorted(d, k, side="left")
    served = prefix[idx] + k * (n - idx)  # sum over periods of min(d, k)
    total = prefix[-1]
    busy_h = served * period_hours
    idle_h = (k * n - served) * period_hours
    all_h = k * n * period_hours
    burst_h = (total - served) * period_hours
    owned_kwh = (busy_h * busy_w + idle_h * idle_w + all_h * node_w) * pue / 1000.0
    cloud_kwh = burst_h * (busy_w + node_w) * pue / 1000.0
    fixed = k * fixed_usd_per_accelerator_year * (n * period_hours / HOURS_PER_YEAR)
    energy = owned_kwh * tariff_usd_per_kwh
    cloud = burst_h * cloud_usd_per_hour
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(k > 0, served / (k * n), np.nan)
    return pd.DataFrame({
        "owned_count": k.astype(int), "owned_fixed_usd": fixed, "owned_energy_usd": energy, "cloud_burst_usd": cloud,
        "total_usd": fixed + energy + cloud, "owned_busy_hours": busy_h, "cloud_burst_hours": burst_h,
        "owned_share_of_demand": served / total if total > 0 else np.zeros_like(k),
        "owned_utilisation": util, "owned_energy_kwh": owned_kwh, "cloud_energy_kwh": cloud_kwh,
        "energy_kwh": owned_kwh + cloud_kwh, "emissions_kg": (owned_kwh + cloud_kwh) * intensity_g_per_kwh / 1000.0,
    })


def burst_mix(demand, *, accelerator: str = "h100-sxm", region: str | None = "us-va", period_hours: float | None = None,
              counts: Iterable[int] | None = None, lifetime_years: float | None = None,
              operations_share_per_year: float | None = None, purchase_usd_per_accelerator: float | None = None,
              cloud_price_usd_per_gpu_hour: float | None = None, price_usd_per_kwh: float | None = None,
              purchase_option: str = "on-demand") -> MixResult:
    """The cheapest mix of owned accelerators and cloud burst for a year of ``demand``.

    ``demand``: accelerators needed per period; 8760 values are hours, 365 are days
    (otherwise give ``period_hours``). ``counts``: owned counts to evaluate (default
    0..ceil(max demand)). Owned: straight-line capex over ``lifetime_years`` plus the
    operations share, energy for busy, idle and node power at the region's PUE and
    tariff; burst: on-demand price per accelerator-hour (which includes its energy).
    """
    d = array("demand", demand, minimum=0.0)
    if d.ndim != 1 or d.size == 0:
        raise InputError("demand", "expected a one-dimensional, non-empty series of accelerators needed")
    if period_hours is None:
        if d.size == 8760:
            period_hours = 1.0
        elif d.size == 365:
            period_hours = 24.0
        else:
            raise InputError("period_hours", f"{d.size} periods: give period_hours (8760 hourly or 365 daily values "
                                             "are recognised)")
    ph = number("period_hours", period_hours, strictly_positive=True)
    acc = data.accelerator(accelerator)
    if counts is None:
        k = np.arange(0, int(math.ceil(d.max())) + 1)
    else:
        k = np.array([int(number("counts", c, integer=True)) for c in counts])
        if k.size == 0:
            raise InputError("counts", "give at least one owned count")
    reg = data.region(region) if region else None
    tariff, tariff_src = _tariff(reg, price_usd_per_kwh)
    pue = reg.pue[1] if reg else data.operator_defaults("industry")[0][1]
    life = data.assumption_row("hardware_lifetime_years")
    life_y = number("lifetime_years", lifetime_years, strictly_positive=True) if lifetime_years is not None else life[1]
    ops = _ops_share(operations_share_per_year)
    bp = costs.purchase_price(acc)
    cp = costs.cloud_price(acc, purchase_option=purchase_option)
    buy = number("purchase_usd_per_accelerator", purchase_usd_per_accelerator) \
        if purchase_usd_per_accelerator is not None else (bp.central if bp else None)
    rent = number("cloud_price_usd_per_gpu_hour", cloud_price_usd_per_gpu_hour) \
        if cloud_price_usd_per_gpu_hour is not None else (cp.central if cp else None)
    if buy is None:
        raise InputError("purchase_usd_per_accelerator", f"the data set has no purchase price for {acc.accelerator_id}; "
                                                         "give one")
    if rent is None:
        raise InputError("cloud_price_usd_per_gpu_hour", f"the data set has no {purchase_option} price for "
                                                         f"{acc.accelerator_id}; give one")
    idle, idle_src, idle_note = hardware.idle_power_w(acc)
    busy = hardware.busy_power_w(acc)
    node = hardware.node_power_w(acc)
    fixed = buy * (1.0 / life_y + ops)
    frame = mix_costs(d, k, period_hours=ph, fixed_usd_per_accelerator_year=fixed, busy_w=busy, idle_w=idle,
                      node_w=node, pue=pue, tariff_usd_per_kwh=tariff, cloud_usd_per_hour=rent,
                      intensity_g_per_kwh=reg.intensity_g_per_kwh if reg else np.nan)
    i = int(np.argmin(frame["total_usd"].to_numpy()))  # first minimum: the smallest cheapest count
    top = int(math.ceil(d.max()))
    all_owned = mix_costs(d, np.array([top]), period_hours=ph, fixed_usd_per_accelerator_year=fixed, busy_w=busy,
                          idle_w=idle, node_w=node, pue=pue, tariff_usd_per_kwh=tariff, cloud_usd_per_hour=rent)
    all_cloud = mix_costs(d, np.array([0]), period_hours=ph, fixed_usd_per_accelerator_year=fixed, busy_w=busy,
                          idle_w=idle, node_w=node, pue=pue, tariff_usd_per_kwh=tariff, cloud_usd_per_hour=rent)
    a = Assumptions()
    a.add("accelerator", acc.accelerator_id, "", acc.source_id, acc.name)
    a.add("purchase_usd_per_accelerator", buy, "USD", "user" if purchase_usd_per_accelerator is not None else bp.source_id,
          "" if purchase_usd_per_accelerator is not None else bp.detail, purchase_usd_per_accelerator is not None)
    a.add("cloud_price_usd_per_gpu_hour", rent, "USD per accelerator-hour",
          "user" if cloud_price_usd_per_gpu_hour is not None else cp.source_id,
          "" if cloud_price_usd_per_gpu_hour is not None else cp.detail, cloud_price_usd_per_gpu_hour is not None)
    a.add("lifetime_years", life_y, "years", "user" if lifetime_years is not None else life[4],
          "straight-line capex, no cost of capital", lifetime_years is not None)
    a.add("operations_share_per_year", ops, "share of purchase price per year",
          "user" if operations_share_per_year is not None else "joulebook_precision_roi_assumptions",
          "maintenance, staff, space, network (labelled assumption)", operations_share_per_year is not None)
    a.add("busy_power_w", round(busy, 1), "W", "joulebook_h100_probe1", "idle + busy fraction x (cap - idle)")
    a.add("idle_power_w", round(idle, 1), "W", idle_src, idle_note)
    a.add("node_power_w", round(node, 1), "W per accelerator", "joulebook_assumptions", "node_overhead_fraction_of_tdp x TDP")
    a.add("pue", pue, "ratio", "joulebook_operator_defaults", "owned site and cloud burst alike")
    a.add("price_usd_per_kwh", tariff, "USD/kWh", tariff_src, reg.price_note if reg and tariff_src != "user" else "given",
          tariff_src == "user")
    a.add("period_hours", ph, "h", "", "length of one demand period")
    src = [acc.source_id, idle_src, "joulebook_assumptions", "joulebook_precision_roi_assumptions"]
    src += [bp.source_id] if bp and purchase_usd_per_accelerator is None else []
    src += [cp.source_id] if cp and cloud_price_usd_per_gpu_hour is None else []
    src += reg.source_ids if reg else []
    year_h = d.size * ph
    margin = rent - (busy - idle) * pue * tariff / 1000.0  # what an owned busy hour saves over renting
    standing = fixed * year_h / HOURS_PER_YEAR + year_h * (idle + node) * pue * tariff / 1000.0
    be_hours = standing / margin if margin > 0 else float("inf")
    return MixResult(frame, int(frame["owned_count"].iloc[i]), float(frame["total_usd"].iloc[i]),
                     float(all_cloud["total_usd"].iloc[0]), float(all_owned["total_usd"].iloc[0]), acc.accelerator_id,
                     ph, a, [s for s in dict.fromkeys(src) if s], float(be_hours))


# --------------------------------------------------------------------------- the report

NOTEBOOK_DEFAULTS: dict[str, Any] = {
    "params": 7e9, "tokens": 140e9, "finetune_share": 0.01, "precision": "bf16",
    "accelerators": ["a100-sxm4-80gb", "h100-sxm", "h200-sxm", "l40s", "l4"], "counts": [8, 64, 256],
    "region": "us-va", "owned_utilisation": 0.85, "lifetime_years": 4.0, "operations_share_per_year": 0.1,
    "from_accelerator": "a100-sxm4-80gb", "to_accelerator": "h100-sxm", "fleet_count": 64, "fleet_utilisation": 0.7,
    "to_count": 0, "migration_usd": 50000.0, "resale_fraction": 0.0, "horizon_months": 48,
    "burst_accelerator": "h100-sxm", "baseline_accelerators": 32, "peak_accelerators": 128, "peak_days_per_year": 30,
    "campaigns_per_year": 4, "demand_resolution": "hourly",
}


def validate_parameters(**p: Any) -> dict[str, Any]:
    """Check notebook 50's parameters (each error names the parameter); returns them cleaned."""
    missing = set(NOTEBOOK_DEFAULTS) - set(p)
    if missing:
        raise InputError(sorted(missing)[0], "a value is required")
    extra = set(p) - set(NOTEBOOK_DEFAULTS)
    if extra:
        raise InputError(sorted(extra)[0], "not a parameter of this report")
    number("params", p["params"], strictly_positive=True)
    number("tokens", p["tokens"], strictly_positive=True)
    fraction("finetune_share", p["finetune_share"])
    prec = data.normalise_precision(p["precision"])
    accs = _accelerator_list(p["accelerators"])
    cnts = _counts(p["counts"])
    reg = data.region(p["region"]).region_id if p["region"] else None
    fraction("owned_utilisation", p["owned_utilisation"])
    number("lifetime_years", p["lifetime_years"], strictly_positive=True)
    _ops_share(p["operations_share_per_year"])
    fa = data.accelerator(p["from_accelerator"]).accelerator_id
    ta = data.accelerator(p["to_accelerator"]).accelerator_id
    if fa == ta:
        raise InputError("to_accelerator", f"switching from {fa} to itself")
    number("fleet_count", p["fleet_count"], strictly_positive=True, integer=True)
    fraction("fleet_utilisation", p["fleet_utilisation"])
    number("to_count", p["to_count"], integer=True)
    number("migration_usd", p["migration_usd"])
    fraction("resale_fraction", p["resale_fraction"], allow_zero=True)
    number("horizon_months", p["horizon_months"], strictly_positive=True, integer=True)
    ba = data.accelerator(p["burst_accelerator"]).accelerator_id
    number("baseline_accelerators", p["baseline_accelerators"])
    number("peak_accelerators", p["peak_accelerators"], minimum=float(p["baseline_accelerators"]))
    number("peak_days_per_year", p["peak_days_per_year"], integer=True, maximum=365)
    number("campaigns_per_year", p["campaigns_per_year"], strictly_positive=True, integer=True)
    if p["demand_resolution"] not in ("hourly", "daily"):
        raise InputError("demand_resolution", f"must be 'hourly' or 'daily', got {p['demand_resolution']!r}")
    out = dict(p)
    out.update({"precision": prec, "accelerators": accs, "counts": cnts, "region": reg, "from_accelerator": fa,
                "to_accelerator": ta, "burst_accelerator": ba, "params": float(p["params"]),
                "tokens": float(p["tokens"])})
    return out


@dataclass
class RoiStudy:
    """Everything notebook 50 shows, computed from its parameters."""

    parameters: dict[str, Any]
    hardware: pd.DataFrame
    ranked: pd.DataFrame
    switch: SwitchResult
    sweep: pd.DataFrame
    demand: np.ndarray
    mix: MixResult
    assumptions: Assumptions
    source_ids: list[str] = field(default_factory=list)

    # -- tables ---------------------------------------------------------------------------
    def comparison_table(self, job: str = "pre-training") -> pd.DataFrame:
        f = self.hardware[self.hardware["job"] == job]
        return pd.DataFrame({
            "accelerator": f["accelerator"], "count": f["count"].astype(int),
            "wall clock (h)": f["wall_clock_hours"], "facility energy (kWh)": f["facility_energy_kwh"],
            "energy low-high (kWh)": [_range(a, b) for a, b in
                                      zip(f["facility_energy_kwh_low"], f["facility_energy_kwh_high"], strict=True)],
            "emissions (t CO2e)": f["emissions_kg"] / 1000.0, "cloud on-demand (USD)": f["cloud_cost_usd"],
            "owned (USD)": f["owned_cost_usd"], "fits in memory": np.where(f["fits_memory"], "yes", "no"),
        })

    def ranking_table(self) -> pd.DataFrame:
        r = self.ranked
        why = np.where(r["mfu_low_confidence"], "not ranked: low-confidence MFU", "not ranked: does not fit")
        return pd.DataFrame({
            "rank (tokens/kWh)": np.where(r["ranked"], r["rank_tokens_per_kwh"].astype(str), why),
            "accelerator": r["accelerator"], "MFU basis": r["mfu_basis"],
            "count": r["count"].astype(int), "tokens per kWh": r["tokens_per_kwh"],
            "tokens per USD (cloud)": r["tokens_per_usd_cloud"],
            "rank (cloud USD)": np.where(r["ranked"], r["rank_tokens_per_usd_cloud"].astype(str), "-"),
            "tokens per USD (owned)": r["tokens_per_usd_owned"],
            "rank (owned USD)": np.where(r["ranked"], r["rank_tokens_per_usd_owned"].astype(str), "-"),
            "fits in memory": np.where(r["fits_memory"], "yes", "no"),
        })

    def energy_cost_chart(self) -> pd.DataFrame:
        """Per accelerator at the middle count: energy and cloud/owned cost of the pre-training job."""
        f = self.hardware[(self.hardware["job"] == "pre-training") & (self.hardware["count"] == self.chart_count)]
        return f.set_index("accelerator")[["facility_energy_kwh", "cloud_cost_usd", "owned_cost_usd"]]

    @property
    def chart_count(self) -> int:
        c = sorted(self.parameters["counts"])
        return c[len(c) // 2]

    def monthly_table(self) -> pd.DataFrame:
        m = self.switch.monthly
        return pd.DataFrame({
            "mode": m["mode"], "option": m["option"], "fleet": [f"{c} x {a}" for c, a in zip(m["count"], m["accelerator"],
                                                                                           strict=True)],
            "busy hours / month": m["busy_hours"], "energy (kWh / month)": m["energy_kwh"],
            "energy (USD / month)": m["energy_usd"], "operations (USD / month)": m["operations_usd"],
            "rental (USD / month)": m["rental_usd"], "total (USD / month)": m["total_usd"],
            "emissions (t / month)": m["emissions_kg"] / 1000.0,
        })

    def sweep_chart(self) -> pd.DataFrame:
        w = self.sweep
        return pd.DataFrame({"owned": w["owned_savings_usd_per_month"].to_numpy(),
                             "cloud": w["cloud_savings_usd_per_month"].to_numpy()},
                            index=pd.Index(w["utilisation"].to_numpy(), name="utilisation"))

    def sweep_table(self) -> pd.DataFrame:
        w = self.sweep
        return pd.DataFrame({
            "utilisation": [f"{u:.0%}" for u in w["utilisation"]],
            "new fleet busy": [f"{u:.0%}" for u in w["to_utilisation"]],
            "owned savings (USD / month)": w["owned_savings_usd_per_month"],
            "owned break-even month": w["owned_break_even_month"],
            "cloud savings (USD / month)": w["cloud_savings_usd_per_month"],
            "cloud break-even month": w["cloud_break_even_month"],
        })

    def mix_chart(self) -> pd.DataFrame:
        f = self.mix.frame.set_index("owned_count")[["owned_fixed_usd", "owned_energy_usd", "cloud_burst_usd", "total_usd"]]
        return f.rename(columns={"owned_fixed_usd": "owned: capex + operations", "owned_energy_usd": "owned: energy",
                                 "cloud_burst_usd": "cloud burst", "total_usd": "total"})

    def net_chart(self) -> pd.DataFrame:
        """Cumulative net saving of the switch (stay minus switch), per mode: it crosses zero at break-even."""
        c = self.switch.curves().set_index("month")
        cols = list(c.columns)
        return pd.DataFrame({"owned": c[cols[0]] - c[cols[1]], "cloud on-demand": c[cols[2]] - c[cols[3]]})

    def switch_chart(self) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
        """Cumulative cost curves indexed by month, and the column pairs (owned, cloud) for two panels."""
        c = self.switch.curves().set_index("month")
        return c, [tuple(c.columns[:2]), tuple(c.columns[2:])]

    def demand_daily(self) -> pd.DataFrame:
        d = self.demand
        per_day = d.reshape(365, -1).mean(axis=1) if d.size % 365 == 0 else d
        return pd.DataFrame({"day": np.arange(per_day.size), "accelerators needed (daily mean)": per_day,
                             "owned (cheapest mix)": self.mix.best_count}).set_index("day")

    def mix_table(self) -> pd.DataFrame:
        f = self.mix.frame
        pick = sorted({0, self.mix.best_count, int(f["owned_count"].max()),
                       int(round(self.parameters["baseline_accelerators"]))})
        rows = f[f["owned_count"].isin(pick)]
        return pd.DataFrame({
            "owned accelerators": rows["owned_count"], "owned capex + operations (USD)": rows["owned_fixed_usd"],
            "owned energy (USD)": rows["owned_energy_usd"], "cloud burst (USD)": rows["cloud_burst_usd"],
            "total per year (USD)": rows["total_usd"], "owned share of demand": rows["owned_share_of_demand"],
            "owned utilisation": rows["owned_utilisation"], "energy (MWh)": rows["energy_kwh"] / 1000.0,
        })

    # -- prose ----------------------------------------------------------------------------
    def prose_hardware(self) -> str:
        p = self.parameters
        f = self.hardware[(self.hardware["job"] == "pre-training")]
        r = ranking(self.hardware, "pre-training")
        best_kwh = best_ranked(r)
        ok = f[~f["mfu_low_confidence"] & f["fits_memory"]]
        bands = ", ".join(sorted(set(f["mfu_scale_band"])))
        text = (f"Pre-training {p['params'] / 1e9:,.3g}B parameters on {p['tokens'] / 1e9:,.4g}B tokens in "
                f"{p['precision']}, every configuration on one MFU basis (the published-run prior of its accelerator "
                f"generation for this model size, scale band {bands}; a transferred prior where no run is "
                "published): ")
        if best_kwh is None:
            text += ("no compared accelerator has a published large-scale MFU for its generation, so none is "
                     "ranked. ")
        else:
            fastest = ok.loc[ok["wall_clock_hours"].idxmin()]
            text += (f"among the accelerators with a published large-scale MFU, the fewest kWh are used by "
                     f"**{best_kwh['accelerator']}** ({best_kwh['facility_energy_kwh']:,.0f} kWh, "
                     f"{_big(best_kwh['tokens_per_kwh'])} tokens per kWh); the fastest is {int(fastest['count'])} x "
                     f"{fastest['accelerator']} at {fastest['wall_clock_hours']:,.3g} h. ")
        cloud = ok[ok["tokens_per_usd_cloud"].notna()]
        if not cloud.empty:
            bc = cloud.loc[cloud["tokens_per_usd_cloud"].idxmax()]
            text += f"On cloud on-demand prices the cheapest is {bc['accelerator']} ({_usd(bc['cloud_cost_usd'])}). "
        owned = ok[ok["tokens_per_usd_owned"].notna()]
        if not owned.empty:
            bo = owned.loc[owned["tokens_per_usd_owned"].idxmax()]
            text += (f"Owned, with capex over {p['lifetime_years']:g} years at {p['owned_utilisation']:.0%} use and "
                     f"{p['operations_share_per_year']:.0%} a year for operations, the cheapest is {bo['accelerator']} "
                     f"({_usd(bo['owned_cost_usd'])}, {bo['owned_cost_usd'] / bo['cloud_cost_usd']:.0%} of its "
                     "cloud price). ")
        unranked = sorted(set(f.loc[f["mfu_low_confidence"], "accelerator"]))
        if unranked:
            text += (f"Not ranked, shown for reference: {', '.join(unranked)} (no published large-scale run on their "
                     "generation, so their MFU is a transferred prior or a vendor benchmark: low confidence). ")
        no_price = sorted(set(f.loc[f["cloud_cost_usd"].isna(), "accelerator"]))
        if no_price:
            text += f"The data set has no rental or purchase price for {', '.join(no_price)}: their costs show n/a. "
        nofit = f[~f["fits_memory"]]
        if not nofit.empty:
            text += ("Configurations whose fully sharded model state (16 bytes per parameter) exceeds memory: "
                     + ", ".join(f"{int(c)} x {a}" for a, c in zip(nofit["accelerator"], nofit["count"], strict=True))
                     + ". ")
        bft = best_ranked(ranking(self.hardware, "fine-tuning"))
        if bft is not None:
            text += (f"The fine-tuning job ({p['finetune_share']:.0%} of the tokens) takes "
                     f"{bft['facility_energy_kwh']:,.3g} kWh on {int(bft['count'])} x {bft['accelerator']}: "
                     "every figure scales with the tokens, so the ranking is the same. ")
        text += ("The training model has no communication overhead: the count changes the wall-clock time, not the "
                 "energy or the cost.")
        return text

    def prose_switch(self) -> str:
        s = self.switch
        p = self.parameters
        text = (f"The work of **{s.from_count} x {s.from_accelerator}**, busy {s.utilisation:.0%} of the time, moves to "
                f"**{s.to_count} x {s.to_accelerator}** ({s.speed_ratio:.2f} times the training rate each, so the new "
                f"fleet is busy {s.to_utilisation:.0%} of the time). ")
        for mode, be in (("Owned", s.owned), ("Cloud", s.cloud)):
            if be.month is not None:
                verdict = f"switching pays back in **month {be.month}**" if be.month > 0 else \
                    "switching pays back **at once**"
            else:
                verdict = f"switching **never pays back** within {s.horizon_months} months"
            text += (f"{mode}: {verdict} at {s.utilisation:.0%} utilisation: {be.reason}. ")
        sw = self.sweep
        ok = sw[sw["owned_break_even_month"].notna()]
        if ok.empty:
            text += (f"Owned, the switch does not pay back within {s.horizon_months} months at any utilisation from "
                     f"{sw['utilisation'].min():.0%} to {sw['utilisation'].max():.0%}: with the old fleet paid for, "
                     "the energy and operations it saves are small against a new purchase. ")
        else:
            text += (f"Owned, the switch pays back within {s.horizon_months} months from "
                     f"{ok['utilisation'].min():.0%} utilisation on. ")
        okc = sw[sw["cloud_break_even_month"].notna()]
        if not okc.empty:
            text += (f"On the cloud, with a {p['migration_usd']:,.0f} USD migration, it pays back within the horizon "
                     f"from {okc['utilisation'].min():.0%} utilisation on.")
        else:
            text += "On the cloud it does not pay back within the horizon at any utilisation swept."
        return text

    def prose_mix(self) -> str:
        m = self.mix
        b = m.best
        p = self.parameters
        saving = 1 - m.best_total_usd / m.all_cloud_usd if m.all_cloud_usd > 0 else 0.0
        text = (f"A year with {p['baseline_accelerators']:g} accelerators of steady demand and "
                f"{p['peak_days_per_year']} days at {p['peak_accelerators']:g} ({p['campaigns_per_year']} campaigns) on "
                f"{m.accelerator}: the cheapest mix owns **{m.best_count}** ")
        if 0 < m.best_count < int(np.ceil(self.demand.max())):
            text += (f"and rents the rest ({b['owned_share_of_demand']:.0%} of the accelerator-hours on owned "
                     f"hardware, which is busy {b['owned_utilisation']:.0%} of the time), ")
        elif m.best_count > 0:
            text += f"(enough for the peak; the owned hardware is busy {b['owned_utilisation']:.0%} of the time), "
        else:
            text += "(everything rented), "
        text += f"for {_usd(m.best_total_usd)} a year: "
        text += f"{saving:.0%} less than all-cloud ({_usd(m.all_cloud_usd)})"
        if m.best_total_usd < m.all_owned_usd:
            text += (f" and {1 - m.best_total_usd / m.all_owned_usd:.0%} less than owning for the peak "
                     f"({_usd(m.all_owned_usd)}). ")
        else:
            text += ". "
        if m.best_count == 0:
            text += "Owning does not pay at these prices: every accelerator-hour is cheaper rented."
        elif m.best_count >= self.mix.frame["owned_count"].max():
            text += "Owning for the whole peak is cheapest: cloud burst never pays at these prices."
        else:
            above = float((self.demand > m.best_count).sum() * m.period_hours)
            text += (f"One more owned accelerator pays for itself only if it is busy more than "
                     f"{m.owned_break_even_hours:,.0f} h a year ({m.owned_break_even_hours / HOURS_PER_YEAR:.0%} of the "
                     f"year: capex, operations and standing power against the cloud price); demand exceeds "
                     f"{m.best_count} accelerators for only {above:,.0f} h, so the peaks are cheaper rented.")
        return text

    def finding(self) -> str:
        r = best_ranked(self.ranked)
        s = self.switch
        be = s.owned
        own = f"pays back in month {be.month}" if be.month is not None else f"never pays back within {s.horizon_months} months"
        bc = s.cloud
        cl = f"month {bc.month}" if bc.month is not None else "never"
        m = self.mix
        if m.best_count == 0:
            mix = f"the cheapest year rents every {m.accelerator}-hour from the cloud"
        elif m.best_count >= int(np.ceil(self.demand.max())):
            mix = f"the cheapest year owns {m.best_count} {m.accelerator}, enough for the peak"
        else:
            mix = f"the cheapest year owns {m.best_count} {m.accelerator} and bursts the rest to the cloud"
        lead = (f"{r['accelerator']} gives the most tokens per kWh of the parts with a published large-scale MFU"
                if r is not None else "no compared part has a published large-scale MFU, so none is ranked")
        return (f"{lead}; moving {s.from_count} x {s.from_accelerator} to "
                f"{s.to_count} x {s.to_accelerator} at {s.utilisation:.0%} utilisation {own} owned (cloud: {cl}); "
                f"{mix}.")

    def metrics(self) -> dict[str, Any]:
        r = best_ranked(self.ranked)
        s = self.switch
        kf = [{"label": f"tokens per kWh, {r['accelerator']}", "value": round6(r["tokens_per_kwh"]), "unit": "tokens/kWh"}
              ] if r is not None else []
        kf.append({"label": "owned switch savings per month", "value": round6(s.owned.savings_usd_per_month),
                   "unit": "USD"})
        if s.owned.month is not None:
            kf.append({"label": "owned switch break-even", "value": s.owned.month, "unit": "months"})
        elif s.cloud.month is not None:
            kf.append({"label": "cloud switch break-even", "value": s.cloud.month, "unit": "months"})
        kf.append({"label": "owned accelerators in the cheapest mix", "value": self.mix.best_count, "unit": "accelerators"})
        return {
            "title": "Hardware benchmarking and ROI",
            "finding": self.finding(),
            "key_figures": kf[:4],
            "best_tokens_per_kwh_accelerator": r["accelerator"] if r is not None else None,
            "best_tokens_per_kwh": round6(r["tokens_per_kwh"]) if r is not None else None,
            "mfu_basis": sorted(set(self.hardware["mfu_basis"])),
            "low_confidence_accelerators": sorted(set(self.hardware.loc[self.hardware["mfu_low_confidence"],
                                                                        "accelerator"])),
            "to_count": s.to_count,
            "speed_ratio": round6(s.speed_ratio),
            "owned_break_even_month": s.owned.month,
            "owned_savings_usd_per_month": round6(s.owned.savings_usd_per_month),
            "owned_switch_cost_usd": round6(s.owned.switch_cost_usd),
            "cloud_break_even_month": s.cloud.month,
            "cloud_savings_usd_per_month": round6(s.cloud.savings_usd_per_month),
            "mix_best_owned_count": self.mix.best_count,
            "mix_best_total_usd": round6(self.mix.best_total_usd),
            "mix_all_cloud_usd": round6(self.mix.all_cloud_usd),
            "mix_all_owned_usd": round6(self.mix.all_owned_usd),
        }


def _range(low: float, high: float) -> str:
    """A low-high range for a table cell, with as many digits as the magnitude needs."""
    def one(v: float) -> str:
        return "n/a" if not math.isfinite(v) else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return f"{one(low)}-{one(high)}"


def _usd(x: float) -> str:
    """Money for prose: 1,234 USD, 4.6 million USD."""
    return f"{x / 1e6:,.3g} million USD" if abs(x) >= 1e6 else f"{x:,.0f} USD"


def _big(x: float) -> str:
    return f"{x / 1e9:,.3g} billion" if abs(x) >= 1e9 else f"{x / 1e6:,.3g} million" if abs(x) >= 1e6 else f"{x:,.0f}"


def study(**parameters: Any) -> RoiStudy:
    """Compute everything notebook 50 shows (validated parameters in, frames and text out)."""
    p = validate_parameters(**parameters)
    hw = hardware_frame(params=p["params"], tokens=p["tokens"], accelerators=p["accelerators"], counts=p["counts"],
                        precision=p["precision"], region=p["region"], finetune_share=p["finetune_share"],
                        lifetime_years=p["lifetime_years"], utilisation=p["owned_utilisation"],
                        operations_share_per_year=p["operations_share_per_year"])
    ranked = ranking(hw, "pre-training")
    sw_kw = dict(from_accelerator=p["from_accelerator"], to_accelerator=p["to_accelerator"], from_count=p["fleet_count"],
                 to_count=p["to_count"] or None, precision_from=p["precision"], precision_to=p["precision"],
                 region=p["region"], migration_usd=p["migration_usd"], resale_fraction=p["resale_fraction"],
                 operations_share_per_year=p["operations_share_per_year"], horizon_months=p["horizon_months"])
    sw = switch_roi(utilisation=p["fleet_utilisation"], **sw_kw)
    sweep = switch_sweep(**sw_kw)
    demand = demand_profile(baseline_accelerators=p["baseline_accelerators"], peak_accelerators=p["peak_accelerators"],
                            peak_days_per_year=p["peak_days_per_year"], campaigns_per_year=p["campaigns_per_year"],
                            resolution=p["demand_resolution"])
    mix = burst_mix(demand, accelerator=p["burst_accelerator"], region=p["region"], lifetime_years=p["lifetime_years"],
                    operations_share_per_year=p["operations_share_per_year"])
    est = training.estimate_training(params=p["params"], tokens=p["tokens"], accelerator=p["to_accelerator"],
                                     count=p["counts"][0], precision=p["precision"], region=p["region"],
                                     lifetime_years=p["lifetime_years"], utilisation=p["owned_utilisation"])
    a = est.assumptions.merge(sw.assumptions)
    a.add("finetune_share", p["finetune_share"], "share of pre-training tokens", "user",
          "full fine-tuning (6 N D FLOPs)", True)
    a.add("state_bytes_per_param", STATE_BYTES_PER_PARAM, "bytes", "rajbhandari_zero_2020",
          f"memory-fit check: fully sharded model state must fit in {MEMORY_HEADROOM:.0%} of memory")
    src = list(dict.fromkeys([*est.source_ids, *sw.source_ids, *mix.source_ids, "rajbhandari_zero_2020"]))
    for acc in p["accelerators"]:
        src.append(data.accelerator(acc).source_id)
        src.append(data.efficiency(acc, p["precision"], "train")[3])
        for pr in (costs.cloud_price(acc), costs.purchase_price(acc)):
            if pr:
                src.append(pr.source_id)
    return RoiStudy(p, hw, ranked, sw, sweep, demand, mix, a, list(dict.fromkeys(src)))


def report_metrics(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's metrics straight from the library (for ``reports.toml`` ``metrics_function``)."""
    p = dict(NOTEBOOK_DEFAULTS)
    p.update(parameters)
    return study(**p).metrics()
