"""joulebook.models.compression (technique transforms, accuracy from data only, trade-off frames) and the report built
on it, joulebook.stories.compression."""

import numpy as np
import pandas as pd
import pytest

import nbhelpers as nbh
from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownModelError
from joulebook.models import compression as C
from joulebook.models import inference, techniques
from joulebook.models import presets as models
from joulebook.models.inference import inference_frame
from joulebook.site.execute import validate_metrics
from joulebook.stories import compression as S


def test_parse_techniques():
    assert C.parse_technique("") == [] and C.parse_technique(None) == [] and C.parse_technique("baseline") == []
    (t,) = C.parse_technique("int4-weight-only")
    assert (t.kind, t.precision, t.family) == ("weight_only", "int4", "quantization")
    (t,) = C.parse_technique("prune:0.5:sparse")
    assert (t.kind, t.sparsity, t.sparse_kernels, t.family) == ("prune", 0.5, True, "pruning")
    (t,) = C.parse_technique("distill:llama-1b")
    assert t.student == "llama-3.2-1b" and t.family == "distillation"
    (t,) = C.parse_technique("moe:2/8")
    assert (t.experts_active, t.experts) == (2, 8)
    assert [x.kind for x in C.parse_technique("int4-weight-only+sparse-2:4+kv:fp8")] == ["weight_only", "sparse24", "kv"]
    assert C.parse_technique("bf16")[0].family == "mixed precision"
    for bad in ("fp9", "prune:1.5", "prune:x", "moe:3/2", "int4", "fp8+int8-weight-only", "sparse-2:4+prune:0.5",
                "prune:0.5:wrong"):
        with pytest.raises(InputError) as e:
            C.parse_technique(bad)
        assert e.value.parameter == "technique", bad
    with pytest.raises(UnknownModelError):
        C.parse_technique("distill:llama-9b")


def _one(**kw):
    return inference_frame(pd.DataFrame([kw])).iloc[0]


def test_pruning_without_sparse_kernels_changes_nothing():
    base = _one(model="llama-2-7b", batch=8)
    dense = _one(model="llama-2-7b", batch=8, technique="prune:0.5")
    for k in ("decode_ms_per_token", "prefill_ms", "weights_gb", "energy_j_per_1k_tokens"):
        assert dense[k] == pytest.approx(base[k], rel=1e-12), k
    sparse = _one(model="llama-2-7b", batch=8, technique="prune:0.5:sparse")
    assert sparse["weights_gb"] < base["weights_gb"] and sparse["decode_ms_per_token"] < base["decode_ms_per_token"]
    assert sparse["prefill_compute_ms"] == pytest.approx(base["prefill_compute_ms"], rel=1e-12)  # no tensor-core speed-up


def test_2of4_speeds_compute_by_the_measured_factor_and_shrinks_weights():
    base = _one(model="llama-2-7b", batch=8, prompt_tokens=2048)
    sp = _one(model="llama-2-7b", batch=8, prompt_tokens=2048, technique="sparse-2:4")
    m = models.model("llama-2-7b")
    lm = m.vocab * m.hidden
    lin = 2 * (m.params_active - 2 * lm) * 8 * 2048
    rate = 989e12 * inference.compute_efficiency("h100-sxm", "bf16")[1]
    saved = lin / rate * (1 - 1 / 1.2762) * 1e3
    assert base["prefill_compute_ms"] - sp["prefill_compute_ms"] == pytest.approx(saved, rel=1e-3)
    # linear weights: half the values + 1 bit per weight of index; embeddings stay dense
    linear = m.params_total - 2 * lm
    expected = (linear * (2 * 0.5 + 0.125) + 2 * lm * 2) / 1e9
    assert sp["weights_gb"] == pytest.approx(expected, rel=1e-9)


def test_weight_only_quantization_pays_dequantization_and_keeps_activation_compute():
    base = _one(model="llama-2-7b", batch=1, prompt_tokens=1, new_tokens=1)
    q = _one(model="llama-2-7b", batch=1, prompt_tokens=1, new_tokens=1, technique="int8-weight-only")
    assert q["compute_precision"] == "bf16" and q["weight_precision"] == "int8" and bool(q["weight_only"])
    deq = inference.runtime_parameter("dequant_bandwidth_factor_int8")[1]
    assert base["decode_memory_ms"] / q["decode_memory_ms"] == pytest.approx(2 * deq, rel=0.01)
    w8a8 = _one(model="llama-2-7b", batch=1, technique="w8a8")
    assert w8a8["compute_precision"] == "int8"
    explicit = _one(model="llama-2-7b", batch=1, weight_precision="int4", activation_precision="bf16", weight_only=True)
    via_technique = _one(model="llama-2-7b", batch=1, technique="int4-weight-only")
    assert explicit["decode_ms_per_token"] == pytest.approx(via_technique["decode_ms_per_token"])


def test_distillation_and_moe_transform_the_description():
    d = _one(model="llama-3-8b", technique="distill:llama-3.2-1b")
    assert d["model_id"] == "llama-3.2-1b" and d["params_total"] == models.model("llama-3.2-1b").params_total
    m = models.model("llama-2-7b")
    up = _one(model="llama-2-7b", technique="moe:1/8")
    mlp = 3 * m.hidden * m.intermediate * m.layers
    assert up["params_total"] == pytest.approx(m.params_total + 7 * mlp + m.layers * m.hidden * 8)
    assert up["params_active"] == pytest.approx(m.params_total + m.layers * m.hidden * 8)
    mix = _one(model="mixtral", technique="moe:1")
    mx = models.model("mixtral")
    assert mix["params_total"] == mx.params_total
    assert mix["params_active"] == pytest.approx(mx.params_active - 3 * mx.hidden * mx.intermediate * mx.layers)
    with pytest.raises(InputError):
        _one(model="llama-2-7b", technique="moe:1")


def test_accuracy_comes_only_from_matching_rows():
    rows = C.accuracy("llama-3-8b", "fp8")
    assert [r["record_id"] for r in rows] == ["Q031"] and rows[0]["change_pct"] == pytest.approx(-0.46)
    assert [r["record_id"] for r in C.accuracy("llama-3-8b", "int4-weight-only")] == ["Q032"]
    assert C.accuracy("llama-3-8b", "int8-weight-only") == []
    assert C.accuracy("llama-3-8b", "distill:llama-3.2-1b") == []
    assert C.accuracy("llama-3.2-1b", "int4-weight-only") == []  # those rows are W4A8, another technique
    assert C.accuracy("llama-2-7b", "fp8") == []  # no accuracy names: no data
    sp = C.accuracy("llama-2-70b", "sparse-2:4")
    assert {r["record_id"] for r in sp} == {"Q047", "Q048"} and all(r["change_pct"] < 0 for r in sp)  # loss up = worse
    w8 = C.accuracy("llama-2-70b", "w8a8")
    assert w8[0]["record_id"] == "Q026"
    assert w8[0]["change_pct"] == pytest.approx((67.2 - 69.1) / 69.1 * 100, rel=1e-3)
    src = data.table("compression_accuracy").set_index("record_id")
    for r in sp + w8 + rows:
        assert src.loc[r["record_id"], "source_id"] == r["source_id"]


def test_technique_table_marks_unsupported_and_ratios():
    t = C.technique_table(["fp8", "int4-weight-only", "prune:0.5"], model="llama-2-7b", accelerator="a100-sxm4-80gb",
                          batch=4)
    fp8 = t[t["technique"] == "fp8"].iloc[0]
    assert not fp8["supported"] and "fp8" in fp8["reason"] and pd.isna(fp8.get("energy_j_per_1k_tokens"))
    base = t[t["technique"] == "baseline"].iloc[0]
    assert base["speedup"] == 1.0 and base["accuracy_change_pct"] == 0.0
    p = t[t["technique"] == "prune:0.5"].iloc[0]
    assert p["speedup"] == pytest.approx(1.0) and p["accuracy_metric"] == "no data"
    q = t[t["technique"] == "int4-weight-only"].iloc[0]
    assert q["memory_reduction"] == pytest.approx(base["weights_gb"] / q["weights_gb"])
    assert q["speedup"] > 1.5


def test_quantization_stops_helping_as_batch_grows():
    sw = C.batch_sweep(["int4-weight-only", "fp8"], [1, 8, 64, 512], model="llama-3-8b", prompt_tokens=256, new_tokens=256)
    s = sw[sw["technique"] == "int4-weight-only"].sort_values("batch")["speedup"].to_numpy()
    assert s[0] > 1.8 and s[-1] < 1.1 and np.all(np.diff(s) < 0)
    stop = C.stops_helping(sw, "int4-weight-only")
    assert stop in (64, 512)
    assert C.stops_helping(sw, "fp8") is None  # fp8 also speeds compute, so it keeps helping
    synthetic = pd.DataFrame({"technique": ["x"] * 4, "batch": [1, 2, 4, 8], "speedup": [1.5, 1.05, 1.2, 1.0]})
    assert C.stops_helping(synthetic, "x") == 8
    assert C.stops_helping(synthetic, "x", helps_threshold=1.01) == 8
    with pytest.raises(InputError):
        C.stops_helping(synthetic, "fp8")


def test_runtime_comparison_eager_cost_shrinks_with_batch():
    rc = C.runtime_comparison([1, 16, 256], model="llama-2-7b")
    eager = rc[rc["runtime"] == "eager"].sort_values("batch")
    assert (eager["slowdown_vs_compiled"] > 1).all()
    assert eager["slowdown_vs_compiled"].is_monotonic_decreasing
    assert (rc[rc["runtime"] == "compiled"]["overhead_share"] == 0).all()


def test_pareto_front():
    t = pd.DataFrame({"technique": ["baseline", "a", "b", "c", "d"], "supported": [True] * 5,
                      "energy_j_per_1k_tokens": [10.0, 5.0, 6.0, 4.0, 3.0],
                      "accuracy_change_pct": [0.0, -1.0, -2.0, -5.0, np.nan], "accuracy_metric": ["m"] * 5,
                      "accuracy_record": [""] * 5, "accuracy_source": [""] * 5})
    p = C.pareto_frame(t).set_index("technique")["pareto_optimal"]
    assert p.to_dict() == {"baseline": True, "a": True, "b": False, "c": True}


def test_strategy_table_verdicts_follow_the_numbers():
    st = C.strategy_table(student="llama-3.2-1b", model="llama-3-8b", region="se")
    assert set(st["strategy"]) == {"mixed precision", "quantization", "pruning", "distillation"}
    for _, r in st.iterrows():
        v = r["model_speedup"]
        if r["speed_verdict"] == "holds":
            assert r["claim_speedup_low"] * 0.9999 <= v <= r["claim_speedup_high"] * 1.0001
        elif r["speed_verdict"] == "exceeds the claim":
            assert v > r["claim_speedup_high"]
        elif r["speed_verdict"] == "falls short":
            assert v < r["claim_speedup_low"]
        assert r["claim_source"] in set(data.table("sources")["source_id"])
    dense_prune = st[st["technique"] == "prune:0.5"].iloc[0]
    assert dense_prune["model_speedup"] == pytest.approx(1.0) and dense_prune["speed_verdict"] == "holds"
    fp8 = st[st["technique"] == "fp8"].iloc[0]
    assert "modelopt_benchmark" in fp8["published"] and "Q031" in fp8["accuracy"]
    assert st[st["technique"] == "w8a8"].iloc[0]["accuracy"] == "no data"
    a100 = C.strategy_table(model="llama-2-7b", accelerator="a100-sxm4-80gb")
    assert a100[a100["technique"] == "fp8"].iloc[0]["speed_verdict"] == "not supported here"


def _nb_parameters():
    return nbh.parameters(nbh.read(nbh.NOTEBOOKS / "20_compression_tradeoffs.ipynb").cells)


def test_technique_grammar_lives_below_inference():
    """One direction only: inference applies techniques through models.techniques; compression builds on both."""
    assert C.parse_technique is techniques.parse_technique and C.accuracy is techniques.accuracy
    assert "compression" not in inference.__dict__


def test_report_parameters_are_checked():
    ok = _nb_parameters()
    plan = S.check(**ok)
    assert plan["techniques"][-1] == "distill:llama-3.2-1b" and plan["scenario"]["model"] == "llama-3-8b"
    for key, bad in (("batch", 0), ("model", "llama-9b"), ("techniques", []), ("batches", [0]), ("runtime", "jit"),
                     ("count", 3), ("region", "atlantis"), ("helps_threshold", 0.5), ("techniques", ["fp9"])):
        with pytest.raises((InputError, UnknownModelError, KeyError)):
            S.check(**dict(ok, **{key: bad}))
    with pytest.raises(InputError) as e:
        S.metrics_for({k: v for k, v in ok.items() if k != "batch"})
    assert e.value.parameter == "batch"


def test_technique_names_are_words():
    assert S.technique_name("int4-weight-only") == "int4 weight-only"
    assert S.technique_name("prune:0.5:sparse") == "50% pruning, sparse kernels"
    assert S.technique_name("distill:llama-3.2-1b") == "Llama 3.2 1B student (a different model)"
    assert S.technique_name("int4-weight-only+kv:fp8") == "int4 weight-only + fp8 KV cache"


def test_report_metrics_are_valid_and_deterministic():
    params = dict(_nb_parameters(), techniques=["fp8", "int4-weight-only", "prune:0.5"], batches=[1, 16, 256])
    m1 = S.metrics_for(params)
    m2 = S.metrics_for(params)
    assert m1 == m2
    assert validate_metrics(m1) == []
    assert m1["techniques"]["prune:0.5"]["speedup"] == pytest.approx(1.0)
    # the headline leads with the best option that has accuracy evidence; the distilled student (a different,
    # smaller model without accuracy data) uses less energy but is listed as such, never as the winner
    assert m1["best_technique"] == m1["best_technique_with_accuracy_data"] == "fp8"
    assert m1["lowest_energy_technique"] == "fp8"
    assert m1["other_models"] == ["distill:llama-3.2-1b"] and m1["lower_energy_without_accuracy_data"] == []
    assert m1["finding"].index("fp8") < m1["finding"].index("Llama 3.2 1B student")
    assert "is a different, smaller model, not this one compressed" in m1["finding"]
    assert "accuracy not in the data" in m1["finding"]
    assert m1["key_figures"][1]["label"].startswith("fp8")


def test_headline_without_accuracy_evidence_never_crowns_anything():
    p = _nb_parameters()
    m = S.metrics_for(dict(p, techniques=["prune:0.5:sparse"], batches=[1, 16]))
    assert m["best_technique"] is None and m["lowest_energy_technique"] == "prune:0.5:sparse"
    assert "no option here has accuracy evidence, so none is recommended" in m["finding"]
    assert "unknown effect on accuracy" in m["finding"]
    assert "Llama 3.2 1B student is a different, smaller model" in m["finding"]
    # an unevidenced option cheaper than the evidenced lead is listed as such, after the lead
    plan = S.check(**dict(p, techniques=["int4-weight-only", "w8a8", "prune:0.5"]))
    table = S.technique_frame(plan)
    pick = S.headline_choice(table)
    assert pick["lead"]["technique"] == "int4-weight-only"
    assert [r["technique"] for r in pick["unevidenced"]] == ["w8a8"]
    headline, tiles = S.finding(plan, table, S.sweep_frame(plan))
    assert headline.index("int4 weight-only") < headline.index("without accuracy evidence: W8A8")
    assert tiles[1][0] == "int4 weight-only" and "accuracy" in tiles[1][2]
    assert all("student" not in t[0] or "different model" in t[0] for t in tiles)


def test_display_tables_use_names_units_and_one_missing_marker():
    plan = S.check(**dict(_nb_parameters(), techniques=["fp8", "int8-weight-only", "prune:0.5"], batches=[1, 16]))
    table = S.technique_frame(plan)
    shown = S.technique_table(table)
    assert "Energy per 1,000 tokens (J)" in shown.frame.columns and "energy_j_per_1k_tokens" not in shown.frame.columns
    row = shown.frame.set_index("Technique").loc["int8 weight-only"]
    assert row["Accuracy change (%)"] == "—" and row["Accuracy metric"] == "—"
    html = shown.to_html()
    for bad in (">None<", ">nan<", ">n/a<", "&lt;NA&gt;", "h100-sxm"):
        assert bad not in html
    pareto = S.pareto_table(S.pareto_frame(table))
    assert set(pareto.frame["Pareto-optimal"]) <= {"yes", "no"}
    summary = S.summary_table(S.sweep_frame(plan), plan)
    assert "Speed-up at batch 1 (×)" in summary.frame.columns


def test_prose_changes_with_results():
    p = _nb_parameters()
    plan = S.check(**dict(p, batches=[1, 64]))
    est = S.baseline(plan)
    text = S.scenario_md(plan, est)
    assert f"{fmt.number(est.central['decode_ms_per_token'])} ms" in text and "fits" in text
    big = S.check(**dict(p, model="llama-3-70b", student=""))
    assert "does **not** fit" in S.scenario_md(big, S.baseline(big))
    rc = C.runtime_comparison([1, 64], **plan["scenario"])
    assert fmt.ratio(rc.iloc[0]["slowdown_vs_compiled"]) in S.runtime_md(rc)
    v = inference.validation_frame()
    assert "measurements" in S.validation_md(v)
