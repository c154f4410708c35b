"""notebooks/60_region_and_time_planner.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.models import planning

NB = nbh.NOTEBOOKS / "60_region_and_time_planner.ipynb"
REPORT_ID = "region_time_planner"


def test_hygiene():
    nbh.check_hygiene(NB, "planning.check_parameters(")  # validated through the library right after


def test_parameters_match_library_defaults_and_are_all_validated():
    cells = nbh.read(NB).cells
    params = nbh.parameters(cells)
    assert params == planning.PARAMETER_DEFAULTS
    validation = next(c.source for c in cells if "planning.check_parameters(" in c.source)
    for name in params:
        assert f"{name}={name}" in validation, name


def test_validation_rejects_bad_parameters():
    for bad, param in [({"hours": 0}, "hours"), ({"energy_kwh": -1.0}, "energy_kwh"), ({"month": 13}, "month"),
                       ({"residency": ["EU"], "regions": ["us-va"]}, "residency"), ({"objective": "speed"}, "objective"),
                       ({"heatmap_value": "water"}, "heatmap_value"), ({"timing_durations_h": []}, "timing_durations_h"),
                       ({"team_tz": "Mars/Olympus"}, "team_tz")]:
        with pytest.raises(InputError if param != "team_tz" else UnknownNameError) as e:
            planning.check_parameters(**bad)
        assert e.value.parameter == param
    with pytest.raises(UnknownNameError):
        planning.check_parameters(region=["se"])


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.models.planning:report_metrics", planning.PARAMETER_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m = notebook_run.metrics
    assert m == planning.report_metrics(notebook_run.params)
    plan = planning.compare_from_parameters(notebook_run.params)
    assert m["best_region"] == plan.best["region"]
    assert m["best_emissions_kg"] == pytest.approx(plan.best["emissions_kg"], rel=1e-5)
    assert len(notebook_run.pngs) == 4  # bars, heatmap, relative heatmap, timing value
    text = notebook_run.text()
    # the prose is written from this run's values: best region, its start on both clocks, the residency rule
    assert plan.best["name"] in text and plan.best["best_start_team"] in text
    assert planning.residency_text(plan) in text
    assert "No hourly profile for" in text  # the flat-data caveat is stated, not hidden
    assert not notebook_run.problems, notebook_run.problems
