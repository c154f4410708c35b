"""notebooks/80_greener_nlp.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.models import greener

NB = nbh.NOTEBOOKS / "80_greener_nlp.ipynb"
REPORT_ID = "greener_nlp"


def test_hygiene():
    nbh.check_hygiene(NB, "report_parameters(")


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == greener.REPORT_DEFAULTS


@pytest.mark.parametrize("kw,param", [(dict(flops_budget=0), "flops_budget"), (dict(target_loss=1.0), "target_loss"),
                                      (dict(early_stop_fraction=1.5), "early_stop_fraction"),
                                      (dict(student_params=5e9), "student_params"), (dict(count=0), "count"),
                                      (dict(size_factors=[]), "size_factors"), (dict(flop_budget=1e20), "flop_budget")])
def test_validation_cell_rejects_bad_parameters(kw, param):
    with pytest.raises(InputError) as e:
        greener.report_parameters(**kw)
    assert e.value.parameter == param


def test_unknown_fit_and_region():
    with pytest.raises(UnknownNameError):
        greener.report_parameters(fit="kaplan")
    with pytest.raises(UnknownNameError):
        greener.report_parameters(region="mars")


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.models.greener:report_metrics", greener.REPORT_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == greener.report_metrics(notebook_run.params)
    assert len(notebook_run.pngs) == 3  # loss at fixed budget, energy at fixed loss, savings per lever
    assert "depends on a quality claim" in notebook_run.text("text/html")
    assert f"{notebook_run.params['target_loss']:g}" in notebook_run.text()
