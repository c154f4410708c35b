"""One way to reach a Dask cluster, shared by ``joulebook sweep`` and ``joulebook reports build --cluster``.

``local`` starts a LocalCluster with one single-threaded worker process per core,
``local:N`` with N of them; anything else is a scheduler address
(``tcp://host:8786``). dask.distributed is imported only when a client is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from joulebook.core.errors import InputError

# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers so they hand memory back to the OS quickly;
# that also stops glibc from reusing freed large blocks, and the vectorized models (many MB-sized
# temporaries per partition) then run 1.6-1.9x slower (measured, benchmarks/bench_sweep_cluster.py).
# Partitions bound the memory anyway, so the workers joulebook starts keep glibc's default.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")


def check_cluster(cluster: str) -> None:
    """Raise :class:`InputError` (parameter ``--cluster``) unless ``cluster`` is local, local:N or an address."""
    if cluster == "local":
        return
    if cluster.startswith("local:"):
        n = cluster.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise InputError("--cluster", f"local:N needs a whole number of workers >= 1, got {cluster!r}")
        return
    if not _ADDRESS.match(cluster):
        raise InputError("--cluster", f"expected local, local:N or a scheduler address like tcp://host:8786, "
                                      f"got {cluster!r}")


@contextlib.contextmanager
def dask_client(cluster: str) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``cluster``; a LocalCluster it started is closed on exit."""
    check_cluster(cluster)
    import dask
    from dask.distributed import Client, LocalCluster

    if cluster == "local" or cluster.startswith("local:"):
        n = int(cluster.split(":", 1)[1]) if ":" in cluster else (os.cpu_count() or 1)
        with dask.config.set(WORKER_CONFIG), LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR) as lc, Client(lc) as client:
            yield client
        return
    with Client(cluster, timeout="30s") as client:
        yield client
