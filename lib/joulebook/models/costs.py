"""Money: cloud rental, purchase (capex) and carbon prices, from the shipped price tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError

#: what a cloud price covers (``basis`` column of cloud_gpu_prices.csv); prices are compared only within one basis
BASES = ("full VM", "GPU only")

# accelerator id -> how the price tables name it: (cloud gpu_model prefix, gpu_mem_gb, purchase gpu_model)
PRICE_NAMES = {
    "a100-sxm4-40gb": ("A100 SXM4", 40, "A100 SXM4 40GB"),
    "a100-sxm4-80gb": ("A100 SXM4", 80, "A100 SXM4 80GB"),
    "a100-pcie-40gb": (None, None, "A100 40GB"),
    "a100-pcie-80gb": ("A100 80GB (PCIe", 80, "A100 PCIe 80GB"),
    "h100-sxm": ("H100 SXM5", 80, "H100 SXM5 80GB"),
    "h100-pcie": (None, None, "H100 PCIe 80GB"),
    "h200-sxm": ("H200 SXM", 141, "H200 SXM 141GB"),
}


@dataclass(frozen=True)
class Price:
    """A price with its range over the matching rows and the row it came from."""

    low: float
    central: float
    high: float
    unit: str
    source_id: str
    detail: str
    year: int
    #: for a cloud price: provider, basis (full VM / GPU only), purchase option and price date of the central row
    provider: str = ""
    basis: str = ""
    purchase_option: str = ""
    price_date: str = ""

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.low, self.central, self.high)


def _check_basis(basis: str) -> str:
    if basis not in BASES:
        raise InputError("basis", f"unknown price basis {basis!r} (one of {', '.join(BASES)})")
    return basis


@data.cached
def cloud_price(accelerator, provider: str | None = None, purchase_option: str = "on-demand",
                basis: str = "full VM") -> Price | None:
    """USD per accelerator-hour to rent ``accelerator``, on one price ``basis`` (full VM or GPU only).

    Central: the latest row of ``provider`` (or, without one, the median of each
    hyperscaler's latest row); low/high: the cheapest and dearest latest rows of
    any provider for the same option and basis. ``None`` when the data has no such row.
    Rows of another basis are never mixed in: a GPU-only SKU (host VM billed separately)
    is not comparable with a full-VM price.
    """
    acc = data.accelerator(accelerator)
    _check_basis(basis)
    model, mem, _ = PRICE_NAMES.get(acc.accelerator_id, (None, None, None))
    if model is None:
        return None
    df = data.table("cloud_gpu_prices")
    df = df[df["gpu_model"].str.startswith(model) & (df["purchase_option"] == purchase_option)
            & (df["basis"] == basis)]
    if mem is not None:
        df = df[pd.to_numeric(df["gpu_mem_gb"], errors="coerce") == mem]
    if df.empty:
        return None
    latest = df.sort_values("price_date").groupby("provider").tail(1)
    hyperscalers = latest[latest["provider"].isin(["aws", "gcp", "azure"])]
    if provider:
        pick = latest[latest["provider"] == provider.lower()]
        if pick.empty:
            raise InputError("provider", f"no {purchase_option} {basis} price for {acc.accelerator_id} from "
                                         f"{provider!r} (have: {', '.join(sorted(latest['provider']))})")
        row = pick.iloc[0]
        central = float(row["usd_per_gpu_hour"])
    else:
        base = hyperscalers if not hyperscalers.empty else latest
        central = float(base["usd_per_gpu_hour"].median())
        row = base.iloc[(base["usd_per_gpu_hour"] - central).abs().argsort().iloc[0]]
    region = row["region"] if isinstance(row["region"], str) else ""
    detail = f"{row['provider']} {row['instance']} {region} {row['purchase_option']}, {basis} ({row['price_date']})"
    detail = detail.replace("  ", " ")
    if not provider:
        detail = (f"median of the latest {purchase_option} {basis} rows of {', '.join(sorted(base['provider']))}; "
                  "nearest row: " + detail)
    return Price(float(latest["usd_per_gpu_hour"].min()), central, float(latest["usd_per_gpu_hour"].max()),
                 "USD per accelerator-hour", row["source_id"], detail, int(row["year"]), str(row["provider"]), basis,
                 purchase_option, str(row["price_date"]))


def cloud_providers() -> list[str]:
    """Every provider with a row in cloud_gpu_prices.csv."""
    return sorted(set(data.table("cloud_gpu_prices")["provider"]))


def check_provider(provider: str | None, parameter: str = "cloud_provider") -> str | None:
    """``provider`` lower-cased, or None; an unknown provider raises :class:`UnknownNameError` naming ``parameter``."""
    if provider is None or provider == "":
        return None
    p = str(provider).strip().lower()
    known = cloud_providers()
    if p not in known:
        raise UnknownNameError(p, known, parameter=parameter)
    return p


def cloud_price_pair(accelerator_a, accelerator_b, *, provider: str | None = None, purchase_option: str = "on-demand",
                     basis: str = "full VM", max_years_apart: int = 1) -> tuple[Price, Price] | None:
    """Like-for-like rental prices of two accelerators, or None when the data has no such pair.

    Like for like: the same provider, the same basis (full VM or GPU only), the same purchase
    option, and price dates at most ``max_years_apart`` calendar years apart. Among the
    providers that list both (only ``provider`` when given), the pair with the closest, then
    the latest, dates wins; each price is that provider's latest row for the accelerator.
    """
    _check_basis(basis)
    n = int(max_years_apart)
    pairs = []
    providers = [provider.lower()] if provider else sorted(set(data.table("cloud_gpu_prices")["provider"]))
    for prov in providers:
        try:
            a = cloud_price(accelerator_a, prov, purchase_option, basis)
            b = cloud_price(accelerator_b, prov, purchase_option, basis)
        except InputError:
            continue
        if a is None or b is None or abs(a.year - b.year) > n:
            continue
        pairs.append((abs(a.year - b.year), -min(a.year, b.year), prov not in ("aws", "gcp", "azure"), prov, a, b))
    if not pairs:
        return None
    best = min(pairs, key=lambda t: t[:4])
    return best[4], best[5]


@data.cached
def purchase_price(accelerator) -> Price | None:
    """USD per accelerator when bought (in an 8-GPU system where that is how it is sold).

    Central: the latest row; low/high: cheapest and dearest rows of the last three years.
    """
    acc = data.accelerator(accelerator)
    _, _, model = PRICE_NAMES.get(acc.accelerator_id, (None, None, None))
    if model is None:
        return None
    df = data.table("hardware_purchase_prices")
    df = df[df["gpu_model"] == model].sort_values("price_date")
    if df.empty:
        return None
    row = df.iloc[-1]
    recent = df[df["year"] >= int(row["year"]) - 2]
    return Price(float(recent["usd_per_gpu"].min()), float(row["usd_per_gpu"]), float(recent["usd_per_gpu"].max()),
                 "USD per accelerator", row["source_id"], f"{row['system']} ({row['price_kind']}, {row['price_date']})",
                 int(row["year"]))


@data.cached
def carbon_price(scheme: str) -> Price:
    """Carbon price of a scheme in USD per tonne CO2e (latest annual average, else latest row).

    Non-USD prices are converted with ``fx_rates.csv`` (flagged secondary).
    """
    df = data.table("carbon_prices")
    rows = df[df["scheme"] == scheme]
    if rows.empty:
        raise UnknownNameError(scheme, df["scheme"].unique(), parameter="carbon_price_scheme")
    annual = rows[rows["price_type"].str.contains("annual average") & ~rows["price_type"].str.contains("approximate")]
    pick = annual if not annual.empty else rows
    pick = pick.assign(_p=pick["period"].astype(str)).sort_values("_p")
    row = pick.iloc[-1]
    cur = str(row["currency"]).split(" ")[0]
    rate, fx_src = data.fx_usd_per_unit(cur)
    vals = rows["price"].astype(float) * rate
    note = f"{scheme} {row['period']} {row['price_type']}: {row['price']:g} {row['currency']}/t"
    if cur != "USD":
        note += f" x {rate:g} USD/{cur} ({fx_src}, unverified rate)"
    return Price(float(vals.min()), float(row["price"]) * rate, float(vals.max()), "USD per t CO2e", row["source_id"],
                 note, int(row["year"]))


def amortised_usd_per_hour(purchase_usd: float, lifetime_years: float, utilisation: float) -> float:
    """Capex per accelerator-hour of use: price / (lifetime x 8760 h x utilisation)."""
    return purchase_usd / (lifetime_years * 8760.0 * utilisation)
