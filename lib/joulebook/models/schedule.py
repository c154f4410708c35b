"""When to start a job: the best start window in a region's hourly carbon intensity and price.

Model. A job draws ``energy_kwh`` from the grid (facility energy) evenly over
``duration_h``. Started at the instant t0 it emits

    emissions_kg = energy_kwh x mean intensity over [t0, t0 + duration_h) / 1000

and its electricity costs ``energy_kwh x mean price`` over the same window.
Hour-by-hour intensity comes from :func:`joulebook.models.grid.intensity_series` (the
region's annual value x the hourly shape of its grid zone by local *standard*
hour, seasonal where the data has seasons; a flat line where the region has no
hourly profile). Hour-by-hour price comes from the region's time-of-use tariff
by local *civil* hour (:func:`joulebook.models.grid.tou_price_table`; hours without a
published energy rate at the region's average price) or is the flat average
price; ``NaN`` where the data set has no price.

Candidate starts are whole civil hours of one time zone (the region's own by
default) on one or more dates. Each is placed in UTC with :mod:`zoneinfo`, so
daylight saving is handled where it happens: a local time that does not exist
(clocks spring forward) is skipped, an ambiguous one (clocks fall back) is
taken at its first occurrence (daylight time). Every start is also shown in the
team's time zone, which may change its clocks on other dates than the region.

Jobs longer than a day run through several days of the profile: the window
walks the calendar hour by hour (across a season boundary where it reaches
one). For a bare 24-value profile :func:`profile_window_means` wraps the day
around the clock instead.

Vectorized over candidates: C candidate starts of an n-hour job are one gather
(C x n) and one product with the hour weights (the last hour is partial for a
fractional duration). Nothing here reads files except through
:mod:`joulebook.data` / :mod:`joulebook.models.grid`, and nothing plots.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.validate import number
from joulebook.models import grid

OBJECTIVES = ("emissions", "cost", "weighted")
MAX_DURATION_H = 2 * 8784.0  # two (leap) years: beyond that an annual profile says nothing about timing
DEFAULT_YEAR = 2026
DEFAULT_DAY = 15


class UnknownTimezoneError(UnknownNameError):
    kind = "time zone"


# --------------------------------------------------------------------------- time zones

@lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def time_zone(name, parameter: str = "tz") -> ZoneInfo:
    """The :class:`zoneinfo.ZoneInfo` for an IANA name (``America/New_York``, ``UTC``).

    Raises :class:`UnknownTimezoneError` (naming ``parameter``, listing close matches).
    """
    if isinstance(name, ZoneInfo):
        return name
    if not isinstance(name, str) or not name.strip():
        raise InputError(parameter, f"expected an IANA time-zone name such as 'America/New_York', got {name!r}")
    key = name.strip()
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        pass
    lowered = {z.lower(): z for z in _zone_names()}
    if key.lower() in lowered:  # 'europe/berlin' -> 'Europe/Berlin'
        return ZoneInfo(lowered[key.lower()])
    raise UnknownTimezoneError(key, _zone_names(), parameter=parameter)


def convert(when, to_tz, from_tz="UTC") -> datetime:
    """``when`` (datetime or ISO string; naive = civil time in ``from_tz``) as civil time in ``to_tz``.

    >>> convert("2026-03-20T09:00", "Europe/Berlin", "America/New_York").strftime("%H:%M %Z")
    '14:00 CET'
    """
    src = time_zone(from_tz, "from_tz")
    dst = time_zone(to_tz, "to_tz")
    return grid.aware_datetime(when, src, "when").astimezone(dst)


def utc_offset_h(tz, when) -> float:
    """UTC offset of ``tz`` (hours, daylight saving included) at ``when`` (naive = civil time in ``tz``)."""
    return convert(when, tz, tz).utcoffset().total_seconds() / 3600.0


def offset_difference_h(tz_a, tz_b, when) -> float:
    """Hours that ``tz_a``'s clocks are ahead of ``tz_b``'s at the instant ``when`` (naive = UTC).

    Europe and the US change clocks on different dates, so e.g. Berlin vs New York
    is 6 h most of the year and 5 h for a few weeks in March and around November.
    """
    inst = convert(when, "UTC", "UTC")
    za, zb = time_zone(tz_a, "tz_a"), time_zone(tz_b, "tz_b")
    return (inst.astimezone(za).utcoffset() - inst.astimezone(zb).utcoffset()).total_seconds() / 3600.0


def _fmt_times(utc: pd.DatetimeIndex, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(readable 'YYYY-MM-DD HH:MM ABBR', ISO with offset, civil hour, civil date) of UTC instants in ``tz``."""
    loc = utc.tz_convert(tz)
    stamp = np.asarray(loc.strftime("%Y-%m-%d %H:%M"), dtype=object)
    abbr = np.asarray(loc.strftime("%Z"), dtype=object)
    off = np.asarray(loc.strftime("%z"), dtype=object)
    off_iso = np.array([f"{o[:3]}:{o[3:]}" if isinstance(o, str) and len(o) == 5 else "" for o in off], dtype=object)
    shown = np.array([a if isinstance(a, str) and a[:1].isalpha() else f"UTC{oi.replace(':00', '')}"
                      for a, oi in zip(abbr, off_iso, strict=True)], dtype=object)
    readable = stamp + " " + shown
    iso = np.asarray(loc.strftime("%Y-%m-%dT%H:%M"), dtype=object) + off_iso
    return readable, iso, np.asarray(loc.hour, dtype=int), np.asarray(loc.strftime("%Y-%m-%d"), dtype=object)


# --------------------------------------------------------------------------- windows

def hour_weights(duration_h) -> np.ndarray:
    """Weights (hours) of the clock hours a window of ``duration_h`` covers: ones, the last one partial."""
    d = number("duration_h", duration_h, strictly_positive=True, maximum=MAX_DURATION_H)
    n = max(int(math.ceil(d)), 1)
    w = np.ones(n)
    w[-1] = d - (n - 1)
    return w


def window_means(values, starts, duration_h) -> np.ndarray:
    """Mean of an hourly series over ``duration_h`` hours from each index in ``starts`` (vectorized).

    ``values``: hourly series (length T); ``starts``: integer indices with
    ``start + ceil(duration_h) <= T``. A fractional duration weights its last hour.
    """
    w = hour_weights(duration_h)
    v = np.asarray(values, dtype=float)
    s = np.asarray(starts, dtype=np.int64)
    if s.size and (s.min() < 0 or s.max() + len(w) > v.shape[-1]):
        raise InputError("starts", f"windows of {len(w)} h from indices {s.min()}..{s.max()} run past the "
                                   f"{v.shape[-1]}-hour series")
    idx = s[:, None] + np.arange(len(w))[None, :]
    return (v[..., idx] @ w) / w.sum()


def profile_window_means(profile, duration_h) -> np.ndarray:
    """Mean of a daily profile over a job of ``duration_h`` hours started at each hour of the day.

    ``profile``: (..., 24) values by hour of day (any leading shape: one row per
    region, say). The day repeats, so a 30-hour job started at 22:00 covers
    22:00-23:59, a full day and 00:00-03:59 of the next. Returns (..., 24).
    """
    p = np.asarray(profile, dtype=float)
    if p.ndim == 0 or p.shape[-1] < 1:
        raise InputError("profile", "expected hourly values along the last axis")
    if not np.isfinite(p).all():
        raise InputError("profile", "contains NaN or infinite values")
    w = hour_weights(duration_h)
    hours = p.shape[-1]
    idx = (np.arange(hours)[:, None] + np.arange(len(w))[None, :]) % hours
    return (p[..., idx] @ w) / w.sum()


def profile_window_means_many(profile, durations_h) -> np.ndarray:
    """:func:`profile_window_means` for many durations at once: (..., D, 24) from (..., 24) and D durations.

    Closed form on cumulative sums (whole days add the daily total; the remainder
    is read off a doubled profile), so a sweep over durations needs no loop.
    """
    p = np.asarray(profile, dtype=float)
    if p.ndim == 0 or not np.isfinite(p).all():
        raise InputError("profile", "expected finite hourly values along the last axis")
    d = np.atleast_1d(np.asarray(durations_h, dtype=float))
    for x in d:
        number("durations_h", x, strictly_positive=True, maximum=MAX_DURATION_H)
    hours = p.shape[-1]
    p2 = np.concatenate([p, p], axis=-1)
    c = np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(p2, axis=-1)], axis=-1)
    days = np.floor(d / hours)
    rem = d - days * hours
    r = np.floor(rem).astype(int)
    f = rem - r
    h = np.arange(hours)
    end = h[None, :] + r[:, None]  # (D, 24)
    total = (days[:, None] * p.sum(axis=-1)[..., None, None] + c[..., end] - c[..., h][..., None, :]
             + f[:, None] * p2[..., end])
    return total / d[:, None]


def best_profile_start(profile, duration_h) -> tuple[np.ndarray, np.ndarray]:
    """(start hour, window mean) of the lowest window of a daily profile; the earliest hour on ties."""
    m = profile_window_means(profile, duration_h)
    h = np.argmin(tie_key(m), axis=-1)
    return h, np.take_along_axis(m, h[..., None], axis=-1)[..., 0]


# --------------------------------------------------------------------------- candidate starts

def candidate_dates(*, month: int = 7, year: int = DEFAULT_YEAR, day: int = DEFAULT_DAY, days: int = 1,
                    months=None) -> list[date]:
    """Dates whose civil hours are candidate starts.

    ``days`` consecutive days from ``year-month-day``; or, with ``months`` (a list
    of 1..12), ``day`` of each of those months (a sweep over the seasons).
    """
    year = int(number("year", year, minimum=1970, maximum=2100, integer=True))
    day = int(number("day", day, minimum=1, maximum=31, integer=True))
    days = int(number("days", days, minimum=1, maximum=366, integer=True))
    if months is not None:
        ms = [months] if np.ndim(months) == 0 else list(months)
        if not ms:
            raise InputError("months", "give at least one month (1-12)")
        ms = [int(number("months", m, minimum=1, maximum=12, integer=True)) for m in ms]
        if days != 1:
            raise InputError("days", "give either months (one date per month) or days (consecutive days), not both")
    else:
        ms = [int(number("month", month, minimum=1, maximum=12, integer=True))]
    out: list[date] = []
    for m in ms:
        try:
            first = date(year, m, day)
        except ValueError:
            raise InputError("day", f"{year}-{m:02d} has no day {day}") from None
        out.extend(first + timedelta(days=k) for k in range(days))
    return out


def candidate_starts(tz, dates, hours=None) -> pd.DataFrame:
    """Whole civil hours of ``tz`` on ``dates`` placed in UTC (zoneinfo; vectorized).

    Columns: ``candidate_date``, ``candidate_hour`` (civil, in ``tz``), ``start_utc``
    (tz-aware UTC). Hours that do not exist on a spring-forward day are left out;
    an hour that occurs twice on a fall-back day is taken at its first occurrence.
    """
    zone = time_zone(tz)
    hrs = np.arange(24) if hours is None else np.asarray(list(hours), dtype=int)
    if hrs.size == 0 or hrs.min() < 0 or hrs.max() > 23:
        raise InputError("hours", "civil hours must lie in 0..23")
    d64 = np.array([np.datetime64(d, "D") for d in dates], dtype="datetime64[s]")
    if d64.size == 0:
        raise InputError("dates", "give at least one date")
    naive = (d64[:, None] + (hrs[None, :] * 3600).astype("timedelta64[s]")).ravel()
    idx = pd.DatetimeIndex(naive)
    loc = idx.tz_localize(zone, ambiguous=np.ones(len(idx), dtype=bool), nonexistent="NaT")
    keep = ~loc.isna()
    return pd.DataFrame({
        "candidate_date": np.repeat([str(d) for d in dates], len(hrs))[keep],
        "candidate_hour": np.tile(hrs, len(dates))[keep],
        "start_utc": loc[keep].tz_convert("UTC"),
    }).reset_index(drop=True)


# --------------------------------------------------------------------------- per-region start table

@lru_cache(maxsize=32)
def _tou_arrays(directory: str, region_id: str, tou_schedule: str, price: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(12 x 24 price, 12 x 24 published-rate flag) by month and civil hour; cached (the table is slow to build)."""
    tou = grid.tou_price_table(data.region(region_id))
    if tou is None:
        return None
    table = tou.sort_values(["month", "hour_local"])
    p = table["price_usd_per_kwh"].to_numpy(dtype=float).reshape(12, 24)
    k = table["rate_known"].to_numpy(dtype=float).reshape(12, 24)
    p.setflags(write=False)
    k.setflags(write=False)
    return p, k


def tou_arrays(region) -> tuple[np.ndarray, np.ndarray] | None:
    """(price USD/kWh, published-rate flag) as 12 x 24 arrays by month and local civil hour, or None.

    From :func:`joulebook.models.grid.tou_price_table` (hours without a published energy rate
    at the region's average price), cached per data folder and region.
    """
    r = data.region(region)
    if not r.tou_schedule or r.price_usd_per_kwh is None:
        return None
    return _tou_arrays(str(data.data_dir()), r.region_id, r.tou_schedule, float(r.price_usd_per_kwh))


def _hourly_price(r: data.Region, utc_hours: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, str]:
    """Price (USD/kWh) and 'published rate' flag for each UTC hour, and the basis in words."""
    n = len(utc_hours)
    tou = tou_arrays(r)
    if tou is None:
        price = r.price_usd_per_kwh
        if price is None:
            return np.full(n, np.nan), np.zeros(n), "no price data"
        return np.full(n, float(price)), np.zeros(n), f"flat average price ({r.price_note})"
    p, k = tou
    loc = utc_hours.tz_convert(time_zone(r.timezone))
    m = np.asarray(loc.month, dtype=int) - 1
    h = np.asarray(loc.hour, dtype=int)
    return p[m, h], k[m, h], (f"{r.tou_schedule} time-of-use by local hour; hours without a published energy "
                              f"rate at the average price ({r.price_note})")


def start_table(region, duration_h, energy_kwh, *, team_tz=None, month: int = 7, year: int = DEFAULT_YEAR,
                day: int = DEFAULT_DAY, days: int = 1, months=None, candidates_tz=None, hours=None) -> pd.DataFrame:
    """Emissions and electricity cost of a job for every candidate start (vectorized over starts).

    ``energy_kwh`` is the energy drawn from the grid (facility energy), spread evenly
    over ``duration_h``. Candidates: whole civil hours of ``candidates_tz`` (default
    the region's time zone) on the dates of :func:`candidate_dates`. Each start (and
    end) is shown in the region's local time, in ``team_tz`` (default: the region's)
    and in UTC.

    Columns: region, timezone, team_tz, candidate_date, candidate_hour, start_utc, end_utc,
    start_local, start_local_iso, start_hour_local, start_team, start_team_iso, start_hour_team,
    team_date_shift_days, end_local, end_team, intensity_g_per_kwh, emissions_kg, price_usd_per_kwh,
    price_known_share, cost_usd, hourly_profile, price_basis.
    """
    r = data.region(region)
    d = number("duration_h", duration_h, strictly_positive=True, maximum=MAX_DURATION_H)
    e = number("energy_kwh", energy_kwh)
    team = time_zone(team_tz if team_tz is not None else r.timezone, "team_tz")
    cand_zone = time_zone(candidates_tz if candidates_tz is not None else r.timezone, "candidates_tz")
    dates = candidate_dates(month=month, year=year, day=day, days=days, months=months)
    cand = candidate_starts(cand_zone, dates, hours)
    w = hour_weights(d)
    n = len(w)
    starts = cand["start_utc"].to_numpy(dtype="datetime64[s]")
    t0 = starts.min()
    offs_s = (starts - t0).astype(np.int64)
    frac_s = offs_s % 3600  # non-zero only for half-hour clock shifts: one series per distinct fraction
    intensity = np.empty(len(starts))
    price = np.empty(len(starts))
    known = np.empty(len(starts))
    basis = ""
    for f in np.unique(frac_s):
        sel = frac_s == f
        base = t0 + np.timedelta64(int(f), "s")
        idx = (offs_s[sel] - f) // 3600
        span_h = float(idx.max() + n)
        base_dt = pd.Timestamp(base).tz_localize("UTC").to_pydatetime()
        series = grid.intensity_series(r, base_dt, span_h)
        vals = series["intensity_g_per_kwh"].to_numpy(dtype=float)
        intensity[sel] = window_means(vals, idx, d)
        utc_hours = pd.DatetimeIndex(series["utc"]).tz_localize("UTC")
        p, k, basis = _hourly_price(r, utc_hours)
        price[sel] = window_means(p, idx, d) if np.isfinite(p).all() else np.nan
        known[sel] = window_means(k, idx, d)
    start_idx = pd.DatetimeIndex(cand["start_utc"])
    end_idx = start_idx + pd.to_timedelta(d, unit="h")
    region_zone = time_zone(r.timezone)
    s_loc, s_loc_iso, h_loc, date_loc = _fmt_times(start_idx, region_zone)
    s_team, s_team_iso, h_team, date_team = _fmt_times(start_idx, team)
    e_loc, _, _, _ = _fmt_times(end_idx, region_zone)
    e_team, _, _, _ = _fmt_times(end_idx, team)
    shift = (pd.to_datetime(pd.Series(date_team)) - pd.to_datetime(pd.Series(date_loc))).dt.days.to_numpy()
    return pd.DataFrame({
        "region": r.region_id, "timezone": r.timezone, "team_tz": team.key,
        "candidate_date": cand["candidate_date"].to_numpy(), "candidate_hour": cand["candidate_hour"].to_numpy(),
        "start_utc": start_idx.strftime("%Y-%m-%dT%H:%MZ"), "end_utc": end_idx.strftime("%Y-%m-%dT%H:%MZ"),
        "start_local": s_loc, "start_local_iso": s_loc_iso, "start_hour_local": h_loc,
        "start_team": s_team, "start_team_iso": s_team_iso, "start_hour_team": h_team,
        "team_date_shift_days": shift, "end_local": e_loc, "end_team": e_team,
        "intensity_g_per_kwh": intensity, "emissions_kg": e * intensity / 1000.0,
        "price_usd_per_kwh": price, "price_known_share": known, "cost_usd": e * price,
        "hourly_profile": r.hourly_zone is not None, "price_basis": basis,
    })


# --------------------------------------------------------------------------- objectives and best starts

def check_objective(objective: str) -> str:
    o = str(objective).strip().lower()
    if o not in OBJECTIVES:
        raise InputError("objective", f"unknown objective {objective!r} (one of {', '.join(OBJECTIVES)})")
    return o


def objective_values(emissions_kg, cost_usd, objective: str, carbon_price_usd_per_t=None) -> np.ndarray:
    """What is minimised: kg CO2e, USD of electricity, or USD of electricity + emissions x internal carbon price.

    NaN where the objective cannot be computed (no price data for ``cost``/``weighted``).
    """
    o = check_objective(objective)
    em = np.asarray(emissions_kg, dtype=float)
    if o == "emissions":
        return em
    cost = np.asarray(cost_usd, dtype=float)
    if o == "cost":
        return cost
    cp = number("carbon_price_usd_per_t", carbon_price_usd_per_t)
    return cost + em / 1000.0 * cp


def tie_key(values) -> np.ndarray:
    """Values quantized to 1e-9 of the largest along the last axis (so float noise is a tie); NaN -> inf."""
    a = np.asarray(values, dtype=float)
    finite = np.isfinite(a)
    scale = np.max(np.where(finite, np.abs(a), 0.0), axis=-1, keepdims=True) * 1e-9
    q = np.round(np.divide(a, scale, out=np.zeros_like(a), where=scale > 0))
    return np.where(finite, np.where(scale > 0, q, a), np.inf)


def rank_order(objective_value, emissions_kg, cost_usd) -> np.ndarray:
    """Positions sorted by objective, then emissions, then cost, then input order; NaN last (stable).

    Values equal to 1e-9 of the largest are ties (summation order must not pick a start).
    """
    n = len(np.asarray(objective_value))
    return np.lexsort((np.arange(n), tie_key(cost_usd), tie_key(emissions_kg), tie_key(objective_value)))


def best_start(table: pd.DataFrame, objective: str = "emissions", carbon_price_usd_per_t=None) -> pd.Series:
    """The best row of a :func:`start_table` for ``objective`` (ties: lower emissions, lower cost, earlier)."""
    if table.empty:
        raise InputError("table", "no candidate start")
    val = objective_values(table["emissions_kg"], table["cost_usd"], objective, carbon_price_usd_per_t)
    i = rank_order(val, table["emissions_kg"], table["cost_usd"])[0]
    row = table.iloc[i].copy()
    row["objective_value"] = val[i]
    return row


def summarise_starts(table: pd.DataFrame, objective: str = "emissions", carbon_price_usd_per_t=None) -> pd.DataFrame:
    """One row per region of a (concatenated) start table: the best start and what timing is worth.

    Adds ``objective_value``, ``emissions_mean_kg`` / ``cost_mean_usd`` (average over the
    candidate starts: a start picked without looking), ``emissions_worst_kg``,
    ``emissions_best_kg``, ``timing_saving_kg`` (mean - chosen), ``timing_saving_usd``, and
    ``n_candidates``.
    """
    if table.empty:
        raise InputError("table", "no candidate start")
    t = table.reset_index(drop=True).copy()
    t["objective_value"] = objective_values(t["emissions_kg"], t["cost_usd"], objective, carbon_price_usd_per_t)
    order = rank_order(t["objective_value"], t["emissions_kg"], t["cost_usd"])
    ranked = t.iloc[order]
    best = ranked.groupby("region", sort=False).head(1).set_index("region")
    g = t.groupby("region", sort=False)
    stats = pd.DataFrame({
        "emissions_mean_kg": g["emissions_kg"].mean(), "emissions_worst_kg": g["emissions_kg"].max(),
        "emissions_best_kg": g["emissions_kg"].min(), "cost_mean_usd": g["cost_usd"].mean(),
        "n_candidates": g.size(),
    })
    out = best.join(stats)
    out["timing_saving_kg"] = out["emissions_mean_kg"] - out["emissions_kg"]
    out["timing_saving_usd"] = out["cost_mean_usd"] - out["cost_usd"]
    regions_in_order = list(dict.fromkeys(t["region"]))
    return out.loc[regions_in_order].reset_index()


def best_starts(regions, duration_h, energy_kwh, *, objective: str = "emissions", carbon_price_usd_per_t=None,
                team_tz=None, month: int = 7, year: int = DEFAULT_YEAR, day: int = DEFAULT_DAY, days: int = 1,
                months=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Best start per region and the full start table.

    ``energy_kwh``: one value for every region, or one per region (e.g. facility
    energy after each region's PUE). Returns ``(summary, starts)``.
    """
    regs = [data.region(x) for x in ([regions] if isinstance(regions, (str, data.Region)) else list(regions))]
    if not regs:
        raise InputError("regions", "give at least one region")
    energies = np.broadcast_to(np.asarray(energy_kwh, dtype=float), (len(regs),))
    tables = [start_table(r, duration_h, float(en), team_tz=team_tz, month=month, year=year, day=day, days=days,
                          months=months) for r, en in zip(regs, energies, strict=True)]
    starts = pd.concat(tables, ignore_index=True)
    return summarise_starts(starts, objective, carbon_price_usd_per_t), starts


def hour_by_hour(regions, *, value: str = "intensity", tz=None, month: int = 7, year: int = DEFAULT_YEAR,
                 day: int = DEFAULT_DAY) -> pd.DataFrame:
    """Intensity (g/kWh) or price (USD/kWh) of each region during each civil hour of one day.

    Rows: regions (in the order given); columns: hours 0..23 of ``tz`` (the team's
    clock, so the rows line up in time) or, without ``tz``, of each region's own clock.
    An hour that does not exist in ``tz`` that day (spring forward) is NaN.
    """
    if value not in ("intensity", "price"):
        raise InputError("value", f"expected 'intensity' or 'price', got {value!r}")
    regs = [data.region(x) for x in ([regions] if isinstance(regions, (str, data.Region)) else list(regions))]
    if not regs:
        raise InputError("regions", "give at least one region")
    col = "intensity_g_per_kwh" if value == "intensity" else "price_usd_per_kwh"
    rows = {}
    for r in regs:
        t = start_table(r, 1.0, 1.0, month=month, year=year, day=day, candidates_tz=tz)
        rows[r.region_id] = pd.Series(t[col].to_numpy(), index=t["candidate_hour"].to_numpy())
    out = pd.DataFrame(rows).T.reindex(columns=range(24))
    out.index.name = "region"
    out.columns.name = f"hour ({time_zone(tz).key})" if tz is not None else "local hour"
    return out


__all__ = ["OBJECTIVES", "UnknownTimezoneError", "time_zone", "convert", "utc_offset_h", "offset_difference_h",
           "hour_weights", "window_means", "profile_window_means", "profile_window_means_many", "best_profile_start", "candidate_dates",
           "candidate_starts", "tou_arrays", "start_table", "check_objective", "objective_values", "tie_key", "rank_order", "best_start",
           "summarise_starts", "best_starts", "hour_by_hour"]
