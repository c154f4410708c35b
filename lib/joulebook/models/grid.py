"""Grid carbon intensity and electricity price by hour, for a region and a time window.

Hourly intensity = the region's annual intensity x the hourly shape of its grid
zone (``ratio_to_annual_mean`` in ``hourly_intensity_profiles.csv``, seasonal
where the data has seasons: DJF, MAM, JJAS; the annual shape otherwise). The
profile hours are local *standard* time (no daylight saving), as in the data.

Time-of-use prices follow the tariff's periods in local civil time; hours whose
period has no published energy rate use the region's average price (and the
result says so).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.core.validate import number

SEASON_OF_MONTH = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJAS", 7: "JJAS", 8: "JJAS",
                   9: "JJAS", 10: "annual", 11: "annual"}


@lru_cache(maxsize=64)
def _profiles(zone: str) -> tuple[dict[str, np.ndarray], float]:
    df = data.table("hourly_intensity_profiles")
    z = df[df["zone_id"] == zone]
    if z.empty:
        raise InputError("hourly_zone", f"no hourly profile for zone {zone!r}")
    out = {}
    for season, g in z.groupby("season"):
        g = g.sort_values("hour_local")
        out[season] = g["ratio_to_annual_mean"].astype(float).to_numpy()
    return out, float(z["utc_offset_h"].iloc[0])


def _ratio_table(zone: str) -> tuple[np.ndarray, float]:
    """(13 x 24) ratios indexed by month (1..12; row 0 unused) and local standard hour; UTC offset."""
    prof, offset = _profiles(zone)
    tab = np.ones((13, 24))
    for m in range(1, 13):
        s = SEASON_OF_MONTH[m]
        tab[m] = prof.get(s, prof["annual"])
    return tab, offset


def hourly_intensity(region, month: int | None = None) -> np.ndarray | None:
    """24 hourly intensities (g/kWh) by local standard hour, or None without a profile."""
    r = data.region(region)
    if r.hourly_zone is None:
        return None
    if month is not None:
        number("month", month, minimum=1, maximum=12, integer=True)
    prof, _ = _profiles(r.hourly_zone)
    shape = prof.get(SEASON_OF_MONTH[int(month)], prof["annual"]) if month else prof["annual"]
    return r.intensity_g_per_kwh * shape


MAX_WINDOW_H = 20 * 8784.0  # the longest hour-by-hour window (20 leap years)
YEARS = (1990, 2100)  # date-times outside these years are refused: no data or profile covers them


def aware_datetime(value, tz: str | tzinfo, parameter: str = "start") -> datetime:
    """Parse ``value`` (datetime or ISO string) to an aware datetime; a naive value is civil time in ``tz``.

    A naive civil time that the clocks skip (inside a daylight-saving gap, e.g. 02:30 on
    2026-03-08 in America/New_York) is refused; one they show twice (the hour repeated when
    daylight saving ends) is the first of the two (``fold=0``). Years outside :data:`YEARS`
    are refused. Errors name ``parameter``.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(parameter, f"not an ISO date-time: {value!r} (e.g. 2026-07-01T02:00)") from None
    if not isinstance(value, datetime):
        raise InputError(parameter, f"expected a date-time, got {type(value).__name__}")
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise InputError(parameter, f"year {value.year} is outside {YEARS[0]}-{YEARS[1]} (the years the data and "
                                    "profiles can speak for)")
    if value.tzinfo is None:
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        local = value.replace(tzinfo=zone)
        back = local.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) != value:
            raise InputError(parameter, f"{value.isoformat(timespec='minutes')} does not exist in {zone}: the clocks "
                                        f"skip it (daylight saving starts; it would silently become "
                                        f"{back.strftime('%H:%M')}); give a time outside the gap or a UTC offset")
        value = local
    return value


def to_utc(start, tz: str) -> datetime:
    """Parse ``start`` (datetime or ISO string); a naive value is local civil time in ``tz``."""
    return aware_datetime(start, tz).astimezone(UTC)


def _hour_grid(start_utc: datetime, duration_h: float, step_h: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour starts (as numpy datetime64) and weights (hours) covering the window."""
    n = int(np.ceil(duration_h / step_h))
    n = max(n, 1)
    starts = np.datetime64(start_utc.replace(tzinfo=None), "s") + (np.arange(n) * step_h * 3600).astype("timedelta64[s]")
    w = np.full(n, step_h)
    w[-1] = duration_h - step_h * (n - 1)
    return starts, w


def intensity_series(region, start, duration_h: float) -> pd.DataFrame:
    """Hour-by-hour intensity over a window (columns utc, weight_h, intensity_g_per_kwh)."""
    r = data.region(region)
    duration_h = number("duration_h", duration_h, strictly_positive=True)
    if duration_h > MAX_WINDOW_H:
        raise InputError("start", f"an hour-by-hour window of {duration_h:,.0f} h is longer than the "
                                  f"{MAX_WINDOW_H:,.0f} h ({MAX_WINDOW_H / 8766:.0f} years) an annual profile can "
                                  "speak for; leave out the start time to use the annual intensity")
    start_utc = to_utc(start, r.timezone)
    starts, w = _hour_grid(start_utc, duration_h)
    if r.hourly_zone is None:
        vals = np.full(len(starts), r.intensity_g_per_kwh)
    else:
        tab, offset = _ratio_table(r.hourly_zone)
        local = starts + np.timedelta64(int(round(offset * 3600)), "s")
        hours = (local.astype("datetime64[h]").astype(np.int64) % 24).astype(int)
        months = local.astype("datetime64[M]").astype(np.int64) % 12 + 1
        vals = r.intensity_g_per_kwh * tab[months, hours]
    return pd.DataFrame({"utc": starts, "weight_h": w, "intensity_g_per_kwh": vals})


def mean_intensity(region, start=None, duration_h: float | None = None) -> float:
    """Energy-weighted mean intensity (g/kWh) over a window; the annual value without ``start``."""
    r = data.region(region)
    if start is None or r.hourly_zone is None:
        return r.intensity_g_per_kwh
    s = intensity_series(r, start, duration_h if duration_h else 1.0)
    return float(np.average(s["intensity_g_per_kwh"], weights=s["weight_h"]))


# --------------------------------------------------------------------------- time-of-use prices

def _months(spec: str) -> set[int]:
    a, b = (int(x) for x in spec.split("-"))
    return set(range(a, b + 1)) if a <= b else set(range(a, 13)) | set(range(1, b + 1))


def _in_period(hour: float, start: str, end: str) -> bool:
    s = int(start.split(":")[0]) + int(start.split(":")[1]) / 60
    e = int(end.split(":")[0]) + int(end.split(":")[1]) / 60
    return (s <= hour < e) if s < e else (hour >= s or hour < e)


def tou_price_table(region) -> pd.DataFrame | None:
    """Price (USD/kWh) by month and local civil hour from the region's TOU tariff, or None.

    Columns: month, hour_local, price_usd_per_kwh, period, rate_known.
    """
    table = _tou_price_table(data.region(region).region_id)
    return None if table is None else table.copy()


@data.cached
def _tou_price_table(region_id: str) -> pd.DataFrame | None:
    r = data.region(region_id)
    if not r.tou_schedule or r.price_usd_per_kwh is None:
        return None
    utility, schedule = r.tou_schedule.split(" ", 1)
    t = data.table("tou_tariffs")
    t = t[(t["utility"] == utility) & (t["schedule"] == schedule) & (t["period"] != "max-demand")]
    periods = [(_months(row["months"]), row["start_local"], row["end_local"], row) for _, row in t.iterrows()]
    rows = []
    for m in range(1, 13):
        for h in range(24):
            hit = [row for months, start, end, row in periods if m in months and _in_period(h + 0.5, start, end)]
            rate = next((float(x["energy_usd_per_kwh"]) for x in hit if pd.notna(x["energy_usd_per_kwh"])), None)
            rows.append({"month": m, "hour_local": h, "period": hit[0]["period"] if hit else "",
                         "price_usd_per_kwh": rate if rate is not None else r.price_usd_per_kwh,
                         "rate_known": rate is not None})
    return pd.DataFrame(rows)


def by_start_hour(region, duration_h: float, energy_kwh: float, month: int = 7, year: int = 2026) -> pd.DataFrame:
    """Emissions and electricity cost of a job for each local start hour on the 15th of ``month``.

    The job draws ``energy_kwh`` evenly over ``duration_h``. Columns: start_hour_local, start_utc,
    timezone, intensity_g_per_kwh, emissions_kg, price_usd_per_kwh, cost_usd, price_basis.
    """
    r = data.region(region)
    duration_h = number("duration_h", duration_h, strictly_positive=True)
    energy_kwh = number("energy_kwh", energy_kwh)
    month = int(number("month", month, minimum=1, maximum=12, integer=True))
    tou = tou_price_table(r)
    tz = ZoneInfo(r.timezone)
    rows = []
    for h in range(24):
        start_local = datetime(year, month, 15, h, tzinfo=tz)
        s = intensity_series(r, start_local, duration_h)
        ci = float(np.average(s["intensity_g_per_kwh"], weights=s["weight_h"]))
        if tou is not None:
            loc = [datetime.fromtimestamp(int(u.astype("datetime64[s]").astype(np.int64)), tz=UTC).astimezone(tz)
                   for u in s["utc"].to_numpy()]
            idx = [(x.month - 1) * 24 + x.hour for x in loc]
            prices = tou["price_usd_per_kwh"].to_numpy()[idx]
            known = tou["rate_known"].to_numpy()[idx]
            price = float(np.average(prices, weights=s["weight_h"]))
            basis = (f"{r.tou_schedule} time-of-use ({known.mean():.0%} of hours at a published energy rate, "
                     "the rest at the region's average price)")
        else:
            price = r.price_usd_per_kwh
            basis = "flat average price" if price is not None else "no price data"
        rows.append({
            "start_hour_local": h, "start_utc": start_local.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            "timezone": r.timezone, "intensity_g_per_kwh": ci, "emissions_kg": energy_kwh * ci / 1000.0,
            "price_usd_per_kwh": price, "cost_usd": energy_kwh * price if price is not None else np.nan,
            "price_basis": basis,
        })
    return pd.DataFrame(rows)


def month_of(start, tz: str) -> int:
    return to_utc(start, tz).astimezone(ZoneInfo(tz)).month


__all__ = ["aware_datetime", "hourly_intensity", "mean_intensity", "intensity_series", "tou_price_table",
           "by_start_hour", "to_utc"]
