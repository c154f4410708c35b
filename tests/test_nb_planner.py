"""notebooks/60_region_and_time_planner.ipynb: hygiene, parameters in step with the library, tiny execution."""

import ast
from pathlib import Path

import nbformat
import pytest

from joulebook import planning
from joulebook.errors import InputError, UnknownNameError
from joulebook.reports import config
from joulebook.reports.execute import execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "60_region_and_time_planner.ipynb"
REPORT_ID = "region_time_planner"


def _nb():
    return nbformat.read(str(NB), as_version=4)


def _parameters(cells) -> dict:
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    out = {}
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        assert "  # " in line, f"every parameter has a comment: {line!r}"
        code, comment = line.split("  # ", 1)
        assert comment.strip(), f"empty comment: {line!r}"
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        out[node.targets[0].id] = ast.literal_eval(node.value)  # literals only
    return out


def test_hygiene():
    nb = _nb()
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert "planning.check_parameters(" in cells[at + 1].source  # validated through the library right after
    for c in cells:
        if c.cell_type == "code":
            assert not c.get("outputs") and c.get("execution_count") is None
            tree = ast.parse(c.source)
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)) for n in ast.walk(tree))
            assert "sys.path" not in c.source
    code = [c for c in cells if c.cell_type == "code"]
    assert "report.write_metrics(" in code[-1].source
    assert any("report.provenance(" in c.source for c in code[:4])  # near the top


def test_parameters_match_library_defaults_and_are_all_validated():
    params = _parameters(_nb().cells)
    assert params == planning.PARAMETER_DEFAULTS
    validation = next(c.source for c in _nb().cells if "planning.check_parameters(" in c.source)
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
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    assert spec.notebook.name == NB.name
    assert spec.metrics_function == "joulebook.planning:report_metrics"
    assert set(spec.test_parameter_set()) <= set(planning.PARAMETER_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(tmp_path):
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    params = spec.test_parameter_set()
    res = execute_notebook(NB, params, tmp_path, timeout_s=300)
    assert res.status == "ok", res.traceback
    assert validate_metrics(res.metrics) == []
    assert res.metrics == planning.report_metrics(params)
    plan = planning.compare_from_parameters(params)
    assert res.metrics["best_region"] == plan.best["region"]
    assert res.metrics["best_emissions_kg"] == pytest.approx(plan.best["emissions_kg"], rel=1e-5)
    executed = nbformat.read(str(res.executed_path), as_version=4)
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 4  # bars, heatmap, relative heatmap, timing value
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    # the prose is written from this run's values: best region, its start on both clocks, the residency rule
    assert plan.best["name"] in text and plan.best["best_start_team"] in text
    assert planning.residency_text(plan) in text
    assert "No hourly profile for" in text  # the flat-data caveat is stated, not hidden
    errors = [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not errors, errors
