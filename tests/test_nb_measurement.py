"""notebooks/30_measurement_and_calibration.ipynb: hygiene, parameters, execution, metrics vs the library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nbhelpers as nbh
from joulebook.core import format as fmt
from joulebook.core.errors import InputError
from joulebook.display import tables
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


def defaults() -> dict:
    return nbh.parameters(nbh.read(NB).cells)


def result(**overrides) -> ms.Calibrated:
    return ms.calibrate(ms.check(**{**defaults(), **overrides}))


def test_hygiene():
    """Parameters, the check, the finding first; short cells; provenance tagged at the end; metrics last."""
    nb = nbh.read(NB)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = nbh.parameters_index(cells)
    assert "ms.check(" in cells[at + 1].source
    assert "report.finding(*ms.finding(" in cells[at + 2].source, "the finding comes right after the check"
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, nbh.FORBIDDEN_NODES) for n in ast.walk(tree)), c.source
        assert not any(t in c.source for t in nbh.FORBIDDEN_TEXT), c.source
        if c is not cells[at] and c is not cells[at + 1]:
            calls = [n for n in tree.body if isinstance(n, (ast.Expr, ast.Assign))]
            assert len(calls) <= 2, f"one or two library calls per cell: {c.source!r}"
        assert "plots.show(" not in c.source, "figures go through figures.show(fig, alt=...)"
    assert "report.write_metrics(" in code[-1].source
    tagged = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    prov = next(i for i, c in enumerate(cells) if "report.provenance(" in c.source)
    assert prov in tagged and tagged == list(range(tagged[0], tagged[-1] + 1)), "provenance: one tagged block"
    assert tagged[-1] == len(cells) - 2, "provenance at the end, just before the metrics"


def test_parameters_are_the_storys_parameters():
    """Defaults live once, in the notebook: the story names the same parameters and keeps no defaults."""
    assert tuple(defaults()) == ms.PARAMETERS
    assert not hasattr(ms, "REPORT_DEFAULTS")
    assert ms.notebook_defaults() == defaults()


def test_check_rejects_bad_parameters_with_one_named_error():
    for kw, name in (({"params": -1}, "params"), ({"measurement_file": "nope.jsonl"}, "measurement_file"),
                     ({"calibration_window": "nope"}, "window"), ({"job_count": 2.5}, "job_count"),
                     ({"layers": None}, "layers"), ({"precision": "fp7"}, "precision"), ({"param": 1}, "param")):
        with pytest.raises((InputError, KeyError)) as e:
            ms.check(**{**defaults(), **kw})
        assert getattr(e.value, "parameter", None) == name, (kw, e.value)
    with pytest.raises(InputError, match="params"):
        ms.check(**defaults(), param=1)
    missing = defaults()
    del missing["job_region"]
    with pytest.raises(InputError) as e:
        ms.check(**missing)
    assert e.value.parameter == "job_region"


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.measurement:metrics_for", ms.PARAMETERS)


def test_library_story_matches_the_probe_csv():
    """The default report calibrates exactly the CSV's train_step rows."""
    r = result()
    csv = calibration.fit_from_calibration_csv()
    f = r.fitted.set_index("precision")
    for _, row in csv.iterrows():
        assert f.loc[row["precision"], "mfu"] == pytest.approx(row["mfu"], rel=1e-9)
        assert f.loc[row["precision"], "energy_per_step_j"] == pytest.approx(row["energy_per_step_j"], rel=1e-9)
    m = ms.metrics(r)
    assert m["energy_per_step_j"] == pytest.approx(6914.522 / 164, rel=1e-5)
    assert m["precision_energy_ratio"] == pytest.approx((7182.314 / 25) / (6914.522 / 164), rel=1e-4)
    assert not m["has_trace"] and "no per-sample power trace" in ms.power_text(r)


def test_finding_measures_against_the_generic_default_on_the_training_page_job():
    """The finding quotes the error of the generic (published-run) default, not the probe-sized default derived
    from this same probe (which agrees by construction), and the full-scale job is the training page's."""
    r = result()
    headline, tiles = ms.finding(r)
    m = ms.metrics(r)
    c = r.chosen
    assert m["finding"] == headline.replace("**", "")
    assert fmt.number(c["generic_mfu"]) in headline and fmt.percent(abs(c["generic_energy_error_pct"]) / 100) in headline
    assert abs(m["error_generic_pct"]) > 5 and "+0%" not in headline and "0.0 %" not in headline
    assert ms.signed_percent(m["error_before_pct"]) not in headline
    assert "Virginia" in headline and "h100-sxm" not in headline and "us-va" not in headline  # names, not ids
    assert fmt.quantity(m["job_facility_energy_after_mwh"] * 1e3, "kWh") in headline
    assert len(tiles) == 4 and all(len(t) == 3 for t in tiles)
    nb10 = nbh.parameters(nbh.read(nbh.NOTEBOOKS / "10_training_energy.ipynb").cells)
    p = r.plan
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
        ms.check(**{**defaults(), "job_layers": None})
    assert e.value.parameter == "job_layers"


def test_tables_show_names_units_and_one_missing_marker():
    r = result()
    for frame, columns in ((ms.windows_frame(r), ms.WINDOW_COLUMNS), (ms.steps_frame(r), ms.STEP_COLUMNS),
                           (ms.calibration_frame(r), ms.CALIBRATION_COLUMNS),
                           (ms.all_windows_frame(r), ms.ALL_WINDOWS_COLUMNS),
                           (ms.full_scale_frame(r), ms.FULL_SCALE_COLUMNS)):
        shown = tables.table(frame, columns).frame
        cells = {str(v) for v in shown.to_numpy().ravel()}
        assert not cells & {"None", "nan", "<NA>", "null", "n/a", "NaN"}, cells
        assert all("_" not in h for h in shown.columns), shown.columns  # readable headers, not raw names
    assert fmt.MISSING in set(tables.table(ms.windows_frame(r), ms.WINDOW_COLUMNS).frame["Steps"])
    assert set(ms.windows_frame(r)["method"]) == {"energy counter"}  # words, not the file's method ids
    full = ms.full_scale_frame(r).set_index("key")
    assert full.loc["facility_energy_kwh", "quantity"] == "facility energy (MWh)"
    assert full.loc["facility_energy_kwh", "change_pct"] == pytest.approx(
        (full.loc["facility_energy_kwh", "after"] / full.loc["facility_energy_kwh", "before"] - 1) * 100)


def test_figures_say_what_they_show():
    r = result()
    fig, alt = ms.power_figure(r)
    assert "13 measured windows" in alt and "W" in alt
    labels, values = ms.calibration_bars(r)
    assert labels[2] == "measured" and values[2] == pytest.approx(r.chosen["energy_per_step_j"])
    assert fmt.number(values[0]) in ms.calibration_alt(r)
    assert "bf16 " + fmt.number(r.chosen["energy_per_token_j"] * 1000) in ms.precision_alt(r)
    job_fig, job_alt = ms.full_scale_figure(r)
    e = ms.full_scale_frame(r).set_index("key").loc["facility_energy_kwh"]
    assert fmt.number(e["before"]) in job_alt and fmt.number(e["after"]) in job_alt
    assert job_fig.axes[0].get_xlabel() == "facility energy (MWh)"
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 >= fig.axes[0].bbox.x1 - 1  # outside the axes


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == ms.metrics_for(notebook_run.params)
    assert len(notebook_run.pngs) == 4  # per-window power, energy per precision, estimates, the full-scale job
    alts = [o.get("metadata", {}).get("image/png", {}).get("alt") for o in notebook_run.pngs]
    assert all(a and a != "Figure" for a in alts), alts
    text = notebook_run.text()
    assert "42.2 J" in text and "no per-sample power trace" in text
    html = notebook_run.text("text/html")
    assert "jb-finding" in html and "None" not in html.replace("NoneType", "")


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
    assert m == ms.metrics_for(params)
    assert m["has_trace"] and m["windows"] == 3 and m["energy_per_step_j"] == pytest.approx(640 * 10 / 100)
    assert m["mfu"] == pytest.approx(6e8 * 4096 * 100 / 10 / 989e12, rel=1e-5)  # metrics keep 6 digits
    assert m["precision_energy_ratio"] == pytest.approx((560 * 10 / 20 / 4096) / (640 * 10 / 100 / 4096))
    text = traced.text()
    assert "holds a power trace" in text and "64 J per step" in text
