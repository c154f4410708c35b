"""Hourly grid intensity, time-of-use prices, power model, costs and embodied carbon."""

import numpy as np
import pytest

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.models import costs, grid, hardware, lifecycle


def test_hourly_profile_averages_to_annual_value():
    for rid in ("us-va", "us-ca", "us-tx", "us-or"):
        h = grid.hourly_intensity(rid)
        assert h.mean() == pytest.approx(data.region(rid).intensity_g_per_kwh, rel=0.002)


def test_regions_without_profile_are_flat_and_say_so():
    assert grid.hourly_intensity("se") is None
    assert grid.mean_intensity("se", "2026-07-01T00:00", 30) == data.region("se").intensity_g_per_kwh


def test_caiso_solar_dip_and_season():
    july = grid.hourly_intensity("us-ca", 7)
    assert july[12] < 0.8 * july[0]  # midday solar (local standard time)
    # the DJF profile differs from JJAS
    assert not np.allclose(grid.hourly_intensity("us-ca", 1), july)


def test_window_mean_uses_local_time_and_dst():
    # 12:00 PDT is 11:00 PST, the profile's clock; a one-hour window picks that hour
    v = grid.mean_intensity("us-ca", "2026-07-15T12:00", 1)
    assert v == pytest.approx(grid.hourly_intensity("us-ca", 7)[11])
    # an aware UTC time gives the same answer
    assert grid.mean_intensity("us-ca", "2026-07-15T19:00+00:00", 1) == pytest.approx(v)


def test_long_window_tends_to_the_seasonal_mean():
    v = grid.mean_intensity("us-ca", "2026-07-01T00:00", 24 * 20)
    assert v == pytest.approx(grid.hourly_intensity("us-ca", 7).mean(), rel=1e-6)


def test_bad_start_is_named():
    with pytest.raises(InputError, match="start"):
        grid.mean_intensity("us-ca", "yesterday", 5)


def test_tou_prices_use_published_rates_where_known():
    t = grid.tou_price_table("us-ca")
    spring_noon = t[(t["month"] == 4) & (t["hour_local"] == 11)].iloc[0]
    assert spring_noon["price_usd_per_kwh"] == 0.064 and spring_noon["rate_known"]
    winter_night = t[(t["month"] == 1) & (t["hour_local"] == 2)].iloc[0]
    assert not winter_night["rate_known"] and winter_night["price_usd_per_kwh"] == data.region("us-ca").price_usd_per_kwh
    assert grid.tou_price_table("se") is None


def test_by_start_hour_finds_the_solar_window():
    df = grid.by_start_hour("us-ca", 4, 1000, month=4)
    assert len(df) == 24 and (df["timezone"] == "America/Los_Angeles").all()
    best = df.loc[df["emissions_kg"].idxmin(), "start_hour_local"]
    assert 8 <= best <= 13
    assert df["emissions_kg"].min() < df["emissions_kg"].max()


def test_power_model_between_idle_and_cap():
    h = data.accelerator("h100")
    idle, _, _ = hardware.idle_power_w(h)
    assert idle == pytest.approx(119.6)
    k = hardware.power_coefficients(h)
    kw = dict(compute_power_fraction=k["compute_power_fraction"], memory_power_fraction=k["memory_power_fraction"],
              gap_power_fraction=k["gap_power_fraction"])
    assert hardware.activity_power_w(idle, h.tdp_w, 0.0, 0.0, **kw) == pytest.approx(idle)  # nothing to do: idle
    assert hardware.activity_power_w(idle, h.tdp_w, 1.0, 1.0, **kw) == pytest.approx(700)  # flat out: the cap
    ramp = hardware.activity_power_w(idle, h.tdp_w, np.linspace(0, 0.3, 5), 0.2, **kw)
    assert np.all(np.diff(ramp) > 0) and np.all((ramp > idle) & (ramp < 700))
    a = data.accelerator("a100")
    idle, _, note = hardware.idle_power_w(a)
    assert idle == pytest.approx(0.171 * 400) and "no measured idle" in note


def test_cloud_and_purchase_prices_come_from_rows():
    p = costs.cloud_price("h100")
    assert p.low <= p.central <= p.high and p.source_id
    assert costs.cloud_price("h100", provider="aws").central == pytest.approx(6.88)
    assert costs.cloud_price("l4") is None
    with pytest.raises(InputError, match="provider"):
        costs.cloud_price("h100", provider="nowhere")
    assert costs.purchase_price("h100").central > 20000


def test_carbon_price_converts_and_flags_fx():
    eu = costs.carbon_price("EU ETS")
    assert eu.central == pytest.approx(75 * 1.0824)
    assert "unverified" in eu.detail
    assert costs.carbon_price("California-Quebec cap-and-trade").unit == "USD per t CO2e"


def test_embodied_profile_amortisation():
    p = lifecycle.embodied_profile("h100")
    lo, mid, hi = p.kg_per_accelerator_hour()
    assert lo <= mid <= hi
    assert mid == pytest.approx((164 + 712.5) / (3 * 8760 * 0.85))
