"""Every committed notebook follows the conventions (notebooks/*.ipynb and the test fixtures).

No outputs or execution counts; one kernelspec (python3, as `make setup` installs it); exactly one ``parameters``
cell of literal assignments, each with a comment, that papermill can read; no
papermill-injected cells; no ``sys.path`` edits; no ``def``/``class``; a title
cell first; ``write_metrics`` in the last code cell; declared in reports.toml.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("*.ipynb"))
ALL = NOTEBOOKS + FIXTURES


def ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def load(path: Path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    return nb


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def parameter_cells(nb):
    return [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


# The kernel `make setup` installs into .venv (and `make lab` opens): one kernelspec for every notebook.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (joulebook)", "language": "python"}


def test_every_notebook_is_checked():
    """The checks below walk every committed .ipynb (a notebook elsewhere would escape them)."""
    import os

    committed = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in {"reports", "build", "__pycache__"}]
        committed |= {Path(dirpath) / f for f in filenames if f.endswith(".ipynb")}
    assert committed <= set(ALL), f"notebooks outside notebooks/ and tests/fixtures/: {sorted(committed - set(ALL))}"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_no_outputs_and_python3_kernel(path):
    nb = load(path)
    assert dict(nb.metadata.get("kernelspec", {})) == KERNELSPEC, (
        f"kernelspec is {dict(nb.metadata.get('kernelspec', {}))}; set metadata.kernelspec to {KERNELSPEC} "
        "(what `make lab` saves)")
    for i, cell in enumerate(code_cells(nb)):
        assert cell.get("outputs") == [], f"cell {i} has outputs"
        assert cell.get("execution_count") is None, f"cell {i} has an execution count"
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        assert "injected-parameters" not in tags and "papermill-error-cell-tag" not in tags
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_one_parameters_cell_of_commented_literals(path):
    import papermill

    nb = load(path)
    cells = parameter_cells(nb)
    assert len(cells) == 1, f"{len(cells)} cells tagged 'parameters'"
    cell = cells[0]
    assert cell.cell_type == "code"
    tree = ast.parse(cell.source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            f"line {node.lineno}: only `name = literal` assignments belong in the parameters cell"
        ast.literal_eval(node.value)  # raises ValueError for anything but a literal
        names.append(node.targets[0].id)
    assert len(names) == len(set(names)), "a parameter is assigned twice"
    lines = cell.source.splitlines()
    for node in tree.body:
        assert node.lineno == node.end_lineno, f"{names} : keep each parameter on one line"
        line = lines[node.lineno - 1]
        assert "#" in line.split("=", 1)[1] and line.rsplit("#", 1)[1].strip(), f"no comment on: {line}"
    # papermill must read every one of them (an `=` in a comment can break its parser)
    assert list(papermill.inspect_notebook(str(path))) == names


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_no_sys_path_no_definitions(path):
    nb = load(path)
    for i, cell in enumerate(code_cells(nb)):
        assert "sys.path" not in cell.source, f"cell {i} edits sys.path"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), \
                f"cell {i} defines {node.name}: put logic in lib/joulebook"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_title_first_and_metrics_last(path):
    nb = load(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title (# Title)"
    assert len([line for line in first.source.splitlines() if line.strip()]) >= 2, "title plus one sentence"
    assert "write_metrics" in code_cells(nb)[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_named_and_declared(path):
    import re

    from joulebook.site.config import load_config

    assert re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", path.name), "name notebooks NN_topic.ipynb"
    declared = {s.notebook.name for s in load_config(ROOT / "notebooks" / "reports.toml").reports}
    assert path.name in declared, f"{path.name} has no [[report]] block in notebooks/reports.toml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_last_cell_does_not_print_the_metrics_dict(path):
    """A bare ``report.write_metrics(...)`` would render the returned dict as raw text on the page."""
    last = code_cells(load(path))[-1]
    tree = ast.parse(last.source)
    assert tree.body and not isinstance(tree.body[-1], ast.Expr), (
        "assign the result (metrics = report.write_metrics(...)) so the page shows no raw dict")
