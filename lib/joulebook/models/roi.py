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

Cloud prices are compared like for like (:func:`joulebook.models.costs.cloud_price_pair`): the same
provider, basis (full VM or GPU only), purchase option and a similar date; where the data has no such
pair the cloud side says so instead of comparing.

Busy power comes from the fitted power model (:func:`joulebook.models.hardware.training_power_w` at the
training MFU), the same function the training model uses.

Model modules do no I/O and no plotting: this one returns DataFrames and dataclasses (the report's
tables, prose and metrics live in :mod:`joulebook.stories.hardware_roi`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError
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


def provider_price(accelerator: str, provider: str | None, purchase_option: str, basis: str) -> costs.Price | None:
    """The rental price of ``accelerator`` from ``provider`` (None when that provider does not list it)."""
    try:
        return costs.cloud_price(accelerator, provider, purchase_option, basis)
    except InputError as e:
        if e.parameter == "provider" and provider:
            return None
        raise


def owned_usd_per_hour(purchase_usd, lifetime_years, utilisation, operations_share_per_year):
    """Capex and operations per busy accelerator-hour (vectorized):
    purchase x (1 / lifetime + operations share) / (8760 x utilisation)."""
    return np.asarray(purchase_usd, float) * (1.0 / np.asarray(lifetime_years, float)
                                              + np.asarray(operations_share_per_year, float)) \
        / (HOURS_PER_YEAR * np.asarray(utilisation, float))


# --------------------------------------------------------------------------- same job, many configurations

def accelerator_list(accelerators) -> list[str]:
    if isinstance(accelerators, str):
        accelerators = [a for a in accelerators.split(",") if a.strip()]
    ids = list(dict.fromkeys(data.accelerator(a).accelerator_id for a in accelerators))
    if not ids:
        raise InputError("accelerators", "give at least one accelerator")
    return ids


def count_list(counts) -> list[int]:
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
                   price_usd_per_kwh: float | None = None, cloud_provider: str | None = None,
                   purchase_option: str = "on-demand", basis: str = "full VM") -> pd.DataFrame:
    """The same pre-training and fine-tuning job on every accelerator x count (one vectorized call).

    Columns: job, accelerator, count, the training outputs (central, ``_low``, ``_high``),
    ``owned_cost_usd*`` (capex and operations amortised + energy at the tariff),
    ``tokens_per_kwh``, ``tokens_per_usd_cloud``, ``tokens_per_usd_owned``,
    ``state_gb_per_accelerator`` (16 bytes per parameter, fully sharded) and
    ``fits_memory``. Prices the data set lacks give NaN (shown as missing), never a guess.

    Cloud cost: accelerator-hours x the rental price of ``purchase_option`` on ``basis``
    (full VM or GPU only, never mixed), from ``cloud_provider``'s latest row for every
    accelerator (like for like: one provider's list) or, without one, the median of the
    hyperscalers' latest rows. ``cloud_price_provider``, ``cloud_price_basis`` and
    ``cloud_price_date`` say which row priced each accelerator.
    """
    number("params", params, strictly_positive=True)
    number("tokens", tokens, strictly_positive=True)
    fraction("finetune_share", finetune_share)
    accs = accelerator_list(accelerators)
    cnts = count_list(counts)
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
    cloud = {a: provider_price(a, cloud_provider, purchase_option, basis) for a in accs}
    nan3 = (np.nan, np.nan, np.nan)
    b = np.array([buy[a].as_tuple() if buy[a] else nan3 for a in out["accelerator"]])
    out["purchase_usd_per_accelerator"] = b[:, 1]
    rent = np.array([cloud[a].central if cloud[a] else np.nan for a in out["accelerator"]], dtype=float)
    out["cloud_price_usd_per_gpu_hour"] = rent
    out["cloud_price_provider"] = [cloud[a].provider if cloud[a] else "" for a in out["accelerator"]]
    out["cloud_price_basis"] = [f"{cloud[a].basis}, {cloud[a].purchase_option}" if cloud[a] else ""
                                for a in out["accelerator"]]
    out["cloud_price_date"] = [cloud[a].price_date if cloud[a] else "" for a in out["accelerator"]]
    out["cloud_price_year"] = [cloud[a].year if cloud[a] else np.nan for a in out["accelerator"]]
    for s in ("_low", "", "_high"):
        out[f"cloud_cost_usd{s}"] = out[f"accelerator_hours{s}"] * rent
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
            return BreakEven(0, 0.0, f"nothing to recover: the switch costs {fmt.money(sw)} up front and the monthly "
                                     "cost does not rise", sw, savings, horizon_months)
        lead = (f"; the {fmt.money(-sw)} it returns up front is used up after {fmt.number(-sw / -savings)} months"
                if sw < 0 else "")
        return BreakEven(None, None, f"never: switching costs {fmt.money(-savings)} more every month ({fmt.money(after)} "
                                     f"per month after vs {fmt.number(before)} before), so it never pays back{lead}",
                         sw, savings, horizon_months)
    if savings <= 0:
        return BreakEven(None, None, f"switching does not lower the monthly cost ({fmt.money(after)} per month after vs "
                                     f"{fmt.number(before)} before), so the {fmt.money(sw)} switch cost is never recovered",
                         sw, savings, horizon_months)
    exact = sw / savings
    if not math.isfinite(exact) or exact > 1e12:
        return BreakEven(None, None, f"the saving of {fmt.money(savings)} per month is too small to recover "
                                     f"{fmt.money(sw)}", sw, savings, horizon_months)
    month = int(float(break_even_months(sw, before, after)))
    if horizon_months is not None and month > horizon_months:
        return BreakEven(None, exact, f"it would pay back only in month {month}, after the {horizon_months:g}-month "
                                      f"horizon ({fmt.money(savings)} saved per month against {fmt.money(sw)} up front)",
                         sw, savings, horizon_months)
    return BreakEven(month, exact, f"{fmt.money(savings)} saved per month recovers {fmt.money(sw)} in {fmt.number(exact)} months",
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
    cloud: costs.Price | None = None


def busy_power_w(accelerator, mfu: float) -> tuple[float, str, str]:
    """(W, source_id, note): one accelerator's draw in sustained training at ``mfu``, from the fitted power model.

    :func:`joulebook.models.hardware.training_power_w` with the accelerator's own (fitted or
    transferred) coefficients: the same function the training model uses.
    """
    acc = data.accelerator(accelerator)
    idle, _, _ = hardware.idle_power_w(acc)
    coef = hardware.power_coefficients(acc)
    w = float(hardware.training_power_w(idle, acc.tdp_w, float(mfu), coef))
    row = hardware.power_model_row("compute_power_fraction", acc.accelerator_id)
    return w, row[3], f"power model at MFU {float(mfu):.3g} (hardware.training_power_w; {row[4]})"


def _hw(acc_name: str, precision: str, mfu: float | None, cloud: costs.Price | None) -> _Hw:
    acc = data.accelerator(acc_name)
    p = data.normalise_precision(precision)
    peak = acc.peak(p)
    lo, mid, hi, src = data.efficiency(acc.accelerator_id, p, "train")
    m = number("mfu", mfu, strictly_positive=True, maximum=1.0) if mfu is not None else mid
    idle, _, _ = hardware.idle_power_w(acc)
    busy, _, _ = busy_power_w(acc, m)
    bp = costs.purchase_price(acc)
    return _Hw(acc.accelerator_id, peak * m, busy, idle, hardware.node_power_w(acc), bp.central if bp else np.nan,
               cloud.central if cloud else np.nan, m, src if mfu is None else "user", cloud)


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
    #: the like-for-like rental prices of the old and the new accelerator (None: the data has no such pair)
    from_cloud: costs.Price | None = None
    to_cloud: costs.Price | None = None

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
                "cloud_prices": None if self.from_cloud is None or self.to_cloud is None else
                {"from": asdict(self.from_cloud), "to": asdict(self.to_cloud)},
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
                  mfu_from, mfu_to, price_usd_per_kwh, operations_share_per_year, purchase_option,
                  cloud_provider=None, basis="full VM"):
    number("from_count", from_count, strictly_positive=True, integer=True)
    pair = costs.cloud_price_pair(from_accelerator, to_accelerator, provider=costs.check_provider(cloud_provider),
                                  purchase_option=purchase_option, basis=basis)
    h_from = _hw(from_accelerator, precision_from, mfu_from, pair[0] if pair else None)
    h_to = _hw(to_accelerator, precision_to, mfu_to, pair[1] if pair else None)
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
               purchase_option: str = "on-demand", cloud_provider: str | None = None,
               basis: str = "full VM") -> SwitchResult:
    """ROI of moving a fleet's work from ``from_accelerator`` to ``to_accelerator`` (owned and cloud).

    ``to_count`` None (or 0): the smallest fleet with the old fleet's capacity,
    ceil(from_count x old rate / new rate). ``horizon_months`` None: the new hardware's
    life (``hardware_lifetime_years`` x 12). ``resale_fraction``: share of the old
    fleet's current purchase price recovered by selling it (owned only).

    Cloud: both fleets are priced like for like (:func:`joulebook.models.costs.cloud_price_pair`:
    one provider, ``basis``, ``purchase_option``, dates at most a year apart; ``cloud_provider``
    picks the provider). Without such a pair the cloud break-even says so and compares nothing.
    """
    u = fraction("utilisation", utilisation)
    number("migration_usd", migration_usd)
    resale = fraction("resale_fraction", resale_fraction, allow_zero=True)
    h_from, h_to, ratio, to_count, reg, tariff, tariff_src, pue, intensity, ops = _switch_setup(
        from_accelerator, to_accelerator, from_count, to_count, precision_from, precision_to, region, mfu_from, mfu_to,
        price_usd_per_kwh, operations_share_per_year, purchase_option, cloud_provider, basis)
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
    cloud = _be_or_missing(float(migration_usd), t[("cloud", "stay")], t[("cloud", "switch")], horizon,
                           f"like-for-like {basis} {purchase_option} cloud price pair (same provider, dates at most a "
                           "year apart)" if h_from.cloud is None else "cloud price")
    a = Assumptions()
    src = []
    for hw, role in ((h_from, "from"), (h_to, "to")):
        acc = data.accelerator(hw.accelerator_id)
        a.add(f"{role}_rate_tflops", round(hw.rate_tflops, 3), "TFLOP/s achieved (peak x MFU)", hw.mfu_source,
              f"{hw.accelerator_id}: MFU {hw.mfu:.4g}")
        _, bsrc, bnote = busy_power_w(acc, hw.mfu)
        a.add(f"{role}_busy_power_w", round(hw.busy_w, 1), "W", bsrc, bnote)
        a.add(f"{role}_idle_power_w", round(hw.idle_w, 1), "W", hardware.idle_power_w(acc)[1], hardware.idle_power_w(acc)[2])
        a.add(f"{role}_node_power_w", round(hw.node_w, 1), "W per accelerator", "joulebook_assumptions",
              "node_overhead_fraction_of_tdp x TDP")
        bp, cp = costs.purchase_price(acc), hw.cloud
        a.add(f"{role}_purchase_usd", hw.purchase_usd, "USD per accelerator", bp.source_id if bp else "",
              bp.detail if bp else "no purchase price in the data set")
        a.add(f"{role}_cloud_usd_per_hour", hw.cloud_usd_per_hour, "USD per accelerator-hour", cp.source_id if cp else "",
              cp.detail if cp else "no like-for-like rental price pair in the data set")
        src += [acc.source_id, hw.mfu_source, bsrc] + ([bp.source_id] if bp else []) + ([cp.source_id] if cp else [])
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
    src += ["joulebook_assumptions", "joulebook_precision_roi_assumptions"]
    return SwitchResult(h_from.accelerator_id, h_to.accelerator_id, int(from_count), to_count, u, float(to_util),
                        float(ratio), monthly, owned, cloud, horizon, a, [s for s in dict.fromkeys(src) if s],
                        h_from.cloud, h_to.cloud)


def _be_or_missing(switch, before, after, horizon, what) -> BreakEven:
    if not (np.isfinite(switch) and np.isfinite(before) and np.isfinite(after)):
        whom = "for these two accelerators" if what.startswith("like-for-like") else "for one of the accelerators"
        return BreakEven(None, None, f"the data set has no {what} {whom}", float(switch),
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
        kw.get("purchase_option", "on-demand"), kw.get("cloud_provider"), kw.get("basis", "full VM"))
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
              purchase_option: str = "on-demand", cloud_provider: str | None = None, basis: str = "full VM",
              precision: str = "bf16") -> MixResult:
    """The cheapest mix of owned accelerators and cloud burst for a year of ``demand``.

    ``demand``: accelerators needed per period; 8760 values are hours, 365 are days
    (otherwise give ``period_hours``). ``counts``: owned counts to evaluate (default
    0..ceil(max demand)). Owned: straight-line capex over ``lifetime_years`` plus the
    operations share, energy for busy, idle and node power at the region's PUE and
    tariff; burst: on-demand price per accelerator-hour (which includes its energy), on ``basis``
    from ``cloud_provider`` (default: the hyperscalers' median). Busy power: the fitted power
    model at the accelerator's training MFU in ``precision``.
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
    cp = costs.cloud_price(acc, costs.check_provider(cloud_provider), purchase_option, basis)
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
    mfu = data.efficiency(acc.accelerator_id, data.normalise_precision(precision), "train")[1]
    busy, busy_src, busy_note = busy_power_w(acc, mfu)
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
    a.add("busy_power_w", round(busy, 1), "W", busy_src, busy_note)
    a.add("idle_power_w", round(idle, 1), "W", idle_src, idle_note)
    a.add("node_power_w", round(node, 1), "W per accelerator", "joulebook_assumptions", "node_overhead_fraction_of_tdp x TDP")
    a.add("pue", pue, "ratio", "joulebook_operator_defaults", "owned site and cloud burst alike")
    a.add("price_usd_per_kwh", tariff, "USD/kWh", tariff_src, reg.price_note if reg and tariff_src != "user" else "given",
          tariff_src == "user")
    a.add("period_hours", ph, "h", "", "length of one demand period")
    src = [acc.source_id, idle_src, busy_src, "joulebook_assumptions", "joulebook_precision_roi_assumptions"]
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
