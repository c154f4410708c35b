"""`joulebook estimate training` and `joulebook regions`: JSON contract and exit codes."""

import json
import subprocess
import sys

import pytest

from joulebook.cli import main

ISSUE_ARGS = ["estimate", "training", "--params", "7e9", "--tokens", "2e12", "--accelerator", "a100-sxm4-80gb",
              "--count", "1024", "--region", "us-va"]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract(capsys):
    code, out, err = run(ISSUE_ARGS + ["--json"], capsys)
    assert code == 0 and err == ""
    d = json.loads(out)
    for k in ("flops", "accelerator_hours", "wall_clock_hours", "it_energy_kwh", "facility_energy_kwh", "peak_power_kw",
              "emissions_kg", "embodied_emissions_kg", "water_l", "electricity_cost_usd", "cloud_cost_usd", "assumptions"):
        assert k in d, k
    assert d["flops"] == pytest.approx(6 * 7e9 * 2e12)
    assert d["low"]["facility_energy_kwh"] <= d["facility_energy_kwh"] <= d["high"]["facility_energy_kwh"]
    assert any(a["name"] == "mfu" for a in d["assumptions"])


def test_human_table(capsys):
    code, out, _ = run(ISSUE_ARGS, capsys)
    assert code == 0 and "facility_energy_kwh" in out and "assumptions:" in out


BASE = {"--params": "7e9", "--tokens": "2e12", "--accelerator": "a100-sxm4-80gb", "--count": "1024", "--region": "us-va"}


@pytest.mark.parametrize("change,needle", [
    ({"--region": "us-vz"}, "us-va"),
    ({"--accelerator": "h1000"}, "h100"),
    ({"--params": "=-7e9"}, "params"),
    ({"--params": "nan"}, "params"),
    ({"--tokens": None, "--steps": "10", "--batch": "4", "--seq-len": "128", "--epochs": "2"}, "tokens"),
    ({"--steps": "10", "--batch": "4", "--seq-len": "128"}, "tokens"),
    ({"--pue": "0.5"}, "pue"),
    ({"--params": "7e9W"}, "params"),
    ({"--count": "2.5"}, "count"),
    ({"--count": "inf"}, "count"),
    ({"--mfu": "1.5"}, "mfu"),
])
def test_bad_input_exits_2_with_one_line(change, needle, capsys):
    opts = {**BASE, **change}
    args = ["estimate", "training"]
    for k, v in opts.items():
        if v is None:
            continue
        args += [k + v] if v.startswith("=") else [k, v]
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], err


def test_argparse_errors_are_exit_2(capsys):
    assert main(["estimate", "training", "--params", "abc", "--tokens", "1e9"]) == 2
    assert "--params" in capsys.readouterr().err


def test_regions_and_accelerators(capsys):
    code, out, _ = run(["regions", "--json"], capsys)
    rows = json.loads(out)["rows"]
    ids = {r["region"] for r in rows}
    assert {"us-va", "us-ca", "de", "se", "sg", "in", "gcp:us-central1", "aws:us-east-1"} <= ids
    code, out, _ = run(["accelerators"], capsys)
    assert code == 0 and "h100-sxm" in out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "joulebook", "estimate", "training", "--params", "1e9", "--tokens",
                        "1e10", "--region", "se", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["emissions_kg"] > 0
