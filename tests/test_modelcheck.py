"""Validation cases (data/validation), the case runner (joulebook.models.modelcheck), `joulebook validate` and report 90."""

from __future__ import annotations

import json
import math
import re
import shlex

import numpy as np
import pandas as pd
import pytest

import nbhelpers as nbh
from joulebook import data
from joulebook.cli import main
from joulebook.core import format as fmt
from joulebook.core.errors import DataValidationError, InputError, UnknownNameError
from joulebook.models import inference, modelcheck
from joulebook.site.execute import validate_metrics
from joulebook.stories import validation as story

NB = nbh.NOTEBOOKS / "90_model_validation.ipynb"
REPORT_ID = "model_validation"

# The fitting data issue 10 names, and nothing else: our H100 probe rows and ML.ENERGY's Llama 3.1 8B / 70B H100 rows.
PROBE_DECODE_FIT = {("weight_stream_decode", "fp32", 1), ("weight_stream_decode", "bf16", 1),
                    ("weight_stream_decode", "bf16", 16), ("weight_stream_decode", "bf16", 64),
                    ("weight_stream_decode", "bf16", 256), ("weight_stream_decode", "fp8", 16),
                    ("weight_stream_decode", "fp8", 64), ("weight_stream_decode", "int8", 32),
                    ("hf_generate_decode", "bf16", 1), ("hf_generate_decode", "fp16", 1),
                    ("hf_generate_decode", "fp32", 1), ("hf_generate_decode", "bf16", 16),
                    ("hf_generate_decode", "bf16", 64)}
MLE_FIT = ({("meta-llama/Llama-3.1-8B-Instruct", s) for s in (8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768)}
           | {("meta-llama/Llama-3.1-70B-Instruct", s) for s in (8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024)})
FIT_FAMILIES = {"probe_decode", "probe_training", "inference_serving", "training_runs"}
# published runs the training-MFU prior (data/published_mfu.csv) is built from: issue 10 item 4 names them as the
# prior's data, so they are fitting cases, never checks of the prior
PRIOR_RUN_FIT = {"bloom176b-hours", "llama31-405b-hours"}


@pytest.fixture(scope="module")
def all_cases():
    return modelcheck.cases()


@pytest.fixture(scope="module")
def results():
    return modelcheck.validate()


# --------------------------------------------------------------------------- the data


def test_every_case_is_sourced_and_marked(all_cases):
    sources = set(data.table("sources")["source_id"])
    tables = data.validation_tables()
    assert set(modelcheck.FAMILIES) <= set(tables)
    for fam, df in tables.items():
        assert len(df), fam
        assert df["role"].isin(modelcheck.ROLES).all(), fam
        assert df["source_id"].isin(sources).all(), fam
        assert df["status"].isin(data.STATUSES).all() and df["year"].between(1990, 2100).all(), fam
        assert (pd.to_numeric(df["measured_value"]) > 0).all(), fam
        assert (df["quantity"].str.len() > 0).all() and (df["measured_unit"].str.len() > 0).all(), fam
    assert len(all_cases) >= 30 and set(all_cases["role"]) == {"fit", "check"}
    assert (all_cases["role"] == "check").sum() >= 30


def test_no_case_is_both_fit_and_check(all_cases):
    assert not all_cases["case_id"].duplicated().any()
    serving = all_cases[all_cases["family"] == "inference_serving"]
    key = serving["model_id"] + "|" + serving["gpu_model"] + "|" + serving["count"].astype(str) + "|" \
        + serving["max_num_seqs"].astype(str) + "|" + serving["quantity"]
    roles = serving.assign(key=key).groupby("key")["role"].nunique()
    assert (roles == 1).all(), "the same measured configuration appears as fit and as check"
    # check families hold no fitting source and fitting families no check case of their own data
    assert set(all_cases.loc[all_cases["role"] == "fit", "family"]) <= FIT_FAMILIES
    probes = all_cases[all_cases["family"].isin(["probe_decode", "probe_training"])]
    assert (probes["role"] == "fit").all()


def test_fit_cases_are_exactly_the_fitting_data_the_issue_names(all_cases):
    fit = all_cases[all_cases["role"] == "fit"]
    # our H100 decode probe: every row of reference/measured/h100_decode_probe.csv, nothing else
    pd_fit = fit[fit["family"] == "probe_decode"]
    assert set(zip(pd_fit["experiment"], pd_fit["precision"], pd_fit["batch"].astype(int), strict=True)) == PROBE_DECODE_FIT
    assert set(pd_fit["source_id"]) == {"joulebook_h100_probe1", "joulebook_h100_probe2"}
    # our H100 training probe: exactly the train_step rows of data/measured/h100_calibration.csv
    calib = data.table("measured/h100_calibration")
    steps = calib[calib["experiment"] == "train_step"].set_index("precision")
    pt = fit[fit["family"] == "probe_training"]
    assert set(pt["precision"]) == set(steps.index)
    for r in pt.to_dict(orient="records"):
        s = steps.loc[r["precision"]]
        want = float(s["s_per_call"]) if r["quantity"] == "step_time_s" else \
            float(s["energy_j_counter"]) / float(s["calls"])
        assert r["measured_value"] == pytest.approx(want, rel=1e-6)
    # ML.ENERGY: the 23 Llama 3.1 8B / 70B H100 configurations, energy and latency each; every other row is check
    mle = all_cases[all_cases["family"] == "inference_serving"]
    is_fit_config = [(m, int(s)) in MLE_FIT and g == "H100"
                     for m, s, g in zip(mle["model_id"], mle["max_num_seqs"], mle["gpu_model"], strict=True)]
    assert ((mle["role"] == "fit") == pd.Series(is_fit_config, index=mle.index)).all()
    sf = mle[mle["role"] == "fit"]
    assert set(zip(sf["model_id"], sf["max_num_seqs"].astype(int), strict=True)) == MLE_FIT
    assert sorted(sf["quantity"].value_counts().tolist()) == [23, 23]
    # published training runs are fitting data only where the MFU prior holds the same run; deployments never
    assert set(fit["family"]) == FIT_FAMILIES
    assert set(fit.loc[fit["family"] == "training_runs", "case_id"]) == PRIOR_RUN_FIT
    assert (all_cases.loc[all_cases["family"] == "inference_deployment", "role"] == "check").all()


def test_a_case_without_a_role_or_measurement_is_rejected(tmp_path, monkeypatch):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(data.data_dir(), d)
    p = d / "validation" / "training_runs.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.loc[0, "role"] = "both"
    df.to_csv(p, index=False)
    monkeypatch.setenv(data.DATA_ENV, str(d))
    data.clear_cache()
    try:
        with pytest.raises(DataValidationError, match="role"):
            modelcheck.cases()
    finally:
        monkeypatch.delenv(data.DATA_ENV)
        data.clear_cache()


# --------------------------------------------------------------------------- ratios, coverage, summary


def _synthetic(measured, hours_given, *, accelerator="h100-sxm", case_id="syn", role="check"):
    return {"case_id": case_id, "family": "training_runs", "role": role, "run": "synthetic", "params": None,
            "tokens": None, "accelerator": accelerator, "count": 8, "precision": "bf16",
            "accelerator_hours_given": hours_given, "pue": None, "quantity": "accelerator_hours",
            "measured_value": measured, "measured_unit": "h", "source_id": "user"}


def test_ratios_on_synthetic_cases():
    # given accelerator-hours pass straight through the model: the model value is known exactly
    frame = pd.DataFrame([_synthetic(800.0, 1000.0, case_id="a"), _synthetic(1000.0, 1000.0, case_id="b"),
                          _synthetic(2000.0, 1000.0, case_id="c")])
    res = modelcheck.run_cases(case_frame=frame).set_index("case_id")
    assert (res["status"] == "ok").all()
    assert res["model"].tolist() == pytest.approx([1000.0] * 3)
    assert res["ratio"].tolist() == pytest.approx([1.25, 1.0, 0.5])
    assert res["abs_ln_ratio"].tolist() == pytest.approx([math.log(1.25), 0.0, math.log(2.0)])
    assert res["covered"].tolist() == [False, True, False]
    assert res["within_band"].tolist() == [True, True, False]
    assert res.loc["a", "command"] == ("joulebook estimate training --accelerator h100-sxm --precision bf16 --count 8 "
                                       "--accelerator-hours 1000")


def test_coverage_uses_the_low_high_envelope():
    f = pd.DataFrame({"measured": [1.0, 2.5, 2.0, 1.0], "model": [2.0, 2.0, 2.0, np.nan],
                      "low": [1.5, 1.5, 2.2, np.nan], "high": [3.0, 3.0, 2.6, np.nan]})
    out = modelcheck.add_ratios(f)
    assert out["ratio"].tolist()[:3] == pytest.approx([2.0, 0.8, 1.0])
    assert out["covered"].tolist()[:3] == [False, True, True]  # central below an unordered low still counts
    assert pd.isna(out["covered"].iloc[3]) and pd.isna(out["ratio"].iloc[3])


def test_summary_statistics_keep_fit_and_check_apart():
    r = pd.DataFrame({
        "case_id": list("abcdef"), "family": ["x"] * 5 + ["y"], "role": ["fit", "fit", "check", "check", "check", "check"],
        "status": ["ok", "ok", "ok", "ok", "not_evaluable", "ok"],
        "measured": [1.0] * 6, "model": [1.1, 2.0, 0.5, 1.0, np.nan, 4.0], "low": [1.0, 1.5, 0.4, 0.9, np.nan, 3.0],
        "high": [1.2, 2.5, 0.6, 1.1, np.nan, 5.0]})
    s = modelcheck.summarize(modelcheck.add_ratios(r)).set_index(["family", "role"])
    assert s.loc[("x", "fit"), "n_evaluated"] == 2
    assert s.loc[("x", "fit"), "median_abs_ln_ratio"] == pytest.approx((math.log(1.1) + math.log(2.0)) / 2)
    assert s.loc[("x", "fit"), "worst_case"] == "b"
    assert s.loc[("x", "fit"), "coverage"] == pytest.approx(0.5)  # b: 1.0 is below its range 1.5-2.5
    assert s.loc[("x", "check"), "n_cases"] == 3 and s.loc[("x", "check"), "n_not_evaluable"] == 1
    assert s.loc[("x", "check"), "worst_factor"] == pytest.approx(2.0)
    assert s.loc[("x", "check"), "coverage"] == pytest.approx(0.5)
    assert s.loc[("all", "check"), "n_evaluated"] == 3 and s.loc[("all", "check"), "worst_case"] == "f"
    assert s.loc[("all", "check"), "within_band"] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- cases the model cannot express yet


def test_not_evaluable_cases_say_why_and_do_not_stop_the_others():
    frame = pd.DataFrame([_synthetic(100.0, 100.0, accelerator="no-such-gpu", case_id="needs-b200"),
                          _synthetic(100.0, 100.0, case_id="fine"),
                          {**_synthetic(1.0, 1.0, case_id="unknown-family"), "family": "quantum"},
                          {**_synthetic(1.0, 1.0, case_id="unknown-quantity"), "quantity": "happiness"}])
    res = modelcheck.run_cases(case_frame=frame).set_index("case_id")
    assert res.loc["fine", "status"] == "ok" and res.loc["fine", "ratio"] == pytest.approx(1.0)
    assert res.loc["needs-b200", "status"] == "not_evaluable" and "no-such-gpu" in res.loc["needs-b200", "reason"]
    assert "--accelerator no-such-gpu" in res.loc["needs-b200", "command"]
    assert "no mapping function" in res.loc["unknown-family", "reason"]
    assert "happiness" in res.loc["unknown-quantity", "reason"]
    assert res.loc[["needs-b200", "unknown-family"], "covered"].isna().all()


def test_every_shipped_case_is_evaluated_now_that_serving_and_b200_exist(results):
    c = results.cases.set_index("case_id")
    assert (results.cases["status"] == "ok").all(), c.loc[c["status"] != "ok", "reason"].to_dict()
    b200 = c[c.index.str.contains("b200")]
    assert len(b200) >= 10 and b200["model"].gt(0).all()


def test_serving_cases_use_the_continuous_mapping_of_the_power_fit():
    row = modelcheck.cases("inference_serving").set_index("case_id").loc["mle-l31-8b-h100x1-s128-itl"].to_dict()
    call = modelcheck.call_inference_serving(row)
    ctx = inference.runtime_parameter("mlenergy_context_tokens")[1]
    pre = inference.runtime_parameter("mlenergy_prefill_tokens")[1]
    assert call.output == "inter_token_latency_ms"
    assert call.kwargs["serving"] == "continuous" and call.kwargs["max_concurrency"] == 128
    assert call.kwargs["prompt_tokens"] == round(ctx) and call.kwargs["prefill_tokens"] == round(pre)
    assert call.kwargs["new_tokens"] == round(float(row["mean_output_tokens"]))
    assert "--serving continuous --max-concurrency 128" in call.command()
    assert "--prefill-tokens" in call.command() and "--batch" not in call.command()
    # the ends of the assumed context and prefill ranges are evaluated too
    assert {v["prompt_tokens"] for v in call.variants} == {round(inference.runtime_parameter("mlenergy_context_tokens")[i])
                                                           for i in (0, 2)}
    energy = modelcheck.call_inference_serving({**row, "quantity": "gpu_energy_j_per_output_token"})
    assert energy.output == "energy_j_per_output_token_accelerator" and energy.scale == 1.0
    # a row that publishes its prompt length overrides the assumption
    assert modelcheck.call_inference_serving({**row, "mean_prompt_tokens": 1000}).kwargs["prompt_tokens"] == 1000
    with pytest.raises(modelcheck.NotEvaluable, match="max_num_seqs"):
        modelcheck.call_inference_serving({**row, "max_num_seqs": None})


def test_serving_fit_cases_reproduce_the_power_fit_frame(results):
    """The validation's fitting cases are the rows tests/test_power_fit.py checks: the same model values."""
    m = data.table("measured/mlenergy_v3_llama31_h100")
    ctx = inference.runtime_parameter("mlenergy_context_tokens")[1]
    pre = inference.runtime_parameter("mlenergy_prefill_tokens")[1]
    f = inference.inference_frame(pd.DataFrame({
        "model": np.where(m["model_id"].str.contains("70B"), "llama-3-70b", "llama-3-8b"), "count": m["gpu_count"],
        "serving": "continuous", "max_concurrency": m["max_num_seqs"], "prompt_tokens": round(ctx),
        "prefill_tokens": round(pre), "new_tokens": pd.to_numeric(m["mean_output_tokens"]).round()}))
    c = results.cases.set_index("case_id")
    for i, r in enumerate(m.to_dict(orient="records")):
        size = "70b-h100x4" if "70B" in r["model_id"] else "8b-h100x1"
        key = f"mle-l31-{size}-s{int(r['max_num_seqs'])}"
        assert c.loc[f"{key}-energy", "model"] == pytest.approx(f["energy_j_per_output_token_accelerator"].iloc[i], rel=1e-9)
        assert c.loc[f"{key}-itl", "model"] == pytest.approx(f["inter_token_latency_ms"].iloc[i], rel=1e-9)


def test_variants_widen_low_high_to_the_envelope(monkeypatch):
    row = modelcheck.cases("inference_serving").set_index("case_id").loc["mle-l31-8b-h100x1-s64-energy"].to_dict()
    row["case_id"], row["family"] = "mle-l31-8b-h100x1-s64-energy", "inference_serving"
    wide = modelcheck.run_cases(case_frame=pd.DataFrame([row])).iloc[0]
    call = modelcheck.call_inference_serving(row)
    alone = inference.inference_frame(pd.DataFrame([dict(call.kwargs)])).iloc[0]
    out = call.output
    assert wide["model"] == pytest.approx(alone[out], rel=1e-12)
    assert wide["low"] <= alone[out + "_low"] and wide["high"] >= alone[out + "_high"]
    assert (wide["low"], wide["high"]) != (pytest.approx(alone[out + "_low"]), pytest.approx(alone[out + "_high"]))


def test_deployment_maps_arrival_rate_to_utilisation():
    row = modelcheck.cases("inference_deployment").iloc[0].to_dict()
    call = modelcheck.call_inference_deployment(row)
    kw = call.kwargs
    assert call.output == "energy_wh_per_request_service"
    assert kw["serving"] == "continuous" and kw["max_concurrency"] == 1 and kw["pue"] == modelcheck.DEPLOYMENT_PUE
    assert kw["prompt_tokens"] == modelcheck.DEPLOYMENT_PROMPT_TOKENS[1]
    assert kw["new_tokens"] == modelcheck.DEPLOYMENT_OUTPUT_TOKENS[1]
    # utilisation = arrival rate x busy time per request at one running request
    lam = float(row["requests"]) / (float(row["days"]) * 86400.0)
    busy = inference.estimate_inference(**{k: v for k, v in kw.items() if k != "utilisation"}).central
    assert kw["utilisation"] == pytest.approx(lam * kw["new_tokens"] / busy["output_tokens_per_s"], rel=1e-5)
    assert 0 < kw["utilisation"] < 1
    # the whole deployment's energy per request = busy + idle share; with the wall time per request = 1 / lambda
    est = inference.estimate_inference(**kw).central
    assert est["energy_wh_per_request_service"] > est["energy_wh_per_request"]
    assert "--utilisation" in call.command() and len(call.variants) == 4
    # a load the single-request engine cannot keep up with runs through Little's law instead
    busy_row = {**row, "requests": float(row["requests"]) * 1000}
    heavy = modelcheck.call_inference_deployment(busy_row).kwargs
    assert "utilisation" not in heavy and heavy["arrival_rate_per_s"] == pytest.approx(lam * 1000, rel=1e-5)
    with pytest.raises(modelcheck.NotEvaluable, match="days"):
        modelcheck.call_inference_deployment({**row, "days": None})


def test_assumptions_name_the_serving_rows_and_drop_the_static_stand_in():
    a = {x["name"]: x for x in modelcheck.assumptions()}
    assert "serving_batch" not in a and "serving_prompt_tokens" not in a
    ctx = inference.runtime_parameter("mlenergy_context_tokens")
    assert f"{ctx[1]:g}" in a["serving_context_tokens"]["value"] and "mlenergy_context_tokens" in a["serving_context_tokens"]["note"]
    assert {"deployment_prompt_tokens", "deployment_output_tokens", "deployment_utilisation"} <= set(a)
    assert modelcheck.ASSUMPTIONS == modelcheck.assumptions()
    assert "round(mean" not in json.dumps(list(a.values()))


# --------------------------------------------------------------------------- every case is a real command


@pytest.mark.parametrize("case_id, key", [
    ("probe-train-bf16-step-time-s", "step_time_s"), ("llama31-70b-hours", "accelerator_hours"),
    ("patterson-gpt-3-energy", "facility_energy_kwh"), ("mle-l31-8b-h100x1-s128-itl", "serving.inter_token_latency_ms"),
    ("mle-l31-405b-fp8-h100x8-s64-itl", "serving.inter_token_latency_ms"),  # custom architecture, fp8, bf16 KV cache
    ("mle-l31-8b-b200x1-s256-energy", "serving.energy_j_per_output_token.accelerator"),
    ("bloom-api-energy-per-request", "serving.energy_wh_per_request.service"),  # busy + idle share
])
def test_the_command_reproduces_the_model_value(results, capsys, case_id, key):
    r = results.cases.set_index("case_id").loc[case_id]
    argv = shlex.split(r["command"])
    assert argv[0] == "joulebook"
    capsys.readouterr()
    assert main(argv[1:] + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for part in key.split("."):
        out = out[part]
    assert out == pytest.approx(r["model"], rel=1e-9)


# --------------------------------------------------------------------------- the CLI contract


def test_cli_json_is_one_object(capsys):
    assert main(["validate", "--json", "--family", "probe_training", "--role", "fit"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out)  # the whole of stdout is one object
    assert isinstance(d, dict) and set(d) >= {"cases", "summary", "families", "roles"}
    assert {c["family"] for c in d["cases"]} == {"probe_training"} and {c["role"] for c in d["cases"]} == {"fit"}
    assert all(set(c) >= {"command", "measured", "model", "low", "high", "ratio", "abs_ln_ratio", "covered"}
               for c in d["cases"])
    assert {(s["family"], s["role"]) for s in d["summary"]} == {("probe_training", "fit"), ("all", "fit")}


def test_cli_human_output_lists_cases_and_summary(capsys):
    assert main(["validate", "--family", "training_runs", "--family", "inference_deployment"]) == 0
    out = capsys.readouterr().out
    assert "$ joulebook estimate training" in out and "$ joulebook estimate inference" in out
    assert "--utilisation" in out and "covered" in out and "not evaluable:" not in out
    assert "deployment_utilisation" in out and "serving_context_tokens" not in out  # only the families shown
    assert "Summary" in out and "training_runs" in out and "inference_deployment" in out


@pytest.mark.parametrize("argv, hint", [
    (["validate", "--family", "probe_decod"], "close matches: probe_decode"),
    (["validate", "--family", "training"], "training_runs"),
    (["validate", "--role", "both"], "invalid choice"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, hint):
    assert main(argv) == 2
    err = capsys.readouterr()
    assert err.out == "" and hint in err.err and len(err.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the report


DEFAULTS = nbh.parameters(nbh.read(NB).cells)  # defaults live once: the notebook's parameters cell


def test_check_parameters():
    p = story.check(**DEFAULTS)
    assert p["families"] == modelcheck.known_families() and p["roles"] == ["fit", "check"] and p["band"] == 1.25
    assert story.check(**{**DEFAULTS, "families": ["training_runs"]})["families"] == ["training_runs"]
    for bad, param, err in [({"band": 1.0}, "band", InputError), ({"roles": ["both"]}, "role", InputError),
                            ({"families": ["probe"]}, "family", UnknownNameError),
                            ({"families": "training_runs"}, "families", InputError),
                            ({"bandwidth": 2.0}, "parameters", UnknownNameError)]:
        with pytest.raises(err) as e:
            story.check(**{**DEFAULTS, **bad})
        assert e.value.parameter == param


@pytest.fixture(scope="module")
def two_families():
    return story.run(story.check(**{**DEFAULTS, "families": ["training_runs", "probe_training"]}))


def test_report_metrics_are_valid_and_follow_the_cases(two_families):
    m = story.metrics_for({**DEFAULTS, "families": ["training_runs", "probe_training"]})
    assert validate_metrics(m) == []
    chk = two_families.summary.set_index(["family", "role"]).loc[("all", "check")]
    assert m["key_figures"][0]["value"] == pytest.approx(chk["median_factor"], rel=1e-4)
    assert m["by_family"]["training_runs:check"]["n"] == 12 and m["by_family"]["training_runs:fit"]["n"] == 2
    assert m == story.metrics(two_families)  # deterministic
    assert m["finding"] == story.finding(two_families)[0]


def test_finding_says_what_the_cases_show(two_families):
    v = two_families
    headline, tiles = story.finding(v)
    ok = v.cases[v.cases["status"] == "ok"]
    covered = int(ok["covered"].astype(bool).sum())
    assert f"covers {covered} of {len(ok)} measurements" in headline
    fit = v.summary.set_index(["family", "role"]).loc[("all", "fit")]
    assert f"{fmt.ratio(fit['median_factor'])} on fit cases" in headline
    assert dict((t[0], t[1]) for t in tiles)["Median miss, check cases"] == fmt.ratio(
        v.summary.set_index(["family", "role"]).loc[("all", "check"), "median_factor"])
    for text in [headline, *(x for t in tiles for x in t)]:
        assert not re.search(r"None|nan|null|<NA>|n/a", text), text


def test_tables_show_names_units_and_no_raw_missing_values(two_families):
    v = two_families
    s, c, a = story.summary_table(v), story.cases_table(v), story.assumptions_table()
    assert "Published training runs" in set(s.frame["Family"]) and "family" not in s.frame.columns
    assert "Median miss (×)" in s.frame.columns and "Inside low–high (% of cases)" in s.frame.columns
    assert "Facility energy (kWh)" in set(c.frame["Quantity (unit)"]) and "Command" in c.frame.columns
    assert len(c.frame) == len(v.cases) and c.sortable
    assert set(a.frame.columns) == {"Assumption", "Value", "Unit", "Applies to", "Why"}
    for t in (s, c, a):
        html = t.to_html()
        assert not re.search(r">(None|nan|null|&lt;NA&gt;|n/a)<", html)


def test_parity_figure_one_panel_per_family_and_quantity(two_families):
    import matplotlib

    matplotlib.use("Agg")
    fig = story.parity_figure(two_families)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    panels = two_families.cases.groupby(["family", "quantity"]).ngroups
    assert len(shown) == panels
    assert all("(" in ax.get_xlabel() and ax.get_xlabel().split("(")[1] == ax.get_ylabel().split("(")[1]
               for ax in shown)  # one unit per panel, on both axes
    assert fig.legends and not any(ax.get_legend() for ax in shown)  # one legend, outside the panels
    assert f"{panels} panels" in story.parity_alt(two_families)


def test_hygiene():
    cells, at = nbh.check_hygiene(NB, "story.check(")
    code = [c for c in cells if c.cell_type == "code"]
    finding_at = next(i for i, c in enumerate(code) if "report.finding(*story.finding(" in c.source)
    provenance_at = next(i for i, c in enumerate(code) if "report.provenance(" in c.source)
    assert finding_at <= 3 < provenance_at  # the answer first, provenance at the end
    assert all("provenance" in c.metadata.get("tags", []) for c in code[provenance_at:-1])
    assert "figures.show(" in "".join(c.source for c in code) and "plots.show(" not in "".join(c.source for c in code)


def test_parameters_are_the_story_parameters_and_all_validated():
    cells = nbh.read(NB).cells
    assert tuple(DEFAULTS) == story.PARAMETERS
    validation = next(c.source for c in cells if "story.check(" in c.source)
    for name in DEFAULTS:
        assert f"{name}={name}" in validation, name


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.validation:metrics_for", DEFAULTS)


# --------------------------------------------------------------------------- issue 10's bar for the shipped model


def test_low_high_covers_at_least_80_percent_of_the_shipped_cases(results):
    """The model's stated uncertainty must hold: at least 80 % of all measured cases inside low-high.

    A model change that narrows the ranges or moves the centre away from the measurements fails here.
    """
    c = results.cases
    ok = c[c["status"] == "ok"]
    assert len(ok) == len(c), "every shipped case is evaluable"
    assert ok["covered"].astype(bool).mean() >= 0.80
    # and the fitting cases stay close: the issue's fit tolerances live in tests/test_power_fit.py
    fit = ok[ok["role"] == "fit"]
    assert fit["covered"].astype(bool).mean() >= 0.80


def test_cases_say_what_was_measured_in_words(two_families):
    t = story.cases_table(two_families)
    what = dict(zip(t.frame["Case"], t.frame["What was measured"], strict=True))
    assert what["bloom176b-hours"] == "BLOOM 176B"  # a published run by its name
    assert what["probe-train-bf16-step-time-s"].startswith("369M-parameter model on NVIDIA H100")
    assert "bf16" in what["probe-train-bf16-step-time-s"] and "batch 8" in what["probe-train-bf16-step-time-s"]
    assert story.describe({"model_id": "meta-llama/Llama-3.1-8B-Instruct", "accelerator": "h100-sxm", "count": 4,
                           "precision": "bf16", "max_num_seqs": 64}) == \
        "Llama 3.1 8B Instruct on 4 × NVIDIA H100 SXM5 (bf16, up to 64 requests at once)"
