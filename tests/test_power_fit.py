"""The fitted power and serving models against their FITTING data (issue 10's tolerances), and properties.

Fitting data: data/measured/h100_decode_probe.csv (our H100 probe) and
data/measured/mlenergy_v3_llama31_h100.csv (ML.ENERGY v3, Llama 3.1 8B / 70B on H100, vLLM 0.11.1).
Every check runs the library's model on the measured configuration: a change to the model or to a
fitted coefficient that moves a case outside its tolerance fails here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joulebook import data
from joulebook.models import hardware, inference
from joulebook.models.inference import estimate_inference, inference_frame

ENERGY_TOL = 1.25  # x, GPU J per output token
ITL_TOL = 1.3  # x, inter-token latency
PROBE_POWER_TOL = 0.15  # +-, graph-replay decode power
EAGER_TIME_TOL = 0.30  # +-, eager step time


def _mlenergy() -> tuple[pd.DataFrame, pd.DataFrame]:
    m = data.table("measured/mlenergy_v3_llama31_h100")
    ctx = inference.runtime_parameter("mlenergy_context_tokens")[1]
    pre = inference.runtime_parameter("mlenergy_prefill_tokens")[1]
    sc = pd.DataFrame({
        "model": np.where(m["model_id"].str.contains("70B"), "llama-3-70b", "llama-3-8b"), "accelerator": "h100-sxm",
        "count": pd.to_numeric(m["gpu_count"]), "serving": "continuous",
        "max_concurrency": pd.to_numeric(m["max_num_seqs"]), "prompt_tokens": round(ctx), "prefill_tokens": round(pre),
        "new_tokens": pd.to_numeric(m["mean_output_tokens"]).round()})
    return m, inference_frame(sc)


def _probe() -> tuple[pd.DataFrame, pd.DataFrame]:
    p = data.table("measured/h100_decode_probe")
    graph = (p["runtime"] == "graph_replay").to_numpy()
    sc = pd.DataFrame({"model": "tinyllama", "accelerator": "h100-sxm", "precision": p["precision"],
                       "batch": pd.to_numeric(p["batch"]),
                       "prompt_tokens": np.where(graph, 1.0, pd.to_numeric(p["prompt_tokens"])),
                       "new_tokens": np.where(graph, 2.0, pd.to_numeric(p["new_tokens"])),
                       "runtime": np.where(graph, "compiled", "eager")})
    return p, inference_frame(sc)


def test_the_fitting_sets_are_complete_and_sourced():
    m = data.table("measured/mlenergy_v3_llama31_h100")
    p = data.table("measured/h100_decode_probe")
    assert len(m) == 23 and set(m["source_id"]) == {"mlenergy_leaderboard_v3"}
    assert len(p) == 13 and set(p["source_id"]) == {"joulebook_h100_probe1", "joulebook_h100_probe2"}
    pm = data.table("power_model")
    assert set(pm["name"]) == set(hardware.POWER_TERMS)
    assert (pm["value_low"] <= pm["value"]).all() and (pm["value"] <= pm["value_high"]).all()


def test_mlenergy_rows_within_tolerance_in_energy_and_inter_token_latency():
    m, f = _mlenergy()
    e_ratio = f["energy_j_per_output_token_accelerator"].to_numpy() / pd.to_numeric(m["energy_j_per_output_token"]).to_numpy()
    itl_ratio = f["inter_token_latency_ms"].to_numpy() / pd.to_numeric(m["median_itl_ms"]).to_numpy()
    bad_e = np.flatnonzero((e_ratio > ENERGY_TOL) | (e_ratio < 1 / ENERGY_TOL))
    bad_t = np.flatnonzero((itl_ratio > ITL_TOL) | (itl_ratio < 1 / ITL_TOL))
    assert bad_e.size == 0, list(zip(m["model_id"].iloc[bad_e], m["max_num_seqs"].iloc[bad_e], e_ratio[bad_e], strict=True))
    assert bad_t.size == 0, list(zip(m["model_id"].iloc[bad_t], m["max_num_seqs"].iloc[bad_t], itl_ratio[bad_t], strict=True))
    # and not by luck of one direction: both families are covered, errors are not all on one side
    assert np.median(np.abs(np.log(e_ratio))) < np.log(1.15)


def test_mlenergy_concurrency_follows_cap_and_kv_capacity():
    m, f = _mlenergy()
    cap = pd.to_numeric(m["max_num_seqs"]).to_numpy()
    conc = f["concurrency"].to_numpy()
    assert (conc <= cap).all()
    measured = pd.to_numeric(m["avg_batch_size_measured"]).to_numpy()
    assert np.all(np.abs(conc / measured - 1) < 0.1)  # the KV-limited rows (8B at 768, 70B at 1024) included


def test_probe_decode_power_within_15_percent():
    p, f = _probe()
    graph = (p["runtime"] == "graph_replay").to_numpy()
    ratio = f["power_w_decode"].to_numpy()[graph] / pd.to_numeric(p["power_w_mean"]).to_numpy()[graph]
    assert np.all(np.abs(ratio - 1) <= PROBE_POWER_TOL), ratio


def test_eager_rows_step_time_within_30_percent_and_draw_more_than_idle():
    p, f = _probe()
    eager = (p["runtime"] == "eager").to_numpy()
    per_token = (f["request_ms"] / f["new_tokens"].astype(float)).to_numpy()[eager]
    measured = pd.to_numeric(p["ms_per_token_step"]).to_numpy()[eager]
    assert np.all(np.abs(per_token / measured - 1) <= EAGER_TIME_TOL), per_token / measured
    idle = hardware.idle_power_w("h100-sxm")[0]
    assert (f["power_w"].to_numpy()[eager] > idle + 20).all()  # launch gaps are not idle
    assert np.all(np.abs(f["power_w"].to_numpy()[eager] / pd.to_numeric(p["power_w_mean"]).to_numpy()[eager] - 1) < 0.2)


# --------------------------------------------------------------------------- properties

coeffs = st.fixed_dictionaries({k: st.floats(0.0, 3.0) for k in ("kc", "km", "kg")})


@given(u_c=st.floats(0, 1), u_m=st.floats(0, 1), gap=st.floats(0, 1), k=coeffs, idle=st.floats(10, 300),
       extra=st.floats(1, 1200))
def test_power_is_between_idle_and_cap(u_c, u_m, gap, k, idle, extra):
    cap = idle + extra
    p = hardware.activity_power_w(idle, cap, u_c, u_m, gap, compute_power_fraction=k["kc"],
                                  memory_power_fraction=k["km"], gap_power_fraction=k["kg"])
    assert idle - 1e-9 <= p <= cap + 1e-9


@settings(max_examples=25, deadline=None)
@given(model=st.sampled_from(["tinyllama", "llama-3-8b", "llama-2-13b", "mixtral"]),
       acc=st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "l4", "h200-sxm"]),
       runtime=st.sampled_from(["eager", "compiled"]), s=st.integers(1, 4096), g=st.integers(1, 1024))
def test_frame_power_between_idle_and_cap_on_any_accelerator(model, acc, runtime, s, g):
    f = inference_frame(pd.DataFrame([dict(model=model, accelerator=acc, runtime=runtime, batch=b, prompt_tokens=s,
                                           new_tokens=g, serving=mode) for b in (1, 64)
                                      for mode in ("static", "continuous")]))
    a = data.accelerator(acc)
    idle = hardware.idle_power_w(a)[0]
    for col in ("power_w_prefill", "power_w_decode", "power_w"):
        for suffix in ("", "_low", "_high"):
            v = f[col + suffix].to_numpy()
            assert (v >= idle - 1e-6).all() and (v <= a.tdp_w + 1e-6).all(), (col + suffix, v)


@settings(max_examples=20, deadline=None)
@given(model=st.sampled_from(["tinyllama", "llama-3-8b", "llama-2-70b", "mixtral"]), runtime=st.sampled_from(["eager", "compiled"]),
       s=st.integers(1, 2048), g=st.integers(1, 512), acc=st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "l40s"]))
def test_more_batch_never_costs_more_energy_per_token_in_a_static_batch(model, runtime, s, g, acc):
    batches = [1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    f = inference_frame(pd.DataFrame([dict(model=model, accelerator=acc, runtime=runtime, batch=b, prompt_tokens=s,
                                           new_tokens=g) for b in batches]))
    for suffix in ("", "_low", "_high"):
        e = f["energy_j_per_1k_tokens_accelerator" + suffix].to_numpy()
        assert np.all(np.diff(e) <= 1e-9 * e[:-1]), (suffix, e)


@pytest.mark.parametrize("mode", ["static", "continuous"])
def test_utilisation_one_equals_busy_and_less_costs_idle_power(mode):
    kw = dict(model="llama-3-8b", batch=32, prompt_tokens=512, new_tokens=256, serving=mode)
    busy = estimate_inference(**kw).central
    full = estimate_inference(**kw, utilisation=1.0).central
    assert full["energy_j_per_output_token_service"] == pytest.approx(busy["energy_j_per_output_token"], rel=1e-12)
    assert full["energy_wh_per_request_service"] == pytest.approx(busy["energy_wh_per_request"], rel=1e-12)
    part = estimate_inference(**kw, utilisation=0.2).central
    assert part["energy_j_per_output_token"] == pytest.approx(busy["energy_j_per_output_token"], rel=1e-12)
    # the idle 80 % draws idle + node power x PUE for 4 s per busy second
    idle = hardware.idle_power_w("h100-sxm")[0] + hardware.node_power_w("h100-sxm")
    pue = data.operator_defaults("industry")[0][1]
    per_token_busy_s = 1.0 / busy["output_tokens_per_s"]
    expect = busy["energy_j_per_output_token"] + idle * pue * per_token_busy_s * 4.0
    assert part["energy_j_per_output_token_service"] == pytest.approx(expect, rel=1e-9)


def test_continuous_serving_with_an_arrival_rate_obeys_littles_law():
    sat = estimate_inference(model="llama-3-8b", serving="continuous", max_concurrency=256, prompt_tokens=512,
                             new_tokens=256).central
    light = estimate_inference(model="llama-3-8b", serving="continuous", max_concurrency=256, prompt_tokens=512,
                               new_tokens=256, arrival_rate_per_s=5.0).central
    assert light["concurrency"] < sat["concurrency"] == 256
    # B = lambda x time a request spends decoding
    assert light["concurrency"] == pytest.approx(5.0 * 256 * light["inter_token_latency_ms"] / 1e3, rel=1e-3)
    assert light["inter_token_latency_ms"] < sat["inter_token_latency_ms"]
    assert light["energy_j_per_output_token"] > sat["energy_j_per_output_token"]


def test_chunked_prefill_and_context_cost_time():
    base = dict(model="llama-3-8b", serving="continuous", max_concurrency=128, new_tokens=256)
    f = inference_frame(pd.DataFrame([dict(base, prompt_tokens=1024, prefill_tokens=0),
                                      dict(base, prompt_tokens=1024, prefill_tokens=1024),
                                      dict(base, prompt_tokens=4096, prefill_tokens=0)]))
    itl = f["inter_token_latency_ms"].to_numpy()
    assert f["prefill_tokens_per_step"].iloc[1] == pytest.approx(128 * 1024 / 256)
    assert itl[1] > itl[0] and itl[2] > itl[0]  # prefill chunks and longer KV reads both lengthen a step


def test_training_power_uses_the_same_function_and_keeps_the_probe_calibration():
    c = hardware.power_coefficients("h100-sxm")
    idle = hardware.idle_power_w("h100-sxm")[0]
    p = hardware.training_power_w(idle, 700.0, 316.04 / 989.0, c)
    assert p == pytest.approx(687.95, rel=0.02)  # our bf16 train step (42 J in 61.3 ms)
    assert p * 0.06129 == pytest.approx(42.2, rel=0.03)


def test_unfitted_accelerators_use_the_transfer_rule():
    lo, mid, hi, src, basis, _ = hardware.power_model_row("memory_power_fraction", "a100-sxm4-80gb")
    assert "transferred" in basis and src == "joulebook_power_fit"
    assert "fitted" in hardware.power_model_row("memory_power_fraction", "h100-sxm")[4]
    # same share of the dynamic range: a memory-bound decode on an A100 draws idle + k_m u_m (cap - idle)
    a = data.accelerator("a100-sxm4-80gb")
    idle = hardware.idle_power_w(a)[0]
    p = hardware.activity_power_w(idle, a.tdp_w, 0.0, 0.5, 0.0, compute_power_fraction=0.0, memory_power_fraction=mid)
    assert p == pytest.approx(idle + (a.tdp_w - idle) * mid * 0.5)
    assert inference.memory_efficiency("l4")[4].startswith("no measured row")  # fallback: the global row
    assert inference.memory_efficiency("l4")[:3] == inference.runtime_parameter("memory_bandwidth_efficiency")[:3]
    assert inference.achievable_rate("l4", "tp_allreduce_latency_ms") is None


def test_power_table_is_what_the_fit_script_produces():
    """data/power_model.csv holds the least-squares fit of scripts/fit_power.py at the fitted serving rows."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "fit_power.py"
    spec = importlib.util.spec_from_file_location("fit_power", path)
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    rp = inference.runtime_parameter
    ar = inference.achievable_rate("h100-sxm", "tp_allreduce_latency_ms")[1]
    rows = fit.power_rows(rp("mlenergy_context_tokens")[1], rp("mlenergy_prefill_tokens")[1],
                          rp("serving_scheduler_overhead_ms")[1], rp("serving_overhead_ms_per_request")[1], ar)
    assert len(rows) == 13 + 23
    got = fit.fit_power(rows, n_boot=0)
    for name in fit.POWER_NAMES:
        assert hardware.power_model_row(name, "h100-sxm")[1] == pytest.approx(got[name][1], rel=2e-3), name
