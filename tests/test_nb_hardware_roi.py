"""notebooks/50_hardware_and_roi.ipynb: hygiene, the finding first, parameters checked by the story, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.models import costs, roi
from joulebook.stories import hardware_roi, notebook_defaults

NB = nbh.NOTEBOOKS / "50_hardware_and_roi.ipynb"
REPORT_ID = "hardware_roi"


def test_hygiene_finding_first_provenance_last(monkeypatch):
    monkeypatch.setattr(nbh, "PROVENANCE_WITHIN", 10**6)  # new style: provenance at the end, checked below
    cells, at = nbh.check_hygiene(NB, "hardware_roi.check(")
    assert "report.finding(*hardware_roi.finding(" in cells[at + 2].source
    code = [c for c in cells if c.cell_type == "code"]
    prov = [i for i, c in enumerate(cells) if "provenance" in c.metadata.get("tags", [])]
    assert prov and all("report.provenance(" not in c.source for c in cells[:prov[0]])
    assert any("report.provenance(" in cells[i].source for i in prov)
    assert prov[-1] == len(cells) - 2 and cells[-1] is code[-1]  # provenance, then only the metrics cell
    for c in code:
        if "figures.show(" in c.source:
            assert "alt=" in c.source
        assert "plots.show(" not in c.source  # every figure has alt text


def test_story_check_takes_exactly_the_notebook_parameters():
    params = nbh.parameters(nbh.read(NB).cells)
    assert set(params) == set(hardware_roi.PARAMETERS)
    validation = next(c.source for c in nbh.read(NB).cells if "hardware_roi.check(" in c.source)
    for name in params:
        assert f"{name}={name}" in validation, name
    assert params == notebook_defaults.defaults(hardware_roi.NOTEBOOK)


def test_validation_rejects_bad_parameters():
    p = notebook_defaults.defaults(hardware_roi.NOTEBOOK)
    for bad, parameter in (({"fleet_utilisation": 0}, "fleet_utilisation"), ({"counts": [8, -1]}, "counts"),
                           ({"demand_resolution": "monthly"}, "demand_resolution"), ({"region": "atlantis"}, "region"),
                           ({"finetune_share": 1.5}, "finetune_share"), ({"horizon_months": 0}, "horizon_months")):
        with pytest.raises((InputError, KeyError)) as e:
            hardware_roi.check(**{**p, **bad})
        assert e.value.parameter == parameter


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.stories.hardware_roi:metrics_for", hardware_roi.PARAMETERS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m = notebook_run.metrics
    full = notebook_defaults.merged(hardware_roi.NOTEBOOK, notebook_run.params)
    assert m == hardware_roi.metrics_for(notebook_run.params)
    # independent checks against the lower-level functions
    sw = roi.switch_roi(from_count=full["fleet_count"], utilisation=full["fleet_utilisation"],
                        migration_usd=full["migration_usd"], horizon_months=full["horizon_months"],
                        operations_share_per_year=full["operations_share_per_year"], region=full["region"],
                        cloud_provider=full["cloud_provider"], purchase_option=full["purchase_option"])
    assert m["owned_break_even_month"] == sw.owned.month
    assert m["cloud_break_even_month"] == sw.cloud.month
    pair = costs.cloud_price_pair(full["from_accelerator"], full["to_accelerator"], provider=full["cloud_provider"],
                                  purchase_option=full["purchase_option"])
    demand = roi.demand_profile(baseline_accelerators=full["baseline_accelerators"],
                                peak_accelerators=full["peak_accelerators"],
                                peak_days_per_year=full["peak_days_per_year"],
                                campaigns_per_year=full["campaigns_per_year"], resolution=full["demand_resolution"])
    mix = roi.burst_mix(demand, lifetime_years=full["lifetime_years"], accelerator=full["burst_accelerator"],
                        region=full["region"], cloud_provider=full["cloud_provider"])
    assert m["mix_best_owned_count"] == mix.best_count
    assert len(notebook_run.pngs) == 5
    alts = [o["metadata"]["image/png"]["alt"] for o in notebook_run.pngs]
    assert all(a and a != "Figure" for a in alts)
    # the finding: the switch verdict, owned and rented, on like-for-like prices stated with their basis and date
    finding = notebook_run.text("text/html")
    assert "jb-finding" in finding and m["finding"].split(":")[0] in finding
    if pair is not None:
        assert f"{pair[1].basis} {pair[1].purchase_option} prices, {pair[1].price_date}" in m["finding"]
    text = notebook_run.text() + finding
    verdict = f"in month {sw.cloud.month}" if sw.cloud.month is not None else "never within"
    assert verdict in text  # the prose is written from this run's values
    assert f"owns **{mix.best_count}**" in text
    for bad in ("None", "<NA>", "null", "n/a", "nan"):
        assert f">{bad}<" not in finding and f" {bad} " not in notebook_run.text()
    assert not notebook_run.problems, notebook_run.problems
