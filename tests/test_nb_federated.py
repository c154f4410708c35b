"""notebooks/70_federated_tradeoffs.ipynb and its story (joulebook.stories.federated): the page answers first,
its tables show names and units, and the notebook's metrics are the library's."""

import pytest

import nbhelpers as nbh
from joulebook.core import format as fmt
from joulebook.core.errors import InputError
from joulebook.stories import federated as story
from test_nb_greener import NOT_SHOWN, check_page_order

NB = nbh.NOTEBOOKS / "70_federated_tradeoffs.ipynb"
REPORT_ID = "federated_tradeoffs"
DEFAULTS = nbh.parameters(nbh.read(NB).cells)  # the one place the defaults live


def test_page_order():
    check_page_order(NB, "story.check(")


def test_the_notebook_declares_exactly_the_story_parameters():
    assert set(DEFAULTS) == set(story.PARAMETERS)


@pytest.mark.parametrize("kw", [dict(clients=0), dict(participation=1.2), dict(data_bytes_per_client=-1.0),
                                dict(grid_clients=[]), dict(grid_clients=[10.5]), dict(network_year=1800)],
                         ids=lambda kw: next(iter(kw)))
def test_check_names_the_bad_parameter(kw):
    with pytest.raises(InputError) as e:
        story.check(**{**DEFAULTS, **kw})
    assert e.value.parameter == next(iter(kw))


def test_check_requires_every_parameter_and_rejects_unknown_names():
    with pytest.raises(InputError) as e:
        story.check(**{**DEFAULTS, "client": 3})
    assert "clients" in str(e.value)
    with pytest.raises(InputError) as e:
        story.check(**{k: v for k, v in DEFAULTS.items() if k != "rounds"})
    assert e.value.parameter == "rounds"


@pytest.fixture(scope="module")
def page():
    p = story.check(**{**DEFAULTS, "grid_params": [1e6, 1e8], "grid_clients": [100, 10000],
                       "grid_data_bytes": [1e5, 1e9]})
    return p, story.comparison(p), story.grid(p), story.data_grid(p)


def test_finding_names_the_winner_with_the_ratio_and_matches_the_metrics(page):
    p, result, g, dg = page
    headline, tiles = story.finding(result)
    c = result.central
    assert f"{c['winner_energy']} training uses less energy" in headline
    assert "10,000 phones" in headline and "fixed broadband and Wi-Fi" in headline and "fixed_wifi" not in headline
    assert 2 <= len(tiles) <= 4
    m = story.metrics(result, g, dg)
    assert m["finding"] == headline and m["winner_energy"] == c["winner_energy"]


def test_maps_use_words_not_ids(page):
    _, _, g, dg = page
    piv = story.break_even_map(g, "energy")
    assert piv.shape == (3 * 2, 2) and list(piv.columns) == ["100", "10,000"]
    assert not any("_" in r for r in piv.index)
    dpiv = story.break_even_map(dg, "energy", columns="data_bytes_per_client")
    assert list(dpiv.columns) == ["100 kB", "1 GB"]
    assert "in " in story.map_alt(piv, "energy") and "cells" in story.map_alt(piv, "energy")


def test_tables_show_names_units_and_one_missing_marker(page):
    p, result, g, dg = page
    shown = [story.breakdown_table(result), story.network_table(story.network_literature()),
             story.break_even_by_data_table(story.break_even_by_data(dg)), story.parameters_table(p),
             story.assumptions_table(result, p), story.sources_table(result)]
    for t in shown:
        for col in t.frame.columns:
            assert "_" not in col, col
            for v in t.frame[col]:
                assert str(v) not in NOT_SHOWN, (t.caption, col, v)
    net = story.network_table(story.network_literature()).frame
    assert "2,020" not in set(net["Data year"]) and "2020" in set(net["Data year"])
    assert set(net["Network"]) == set(story.ACCESS_LABELS.values())
    params = story.parameters_table(p).frame.set_index("Parameter")["Value"]
    assert params["client_regions"].startswith("California") and "Germany" in params["client_regions"]
    assumed = story.assumptions_table(result, p).frame.set_index("Assumption")
    assert assumed.loc["server_region", "Value"] == "Virginia (PJM)"
    assert "fixed broadband" in assumed.loc["network_kwh_per_gb", "Unit"]
    assert "us-ca" not in assumed.loc["client_intensity_g_per_kwh", "Note"]


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.federated:metrics_for", DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    assert notebook_run.metrics == story.metrics_for({**DEFAULTS, **notebook_run.params})
    pngs = notebook_run.pngs
    assert len(pngs) == 5  # breakdown, two break-even maps, data-size map, energy by size
    for o in pngs:
        alt = o.get("metadata", {}).get("image/png", {}).get("alt", "")
        assert len(alt) > 40 and alt != "Figure"
    html = notebook_run.text("text/html")
    assert 'class="jb-finding"' in html
    assert f"{notebook_run.params['clients']:,}" in html  # the finding is written from this run's values


def test_a_federated_win_reads_as_a_share_and_tiles_use_the_tables_unit():
    p = story.check(**{**DEFAULTS, "data_bytes_per_client": 1e10, "grid_params": [1e6], "grid_clients": [100],
                       "grid_data_bytes": [1e5]})
    result = story.comparison(p)
    headline, tiles = story.finding(result)
    c = result.central
    assert c["winner_energy"] == "federated" and c["energy_ratio_fl_to_central"] < 1
    assert f"{fmt.percent(c['energy_ratio_fl_to_central'])} of the energy of centralized training" in headline
    shown = {label: value for label, value, _ in tiles}
    assert shown["Federated energy"] == f"{fmt.number(c['fl_energy_kwh'])} kWh"  # kWh, as in the breakdown table
    table = story.breakdown_table(result).frame
    assert fmt.number(c["fl_network_energy_kwh"]) in set(table["Energy (kWh)"])
