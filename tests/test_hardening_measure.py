"""Hardening of `joulebook measure` and `joulebook calibrate` (issue 12), on the fake NVML backend.

* ``kill -9`` of the meter: the command does not outlive it, and the JSONL keeps the energy up
  to the last cumulative ``checkpoint`` record (read back as an incomplete window, a lower bound);
* an output the run cannot write, or a file that is not a measurement, is one line, not a traceback.
"""

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
from joulebook.cli import main
from joulebook.core.errors import InputError
from joulebook.measure import EnergyMeter, load_measurement
from joulebook.stories.measurement_analysis import windows_table
from joulebook.testing.fake_nvml import Constant, FakeClock, FakeGPU, FakeNVML

CLI = [sys.executable, "-c", "import sys; from joulebook.cli import main; sys.exit(main())"]
FAKE = "gpus=2;power=const:300|const:100"
SAMPLE = data.data_dir() / "measured/h100_probe1_sample.jsonl"
CAL_ARGS = ["--accelerator", "h100-sxm", "--params", "3.7e8", "--tokens-per-step", "8192", "--window", "train_step:bf16"]


@pytest.fixture(autouse=True)
def _no_gpu_environment(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JOULEBOOK_FAKE_NVML", raising=False)


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child whose new parent has not reaped it yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


# --------------------------------------------------------------------------- checkpoints (virtual clock)

def rig(out: Path, **kw):
    clk = FakeClock()
    fake = FakeNVML([FakeGPU(Constant(300.0)), FakeGPU(Constant(100.0))], clock=clk)
    return clk, EnergyMeter(backend=fake, clock=clk, out=out, interval_s=0.1, **kw)


def test_checkpoints_keep_the_energy_of_a_run_that_never_closed(tmp_path):
    out = tmp_path / "killed.jsonl"
    clk, meter = rig(out, checkpoint_s=1.0)
    meter.start()
    meter.begin_window("train", meta={"steps": 50, "tokens_per_step": 4096})
    clk.advance(3.55)
    # the process "dies" here: no end_window, no stop, no summary
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [r["type"] for r in recs]
    assert kinds[0] == "header" and "window" not in kinds and "summary" not in kinds
    cps = [r for r in recs if r["type"] == "checkpoint"]
    assert len(cps) == 3 and [round(c["duration_s"], 6) for c in cps] == pytest.approx([1.0, 2.0, 3.0], abs=0.11)
    energies = [c["energy_j"] for c in cps]
    assert energies == sorted(energies)  # cumulative
    m = load_measurement(out)
    assert m.incomplete and m.summary is None
    w = m.window("train")
    assert w["incomplete"] and w["energy_is_lower_bound"]
    assert w["energy_j"] == pytest.approx(400.0 * w["duration_s"], rel=1e-6)  # 300 W + 100 W, exact for constants
    assert w["energy_j"] < 400.0 * 3.55  # a lower bound: the run went on after the last checkpoint
    assert "at least" in w["notes"][-1]
    # the planned step count does not apply to the part that was measured
    assert "steps" not in w["meta"] and w["meta"]["planned_steps"] == 50
    t = windows_table(m)
    assert bool(t.loc[0, "incomplete"]) and t["energy_per_step_j"].isna().all()
    meter.stop()


def test_a_closed_window_is_not_duplicated_by_its_checkpoints(tmp_path):
    out = tmp_path / "ok.jsonl"
    clk, meter = rig(out, checkpoint_s=0.5)
    meter.start()
    meter.begin_window("w")
    clk.advance(2.2)
    res = meter.end_window("w")
    meter.stop()
    m = load_measurement(out)
    assert len(m.checkpoints) == 4 and not m.incomplete
    assert m.window_names() == ["w"] and m.window("w")["energy_j"] == pytest.approx(res.energy_j)
    assert not windows_table(m)["incomplete"].any()


def test_restarted_window_keeps_only_the_unclosed_run(tmp_path):
    out = tmp_path / "restart.jsonl"
    clk, meter = rig(out, checkpoint_s=1.0)
    meter.start()
    meter.begin_window("step")
    clk.advance(1.5)
    meter.end_window("step")
    meter.begin_window("step")
    clk.advance(2.5)
    m = load_measurement(out)
    closed = [w for w in m.windows if not w.get("incomplete")]
    open_ = [w for w in m.windows if w.get("incomplete")]
    assert len(closed) == 1 and len(open_) == 1 and open_[0]["t_start_s"] > closed[0]["t_end_s"] - 1e-9
    meter.stop()


@pytest.mark.parametrize("value", [-1.0, float("nan"), "10", True])
def test_checkpoint_interval_is_checked(tmp_path, value):
    with pytest.raises(InputError, match="checkpoint_s"):
        EnergyMeter(backend=FakeNVML([FakeGPU(Constant(1.0))]), out=tmp_path / "x.jsonl", checkpoint_s=value)


def test_no_checkpoints_when_turned_off(tmp_path):
    out = tmp_path / "off.jsonl"
    clk, meter = rig(out, checkpoint_s=0)
    meter.start()
    meter.begin_window("w")
    clk.advance(5.0)
    assert "checkpoint" not in out.read_text()
    meter.stop()


# --------------------------------------------------------------------------- kill -9 of the meter (real processes)

def test_kill_9_of_the_meter_kills_the_command_and_keeps_the_energy(tmp_path):
    out = tmp_path / "run.jsonl"
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    env = {**{k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}, "JOULEBOOK_FAKE_NVML": FAKE}
    meter = subprocess.Popen([*CLI, "measure", "--out", str(out), "--checkpoint-s", "0.3", "--steps", "10", "--",
                              sys.executable, "-c", child], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    child_pid = None
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text() and out.exists()
                   and out.read_text().count('"checkpoint"') >= 2):
            assert time.monotonic() < deadline and meter.poll() is None
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())
        assert running(child_pid)
        meter.send_signal(signal.SIGKILL)
        meter.wait(timeout=30)
        deadline = time.monotonic() + 10
        while running(child_pid):
            assert time.monotonic() < deadline, "the command outlived the meter"
            time.sleep(0.05)
    finally:
        if meter.poll() is None:
            meter.kill()
        if child_pid and running(child_pid):
            os.kill(child_pid, signal.SIGKILL)
    m = load_measurement(out)
    w = m.window("command")
    assert m.summary is None and w["incomplete"] and w["energy_j"] > 0
    assert w["energy_j"] == pytest.approx(400.0 * w["duration_s"], rel=0.05)


# --------------------------------------------------------------------------- one line instead of a traceback

@pytest.mark.parametrize("where, needle", [
    ("missing/run.jsonl", "does not exist"), (".", "is a folder"), ("/proc/x/run.jsonl", "--out"),
    ("FILE/run.jsonl", "is not a folder"),
])
def test_measure_out_that_cannot_be_written(tmp_path, capsys, monkeypatch, where, needle):
    monkeypatch.setenv("JOULEBOOK_FAKE_NVML", FAKE)
    (tmp_path / "FILE").write_text("x")
    target = where if where.startswith("/") else str(tmp_path / where)
    marker = tmp_path / "ran"
    rc = main(["measure", "--out", target, "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert rc == 2 and needle in one_line(capsys)
    assert not marker.exists()  # the command was not run
    assert not (tmp_path / "missing").exists()


def test_measure_checkpoint_option_is_checked(capsys, monkeypatch):
    monkeypatch.setenv("JOULEBOOK_FAKE_NVML", FAKE)
    assert main(["measure", "--checkpoint-s", "-1", "--", "true"]) == 2
    assert "checkpoint_s" in one_line(capsys)


@pytest.mark.parametrize("where, needle", [("/proc/x.json", "--out: cannot write /proc/x.json"),
                                           ("DIR", "is a folder"), ("missing/p.json", "does not exist")])
def test_calibrate_out_that_cannot_be_written(tmp_path, capsys, monkeypatch, where, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DIR").mkdir()
    target = where if where.startswith("/") else str(tmp_path / where)
    assert main(["calibrate", str(SAMPLE), *CAL_ARGS, "--out", target]) == 2
    assert needle in one_line(capsys)


@pytest.mark.parametrize("text, needle", [
    ("hello\n", "is not a JSON Lines measurement file"),
    ('{\n  "type": "header"\n}\n', "line 1 is not valid JSON"),
    ('{"a": 1}\n', "not a measurement record"),
    ("", "is empty"),
])
def test_calibrate_a_file_that_is_not_a_measurement(tmp_path, capsys, text, needle):
    path = tmp_path / "notjson.json"
    path.write_text(text)
    assert main(["calibrate", str(path), "--accelerator", "h100-sxm", "--out", str(tmp_path / "p.json")]) == 2
    assert needle in one_line(capsys)
    assert not (tmp_path / "p.json").exists()
