"""notebooks/70_federated_tradeoffs.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.models import federated

NB = nbh.NOTEBOOKS / "70_federated_tradeoffs.ipynb"
REPORT_ID = "federated_tradeoffs"


def test_hygiene():
    nbh.check_hygiene(NB, "report_scenario(")  # validation through the library right after the parameters


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == federated.REPORT_DEFAULTS


@pytest.mark.parametrize("kw", [dict(clients=0), dict(participation=1.2), dict(data_bytes_per_client=-1.0),
                                dict(grid_clients=[])], ids=lambda kw: next(iter(kw)))
def test_validation_cell_rejects_bad_parameters(kw):
    with pytest.raises(InputError) as e:
        federated.report_scenario(**kw)
    assert e.value.parameter == next(iter(kw))


def test_validation_cell_rejects_unknown_parameters():
    with pytest.raises(InputError) as e:
        federated.report_scenario(client=3)
    assert "clients" in str(e.value)


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.models.federated:report_metrics", federated.REPORT_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == federated.report_metrics(notebook_run.params)
    assert len(notebook_run.pngs) >= 4  # breakdown, two break-even maps, data-size map, energy by size
    # the prose is written from this run's values
    assert f"{notebook_run.params['clients']:,}" in notebook_run.text()
