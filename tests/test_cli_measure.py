"""`joulebook measure` and `joulebook calibrate` end to end, in subprocesses, on the fake NVML backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from joulebook import data
from joulebook.measure import load_measurement
from joulebook.models.calibration import load_profile

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from joulebook.cli import main; sys.exit(main())"]
FAKE = "gpus=2;power=square:100:700:0.3:0.3:0.05|const:250"


def env(spec: str | None = FAKE, **extra) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("JOULEBOOK_FAKE_NVML", "CUDA_VISIBLE_DEVICES")}
    if spec is not None:
        e["JOULEBOOK_FAKE_NVML"] = spec
    e.update(extra)
    return e


def jb(*args, spec=FAKE, timeout=60, **extra):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env(spec, **extra), timeout=timeout)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_exit_code_output_and_jsonl(tmp_path):
    out = tmp_path / "run.jsonl"
    r = jb("measure", "--out", str(out), "--trace", "--region", "se", "--steps", "10", "--tokens-per-step", "4096", "--",
           *py("import sys, time; print('child says hi'); time.sleep(1.3); sys.exit(3)"))
    assert r.returncode == 3
    assert "child says hi" in r.stdout and "joulebook measure" not in r.stdout  # report on stderr, like time(1)
    err = r.stderr
    for needle in ("kWh", "mean power", "peak power", "energy per step", "energy per token", "emissions", "PUE",
                   "electricity cost", "exit code 3", "synthetic"):
        assert needle in err, needle
    m = load_measurement(out)
    assert m.header["backend"] == "fake" and m.gpu_count == 2 and m.has_samples
    w = m.window("command")
    assert w["meta"]["steps"] == 10 and w["meta"]["command"][-1].endswith("sys.exit(3)")
    assert w["duration_s"] > 1.2 and w["method"] == "energy_counter"
    assert w["mean_power_w"] == pytest.approx(400 + 250, rel=0.1)  # square wave averages 400 W, plus 250 W
    assert m.summary["exit_code"] == 3 and m.summary["interrupted"] is False


def test_json_mode_prints_one_object_and_moves_child_stdout_to_stderr():
    r = jb("measure", "--json", "--region", "us-va", "--steps", "5", "--",
           *py("import time; print('noise on stdout'); time.sleep(1.1)"))
    assert r.returncode == 0
    obj = json.loads(r.stdout)  # the whole stdout is exactly one JSON object
    assert "noise on stdout" in r.stderr
    assert obj["exit_code"] == 0 and obj["energy_j"] > 0 and obj["energy_kwh"] == pytest.approx(obj["energy_j"] / 3.6e6)
    assert obj["method"] == "energy_counter" and len(obj["gpus"]) == 2
    assert obj["per_step"]["energy_per_step_j"] == pytest.approx(obj["energy_j"] / 5)
    fp = obj["footprint"]
    reg = data.region("us-va")
    assert fp["pue"]["central"] == reg.pue[1] and fp["intensity_g_per_kwh"] == reg.intensity_g_per_kwh
    assert fp["emissions_kg"]["central"] == pytest.approx(obj["energy_kwh"] * reg.pue[1] * reg.intensity_g_per_kwh / 1000)
    assert fp["electricity_cost_usd"]["central"] == pytest.approx(obj["energy_kwh"] * reg.pue[1] * reg.price_usd_per_kwh)
    assert "GPU energy only" in fp["basis"]


def test_gpu_selection_and_cuda_visible_devices(tmp_path):
    spec = "gpus=3;power=const:100|const:200|const:300"
    uuid2 = "GPU-fa4e0000-0000-4000-8000-000000000002"
    r = jb("measure", "--json", "--gpus", "1", "--", *py("import time; time.sleep(1.1)"), spec=spec,
           CUDA_VISIBLE_DEVICES=f"{uuid2},0")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert [g["nvml_index"] for g in obj["gpus"]] == [0]  # visible GPU 1 is NVML GPU 0
    assert obj["mean_power_w"] == pytest.approx(100.0, rel=1e-3)
    r = jb("measure", "--gpus", "5", "--", "true", spec=spec)
    assert r.returncode == 2 and "not visible" in r.stderr


def test_idle_baseline_gives_net_energy():
    # 120 W for the first 4 s (the 1 s baseline falls inside it even on a loaded machine), then 600 W
    r = jb("measure", "--json", "--idle-baseline-s", "1", "--", *py("import time; time.sleep(4)"),
           spec="power=steps:120x4,600x100")
    obj = json.loads(r.stdout)
    assert obj["idle_power_w"] == pytest.approx(120.0, rel=1e-3)
    assert obj["net_energy_j"] == pytest.approx(obj["energy_j"] - obj["idle_power_w"] * obj["duration_s"], rel=1e-6)
    assert 120.0 < obj["mean_power_w"] < 600.0 and obj["net_energy_j"] > 0


def test_no_nvml_fails_clearly_and_does_not_run_the_command(tmp_path):
    marker = tmp_path / "ran"
    r = jb("measure", "--", *py(f"open({str(marker)!r}, 'w').write('x')"), spec="unavailable:no NVIDIA driver here")
    assert r.returncode == 1
    assert "measurement unavailable" in r.stderr and "no NVIDIA driver here" in r.stderr
    assert r.stderr.count("\n") == 1 and not marker.exists()


@pytest.mark.parametrize("args,needle", [([], "command"), (["--interval-ms", "0", "--", "true"], "interval_ms"),
                                         (["--tokens-per-step", "5", "--", "true"], "needs --steps"),
                                         (["--steps", "2.5", "--", "true"], "steps"),
                                         (["--region", "atlantis", "--", "true"], "region"),
                                         (["--interval-ms", "ten", "--", "true"], "plain number"),
                                         (["--trace", "--", "true"], "--out")])
def test_bad_usage_exits_2(args, needle):
    r = jb("measure", *args)
    assert r.returncode == 2 and needle in r.stderr


def test_command_that_cannot_start():
    r = jb("measure", "--", "definitely-not-a-command-xyz")
    assert r.returncode == 127 and "cannot run" in r.stderr


def _start(out: Path, child_code: str, *extra) -> subprocess.Popen:
    p = subprocess.Popen([*CLI, "measure", "--out", str(out), *extra, "--", *py(child_code)], env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return p


def _wait_for(path: Path, timeout=20.0):
    t0 = time.time()
    while not path.exists():
        if time.time() - t0 > timeout:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


CHILD = ("import pathlib, sys, time\n"
         "pathlib.Path(sys.argv[1]).write_text('started')\n"
         "time.sleep(60)\n")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_is_forwarded_and_the_summary_still_written(tmp_path, sig, code):
    out, started = tmp_path / "run.jsonl", tmp_path / "started"
    p = subprocess.Popen([*CLI, "measure", "--out", str(out), "--json", "--", sys.executable, "-c", CHILD, str(started)],
                         env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(started)
    time.sleep(0.3)
    p.send_signal(sig)  # only to joulebook: it must forward it to the command
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == code, stderr
    obj = json.loads(stdout)
    assert obj["interrupted"] is True and obj["signal"] == signal.Signals(sig).name and obj["energy_j"] > 0
    m = load_measurement(out)
    assert m.summary["interrupted"] is True and m.summary["exit_code"] == code and m.window("command")["energy_j"] > 0


def test_second_ctrl_c_terminates_a_command_that_ignores_the_first(tmp_path):
    out, started = tmp_path / "run.jsonl", tmp_path / "started"
    stubborn = ("import pathlib, signal, sys, time\n"
                "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "pathlib.Path(sys.argv[1]).write_text('started')\n"
                "time.sleep(60)\n")
    p = subprocess.Popen([*CLI, "measure", "--out", str(out), "--", sys.executable, "-c", stubborn, str(started)],
                         env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(started)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert p.poll() is None  # the command ignores SIGINT and keeps running
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM and "interrupted by SIGINT" in stderr
    assert load_measurement(out).summary["exit_code"] == 143


class _Result:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


def jb_inproc(capsys, *args):
    """The CLI in this process (calibrate needs no signals or child processes; much faster)."""
    from joulebook.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return _Result(code, out, err)


def test_calibrate_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sample = data.data_dir() / "measured/h100_probe1_sample.jsonl"
    prof = tmp_path / "bf16.json"
    r = jb_inproc(capsys, "calibrate", str(sample), "--accelerator", "h100-sxm", "--params", "3.7e8",
                  "--tokens-per-step", "8192", "--precision", "bf16", "--window", "train_step:bf16", "--out", str(prof))
    assert r.returncode == 0, r.stderr
    for needle in ("predicted before", "measured", "predicted after", "energy_per_step_j", "energy_per_token_j"):
        assert needle in r.stdout
    p = load_profile(prof)
    assert p.accelerator_id == "h100-sxm" and p.precision == "bf16"
    assert p.mfu == pytest.approx(164 * 8192 / 10.0508 * 6 * 3.7e8 / 989e12)
    assert p.power_w == pytest.approx(6914.522 / 10.0508) and p.created_from["flops_basis"] == "6N"
    r = jb_inproc(capsys, "calibrate", str(sample), "--accelerator", "h100", "--window", "train_step:fp32", "--layers",
                  "24", "--hidden", "1024", "--seq-len", "1024", "--json")
    assert (tmp_path / "h100_probe1_sample.calibration.json").exists()  # default: <run>.calibration.json in the cwd
    obj = json.loads(r.stdout)
    assert obj["profile"]["precision"] == "fp32" and obj["profile"]["mfu"] == pytest.approx(47.1 / 67, rel=1e-3)
    cmp = obj["comparison"]["energy_per_step_j"]
    assert cmp["measured"] == pytest.approx(7182.314 / 25) and cmp["predicted_after"] == pytest.approx(cmp["measured"])
    # the training estimate takes the profile
    r = jb_inproc(capsys, "estimate", "training", "--params", "7e9", "--tokens", "2e11", "--count", "64",
                  "--calibration", str(prof), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accelerator_power_w"] == pytest.approx(p.power_w)


def test_calibrate_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sample = str(data.data_dir() / "measured/h100_probe1_sample.jsonl")
    for args, needle in ((["--accelerator", "h100"], "--window"),
                         (["--accelerator", "h100", "--window", "matmul:bf16"], "step count"),
                         (["--accelerator", "h900", "--window", "train_step:bf16"], "accelerator"),
                         (["--accelerator", "h100", "--window", "train_step:bf16", "--layers", "24"], "together"),
                         (["--accelerator", "h100", "--window", "train_step:bf16", "--precision", "fp8"], "recorded in")):
        r = jb_inproc(capsys, "calibrate", sample, *args)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)
    r = jb_inproc(capsys, "calibrate", str(tmp_path / "none.jsonl"), "--accelerator", "h100")
    assert r.returncode == 2 and "no such file" in r.stderr
    assert not list(tmp_path.glob("*.json"))  # nothing written on errors


def test_fake_run_then_calibrate_round_trip(tmp_path):
    out = tmp_path / "run.jsonl"
    r = jb("measure", "--out", str(out), "--steps", "20", "--tokens-per-step", "2048", "--",
           *py("import time; time.sleep(1.2)"), spec="power=const:500")
    assert r.returncode == 0
    r = jb("calibrate", str(out), "--accelerator", "h100", "--params", "1e8", "--precision", "bf16", "--json",
           "--out", str(tmp_path / "p.json"), spec=None)  # a subprocess, as a user would run it
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    m = load_measurement(out).window("command")
    assert obj["window"] == "command"
    assert obj["profile"]["power_w"] == pytest.approx(500.0, rel=1e-3)
    assert obj["profile"]["mfu"] == pytest.approx(20 * 2048 / m["duration_s"] * 6e8 / 989e12, rel=1e-5)
