"""Best start windows: time zones across DST, windows longer than a day, objectives (joulebook.models.schedule)."""

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from joulebook.core.errors import InputError
from joulebook.models import grid, schedule
from joulebook.models.schedule import UnknownTimezoneError

NY = "America/New_York"


# --------------------------------------------------------------------------- time zones and DST

def test_convert_across_us_spring_forward():
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT
    assert schedule.convert("2026-03-08T01:30", "UTC", NY) == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert schedule.convert("2026-03-08T03:30", "UTC", NY) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert schedule.utc_offset_h(NY, "2026-03-07T12:00") == -5
    assert schedule.utc_offset_h(NY, "2026-03-09T12:00") == -4


def test_candidate_starts_skip_the_missing_hour_in_march():
    c = schedule.candidate_starts(NY, [date(2026, 3, 8)])
    assert len(c) == 23 and 2 not in set(c["candidate_hour"])
    utc = c.set_index("candidate_hour")["start_utc"].dt.strftime("%H:%M")
    assert (utc[0], utc[1], utc[3], utc[4]) == ("05:00", "06:00", "07:00", "08:00")  # 01:00 EST and 03:00 EDT are 1 h apart


def test_candidate_starts_take_the_first_of_the_repeated_hour_in_november():
    c = schedule.candidate_starts(NY, [date(2026, 11, 1)])
    assert len(c) == 24
    utc = c.set_index("candidate_hour")["start_utc"].dt.strftime("%H:%M")
    assert utc[0] == "04:00" and utc[1] == "05:00"  # 01:00 EDT, the first 01:00
    assert utc[2] == "07:00"  # 02:00 EST: two real hours after 01:00 EDT


def test_job_crossing_spring_forward_ends_at_the_right_civil_time():
    t = schedule.start_table("us-va", 6, 100, month=3, day=7, hours=[23])
    row = t.iloc[0]
    assert row["start_local"] == "2026-03-07 23:00 EST"
    assert row["end_local"] == "2026-03-08 06:00 EDT"  # 6 real hours: 05:00 EST == 06:00 EDT
    assert row["start_utc"] == "2026-03-08T04:00Z" and row["end_utc"] == "2026-03-08T10:00Z"


def test_job_crossing_fall_back_ends_at_the_right_civil_time():
    t = schedule.start_table("us-va", 6, 100, month=10, day=31, hours=[23])
    assert t.iloc[0]["end_local"] == "2026-11-01 04:00 EST"  # the clock repeats 01:00, so 6 h end at 04:00


def test_europe_and_us_change_clocks_on_different_dates():
    # US springs forward on 2026-03-08, the EU on 2026-03-29; the EU falls back on 2026-10-25, the US on 2026-11-01
    assert schedule.offset_difference_h("Europe/Berlin", NY, "2026-03-01T12:00") == 6
    assert schedule.offset_difference_h("Europe/Berlin", NY, "2026-03-20T12:00") == 5
    assert schedule.offset_difference_h("Europe/Berlin", NY, "2026-04-15T12:00") == 6
    assert schedule.offset_difference_h("Europe/Berlin", NY, "2026-10-28T12:00") == 5
    assert schedule.offset_difference_h("Europe/Berlin", NY, "2026-11-05T12:00") == 6
    assert schedule.offset_difference_h("Europe/London", "America/Los_Angeles", "2026-03-20T12:00") == 7


@pytest.mark.parametrize("day,month,gap", [(1, 3, 6), (20, 3, 5), (15, 4, 6), (28, 10, 5), (5, 11, 6)])
def test_start_table_shows_team_clock_with_both_dst_calendars(day, month, gap):
    t = schedule.start_table("de", 10, 100, team_tz=NY, month=month, day=day)
    assert ((t["start_hour_local"] - t["start_hour_team"]) % 24 == gap).all()
    # late-evening starts in Berlin are the same evening in New York; 00:00-gap-1 are the previous day
    early = t[t["start_hour_local"] < gap]
    assert (early["team_date_shift_days"] == -1).all() and (t.loc[t["start_hour_local"] >= gap, "team_date_shift_days"] == 0).all()


def test_iso_strings_round_trip_through_zoneinfo():
    t = schedule.start_table("us-ca", 30, 100, team_tz="Asia/Kolkata", month=3, day=8)
    for loc, team, utc in zip(t["start_local_iso"], t["start_team_iso"], t["start_utc"], strict=True):
        u = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        assert datetime.fromisoformat(loc) == u and datetime.fromisoformat(team) == u
    assert t["start_team_iso"].str.endswith("+05:30").all()


def test_unknown_time_zone_lists_close_matches():
    with pytest.raises(UnknownTimezoneError) as e:
        schedule.time_zone("America/NewYork", "team_tz")
    assert "America/New_York" in str(e.value) and e.value.parameter == "team_tz"
    assert schedule.time_zone("europe/berlin").key == "Europe/Berlin"


# --------------------------------------------------------------------------- windows longer than a day

def _brute_profile(profile, duration_h):
    """Mean over the window from each start hour, hour by hour with a wrapping index."""
    n = int(np.ceil(duration_h))
    out = []
    for h in range(24):
        total = 0.0
        for k in range(n):
            w = min(1.0, duration_h - k)
            total += w * profile[(h + k) % 24]
        out.append(total / duration_h)
    return np.array(out)


@pytest.mark.parametrize("duration_h", [30, 72, 30.5, 5, 1, 47.25])
def test_profile_window_is_the_brute_force_minimum(duration_h):
    prof = grid.hourly_intensity("us-ca", 7)
    brute = _brute_profile(prof, duration_h)
    assert schedule.profile_window_means(prof, duration_h) == pytest.approx(brute, rel=1e-12)
    h, m = schedule.best_profile_start(prof, duration_h)
    assert m == pytest.approx(brute.min(), rel=1e-12)
    assert int(h) == int(np.argmin(np.round(brute, 9)))


def test_profile_windows_for_many_durations_agree():
    rng = np.random.default_rng(3)
    prof = rng.uniform(50, 500, size=(4, 24))
    durs = [0.5, 1, 7.5, 24, 30, 49.9, 72, 200.25]
    many = schedule.profile_window_means_many(prof, durs)
    for j, d in enumerate(durs):
        assert many[:, j, :] == pytest.approx(schedule.profile_window_means(prof, d), rel=1e-10)


@pytest.mark.parametrize("duration_h", [30, 72])
def test_calendar_windows_equal_grid_mean_intensity_brute_force(duration_h):
    """Every candidate start of a 30 h and a 72 h job: the window mean equals grid.mean_intensity, and the best is the minimum."""
    t = schedule.start_table("us-va", duration_h, 1000.0, month=7)
    brute = np.array([grid.mean_intensity("us-va", s, duration_h) for s in t["start_local_iso"]])
    assert t["intensity_g_per_kwh"].to_numpy() == pytest.approx(brute, rel=1e-12)
    best = schedule.best_start(t, "emissions")
    assert best["intensity_g_per_kwh"] == pytest.approx(brute.min(), rel=1e-12)
    assert best["emissions_kg"] == pytest.approx(1000.0 * brute.min() / 1000.0)


def test_calendar_window_over_a_season_boundary_matches_brute_force():
    # 72 h from the end of May into June: the profile switches season (MAM -> JJAS) inside the window
    t = schedule.start_table("us-ca", 72, 10.0, month=5, day=30)
    brute = np.array([grid.mean_intensity("us-ca", s, 72) for s in t["start_local_iso"]])
    assert t["intensity_g_per_kwh"].to_numpy() == pytest.approx(brute, rel=1e-12)
    assert np.ptp(brute) > 0  # the boundary makes start times differ even for whole days


def test_whole_day_jobs_cover_every_hour_equally():
    t = schedule.start_table("us-ca", 48, 10.0, month=7)
    assert np.ptp(t["intensity_g_per_kwh"]) == pytest.approx(0, abs=1e-9)
    assert t["intensity_g_per_kwh"].iloc[0] == pytest.approx(grid.hourly_intensity("us-ca", 7).mean())


def test_several_days_and_months_of_candidates():
    t = schedule.start_table("us-tx", 5, 1.0, month=7, days=3)
    assert len(t) == 72 and t["candidate_date"].nunique() == 3
    m = schedule.start_table("us-tx", 5, 1.0, months=[1, 4, 7, 10])
    assert len(m) == 96 and sorted(m["candidate_date"].str[5:7].unique()) == ["01", "04", "07", "10"]
    brute = [grid.mean_intensity("us-tx", s, 5) for s in m["start_local_iso"]]
    assert m["intensity_g_per_kwh"].to_numpy() == pytest.approx(brute, rel=1e-12)


def test_window_means_rejects_windows_past_the_series():
    with pytest.raises(InputError):
        schedule.window_means(np.ones(10), [5], 6)


# --------------------------------------------------------------------------- objectives

def test_flat_region_picks_the_earliest_start_and_all_are_equal():
    t = schedule.start_table("se", 30, 1000.0, team_tz=NY)
    assert t["emissions_kg"].nunique() == 1
    assert schedule.best_start(t, "emissions")["start_hour_local"] == 0


def test_cost_objective_uses_time_of_use_rates():
    """April in PG&E B-19: super-off-peak 09-14 at 0.064, peak 16-21 at 0.162, the rest at the average price."""
    t = schedule.start_table("us-ca", 3, 100.0, month=4)
    tou = grid.tou_price_table("us-ca")
    apr = tou[tou["month"] == 4].set_index("hour_local")["price_usd_per_kwh"]
    for _, row in t.iterrows():
        h = row["start_hour_local"]
        expect = np.mean([apr[(h + k) % 24] for k in range(3)])
        assert row["price_usd_per_kwh"] == pytest.approx(expect)
    best = schedule.best_start(t, "cost")
    assert 9 <= best["start_hour_local"] <= 11 and best["price_usd_per_kwh"] == pytest.approx(0.064)
    assert best["cost_usd"] == pytest.approx(t["cost_usd"].min())


def test_weighted_objective_adds_carbon_at_the_internal_price():
    t = schedule.start_table("us-ca", 3, 100.0, month=4)
    v = schedule.objective_values(t["emissions_kg"], t["cost_usd"], "weighted", 100.0)
    assert v == pytest.approx(t["cost_usd"] + t["emissions_kg"] / 1000 * 100.0)
    best = schedule.best_start(t, "weighted", 100.0)
    assert best["objective_value"] == pytest.approx(v.min())
    with pytest.raises(InputError):
        schedule.objective_values([1.0], [1.0], "weighted", None)


def test_region_without_price_has_nan_cost_and_ranks_by_emissions():
    t = schedule.start_table("sg", 5, 10.0)
    assert t["cost_usd"].isna().all()
    assert schedule.best_start(t, "cost")["start_hour_local"] == 0


def test_bad_inputs_name_the_parameter():
    for kwargs, param in [({"duration_h": 0}, "duration_h"), ({"duration_h": -3}, "duration_h"),
                          ({"day": 30, "month": 2}, "day"), ({"month": 13}, "month"), ({"energy_kwh": -1}, "energy_kwh")]:
        args = {"region": "us-va", "duration_h": 5, "energy_kwh": 1.0, **kwargs}
        with pytest.raises(InputError) as e:
            schedule.start_table(**args)
        assert e.value.parameter == param
    with pytest.raises(InputError) as e:
        schedule.check_objective("carbon")
    assert e.value.parameter == "objective"


def test_summary_per_region_and_hour_by_hour_in_team_clock():
    summ, starts = schedule.best_starts(["us-va", "us-ca", "se"], 10, [100.0, 200.0, 300.0], team_tz=NY)
    assert list(summ["region"]) == ["us-va", "us-ca", "se"]
    for _, row in summ.iterrows():
        sub = starts[starts["region"] == row["region"]]
        assert row["emissions_kg"] == pytest.approx(sub["emissions_kg"].min())
        assert row["timing_saving_kg"] == pytest.approx(sub["emissions_kg"].mean() - sub["emissions_kg"].min())
    heat = schedule.hour_by_hour(["us-ca", "se"], tz=NY, month=7)
    assert heat.shape == (2, 24) and np.ptp(heat.loc["se"]) == 0
    # the New York 12:00 column is the California hour starting at 09:00 PDT
    assert heat.loc["us-ca", 12] == pytest.approx(grid.mean_intensity("us-ca", "2026-07-15T09:00", 1.0))


# --------------------------------------------------------------------------- properties

profiles = st.lists(st.floats(min_value=0.0, max_value=2000.0, allow_nan=False), min_size=24, max_size=24)
durations = st.floats(min_value=0.25, max_value=120.0, allow_nan=False)


@given(profiles, durations)
def test_best_window_is_no_worse_than_any_start(profile, duration_h):
    m = schedule.profile_window_means(profile, duration_h)
    _, best = schedule.best_profile_start(profile, duration_h)
    assert (best <= m + 1e-9 * np.abs(m).max()).all()  # ties: within 1e-9 of the largest value


@given(st.floats(min_value=0.0, max_value=2000.0, allow_nan=False), durations)
def test_flat_profile_makes_every_start_equal(value, duration_h):
    m = schedule.profile_window_means(np.full(24, value), duration_h)
    assert m == pytest.approx(np.full(24, value), rel=1e-12, abs=1e-9)


@given(profiles, durations, st.integers(min_value=0, max_value=23))
def test_shifting_the_profile_shifts_the_windows(profile, duration_h, k):
    a = schedule.profile_window_means(profile, duration_h)
    b = schedule.profile_window_means(np.roll(profile, k), duration_h)
    assert np.roll(a, k) == pytest.approx(b, rel=1e-9, abs=1e-9)


@given(profiles, durations)
def test_average_over_all_starts_is_the_daily_mean(profile, duration_h):
    m = schedule.profile_window_means(profile, duration_h)
    assert m.mean() == pytest.approx(np.mean(profile), rel=1e-9, abs=1e-9)


@given(profiles, st.integers(min_value=1, max_value=5))
def test_whole_days_make_every_start_equal(profile, days):
    m = schedule.profile_window_means(profile, 24.0 * days)
    assert m == pytest.approx(np.full(24, np.mean(profile)), rel=1e-9, abs=1e-9)


@given(st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "America/Phoenix"]),
       st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
def test_candidate_starts_are_the_civil_hours_that_exist(tz, day):
    c = schedule.candidate_starts(tz, [day])
    back = pd.DatetimeIndex(c["start_utc"]).tz_convert(tz)
    assert list(back.hour) == list(c["candidate_hour"])  # every kept start shows its own civil hour
    assert (back.date == day).all()
    assert 23 <= len(c) <= 24


def test_agrees_with_grid_by_start_hour():
    """The vectorized start table reproduces the grid module's hour-by-hour loop (intensity and TOU cost)."""
    for region, hours, month in [("us-va", 48, 7), ("us-ca", 30, 4)]:
        g = grid.by_start_hour(region, hours, 5000.0, month)
        s = schedule.start_table(region, hours, 5000.0, month=month)
        assert list(s["start_hour_local"]) == list(g["start_hour_local"])
        assert s["emissions_kg"].to_numpy() == pytest.approx(g["emissions_kg"].to_numpy(), rel=1e-12)
        assert s["cost_usd"].to_numpy() == pytest.approx(g["cost_usd"].to_numpy(), rel=1e-12)
