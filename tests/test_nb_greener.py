"""notebooks/80_greener_nlp.ipynb: hygiene, parameters in step with the library, tiny execution."""

import ast
from pathlib import Path

import nbformat
import pytest

from joulebook import greener
from joulebook.errors import InputError, UnknownNameError
from joulebook.reports import config
from joulebook.reports.execute import execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "80_greener_nlp.ipynb"
REPORT_ID = "greener_nlp"


def _parameters(cells) -> dict:
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    out = {}
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        assert "  # " in line, f"every parameter has a comment: {line!r}"
        code, comment = line.split("  # ", 1)
        assert comment.strip() and "=" not in comment, f"comment must be text without '=': {line!r}"
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
    assert "report_parameters(" in cells[tagged_at + 1].source
    for c in cells:
        if c.cell_type == "code":
            assert not c.get("outputs") and c.get("execution_count") is None
            tree = ast.parse(c.source)
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree))
            assert "sys.path" not in c.source
    code = [c for c in cells if c.cell_type == "code"]
    assert "report.write_metrics(" in code[-1].source
    assert any("report.provenance(" in c.source for c in code)


def test_parameters_match_library_defaults():
    assert _parameters(nbformat.read(str(NB), as_version=4).cells) == greener.REPORT_DEFAULTS


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
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    assert spec.notebook.name == NB.name
    assert spec.metrics_function == "joulebook.greener:report_metrics"
    assert set(spec.test_parameter_set()) <= set(greener.REPORT_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(tmp_path):
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    params = spec.test_parameter_set()
    res = execute_notebook(NB, params, tmp_path, timeout_s=300)
    assert res.status == "ok", res.traceback
    assert validate_metrics(res.metrics) == []
    assert res.metrics == greener.report_metrics(params)
    executed = nbformat.read(str(res.executed_path), as_version=4)
    pngs = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == 3  # loss at fixed budget, energy at fixed loss, savings per lever
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in executed.cells for o in c.get("outputs", []))
    assert "depends on a quality claim" in "".join(str(o.get("data", {}).get("text/html", ""))
                                                   for c in executed.cells for o in c.get("outputs", []))
    assert f"{params['target_loss']:g}" in text
