"""Compute-optimal sizing and data-efficiency levers (joulebook.models.greener)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.models import greener, training

JOB = dict(accelerator="a100-sxm4-80gb", count=64, region="us-va")
ARCH = dict(params=1.3e9, tokens=26e9, layers=24, hidden=2048, seq_len=2048)


def test_fits_come_from_the_data_with_sources():
    fits = greener.scaling_fits()
    assert {"chinchilla_approach3", "epoch_replication_2024"} <= set(fits)
    src = set(data.table("sources")["source_id"])
    for f in fits.values():
        assert f.source_id in src and f.status in {"verified_repo", "verified_page", "secondary", "derived"}
        assert 0 < f.alpha < 1 and 0 < f.beta < 1 and f.E > 0
    with pytest.raises(UnknownNameError) as e:
        greener.scaling_fit("chinchila")
    assert "chinchilla_approach3" in str(e.value)


def test_loss_is_the_parametric_formula():
    f = greener.scaling_fit()
    expected = f.E + f.A / 70e9 ** f.alpha + f.B / 1.4e12 ** f.beta
    assert greener.loss(70e9, 1.4e12) == pytest.approx(expected)
    arr = greener.loss([1e9, 1e10], [1e11, 1e11])
    assert arr[0] > arr[1]


@given(c=st.floats(1e17, 1e26), k=st.floats(1.05, 20.0), fit=st.sampled_from(["chinchilla_approach3", "epoch_replication_2024"]))
def test_compute_optimal_beats_other_splits_of_the_same_budget(c, k, fit):
    opt = greener.compute_optimal(c, fit)
    assert 6 * opt["params"] * opt["tokens"] == pytest.approx(c, rel=1e-9)
    for n in (opt["params"] * k, opt["params"] / k):
        assert greener.loss(n, c / (6 * n), fit) > opt["loss"]


def test_rule_allocation_and_the_two_fits_differ():
    r = greener.rule_allocation(5.76e23, 20)
    assert r["tokens"] / r["params"] == pytest.approx(20)
    assert 6 * r["params"] * r["tokens"] == pytest.approx(5.76e23)
    a = greener.compute_optimal(5.76e23, "chinchilla_approach3")["tokens_per_param"]
    b = greener.compute_optimal(5.76e23, "epoch_replication_2024")["tokens_per_param"]
    assert b < a  # the refit's optimum is much closer to 20 tokens per parameter


def test_tokens_for_loss_inverts_the_loss():
    d = greener.tokens_for_loss(1e9, 2.4)
    assert greener.loss(1e9, d) == pytest.approx(2.4)
    f = greener.scaling_fit()
    tiny = 1e6  # E + A / N^alpha is above the target: unreachable
    assert f.E + f.A / tiny ** f.alpha > 2.4
    assert math.isnan(greener.tokens_for_loss(tiny, 2.4))


@given(target=st.floats(1.9, 3.5), k=st.floats(1.1, 8.0))
def test_loss_optimal_point_needs_the_fewest_flops(target, k):
    opt = greener.optimal_for_loss(target)
    assert greener.loss(opt["params"], opt["tokens"]) == pytest.approx(target, rel=1e-9)
    for n in (opt["params"] * k, opt["params"] / k):
        d = greener.tokens_for_loss(n, target)
        if not math.isnan(d):
            assert 6 * n * d > opt["flops"]


def test_optimal_for_loss_rejects_impossible_targets():
    f = greener.scaling_fit()
    with pytest.raises(InputError) as e:
        greener.optimal_for_loss(f.E - 0.1)
    assert e.value.parameter == "target_loss"


def test_sizing_frame_prices_each_model_and_the_optimum_is_cheapest():
    sf = greener.sizing_frame(2.3, (0.25, 0.5, 2.0, 4.0), **JOB)
    assert 1.0 in set(sf["size_factor"])  # the optimum is always included
    assert np.allclose(sf["loss"], 2.3)
    assert (sf["extra_energy_pct"] >= -1e-9).all()
    assert sf.loc[sf["extra_energy_pct"].idxmin(), "size_factor"] == 1.0
    row = sf.iloc[0]
    est = training.estimate_training(params=row["params"], tokens=row["tokens"], **JOB)
    assert row["facility_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"])
    assert row["basis"].startswith("depends on a quality claim from Hoffmann")
    with pytest.raises(InputError, match="count"):
        greener.sizing_frame(2.3, count=0.5, accelerator="a100-sxm4-80gb")
    with pytest.raises(InputError, match="colour"):
        greener.sizing_frame(2.3, colour="green")


def test_budget_frame_has_minimum_at_compute_optimal():
    bf = greener.budget_frame(1e21, (0.25, 0.5, 1.0, 2.0, 4.0))
    assert bf.loc[bf["loss"].idxmin(), "size_factor"] == 1.0
    assert np.allclose(6 * bf["params"] * bf["tokens"], 1e21)


def test_warmup_mean_seq_len():
    assert greener.warmup_mean_seq_len(2048, 2048) == pytest.approx(2048)
    a, b = 64, 2048
    s = np.linspace(a, b, 200001)
    assert greener.warmup_mean_seq_len(a, b) == pytest.approx((s ** 2).mean() / s.mean(), rel=1e-5)
    with pytest.raises(InputError, match="slw_start_seq_len"):
        greener.warmup_mean_seq_len(4096, 2048)


def levers(**kw):
    args = dict(ARCH, dedup_fraction=0.05, pruning_fraction=0.2, slw_warmup_fraction=0.1, slw_start_seq_len=64,
                slw_token_reduction_factor=2.2, early_stop_fraction=0.85, student_params=0.66e9,
                deployment_tokens=1e12, distill_tokens=5e9, **JOB)
    args.update(kw)
    return greener.levers_frame(**args).set_index("lever")


def test_token_levers_save_exactly_their_share():
    lf = levers()
    assert lf.loc["deduplication", "saved_energy_pct"] == pytest.approx(5.0)
    assert lf.loc["data pruning", "saved_energy_pct"] == pytest.approx(20.0)
    assert lf.loc["early stopping", "saved_energy_pct"] == pytest.approx(15.0)
    for lever in ("deduplication", "data pruning", "sequence-length warmup", "early stopping",
                  "sequence-length warmup + claimed token cut", "all training levers combined"):
        assert lf.loc[lever, "saved_facility_energy_kwh"] > 0
        assert lf.loc[lever, "saved_emissions_kg"] > 0
        assert lf.loc[lever, "saved_electricity_cost_usd"] > 0


def test_sequence_length_warmup_removes_exactly_the_attention_flops():
    lf = levers()
    s_warm = greener.warmup_mean_seq_len(64, 2048)
    removed = 6 * ARCH["layers"] * ARCH["hidden"] * (ARCH["seq_len"] - s_warm) * 0.1 * ARCH["tokens"]
    assert lf.loc["sequence-length warmup", "saved_flops"] == pytest.approx(removed)
    base_flops = training.training_flops(ARCH["params"], ARCH["tokens"], layers=24, hidden=2048, seq_len=2048)
    assert lf.loc["baseline", "flops"] == pytest.approx(float(base_flops))


def test_every_saving_is_labelled():
    lf = levers()
    assert lf.loc["sequence-length warmup", "basis"] == greener.ARITHMETIC
    assert lf.loc["early stopping", "basis"] == greener.ARITHMETIC
    for lever, who in (("deduplication", "Lee et al."), ("data pruning", "Sorscher et al."),
                       ("sequence-length warmup + claimed token cut", "Li et al."),
                       ("serving: distilled student", "DistilBERT")):
        assert lf.loc[lever, "basis"].startswith("depends on a quality claim from") and who in lf.loc[lever, "basis"]
    known = set(data.table("sources")["source_id"])
    assert set(x for x in lf["claim_source_id"] if x) <= known


def test_distillation_net_saving_and_break_even():
    lf = levers()
    net = (lf.loc["serving: teacher", "facility_energy_kwh"] - lf.loc["serving: distilled student", "facility_energy_kwh"]
           - lf.loc["distillation run", "facility_energy_kwh"])
    assert lf.loc["serving: distilled student", "saved_facility_energy_kwh"] == pytest.approx(net)
    assert lf.loc["serving: teacher", "tokens"] == pytest.approx(1e12)
    assert lf.loc["distillation run", "tokens"] == pytest.approx(5e9)
    t_be = greener.distillation_break_even_tokens(params=1.3e9, student_params=0.66e9, distill_tokens=5e9)
    at = levers(deployment_tokens=t_be).loc["serving: distilled student"]
    assert at["saved_flops"] == pytest.approx(0.0, abs=1e-6 * lf.loc["distillation run", "flops"])


def test_defaults_come_from_the_claims():
    lf = greener.levers_frame(**ARCH, **JOB).set_index("lever")
    dedup = greener.claim("dedup_c4_near_duplicates")["value"]
    assert lf.loc["deduplication", "saved_energy_pct"] == pytest.approx(100 * dedup)
    assert "sequence-length warmup" not in lf.index  # no warmup asked for
    assert "serving: teacher" not in lf.index


@pytest.mark.parametrize("kw,param", [
    (dict(dedup_fraction=1.0), "dedup_fraction"), (dict(pruning_fraction=-0.1), "pruning_fraction"),
    (dict(early_stop_fraction=0.0), "early_stop_fraction"), (dict(slw_warmup_fraction=1.5), "slw_warmup_fraction"),
    (dict(slw_token_reduction_factor=0.5), "slw_token_reduction_factor"), (dict(student_params=2e9), "student_params"),
    (dict(distill_tokens=None), "distill_tokens"), (dict(layers=0), "layers"), (dict(tokens=-1.0), "tokens"),
    (dict(slw_start_seq_len=8192), "slw_start_seq_len"),
])
def test_bad_lever_inputs(kw, param):
    with pytest.raises(InputError) as e:
        levers(**kw)
    assert e.value.parameter == param


def test_claims_table_and_unknown_claim():
    t = greener.claims_table()
    assert {"lever", "claim", "source_id", "status"} <= set(t.columns)
    with pytest.raises(UnknownNameError):
        greener.claim("free_lunch")
    assert set(greener.sources()) <= set(data.table("sources")["source_id"])


def test_levers_frame_is_consistent_with_a_frame_of_jobs():
    lf = levers()
    # the combined row equals a direct two-phase estimate
    d = ARCH["tokens"] * 0.95 * 0.8 * 0.85 / 2.2
    s_warm = greener.warmup_mean_seq_len(64, 2048)
    jobs = pd.DataFrame([dict(params=1.3e9, tokens=d * 0.1, layers=24, hidden=2048, seq_len=s_warm, **JOB),
                         dict(params=1.3e9, tokens=d * 0.9, layers=24, hidden=2048, seq_len=2048, **JOB)])
    est = training.estimate_training_frame(jobs)
    assert lf.loc["all training levers combined", "facility_energy_kwh"] == pytest.approx(est["facility_energy_kwh"].sum())


def test_allocation_frame_prices_every_split_of_the_budget_the_same():
    t = greener.allocation_frame(1e21, "chinchilla_approach3", **JOB)
    assert set(t["fit_id"]) == set(greener.scaling_fits()) | {""}
    assert np.allclose(6 * t["params"] * t["tokens"], 1e21)
    # same FLOPs, same job: the same energy whatever the split
    assert t["facility_energy_kwh"].max() == pytest.approx(t["facility_energy_kwh"].min(), rel=1e-9)
    opt = greener.compute_optimal(1e21, "chinchilla_approach3")
    row = t[t["fit_id"] == "chinchilla_approach3"].iloc[0]
    assert row["loss"] == pytest.approx(opt["loss"]) and t["loss"].min() == pytest.approx(opt["loss"])
    rule = t[t["fit_id"] == ""].iloc[0]
    assert rule["tokens_per_param"] == pytest.approx(20.0)
