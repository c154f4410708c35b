"""notebooks/20_compression_tradeoffs.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.models import compression

NB = nbh.NOTEBOOKS / "20_compression_tradeoffs.ipynb"
REPORT_IDS = ("compression_small", "compression_70b")


def test_hygiene():
    nbh.check_hygiene(NB, "compression.check_parameters(")


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == compression.REPORT_DEFAULTS


def test_report_blocks_are_declared():
    declared = nbh.parameters(nbh.read(NB).cells)
    counts = []
    for rid in REPORT_IDS:
        spec = nbh.check_report_block(rid, NB, "joulebook.models.compression:report_metrics", declared)
        compression.check_parameters(**{**compression.REPORT_DEFAULTS, **spec.test_parameter_set()})
        counts.append(spec.parameters.get("count", 1))
    assert min(counts) == 1 and max(counts) > 1  # a small model on one GPU, a 70B model on several


@pytest.mark.slow
@pytest.mark.parametrize("notebook_run", REPORT_IDS, indirect=True)
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == compression.report_metrics(notebook_run.params)
    assert len(notebook_run.pngs) >= 5
    assert not notebook_run.problems, notebook_run.problems
