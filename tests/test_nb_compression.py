"""notebooks/20_compression_tradeoffs.ipynb: hygiene, parameters in step with the library, tiny execution."""

import ast
from pathlib import Path

import nbformat
import pytest

from joulebook import compression
from joulebook.reports import config
from joulebook.reports.execute import execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "20_compression_tradeoffs.ipynb"
REPORT_IDS = ("compression_small", "compression_70b")


def _parameters(cells) -> dict:
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    out = {}
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        assert "  # " in line, f"every parameter has a comment: {line!r}"
        code, comment = line.split("  # ", 1)
        assert comment.strip()
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def test_hygiene():
    nb = nbformat.read(str(NB), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert "compression.check_parameters(" in cells[at + 1].source  # validation right after the parameters
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)) for n in ast.walk(tree))
        assert "sys.path" not in c.source and "read_csv" not in c.source
    assert "report.write_metrics(" in code[-1].source
    assert any("report.provenance(" in c.source for c in code[:4])


def test_parameters_match_library_defaults():
    cells = nbformat.read(str(NB), as_version=4).cells
    assert _parameters(cells) == compression.REPORT_DEFAULTS


def test_report_blocks_are_declared():
    cfg = config.load_config(ROOT / "notebooks" / "reports.toml")
    declared = set(_parameters(nbformat.read(str(NB), as_version=4).cells))
    counts = []
    for rid in REPORT_IDS:
        spec = cfg.spec(rid)
        assert spec.notebook.name == NB.name
        assert spec.metrics_function == "joulebook.compression:report_metrics"
        assert set(spec.test_parameter_set()) <= declared
        compression.check_parameters(**{**compression.REPORT_DEFAULTS, **spec.test_parameter_set()})
        counts.append(spec.parameters.get("count", 1))
    assert min(counts) == 1 and max(counts) > 1  # a small model on one GPU, a 70B model on several


@pytest.mark.slow
@pytest.mark.parametrize("rid", REPORT_IDS)
def test_executes_with_tiny_parameters_and_metrics_match_the_library(tmp_path, rid):
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(rid)
    params = spec.test_parameter_set()
    res = execute_notebook(NB, params, tmp_path, timeout_s=300)
    assert res.status == "ok", f"{res.error}\n{res.traceback}"
    assert validate_metrics(res.metrics) == []
    assert res.metrics == compression.report_metrics(params)
    nb = nbformat.read(str(res.executed_path), as_version=4)
    images = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 5
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    stderr = [o for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not errors and not stderr, stderr
