"""joulebook.models.roi: break-even arithmetic, the rack/burst optimiser, switching, configuration ranking, CLI."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joulebook import data
from joulebook.cli import main
from joulebook.core.errors import InputError, UnknownAcceleratorError
from joulebook.models import costs, hardware, roi, training
from joulebook.stories import hardware_roi, notebook_defaults


def _training_busy_w(acc):
    """Busy power straight from the fitted power model at the accelerator's default training MFU (bf16)."""
    idle = hardware.idle_power_w(acc)[0]
    mfu = data.efficiency(acc.accelerator_id, "bf16", "train")[1]
    c = hardware.power_coefficients(acc)
    raw = idle + (acc.tdp_w - idle) * (c["compute_power_fraction"] * mfu
                                       + c["memory_power_fraction"] * c["training_memory_utilisation"])
    return min(acc.tdp_w, max(idle, raw))

# --------------------------------------------------------------------------- break-even by hand


@pytest.mark.parametrize("switch, before, after, month, exact", [
    (1000.0, 300.0, 100.0, 5, 5.0),        # 200 saved a month: exactly 5 months
    (1000.0, 400.0, 100.0, 4, 1000 / 300),  # 3.33 months: paid back at the end of month 4
    (600.0, 700.0, 100.0, 1, 1.0),
    (0.0, 100.0, 100.0, 0, 0.0),            # nothing to recover
    (-50.0, 100.0, 90.0, 0, 0.0),           # resale exceeds the purchase
])
def test_break_even_hand_cases(switch, before, after, month, exact):
    be = roi.break_even(switch, before, after)
    assert be.month == month
    assert be.months_exact == pytest.approx(exact)
    assert be.savings_usd_per_month == pytest.approx(before - after)
    curve = roi.cumulative_costs(switch, before, after, 12)
    paid = curve[curve["switch_usd"] <= curve["stay_usd"] + 1e-9]["month"]
    assert int(paid.iloc[0]) == month


@pytest.mark.parametrize("before, after, fragment", [
    (100.0, 100.0, "does not lower the monthly cost"),
    (100.0, 150.0, "does not lower the monthly cost"),
])
def test_never_breaks_even_gives_none_and_a_reason(before, after, fragment):
    be = roi.break_even(5000.0, before, after)
    assert be.month is None and be.months_exact is None
    assert fragment in be.reason and "5,000" in be.reason


def test_vanishing_savings_never_break_even():
    be = roi.break_even(1.0, 1e-300, 0.0)
    assert be.month is None and "too small" in be.reason
    assert math.isnan(roi.break_even_months(1.0, 1e-300, 0.0))


def test_beyond_the_horizon_is_never_with_the_month_it_would_take():
    be = roi.break_even(1000.0, 20.0, 10.0, horizon_months=48)
    assert be.month is None
    assert be.months_exact == pytest.approx(100.0)
    assert "month 100" in be.reason and "48-month horizon" in be.reason
    assert roi.break_even(1000.0, 20.0, 10.0, horizon_months=100).month == 100


def test_negative_switch_with_higher_running_cost_never_breaks_even_and_says_when_the_lead_ends():
    be = roi.break_even(-100.0, 10.0, 30.0)  # issue 12: a switch that costs more every month never pays back
    assert be.month is None and "never" in be.reason and "used up after 5 months" in be.reason


@pytest.mark.parametrize("args, parameter", [
    ((float("nan"), 1.0, 1.0), "switch_cost_usd"),
    ((1.0, -1.0, 1.0), "monthly_cost_before_usd"),
    ((1.0, 1.0, float("inf")), "monthly_cost_after_usd"),
    ((1.0, 1.0, "3 USD"), "monthly_cost_after_usd"),
])
def test_break_even_bad_input_is_named(args, parameter):
    with pytest.raises(InputError) as e:
        roi.break_even(*args)
    assert e.value.parameter == parameter
    with pytest.raises(InputError) as e:
        roi.break_even(1.0, 2.0, 1.0, horizon_months=0)
    assert e.value.parameter == "horizon_months"


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1e7), st.floats(0, 1e6), st.floats(0, 1e6))
def test_break_even_vectorized_matches_scalar_and_curves(switch, before, after):
    be = roi.break_even(switch, before, after)
    vec = roi.break_even_months(np.array([switch]), np.array([before]), np.array([after]))[0]
    if be.month is None:
        assert before - after < 0 or (switch > 0 and (before - after <= 0 or switch / (before - after) > 1e12))
        assert math.isnan(vec)
    else:
        assert vec == be.month
        m = be.month
        assert switch + m * after <= m * before + 1e-6 * max(1.0, switch)
        if m > 0:  # one month earlier it had not paid back yet
            assert switch + (m - 1) * after > (m - 1) * before - 1e-6 * max(1.0, switch)


# --------------------------------------------------------------------------- rack vs burst


def _brute_force(demand, counts, period_h, fixed, busy, idle, node, pue, tariff, rent):
    totals = []
    for k in counts:
        fixed_cost = k * fixed * len(demand) * period_h / 8760.0
        kwh, cloud = 0.0, 0.0
        for d in demand:
            own = min(d, k)
            kwh += period_h * (own * busy + (k - own) * idle + k * node) * pue / 1000.0
            cloud += period_h * max(d - k, 0.0) * rent
        totals.append(fixed_cost + kwh * tariff + cloud)
    return np.array(totals)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 40, allow_nan=False), min_size=1, max_size=60),
       st.floats(100, 50000), st.floats(0.1, 20), st.floats(0.01, 0.4))
def test_mix_optimiser_matches_brute_force(demand, fixed, rent, tariff):
    counts = np.arange(0, int(math.ceil(max(demand))) + 2)
    kw = dict(period_hours=24.0, fixed_usd_per_accelerator_year=fixed, busy_w=690.0, idle_w=120.0, node_w=280.0,
              pue=1.3, tariff_usd_per_kwh=tariff, cloud_usd_per_hour=rent)
    frame = roi.mix_costs(np.array(demand), counts, **kw)
    brute = _brute_force(demand, counts, 24.0, fixed, 690.0, 120.0, 280.0, 1.3, tariff, rent)
    np.testing.assert_allclose(frame["total_usd"].to_numpy(), brute, rtol=1e-9, atol=1e-6)
    assert int(np.argmin(frame["total_usd"])) == int(np.argmin(brute))


def test_burst_mix_extremes_and_threshold():
    demand = roi.demand_profile(baseline_accelerators=4, peak_accelerators=12, peak_days_per_year=20,
                                resolution="daily")
    cheap_cloud = roi.burst_mix(demand, cloud_price_usd_per_gpu_hour=0.01)
    assert cheap_cloud.best_count == 0 and cheap_cloud.best_total_usd == pytest.approx(cheap_cloud.all_cloud_usd)
    dear_cloud = roi.burst_mix(demand, cloud_price_usd_per_gpu_hour=1000.0)
    assert dear_cloud.best_count == 12 and dear_cloud.best_total_usd == pytest.approx(dear_cloud.all_owned_usd)
    mid = roi.burst_mix(demand)  # H100 at the data set's prices in us-va
    # 20 peak days = 480 h a year, below the hours an owned accelerator needs to pay for itself
    assert mid.owned_break_even_hours > 480
    assert mid.best_count == 4
    assert mid.best_total_usd <= min(mid.all_cloud_usd, mid.all_owned_usd)
    assert len(mid.frame) == 13 and mid.period_hours == 24.0


def test_burst_mix_energy_uses_the_power_model():
    acc = data.accelerator("h100-sxm")
    d = np.full(365, 2.0)
    m = roi.burst_mix(d, counts=[3], price_usd_per_kwh=0.1, region="us-va")
    idle = hardware.idle_power_w(acc)[0]
    busy = _training_busy_w(acc)
    node = hardware.node_power_w(acc)
    pue = data.region("us-va").pue[1]
    kwh = 8760 * (2 * busy + 1 * idle + 3 * node) * pue / 1000
    assert m.frame["owned_energy_kwh"].iloc[0] == pytest.approx(kwh)
    assert m.frame["owned_energy_usd"].iloc[0] == pytest.approx(kwh * 0.1)
    assert m.frame["cloud_burst_usd"].iloc[0] == 0
    buy = costs.purchase_price(acc).central
    assert m.frame["owned_fixed_usd"].iloc[0] == pytest.approx(3 * buy * (1 / 4 + 0.1))


def test_demand_profile_shape():
    h = roi.demand_profile(baseline_accelerators=10, peak_accelerators=50, peak_days_per_year=30, campaigns_per_year=3,
                           peak_hours_per_day=8)
    assert h.shape == (8760,) and set(np.unique(h)) == {10.0, 50.0}
    assert (h == 50).sum() == 30 * 8
    d = roi.demand_profile(baseline_accelerators=10, peak_accelerators=50, peak_days_per_year=30, resolution="daily")
    assert d.shape == (365,) and (d == 50).sum() == 30
    assert roi.demand_profile(baseline_accelerators=5, peak_accelerators=5, peak_days_per_year=0).max() == 5


@pytest.mark.parametrize("kw, parameter", [
    ({"peak_accelerators": 5}, "peak_accelerators"),
    ({"peak_days_per_year": 400}, "peak_days_per_year"),
    ({"campaigns_per_year": 0}, "campaigns_per_year"),
    ({"resolution": "weekly"}, "resolution"),
    ({"baseline_accelerators": -1}, "baseline_accelerators"),
])
def test_demand_profile_bad_input(kw, parameter):
    base = dict(baseline_accelerators=10, peak_accelerators=50, peak_days_per_year=30)
    base.update(kw)
    with pytest.raises(InputError) as e:
        roi.demand_profile(**base)
    assert e.value.parameter == parameter


def test_burst_mix_bad_input():
    with pytest.raises(InputError) as e:
        roi.burst_mix(np.ones(100))
    assert e.value.parameter == "period_hours"
    with pytest.raises(InputError) as e:
        roi.burst_mix(np.array([1.0, -2.0]), period_hours=1)
    assert e.value.parameter == "demand"
    with pytest.raises(InputError) as e:
        roi.burst_mix(np.ones(365), accelerator="l4")
    assert e.value.parameter == "purchase_usd_per_accelerator"
    with pytest.raises(InputError) as e:
        roi.burst_mix(np.ones(365), region="sg")
    assert e.value.parameter == "price_usd_per_kwh"


# --------------------------------------------------------------------------- switching


def test_switch_roi_arithmetic():
    r = roi.switch_roi(from_count=64, utilisation=0.5, price_usd_per_kwh=0.1, migration_usd=1000.0)
    a, h = data.accelerator("a100-sxm4-80gb"), data.accelerator("h100-sxm")
    rate_a = a.peak("bf16") * data.efficiency(a.accelerator_id, "bf16")[1]
    rate_h = h.peak("bf16") * data.efficiency(h.accelerator_id, "bf16")[1]
    assert r.speed_ratio == pytest.approx(rate_h / rate_a)
    assert r.to_count == math.ceil(64 * rate_a / rate_h)
    m = r.monthly.set_index(["mode", "option"])
    busy_a = 64 * 730 * 0.5
    busy_h = busy_a * rate_a / rate_h
    pa, ph = costs.cloud_price_pair(a.accelerator_id, h.accelerator_id)  # like for like: one provider and basis
    assert (pa.provider, pa.basis, pa.purchase_option) == (ph.provider, ph.basis, ph.purchase_option)
    assert (r.from_cloud, r.to_cloud) == (pa, ph)
    assert m.loc[("cloud", "stay"), "total_usd"] == pytest.approx(busy_a * pa.central)
    assert m.loc[("cloud", "switch"), "total_usd"] == pytest.approx(busy_h * ph.central)
    assert r.cloud.switch_cost_usd == 1000.0
    assert r.owned.switch_cost_usd == pytest.approx(r.to_count * costs.purchase_price(h).central + 1000.0)
    ops = 64 * costs.purchase_price(a).central * 0.1 / 12
    assert m.loc[("owned", "stay"), "operations_usd"] == pytest.approx(ops)
    pue = data.region("us-va").pue[1]
    idle_a = hardware.idle_power_w(a)[0]
    busy_w = _training_busy_w(a)
    kwh = (busy_a * busy_w + (64 * 730 - busy_a) * idle_a + 64 * 730 * hardware.node_power_w(a)) * pue / 1000
    assert m.loc[("owned", "stay"), "energy_usd"] == pytest.approx(kwh * 0.1)
    be = roi.break_even(r.cloud.switch_cost_usd, m.loc[("cloud", "stay"), "total_usd"],
                        m.loc[("cloud", "switch"), "total_usd"], r.horizon_months)
    assert be == r.cloud


def test_switch_resale_lowers_the_switch_cost():
    a = roi.switch_roi(resale_fraction=0.0)
    b = roi.switch_roi(resale_fraction=0.5)
    diff = 0.5 * 64 * costs.purchase_price("a100-sxm4-80gb").central
    assert a.owned.switch_cost_usd - b.owned.switch_cost_usd == pytest.approx(diff)


def test_switch_sweep_matches_single_runs():
    us = [0.2, 0.5, 0.9]
    kw = dict(from_count=16, migration_usd=20000.0, horizon_months=60)
    sw = roi.switch_sweep(us, **kw)
    for u, row in zip(us, sw.itertuples(), strict=True):
        r = roi.switch_roi(utilisation=u, **kw)
        assert row.owned_savings_usd_per_month == pytest.approx(r.owned.savings_usd_per_month)
        assert row.cloud_savings_usd_per_month == pytest.approx(r.cloud.savings_usd_per_month)
        for mode, be in (("owned", r.owned), ("cloud", r.cloud)):
            got = getattr(row, f"{mode}_break_even_month")
            assert (math.isnan(got) and be.month is None) or got == be.month


@pytest.mark.parametrize("kw, parameter", [
    ({"utilisation": 0}, "utilisation"), ({"utilisation": 1.2}, "utilisation"), ({"from_count": 2.5}, "from_count"),
    ({"to_count": 2}, "to_count"), ({"resale_fraction": 2}, "resale_fraction"), ({"migration_usd": -1}, "migration_usd"),
    ({"precision_from": "fp8"}, "precision"), ({"region": "sg"}, "price_usd_per_kwh"),
    ({"operations_share_per_year": 3}, "operations_share_per_year"),
])
def test_switch_bad_input_is_named(kw, parameter):
    with pytest.raises(InputError) as e:
        roi.switch_roi(**kw)
    assert e.value.parameter == parameter


def test_switch_unknown_accelerator():
    with pytest.raises(UnknownAcceleratorError):
        roi.switch_roi(to_accelerator="h1000")


# --------------------------------------------------------------------------- same job on many configurations


def test_hardware_frame_agrees_with_the_training_model():
    f = roi.hardware_frame(params=1e9, tokens=2e10, accelerators=["a100-sxm4-80gb", "h100-sxm", "l4"], counts=[8, 16],
                           region="us-va", finetune_share=0.05)
    assert len(f) == 2 * 3 * 2
    est = training.estimate_training(params=1e9, tokens=2e10, accelerator="h100-sxm", count=8, region="us-va")
    row = f.query("job == 'pre-training' and accelerator == 'h100-sxm' and count == 8").iloc[0]
    assert row["facility_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"])
    assert row["cloud_cost_usd"] == pytest.approx(est.central["cloud_cost_usd"])
    ft = f.query("job == 'fine-tuning' and accelerator == 'h100-sxm' and count == 8").iloc[0]
    assert ft["facility_energy_kwh"] == pytest.approx(0.05 * row["facility_energy_kwh"])
    buy = costs.purchase_price("h100-sxm").central
    life, util = data.assumption_row("hardware_lifetime_years")[1], data.assumption_row("hardware_utilisation")[1]
    owned = row["accelerator_hours"] * buy * (1 / life + 0.1) / (8760 * util) + row["electricity_cost_usd"]
    assert row["owned_cost_usd"] == pytest.approx(owned)
    assert row["tokens_per_kwh"] == pytest.approx(2e10 / row["facility_energy_kwh"])
    l4 = f.query("accelerator == 'l4'")
    assert l4["cloud_cost_usd"].isna().all() and l4["owned_cost_usd"].isna().all()  # no price rows: n/a, not a guess
    assert (f["owned_cost_usd_low"].dropna() <= f["owned_cost_usd"].dropna()).all()
    assert (f["owned_cost_usd"].dropna() <= f["owned_cost_usd_high"].dropna()).all()


def test_ranking_puts_configurations_that_do_not_fit_last():
    f = roi.hardware_frame(params=70e9, tokens=1e11, accelerators=["h100-sxm", "l4"], counts=[8, 64])
    # 70B x 16 bytes = 1,120 GB: 8 x L4 (24 GB) cannot hold it, 64 x L4 can
    fits = f.set_index(["job", "accelerator", "count"])["fits_memory"]
    assert not fits[("pre-training", "l4", 8)] and fits[("pre-training", "l4", 64)]
    r = roi.ranking(f)
    assert r.iloc[-1]["accelerator"] == "l4" and r.iloc[-1]["count"] == 8
    assert r["rank_tokens_per_kwh"].min() == 1
    assert r.loc[r["rank_tokens_per_kwh"] == 1, "fits_memory"].all()
    with pytest.raises(InputError):
        roi.ranking(f, job="inference")


@pytest.mark.parametrize("kw, parameter", [
    ({"precision": "fp8"}, "precision"), ({"counts": [0]}, "counts"), ({"counts": []}, "counts"),
    ({"finetune_share": 0}, "finetune_share"), ({"params": 0}, "params"),
    ({"operations_share_per_year": -0.1}, "operations_share_per_year"),
])
def test_hardware_frame_bad_input(kw, parameter):
    base = dict(params=1e9, tokens=1e10, accelerators=["a100-sxm4-80gb", "h100-sxm"])
    base.update(kw)
    with pytest.raises(InputError) as e:
        roi.hardware_frame(**base)
    assert e.value.parameter == parameter


# --------------------------------------------------------------------------- the report and the CLI


def test_story_check_names_the_bad_parameter():
    p = notebook_defaults.defaults(hardware_roi.NOTEBOOK)
    for bad, parameter in (({"to_accelerator": "a100"}, "to_accelerator"), ({"peak_accelerators": 1}, "peak_accelerators"),
                           ({"horizon": 3}, "horizon"), ({"purchase_option": "spot"}, "purchase_option")):
        with pytest.raises(InputError) as e:
            hardware_roi.check(**{**p, **bad})
        assert e.value.parameter == parameter
    with pytest.raises(InputError) as e:
        hardware_roi.check(**{k: v for k, v in p.items() if k != "region"})
    assert e.value.parameter == "region"
    with pytest.raises(KeyError):  # an unknown provider lists the known ones
        hardware_roi.check(**{**p, "cloud_provider": "awz"})


# --------------------------------------------------------------------------- like-for-like cloud prices


def test_cloud_prices_never_mix_bases():
    rows = data.table("cloud_gpu_prices")
    assert set(rows["basis"]) == set(costs.BASES)
    gpu_only = rows[rows["basis"] == "GPU only"]
    assert not gpu_only.empty and gpu_only["instance"].str.contains("billed separately").all()
    for acc in ("a100-sxm4-80gb", "h100-sxm", "a100-sxm4-40gb"):
        for basis in costs.BASES:
            p = costs.cloud_price(acc, basis=basis)
            if p is not None:
                assert p.basis == basis and f", {basis} (" in p.detail
    # the 2022 GPU-only A100 SKU is not a full-VM price
    full = costs.cloud_price("a100-sxm4-80gb", "gcp", basis="GPU only")
    assert full.year == 2022 and full.central == pytest.approx(3.93)
    with pytest.raises(InputError):
        costs.cloud_price("a100-sxm4-80gb", "gcp", basis="full VM")  # Google lists no full-VM A100 80GB row


def test_cloud_price_pair_is_like_for_like_or_none():
    pair = costs.cloud_price_pair("a100-sxm4-80gb", "h100-sxm")
    a, b = pair
    assert a.provider == b.provider and a.basis == b.basis == "full VM" and a.purchase_option == b.purchase_option
    assert abs(a.year - b.year) <= 1
    assert costs.cloud_price_pair("a100-sxm4-80gb", "h100-sxm", provider="gcp") is None  # GPU-only A100 vs VM H100
    assert costs.cloud_price_pair("a100-sxm4-80gb", "h100-sxm", purchase_option="1-year commitment") is None
    r = roi.switch_roi(from_count=64, utilisation=0.7, cloud_provider="gcp")
    assert r.cloud.month is None and "like-for-like" in r.cloud.reason and r.to_cloud is None
    assert math.isnan(r.monthly.set_index(["mode", "option"]).loc[("cloud", "stay"), "total_usd"])
    assert r.owned.reason == roi.switch_roi(from_count=64, utilisation=0.7).owned.reason  # owned side unchanged


def test_hardware_frame_prices_every_accelerator_from_one_provider():
    f = roi.hardware_frame(params=1e9, tokens=2e10, accelerators=["a100-sxm4-80gb", "h100-sxm", "l4"], counts=[8],
                           cloud_provider="aws")
    priced = f[f["cloud_price_usd_per_gpu_hour"].notna()]
    assert set(priced["accelerator"]) == {"a100-sxm4-80gb", "h100-sxm"}
    assert set(priced["cloud_price_provider"]) == {"aws"} and set(priced["cloud_price_basis"]) == {"full VM, on-demand"}
    assert np.allclose(priced["cloud_cost_usd"], priced["accelerator_hours"] * priced["cloud_price_usd_per_gpu_hour"])
    assert priced["cloud_price_year"].max() - priced["cloud_price_year"].min() <= 1


def test_busy_power_comes_from_the_fitted_power_model():
    for name in ("h100-sxm", "a100-sxm4-80gb", "l4"):
        acc = data.accelerator(name)
        mfu = data.efficiency(acc.accelerator_id, "bf16", "train")[1]
        w, src, note = roi.busy_power_w(acc, mfu)
        assert w == pytest.approx(_training_busy_w(acc))
        assert src == hardware.power_model_row("compute_power_fraction", acc.accelerator_id)[3]
        assert "power model" in note
    lo, hi = roi.busy_power_w("a100-sxm4-80gb", 0.1)[0], roi.busy_power_w("a100-sxm4-80gb", 0.5)[0]
    assert lo < hi  # draw rises with MFU, unlike a fixed load fraction


def test_cli_roi_json(capsys):
    rc = main(["roi", "--from", "a100-sxm4-80gb", "--to", "h100-sxm", "--count", "64", "--utilisation", "0.7",
               "--migration-usd", "50000", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    r = roi.switch_roi(from_count=64, utilisation=0.7, migration_usd=50000.0)
    assert out["to_count"] == r.to_count
    assert out["cloud"]["month"] == r.cloud.month
    assert out["owned"]["month"] == r.owned.month
    assert out["owned"]["switch_cost_usd"] == pytest.approx(r.owned.switch_cost_usd)
    prices = out["cloud_prices"]  # the pair compared, with its provider, basis, option and dates
    assert prices["from"]["provider"] == prices["to"]["provider"] and prices["from"]["basis"] == prices["to"]["basis"]
    assert main(["roi", "--cloud-provider", "gcp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cloud_prices"] is None  # Google lists no full-VM A100 80GB


def test_story_says_so_when_no_like_for_like_pair_exists():
    p = {**notebook_defaults.defaults(hardware_roi.NOTEBOOK), "cloud_provider": "gcp", "demand_resolution": "daily",
         "accelerators": ["a100-sxm4-80gb", "h100-sxm"], "counts": [8]}
    res = hardware_roi.compute(hardware_roi.check(**p))
    head, tiles = hardware_roi.finding(res)
    assert "no like-for-like cloud price pair" in head and "month" not in head.split("rented")[1].split(".")[0]
    assert dict((t[0], t[1]) for t in tiles)["Rented switch pays back"] == "—"
    assert "not compared" in hardware_roi.switch_md(res)
    assert hardware_roi.metrics(res)["cloud_savings_usd_per_month"] is None


def test_cli_roi_human_and_errors(capsys):
    assert main(["roi", "--count", "8", "--utilisation", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "break-even" in text and "owned" in text and "cloud" in text
    assert main(["roi", "--utilisation", "1.5", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "utilisation" in captured.err
    assert main(["roi", "--to", "h100x"]) == 2
    assert main(["roi", "--count", "2.5"]) == 2
