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


# --------------------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test` runs `pytest -n 2 --dist loadgroup`. Tests that share an expensive execution must land on the
# same worker, or each worker would repeat it: every test of a report block's notebook run (report_runs /
# notebook_run, test_notebooks_execute's `spec`) is grouped by the block, and the tests of a module that
# share one of its module-scoped fixtures (a built site, a browser, an installed wheel, a Dask cluster) by
# the module. Without -n these marks change nothing.

def report_group(item) -> str | None:
    """The report block whose run ``item`` uses, if it uses one (``"*"``: some block, unknown which)."""
    if "report_runs" not in getattr(item, "fixturenames", ()):
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("notebook_run"), str):
        return params["notebook_run"]
    if getattr(params.get("spec"), "id", None):
        return params["spec"].id
    return getattr(getattr(item, "module", None), "REPORT_ID", None) or "*"


def shares_module_fixture(item) -> bool:
    """``item`` uses a module-scoped fixture defined in its own module."""
    info = getattr(item, "_fixtureinfo", None)
    module = getattr(item, "module", None)
    if info is None or module is None:
        return False
    for defs in info.name2fixturedefs.values():
        d = defs[-1]
        if d.scope in ("module", "package") and getattr(d.func, "__module__", None) == module.__name__:
            return True
    return False


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        report = report_group(item)
        if report is not None:
            item.add_marker(pytest.mark.xdist_group(f"report:{report}"))
        elif shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(f"module:{item.module.__name__}"))


_worker_executions: list[tuple[str, str]] = []


def pytest_sessionfinish(session):
    """An xdist worker hands its notebook executions to the controller (pytest_testnodedown)."""
    out = getattr(session.config, "workeroutput", None)
    nbh = sys.modules.get("nbhelpers")
    if out is not None and nbh is not None:
        out["notebook_executions"] = [list(run) for run in nbh.EXECUTIONS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _worker_executions.extend(tuple(run) for run in getattr(node, "workeroutput", {}).get("notebook_executions", []))


def pytest_terminal_summary(terminalreporter):
    """How many notebooks the session executed through nbhelpers (every worker's), and whether any
    (notebook, parameters) twice."""
    nbh = sys.modules.get("nbhelpers")
    runs = list(_worker_executions) + (list(nbh.EXECUTIONS) if nbh is not None else [])
    if not runs:
        return
    repeated = len(runs) - len(set(runs))
    terminalreporter.write_line(f"notebook executions: {len(runs)} ({len(set(runs))} distinct, {repeated} repeated)")
