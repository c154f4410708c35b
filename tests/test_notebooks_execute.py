"""Every report of notebooks/reports.toml runs with its tiny test_parameters.

Parametrized over the [[report]] blocks, so a notebook added to reports.toml is
covered without touching this file. Each run must write a valid metrics.json;
where the block names a ``metrics_function`` (the library's direct result for
the same parameters), the two must agree. The rendered page must be code-free,
carry a figure and fit the size budget. The second half tests the library
behind 10_training_energy.ipynb directly.
"""

from __future__ import annotations

import math

import pytest

import nbhelpers as nbh
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


# --------------------------------------------------------------------------- the library behind 10_training_energy

TINY = dict(params=1.25e8, epochs=1, dataset_tokens=2e9, layers=12, hidden=768, seq_len=1024, batch=64,
            accelerator="h100-sxm", count=8, precision="bf16", region="us-va", comparison_regions=["us-ca", "se"])


@pytest.fixture(scope="module")
def ts():
    from joulebook.stories import training as training_story

    return training_story


@pytest.mark.parametrize("change, parameter", [
    ({"params": -1.0}, "params"), ({"tokens": 1e9}, "tokens"), ({"epochs": None}, "tokens"),
    ({"batch": 64, "seq_len": None}, "batch"), ({"layers": None}, "layers"), ({"count": 2.5}, "count"),
    ({"mfu": 1.5}, "mfu"), ({"pue": 0.9}, "pue"), ({"onprem": "yes"}, "onprem"), ({"start": "tomorrow"}, "start"),
    ({"precision": "fp8", "accelerator": "a100-sxm4-80gb"}, "precision"), ({"comparison_regions": "se"}, "comparison_regions"),
])
def test_training_run_names_the_bad_parameter(ts, change, parameter):
    with pytest.raises(InputError) as err:
        ts.training_run(**{**TINY, **change})
    assert err.value.parameter == parameter


def test_training_run_unknown_names_list_close_matches(ts):
    with pytest.raises(UnknownRegionError, match="close matches"):
        ts.training_run(**{**TINY, "comparison_regions": ["swedn"]})
    with pytest.raises(UnknownAcceleratorError):
        ts.training_run(**{**TINY, "accelerator": "h1000"})


def test_story_matches_the_training_model(ts):
    from joulebook.models import training

    story = ts.build_story(ts.training_run(**TINY))
    direct = training.estimate_training(params=1.25e8, epochs=1, dataset_tokens=2e9, layers=12, hidden=768,
                                        seq_len=1024, batch=64, accelerator="h100-sxm", count=8, precision="bf16",
                                        region="us-va")
    m = story.metrics()
    assert m["facility_energy_kwh"] == pytest.approx(direct.central["facility_energy_kwh"], rel=1e-5)
    assert m["energy_per_step_j"] == pytest.approx(direct.central["energy_per_step_j"], rel=1e-5)
    # the region frame (vectorized path) agrees with the scalar estimate for the chosen region
    chosen = story.regions.iloc[0]
    assert chosen["region"] == "us-va"
    assert chosen["emissions_kg"] == pytest.approx(direct.central["emissions_kg"], rel=1e-9)
    assert chosen["water_l"] == pytest.approx(direct.central["water_l"], rel=1e-9)
    assert list(m["regions"]) == ["us-va", "us-ca", "se"]
    assert m["lowest_emission_region"] == "se"
    assert 2 <= len(m["key_figures"]) <= 4
    # the comparison covers A100 and H100 and every accelerator in the data that supports the precision
    assert {"a100-sxm4-80gb", "h100-sxm"} <= set(m["accelerators"])
    assert set(m["accelerators"]) == set(ts.comparable_accelerators("bf16"))


def test_prose_follows_the_numbers(ts):
    va = ts.build_story(ts.training_run(**TINY))
    se = ts.build_story(ts.training_run(**{**TINY, "region": "se", "comparison_regions": ["us-va", "in"]}))
    assert "Sweden has the lowest emissions" in va.summary_md()
    assert "Sweden is the lowest-emission region" in se.summary_md() and "India" in se.summary_md()
    assert va.metrics()["finding"] != se.metrics()["finding"]
    # a short job gains from its start hour, a long one barely does
    assert "A 4-hour job" in va.time_of_day_md()
    assert va.time_of_day_table() is not None and list(va.time_of_day_table()["region"]) == ["us-va", "us-ca"]
    # no region with an hourly profile: the page says so and draws nothing
    eu = ts.build_story(ts.training_run(**{**TINY, "region": "de", "comparison_regions": ["se"]}))
    assert "does not change the estimate" in eu.time_of_day_md()
    assert eu.time_of_day_figure() is None and eu.time_of_day_table() is None
    # owned hardware as headline
    owned = ts.build_story(ts.training_run(**{**TINY, "onprem": True})).metrics()
    assert owned["key_figures"][2]["label"] == "owned hardware cost"
    assert owned["key_figures"][2]["value"] == pytest.approx(owned["onprem_cost_usd"])


def test_overrides_are_used_and_reported(ts):
    base = ts.build_story(ts.training_run(**TINY))
    story = ts.build_story(ts.training_run(**{**TINY, "mfu": 0.5, "pue": 1.1, "cloud_price_usd_per_gpu_hour": 2.0,
                                              "start": "2026-01-15T02:00"}))
    a = story.estimate.assumptions
    assert a["mfu"].overridden and a["mfu"].value == 0.5
    assert a["pue"].value == 1.1 and a["cloud_price_usd_per_gpu_hour"].value == 2.0
    assert story.c["cloud_cost_usd"] == pytest.approx(2.0 * story.c["accelerator_hours"])
    assert story.c["wall_clock_hours"] < base.c["wall_clock_hours"]  # higher MFU
    assert (story.regions["pue_used"] == 1.1).all()
    assert story.tod["month"] == 1
    used = story.defaults_frame().set_index("parameter")["used"]
    assert used["start"].startswith("2026-01-15T02:00 local time")
    # the accelerator comparison is like with like: every part, the chosen one included, at the MFU prior
    acc = story.accelerators.set_index("accelerator")
    assert acc.loc["h100-sxm", "mfu_used"] != 0.5
    assert acc.loc["h100-sxm", "mfu_used"] == base.accelerators.set_index("accelerator").loc["h100-sxm", "mfu_used"]
    assert set(acc["mfu_basis"]) <= {"probe", "probe (transferred)", "published prior", "transferred prior"}


def test_tokens_instead_of_epochs(ts):
    story = ts.build_story(ts.training_run(**{**TINY, "epochs": None, "dataset_tokens": None, "tokens": 2e9,
                                              "batch": None, "layers": None, "hidden": None}))
    m = story.metrics()
    assert m["energy_per_epoch_kwh"] is None and m["energy_per_step_j"] is None
    assert m["flops"] == pytest.approx(6 * 1.25e8 * 2e9, rel=1e-5)
    assert list(story.cumulative_frame().columns)[0] == "tokens seen (billions)"
