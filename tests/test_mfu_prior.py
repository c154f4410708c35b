"""The training-MFU prior (published runs by generation and scale) and like-with-like rankings."""

import math

import numpy as np
import pandas as pd
import pytest

from joulebook import data
from joulebook.core.errors import InputError
from joulebook.models import roi, training
from joulebook.stories import hardware_roi, notebook_defaults
from joulebook.stories import training as ts

PUB = data.table("published_mfu")
EFF = data.table("efficiency")
TRAIN = EFF[EFF["workload"] == "train"]
SOURCES = set(data.table("sources")["source_id"])


def test_every_published_row_is_sourced_and_plausible():
    assert len(PUB) >= 12
    assert PUB["source_id"].isin(SOURCES).all()
    assert PUB["run_id"].is_unique
    assert ((PUB["mfu"] > 0.05) & (PUB["mfu"] < 0.8)).all()
    assert set(PUB["kind"]) <= {"run", "benchmark"}
    assert PUB["note"].notna().all() and PUB["basis"].notna().all()
    # every generation named by a run is a generation of some accelerator (or a named older one)
    gens = {a.generation for a in data.accelerators().values()}
    assert set(PUB["generation"]) <= gens


def test_the_named_runs_are_in_the_table():
    runs = set(PUB["run_id"])
    for r in ("palm-540b", "megascale-175b", "llama3-405b-8k", "opt-175b", "bloom-176b", "gopher-280b",
              "mtnlg-530b", "megatron-530b-selective", "deepseek-v3"):
        assert r in runs
    assert PUB.set_index("run_id").loc["palm-540b", "mfu"] == pytest.approx(0.462)
    assert PUB.set_index("run_id").loc["megascale-175b", "accelerator_count"] == 12288


def test_prior_rows_are_sourced_and_ordered():
    assert TRAIN["source_id"].isin(SOURCES).all()
    assert (TRAIN["efficiency_low"] <= TRAIN["efficiency"]).all()
    assert (TRAIN["efficiency"] <= TRAIN["efficiency_high"]).all()
    assert set(TRAIN["scale_band"]) == set(training.SCALE_BANDS)
    assert set(TRAIN["confidence"]) <= {"measured", "published", "benchmark", "transferred"}
    # matmul rows are kept
    assert ((EFF["workload"] == "matmul") & (EFF["accelerator_id"] == "h100-sxm")).sum() == 6


@pytest.mark.parametrize("band", ["cluster", "frontier"])
def test_published_prior_lies_within_the_published_range_of_its_generation(band):
    eligible = PUB[PUB["precision"].isin(["bf16", "fp16"]) & (PUB["model_params"] >= training.PROBE_MAX_PARAMS)]
    for acc in data.accelerators().values():
        if not acc.supports("bf16"):
            continue
        p = training.mfu_prior(acc.accelerator_id, "bf16", band)
        runs = eligible[eligible["generation"] == acc.generation]
        if p.confidence in ("published", "benchmark"):
            assert runs["mfu"].min() - 1e-9 <= p.central <= runs["mfu"].max() + 1e-9, acc.accelerator_id
        else:
            assert p.confidence == "transferred" and p.low_confidence
            assert runs[runs["kind"] == "run"].empty, acc.accelerator_id


def test_llama3_405b_paper_mfu_is_covered_for_h100_at_that_scale():
    # Llama 3 paper (not the model card), Table 4: 38-43 % BF16 MFU on 8,192-16,384 H100s
    p = training.mfu_prior("h100-sxm", "bf16", "frontier")
    assert p.confidence == "published" and not p.low_confidence
    assert p.low <= 0.38 and 0.43 <= p.high
    assert p.low <= p.central <= p.high
    assert training.scale_band([405e9], [16384])[0] == "frontier"


def test_probe_mfu_applies_only_to_probe_sized_models():
    probe = training.mfu_prior("h100-sxm", "bf16", "probe")
    assert probe.central == pytest.approx(316.04 / 989, rel=1e-3) and probe.basis == "probe"
    big = training.mfu_prior("h100-sxm", "bf16", "cluster")
    assert big.basis == "published prior" and big.central != pytest.approx(probe.central)
    assert list(training.scale_band([3.7e8, 7e9, 7e9], [1, 8, 4096])) == ["probe", "cluster", "frontier"]
    small = training.estimate_training(params=3.7e8, tokens=1e9, accelerator="h100-sxm")
    large = training.estimate_training(params=7e9, tokens=1e11, accelerator="h100-sxm", count=64)
    assert small.assumptions["mfu"].value == pytest.approx(probe.central)
    assert large.assumptions["mfu"].value == pytest.approx(big.central)
    with pytest.raises(InputError):
        training.mfu_prior("h100-sxm", "bf16", "galactic")


def test_every_estimate_shows_its_basis():
    est = training.estimate_training(params=7e9, tokens=1e11, accelerator="b200", count=64)
    b = est.assumptions["mfu_basis"]
    assert "transferred" in str(b.value) and "LOW (transferred)" in b.note and b.source == "joulebook_published_mfu"
    names = [a["name"] for a in est.to_dict()["assumptions"]]
    assert "mfu" in names and "mfu_basis" in names
    given = training.estimate_training(params=7e9, tokens=1e11, accelerator="h100-sxm", count=64, mfu=0.5)
    assert given.assumptions["mfu_basis"].value == "given"


def test_frame_marks_basis_and_confidence_per_row():
    df = pd.DataFrame({"params": [7e9] * 4 + [3.7e8], "tokens": 1e11, "count": [64, 64, 64, 4096, 1],
                       "accelerator": ["h100-sxm", "l4", "mi300x", "a100-sxm4-80gb", "a100"], "precision": "bf16"})
    out = training.estimate_training_frame(df)
    assert list(out["mfu_scale_band"]) == ["cluster", "cluster", "cluster", "frontier", "probe"]
    assert list(out["mfu_low_confidence"]) == [False, True, True, False, True]
    assert list(out["mfu_basis"][:4]) == ["published prior", "transferred prior", "transferred prior", "published prior"]
    assert out["mfu_basis"].iloc[4] == "probe (transferred)"
    # the rate used is the prior's central value
    h = out.iloc[0]
    assert h["accelerator_hours"] == pytest.approx(6 * 7e9 * 1e11 / (989e12 * h["mfu_used"]) / 3600)


@pytest.mark.parametrize("acc", ["b200", "gb200", "mi300x", "mi325x", "gaudi3"])
def test_new_parts_estimate_without_price_or_embodied_rows(acc):
    est = training.estimate_training(params=7e9, tokens=1e11, accelerator=acc, count=64, region="us-va")
    assert est.central["facility_energy_kwh"] > 0
    assert est.central["embodied_emissions_kg"] is None and est.central["cloud_cost_usd"] is None
    assert est.assumptions["embodied_kg_per_accelerator_hour"].value is None


def test_aliases_users_type():
    for alias, acc in (("b200", "b200"), ("B200", "b200"), ("mi300x", "mi300x"), ("tpu-v5e", "tpu-v5e"),
                       ("a10g", "a10g"), ("gaudi3", "gaudi3"), ("gaudi-3", "gaudi3"), ("trillium", "tpu-v6e"),
                       ("tpu_v5p", "tpu-v5p"), ("gb200", "gb200"), ("mi325x", "mi325x")):
        assert data.accelerator(alias).accelerator_id == acc
    assert data.accelerator("gb200").peak("bf16") == 2500  # per GPU, dense
    assert data.accelerator("b200").peak("fp8") == 4500
    assert not data.accelerator("a10g").supports("bf16")  # no citable peaks: missing, not guessed
    with pytest.raises(InputError, match="no peak figures"):
        training.estimate_training(params=7e9, tokens=1e11, accelerator="a10g")


@pytest.mark.parametrize("accelerator, mfu", [("h100-sxm", None), ("h100-pcie", 0.6), ("l4", None)])
def test_training_report_never_names_a_low_confidence_part_best(accelerator, mfu):
    run = ts.check(params=7e9, tokens=2e12, accelerator=accelerator, count=512, precision="bf16", region="us-va",
                   mfu=mfu)
    df = ts.accelerators(run)
    low = df[df["low_confidence"]]
    assert {"NVIDIA H100 PCIe", "NVIDIA L4 PCIe (single slot, low profile)"} <= set(low["name"])
    text = ts.accelerators_text(run, df)
    best = text.split("least energy: ")[1]
    named = best.split(" (")[0]
    assert named not in set(low["name"])
    assert text.split("fastest: ")[1].split(" (")[0] not in set(low["name"])
    # one basis: no row of the comparison uses a given MFU, every row the prior of its generation and band
    assert set(df["mfu_basis"]) <= {"published prior", "transferred prior"}
    assert df["mfu_scale_band"].nunique() == 1
    for _, r in df.iterrows():
        assert r["mfu_used"] == pytest.approx(training.mfu_prior(r["accelerator"], "bf16", "cluster").central)


def test_hardware_report_never_names_a_low_confidence_part_best():
    f = roi.hardware_frame(params=7e9, tokens=1.4e11, accelerators=["a100-sxm4-80gb", "h100-sxm", "l4", "l40s", "b200"],
                           counts=[8, 64])
    r = roi.ranking(f)
    top = roi.best_ranked(r)
    assert top is not None and not top["mfu_low_confidence"]
    # L4 has more tokens per kWh on paper; it is not ranked
    l4 = r[r["accelerator"] == "l4"]
    assert (l4["tokens_per_kwh"] > top["tokens_per_kwh"]).all() and not l4["ranked"].any()
    assert (r.loc[r["ranked"], "rank_tokens_per_kwh"] < r.loc[~r["ranked"], "rank_tokens_per_kwh"].min()).all()
    only_low = roi.ranking(roi.hardware_frame(params=7e9, tokens=1.4e11, accelerators=["l4", "b200"], counts=[8]))
    assert roi.best_ranked(only_low) is None


def test_hardware_study_prose_and_metrics_skip_low_confidence_parts():
    p = notebook_defaults.defaults(hardware_roi.NOTEBOOK)
    p["accelerators"] = ["a100-sxm4-80gb", "h100-sxm", "l4", "mi300x"]
    p["demand_resolution"] = "daily"
    res = hardware_roi.compute(hardware_roi.check(**p))
    text = hardware_roi.hardware_md(res) + " " + hardware_roi.finding(res)[0]
    for low in ("l4", "mi300x"):
        name = data.accelerator(low).name
        assert f"**{name}**" not in text and f"fewest kWh are used by **{name}" not in text
    m = hardware_roi.metrics(res)
    assert m["best_tokens_per_kwh_accelerator"] in ("a100-sxm4-80gb", "h100-sxm")
    assert set(m["low_confidence_accelerators"]) == {"l4", "mi300x"}
    tbl = hardware_roi.ranking_table(res).frame
    l4 = tbl["Accelerator"] == data.accelerator("l4").name
    assert l4.any() and (tbl.loc[l4, "Rank (tokens per kWh)"] == "not ranked: low-confidence MFU").all()


def test_same_basis_for_every_part_of_a_precision_comparison():
    from joulebook.models import precision as pr

    f = pr.precision_frame(params=7e9, tokens=1e10, batch=64, seq_len=2048, accelerators=["h100-sxm", "a100", "l4"],
                           precisions=["bf16"], count=64)
    assert f["mfu_scale_band"].nunique() == 1
    assert list(f["mfu_low_confidence"]) == [False, False, True]
    assert not math.isnan(f["mfu_used"].iloc[0])
    assert np.allclose(f["mfu_used"], [training.mfu_prior(a, "bf16", "cluster").central for a in f["accelerator"]])
