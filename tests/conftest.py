"""Shared test settings: hypothesis profile, no GPU and no network assumed."""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("joulebook", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "joulebook"))


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory):
    """Every reports.toml block executed with its test_parameters at most once per session (nbhelpers.RunCache)."""
    import nbhelpers  # here, not at the top: nbformat takes seconds to import and most tests never need it

    return nbhelpers.RunCache(tmp_path_factory.mktemp)


@pytest.fixture(scope="module")
def notebook_run(request, report_runs):
    """The module's notebook ``NB`` run with a report block's test_parameters, shared with every other test
    of the session that needs the same block (it executes once).

    The block is the module's ``REPORT_ID``, or each value of an indirect parametrization
    (``@pytest.mark.parametrize("notebook_run", REPORT_IDS, indirect=True)``). Use it from slow tests only.
    """
    report_id = request.param if hasattr(request, "param") else request.module.REPORT_ID
    return report_runs.get(report_id, request.module.NB)


def pytest_terminal_summary(terminalreporter):
    """How many notebooks the session executed through nbhelpers, and whether any (notebook, parameters) twice."""
    nbh = sys.modules.get("nbhelpers")
    if nbh is None or not nbh.EXECUTIONS:
        return
    runs = nbh.EXECUTIONS
    repeated = len(runs) - len(set(runs))
    terminalreporter.write_line(f"notebook executions: {len(runs)} ({len(set(runs))} distinct, {repeated} repeated)")
