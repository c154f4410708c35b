"""Training model: first principles, bounds, vectorized twin, published runs."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownAcceleratorError
from joulebook.models.training import OUTPUT_KEYS, estimate_training, estimate_training_frame, training_flops

BASE = dict(params=7e9, tokens=2e11, accelerator="h100-sxm", count=64, region="us-va")


def test_flops_is_6nd_plus_attention():
    assert training_flops(1e9, 1e12) == 6e21
    # our H100 probe: flops_per_token = 6 N + 6 L s d = 2,364,370,944
    assert training_flops(368_896_000, 1, layers=24, hidden=1024, seq_len=1024) == 2_364_370_944
    assert training_flops(1e9, 1e12, recompute=True) == pytest.approx(8e21)


def test_reproduces_measured_h100_train_step():
    """bf16 GPT step on our H100: 0.06129 s and 6914.522 J / 164 steps = 42.16 J (accelerator only)."""
    e = estimate_training(params=368_896_000, steps=164, batch=8, seq_len=1024, layers=24, hidden=1024,
                          accelerator="h100", precision="bf16", node_power_w=0, pue=1)
    assert e.central["step_time_s"] == pytest.approx(0.06129, rel=0.01)
    assert e.central["energy_per_step_j"] == pytest.approx(6914.522 / 164, rel=0.02)


def test_energy_grows_with_tokens_and_count_scales_wall_clock():
    a = estimate_training(**BASE)
    b = estimate_training(**{**BASE, "tokens": 4e11})
    assert b.central["facility_energy_kwh"] == pytest.approx(2 * a.central["facility_energy_kwh"])
    c = estimate_training(**{**BASE, "count": 128})
    assert c.central["wall_clock_hours"] == pytest.approx(a.central["wall_clock_hours"] / 2)
    assert c.central["peak_power_kw"] == pytest.approx(2 * a.central["peak_power_kw"])


def test_pue_scales_facility_energy_only():
    a = estimate_training(**BASE, pue=1.1)
    b = estimate_training(**BASE, pue=1.5)
    assert b.central["it_energy_kwh"] == pytest.approx(a.central["it_energy_kwh"])
    assert b.central["facility_energy_kwh"] / a.central["facility_energy_kwh"] == pytest.approx(1.5 / 1.1)
    assert b.central["emissions_kg"] / a.central["emissions_kg"] == pytest.approx(1.5 / 1.1)


def test_unit_conversions():
    e = estimate_training(**BASE)
    c = e.central
    assert c["facility_energy_kwh"] * data.region("us-va").intensity_g_per_kwh / 1000 == pytest.approx(c["emissions_kg"])
    assert c["accelerator_hours"] / 64 == pytest.approx(c["wall_clock_hours"])
    assert c["accelerator_energy_kwh"] == pytest.approx(c["accelerator_hours"] * c["accelerator_power_w"] / 1000)
    assert c["electricity_cost_usd"] == pytest.approx(c["facility_energy_kwh"] * 0.0892)


def test_power_is_load_dependent_not_tdp():
    e = estimate_training(**BASE)
    acc = data.accelerator("h100")
    # a dense bf16 job sits at the cap (our probe: 688 W of 700); a less loaded one draws less
    assert acc.idle_w < e.central["accelerator_power_w"] <= acc.tdp_w
    light = estimate_training(**{**BASE, "mfu": 0.1})
    assert acc.idle_w < light.central["accelerator_power_w"] < e.central["accelerator_power_w"]


def test_low_le_central_le_high_for_every_output():
    e = estimate_training(**BASE)
    for k in OUTPUT_KEYS:
        if e.central[k] is None:
            continue
        assert e.low[k] <= e.central[k] * (1 + 1e-12) and e.central[k] <= e.high[k] * (1 + 1e-12), k


@given(params=st.floats(1e6, 1e12), tokens=st.floats(1e6, 1e14), count=st.integers(1, 4096),
       acc=st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "h200-sxm", "l40s", "l4"]),
       region=st.sampled_from(["us-va", "us-ca", "de", "se", "sg", "in", "gcp:us-central1", "aws:us-east-1"]))
def test_property_bounds_and_monotonic_in_tokens(params, tokens, count, acc, region):
    df = pd.DataFrame({"params": [params, params], "tokens": [tokens, tokens * 2], "count": [count, count],
                       "accelerator": [acc, acc], "region": [region, region]})
    out = estimate_training_frame(df)
    for k in ("facility_energy_kwh", "emissions_kg", "water_l", "accelerator_hours", "embodied_emissions_kg"):
        assert (out[f"{k}_low"] <= out[k] * (1 + 1e-9)).all() and (out[k] <= out[f"{k}_high"] * (1 + 1e-9)).all()
        assert out[k].iloc[1] > out[k].iloc[0]


def test_vectorized_equals_scalar():
    rows = [dict(params=1e9, tokens=1e11, accelerator="a100", count=8, region="se"),
            dict(params=7e9, tokens=2e12, accelerator="h100", count=512, region="gcp:us-central1", precision="fp8"),
            dict(params=13e9, tokens=3e11, accelerator="h200", count=64, region="de", mfu=0.45, pue=1.2)]
    out = estimate_training_frame(pd.DataFrame(rows))
    for i, r in enumerate(rows):
        e = estimate_training(**r)
        for k in OUTPUT_KEYS:
            v = out[k].iloc[i]
            if e.central[k] is None:
                assert math.isnan(v)
            else:
                assert v == pytest.approx(e.central[k]), k


def test_tokens_from_steps_or_epochs():
    a = estimate_training(**{**BASE, "tokens": 8 * 1024 * 1000})
    b = estimate_training(**{k: v for k, v in BASE.items() if k != "tokens"}, steps=1000, batch=8, seq_len=1024)
    c = estimate_training(**{k: v for k, v in BASE.items() if k != "tokens"}, epochs=2, dataset_tokens=4 * 1024 * 1000)
    assert a.central["facility_energy_kwh"] == pytest.approx(b.central["facility_energy_kwh"])
    assert a.central["facility_energy_kwh"] == pytest.approx(c.central["facility_energy_kwh"])
    assert c.central["energy_per_epoch_kwh"] == pytest.approx(c.central["facility_energy_kwh"] / 2)
    assert b.central["steps"] == 1000


@pytest.mark.parametrize("bad,param", [
    (dict(params=-1), "params"), (dict(params=float("nan")), "params"), (dict(count=0), "count"),
    (dict(mfu=1.5), "mfu"), (dict(pue=0.9), "pue"), (dict(count=2.5), "count"), (dict(params="7e9W"), "params"),
    (dict(steps=10, batch=2, seq_len=3), "tokens"),
])
def test_bad_input_names_the_parameter(bad, param):
    with pytest.raises(InputError) as e:
        estimate_training(**{**BASE, **bad})
    assert e.value.parameter == param


def test_unknown_accelerator():
    with pytest.raises(UnknownAcceleratorError):
        estimate_training(**{**BASE, "accelerator": "h1000"})


def test_overrides_are_marked_in_assumptions():
    e = estimate_training(**BASE, mfu=0.5, pue=1.2)
    assert e.assumptions["mfu"].overridden and e.assumptions["mfu"].value == 0.5
    assert e.assumptions["pue"].overridden
    assert not e.assumptions["intensity_g_per_kwh"].overridden
    assert e.assumptions["intensity_g_per_kwh"].source == "dcrl_eia930_2022"


def test_start_time_uses_the_hourly_profile():
    night = estimate_training(**{**BASE, "region": "us-ca", "count": 4096, "tokens": 2e10}, start="2026-07-01T00:00")
    noon = estimate_training(**{**BASE, "region": "us-ca", "count": 4096, "tokens": 2e10}, start="2026-07-01T11:00")
    assert night.central["wall_clock_hours"] < 3
    assert noon.central["emissions_kg"] < night.central["emissions_kg"]  # solar hours in CAISO
    assert night.central["facility_energy_kwh"] == pytest.approx(noon.central["facility_energy_kwh"])


def test_embodied_reproduces_bloom():
    """BLOOM: 1,082,990 A100-hours at 3,700 kg per 8-GPU node over 6 years at 85 % -> 11.2 t."""
    e = estimate_training(accelerator_hours=1_082_990, accelerator="a100-sxm4-80gb", region="fr")
    assert e.central["embodied_emissions_kg"] / 1000 == pytest.approx(11.2, rel=0.02)


def test_no_price_gives_none_not_zero():
    e = estimate_training(**{**BASE, "region": "sg"})
    assert e.central["electricity_cost_usd"] is None
    assert e.central["emissions_kg"] > 0


def test_json_contract_keys():
    d = estimate_training(**BASE).to_dict()
    for k in ("flops", "accelerator_hours", "wall_clock_hours", "it_energy_kwh", "facility_energy_kwh", "peak_power_kw",
              "emissions_kg", "embodied_emissions_kg", "water_l", "electricity_cost_usd", "cloud_cost_usd", "low", "high",
              "assumptions"):
        assert k in d
    assert set(d["low"]) == set(d["high"]) == set(OUTPUT_KEYS)


def test_vectorized_rejects_bad_rows_with_the_parameter():
    df = pd.DataFrame({"params": [1e9, -1], "tokens": [1e10, 1e10]})
    with pytest.raises(InputError) as e:
        estimate_training_frame(df)
    assert e.value.parameter == "params"
    assert np.isnan(estimate_training_frame(pd.DataFrame({"params": [1e9], "tokens": [1e9]}))["emissions_kg"].iloc[0])


def test_scaling_efficiency_costs_accelerator_hours():
    a = estimate_training(**BASE)
    b = estimate_training(**BASE, scaling_efficiency=0.8)
    assert b.central["accelerator_hours"] == pytest.approx(a.central["accelerator_hours"] / 0.8)
    assert b.assumptions["scaling_efficiency"].overridden
    with pytest.raises(InputError) as e:
        estimate_training(**BASE, scaling_efficiency=1.2)
    assert e.value.parameter == "scaling_efficiency"


# --------------------------------------------------------------------------- the training page (issue 11)

_PAGE = dict(params=1.25e8, epochs=1, dataset_tokens=2e9, layers=12, hidden=768, seq_len=1024, batch=64, count=8,
             accelerator="h100-sxm", precision="bf16")


def _page(**kw):
    from joulebook.stories import training as ts

    run = ts.check(**{**_PAGE, **kw})
    return (run, *ts.compute(run))


def test_when_section_says_which_regions_have_hourly_profiles():
    from joulebook.stories import training as ts

    hourly = [r.name for r in data.regions().values() if r.hourly_zone and r.kind != "cloud"]
    assert ts.hourly_regions() == hourly and "Sweden" not in hourly and "Virginia (PJM)" in hourly
    run, est, regions, accels, hours = _page(region="se", comparison_regions=["us-ca", "de"])
    text = ts.when_text(run, regions, hours, est.central["wall_clock_hours"])
    assert "Sweden and Germany have none" in text and all(n in text for n in hourly)
    assert "shows California (CAISO) from the comparison regions instead" in text
    assert "Flat tariff in Sweden" in text
    assert set(hours["name"]) == {"California (CAISO)"}  # only regions with a profile or a tariff
    # California's tariff has no published hourly rate here: its cost is flat, so there is no cost panel at all
    assert ts.cost_by_start_hour(hours).empty and "no cost chart is drawn" in text
    assert list(ts.emissions_by_start_hour(hours).columns) == ["California (CAISO)"]
    # Singapore: no profile and no price, said in words
    run, est, regions, accels, hours = _page(region="sg", comparison_regions=["se"])
    text = ts.when_text(run, regions, hours, est.central["wall_clock_hours"])
    assert "Singapore and Sweden have none" in text and "no electricity price" in text
    assert hours.empty and "no start-hour chart is drawn" in text
    assert ts.finding(run, est, regions, hours)[0].endswith("(no hourly intensity profile for Singapore).")
    run, est, regions, accels, hours = _page(region="us-ca", comparison_regions=["se"])
    text = ts.when_text(run, regions, hours, est.central["wall_clock_hours"])
    assert "California (CAISO) has none" not in text and "Sweden has none" in text
    assert "saves" in ts.finding(run, est, regions, hours)[0]


def test_region_table_marks_substituted_values_with_names_not_ids():
    from joulebook.stories import training as ts
    from joulebook.stories.region_comparison import substitutions

    run, est, regions, accels, hours = _page(region="se", comparison_regions=["de", "gcp:us-central1"])
    flags = substitutions(["se", "de", "gcp:us-central1"]).set_index("region")
    assert flags.loc["de", "price_substituted"] and not flags.loc["se", "price_substituted"]
    table = ts.regions_table(run, regions)
    shown = table.frame.set_index("Region")
    marks = table.marks.set_index(table.frame["Region"])
    assert list(shown.index) == ["Sweden", "Germany", "Google Cloud us-central1 (Iowa)"]  # names, not ids
    assert marks.loc["Germany", "Electricity price (USD/kWh)"] and not marks.loc["Sweden", "Electricity price (USD/kWh)"]
    assert "European Union (27) average" in shown.loc["Germany", "Substituted values"]
    for rid, name in (("se", "Sweden"), ("de", "Germany"), ("gcp:us-central1", "Google Cloud us-central1 (Iowa)")):
        assert marks.loc[name, "PUE"] == bool(flags.loc[rid, "pue_substituted"])  # industry-default PUE marked
    assert marks["Water (L)"].all()  # the US-average water of electricity stands in for all three
    note = " ".join(table.notes)
    assert "Germany (European Union (27) average)" in note and "industry default" in note and "US average" in note
    html = table.to_html()
    assert ">de<" not in html and ">se<" not in html
    for bad in (">None<", ">nan<", ">null<", ">n/a<", "&lt;NA&gt;"):
        assert bad not in html
    # a PUE the user gives is an override, not a substitute
    run, est, regions, accels, hours = _page(region="se", comparison_regions=["de"], pue=1.2)
    assert not ts.regions_table(run, regions).marks["PUE"].any()
    assert "PUE" not in " ".join(regions["substituted"])


def test_cloud_rental_is_compared_like_for_like():
    from joulebook.stories import training as ts

    prices = ts.like_for_like_prices(["a100-sxm4-80gb", "h100-sxm", "l4"])
    priced = prices.dropna(subset=["usd_per_gpu_hour"])
    assert priced["provider"].nunique() == 1  # one provider, one basis
    raw = data.table("cloud_gpu_prices")
    for r in priced.itertuples(index=False):
        row = raw[(raw["provider"] == r.provider) & (raw["instance"] == r.instance) &
                  (raw["price_date"].astype(str) == r.price_date)]
        assert len(row) == 1 and "billed separately" not in row["instance"].iloc[0]
        assert row["usd_per_gpu_hour"].iloc[0] == pytest.approx(r.usd_per_gpu_hour)
    assert math.isnan(prices.set_index("accelerator").loc["l4", "usd_per_gpu_hour"])  # no such row: missing, not 0
    run, est, regions, accels, hours = _page(accelerator="a100-sxm4-80gb", region="us-va")
    basis = ts.rental_basis(accels)
    assert "whole instance" in basis and basis in " ".join(ts.accelerators_table(run, accels).frame.columns)
    # the A100's default price mixes a GPU-only SKU with whole instances: the money text says it is not like for like
    assert (ts.headline_price_rows(run)["basis"].nunique() > 1) and "not like for like" in ts.money_text(run, est)


def test_finding_has_five_tiles_with_ranges_and_matches_metrics():
    from joulebook.stories import training as ts

    run, est, regions, accels, hours = _page(region="se", comparison_regions=["us-va", "in"])
    head, tiles = ts.finding(run, est, regions, hours)
    assert [t[0] for t in tiles] == ["Facility energy", "Emissions (location-based)", "Cloud rental", "Water",
                                     "Wall clock"]
    assert all(t[2].startswith("range ") for t in tiles)
    assert "Sweden" in head and "NVIDIA H100 SXM5" in head and " se " not in head and "h100-sxm" not in head
    assert fmt.quantity(est.central["facility_energy_kwh"], "kWh") in head
    m = ts.metrics(run, est, regions, accels, hours)
    assert m["finding"] == head and m == ts.metrics_for({**_PAGE, "region": "se", "comparison_regions": ["us-va", "in"]})


def test_training_page_order_finding_first_provenance_last_and_figures_with_alt_text():
    from pathlib import Path

    import nbformat

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "10_training_energy.ipynb"
    cells = nbformat.read(str(nb), as_version=4).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    assert "story.check(" in code[1] and "report.finding(" in code[2]  # parameters, check, then the finding
    tagged = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    assert tagged and tagged == list(range(tagged[0], len(cells) - 1))  # one block at the end, before the metrics
    assert "report.write_metrics(" in cells[-1].source
    for c in code:  # every figure through figures.show with a description; no drawing inside the library
        assert "plots.show(" not in c and "ts.show(" not in c
        if ".plot" in c or "plots.figure(" in c:
            assert "figures.show(" in c and "alt=story." in c
