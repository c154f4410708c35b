"""notebooks/40_precision_tuning.ipynb: hygiene, parameters in step with the library, tiny execution."""

import ast
from pathlib import Path

import nbformat
import pytest

from joulebook import precision
from joulebook.errors import InputError
from joulebook.reports import config
from joulebook.reports.execute import execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "40_precision_tuning.ipynb"
REPORT_ID = "precision_tuning"


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
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def test_hygiene():
    nb = nbformat.read(str(NB), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    tagged_at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert "precision.validate_parameters(" in cells[tagged_at + 1].source
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)) for n in ast.walk(tree))
        assert "sys.path" not in c.source
    assert "report.write_metrics(" in code[-1].source
    assert any("report.provenance(" in c.source for c in code[:4])


def test_parameters_match_library_defaults():
    assert _parameters(nbformat.read(str(NB), as_version=4).cells) == precision.NOTEBOOK_DEFAULTS


def test_validation_rejects_bad_parameters():
    p = dict(precision.NOTEBOOK_DEFAULTS)
    for bad, parameter in (({"params": 0}, "params"), ({"batch": 1.5}, "batch"), ({"schedule": "fp8:0.7"}, "schedule"),
                           ({"baseline": "int4"}, "baseline"), ({"sweep_hiddens": []}, "sweep_hiddens")):
        with pytest.raises(InputError) as e:
            precision.validate_parameters(**{**p, **bad})
        assert e.value.parameter == parameter


def test_report_block_is_declared():
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    assert spec.notebook.name == NB.name
    assert spec.metrics_function == "joulebook.precision:report_metrics"
    assert set(spec.test_parameter_set()) <= set(precision.NOTEBOOK_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(tmp_path):
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    params = spec.test_parameter_set()
    res = execute_notebook(NB, params, tmp_path, timeout_s=300)
    assert res.status == "ok", res.traceback
    assert validate_metrics(res.metrics) == []
    assert res.metrics == precision.report_metrics(params)
    # independent check against the plain training model (the bf16 job is compute-bound)
    from joulebook import training

    est = training.estimate_training(params=params["params"], tokens=params["tokens"], accelerator=params["accelerator"],
                                     count=params["count"], precision="bf16", region=params["region"],
                                     batch=params["batch"], seq_len=params["seq_len"], layers=params["layers"],
                                     hidden=params["hidden"])
    assert res.metrics["baseline_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"], rel=1e-5)
    assert res.metrics["bf16_model_to_measured_energy"] == pytest.approx(1.0, abs=0.03)
    executed = nbformat.read(str(res.executed_path), as_version=4)
    pngs = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == 5
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in executed.cells for o in c.get("outputs", []))
    assert f"{100 * res.metrics['schedule_saving_fraction']:.1f}%" in text  # prose written from this run's values
    assert "near-constant power" in text and "Where savings stop" in text
