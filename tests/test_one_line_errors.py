"""A bad parameter in a report notebook reads as one line, and the cell still fails (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from joulebook.site.execute import execute_notebook

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bad_parameter_is_one_line_and_the_run_fails(tmp_path):
    # a small fixture with the report notebooks' first lines, so no report notebook executes twice per session
    res = execute_notebook(ROOT / "tests" / "fixtures" / "one_line_error.ipynb", {"count": -8}, tmp_path,
                           timeout_s=120)
    assert res.status == "failed"
    assert "InputError" in (res.error or "") and "count" in res.error
    shown = res.traceback or ""
    assert "count" in shown and "File " not in shown and "Traceback" not in shown, shown
    assert len([line for line in shown.splitlines() if line.strip()]) <= 2, shown


def test_one_line_errors_outside_ipython_does_nothing():
    from joulebook.display import report

    assert report.one_line_errors() is None
