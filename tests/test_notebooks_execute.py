"""Every report of notebooks/reports.toml runs with its tiny test_parameters.

Parametrized over the [[report]] blocks, so a notebook added to reports.toml is
covered without touching this file. Each run must write a valid metrics.json;
where the block names a ``metrics_function`` (the library's direct result for
the same parameters), the two must agree. The rendered page must be code-free,
carry a figure and fit the size budget. The second half tests the library
behind 10_training_energy.ipynb directly.
"""

from __future__ import annotations

import html
import math
import re

import pytest

import nbhelpers as nbh
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownAcceleratorError, UnknownRegionError
from joulebook.site.render import has_code, render_html

CONFIG = nbh.load_reports()
MAX_PAGE_BYTES = 2 * 1024 * 1024


def same(a, b, path="metrics"):
    """Recursive equality; floats within 1e-9 relative."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{path}: {a!r} != {b!r}"
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.slow
@pytest.mark.parametrize("spec", CONFIG.reports, ids=[s.id for s in CONFIG.reports])
def test_report_executes_with_test_parameters(spec, report_runs):
    res = report_runs.get(spec.id)  # executed once per session, shared with the test_nb_* modules
    assert res.notebooks_after == res.notebooks_before, "the notebook wrote files"

    if spec.metrics_function:
        same(res.metrics, nbh.library_metrics(spec, res.params))

    page = render_html(res.result.executed_path, title=res.metrics["title"])
    assert not has_code(page)
    assert "<img " in page and 'src="data:image/png;base64,' in page
    assert f"<title>{res.metrics['title']}" in page.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert len(page.encode()) < MAX_PAGE_BYTES, f"page is {len(page.encode()) / 1e6:.2f} MB"
    assert_answer_first(spec.id, page, res.params)


def visible_text(page: str) -> str:
    """The page's text as a reader sees it: no markup, styles, commands (``<code>``, ``<pre>``) or image data."""
    text = re.sub(r"<(style|script|pre|code)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def assert_answer_first(report_id: str, page: str, params: dict) -> None:
    """Issue 11's page rules: the finding before any table or provenance; no None/<NA>/null/nan; no raw
    region or accelerator id in what a reader sees; every image described."""
    finding = page.find('class="jb-finding"')
    assert finding > 0, f"{report_id}: no finding block"
    for later in ("<table", 'class="jb-provenance"', "<img "):
        at = page.find(later)
        assert at < 0 or finding < at, f"{report_id}: {later} comes before the finding"
    text = visible_text(page)
    bad = re.findall(r"(?<![\w-])(None|<NA>|null|nan|NaN|n/a)(?![\w-])", text)
    assert not bad, f"{report_id}: the page shows {sorted(set(bad))}"
    ids = {str(v) for k, v in params.items() if ("region" in k or "accelerator" in k) and isinstance(v, str)}
    ids |= {str(x) for k, v in params.items() if ("region" in k or "accelerator" in k) and isinstance(v, list)
            for x in v}
    ids -= {"in", "de", "us", "it", "no", "be"}  # ids that are also ordinary words
    shown = sorted(i for i in ids if re.search(r"(?<![\w:./-])" + re.escape(i) + r"(?![\w:/-])", text))
    assert not shown, f"{report_id}: raw ids on the page: {shown}"
    alts = re.findall(r"<img\b[^>]*>", page)
    for tag in alts:
        alt = re.search(r'alt="([^"]*)"', tag)
        assert alt and alt.group(1).strip() and alt.group(1).strip() != "Figure", f"{report_id}: {tag[:80]}"


# --------------------------------------------------------------------------- the library behind 10_training_energy

TINY = dict(params=1.25e8, epochs=1, dataset_tokens=2e9, layers=12, hidden=768, seq_len=1024, batch=64,
            accelerator="h100-sxm", count=8, precision="bf16", region="us-va", comparison_regions=["us-ca", "se"])


@pytest.fixture(scope="module")
def ts():
    from joulebook.stories import training as training_story

    return training_story


def _page(ts, **kw):
    run = ts.check(**{**TINY, **kw})
    return (run, *ts.compute(run))


@pytest.mark.parametrize("change, parameter", [
    ({"params": -1.0}, "params"), ({"tokens": 1e9}, "tokens"), ({"epochs": None}, "tokens"),
    ({"batch": 64, "seq_len": None}, "batch"), ({"layers": None}, "layers"), ({"count": 2.5}, "count"),
    ({"mfu": 1.5}, "mfu"), ({"pue": 0.9}, "pue"), ({"onprem": "yes"}, "onprem"), ({"start": "tomorrow"}, "start"),
    ({"precision": "fp8", "accelerator": "a100-sxm4-80gb"}, "precision"), ({"comparison_regions": "se"}, "comparison_regions"),
])
def test_check_names_the_bad_parameter(ts, change, parameter):
    with pytest.raises(InputError) as err:
        ts.check(**{**TINY, **change})
    assert err.value.parameter == parameter


def test_check_unknown_names_list_close_matches(ts):
    with pytest.raises(UnknownRegionError, match="close matches"):
        ts.check(**{**TINY, "comparison_regions": ["swedn"]})
    with pytest.raises(UnknownAcceleratorError):
        ts.check(**{**TINY, "accelerator": "h1000"})


def test_story_matches_the_training_model(ts):
    from joulebook.models import training

    run, est, regions, accels, hours = _page(ts)
    direct = training.estimate_training(params=1.25e8, epochs=1, dataset_tokens=2e9, layers=12, hidden=768,
                                        seq_len=1024, batch=64, accelerator="h100-sxm", count=8, precision="bf16",
                                        region="us-va")
    m = ts.metrics(run, est, regions, accels, hours)
    assert m["facility_energy_kwh"] == pytest.approx(direct.central["facility_energy_kwh"], rel=1e-5)
    assert m["energy_per_step_j"] == pytest.approx(direct.central["energy_per_step_j"], rel=1e-5)
    # the region frame (vectorized path) agrees with the scalar estimate for the chosen region
    chosen = regions.iloc[0]
    assert chosen["region"] == "us-va"
    assert chosen["emissions_kg"] == pytest.approx(direct.central["emissions_kg"], rel=1e-9)
    assert chosen["water_l"] == pytest.approx(direct.central["water_l"], rel=1e-9)
    assert list(m["regions"]) == ["us-va", "us-ca", "se"]
    assert m["lowest_emission_region"] == "se"
    assert 2 <= len(m["key_figures"]) <= 4
    # the comparison covers A100 and H100 and every accelerator in the data that supports the precision
    assert {"a100-sxm4-80gb", "h100-sxm"} <= set(m["accelerators"])
    assert set(m["accelerators"]) == set(ts.comparable_accelerators("bf16"))
    # the energy frame is the estimate's low/central/high, and its parts add up to the facility energy
    e = ts.energy(est).set_index("key")
    assert e.loc["facility_energy_kwh", "central"] == direct.central["facility_energy_kwh"]
    assert (e["low"] <= e["central"]).all() and (e["central"] <= e["high"]).all()
    parts, unit = ts.energy_parts(est)
    assert unit == "kWh"  # a tiny job stays in kWh
    assert parts.sum(axis=1)["central"] == pytest.approx(direct.central["facility_energy_kwh"])


def test_prose_follows_the_numbers(ts):
    va = _page(ts)
    se = _page(ts, region="se", comparison_regions=["us-va", "in"])
    head_va, head_se = ts.finding(*va[:3], va[4])[0], ts.finding(*se[:3], se[4])[0]
    assert "of the 3 regions compared, Sweden would emit least" in head_va
    assert "the lowest of the 3 regions compared (India:" in head_se
    # a short job gains from its start hour, a long one barely does
    run, est, regions, accels, hours = va
    text = ts.when_text(run, regions, hours, est.central["wall_clock_hours"])
    assert "A 4-hour job" in text
    assert list(ts.start_hours_table(run, hours).frame["Region"]) == ["Virginia (PJM)", "California (CAISO)"]
    # no region with an hourly profile: the page says so and there is nothing to draw
    run, est, regions, accels, hours = eu = _page(ts, region="de", comparison_regions=["se"])
    assert "no start-hour chart is drawn" in ts.when_text(run, regions, hours, est.central["wall_clock_hours"])
    assert hours.empty and ts.emissions_by_start_hour(hours).empty and ts.cost_by_start_hour(hours).empty
    assert ts.finding(*eu[:3], eu[4])[0].endswith("(no hourly intensity profile for Germany).")
    # owned hardware as headline
    owned = _page(ts, onprem=True)
    m = ts.metrics(*owned)
    assert m["key_figures"][2]["label"] == "owned hardware cost"
    assert m["key_figures"][2]["value"] == pytest.approx(m["onprem_cost_usd"])
    assert ts.finding(*owned[:3], owned[4])[1][2][0] == "Owned-hardware cost"


def test_overrides_are_used_and_reported(ts):
    base = _page(ts)
    run, est, regions, accels, hours = _page(ts, mfu=0.5, pue=1.1, cloud_price_usd_per_gpu_hour=2.0,
                                             start="2026-01-15T02:00")
    a = est.assumptions
    assert a["mfu"].overridden and a["mfu"].value == 0.5
    assert a["pue"].value == 1.1 and a["cloud_price_usd_per_gpu_hour"].value == 2.0
    assert est.central["cloud_cost_usd"] == pytest.approx(2.0 * est.central["accelerator_hours"])
    assert est.central["wall_clock_hours"] < base[1].central["wall_clock_hours"]  # higher MFU
    assert (regions["pue_used"] == 1.1).all()
    assert ts.month_of(run) == 1 and set(hours["month"]) == {1}
    used = ts.parameters_table(run, est).frame.set_index("Parameter")["Used"]
    assert used["start"].startswith("2026-01-15T02:00 local time")
    assert "the price given" in ts.money_text(run, est)
    # the accelerator comparison is like with like: every part, the chosen one included, at the MFU prior
    acc = accels.set_index("accelerator")
    assert acc.loc["h100-sxm", "mfu_used"] != 0.5
    assert acc.loc["h100-sxm", "mfu_used"] == base[3].set_index("accelerator").loc["h100-sxm", "mfu_used"]
    assert set(acc["mfu_basis"]) <= {"probe", "probe (transferred)", "published prior", "transferred prior"}


def test_tokens_instead_of_epochs(ts):
    run, est, regions, accels, hours = _page(ts, epochs=None, dataset_tokens=None, tokens=2e9, batch=None,
                                             layers=None, hidden=None)
    m = ts.metrics(run, est, regions, accels, hours)
    assert m["energy_per_epoch_kwh"] is None and m["energy_per_step_j"] is None
    assert m["flops"] == pytest.approx(6 * 1.25e8 * 2e9, rel=1e-5)
    assert "energy_per_step_j" not in set(ts.energy(est)["key"])  # rows the run cannot give are left out
    assert fmt.MISSING not in ts.energy_table(est).frame.to_string()
