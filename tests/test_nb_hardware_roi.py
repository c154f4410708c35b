"""notebooks/50_hardware_and_roi.ipynb: hygiene, parameters in step with the library, tiny execution."""

import ast
from pathlib import Path

import nbformat
import pytest

from joulebook import roi
from joulebook.errors import InputError
from joulebook.reports import config
from joulebook.reports.execute import execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "50_hardware_and_roi.ipynb"
REPORT_ID = "hardware_roi"


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
    assert "roi.validate_parameters(" in cells[tagged_at + 1].source
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)) for n in ast.walk(tree))
        assert "sys.path" not in c.source
    assert "report.write_metrics(" in code[-1].source
    assert any("report.provenance(" in c.source for c in code[:4])


def test_parameters_match_library_defaults():
    assert _parameters(nbformat.read(str(NB), as_version=4).cells) == roi.NOTEBOOK_DEFAULTS


def test_validation_rejects_bad_parameters():
    p = dict(roi.NOTEBOOK_DEFAULTS)
    for bad, parameter in (({"fleet_utilisation": 0}, "fleet_utilisation"), ({"counts": [8, -1]}, "counts"),
                           ({"demand_resolution": "monthly"}, "demand_resolution"), ({"region": "atlantis"}, "region"),
                           ({"finetune_share": 1.5}, "finetune_share"), ({"horizon_months": 0}, "horizon_months")):
        with pytest.raises((InputError, KeyError)) as e:
            roi.validate_parameters(**{**p, **bad})
        assert e.value.parameter == parameter


def test_report_block_is_declared():
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    assert spec.notebook.name == NB.name
    assert spec.metrics_function == "joulebook.roi:report_metrics"
    assert set(spec.test_parameter_set()) <= set(roi.NOTEBOOK_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(tmp_path):
    spec = config.load_config(ROOT / "notebooks" / "reports.toml").spec(REPORT_ID)
    params = spec.test_parameter_set()
    res = execute_notebook(NB, params, tmp_path, timeout_s=300)
    assert res.status == "ok", res.traceback
    assert validate_metrics(res.metrics) == []
    full = {**roi.NOTEBOOK_DEFAULTS, **params}
    assert res.metrics == roi.report_metrics(params)
    # independent checks against the lower-level functions
    sw = roi.switch_roi(from_count=full["fleet_count"], utilisation=full["fleet_utilisation"],
                        migration_usd=full["migration_usd"], horizon_months=full["horizon_months"],
                        operations_share_per_year=full["operations_share_per_year"], region=full["region"])
    assert res.metrics["owned_break_even_month"] == sw.owned.month
    assert res.metrics["cloud_break_even_month"] == sw.cloud.month
    demand = roi.demand_profile(baseline_accelerators=full["baseline_accelerators"],
                                peak_accelerators=full["peak_accelerators"],
                                peak_days_per_year=full["peak_days_per_year"], resolution="daily")
    mix = roi.burst_mix(demand, lifetime_years=full["lifetime_years"])
    assert res.metrics["mix_best_owned_count"] == mix.best_count
    executed = nbformat.read(str(res.executed_path), as_version=4)
    pngs = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == 6
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in executed.cells for o in c.get("outputs", []))
    verdict = f"month {sw.cloud.month}" if sw.cloud.month is not None else "never pays back"
    assert verdict in text  # the prose is written from this run's values
    assert f"owns **{mix.best_count}**" in text
