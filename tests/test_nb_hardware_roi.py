"""notebooks/50_hardware_and_roi.ipynb: hygiene, parameters in step with the library, tiny execution."""

import pytest

import nbhelpers as nbh
from joulebook.core.errors import InputError
from joulebook.models import roi

NB = nbh.NOTEBOOKS / "50_hardware_and_roi.ipynb"
REPORT_ID = "hardware_roi"


def test_hygiene():
    nbh.check_hygiene(NB, "roi.validate_parameters(")


def test_parameters_match_library_defaults():
    assert nbh.parameters(nbh.read(NB).cells) == roi.NOTEBOOK_DEFAULTS


def test_validation_rejects_bad_parameters():
    p = dict(roi.NOTEBOOK_DEFAULTS)
    for bad, parameter in (({"fleet_utilisation": 0}, "fleet_utilisation"), ({"counts": [8, -1]}, "counts"),
                           ({"demand_resolution": "monthly"}, "demand_resolution"), ({"region": "atlantis"}, "region"),
                           ({"finetune_share": 1.5}, "finetune_share"), ({"horizon_months": 0}, "horizon_months")):
        with pytest.raises((InputError, KeyError)) as e:
            roi.validate_parameters(**{**p, **bad})
        assert e.value.parameter == parameter


def test_report_block_is_declared():
    nbh.check_report_block(REPORT_ID, NB, "joulebook.models.roi:report_metrics", roi.NOTEBOOK_DEFAULTS)


@pytest.mark.slow
def test_executes_with_tiny_parameters_and_metrics_match_the_library(notebook_run):
    m, full = notebook_run.metrics, {**roi.NOTEBOOK_DEFAULTS, **notebook_run.params}
    assert m == roi.report_metrics(notebook_run.params)
    # independent checks against the lower-level functions
    sw = roi.switch_roi(from_count=full["fleet_count"], utilisation=full["fleet_utilisation"],
                        migration_usd=full["migration_usd"], horizon_months=full["horizon_months"],
                        operations_share_per_year=full["operations_share_per_year"], region=full["region"])
    assert m["owned_break_even_month"] == sw.owned.month
    assert m["cloud_break_even_month"] == sw.cloud.month
    demand = roi.demand_profile(baseline_accelerators=full["baseline_accelerators"],
                                peak_accelerators=full["peak_accelerators"],
                                peak_days_per_year=full["peak_days_per_year"], resolution="daily")
    mix = roi.burst_mix(demand, lifetime_years=full["lifetime_years"])
    assert m["mix_best_owned_count"] == mix.best_count
    assert len(notebook_run.pngs) == 6
    text = notebook_run.text()
    verdict = f"month {sw.cloud.month}" if sw.cloud.month is not None else "never pays back"
    assert verdict in text  # the prose is written from this run's values
    assert f"owns **{mix.best_count}**" in text
