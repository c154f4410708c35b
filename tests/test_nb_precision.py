"""notebooks/40_precision_tuning.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.models import precision, training

NB = nbh.NOTEBOOKS / "40_precision_tuning.ipynb"
REPORT_ID = "precision_tuning"


def test_hygiene():
    nbh.check_hygiene(NB, "precision.validate_parameters(")


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == precision.NOTEBOOK_DEFAULTS


def test_validation_rejects_bad_parameters():
    p = dict(precision.NOTEBOOK_DEFAULTS)
    for bad, parameter in (({"params": 0}, "params"), ({"batch": 1.5}, "batch"), ({"schedule": "fp8:0.7"}, "schedule"),
                           ({"baseline": "int4"}, "baseline"), ({"sweep_hiddens": []}, "sweep_hiddens")):
        with pytest.raises(InputError) as e:
            precision.validate_parameters(**{**p, **bad})
        assert e.value.parameter == parameter


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.models.precision:report_metrics", precision.NOTEBOOK_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m, params = notebook_run.metrics, notebook_run.params
    assert m == precision.report_metrics(params)
    # independent check against the plain training model (the bf16 job is compute-bound)
    est = training.estimate_training(params=params["params"], tokens=params["tokens"], accelerator=params["accelerator"],
                                     count=params["count"], precision="bf16", region=params["region"],
                                     batch=params["batch"], seq_len=params["seq_len"], layers=params["layers"],
                                     hidden=params["hidden"])
    assert m["baseline_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"], rel=1e-5)
    assert m["bf16_model_to_measured_energy"] == pytest.approx(1.0, abs=0.03)
    assert len(notebook_run.pngs) == 5
    text = notebook_run.text()
    assert f"{100 * m['schedule_saving_fraction']:.1f}%" in text  # prose written from this run's values
    assert "near-constant power" in text and "Where savings stop" in text
