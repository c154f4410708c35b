"""Shared logic of the report-notebook tests (tests/test_nb_*.py, tests/test_notebooks_execute.py).

A ``test_nb_*`` module names its notebook (``NB``) and report block (``REPORT_ID``) and keeps
only the assertions that tie that notebook to its library module. Reading the parameters
cell, the house rules of a report notebook, the reports.toml block and the execution with
the block's tiny test_parameters live here.

Each report block executes ONCE per test session: :class:`RunCache` (the session-scoped
``report_runs`` fixture of conftest.py) executes a block on first use and hands the same
:class:`Run` to tests/test_notebooks_execute.py and to the module's ``notebook_run`` (across
pytest-xdist workers too: through a locked folder shared by the workers).
:data:`EXECUTIONS` counts every execution; conftest.py prints the count at the end of a session.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import fcntl
import hashlib
import importlib
import json
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import nbformat
import pytest

from joulebook.site import config
from joulebook.site.execute import ExecutionResult, execute_notebook, validate_metrics

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REPORTS_TOML = NOTEBOOKS / "reports.toml"
EXECUTION_TIMEOUT_S = 300
# host settings that would remap the measurement backend; unset for every execution (see RunCache.get)
UNSET_FOR_EXECUTION = ("CUDA_VISIBLE_DEVICES", "JOULEBOOK_FAKE_NVML")

EXECUTIONS: list[tuple[str, str]] = []  # (notebook name, parameters as JSON) of every execute() of this process

# what a report notebook's code cells may not hold: logic belongs in lib/joulebook, data is read through it
FORBIDDEN_NODES = (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)
FORBIDDEN_TEXT = ("sys.path", "read_csv")
PROVENANCE_WITHIN = 4  # report.provenance( is called in one of the first code cells


def read(nb_path: Path):
    return nbformat.read(str(nb_path), as_version=4)


def load_reports() -> config.Config:
    return config.load_config(REPORTS_TOML)


def report_spec(report_id: str) -> config.ReportSpec:
    return load_reports().spec(report_id)


def parameters_index(cells) -> int:
    """Index of the first cell tagged 'parameters'."""
    return next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))


def parameters(cells) -> dict[str, Any]:
    """The parameters cell as a dict: exactly one tagged cell, one ``name = literal  # comment`` per line.

    No blank lines; every comment is non-empty text without ``=`` (papermill's parser trips on it).
    """
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    out = {}
    for line in tagged[0].source.splitlines():
        assert "  # " in line, f"every parameter has a comment: {line!r}"
        code, comment = line.split("  # ", 1)
        assert comment.strip() and "=" not in comment, f"comment must be text without '=': {line!r}"
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        out[node.targets[0].id] = ast.literal_eval(node.value)  # literals only
    return out


def check_hygiene(nb_path: Path, validation_call: str):
    """The house rules of a report notebook; returns its cells and the index of the parameters cell.

    python3 kernel, a ``# Title`` cell first, ``validation_call`` in the cell right after the
    parameters, code cells without outputs, definitions, lambdas, loops, ``sys.path`` or
    ``read_csv``, provenance near the top and ``report.write_metrics(`` in the last code cell.
    """
    nb = read(nb_path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    at = parameters_index(cells)
    assert validation_call in cells[at + 1].source, f"the cell after the parameters calls {validation_call}"
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        tree = ast.parse(c.source)
        assert not any(isinstance(n, FORBIDDEN_NODES) for n in ast.walk(tree)), c.source
        for text in FORBIDDEN_TEXT:
            assert text not in c.source, f"{text} in {c.source!r}"
    assert "report.write_metrics(" in code[-1].source
    # provenance: at the end in cells tagged "provenance" (issue 11's layout), or, not yet moved, near the top
    tagged = [c for c in code if "provenance" in c.metadata.get("tags", [])]
    assert any("report.provenance(" in c.source for c in (tagged or code[:PROVENANCE_WITHIN]))
    return cells, at


def check_report_block(report_id: str, nb_path: Path, metrics_function: str, parameter_names) -> config.ReportSpec:
    """The reports.toml block runs ``nb_path``, names the library's ``metrics_function`` and only
    sets test_parameters among ``parameter_names``."""
    spec = report_spec(report_id)
    assert spec.notebook.name == nb_path.name
    assert spec.metrics_function == metrics_function
    assert set(spec.test_parameter_set()) <= set(parameter_names)
    return spec


def library_metrics(spec: config.ReportSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """The block's ``metrics_function`` ("pkg.mod:fn") called with the notebook's defaults updated by ``params``:
    the library's direct result for what the notebook ran."""
    module, name = spec.metrics_function.split(":")
    fn: Callable[[Mapping[str, Any]], dict[str, Any]] = getattr(importlib.import_module(module), name)
    defaults = parameters(read(spec.notebook).cells)  # defaults live once: in the notebook's parameters cell
    return fn({**defaults, **params})


class Run:
    """A notebook executed successfully (status ok, valid metrics.json), with views of its outputs."""

    def __init__(self, result: ExecutionResult, params: Mapping[str, Any]):
        assert result.status == "ok", f"{result.error}\n{result.traceback}"
        problems = validate_metrics(result.metrics)
        assert problems == [], problems
        self.result = result
        self._params = copy.deepcopy(dict(params))

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as passed in; a fresh copy each time, since several tests share one run."""
        return copy.deepcopy(self._params)

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics.json the notebook wrote; a fresh copy each time, since several tests share one run."""
        return copy.deepcopy(self.result.metrics)

    @cached_property
    def executed(self):
        return read(self.result.executed_path)

    @cached_property
    def outputs(self) -> list:
        return [o for c in self.executed.cells for o in c.get("outputs", [])]

    @property
    def pngs(self) -> list:
        return [o for o in self.outputs if "image/png" in o.get("data", {})]

    def text(self, mime: str = "text/markdown") -> str:
        """Every output of type ``mime`` joined: the prose the notebook wrote from this run's values."""
        return "".join(str(o.get("data", {}).get(mime, "")) for o in self.outputs)

    @property
    def problems(self) -> list:
        """Error outputs and anything written to stderr."""
        return [o for o in self.outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]


def params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=repr)


def _execute_result(nb_path: Path, params: Mapping[str, Any], workdir: Path, timeout_s: float) -> ExecutionResult:
    EXECUTIONS.append((Path(nb_path).name, params_key(params)))
    return execute_notebook(nb_path, params, workdir, timeout_s=timeout_s)


def execute(nb_path: Path, params: Mapping[str, Any], workdir: Path, timeout_s: float = EXECUTION_TIMEOUT_S) -> Run:
    """Execute ``nb_path`` with ``params`` in ``workdir``; fails unless it ran and wrote valid metrics.

    For a reports.toml block's test_parameters use :class:`RunCache` instead, so it executes once.
    """
    return Run(_execute_result(nb_path, params, workdir, timeout_s), params)


class RunCache:
    """Report blocks executed with their test_parameters, each at most once per session.

    ``mktemp(name)`` returns a fresh directory (``tmp_path_factory.mktemp``). :meth:`get`
    executes a block on its first call and returns the same :class:`Run` afterwards; a failed
    execution is kept too, so every later test fails the same way without executing again.
    The listing of notebooks/ before and after the execution is kept on the run, so a test can
    check that the notebook wrote no files next to itself.

    ``shared``: a folder common to every pytest-xdist worker of the session (None without
    xdist). The first worker to ask for a block executes it while holding a lock on
    ``shared/<key>.lock`` and leaves the result in ``shared/<key>.json``; a worker asking
    afterwards (or meanwhile: it waits for the lock) reads it, so a block still executes once
    per session however the tests are spread (conftest.py also keeps a block's tests on one worker).
    """

    def __init__(self, mktemp: Callable[[str], Path], shared: Path | None = None):
        self._mktemp = mktemp
        self._shared = shared
        self._results: dict[tuple[str, str], tuple[ExecutionResult | None, str | None, tuple, tuple]] = {}
        self._runs: dict[tuple[str, str], Run] = {}

    def get(self, report_id: str, nb_path: Path | None = None) -> Run:
        """The run of block ``report_id``; ``nb_path`` (a test module's ``NB``) must be the block's notebook."""
        spec = report_spec(report_id)
        if nb_path is not None:
            assert Path(nb_path).resolve() == Path(spec.notebook).resolve(), (nb_path, spec.notebook)
        params = spec.test_parameter_set()
        key = (str(Path(spec.notebook).resolve()), params_key(params))
        if key in self._runs:
            return self._runs[key]
        if key not in self._results:
            self._results[key] = self._shared_result(key, lambda: self._execute(report_id, spec, params))
        result, error, before, after = self._results[key]
        if error is not None:
            raise RuntimeError(f"executing {report_id} raised {error}")
        run = Run(result, params)  # raises (again) for a failed execution
        run.notebooks_before, run.notebooks_after = list(before), list(after)
        self._runs[key] = run
        return run

    def _execute(self, report_id: str, spec: config.ReportSpec, params: dict[str, Any]):
        before = tuple(sorted(p.name for p in NOTEBOOKS.iterdir()))
        result, error = None, None
        with pytest.MonkeyPatch.context() as mp:
            for name in UNSET_FOR_EXECUTION:
                mp.delenv(name, raising=False)
            try:
                result = _execute_result(spec.notebook, params, self._mktemp(report_id) / "work", spec.timeout_s)
            except Exception as exc:  # kept, and raised again for every test that asks
                error = f"{type(exc).__name__}: {exc}"
        after = tuple(sorted(p.name for p in NOTEBOOKS.iterdir()))
        return result, error, before, after

    def _shared_result(self, key: tuple[str, str], execute: Callable[[], tuple]):
        if self._shared is None:
            return execute()
        self._shared.mkdir(parents=True, exist_ok=True)
        stem = hashlib.sha256("\0".join(key).encode()).hexdigest()[:20]
        done = self._shared / f"{stem}.json"
        with open(self._shared / f"{stem}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if done.is_file():
                saved = json.loads(done.read_text(encoding="utf-8"))
                result = _result_from_json(saved["result"]) if saved["result"] else None
                return result, saved["error"], tuple(saved["before"]), tuple(saved["after"])
            result, error, before, after = execute()
            saved = {"result": _result_to_json(result) if result else None, "error": error,
                     "before": list(before), "after": list(after)}
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(saved, default=str), encoding="utf-8")
            tmp.replace(done)
            return result, error, before, after


_PATH_FIELDS = ("notebook", "executed_path", "metrics_path")


def _result_to_json(result: ExecutionResult) -> dict[str, Any]:
    out = dataclasses.asdict(result)
    for name in _PATH_FIELDS:
        out[name] = None if out[name] is None else str(out[name])
    return out


def _result_from_json(saved: dict[str, Any]) -> ExecutionResult:
    return ExecutionResult(**{k: (Path(v) if k in _PATH_FIELDS and v is not None else v) for k, v in saved.items()})
