"""Run report executions on a Dask cluster (``joulebook reports build --cluster ...``).

The build itself does not change: the driver (the process running ``build``)
still decides what to reuse from the cache, rejects bad parameters, writes the
manifest and index and swaps the site into place. Only the executions move:
each report becomes one Dask task that runs the same
:func:`joulebook.site.runner.run_report` on a worker, in a scratch folder
there, and sends back the files it wrote (executed notebook, ``metrics.json``,
page: a few hundred kB). The driver writes them into the build's temporary
site. So workers need no shared filesystem with the driver, only the same
project installed (``pip install joulebook`` or ``pip install -e /path/to/checkout``,
plus its ``python3`` Jupyter kernel) and the same data.

Failure isolation is as with local processes: a report that fails is recorded
as failed and the others go on; a worker that dies mid-report has its task
re-run by Dask (``distributed.scheduler.allowed-failures``, default 3), after
which the report is recorded as a runner failure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joulebook.sweeps.cluster import dask_client


def run_remote(run: Callable[[dict[str, Any]], dict[str, Any]], task: dict[str, Any],
               notebook_bytes: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """On a worker: run one report into a local scratch folder; return its result and its files' bytes."""
    scratch = Path(tempfile.mkdtemp(prefix="jb-cluster-"))
    try:
        local = dict(task)
        nb = Path(task["notebook"])
        if not nb.is_file():  # the worker does not see the driver's checkout: use the shipped notebook
            nb = scratch / "notebook" / nb.name
            nb.parent.mkdir()
            nb.write_bytes(notebook_bytes)
            local["notebook"] = str(nb)
        local["report_dir"] = str(scratch / "report")
        result = run(local)
        root = scratch / "report"
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        return result, files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def execute(tasks: list[tuple[Any, dict[str, Any]]], report_line: Callable[[Any, str], None], *, address: str,
            run: Callable, apply: Callable, fail: Callable) -> None:
    """Execute ``(outcome, task)`` pairs on the Dask cluster ``address`` (local, local:N or tcp://...).

    ``run``/``apply``/``fail`` are the runner's ``run_report``, ``_apply`` and ``_failure``.
    """
    if not tasks:
        return
    from dask.distributed import as_completed

    t0 = time.perf_counter()
    with dask_client(address) as client:
        futures = {}
        for o, task in tasks:
            key = f"joulebook-report-{o.slug}-{uuid.uuid4().hex[:8]}"
            fut = client.submit(run_remote, run, task, Path(task["notebook"]).read_bytes(), key=key, pure=False)
            futures[fut] = (o, task)
        for fut in as_completed(futures):
            o, task = futures[fut]
            try:
                result, files = fut.result()
                dest = Path(task["report_dir"])
                for rel, blob in files.items():
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(blob)
                apply(o, result)
            except Exception as e:  # the task raised, or its workers kept dying (KilledWorker)
                fail(o, task, e, t0)
            report_line(o, o.status)
