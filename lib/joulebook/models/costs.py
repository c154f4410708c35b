"""Money: cloud rental, purchase (capex) and carbon prices, from the shipped price tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError

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

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.low, self.central, self.high)


@data.cached
def cloud_price(accelerator, provider: str | None = None, purchase_option: str = "on-demand") -> Price | None:
    """USD per accelerator-hour to rent ``accelerator``.

    Central: the latest row of ``provider`` (or, without one, the median of each
    hyperscaler's latest row); low/high: the cheapest and dearest latest rows of
    any provider for the same option. ``None`` when the data has no such row.
    """
    acc = data.accelerator(accelerator)
    model, mem, _ = PRICE_NAMES.get(acc.accelerator_id, (None, None, None))
    if model is None:
        return None
    df = data.table("cloud_gpu_prices")
    df = df[df["gpu_model"].str.startswith(model) & (df["purchase_option"] == purchase_option)]
    if mem is not None:
        df = df[pd.to_numeric(df["gpu_mem_gb"], errors="coerce") == mem]
    if df.empty:
        return None
    latest = df.sort_values("price_date").groupby("provider").tail(1)
    hyperscalers = latest[latest["provider"].isin(["aws", "gcp", "azure"])]
    if provider:
        pick = latest[latest["provider"] == provider.lower()]
        if pick.empty:
            raise InputError("provider", f"no {purchase_option} price for {acc.accelerator_id} from {provider!r} "
                                         f"(have: {', '.join(sorted(latest['provider']))})")
        row = pick.iloc[0]
        central = float(row["usd_per_gpu_hour"])
    else:
        base = hyperscalers if not hyperscalers.empty else latest
        central = float(base["usd_per_gpu_hour"].median())
        row = base.iloc[(base["usd_per_gpu_hour"] - central).abs().argsort().iloc[0]]
    detail = f"{row['provider']} {row['instance']} {row['region'] if isinstance(row['region'], str) else ''} {row['purchase_option']} ({row['price_date']})".replace("  ", " ")
    if not provider:
        detail = f"median of the latest {purchase_option} rows of {', '.join(sorted(base['provider']))}; nearest row: " + detail
    return Price(float(latest["usd_per_gpu_hour"].min()), central, float(latest["usd_per_gpu_hour"].max()),
                 "USD per accelerator-hour", row["source_id"], detail, int(row["year"]))


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
        from joulebook.core.errors import UnknownNameError

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
