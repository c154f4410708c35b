"""notebooks/60_region_and_time_planner.ipynb: hygiene, the finding first, parameters checked by the story, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.stories import notebook_defaults, planner

NB = nbh.NOTEBOOKS / "60_region_and_time_planner.ipynb"
REPORT_ID = "region_time_planner"


def test_hygiene_finding_first_provenance_last(monkeypatch):
    monkeypatch.setattr(nbh, "PROVENANCE_WITHIN", 10**6)  # new style: provenance at the end, checked below
    cells, at = nbh.check_hygiene(NB, "planner.check(")
    assert "report.finding(*planner.finding(" in cells[at + 2].source
    prov = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    assert prov and all("report.provenance(" not in c.source for c in cells[:prov[0]])
    assert any("report.provenance(" in cells[i].source for i in prov)
    assert prov[-1] == len(cells) - 2  # provenance, then only the metrics cell
    for c in cells:
        if c.cell_type == "code" and "figures.show(" in c.source:
            assert "alt=" in c.source
        assert "plots.show(" not in c.source


def test_parameters_are_all_validated_by_the_story():
    cells = nbh.read(NB).cells
    params = nbh.parameters(cells)
    assert set(params) == set(planner.PARAMETERS)
    validation = next(c.source for c in cells if "planner.check(" in c.source)
    for name in params:
        assert f"{name}={name}" in validation, name


def test_validation_rejects_bad_parameters():
    d = notebook_defaults.defaults(planner.NOTEBOOK)
    for bad, param in [({"hours": 0}, "hours"), ({"energy_kwh": -1.0}, "energy_kwh"), ({"month": 13}, "month"),
                       ({"residency": ["EU"], "regions": ["us-va"]}, "residency"), ({"objective": "speed"}, "objective"),
                       ({"heatmap_value": "water"}, "heatmap_value"), ({"timing_durations_h": []}, "timing_durations_h"),
                       ({"team_tz": "Mars/Olympus"}, "team_tz")]:
        with pytest.raises(InputError if param != "team_tz" else UnknownNameError) as e:
            planner.check(**{**d, **bad})
        assert e.value.parameter == param
    with pytest.raises(InputError) as e:
        planner.check(**d, region=["se"])
    assert e.value.parameter == "region"


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.planner:metrics_for", planner.PARAMETERS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m = notebook_run.metrics
    assert m == planner.metrics_for(notebook_run.params)
    plan = planner.compute(planner.check(**notebook_defaults.merged(planner.NOTEBOOK, notebook_run.params)))
    assert m["best_region"] == plan.best["region"]
    assert m["best_emissions_kg"] == pytest.approx(plan.best["emissions_kg"], rel=1e-5)
    assert len(notebook_run.pngs) == 4  # bars, heatmap, relative heatmap, timing value
    assert all(o["metadata"]["image/png"]["alt"] for o in notebook_run.pngs)
    text = notebook_run.text()
    html = notebook_run.text("text/html")
    # the finding names the best region and its start hour
    assert "jb-finding" in html and plan.best["name"] in m["finding"]
    # the prose is written from this run's values: best region, its start on both clocks, the residency rule
    assert plan.best["name"] in text and plan.best["best_start_team"] in text
    assert planner.residency_md(plan) in text
    assert "No hourly profile for" in text  # the flat-data caveat is stated, not hidden
    for rid in ("us-ca", "gcp:us-central1"):
        assert f">{rid}<" not in html  # names, not ids, in the tables
    assert not notebook_run.problems, notebook_run.problems
