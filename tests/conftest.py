"""Shared test settings: hypothesis profile, no GPU and no network assumed."""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

from joulebook.core.imports import skip_slow_optional_imports

skip_slow_optional_imports()  # nbformat without the 3 s rfc3987 grammar in every test process (see the module)

settings.register_profile("joulebook", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "joulebook"))


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory):
    """Every reports.toml block executed with its test_parameters at most once per session (nbhelpers.RunCache)."""
    import nbhelpers  # here, not at the top: nbformat takes seconds to import and most tests never need it

    shared = None
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers' base folders share one parent per session
        shared = tmp_path_factory.getbasetemp().parent / "report-runs"
    return nbhelpers.RunCache(tmp_path_factory.mktemp, shared)


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


def pytest_itemcollected(item):
    """Mark the item's xdist group as it is collected (xdist reads the marks after collection)."""
    report = report_group(item)
    if report is not None:
        item.add_marker(pytest.mark.xdist_group(f"report:{report}"))
    elif shares_module_fixture(item):
        item.add_marker(pytest.mark.xdist_group(f"module:{item.module.__name__}"))


@pytest.hookimpl(trylast=True)  # after xdist's own attempt
def pytest_collection_modifyitems(config, items):
    """In an xdist worker with --dist loadgroup: tag each grouped test's node id with ``@group``.

    That is how xdist's scheduler sees groups; xdist 3.8 writes ``item._nodeid``, which pytest 9's
    structured node ids no longer read, so the tag is set here where xdist's did not take.
    """
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None or item.nodeid.rfind("@") > item.nodeid.rfind("]"):
            continue
        nodeid = f"{item.nodeid}@{mark.args[0]}"
        node_id = getattr(item, "_id", None)
        if node_id is not None and hasattr(type(node_id), "parse"):
            item._id = type(node_id).parse(nodeid)
        else:
            item._nodeid = nodeid


_worker_executions: dict[str, list[tuple[str, str]]] = {}  # xdist worker id -> its executions


def pytest_sessionfinish(session):
    """An xdist worker hands its notebook executions to the controller (pytest_testnodedown)."""
    out = getattr(session.config, "workeroutput", None)
    nbh = sys.modules.get("nbhelpers")
    if out is not None and nbh is not None:
        out["notebook_executions"] = [list(run) for run in nbh.EXECUTIONS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    out = getattr(node, "workeroutput", {})
    name = getattr(getattr(node, "gateway", None), "id", None) or str(node)
    _worker_executions[name] = [tuple(r) for r in out.get("notebook_executions", [])]


def pytest_terminal_summary(terminalreporter):
    """How many notebooks the session executed through nbhelpers (every worker's), and whether any
    (notebook, parameters) twice."""
    nbh = sys.modules.get("nbhelpers")
    runs = [r for worker in _worker_executions.values() for r in worker] + (list(nbh.EXECUTIONS) if nbh else [])
    if not runs:
        return
    repeated = len(runs) - len(set(runs))
    where = (" on workers " + ", ".join(f"{w} {len(r)}" for w, r in sorted(_worker_executions.items()))
             if _worker_executions else "")
    terminalreporter.write_line(f"notebook executions: {len(runs)} ({len(set(runs))} distinct, {repeated} repeated)"
                                + where)
    for name, params in sorted(set(r for r in runs if runs.count(r) > 1)):
        terminalreporter.write_line(f"  executed more than once: {name} {params[:200]}")
