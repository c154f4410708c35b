"""Shared test settings: hypothesis profile, no GPU and no network assumed."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("joulebook", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "joulebook"))


@pytest.fixture(scope="module")
def notebook_run(request, tmp_path_factory):
    """The module's notebook ``NB`` executed once per module with a report block's test_parameters.

    The block is the module's ``REPORT_ID``, or each value of an indirect parametrization
    (``@pytest.mark.parametrize("notebook_run", REPORT_IDS, indirect=True)``). Use it from slow tests only.
    """
    import nbhelpers  # here, not at the top: nbformat takes seconds to import and most tests never need it

    report_id = request.param if hasattr(request, "param") else request.module.REPORT_ID
    return nbhelpers.execute_report(request.module.NB, report_id, tmp_path_factory.mktemp(report_id))
