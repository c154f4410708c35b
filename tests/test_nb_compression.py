"""notebooks/20_compression_tradeoffs.ipynb: layout (finding first, provenance last), parameters in step with the
story, tiny execution."""

import ast

import pytest

import nbhelpers as nbh
from joulebook.stories import compression as story

NB = nbh.NOTEBOOKS / "20_compression_tradeoffs.ipynb"
REPORT_IDS = ("compression_small", "compression_70b")
METRICS_FUNCTION = "joulebook.stories.compression:metrics_for"


def check_layout(nb_path, check_call: str) -> dict:
    """The house rules of a report notebook in the answer-first layout; returns the parameters cell as a dict.

    python3 kernel, a ``# Title`` cell first, the parameter check right after the parameters, the finding in the
    next code cell, code cells without outputs or logic, provenance cells (tagged ``provenance``) together at the
    end, then the metrics cell last.
    """
    nb = nbh.read(nb_path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = nbh.parameters_index(cells)
    assert check_call in cells[at + 1].source, f"the cell after the parameters calls {check_call}"
    assert "report.finding(*story.finding(" in cells[at + 2].source, "the finding comes right after the check"
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, nbh.FORBIDDEN_NODES) for n in ast.walk(tree)), c.source
        for text in (*nbh.FORBIDDEN_TEXT, "_DEFAULTS", "plots.show("):
            assert text not in c.source, f"{text} in {c.source!r}"
    assert "report.write_metrics(" in code[-1].source
    tagged = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    assert tagged and tagged == list(range(tagged[0], len(cells) - 1)), "provenance cells together, just before metrics"
    assert tagged[0] > len(cells) // 2
    assert all("provenance" not in c.metadata.get("tags", []) and "provenance_line" not in c.source
               for c in cells[:tagged[0]])
    assert sum("figures.show(" in c.source for c in code) >= 5  # every figure with alt text
    return nbh.parameters(cells)


def test_layout():
    check_layout(NB, "story.check(")


def test_parameters_cell_is_the_signature_of_check():
    declared = nbh.parameters(nbh.read(NB).cells)
    assert tuple(declared) == story.PARAMETERS
    plan = story.check(**declared)
    assert plan["techniques"][-1] == f"distill:{declared['student']}" or not declared["student"]


def test_report_blocks_are_declared():
    declared = nbh.parameters(nbh.read(NB).cells)
    counts = []
    for rid in REPORT_IDS:
        spec = nbh.check_report_block(rid, NB, METRICS_FUNCTION, declared)
        story.check(**{**declared, **spec.test_parameter_set()})
        counts.append(spec.parameters.get("count", 1))
    assert min(counts) == 1 and max(counts) > 1  # a small model on one GPU, a 70B model on several


@pytest.mark.slow
@pytest.mark.parametrize("notebook_run", REPORT_IDS, indirect=True)
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    declared = nbh.parameters(nbh.read(NB).cells)
    m = notebook_run.metrics
    assert m == story.metrics_for({**declared, **notebook_run.params})
    assert len(notebook_run.pngs) >= 5
    assert not notebook_run.problems, notebook_run.problems
    # the page leads with the best option that has accuracy evidence; a distilled student is a different model
    if m["best_technique"]:
        assert story.technique_name(m["best_technique"]) in m["finding"].split(":")[0]
    assert "different, smaller model" in m["finding"]
    assert_readable(notebook_run, ("h100-sxm", "pareto_optimal", "speedup_at_smallest_batch", "int4-weight-only"))


def assert_readable(run, raw_ids):
    """No missing-value spellings in table cells or prose, no raw ids or column names anywhere on the page."""
    html, md = run.text("text/html"), run.text()
    for cell in ("None", "nan", "NaN", "null", "n/a", "&lt;NA&gt;"):
        assert f">{cell}<" not in html, cell
        assert f" {cell} " not in md and f"({cell})" not in md, cell
    for raw in raw_ids:
        assert raw not in html + md, raw
