"""`joulebook estimate inference`: the JSON contract, human output and exit codes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from joulebook.cli import main

CONTRACT = ("prefill_ms", "decode_ms_per_token", "ttft_ms", "tokens_per_s", "latency_ms_per_1k_tokens", "memory_gb",
            "fits_in_memory", "shortfall_gb", "power_w", "energy_j_per_1k_tokens", "cost_usd_per_1k_tokens",
            "emissions_g_per_1k_tokens", "bound", "assumptions")


def _json(capsys, *args):
    code = main(["estimate", "inference", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == ""
    return json.loads(out.out)


def test_json_contract(capsys):
    d = _json(capsys, "--model", "llama-7b", "--accelerator", "h100-sxm", "--precision", "bf16", "--batch", "16",
              "--prompt-tokens", "128", "--new-tokens", "128")
    for k in CONTRACT:
        assert k in d, k
    assert d["emissions_g_per_1k_tokens"] is None  # no region
    assert set(d["bound"]) == {"prefill", "decode"} and set(d["bound"].values()) <= {"compute", "memory"}
    assert set(d["memory_gb"]) >= {"weights", "kv_cache", "activations", "total", "per_accelerator"}
    assert d["fits_in_memory"] is True and d["shortfall_gb"] == 0
    assert d["energy_j_per_1k_tokens"]["facility"] > d["energy_j_per_1k_tokens"]["accelerator"] > 0
    assert d["cost_usd_per_1k_tokens"]["rental"] > 0
    assert d["accuracy"] == "no data"
    names = {a["name"] for a in d["assumptions"]}
    assert {"compute_efficiency", "memory_bandwidth_efficiency", "compiled_overhead_ms_per_layer"} <= names
    assert d["model"]["id"] == "llama-2-7b"


def test_custom_model_region_technique_and_overrides(capsys):
    d = _json(capsys, "--params", "1.1e9", "--layers", "22", "--hidden", "2048", "--heads", "32", "--kv-heads", "4",
              "--batch", "16", "--region", "se", "--technique", "fp8", "--runtime", "eager",
              "--set", "memory_bandwidth_efficiency=0.8")
    assert d["emissions_g_per_1k_tokens"] > 0
    assert d["precision"]["compute_precision"] == "fp8"
    assert d["technique"] == ["fp8"]
    mbe = next(a for a in d["assumptions"] if a["name"] == "memory_bandwidth_efficiency")
    assert mbe["value"] == 0.8 and mbe["overridden"] is True
    assert d["time_breakdown_ms"]["overhead_per_step"] > 0  # eager


def test_accuracy_evidence_and_combined_techniques(capsys):
    d = _json(capsys, "--model", "llama-3-8b", "--technique", "fp8")
    assert d["accuracy"][0]["record_id"] == "Q031"
    d = _json(capsys, "--model", "llama-3-8b", "--technique", "int4-weight-only", "--technique", "sparse-2:4")
    assert d["technique"] == ["int4-weight-only", "sparse-2:4"] and d["accuracy"] == "no data"


def test_not_fitting_is_not_an_error(capsys):
    d = _json(capsys, "--model", "llama-3-70b", "--batch", "8")
    assert d["fits_in_memory"] is False and d["shortfall_gb"] > 50


@pytest.mark.parametrize("args, needle", [
    (["--model", "llama-7b", "--batch", "0"], "batch"),
    (["--model", "llama-9b"], "llama-8b"),
    (["--model", "llama-7b", "--technique", "fp9"], "technique"),
    (["--model", "llama-7b", "--accelerator", "a100", "--technique", "fp8"], "fp8"),
    (["--model", "llama-7b", "--count", "3"], "count"),
    (["--model", "llama-7b", "--set", "foo=1"], "foo"),
    (["--model", "llama-7b", "--batch", "16x"], "16x"),
    (["--batch", "4"], "model"),
    (["--model", "llama-7b", "--accelerator", "h900"], "accelerator"),
    (["--model", "llama-7b", "--utilisation", "0"], "utilisation"),
    (["--model", "llama-7b", "--utilisation", "1.5"], "utilisation"),
    (["--model", "llama-7b", "--utilisation", "-0.2"], "utilisation"),
    (["--model", "llama-7b", "--prompt-tokens", "0"], "prompt_tokens"),
    (["--model", "llama-7b", "--serving", "continuous", "--prompt-tokens", "0"], "prompt_tokens"),
    (["--model", "llama-7b", "--serving", "continuous", "--max-concurrency", "0"], "max_concurrency"),
    (["--model", "llama-7b", "--serving", "continuous", "--max-concurrency", "2.5"], "max_concurrency"),
    (["--model", "llama-7b", "--serving", "continuous", "--arrival-rate", "0"], "arrival_rate"),
    (["--model", "llama-7b", "--serving", "continuous", "--prefill-tokens", "-1"], "prefill_tokens"),
    (["--model", "llama-7b", "--serving", "continuous", "--prompt-tokens", "100", "--prefill-tokens", "200"],
     "prefill_tokens"),
    (["--model", "llama-7b", "--serving", "batchy"], "serving"),
    (["--model", "llama-7b", "--set", "serving_scheduler_overhead_ms=-1"], "serving_scheduler_overhead_ms"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, needle):
    try:
        code = main(["estimate", "inference", *args, "--json"])
    except SystemExit as e:  # argparse errors
        code = e.code
    out = capsys.readouterr()
    assert code == 2
    assert out.out == ""
    lines = [x for x in out.err.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], out.err


def test_human_output(capsys):
    assert main(["estimate", "inference", "--model", "mixtral", "--count", "2", "--batch", "8", "--region", "us-va"]) == 0
    out = capsys.readouterr().out
    assert "bound: prefill" in out and "decode_ms_per_token" in out and "assumptions:" in out


def test_console_script_prints_exactly_one_json_object():
    exe = Path(sys.executable).with_name("joulebook")
    cmd = [str(exe)] if exe.exists() else [shutil.which("joulebook") or "joulebook"]
    r = subprocess.run([*cmd, "estimate", "inference", "--model", "tinyllama", "--batch", "4", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["model"]["id"] == "tinyllama-1.1b"


def test_continuous_serving_and_utilisation_contract(capsys):
    args = ("--model", "llama-3-8b", "--serving", "continuous", "--max-concurrency", "64", "--prompt-tokens", "512",
            "--prefill-tokens", "128", "--new-tokens", "256")
    busy = _json(capsys, *args)
    sv = busy["serving"]
    assert sv["mode"] == "continuous" and sv["concurrency"] == 64 and sv["prefill_tokens_per_step"] == 32
    assert sv["inter_token_latency_ms"] == busy["decode_ms_per_token"] > 0
    assert sv["output_tokens_per_s"] == pytest.approx(64 / sv["inter_token_latency_ms"] * 1e3)
    e = sv["energy_j_per_output_token"]
    assert e["service"] == pytest.approx(e["busy"]) and e["busy"] > e["accelerator"] > 0
    assert sv["energy_wh_per_request"]["busy"] == pytest.approx(e["busy"] * 256 / 3600)
    names = {a["name"] for a in busy["assumptions"]}
    assert {"serving_scheduler_overhead_ms", "serving_overhead_ms_per_request", "compute_power_fraction",
            "memory_power_fraction", "gap_power_fraction"} <= names
    part = _json(capsys, *args, "--utilisation", "0.25")
    assert part["serving"]["energy_j_per_output_token"]["busy"] == pytest.approx(e["busy"])
    assert part["serving"]["energy_j_per_output_token"]["service"] > 2 * e["busy"]
    light = _json(capsys, *args, "--arrival-rate", "2")
    assert light["serving"]["concurrency"] < 64 and light["serving"]["arrival_rate_per_s"] == 2


def test_human_output_names_the_serving_mode(capsys):
    assert main(["estimate", "inference", "--model", "llama-3-8b", "--serving", "continuous", "--max-concurrency", "32",
                 "--utilisation", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "continuous serving (utilisation 0.5)" in out and "energy_j_per_output_token_service" in out
