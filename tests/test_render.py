"""Rendering: code-free pages by default, images, title, size budget, offline-safe, deterministic; the index."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from joulebook.display import prose
from joulebook.site import index as site
from joulebook.site.execute import execute_notebook
from joulebook.site.render import has_code, render_html

FIXTURE_NB = Path(__file__).parent / "fixtures" / "fixture_report.ipynb"
MAX_PAGE_BYTES = 2 * 1024 * 1024
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """One good and one failing run, with MPLBACKEND=Agg set outside: the runner must clear it for the kernel."""
    work = tmp_path_factory.mktemp("render")
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"  # would silently drop every inline figure if it reached the kernel
    try:
        ok = execute_notebook(FIXTURE_NB, {"scale": 1.5, "label": "render <test>"}, work / "ok",
                              git_commit="c0ffee123456")
        bad = execute_notebook(FIXTURE_NB, {"scale": -2.0}, work / "bad")
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved
    assert ok.status == "ok" and bad.status == "failed"
    return ok, bad


def check_offline(page: str) -> None:
    assert not EXTERNAL.search(page), EXTERNAL.search(page).group(0)
    assert "<script src" not in page
    for cdn in ("cdnjs", "unpkg", "jsdelivr", "mathjax", "require.js"):
        assert cdn not in page.lower(), cdn


@pytest.mark.slow
def test_default_page_is_code_free_with_figure_title_and_budget(executed):
    ok, _ = executed
    page = render_html(ok.executed_path, title="Fixture <page>")
    assert not has_code(page)
    assert "scale_checked" not in page  # no source text at all
    assert "<title>Fixture &lt;page&gt;</title>" in page
    imgs = re.findall(r"<img [^>]*>", page)
    assert len(imgs) >= 1
    assert all('src="data:image/png;base64,' in i and re.search(r'alt="Figure[^"]*"', i) for i in imgs), imgs
    assert len(page.encode()) < MAX_PAGE_BYTES
    assert "The series is scaled by" in page  # prose outputs are kept
    # the outer MPLBACKEND=Agg did not reach the kernel (ipykernel then picks its inline backend);
    # the kernel saw the metrics path and the commit the runner set
    assert "MPLBACKEND=module://matplotlib_inline.backend_inline, metrics file metrics.json, " \
           "commit c0ffee123456." in page
    assert 'href="../index.html"' in page
    check_offline(page)


@pytest.mark.slow
def test_with_code_and_failed_pages_show_code(executed):
    ok, bad = executed
    assert has_code(render_html(ok.executed_path, title="t", with_code=True))
    page = render_html(bad.executed_path, title="t", failed=True, error=bad.error)
    assert has_code(page) and "This report failed" in page
    assert "Traceback (most recent call last)" in page and "must be &gt; 0" in page
    check_offline(page)


@pytest.mark.slow
def test_rendering_is_deterministic(executed):
    ok, _ = executed
    links = [("fixture_report.ipynb", "notebook"), ("metrics.json", "metrics.json")]
    a = render_html(ok.executed_path, title="t", links=links)
    b = render_html(ok.executed_path, title="t", links=links)
    assert a == b
    assert 'href="metrics.json"' in a
    assert str(ok.executed_path.parent) not in a  # no absolute scratch paths


@pytest.mark.slow
def test_executed_notebook_has_no_timing_or_random_ids(executed):
    import nbformat

    ok, _ = executed
    nb = nbformat.read(str(ok.executed_path), as_version=4)
    assert set(nb.metadata["papermill"]) <= {"parameters", "default_parameters", "version"}
    for cell in nb.cells:
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and injected[0]["id"] == "papermill-injected-parameters"


# --------------------------------------------------------------------------- index (fast)

def outcome(slug, topic, status="ok", **kw):
    base = {"slug": slug, "id": slug.split("--")[0], "title": f"Config title {slug}", "topic": topic,
            "status": status, "page": f"{slug}/report.html", "executed": f"{slug}/nb.ipynb",
            "metrics_file": f"{slug}/metrics.json" if status == "ok" else None, "matrix_values": {},
            "metrics": None, "error": None}
    base.update(kw)
    return base


def test_index_groups_by_topic_and_marks_failures():
    metrics = {"title": "A <b>bold</b> title", "finding": "Energy is 5 < 6.",
               "key_figures": [{"label": "facility energy", "value": 12345.6, "unit": "kWh"},
                               {"label": "emissions", "value": 4.35121, "unit": "t CO2e"}]}
    html = site.index_html([
        outcome("a--region-se", "Training", metrics=metrics, matrix_values={"region": "se"}),
        outcome("b", "Inference"),
        outcome("c", "Training", status="failed", error="ValueError: boom <here>"),
    ], stamp="Built now", facts="commit x")
    assert html.index("<h2>Training</h2>") < html.index("<h2>Inference</h2>")
    training = html[html.index("<h2>Training</h2>"):html.index("<h2>Inference</h2>")]
    assert 'id="report-a--region-se"' in training and 'id="report-c"' in training
    assert "A &lt;b&gt;bold&lt;/b&gt; title" in html and "Energy is 5 &lt; 6." in html
    assert "12,300" in html and "4.35" in html and "region = se" in html
    failed = html[html.index('id="report-c"'):]
    assert 'class="card failed"' in html and "ValueError: boom &lt;here&gt;" in failed
    assert 'href="c/report.html">traceback</a>' in failed and 'c/metrics.json' not in failed
    assert html.count('class="jb-stamp"') == 1 and "Built now" in html
    assert "2 reports" not in html and "3 reports, 1 failed" in html
    check_offline(html)


@pytest.mark.parametrize("value, text", [(None, "n/a"), (float("nan"), "n/a"), (0, "0"), (0.000123, "1.23e-04"),
                                         (4.35121, "4.35"), (999.4, "999"), (12345.6, "12,300"),
                                         (87270.8, "87,300"), (2.5e6, "2.5 million"), (3.2e9, "3.2 billion")])
def test_format_number(value, text):
    assert site.format_number(value) == text


@pytest.mark.parametrize("fn, value, text", [
    (prose.energy_kwh, 12000.03, "12 MWh"), (prose.energy_kwh, 0.5, "500 Wh"), (prose.energy_j, 290375.5, "290 kJ"),
    (prose.mass_kg, 431.0, "431 kg CO2e"), (prose.mass_kg, 4351.2, "4.35 t CO2e"), (prose.water_l, 41910.9, "41.9 m³"),
    (prose.usd, 87270.8, "87,300 USD"), (prose.usd, 2.5e6, "2.5 million USD"), (prose.usd_rate, 10.98, "11 USD"),
    (prose.hours, 124.19, "124 h (5.17 days)"), (prose.hours, 0.5, "30 min"), (prose.seconds, 0.0123, "12.3 ms"),
    (prose.sci, 9.04425e21, "9.04 × 10^21"), (prose.params, 7e9, "7B"), (prose.tokens, 2e11, "200 billion"),
    (prose.pct, 0.0668, "6.7%"), (prose.energy_kwh, None, "—"),
])
def test_prose_units(fn, value, text):
    assert fn(value) == text


def test_round_sig_for_metrics():
    assert prose.round_sig({"a": 1.23456789, "b": [2.0000001e9, None, 3], "c": float("nan"), "d": True}) == \
        {"a": 1.23457, "b": [2e9, None, 3], "c": None, "d": True}
