"""Execute one parameterized notebook with papermill, the way the batch runner does.

Design points (papermill pitfalls):

- parameters are passed typed, from Python; names the notebook's ``parameters``
  cell does not declare are rejected *before* a kernel starts
  (:class:`UnknownParameterError`, listing close matches) -- papermill itself
  only logs a warning;
- ``kernel_name="python3"``; ``MPLBACKEND`` is removed from the kernel's
  environment (a non-inline backend such as Agg silently drops figures);
- each cell has an execution timeout;
- the kernel runs in ``workdir`` (a scratch folder), so notebooks never write
  next to themselves;
- ``JOULEBOOK_METRICS_PATH`` and ``JOULEBOOK_GIT_COMMIT`` are set in the
  kernel's environment (read by :func:`joulebook.display.report.write_metrics` and
  :func:`joulebook.display.report.git_commit`);
- the kernel talks over Unix-domain sockets (``transport="ipc"``) in a private
  temporary folder where the platform has them, so parallel runs do not compete
  for TCP ports; with TCP, a kernel that fails to start because of a port race
  (``Address already in use`` between parallel runs) is retried once;
- the kernel is forked from a warm fork server that has already imported
  ipykernel, pandas, matplotlib, seaborn and joulebook and validated the data
  tables (:mod:`joulebook.site.forkserver`; about two seconds of CPU less per
  report); a retry after a failed start uses a fresh kernel process;
- papermill writes the executed notebook at the start, at the end (after a
  failure too) and every 30 s of a long cell, not before and after every cell;
- the kernel is stopped at once when the last cell is done (nbclient's
  ``shutdown_kernel="immediate"``: every output has arrived by then, and a
  graceful shutdown waits some 0.2 s per report for the kernel to exit).

The kernel inherits this process's environment and papermill changes the
working directory while it runs, so :func:`execute_notebook` changes process
state for its duration (restored afterwards). Run parallel executions in
separate processes, as :func:`joulebook.site.build` does, never in threads.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.imports import skip_slow_optional_imports
from joulebook.core.io import atomic_write_text
from joulebook.site import forkserver

KERNEL_NAME = "python3"
METRICS_ENV = "JOULEBOOK_METRICS_PATH"
COMMIT_ENV = "JOULEBOOK_GIT_COMMIT"
REMOVED_ENV = ("MPLBACKEND",)
QUIET_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # silence debugpy's frozen-modules note in the kernel
# the kernel's own log (e.g. "KeyboardInterrupt caught in kernel" when nbclient shuts it down after a
# failing cell) would reach the terminal; cell errors are recorded in the notebook, so keep it quiet
KERNEL_ARGS = ("--IPKernelApp.log_level=CRITICAL",)
INJECTED_TAG = "injected-parameters"
ERROR_TAG = "papermill-error-cell-tag"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PORT_RACE = ("address already in use", "kernel died before replying", "kernel didn't respond")
_lock = threading.Lock()


class UnknownParameterError(UnknownNameError):
    """A parameter name the notebook's ``parameters`` cell does not declare."""

    kind = "notebook parameter"


@dataclass
class ExecutionResult:
    """What one execution produced.

    ``status``: ``"ok"`` or ``"failed"``. ``metrics``: the dict the notebook wrote
    with :func:`joulebook.display.report.write_metrics` (``None`` if it wrote none).
    ``error``: one line (``ValueError: ...``) when failed; ``traceback``: the full
    text without colour codes. ``executed_path``: the executed notebook (cleaned
    of timing metadata; on failure it holds the cells run so far and the traceback).
    """

    notebook: Path
    parameters: dict[str, Any]
    status: str
    executed_path: Path
    metrics: dict[str, Any] | None = None
    metrics_path: Path | None = None
    error: str | None = None
    traceback: str | None = None
    duration_s: float = 0.0
    attempts: int = 1
    failed_cell: int | None = None
    failure: str | None = None  # "cell" (an exception in a cell) or "runner" (kernel, timeout); None when ok
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def notebook_parameters(notebook_path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The notebook's declared parameters (papermill.inspect_notebook): name -> {default, inferred_type_name, help}."""
    skip_slow_optional_imports()
    import papermill

    return papermill.inspect_notebook(str(notebook_path))


def check_parameters(notebook_path: str | os.PathLike, parameters: Mapping[str, Any],
                     declared: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`UnknownParameterError` for a name the notebook does not declare."""
    declared = notebook_parameters(notebook_path) if declared is None else declared
    if not declared and parameters:
        raise UnknownParameterError(next(iter(parameters)), [], parameter=f"{Path(notebook_path).name} parameters")
    for name in parameters:
        if name not in declared:
            raise UnknownParameterError(name, list(declared), parameter=f"{Path(notebook_path).name} parameters")


@contextlib.contextmanager
def kernel_environment(set_vars: Mapping[str, str]) -> Iterator[None]:
    """Set/remove environment variables the kernel inherits; restore them afterwards."""
    names = set(set_vars) | set(REMOVED_ENV) | set(QUIET_ENV)
    saved = {k: os.environ.get(k) for k in names}
    try:
        for k in REMOVED_ENV:
            os.environ.pop(k, None)
        os.environ.update(QUIET_ENV)
        os.environ.update({k: str(v) for k, v in set_vars.items()})
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def clean_notebook(nb) -> Any:
    """Remove what changes from run to run: timings, absolute paths, random ids of inserted cells."""
    meta = nb.metadata
    pm = meta.get("papermill")
    if pm is not None:
        meta["papermill"] = {k: pm[k] for k in ("parameters", "default_parameters", "version") if k in pm}
    errors = 0
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags", [])
        if INJECTED_TAG in tags:
            cell["id"] = "papermill-injected-parameters"
        elif ERROR_TAG in tags:
            errors += 1
            cell["id"] = f"papermill-error-{errors}"
    return nb


@contextlib.contextmanager
def _kernel_config(server: str = "") -> Iterator[dict[str, Any]]:
    """papermill engine arguments that put the kernel on IPC sockets in a private temporary folder,
    and, with ``server`` (a fork server's socket), start it from that server (:mod:`joulebook.site.forkserver`).

    The kernel manager stays nbclient's own (so nbclient shuts the kernel down);
    only its class and configuration change. Where IPC is unavailable, TCP is kept.
    """
    if os.name != "posix":
        yield {}
        return
    import shutil
    import tempfile

    from traitlets.config import Config

    sock_dir = tempfile.mkdtemp(prefix="jb-k-")
    try:
        conf = {"KernelManager": {"transport": "ipc", "ip": os.path.join(sock_dir, "k")}}
        kw: dict[str, Any] = {}
        if server:
            conf["ForkKernelManager"] = {"forkserver_socket": server}
            kw["kernel_manager_class"] = forkserver.kernel_manager_class()
        yield {"config": Config(conf), **kw}
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)


def _server_socket(kernel_server: str | bool | None) -> str:
    """The fork server a kernel comes from: a socket path, this process's shared server (None), or none."""
    if kernel_server is None:
        server = forkserver.shared()
        return server.socket if server is not None else ""
    return kernel_server if isinstance(kernel_server, str) and forkserver.supported() else ""


ENGINE = "joulebook"  # the papermill engine execute_notebook registers and uses (see _engine)


@functools.cache
def _engine() -> str:
    """Register papermill's nbclient engine with fewer writes of the output notebook; returns its name.

    papermill writes the whole notebook (figures included) before and after every cell: some 70
    writes of a report, a second of CPU. This engine writes it at the start, every
    ``autosave_cell_every`` seconds of a long cell and at the end, which papermill does after a
    failure too (a timeout or a dead kernel keeps the cells run so far).
    """
    skip_slow_optional_imports()
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class FewerSaves(NotebookExecutionManager):
        _in_cell_event = False

        def save(self, **kwargs):
            if not self._in_cell_event:
                super().save(**kwargs)

        def cell_start(self, *args, **kwargs):
            self._in_cell_event = True
            try:
                return super().cell_start(*args, **kwargs)
            finally:
                self._in_cell_event = False

        def cell_complete(self, *args, **kwargs):
            self._in_cell_event = True
            try:
                return super().cell_complete(*args, **kwargs)
            finally:
                self._in_cell_event = False

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                             autosave_cell_every=30, **kwargs):
            nb_man = FewerSaves(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE, Engine)
    return ENGINE


def _is_port_race(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in _PORT_RACE) or type(exc).__name__ == "DeadKernelError"


def _first_error(nb) -> tuple[str | None, str | None, int | None]:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                line = f"{out.get('ename', 'Error')}: {strip_ansi(str(out.get('evalue', '')))}".strip()
                return line, strip_ansi("\n".join(out.get("traceback", []))), i
    return None, None, None


def execute_notebook(notebook_path: str | os.PathLike, parameters: Mapping[str, Any] | None, workdir: str | os.PathLike,
                     *, timeout_s: float = 600.0, output_path: str | os.PathLike | None = None,
                     metrics_path: str | os.PathLike | None = None, git_commit: str | None = None,
                     declared: Mapping[str, Any] | None = None, start_timeout_s: float = 120.0,
                     kernel_server: str | bool | None = None) -> ExecutionResult:
    """Run ``notebook_path`` with ``parameters`` in ``workdir``; never raises for a failing cell.

    Raises :class:`UnknownParameterError` (before any kernel starts) when a
    parameter name is not declared in the notebook's ``parameters`` cell.
    The executed notebook goes to ``output_path`` (default
    ``workdir/<notebook name>``), metrics to ``metrics_path`` (default
    ``workdir/metrics.json``).

    ``kernel_server``: where the kernel comes from. ``None``: forked from this process's
    warm fork server (:func:`joulebook.site.forkserver.shared`, started on first use; a fresh
    kernel where fork servers are unsupported or ``JOULEBOOK_FORK_KERNELS=0``); a socket
    path: forked from that server; ``False`` or ``""``: a fresh kernel process. A kernel that
    fails to start is retried once as a fresh process.
    """
    skip_slow_optional_imports()
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook_path = Path(notebook_path).resolve()
    if not notebook_path.is_file():
        raise InputError("notebook", f"no such notebook: {notebook_path}")
    params = dict(parameters or {})
    check_parameters(notebook_path, params, declared)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    output_path = Path(output_path).resolve() if output_path else workdir / notebook_path.name
    metrics_path = Path(metrics_path).resolve() if metrics_path else workdir / "metrics.json"
    scratch_out = workdir / f".{notebook_path.stem}.papermill.ipynb"
    if metrics_path.exists():
        metrics_path.unlink()
    env = {METRICS_ENV: str(metrics_path)}
    if git_commit:
        env[COMMIT_ENV] = git_commit

    t0 = time.perf_counter()
    error = tb = failure = None
    failed_cell = None
    attempts = 0
    notes: list[str] = []
    nb = None
    while True:
        attempts += 1
        try:
            with _lock, kernel_environment(env), \
                    _kernel_config(_server_socket(kernel_server) if attempts == 1 else "") as engine_kw:
                nb = papermill.execute_notebook(
                    str(notebook_path), str(scratch_out), parameters=params, kernel_name=KERNEL_NAME,
                    cwd=str(workdir), execution_timeout=timeout_s, start_timeout=start_timeout_s,
                    progress_bar=False, log_output=False, request_save_on_cell_execute=True,
                    extra_arguments=list(KERNEL_ARGS), engine_name=_engine(), shutdown_kernel="immediate",
                    **engine_kw)
            break
        except PapermillExecutionError as e:
            error = f"{e.ename}: {strip_ansi(str(e.evalue))}"
            tb = strip_ansi("\n".join(e.traceback))
            failure = "cell"
            break
        except Exception as e:  # kernel start race, timeout, dead kernel...
            if attempts == 1 and _is_port_race(e):
                notes.append(f"retried after kernel start failure: {type(e).__name__}: {e}")
                continue
            error = f"{type(e).__name__}: {strip_ansi(str(e)).strip().splitlines()[0] if str(e).strip() else ''}".rstrip(": ")
            import traceback as _tb

            tb = strip_ansi("".join(_tb.format_exception(e)))
            failure = "runner"
            break
    duration = time.perf_counter() - t0

    if nb is None:  # failed: papermill saved the notebook as far as it got
        if scratch_out.exists():
            nb = nbformat.read(str(scratch_out), as_version=4)
        else:
            nb = nbformat.read(str(notebook_path), as_version=4)
        if error and not _first_error(nb)[0]:
            banner = nbformat.v4.new_markdown_cell(
                f"**This run failed outside a cell:** `{error}`\n\n```\n{tb}\n```")
            banner["id"] = "joulebook-run-error"
            nb.cells.insert(0, banner)
        cell_error, cell_tb, failed_cell = _first_error(nb)
        if cell_error and not error:
            error, tb = cell_error, cell_tb
    clean_notebook(nb)
    atomic_write_text(output_path, nbformat.writes(nb))
    if scratch_out.exists() and scratch_out != output_path:
        scratch_out.unlink()

    metrics = None
    if metrics_path.exists():
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            notes.append(f"metrics.json is not valid JSON: {e}")
    return ExecutionResult(notebook=notebook_path, parameters=params, status="failed" if error else "ok",
                           executed_path=output_path, metrics=metrics,
                           metrics_path=metrics_path if metrics is not None else None, error=error, traceback=tb,
                           duration_s=duration, attempts=attempts, failed_cell=failed_cell, failure=failure,
                           notes=notes)


def validate_metrics(metrics: Any) -> list[str]:
    """Problems with a report's ``metrics.json`` against the site convention (empty list = fine).

    Required: ``title`` (str), ``finding`` (one sentence, str) and
    ``key_figures``: 2 to 4 items ``{"label": str, "value": number, "unit": str}``.
    """
    if not isinstance(metrics, dict):
        return ["metrics.json was not written (the last cell must call joulebook.display.report.write_metrics)"]
    problems = []
    for key in ("title", "finding"):
        if not isinstance(metrics.get(key), str) or not metrics[key].strip():
            problems.append(f"metrics.json needs a non-empty string {key!r}")
    kf = metrics.get("key_figures")
    if not isinstance(kf, list) or not 2 <= len(kf) <= 4:
        problems.append("metrics.json needs 'key_figures': a list of 2 to 4 items")
    else:
        for i, item in enumerate(kf):
            if not isinstance(item, dict) or set(item) - {"label", "value", "unit"} or \
                    not isinstance(item.get("label"), str) or not isinstance(item.get("unit"), str) or \
                    isinstance(item.get("value"), bool) or not isinstance(item.get("value"), (int, float)):
                problems.append(f"key_figures[{i}] must be {{'label': str, 'value': number, 'unit': str}}, got {item!r}")
    return problems
