"""notebooks/80_greener_nlp.ipynb and its story (joulebook.stories.greener): the page answers first, its prose
and tables quote the same quantities, and the notebook's metrics are the library's."""

import ast

import pytest

import nbhelpers as nbh
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.stories import greener as story

NB = nbh.NOTEBOOKS / "80_greener_nlp.ipynb"
REPORT_ID = "greener_nlp"
DEFAULTS = nbh.parameters(nbh.read(NB).cells)  # the one place the defaults live
NOT_SHOWN = ("None", "nan", "NaN", "<NA>", "null", "n/a")


def check_page_order(nb_path, validation_call: str):
    """Parameters, the check, the finding right after it, sections, provenance cells at the end, metrics last;
    figures only through figures.show with alt text."""
    nb = nbh.read(nb_path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = nbh.parameters_index(cells)
    assert validation_call in cells[at + 1].source
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, nbh.FORBIDDEN_NODES) for n in ast.walk(tree)), c.source
        assert not any(t in c.source for t in nbh.FORBIDDEN_TEXT)
        assert "plots.show(" not in c.source and "report.provenance(" not in c.source
        if "plots.figure(" in c.source:
            assert "figures.show(fig, alt=" in c.source
    after_check = [c for c in cells[at + 2:] if c.cell_type == "code"][0]
    assert "report.finding(*story.finding(" in after_check.source
    tags = [("provenance" in c.metadata.get("tags", [])) for c in cells]
    first = tags.index(True)
    assert all(tags[first:-1]), "provenance cells form one block at the end"
    assert "report.write_metrics(" in cells[-1].source and not tags[-1]


def test_page_order():
    check_page_order(NB, "story.check(")


def test_the_notebook_declares_exactly_the_story_parameters():
    assert set(DEFAULTS) == set(story.PARAMETERS)


@pytest.mark.parametrize("kw,param", [(dict(flops_budget=0), "flops_budget"), (dict(target_loss=1.0), "target_loss"),
                                      (dict(early_stop_fraction=1.5), "early_stop_fraction"),
                                      (dict(student_params=5e9), "student_params"), (dict(count=0), "count"),
                                      (dict(size_factors=[]), "size_factors"), (dict(flop_budget=1e20), "flop_budget")])
def test_check_names_the_bad_parameter(kw, param):
    with pytest.raises(InputError) as e:
        story.check(**{**DEFAULTS, **kw})
    assert e.value.parameter == param


def test_check_requires_every_parameter_and_rejects_unknown_names():
    partial = {k: v for k, v in DEFAULTS.items() if k != "region"}
    with pytest.raises(InputError) as e:
        story.check(**partial)
    assert e.value.parameter == "region"
    with pytest.raises(UnknownNameError):
        story.check(**{**DEFAULTS, "fit": "kaplan"})
    with pytest.raises(UnknownNameError):
        story.check(**{**DEFAULTS, "region": "mars"})


@pytest.fixture(scope="module")
def page():
    p = story.check(**DEFAULTS)
    return p, story.allocation(p), story.sizing(p), story.levers(p)


def test_sizing_prose_quotes_the_tables_totals_and_extra(page):
    """The issue: the prose gave extra amounts where the table gave totals. Now each figure in the prose is a
    cell of the table, under a header that says whether it is a total or an extra."""
    p, _, sz, _ = page
    text = story.sizing_md(p, sz)
    table = story.sizing_table(sz).frame
    energy, extra = "Energy, total (kWh)", "Extra energy over loss-optimal (kWh)"
    assert energy in table.columns and extra in table.columns and "Emissions, total (kg CO2e)" in table.columns
    best = table[table["Model size (× loss-optimal)"] == "1"].iloc[0]
    worst = table.loc[sz["extra_energy_pct"].idxmax()]
    assert f"{best[energy]} kWh, {best['Emissions, total (kg CO2e)']} kg CO2e" in text
    assert f"{worst[energy]} kWh" in text and f"{worst[extra]} kWh ({worst['Extra energy (%)']}%) extra" in text
    assert f"{best['Electricity, total (USD)']} USD of electricity in total" in text


def test_lever_prose_quotes_the_levers_table(page):
    _, _, _, lv = page
    text = story.levers_md(lv)
    table = story.levers_table(lv).frame.set_index("Lever")
    assert f"{table.loc['early stopping', 'Energy saved (kWh)']} kWh saved" in text
    assert f"{table.loc['baseline', 'Energy, total (kWh)']} kWh to " in text
    assert f"{table.loc['all training levers combined', 'Energy, total (kWh)']} kWh in total" in text


def test_finding_comes_with_tiles_and_matches_the_metrics(page):
    p, alloc, sz, lv = page
    headline, tiles = story.finding(p, sz, lv)
    assert 2 <= len(tiles) <= 4 and all(len(t) == 3 for t in tiles)
    m = story.metrics(p, alloc, sz, lv)
    assert m["finding"] == headline
    worst = sz.loc[sz["extra_energy_pct"].idxmax()]
    assert fmt.number(worst["extra_energy_pct"]) + "%" in headline


def test_tables_show_names_and_no_missing_markers_but_the_dash(page):
    p, alloc, sz, lv = page
    shown = [story.allocation_table(alloc), story.sizing_table(sz), story.levers_table(lv), story.claims_table(),
             story.parameters_table(p), story.assumptions_table(p), story.sources_table(p)]
    for t in shown:
        for col in t.frame.columns:
            assert "_" not in col, col  # readable headers, not raw column names
            for v in t.frame[col]:
                assert str(v) not in NOT_SHOWN, (t.caption, col, v)
    params = story.parameters_table(p).frame.set_index("Parameter")["Value"]
    assert params["accelerator"] == "NVIDIA A100 80GB SXM4" and "a100" not in params["accelerator"]
    assert "Virginia" in params["region"]


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.greener:metrics_for", DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == story.metrics_for({**DEFAULTS, **notebook_run.params})
    pngs = notebook_run.pngs
    assert len(pngs) == 3  # loss at fixed budget, energy at fixed loss, savings per lever
    for o in pngs:
        alt = o.get("metadata", {}).get("image/png", {}).get("alt", "")
        assert len(alt) > 40 and alt != "Figure"
    html = notebook_run.text("text/html")
    assert "depends on a quality claim" in html and 'class="jb-finding"' in html
    assert f"{notebook_run.params['target_loss']:g}" in notebook_run.text()
