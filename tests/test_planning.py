"""Region comparison: PUE per region, residency filtering and its cost, carbon-price line, ranking (joulebook.models.planning)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.models import costs, grid, planning, schedule, training
from joulebook.models.planning import UnknownJurisdictionError
from joulebook.site.execute import validate_metrics
from joulebook.stories import notebook_defaults, planner

REGIONS = ["us-va", "us-ca", "se", "de", "sg", "gb"]
NY = "America/New_York"


@pytest.fixture(scope="module")
def plan():
    return planning.compare(5000.0, REGIONS, hours=30, team_tz=NY)


def _row(plan, region):
    return plan.table.set_index("region").loc[region]


# --------------------------------------------------------------------------- the model per region

def test_it_energy_times_each_regions_pue(plan):
    for rid in REGIONS:
        r, row = data.region(rid), _row(plan, rid)
        assert row["facility_energy_kwh"] == pytest.approx(5000.0 * r.pue[1])
        assert row["facility_energy_low_kwh"] == pytest.approx(5000.0 * r.pue[0])
        assert row["facility_energy_high_kwh"] == pytest.approx(5000.0 * r.pue[2])
        assert row["emissions_kg"] == pytest.approx(row["facility_energy_kwh"] * row["intensity_g_per_kwh"] / 1000)
        assert row["emissions_low_kg"] <= row["emissions_kg"] <= row["emissions_high_kg"]
        water = 5000.0 * r.wue_onsite_l_per_kwh[1] + row["facility_energy_kwh"] * r.ewif_l_per_kwh[1]
        assert row["water_l"] == pytest.approx(water)
        assert row["water_low_l"] <= row["water_l"] <= row["water_high_l"]
        if r.price_usd_per_kwh is None:
            assert math.isnan(row["cost_usd"])
        else:
            assert row["cost_usd"] == pytest.approx(row["facility_energy_kwh"] * row["price_usd_per_kwh"])


def test_cloud_region_uses_its_operators_pue():
    p = planning.compare(1000.0, ["gcp:us-central1", "aws:us-east-1", "us-va"], hours=10)
    t = p.table.set_index("region")
    assert t.loc["gcp:us-central1", "pue"] == data.region("gcp:us-central1").pue[1] < t.loc["us-va", "pue"]
    assert t.loc["aws:us-east-1", "pue"] == data.region("aws:us-east-1").pue[1]


def test_flat_regions_use_the_annual_intensity_and_profiled_regions_the_best_window(plan):
    assert _row(plan, "se")["intensity_g_per_kwh"] == pytest.approx(data.region("se").intensity_g_per_kwh)
    ca = _row(plan, "us-ca")
    assert ca["intensity_g_per_kwh"] == pytest.approx(grid.mean_intensity("us-ca", ca["best_start_local_iso"], 30))
    assert ca["intensity_g_per_kwh"] < ca["annual_intensity_g_per_kwh"] * 1.05
    assert ca["timing_saving_kg"] > 0 and _row(plan, "se")["timing_saving_kg"] == pytest.approx(0, abs=1e-9)


def test_pue_override_applies_to_every_region():
    p = planning.compare(1000.0, ["se", "gcp:us-central1"], hours=5, pue=1.0)
    assert (p.table["facility_energy_kwh"] == 1000.0).all()
    assert p.assumptions["pue"].overridden


def test_job_from_a_training_estimate():
    est = training.estimate_training(params=1e9, tokens=2e10, accelerator="h100-sxm", count=8, region="us-va")
    j = planning.job_from_training(est)
    assert j.it_energy_kwh == pytest.approx(est.central["it_energy_kwh"])
    assert j.hours == pytest.approx(est.central["wall_clock_hours"])
    assert j.it_energy_bounds_kwh[0] <= j.it_energy_kwh <= j.it_energy_bounds_kwh[2]
    p = planning.compare(est, ["se", "us-va"])
    va = p.table.set_index("region").loc["us-va"]
    # same IT energy and PUE as the estimate; emissions differ only by the chosen start window
    assert va["facility_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"])
    assert va["emissions_low_kg"] <= va["emissions_kg"] <= va["emissions_high_kg"]
    with pytest.raises(InputError):
        planning.compare(5000.0, ["se"])  # energy without hours


# --------------------------------------------------------------------------- ranking

def test_ranked_by_emissions_allowed_first(plan):
    ok = plan.allowed
    assert list(ok["rank"]) == list(range(1, len(ok) + 1))
    assert ok["emissions_kg"].is_monotonic_increasing
    assert plan.best["region"] == "se"


def test_cost_objective_ranks_regions_without_price_last():
    p = planning.compare(5000.0, REGIONS, hours=30, objective="cost")
    priced = p.table[p.table["cost_usd"].notna()]
    assert priced["cost_usd"].is_monotonic_increasing
    assert p.table["cost_usd"].isna().to_numpy()[len(priced):].all()


def test_weighted_objective_defaults_to_the_eu_ets_price():
    p = planning.compare(5000.0, ["se", "us-va", "us-ca"], hours=30, objective="weighted")
    eu = costs.carbon_price("EU ETS").central
    assert p.internal_carbon_price_usd_per_t == pytest.approx(eu)
    t = p.table
    assert t["objective_value"].to_numpy() == pytest.approx((t["cost_usd"] + t["emissions_kg"] / 1000 * eu).to_numpy())
    assert t["objective_value"].is_monotonic_increasing
    p2 = planning.compare(5000.0, ["se", "us-va"], hours=30, objective="weighted", internal_carbon_price_usd_per_t=0)
    assert p2.table["objective_value"].to_numpy() == pytest.approx(p2.table["cost_usd"].to_numpy())
    with pytest.raises(InputError):
        planning.compare(5000.0, ["se"], hours=30, internal_carbon_price_usd_per_t=50)


# --------------------------------------------------------------------------- data residency

def test_residency_filters_by_iso3_and_bloc():
    assert list(planning.residency_allows(REGIONS, "EU")) == [False, False, True, True, False, False]
    assert list(planning.residency_allows(REGIONS, ["usa"])) == [True, True, False, False, False, False]
    assert list(planning.residency_allows(REGIONS, "US,GBR")) == [True, True, False, False, False, True]
    assert list(planning.residency_allows(REGIONS, "EEA, SGP")) == [False, False, True, True, True, False]
    assert planning.residency_allows(REGIONS, None).all() and planning.residency_allows(REGIONS, "").all()


def test_no_allowed_region_is_a_clear_error():
    with pytest.raises(InputError) as e:
        planning.compare(5000.0, ["us-va", "sg"], hours=30, residency="EU")
    msg = str(e.value)
    assert e.value.parameter == "residency"
    assert "EU" in msg and "us-va is in US, USA" in msg and "sg is in SGP" in msg
    assert "se" in msg  # names regions that would qualify


def test_unknown_jurisdiction_lists_close_matches():
    with pytest.raises(UnknownJurisdictionError) as e:
        planning.parse_residency("EUU")
    assert "EU" in e.value.close_matches and e.value.parameter == "residency"


def test_constraint_cost_is_best_allowed_minus_best_overall():
    p = planning.compare(5000.0, REGIONS, hours=30, team_tz=NY, residency="USA")
    c = p.constraint
    t = p.table.set_index("region")
    assert c["binding"] and c["best_overall"] == "se" and c["best_allowed"] == "us-ca"
    assert set(c["removed"]) == {"se", "de", "sg", "gb"}
    assert c["extra_emissions_kg"] == pytest.approx(t.loc["us-ca", "emissions_kg"] - t.loc["se", "emissions_kg"])
    assert c["extra_cost_usd"] == pytest.approx(t.loc["us-ca", "cost_usd"] - t.loc["se", "cost_usd"])
    assert c["extra_emissions_kg"] > 0
    assert t.loc["se", "allowed"] == False and pd.isna(t.loc["se", "rank"])  # noqa: E712
    text = planner.residency_md(p)
    assert "costs" in text and "California (CAISO) instead of Sweden" in text


def test_constraint_that_keeps_the_best_region_costs_nothing():
    p = planning.compare(5000.0, REGIONS, hours=30, residency="EU,USA")
    assert not p.constraint["binding"] and p.constraint["extra_emissions_kg"] == 0
    assert "costs nothing" in planner.residency_md(p)


# --------------------------------------------------------------------------- carbon price line

def test_carbon_line_only_where_a_scheme_applies(plan):
    t = plan.table.set_index("region")
    for rid in REGIONS:
        scheme = data.region(rid).carbon_price_scheme
        if scheme:
            price = costs.carbon_price(scheme).central
            assert t.loc[rid, "carbon_cost_usd"] == pytest.approx(t.loc[rid, "emissions_kg"] / 1000 * price)
        else:
            assert pd.isna(t.loc[rid, "carbon_cost_usd"]) and pd.isna(t.loc[rid, "carbon_price_scheme"])
    assert {r for r in REGIONS if pd.notna(t.loc[r, "carbon_cost_usd"])} == {"us-ca", "se", "de", "gb"}
    assert planning.carbon_line("us-va", 1000.0) is None and planning.carbon_line("sg", 1000.0) is None
    line = planning.carbon_line("de", 1000.0)
    assert line["scheme"] == "EU ETS" and line["carbon_cost_usd"] == pytest.approx(costs.carbon_price("EU ETS").central)
    assert line["label"] == "internal carbon cost" and "already embedded in wholesale power prices" in line["note"]
    # the electricity cost does not include the carbon line (it would double count)
    assert t.loc["de", "cost_usd"] == pytest.approx(t.loc["de", "facility_energy_kwh"] * t.loc["de", "price_usd_per_kwh"])
    d = plan.to_dict()
    lines = {r["region"]: r["carbon_line"] for r in d["regions"] + d["excluded"]}
    assert lines["us-va"] is None and lines["sg"] is None and lines["gb"]["scheme"] == "UK ETS"
    assert set(planner.carbon_table(plan).frame["Region"]) == {data.region(r).name for r in ("us-ca", "se", "de", "gb")}


def test_no_carbon_line_text_when_no_scheme_applies():
    p = planning.compare(100.0, ["us-va", "sg"], hours=5)
    assert "no carbon line" in planner.carbon_md(p)


# --------------------------------------------------------------------------- start times, heatmap, timing value

def test_start_choices_in_local_and_team_clock(plan):
    c = plan.start_choices.set_index("region")
    ca = c.loc["us-ca"]
    loc = schedule.convert(ca["cleanest_start_local"][:16], NY, "America/Los_Angeles")
    assert loc.strftime("%Y-%m-%d %H:%M") == ca["cleanest_start_team"][:16]
    assert not c.loc["se", "intensity_varies"] and c.loc["us-ca", "intensity_varies"]
    tab = planner.start_times_table(plan).frame.set_index("Region")
    assert tab.loc["Sweden", "Cleanest start (local)"] == "any hour (no hourly data)"
    assert tab.loc["California (CAISO)", "Cleanest start (local)"] == ca["cleanest_start_local"]


def test_heatmap_frame_in_team_clock():
    h = planning.heatmap_frame(["us-ca", "se", "us-va"], team_tz=NY, month=7)
    assert h.shape == (3, 24) and list(h.index) == ["us-ca", "se", "us-va"]
    assert np.ptp(h.loc["se"]) == 0 and np.ptp(h.loc["us-ca"]) > 0
    assert "Flat rows (se)" in planner.heatmap_md(h)
    plan = planning.compare(100.0, ["us-ca", "se"], hours=5, team_tz=NY)
    rel = planning.plan_heatmap(plan, relative=True)
    assert rel.mean(axis=1).to_numpy() == pytest.approx([1.0, 1.0]) and (rel.loc["se"] == 1.0).all()
    p = planning.heatmap_frame(["us-ca"], value="price", team_tz=NY, month=4)
    assert p.loc["us-ca"].min() == pytest.approx(0.064)


def test_timing_value_matches_the_profile_windows():
    tv = planning.timing_value(["us-ca", "se"], [1, 24, 30, 72], month=7)
    flat = tv[tv["region"] == "se"]
    assert (~flat["hourly_profile"]).all() and (flat["saving_vs_mean_pct"] == 0).all()
    tv = tv[tv["region"] == "us-ca"]
    prof = grid.hourly_intensity("us-ca", 7)
    for _, row in tv.iterrows():
        m = schedule.profile_window_means(prof, row["duration_h"])
        assert row["saving_vs_mean_pct"] == pytest.approx(100 * (m.mean() - m.min()) / m.mean(), abs=1e-7)
    by_d = tv.set_index("duration_h")["saving_vs_mean_pct"]
    assert by_d[24] == 0 and by_d[72] == 0 and by_d[1] > by_d[30] > 0
    wide = planning.timing_value_wide(planning.timing_value(["us-ca", "se"], [1, 24, 30], month=7))
    assert list(wide.columns) == ["us-ca"] and list(wide.index) == [1, 24, 30]
    only_flat = planning.timing_value_wide(planning.timing_value(["se"], [1, 30], month=7))
    assert list(only_flat.columns) == ["se (no hourly data)"] and (only_flat.to_numpy() == 0).all()
    text = planner.timing_value_md(planning.timing_value(["us-ca", "se"], [1, 24, 30], month=7), 30)
    assert f"{by_d[1]:.3g}%" in text and "6 h of it" in text


# --------------------------------------------------------------------------- prose, parameters, metrics

def test_prose_follows_the_result():
    a = planning.compare(5000.0, ["se", "us-va"], hours=30, team_tz=NY)
    b = planning.compare(5000.0, ["us-ca", "us-va"], hours=30, team_tz=NY)
    assert "**Sweden**" in planner.summary_md(a) and "any start time is equal" in planner.summary_md(a)
    assert "**California (CAISO)**" in planner.summary_md(b)
    assert _row(b, "us-ca")["best_start_team"] in planner.summary_md(b)
    assert "6 h" in planner.timing_md(b)  # 30 h = 1 day + 6 h
    head, tiles = planner.finding(b)
    assert head.startswith("Of 2 allowed regions, California (CAISO) emits least") and "us-ca" not in head
    assert tiles[1] == ("Start", f"{_row(b, 'us-ca')['best_start_local']} local",
                        f"{_row(b, 'us-ca')['best_start_team']} ({NY})")
    head, tiles = planner.finding(a)
    assert "at any hour" in head and tiles[1][1] == "any hour"


def test_check_parameters_rejects_unknown_names_and_bad_values():
    d = notebook_defaults.defaults(planner.NOTEBOOK)
    with pytest.raises(InputError) as e:
        planner.check(**d, regoins=["se"])
    assert e.value.parameter == "regoins"
    with pytest.raises(InputError):
        planner.check(**{**d, "hours": -1})
    with pytest.raises(InputError):
        planner.check(**{**d, "regions": ["us-va"], "residency": ["EU"]})
    with pytest.raises(UnknownNameError):
        planner.check(**{**d, "regions": ["swedn"]})
    p = planner.check(**{**d, "regions": "se,us-va", "residency": "eu", "team_tz": "europe/berlin"})
    assert p["regions"] == ["se", "us-va"] and p["residency"] == ["EU"] and p["team_tz"] == "Europe/Berlin"


def test_metrics_follow_the_site_convention_and_are_deterministic():
    params = {"regions": ["us-va", "us-ca", "se"], "residency": ["USA"], "hours": 30.0}
    m1, m2 = planner.metrics_for(params), planner.metrics_for(params)
    assert m1 == m2 and validate_metrics(m1) == []
    assert m1["best_region"] == "us-ca" and m1["constraint_binding"] is True
    assert m1["constraint_extra_emissions_kg"] > 0 and "California (CAISO)" in m1["finding"]


def test_json_dict_has_ranked_regions_and_start_times(plan):
    d = plan.to_dict()
    assert [r["rank"] for r in d["regions"]] == list(range(1, len(d["regions"]) + 1))
    for r in d["regions"]:
        assert r["best_start_local"] and r["best_start_team"].endswith(("EDT", "EST"))


@settings(max_examples=8)
@given(st.floats(min_value=1.0, max_value=1e6), st.floats(min_value=1.0, max_value=200.0))
def test_emissions_scale_with_energy_and_ranking_does_not(energy_kwh, hours):
    a = planning.compare(energy_kwh, ["us-va", "us-ca", "se"], hours=hours)
    b = planning.compare(2 * energy_kwh, ["us-va", "us-ca", "se"], hours=hours)
    assert list(a.table["region"]) == list(b.table["region"])
    assert b.table["emissions_kg"].to_numpy() == pytest.approx(2 * a.table["emissions_kg"].to_numpy())
    assert list(a.table["best_start_local"]) == list(b.table["best_start_local"])
