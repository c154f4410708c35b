"""notebooks/30_measurement_and_calibration.ipynb: hygiene, parameters, execution, metrics vs the library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.measure import EnergyMeter
from joulebook.models import calibration, training
from joulebook.stories import measurement as ms
from joulebook.testing.fake_nvml import FakeClock, FakeGPU, FakeNVML, PiecewiseConstant

NB = nbh.NOTEBOOKS / "30_measurement_and_calibration.ipynb"
REPORT_ID = "measurement_calibration"


@pytest.fixture(autouse=True, scope="module")
def _no_gpu_environment():
    """The fake backend is injected explicitly; a CUDA_VISIBLE_DEVICES of the host must not remap it.

    Module-scoped, for the library tests of this module; the notebook itself runs through
    ``nbhelpers.RunCache``, which unsets the same variables for every execution.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        mp.delenv("JOULEBOOK_FAKE_NVML", raising=False)
        yield


def test_hygiene():
    cells, at = nbh.check_hygiene(NB, "report_scenario(")
    for c in cells:
        if c.cell_type == "code" and c is not cells[at] and c is not cells[at + 1]:
            calls = [n for n in ast.parse(c.source).body if isinstance(n, (ast.Expr, ast.Assign))]
            assert len(calls) <= 2, f"one or two library calls per cell: {c.source!r}"


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == ms.REPORT_DEFAULTS


def test_validation_rejects_bad_parameters():
    for kw, name in (({"params": -1}, "params"), ({"measurement_file": "nope.jsonl"}, "measurement_file"),
                     ({"calibration_window": "nope"}, "window"), ({"job_count": 2.5}, "job_count"),
                     ({"layers": None}, "layers"), ({"precision": "fp7"}, "precision"), ({"param": 1}, "param")):
        with pytest.raises((InputError, KeyError)) as e:
            ms.report_scenario(**kw)
        assert getattr(e.value, "parameter", None) == name, (kw, e.value)
    with pytest.raises(InputError, match="params"):
        ms.report_scenario(param=1)


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.measurement:report_metrics", ms.REPORT_DEFAULTS)


def test_library_story_matches_the_probe_csv():
    """The default report calibrates exactly the CSV's train_step rows."""
    st = ms.MeasurementStory(ms.report_scenario())
    csv = calibration.fit_from_calibration_csv()
    f = st.fitted.set_index("precision")
    for _, row in csv.iterrows():
        assert f.loc[row["precision"], "mfu"] == pytest.approx(row["mfu"], rel=1e-9)
        assert f.loc[row["precision"], "energy_per_step_j"] == pytest.approx(row["energy_per_step_j"], rel=1e-9)
    m = st.metrics()
    assert m["energy_per_step_j"] == pytest.approx(6914.522 / 164, rel=1e-5)
    assert m["precision_energy_ratio"] == pytest.approx((7182.314 / 25) / (6914.522 / 164), rel=1e-4)
    assert not m["has_trace"] and "no per-sample power trace" in st.power_md()


def test_headline_measures_against_the_generic_default_on_the_training_page_job():
    """The finding quotes the error of the generic (published-run) default, not the probe-sized default derived
    from this same probe, and the full-scale job is the training page's (notebook 10's defaults)."""
    st = ms.MeasurementStory(ms.report_scenario())
    m = st.metrics()
    c = st.chosen
    assert f"{c['generic_mfu']:.2f}" in m["finding"] and ms.pct(c["generic_energy_error_pct"]) in m["finding"]
    assert abs(m["error_generic_pct"]) > 5 and ms.pct(m["error_before_pct"]) not in m["finding"]
    nb10 = nbh.parameters(nbh.read(nbh.NOTEBOOKS / "10_training_energy.ipynb").cells)
    p = st.parameters
    assert (p["job_params"], p["job_tokens"], p["job_count"], p["job_region"]) == (
        nb10["params"], nb10["epochs"] * nb10["dataset_tokens"], nb10["count"], nb10["region"])
    assert (p["job_layers"], p["job_hidden"], p["job_seq_len"]) == (nb10["layers"], nb10["hidden"], nb10["seq_len"])
    page = training.estimate_training(params=nb10["params"], tokens=nb10["epochs"] * nb10["dataset_tokens"],
                                      accelerator=nb10["accelerator"], count=nb10["count"],
                                      precision=nb10["precision"], region=nb10["region"], layers=nb10["layers"],
                                      hidden=nb10["hidden"], seq_len=nb10["seq_len"])
    assert m["job_facility_energy_before_mwh"] == pytest.approx(page.central["facility_energy_kwh"] / 1e3, rel=1e-5)
    assert m["job_default_mfu"] == pytest.approx(page.assumptions.get("mfu").value, rel=1e-5)
    with pytest.raises(InputError) as e:
        ms.report_scenario(job_layers=None)
    assert e.value.parameter == "job_layers"


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == ms.report_metrics(notebook_run.params)
    assert len(notebook_run.pngs) == 3  # per-window power, energy per precision, before/after
    text = notebook_run.text()
    assert "42.16 J per step" in text and "no per-sample power trace" in text


def _traced_run(path: Path) -> Path:
    """A measurement with a power trace, written by the meter on the fake backend."""
    clk = FakeClock()
    curve = PiecewiseConstant([5.0, 10.0, 0.5, 10.0, 100.0], [120.0, 640.0, 150.0, 560.0, 120.0])
    meter = EnergyMeter(backend=FakeNVML([FakeGPU(curve)], clock=clk), clock=clk, out=path, trace=True)
    meter.start()
    meter.measure_idle(5.0)
    meter.begin_window("train:bf16", meta={"steps": 100, "tokens_per_step": 4096, "precision": "bf16"})
    clk.advance(10.0)
    meter.end_window("train:bf16")
    clk.advance(0.5)
    meter.begin_window("train:fp32", meta={"steps": 20, "tokens_per_step": 4096, "precision": "fp32"})
    clk.advance(10.0)
    meter.end_window("train:fp32")
    meter.stop()
    return path


@pytest.mark.slow
def test_executes_on_a_traced_measurement(tmp_path):
    run = _traced_run(tmp_path / "traced.jsonl")
    params = {"measurement_file": str(run), "calibration_window": "train:bf16", "params": 1e8, "tokens_per_step": None,
              "layers": None, "hidden": None, "seq_len": None, "job_params": 1e9, "job_tokens": 1e10, "job_count": 4,
              "job_region": "se"}
    traced = nbh.execute(NB, params, tmp_path / "work")
    m = traced.metrics
    assert m == ms.report_metrics(params)
    assert m["has_trace"] and m["windows"] == 3 and m["energy_per_step_j"] == pytest.approx(640 * 10 / 100)
    assert m["mfu"] == pytest.approx(6e8 * 4096 * 100 / 10 / 989e12, rel=1e-5)  # metrics keep 6 digits
    assert m["precision_energy_ratio"] == pytest.approx((560 * 10 / 20 / 4096) / (640 * 10 / 100 / 4096))
    text = traced.text()
    assert "holds a power trace" in text and "64.00 J per step" in text
