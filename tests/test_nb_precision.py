"""notebooks/40_precision_tuning.ipynb: layout (finding first, provenance last), parameters in step with the story,
tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.models import training
from joulebook.stories import precision as story
from test_nb_compression import assert_readable, check_layout

NB = nbh.NOTEBOOKS / "40_precision_tuning.ipynb"
REPORT_ID = "precision_tuning"
METRICS_FUNCTION = "joulebook.stories.precision:metrics_for"


def _declared():
    return nbh.parameters(nbh.read(NB).cells)


def test_layout():
    check_layout(NB, "story.check(")


def test_parameters_cell_is_the_signature_of_check():
    declared = _declared()
    assert tuple(declared) == story.PARAMETERS
    job = story.check(**declared)
    assert job["accelerator"] in job["accelerators"]


def test_check_rejects_bad_parameters():
    p = _declared()
    for bad, parameter in (({"params": 0}, "params"), ({"batch": 1.5}, "batch"), ({"schedule": "fp8:0.7"}, "schedule"),
                           ({"baseline": "int4"}, "baseline"), ({"sweep_hiddens": []}, "sweep_hiddens"),
                           ({"accelerator": "a100-sxm4-80gb"}, "schedule")):
        with pytest.raises(InputError) as e:
            story.check(**{**p, **bad})
        assert e.value.parameter == parameter
    with pytest.raises(InputError) as e:
        story.metrics_for({k: v for k, v in p.items() if k != "tokens"})
    assert e.value.parameter == "tokens"


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, METRICS_FUNCTION, _declared())


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m, params = notebook_run.metrics, {**_declared(), **notebook_run.params}
    assert m == story.metrics_for(params)
    # independent check against the plain training model (the bf16 job is compute-bound)
    est = training.estimate_training(params=params["params"], tokens=params["tokens"], accelerator=params["accelerator"],
                                     count=params["count"], precision="bf16", region=params["region"],
                                     batch=params["batch"], seq_len=params["seq_len"], layers=params["layers"],
                                     hidden=params["hidden"])
    assert m["baseline_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"], rel=1e-5)
    assert m["bf16_model_to_measured_energy"] == pytest.approx(1.0, abs=0.03)
    assert len(notebook_run.pngs) == 5
    text = notebook_run.text()
    assert f"{100 * m['schedule_saving_fraction']:.3g}%" in text  # prose written from this run's values
    assert "near-constant power" in text and "Where savings stop" in text
    # the headline gives the range the page shows (Amdahl bound to the model), not only the optimistic end
    assert (f"{100 * m['schedule_saving_fraction_bound']:.0f}–{100 * m['schedule_saving_fraction']:.0f}%"
            in m["finding"])
    assert_readable(notebook_run, ("h100-sxm", "a100-sxm4-80gb", "fp8:0.9", "energy_saving_vs_baseline"))
