"""The region-comparison story: the reference job in every region, ranked, with stand-in values marked."""

from __future__ import annotations

import math
import re

import nbformat
import pytest

import nbhelpers as nbh
from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownAcceleratorError
from joulebook.display import tables
from joulebook.models import training
from joulebook.site.execute import validate_metrics
from joulebook.stories import region_comparison as rc

TINY = dict(params=1.25e8, tokens=2e9, layers=12, hidden=768, seq_len=1024, count=8, accelerator="h100-sxm",
            precision="bf16")
NB = nbh.NOTEBOOKS / "15_region_comparison.ipynb"


@pytest.fixture(scope="module")
def job():
    return rc.check(**TINY)


@pytest.fixture(scope="module")
def frame(job):
    return rc.compare_regions(job)


def _row(frame, region_id):
    hit = frame[frame["region"] == region_id]
    assert len(hit) == 1
    return hit.iloc[0]


def test_every_region_appears_once(frame):
    assert frame["region"].is_unique
    assert set(frame["region"]) == set(data.regions())
    assert len(frame) == len(data.regions())


def test_ranking_is_monotone(frame):
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert frame["emissions_kg"].is_monotonic_increasing
    assert (frame["emissions_kg_low"] <= frame["emissions_kg"]).all()
    assert (frame["emissions_kg"] <= frame["emissions_kg_high"]).all()


def test_rows_agree_with_the_scalar_estimate(frame, job):
    for rid in ("se", "gcp:us-central1"):
        direct = training.estimate_training(**job, region=rid)
        row = _row(frame, rid)
        for key in ("emissions_kg", "water_l", "facility_energy_kwh"):
            assert row[key] == pytest.approx(direct.central[key], rel=1e-9)
        assert row["intensity_year"] == data.region(rid).intensity_year


def _price_row(region_id):
    key = data.table("regions").set_index("region_id").loc[region_id, "price_key"]
    return data.table("electricity_prices").set_index("region_id").loc[[key]].iloc[0]


def test_price_marker_true_for_a_bloc_average_false_for_a_regional_price(frame):
    # precondition from the data: Germany's price row is a bloc average (no country), Virginia's is Virginia's
    assert not isinstance(_price_row("de")["country_iso3"], str)
    assert _price_row("us-va")["country_iso3"] == "USA"
    assert _row(frame, "de")["price_substituted"] and not _row(frame, "de")["price_missing"]
    assert not _row(frame, "us-va")["price_substituted"] and not _row(frame, "se")["price_substituted"]
    # no price row: cost unknown (NaN, shown "—"), never 0, and not called a substitute
    sg = _row(frame, "sg")
    assert sg["price_missing"] and not sg["price_substituted"] and math.isnan(sg["electricity_cost_usd"])
    assert "—" in rc.regions_table(frame).frame.set_index("Region").loc["Singapore", "Electricity cost (USD)"]


def test_water_pue_and_intensity_markers(frame, job):
    ewif_default = data.assumption_row("ewif_l_per_kwh")[:3]
    stand_ins = [r.region_id for r in data.regions().values() if tuple(r.ewif_l_per_kwh) == tuple(ewif_default)
                 and not (r.kind == "country" and r.iso3 == "USA")]
    assert set(frame.loc[frame["ewif_substituted"], "region"]) == set(stand_ins)
    assert _row(frame, "de")["ewif_substituted"] and _row(frame, "de")["water_substituted"]
    assert not _row(frame, "us")["ewif_substituted"]  # the US average is the US's own figure
    # industry-average PUE where the operator publishes none; a provider's fleet figure is its own
    assert _row(frame, "de")["pue_substituted"] and not _row(frame, "gcp:us-central1")["pue_substituted"]
    assert not rc.compare_regions({**job, "pue": 1.2})["pue_substituted"].any()  # a given PUE is the user's
    # a cloud region resolved to its country's average intensity, against a zone with its own figure
    assert _row(frame, "aws:eu-central-1")["intensity_substituted"]
    assert not _row(frame, "us-va")["intensity_substituted"] and not _row(frame, "se")["intensity_substituted"]
    text = _row(frame, "de")["substituted"]
    assert "price" in text and "PUE" in text and "water" in text


def test_display_table_shows_names_not_ids(frame):
    t = rc.regions_table(frame)
    html = t.to_html()
    for rid in frame["region"]:
        assert f">{rid}<" not in html and (":" not in rid or rid not in html), rid
    assert set(t.frame["Region"]) == set(frame["name"])
    assert not re.search(r">(None|nan|null|&lt;NA&gt;|n/a)<", html)
    assert "jb-sortable" in html and "<script>" in html
    assert t.frame["Intensity year"].str.fullmatch(r"\d{4}").all()  # "2022", never "2,022"
    # substituted values carry the marker: Germany's price, Virginia's water
    de = t.frame.index[t.frame["Region"] == "Germany"][0]
    assert t.marks.loc[de, "Price (USD/kWh)"] and t.marks.loc[de, "Water (L)"]
    va = t.frame.index[t.frame["Region"] == "Virginia (PJM)"][0]
    assert not t.marks.loc[va, "Price (USD/kWh)"] and not t.marks.loc[va, "Grid intensity (g CO2e/kWh)"]


def test_finding_and_metrics(frame, job):
    m = rc.metrics(frame, job)
    assert m == rc.metrics_for(TINY)
    assert validate_metrics(m) == []
    best, worst = frame.iloc[0], frame.iloc[-1]
    assert m["lowest_emission_region"] == best["region"] and m["highest_emission_region"] == worst["region"]
    assert best["name"] in m["finding"] and worst["name"] in m["finding"]
    assert best["region"] not in m["finding"].replace(best["name"], "")
    assert fmt.quantity(best["emissions_kg"], "kg CO2e") in m["finding"]
    assert 3 <= len(m["key_figures"]) <= 4
    # the page's finding block: the same headline, and tiles with names, 3 s.f. and the substitution marker
    head, tiles = rc.finding(frame, job)
    assert head == m["finding"]
    labels = [t[0] for t in tiles]
    assert labels[:3] == ["Lowest emissions", f"Median of {len(frame)} regions", "Highest emissions"]
    assert "Lowest electricity bill" in labels and "Least water" in labels
    assert tiles[0][1] == fmt.quantity(best["emissions_kg"], "kg CO2e") and best["name"] in tiles[0][2]
    dry = frame.loc[frame["water_l"].idxmin()]
    assert (tables.SUBSTITUTED_MARK in tiles[-1][2]) == bool(dry["water_substituted"])
    assert m["substituted_counts"]["ewif_substituted"] == int(frame["ewif_substituted"].sum())


def test_intensity_bases_are_named_not_mixed_silently(frame, job):
    assert rc.basis_label("lifecycle, production") == "lifecycle"
    assert rc.basis_label("provider location-based grid average") == "operational"
    assert set(frame["intensity_basis"]) <= {"lifecycle", "operational"}
    best, worst = frame.iloc[0], frame.iloc[-1]
    finding = rc.headline(frame, job)
    assert (f"{best['intensity_basis']} basis" in finding) == (best["intensity_basis"] != worst["intensity_basis"])
    if frame["intensity_basis"].nunique() > 1:  # a factor only within one basis, never across bases
        basis = frame["intensity_basis"].value_counts().index[0]
        sub = frame[frame["intensity_basis"] == basis]
        factor = sub["emissions_kg"].iloc[-1] / sub["emissions_kg"].iloc[0]
        assert f"On the {basis} basis" in finding and fmt.ratio(factor) in finding
        assert fmt.ratio(worst["emissions_kg"] / best["emissions_kg"]) not in finding
    summary = rc.summary_md(frame, job)
    for basis in set(frame["intensity_basis"]):
        if frame["intensity_basis"].nunique() > 1:
            assert f"On the {basis} basis alone" in summary


def test_bad_parameters_name_the_parameter():
    with pytest.raises(InputError) as err:
        rc.check(**{**TINY, "tokns": 1e9})
    assert err.value.parameter == "tokns" and "tokens" in str(err.value)
    for change, name in [({"params": -1}, "params"), ({"count": 2.5}, "count"), ({"mfu": 1.5}, "mfu"),
                         ({"pue": 0.5}, "pue"), ({"layers": None}, "layers"),
                         ({"precision": "fp8", "accelerator": "a100-sxm4-80gb"}, "precision")]:
        with pytest.raises(InputError) as err:
            rc.check(**{**TINY, **change})
        assert err.value.parameter == name
    with pytest.raises(UnknownAcceleratorError):
        rc.check(**{**TINY, "accelerator": "h1000"})
    with pytest.raises(InputError) as err:
        rc.check(**{k: v for k, v in TINY.items() if k != "precision"})
    assert err.value.parameter == "precision"


def test_defaults_live_in_the_notebook_and_match_the_training_page():
    ours = nbh.parameters(nbformat.read(str(NB), as_version=4).cells)
    assert set(ours) == set(rc.PARAMETERS)
    assert not hasattr(rc, "DEFAULTS")  # defaults live once, in the notebook
    training_page = nbh.parameters(nbformat.read(str(nbh.NOTEBOOKS / "10_training_energy.ipynb"), as_version=4).cells)
    assert ours["tokens"] == training_page["epochs"] * training_page["dataset_tokens"]
    for key in ("params", "layers", "hidden", "seq_len", "accelerator", "count", "precision", "mfu", "pue"):
        assert ours[key] == training_page[key], key
    assert rc.check(**ours) == rc.check(**{k: v for k, v in ours.items() if v is not None})


def test_report_block_follows_the_training_page():
    spec = nbh.check_report_block("region_comparison", NB, "joulebook.stories.region_comparison:metrics_for",
                                  rc.PARAMETERS)
    ids = [s.id for s in nbh.load_reports().reports]
    assert ids.index("region_comparison") == ids.index("training_energy") + 1
    assert spec.parameters == {}  # defaults live once, in the notebook


def test_page_order_finding_first_provenance_last_and_tagged():
    cells = nbformat.read(str(NB), as_version=4).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "report.finding(" in c)
    assert first == 2  # parameters, check, then the finding
    tagged = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    assert tagged and tagged == list(range(tagged[0], len(cells) - 1))  # a block at the end, before the metrics
    assert all("provenance" not in c.metadata.get("tags", []) for c in cells[:tagged[0]])
    assert "rc.sources_table(" in "".join(cells[i].source for i in tagged)
