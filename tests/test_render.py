"""Rendering: code-free pages by default, answer first, provenance folded, a re-run box, figures at 2× with
alt text, no inline CSS, a size budget, offline-safe, deterministic; the index."""

from __future__ import annotations

import html
import os
import re
import shlex
import struct
from pathlib import Path

import nbformat
import pytest

from joulebook.display import prose
from joulebook.display.report import FINDING_METADATA, finding_html
from joulebook.site import index as site
from joulebook.site.execute import execute_notebook
from joulebook.site.render import finding_headline, has_code, mark_folds, render_html, rerun_commands

FIXTURE_NB = Path(__file__).parent / "fixtures" / "fixture_report.ipynb"
MAX_PAGE_BYTES = 150 * 1024  # a page with one small figure; the site's CSS is one file, not inlined per page
IMG = re.compile(r"<img [^>]*>")
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


def check_alt_text(page: str) -> list[str]:
    """Every image says what it shows: a non-empty alt that is not the old placeholder "Figure"."""
    imgs = IMG.findall(page)
    for tag in imgs:
        alt = re.search(r'\balt="([^"]*)"', tag)
        assert alt and alt.group(1).strip() and alt.group(1).strip() != "Figure", tag[:80] + " ... " + tag[-120:]
    return imgs


def check_no_inline_css(page: str) -> None:
    """nbconvert's lab CSS (JupyterLab variables, its selectors) is not in the page; the page links site.css."""
    assert "--jp-" not in page and ".jp-RenderedHTMLCommon" not in page and "<style" not in page
    assert 'rel="stylesheet"' in page and "site.css" in page


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
    imgs = check_alt_text(page)
    assert len(imgs) == 1 and 'src="data:image/png;base64,' in imgs[0]
    assert 'alt="Bar chart of the scaled series: a = 1.5, b = 3, c = 4.5."' in imgs[0]
    assert len(page.encode()) < MAX_PAGE_BYTES
    check_no_inline_css(page)
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
    assert "&lt;span" not in page and "The run stopped here:</strong>" in page  # papermill's raw-HTML markers
    assert page.index("The run stopped here:") < page.index("Traceback (most recent call last)")
    # the traceback is on the page, not folded away: the failing cell is outside any <details>
    tb = page.index("Traceback (most recent call last)")
    assert page.rfind("<details", 0, tb) <= page.rfind("</details>", 0, tb)
    check_offline(page)
    check_no_inline_css(page)


@pytest.mark.slow
def test_finding_first_provenance_folded_rerun_last(executed):
    ok, _ = executed
    rerun = rerun_commands("fixture", "fixture", "tests/fixtures/fixture_report.ipynb", {"scale": 1.5})
    page = render_html(ok.executed_path, title="t", rerun=rerun)
    finding = page.index('<section class="jb-finding">')
    assert '<p class="jb-headline">The largest bar is <b>4.5</b>.</p>' in page
    assert page.count('class="jb-tile"') == 3 and '<span class="jb-tile-value">4.5 units</span>' in page
    assert '<span class="jb-tile-value">render &lt;test&gt;</span>' in page
    assert finding < page.index("<img ") < page.index('<details class="jb-provenance">')
    # one fold holding both provenance-tagged cells (the heading and its text), and nothing else
    assert page.count('<details class="jb-provenance">') == 1
    fold = page[page.index('<details class="jb-provenance">'):page.index("</details>")]
    assert "<summary>Provenance, assumptions and sources</summary>" in fold
    assert re.search(r"<h2[^>]*>Provenance, assumptions and sources", fold) and "Parameters of this run: scale = 1.5" in fold
    assert "The series is scaled by" not in fold and "jb-finding" not in fold
    box = page[page.index('<details class="jb-rerun">'):]
    assert page.index('<details class="jb-provenance">') < page.index('<details class="jb-rerun">')
    assert "<code>joulebook reports build --only fixture --out reports</code>" in box
    assert "<code>papermill tests/fixtures/fixture_report.ipynb out.ipynb -p scale 1.5</code>" in box
    assert finding_headline(ok.executed_path) == "The largest bar is 4.5."


@pytest.mark.slow
def test_figures_are_2x_pngs_shown_at_their_css_size(executed):
    import base64

    ok, _ = executed
    page = render_html(ok.executed_path, title="t")
    (tag,) = IMG.findall(page)
    png = base64.b64decode(re.search(r"base64,([^\"]+)", tag).group(1))
    px_w, px_h = struct.unpack(">II", png[16:24])
    css_w, css_h = int(re.search(r'width="(\d+)"', tag).group(1)), int(re.search(r'height="(\d+)"', tag).group(1))
    assert abs(px_w - 2 * css_w) <= 2 and abs(px_h - 2 * css_h) <= 2, (px_w, px_h, css_w, css_h)
    assert 250 <= css_w <= 400  # a 4-inch figure at 80 CSS px per inch (tight bounding box)


# --------------------------------------------------------------------------- layout without a kernel (fast)

def _nb(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, (kind, text, tags, outputs) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        cell.id = f"c{i}"
        if tags:
            cell.metadata["tags"] = list(tags)
        if kind == "code":
            cell.outputs = list(outputs or [])
        nb.cells.append(cell)
    return nb


def _md_out(text):
    return nbformat.v4.new_output("display_data", data={"text/markdown": text})


def _finding_out(headline, tiles=()):
    return nbformat.v4.new_output("display_data", data={"text/html": finding_html(headline, tiles)},
                                  metadata=FINDING_METADATA)


def test_provenance_runs_fold_together_and_errors_never_fold():
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"])
    nb = _nb(("md", "# Title", (), None),
             ("md", "## Provenance", ("provenance",), None),
             ("code", "x = 1", (), None),                       # shows nothing: does not break the run
             ("code", "show()", ("provenance",), [_md_out("Sources table")]),
             ("md", "## Results", (), None),                     # breaks the run
             ("code", "more()", ("provenance", "other"), [_md_out("More sources")]),
             ("code", "bad()", ("provenance",), [error]))       # never folded
    mark_folds(nb, with_code=False)
    assert [c.metadata.get("jb_fold") for c in nb.cells] == [None, "open", None, "close", None, "open close", None]
    page = render_html(nb, title="t")
    assert page.count('<details class="jb-provenance">') == 2 and page.count("</details>") == 2
    first = page[page.index('<details class="jb-provenance">'):page.index("</details>")]
    assert "Sources table" in first and "Results" not in first
    assert page.index("ValueError") > page.rindex("</details>")
    mark_folds(nb, with_code=True)  # with code shown, the plain code cell breaks the first run
    assert [c.metadata.get("jb_fold") for c in nb.cells][:4] == [None, "open close", None, "open close"]


def test_rendering_does_not_change_the_notebook_passed_in():
    nb = _nb(("md", "# T", (), None), ("md", "## P", ("provenance",), None))
    render_html(nb, title="t")
    assert "jb_fold" not in nb.cells[1].metadata


def test_finding_block_renders_before_a_provenance_table_and_is_styled_by_site_css():
    from joulebook.site.render import site_css

    nb = _nb(("md", "# Title", (), None),
             ("code", "report.finding(...)", (), [_finding_out("Energy is **12 MWh**.", [("energy", "12 MWh", "central")])]),
             ("md", "## Provenance", ("provenance",), None),
             ("code", "report.provenance()", ("provenance",), [_md_out("| a | b |\n|---|---|\n| 1 | 2 |")]))
    page = render_html(nb, title="t")
    assert page.index('class="jb-finding"') < page.index("jb-provenance") < page.index("<table")
    assert finding_headline(nb) == "Energy is 12 MWh."
    css = site_css()
    for selector in (".jb-finding", ".jb-tiles", ".jb-tile-value", "details.jb-provenance", "details.jb-rerun",
                     "td.n", ".jp-OutputArea-output", "overflow-x: auto", "max-width: 100%"):
        assert selector in css, selector


def test_a_figure_without_alt_text_gets_an_empty_alt_not_a_placeholder():
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    nb = _nb(("code", "fig", (), [nbformat.v4.new_output("display_data", data={"image/png": png})]))
    page = render_html(nb, title="t")
    (tag,) = IMG.findall(page)
    assert 'alt=""' in tag and "Figure" not in tag
    with pytest.raises(AssertionError):
        check_alt_text(page)


def test_numbers_in_plain_html_tables_are_marked_for_right_alignment():
    import pandas as pd

    markup = pd.DataFrame({"region": ["us-va", "se"], "energy": ["1,230", "-4.5"], "share": ["12 %", "null"]}).to_html()
    nb = _nb(("code", "t", (), [nbformat.v4.new_output("display_data", data={"text/html": markup})]))
    page = render_html(nb, title="t")
    assert '<td class="n">1,230</td>' in page and '<td class="n">-4.5</td>' in page and '<td class="n">12 %</td>' in page
    assert "<td>us-va</td>" in page and "<td>null</td>" in page
    assert "<td>" in nb.cells[0].outputs[0].data["text/html"]  # the caller's notebook is not changed


def test_no_finding_is_none():
    assert finding_headline(_nb(("md", "# T", (), None), ("code", "x", (), [_md_out("text")]))) is None


PARAMS = {"region": "se", "label": "x'<script>alert('jbx')</script>\"; rm -rf ~", "scale": 1.5, "steps": 3,
          "fast": True, "regions": ["se", "us-va"], "note": None, "count": "12"}


def test_rerun_commands_quote_every_value_and_round_trip():
    build, pm = rerun_commands("training_energy", "training_energy--region-se", "notebooks/10_training_energy.ipynb",
                               PARAMS, {"region": "se"})
    assert build[1] == "joulebook reports build --only training_energy --region se --out reports"
    argv = shlex.split(pm[1])
    assert argv[:3] == ["papermill", "notebooks/10_training_energy.ipynb", "out.ipynb"]
    assert argv[argv.index("label") - 1:argv.index("label") + 2] == ["-r", "label", PARAMS["label"]]
    assert ["-p", "scale", "1.5"] == argv[argv.index("scale") - 1:argv.index("scale") + 2]
    assert ["-p", "fast", "True"] == argv[argv.index("fast") - 1:argv.index("fast") + 2]
    assert ["-r", "count", "12"] == argv[argv.index("count") - 1:argv.index("count") + 2]  # a string stays a string
    assert '{"regions": ["se", "us-va"]}' in argv and '{"note": null}' in argv  # YAML (JSON) for the rest
    # a matrix over more than the region: --only the slug; a non-default config is named
    (b2, _) = rerun_commands("sweep", "sweep--a-1--region-se", "nb.ipynb", {}, {"a": 1, "region": "se"},
                             config="my reports.toml", out="site")
    assert shlex.split(b2[1]) == ["joulebook", "reports", "build", "--config", "my reports.toml", "--only",
                                  "sweep--a-1--region-se", "--out", "site"]


def test_rerun_box_is_escaped():
    from test_hardening_site import live_markup

    rerun = rerun_commands("fixture", "fixture", "fixture_report.ipynb", PARAMS)
    page = render_html(_nb(("md", "# T", (), None)), title="t", rerun=rerun)
    assert live_markup(page) == []
    box = page[page.index('<details class="jb-rerun">'):page.index("</details>")]
    codes = [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", box, re.S)]
    assert codes == [cmd for _, cmd in rerun]
    assert "&lt;script&gt;" in box and "<script>" not in box


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
    assert "12,300" in html and "4.35" in html and "region: Sweden" in html and "region = se" not in html
    failed = html[html.index('id="report-c"'):]
    assert 'class="card failed"' in html and "ValueError: boom &lt;here&gt;" in failed
    assert 'href="c/report.html">traceback</a>' in failed and 'c/metrics.json' not in failed
    assert html.count('class="jb-stamp"') == 1 and "Built now" in html
    assert "2 reports" not in html and "3 reports, 1 failed" in html
    check_offline(html)


def test_index_card_shows_the_page_finding_before_the_metrics_finding():
    metrics = {"title": "T", "finding": "From metrics.", "key_figures": []}
    page = site.index_html([outcome("a", "T", metrics=metrics, finding="From the <page>."),
                            outcome("b", "T", metrics=metrics)], stamp="s", facts="f")
    a, b = page[page.index('id="report-a"'):page.index('id="report-b"')], page[page.index('id="report-b"'):]
    assert "From the &lt;page&gt;." in a and "From metrics." not in a
    assert "From metrics." in b


@pytest.mark.parametrize("value, text", [(None, "—"), (float("nan"), "—"), (0, "0"), (0.000123, "0.000123"), (True, "—"),
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


# --------------------------------------------------------------------------- figures (no kernel)

@pytest.fixture()
def shown(monkeypatch):
    """What IPython's display receives: (object, metadata) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    from IPython import display as ipd

    out = []
    monkeypatch.setattr(ipd, "display", lambda obj, metadata=None, **kw: out.append((obj, metadata)))
    return out


def test_figures_show_2x_palette_png_with_alt_and_css_size(shown):
    from joulebook.display import figures, plots

    plots.setup()
    fig, ax = plots.figure(figsize=(4, 2))
    plots.bar(ax, ["a", "b"], [1.0, 2.0], xlabel="energy (kWh)", title="Energy by option")
    assert figures.describe(fig) == "Chart: Energy by option (energy (kWh))"
    figures.show(fig, alt="  Two bars: a = 1 kWh, b = 2 kWh.  ")
    (img, md), = shown
    meta = md["image/png"]
    assert meta["alt"] == "Two bars: a = 1 kWh, b = 2 kWh."
    px_w, px_h = struct.unpack(">II", img.data[16:24])
    assert (px_w, px_h) == (2 * meta["width"], 2 * meta["height"]) or abs(px_w - 2 * meta["width"]) <= 1
    assert img.data[25] == 3  # PNG colour type 3: a palette image
    with pytest.raises(Exception, match="alt"):
        figures.show(fig, alt=" ")


def test_plots_show_describes_a_titled_figure_and_leaves_an_untitled_one_without_alt(shown):
    import matplotlib.pyplot as plt

    from joulebook.display import plots

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_title("Power over time")
    ax.set_ylabel("power (W)")
    assert plots.legend_outside(ax).get_bbox_to_anchor() is not None
    plots.show(fig)
    fig2, ax2 = plt.subplots()
    ax2.plot([0, 1], [1, 0])
    assert plots.legend_outside(ax2) is None  # nothing labelled
    plots.show(fig2)
    assert shown[0][1]["image/png"]["alt"] == "Chart: Power over time (power (W))"
    assert "alt" not in shown[1][1]["image/png"]
    assert fig.number not in plt.get_fignums() and fig2.number not in plt.get_fignums()  # both closed
