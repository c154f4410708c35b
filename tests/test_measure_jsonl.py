"""Measurement files: streamed as the run goes, readable after a kill, back into DataFrames."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.measure import EnergyMeter, load_measurement, resolve_measurement_file
from joulebook.measure.jsonl import JsonlWriter
from joulebook.testing.fake_nvml import Constant, FakeClock, FakeGPU, FakeNVML, square

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(autouse=True)
def _no_gpu_environment(monkeypatch):
    """The fake backend is injected explicitly; a CUDA_VISIBLE_DEVICES of the host must not remap it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JOULEBOOK_FAKE_NVML", raising=False)



def lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def test_records_are_on_disk_while_the_run_goes(tmp_path):
    out = tmp_path / "run.jsonl"
    clk = FakeClock()
    m = EnergyMeter(backend=FakeNVML([FakeGPU(square(100, 700, 0.3, 0.3, 0.05)), FakeGPU(Constant(50))], clock=clk),
                    clock=clk, out=out, trace=True)
    m.start()
    assert [r["type"] for r in lines(out)] == ["header"]  # flushed before anything else happens
    m.begin_window("a", meta={"steps": 3})
    clk.advance(1.0)
    mid = lines(out)
    assert sum(r["type"] == "sample" for r in mid) == 11  # edge sample + 10 ticks, already on disk
    m.end_window("a")
    assert lines(out)[-1]["type"] == "window"
    m.stop({"exit_code": 0})
    recs = lines(out)
    assert recs[0]["format"] == "joulebook-measure" and recs[0]["version"] == 1
    assert recs[0]["gpus"][1]["uuid"].startswith("GPU-") and recs[0]["interval_ms"] == 100
    assert recs[-1]["type"] == "summary" and recs[-1]["exit_code"] == 0 and recs[-1]["windows"] == 1

    meas = load_measurement(out)
    assert not meas.truncated and meas.has_samples and meas.gpu_count == 2
    s = meas.samples_frame()
    assert list(s.columns) == ["t_s", "gpu", "power_w"] and len(s) == 2 * 12
    w = meas.windows_frame()
    assert w.loc[0, "name"] == "a" and w.loc[0, "steps"] == 3 and w.loc[0, "gpus"] == 2
    assert w.loc[0, "energy_j"] == pytest.approx(meas.window("a")["energy_j"])
    g = meas.gpu_windows_frame()
    assert len(g) == 2 and set(g["window"]) == {"a"} and g["energy_j"].sum() == pytest.approx(w.loc[0, "energy_j"])
    with pytest.raises(UnknownNameError):
        meas.window("b")


def test_killed_process_leaves_a_readable_file(tmp_path):
    """SIGKILL in the middle of a run: header, samples and finished windows survive."""
    out = tmp_path / "killed.jsonl"
    code = textwrap.dedent(f"""
        import os, signal, time
        from joulebook.measure import EnergyMeter
        from joulebook.testing.fake_nvml import FakeNVML, FakeGPU, Constant
        m = EnergyMeter(backend=FakeNVML([FakeGPU(Constant(300.0))]), out={str(out)!r}, trace=True, interval_s=0.02)
        m.start()
        m.begin_window("done")
        time.sleep(0.3)
        m.end_window("done")
        m.begin_window("unfinished")
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -9
    meas = load_measurement(out)
    assert meas.window_names() == ["done"] and meas.summary is None
    assert meas.window("done")["energy_j"] == pytest.approx(300 * meas.window("done")["duration_s"], rel=1e-3)
    assert len(meas.samples_frame()) > 20


def test_torn_last_line_is_skipped_but_a_torn_middle_is_an_error(tmp_path):
    p = tmp_path / "torn.jsonl"
    with JsonlWriter(p) as w:
        w.header(gpus=[], method="energy_counter")
        w.window({"name": "x", "energy_j": 5.0, "duration_s": 1.0})
    with open(p, "a") as fh:
        fh.write('{"type":"sample","t_s":1.')
    m = load_measurement(p)
    assert m.truncated and m.window_names() == ["x"]
    p2 = tmp_path / "bad.jsonl"
    p2.write_text(p.read_text() + "\n" + json.dumps({"type": "summary"}) + "\n")
    with pytest.raises(InputError, match="line 3"):
        load_measurement(p2)


@pytest.mark.parametrize("content,needle", [
    ("", "empty"), ('{"type": "window"}\n', "header"), ('{"type":"header","format":"other"}\n', "header"),
    ('{"type":"header","format":"joulebook-measure","version":9}\n', "version"), ("[1, 2]\n", "not a measurement"),
])
def test_reader_rejects_what_is_not_a_measurement(tmp_path, content, needle):
    p = tmp_path / "x.jsonl"
    p.write_text(content)
    with pytest.raises(InputError, match=needle):
        load_measurement(p)
    with pytest.raises(InputError, match="no such file"):
        load_measurement(tmp_path / "missing.jsonl")


def test_nan_is_written_as_null_and_writer_refuses_after_close(tmp_path):
    p = tmp_path / "n.jsonl"
    w = JsonlWriter(p)
    w.header(x=float("nan"))
    w.close()
    assert json.loads(p.read_text())["x"] is None
    with pytest.raises(ValueError):
        w.window({})


def test_resolve_measurement_file_works_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = resolve_measurement_file("measured/h100_probe1_sample.jsonl")
    assert p == (data.data_dir() / "measured/h100_probe1_sample.jsonl").resolve()
    (tmp_path / "mine.jsonl").write_text("x")
    assert resolve_measurement_file("mine.jsonl") == (tmp_path / "mine.jsonl").resolve()
    assert resolve_measurement_file(str(p)) == p
    with pytest.raises(InputError):
        resolve_measurement_file("nowhere.jsonl")
    with pytest.raises(InputError):
        resolve_measurement_file(tmp_path / "absent.jsonl")


def test_shipped_sample_is_exactly_what_the_builder_makes_from_the_csv(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_measured_sample as b
    finally:
        sys.path.pop(0)
    fresh = b.build(tmp_path / "s.jsonl").read_bytes()
    shipped = (data.data_dir() / "measured/h100_probe1_sample.jsonl").read_bytes()
    assert fresh == shipped


def test_shipped_sample_matches_the_csv_row_by_row():
    csv = data.table("measured/h100_calibration.csv")
    m = load_measurement(data.data_dir() / "measured/h100_probe1_sample.jsonl")
    w = m.windows_frame()
    assert len(w) == len(csv) and not m.has_samples  # no trace was invented
    assert w["energy_j"].tolist() == pytest.approx(csv["energy_j_counter"].astype(float).tolist())
    assert w["duration_s"].tolist() == pytest.approx(csv["seconds"].astype(float).tolist())
    assert w["mean_power_w"].tolist() == pytest.approx(csv["power_w_mean"].astype(float).tolist(), abs=0.01)
    assert w["peak_power_w"].tolist() == pytest.approx(csv["power_w_max"].astype(float).tolist())
    assert w["t_start_s"].isna().all() and w["samples"].isna().all()
    train = w[w["experiment"] == "train_step"]
    assert train["steps"].tolist() == [25, 71, 164] and set(train["tokens_per_step"]) == {8192}
    assert m.header["source_id"] == "joulebook_h100_probe1" and m.summary["windows"] == 13
    assert len(set(m.window_names())) == 13
