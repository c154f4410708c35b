"""joulebook.models.compression: technique transforms, accuracy from data only, report tables and metrics."""

import numpy as np
import pandas as pd
import pytest

from joulebook import data
from joulebook.core.errors import InputError, UnknownModelError
from joulebook.models import compression as C
from joulebook.models import inference
from joulebook.models import presets as models
from joulebook.models.inference import inference_frame
from joulebook.site.execute import validate_metrics


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


def test_report_parameters_are_checked():
    ok = dict(C.REPORT_DEFAULTS)
    plan = C.check_parameters(**ok)
    assert plan["techniques"][-1] == "distill:llama-3.2-1b" and plan["scenario"]["model"] == "llama-3-8b"
    for key, bad in (("batch", 0), ("model", "llama-9b"), ("techniques", []), ("batches", [0]), ("runtime", "jit"),
                     ("count", 3), ("region", "atlantis"), ("helps_threshold", 0.5), ("techniques", ["fp9"])):
        with pytest.raises((InputError, UnknownModelError, KeyError)):
            C.check_parameters(**dict(ok, **{key: bad}))


def test_report_metrics_are_valid_and_deterministic():
    params = dict(C.REPORT_DEFAULTS, techniques=["fp8", "int4-weight-only", "prune:0.5"], batches=[1, 16, 256])
    m1 = C.report_metrics(params)
    m2 = C.report_metrics(params)
    assert m1 == m2
    assert validate_metrics(m1) == []
    assert m1["techniques"]["prune:0.5"]["speedup"] == pytest.approx(1.0)
    # the headline leads with the best option that has accuracy evidence; the distilled student (a different,
    # smaller model without accuracy data) uses less energy but is listed as such, never as the winner
    assert m1["best_technique"] == m1["best_technique_with_accuracy_data"] == "fp8"
    assert m1["lowest_energy_technique"] == "fp8"
    assert m1["lower_energy_without_accuracy_data"] == ["distill:llama-3.2-1b"]
    assert m1["finding"].index("fp8") < m1["finding"].index("distill:llama-3.2-1b")
    assert "distill:llama-3.2-1b (a different, smaller model; accuracy: no data" in m1["finding"]
    assert m1["key_figures"][1]["label"].startswith("fp8")


def test_headline_without_accuracy_evidence_never_crowns_the_student():
    m = C.report_metrics(dict(C.REPORT_DEFAULTS, techniques=["prune:0.5"], batches=[1, 16]))
    assert m["best_technique"] is None and m["lowest_energy_technique"] == "prune:0.5"
    assert "no option here has accuracy evidence" in m["finding"]
    assert "distill:llama-3.2-1b (a different, smaller model; accuracy: no data" in m["finding"]
    plan = C.check_parameters(**dict(C.REPORT_DEFAULTS, techniques=["fp8", "prune:0.5"]))
    text = C.technique_prose(C.technique_table(plan["techniques"], **plan["scenario"]))
    assert "with accuracy evidence: **fp8**" in text and "a different, smaller model" in text


def test_prose_changes_with_results():
    plan = C.check_parameters(**dict(C.REPORT_DEFAULTS, batches=[1, 64]))
    est = C.baseline_estimate(plan)
    text = C.scenario_prose(plan, est)
    assert f"{est.central['decode_ms_per_token']:,.2f} ms" in text and "fits" in text
    big = C.check_parameters(**dict(C.REPORT_DEFAULTS, model="llama-3-70b", student=""))
    assert "does **not** fit" in C.scenario_prose(big, C.baseline_estimate(big))
    rc = C.runtime_comparison([1, 64], **plan["scenario"])
    assert f"{rc.iloc[0]['slowdown_vs_compiled']:.1f}x" in C.runtime_prose(rc)
    v = inference.validation_frame()
    assert "measurements" in C.validation_prose(v)
