"""joulebook.models.precision (per-step floor, precisions side by side, schedules, measured points) and the report
built on it, joulebook.stories.precision."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbhelpers as nbh
from joulebook import data
from joulebook.core.errors import InputError, UnknownAcceleratorError
from joulebook.models import precision, training
from joulebook.site.execute import validate_metrics
from joulebook.stories import precision as story

PROBE = precision.PROBE_CONFIG
NO_FLOOR = precision.StepFloor(enabled=False)


def _job(**kw):
    base = dict(params=PROBE["params"], tokens=8192 * 1000, batch=8, seq_len=1024, layers=24, hidden=1024,
                accelerators=["h100-sxm", "a100-sxm4-80gb"], count=1, region="us-va")
    base.update(kw)
    return precision.precision_frame(**base)


@pytest.fixture(scope="module")
def per_precision():
    return _job()


# --------------------------------------------------------------------------- floor


def test_without_floor_the_training_model_is_unchanged():
    pf = _job(floor=NO_FLOOR)
    df = pd.DataFrame({"params": PROBE["params"], "tokens": 8192 * 1000.0, "batch": 8.0, "seq_len": 1024.0,
                       "layers": 24.0, "hidden": 1024.0, "count": 1.0, "region": "us-va",
                       "accelerator": pf["accelerator"].to_numpy(), "precision": pf["precision"].to_numpy()})
    ref = training.estimate_training_frame(df)
    for key in ("step_time_s", "facility_energy_kwh", "emissions_kg", "cloud_cost_usd"):
        for s in ("", "_low", "_high"):
            np.testing.assert_allclose(pf[key + s].to_numpy(), ref[key + s].to_numpy(), rtol=1e-12)
    assert (pf["bound"] == "compute").all()


def test_floor_terms_by_hand():
    f = precision.StepFloor(memory_efficiency=0.5, kernels_per_layer_step=10, fixed_kernels_per_step=5,
                            kernel_launch_s=1e-5, activation_traffic_factor=2.0)
    df = pd.DataFrame({"params": [1e8], "batch": [4.0], "seq_len": [512.0], "layers": [12.0], "hidden": [768.0],
                       "count": [2.0], "steps": [10.0], "accelerator": ["h100-sxm"], "precision": ["bf16"]})
    out = precision.step_frame(df, f)
    bytes_step = 1e8 * 42 + (4 * 512 / 2) * 12 * 768 * 34 * 1.0 * 2.0
    assert out["bytes_per_step"].iloc[0] == pytest.approx(bytes_step)
    assert out["memory_step_time_s"].iloc[0] == pytest.approx(bytes_step / (3.35e12 * 0.5))
    assert out["host_step_time_s"].iloc[0] == pytest.approx((12 * 10 + 5) * 1e-5)
    t = max(out["compute_step_time_s"].iloc[0], out["memory_step_time_s"].iloc[0], out["host_step_time_s"].iloc[0])
    assert out["step_time_s"].iloc[0] == pytest.approx(t)
    assert out["accelerator_hours"].iloc[0] == pytest.approx(10 * 2 * t / 3600)


def test_savings_collapse_on_tiny_steps():
    tiny = precision.precision_frame(params=precision.transformer_params(4, 128), tokens=128 * 1000, batch=1,
                                     seq_len=128, layers=4, hidden=128, precisions=["bf16", "fp8"])
    assert set(tiny["bound"]) <= {"memory", "host"}
    e = tiny.set_index("precision")["energy_per_step_j"]
    assert e["fp8"] == pytest.approx(e["bf16"], rel=1e-9)  # same time, same power: nothing saved
    big = _job(batch=64, count=1, precisions=["bf16", "fp8"], accelerators=["h100-sxm"])
    assert (big["bound"] == "compute").all()
    assert big.set_index("precision").loc["fp8", "energy_saving_vs_baseline"] > 0.3


def test_floor_sweep_and_collapse_batch():
    sw = precision.floor_sweep(hiddens=[256, 2048], batches=[1, 4, 16, 64])
    assert len(sw) == 8
    assert (sw["energy_saving"] <= sw["compute_only_saving"] + 1e-12).all()
    small = sw[sw["hidden"] == 256].sort_values("batch")
    assert small["energy_saving"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert small["energy_saving"].is_monotonic_increasing
    b = precision.collapse_batch(sw, 256)
    assert b is None or b in (4, 16, 64)
    with pytest.raises(InputError):
        precision.collapse_batch(sw, 777)


def test_low_central_high_ordered(per_precision):
    for key in ("step_time_s", "facility_energy_kwh", "energy_per_step_j", "emissions_kg"):
        assert (per_precision[key + "_low"] <= per_precision[key] * (1 + 1e-12)).all()
        assert (per_precision[key] <= per_precision[key + "_high"] * (1 + 1e-12)).all()


def test_only_supported_precisions(per_precision):
    a100 = per_precision[per_precision["accelerator"] == "a100-sxm4-80gb"]
    assert "fp8" not in set(a100["precision"])
    h100 = per_precision[per_precision["accelerator"] == "h100-sxm"]
    assert set(h100["precision"]) == {"fp32", "tf32", "bf16", "fp8"}
    assert (per_precision.loc[per_precision["precision"] == "bf16", "energy_saving_vs_baseline"] == 0).all()


# --------------------------------------------------------------------------- measured points


def test_measured_points_match_the_calibration_file():
    m = precision.measured_points().set_index("precision")
    assert m.loc["bf16", "measured_energy_per_step_j"] == pytest.approx(6914.522 / 164)
    assert m.loc["fp32", "measured_step_time_s"] == pytest.approx(0.4112)
    # the premise of the report: power near the cap whatever the precision
    assert m["measured_power_w"].max() / m["measured_power_w"].min() < 1.03


def test_model_next_to_measurement():
    mv = precision.model_vs_measured()
    meas = mv[mv["measured_energy_per_step_j"].notna()]
    assert set(meas["precision"]) == {"fp32", "tf32", "bf16"}
    assert (abs(meas["energy_ratio_model_to_measured"] - 1) < 0.03).all()
    assert (abs(meas["time_ratio_model_to_measured"] - 1) < 0.01).all()
    assert (meas["model_energy_per_step_j_low"] <= meas["measured_energy_per_step_j"]).all()
    assert (meas["model_energy_per_step_j_high"] >= meas["measured_energy_per_step_j"]).all()
    amd = mv[mv["basis"] == "Amdahl bound"].iloc[0]
    fp8 = mv[(mv["basis"] == "model") & (mv["precision"] == "fp8")].iloc[0]
    bf16 = meas[meas["precision"] == "bf16"].iloc[0]
    # matmul-only speed-up saves less than the MFU model, and both save something
    assert fp8["model_step_time_s"] < amd["model_step_time_s"] < bf16["measured_step_time_s"]
    calib = data.table("measured/h100_calibration")
    mm = calib[calib["experiment"] == "matmul"].set_index("precision")["tflops_achieved"].astype(float)
    flops = 2364370944 * 8 * 1024
    expect = bf16["measured_step_time_s"] - flops / (mm["bf16"] * 1e12) + flops / (mm["fp8_e4m3"] * 1e12)
    assert amd["model_step_time_s"] == pytest.approx(expect)


# --------------------------------------------------------------------------- schedules


def test_zero_fp8_schedule_equals_bf16_baseline(per_precision):
    sf = precision.schedule_frame(per_precision, ["fp8:0,bf16:1", "bf16"])
    h = sf[sf["accelerator"] == "h100-sxm"]
    ref = per_precision[(per_precision["accelerator"] == "h100-sxm") & (per_precision["precision"] == "bf16")].iloc[0]
    for _, row in h.iterrows():
        for key in precision.ADDITIVE_KEYS:
            for s in ("", "_low", "_high"):
                assert row[key + s] == pytest.approx(ref[key + s], rel=1e-12)
        assert row["step_time_s"] == pytest.approx(ref["step_time_s"])
        assert row["energy_saving_vs_baseline"] == pytest.approx(0.0, abs=1e-12)


def test_full_fp8_schedule_equals_fp8_row(per_precision):
    sf = precision.schedule_frame(per_precision, "fp8")
    row = sf[sf["accelerator"] == "h100-sxm"].iloc[0]
    ref = per_precision[(per_precision["accelerator"] == "h100-sxm") & (per_precision["precision"] == "fp8")].iloc[0]
    assert row["facility_energy_kwh"] == pytest.approx(ref["facility_energy_kwh"])
    assert row["energy_saving_vs_baseline"] == pytest.approx(ref["energy_saving_vs_baseline"])


def test_unsupported_schedule_is_flagged_not_guessed(per_precision):
    sf = precision.schedule_frame(per_precision, "fp8:0.5,bf16:0.5")
    a100 = sf[sf["accelerator"] == "a100-sxm4-80gb"].iloc[0]
    assert not a100["supported"] and math.isnan(a100["facility_energy_kwh"])
    assert sf[sf["accelerator"] == "h100-sxm"]["supported"].all()


def test_missing_price_stays_missing():
    pf = precision.precision_frame(params=1e8, tokens=1e9, batch=8, seq_len=1024, accelerators=["l4"],
                                   precisions=["bf16", "fp8"])
    assert pf["cloud_cost_usd"].isna().all()
    sf = precision.schedule_frame(pf, "fp8:0.5,bf16:0.5")
    assert sf["supported"].all()
    assert math.isnan(sf["cloud_cost_usd"].iloc[0]) and sf["facility_energy_kwh"].iloc[0] > 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=8))
def test_savings_monotone_in_fp8_share(per_precision, shares):
    sw = precision.fp8_share_sweep(per_precision, shares=sorted(shares))
    h = sw[sw["accelerator"] == "h100-sxm"].sort_values("fp8_share", kind="stable")
    fp8_faster = per_precision.query("accelerator == 'h100-sxm'").set_index("precision")["step_time_s"]
    assert fp8_faster["fp8"] < fp8_faster["bf16"]
    assert np.all(np.diff(h["energy_saving_vs_baseline"].to_numpy()) >= -1e-12)
    assert np.all(np.diff(h["wall_clock_hours"].to_numpy()) <= 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1, allow_nan=False), min_size=1, max_size=3))
def test_schedule_is_share_weighted_sum(per_precision, weights):
    precs = ["fp8", "bf16", "tf32"][: len(weights)]
    total = sum(weights)
    shares = [w / total for w in weights]
    shares[-1] = 1.0 - sum(shares[:-1])
    if shares[-1] < 0:
        shares[-1] = 0.0
    sc = precision.Schedule(tuple(zip(precs, shares, strict=True)))
    row = precision.schedule_frame(per_precision, sc).query("accelerator == 'h100-sxm'").iloc[0]
    ref = per_precision.query("accelerator == 'h100-sxm'").set_index("precision")
    expect = sum(s * ref.loc[p, "facility_energy_kwh"] for p, s in zip(precs, shares, strict=True))
    assert row["facility_energy_kwh"] == pytest.approx(expect, rel=1e-9)


def test_schedule_timeline(per_precision):
    t = precision.schedule_timeline(per_precision, "fp8:0.9,bf16:0.1", "h100-sxm")
    assert list(t["progress"]) == pytest.approx([0, 0.9, 1.0])
    ref = per_precision.query("accelerator == 'h100-sxm'").set_index("precision")["facility_energy_kwh"]
    assert t["schedule_energy_kwh"].iloc[-1] == pytest.approx(0.9 * ref["fp8"] + 0.1 * ref["bf16"])
    assert t["baseline_energy_kwh"].iloc[-1] == pytest.approx(ref["bf16"])
    with pytest.raises(InputError):
        precision.schedule_timeline(per_precision, "fp8", "a100-sxm4-80gb")


@pytest.mark.parametrize("spec, fragment", [
    ("fp8:0.5,bf16:0.4", "add up to 0.9"),
    ("fp8:0.5,int8:0.5", "not a training precision"),
    ("fp8:half,bf16:0.5", "not a number"),
    ("fp8,bf16", "needs a share"),
    ("", "empty"),
    ("fp8:-0.5,bf16:1.5", ">= 0"),
])
def test_bad_schedules_name_the_parameter(spec, fragment):
    with pytest.raises(InputError) as e:
        precision.parse_schedule(spec)
    assert e.value.parameter.startswith("schedule") and fragment in str(e.value)


def test_schedule_forms_agree():
    a = precision.parse_schedule("fp8:0.9,bf16:0.1")
    b = precision.parse_schedule({"fp8": 0.9, "bf16": 0.1})
    c = precision.parse_schedule([("FP8", 0.9), ("bfloat16", 0.1)])
    assert a.spec == b.spec == c.spec == "fp8:0.9,bf16:0.1"
    assert precision.parse_schedule("bf16").shares() == {"bf16": 1.0}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, parameter", [
    ({"params": -1}, "params"), ({"tokens": float("nan")}, "tokens"), ({"batch": 0}, "batch"),
    ({"batch": 2.5}, "batch"), ({"count": 0}, "count"), ({"precisions": ["int8"]}, "precisions"),
    ({"precisions": []}, "precisions"), ({"mfu": {"bf16": 1.5}}, "mfu[bf16]"), ({"layers": -3}, "layers"),
])
def test_bad_input_is_named(kw, parameter):
    with pytest.raises(InputError) as e:
        _job(**kw)
    assert e.value.parameter == parameter


def test_unknown_accelerator_lists_close_matches():
    with pytest.raises(UnknownAcceleratorError) as e:
        _job(accelerators=["h100-sxmm"])
    assert "h100-sxm" in e.value.close_matches


def test_step_floor_rejects_bad_values():
    with pytest.raises(InputError) as e:
        precision.StepFloor(memory_efficiency=0)
    assert e.value.parameter == "memory_efficiency"
    with pytest.raises(InputError) as e:
        precision.StepFloor(kernel_launch_s=-1)
    assert e.value.parameter == "kernel_launch_s"
    with pytest.raises(InputError):
        precision.step_frame(pd.DataFrame({"params": [1e8], "tokens": [1e9], "accelerator": ["h100-sxm"],
                                           "precision": ["bf16"], "seq_len": [1024.0]}))


def test_mfu_override_changes_only_that_precision():
    a = _job(accelerators=["h100-sxm"], precisions=["bf16", "fp8"], batch=64)
    b = _job(accelerators=["h100-sxm"], precisions=["bf16", "fp8"], batch=64, mfu={"fp8": 0.2})
    ea, eb = (x.set_index("precision")["facility_energy_kwh"] for x in (a, b))
    assert ea["bf16"] == pytest.approx(eb["bf16"])
    assert eb["fp8"] > ea["fp8"]


# --------------------------------------------------------------------------- the report (joulebook.stories.precision)

def _nb_parameters():
    return nbh.parameters(nbh.read(nbh.NOTEBOOKS / "40_precision_tuning.ipynb").cells)


def test_story_parameters_validated():
    p = _nb_parameters()
    with pytest.raises(InputError) as e:
        story.check(**{**p, "accelerator": "a100-sxm4-80gb"})  # no fp8 on A100
    assert e.value.parameter == "schedule"
    with pytest.raises(InputError) as e:
        story.check(**{**p, "sweep_batches": []})
    assert e.value.parameter == "sweep_batches"
    with pytest.raises(InputError) as e:
        story.metrics_for({**p, "widht": 3})
    assert e.value.parameter == "widht"


def test_schedule_names_are_words():
    assert story.schedule_name("fp8:0.9,bf16:0.1") == "90% fp8, 10% bf16"
    assert story.schedule_name("fp8") == "all fp8"


def test_story_metrics_follow_the_frames():
    p = {**_nb_parameters(), "accelerators": ["h100-sxm"], "sweep_hiddens": [512], "sweep_batches": [1, 64],
         "tokens": 1e9}
    fr = story.frames(story.check(**p))
    m = story.metrics(fr)
    assert validate_metrics(m) == []
    bf16 = fr.per_precision.query("accelerator == 'h100-sxm' and precision == 'bf16'").iloc[0]
    assert m["baseline_energy_kwh"] == pytest.approx(bf16["facility_energy_kwh"], rel=1e-5)
    est = training.estimate_training(params=p["params"], tokens=1e9, accelerator="h100-sxm", count=p["count"],
                                     precision="bf16", region=p["region"], batch=p["batch"], seq_len=p["seq_len"],
                                     layers=p["layers"], hidden=p["hidden"])
    assert m["baseline_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"], rel=1e-5)  # compute-bound
    assert f"{100 * m['schedule_saving_fraction']:.0f}%" in m["finding"]
    text = story.schedule_md(fr)
    assert "90% fp8, 10% bf16" in text and f"{100 * m['schedule_saving_fraction']:.3g}%" in text
    assert m == story.metrics_for(p)


def test_headline_gives_the_range_the_page_shows():
    """On the probe's configuration the finding gives the Amdahl bound and the model's optimistic figure, as the
    measured section does; elsewhere it says no measured bound exists."""
    p = {**_nb_parameters(), "accelerators": ["h100-sxm"], "sweep_hiddens": [1024], "sweep_batches": [1, 64]}
    fr = story.frames(story.check(**p))
    m = story.metrics(fr)
    amd = fr.measured[fr.measured["basis"] == "Amdahl bound"].iloc[0]
    bf = fr.measured[(fr.measured["precision"] == "bf16")].iloc[0]
    bound = 1 - amd["model_energy_per_step_j"] / bf["measured_energy_per_step_j"]
    assert m["fp8_saving_fraction_bound"] == pytest.approx(bound, rel=1e-5)
    assert m["fp8_saving_fraction_bound"] < m["fp8_saving_fraction"]
    # energy is linear in the shares: only the fp8 share's saving is replaced by the bound
    low = m["schedule_saving_fraction"] - 0.9 * (m["fp8_saving_fraction"] - bound)
    assert m["schedule_saving_fraction_bound"] == pytest.approx(low, rel=1e-5)
    headline, tiles = story.finding(fr)
    assert headline == m["finding"]
    rng = f"{100 * m['schedule_saving_fraction_bound']:.0f}–{100 * m['schedule_saving_fraction']:.0f}%"
    fp8_rng = f"{100 * m['fp8_saving_fraction_bound']:.0f}–{100 * m['fp8_saving_fraction']:.0f}%"
    assert rng in headline and fp8_rng in headline and "Amdahl bound" in headline
    assert tiles[0][1] == rng and tiles[1][1] == fp8_rng  # the tiles show the same range
    assert any("Amdahl" in k["label"] for k in m["key_figures"])
    assert f"{100 * m['schedule_saving_fraction_bound']:.3g}%" in story.schedule_md(fr)
    other = story.frames(story.check(**{**p, "batch": 128}))
    mo = story.metrics(other)
    assert mo["schedule_saving_fraction_bound"] is None and "no measured bound" in mo["finding"]
    assert "optimistic" in story.finding(other)[1][0][2]
