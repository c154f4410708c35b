"""Kernels forked from a warm server (joulebook.site.forkserver) behave like fresh kernel processes.

The probe notebook (tests/fixtures/kernel_probe.ipynb) writes what it sees from inside its kernel
(working folder, environment, matplotlib backend, pandas display defaults, random state) as its
metrics; a forked kernel must see what a fresh one sees, except its pid and its random numbers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from joulebook.site import execute as ex
from joulebook.site import forkserver

FIXTURES = Path(__file__).parent / "fixtures"
PROBE = FIXTURES / "kernel_probe.ipynb"
FIXTURE_NB = FIXTURES / "fixture_report.ipynb"
# facts that must be the same in a forked and a fresh kernel (the rest: pid, random numbers, paths)
SAME = ("backend", "mplbackend_env", "max_columns", "figsize", "dpi", "argv0", "label")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not forkserver.supported(), reason="fork servers need fork and Unix sockets")]


@pytest.fixture(scope="module")
def server():
    with forkserver.ForkServer() as s:
        yield s


def probe(tmp_path: Path, name: str, kernel_server) -> dict:
    res = ex.execute_notebook(PROBE, {"label": name}, tmp_path / name, timeout_s=120, kernel_server=kernel_server)
    assert res.status == "ok", f"{res.error}\n{res.traceback}"
    nb = ex.clean_notebook(__import__("nbformat").read(str(res.executed_path), as_version=4))
    outs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert [o for o in outs if "image/png" in o.get("data", {})], "the inline backend drew the figure"
    assert not [o for o in outs if o.get("name") == "stderr" or o.get("output_type") == "error"], outs
    facts = dict(res.metrics)
    assert facts["cwd"] == str((tmp_path / name).resolve())
    assert facts["metrics_env"] == str(res.metrics_path)
    assert facts["pgid"] == facts["pid"], "the kernel leads its own process group (signals reach what it starts)"
    return facts


def test_forked_kernel_sees_what_a_fresh_kernel_sees(tmp_path, server):
    fresh = probe(tmp_path, "fresh", False)
    forked = probe(tmp_path, "forked", server.socket)
    again = probe(tmp_path, "again", server.socket)
    assert {k: fresh[k] for k in SAME} | {"label": "x"} == {k: forked[k] for k in SAME} | {"label": "x"}
    assert fresh["max_columns"] == 20 and fresh["backend"].endswith("backend_inline")
    assert forked["label"] == "forked" and again["label"] == "again"
    assert len({fresh["pid"], forked["pid"], again["pid"], server.process.pid, os.getpid()}) == 5
    # each forked kernel draws its own random numbers, as a new process would
    assert forked["random"] != again["random"] and forked["np_random"] != again["np_random"]


def test_unreachable_server_falls_back_to_a_fresh_kernel(tmp_path):
    facts = probe(tmp_path, "fallback", str(tmp_path / "no-such-socket"))
    assert facts["max_columns"] == 20


def test_environment_change_restarts_the_shared_server(monkeypatch):
    monkeypatch.delenv(forkserver.ENABLE_ENV, raising=False)
    first = forkserver.shared()
    assert forkserver.shared() is first and first.alive()
    monkeypatch.setenv("JOULEBOOK_METRICS_PATH", "/elsewhere/metrics.json")  # per run: same server
    assert forkserver.shared() is first
    monkeypatch.setenv("JOULEBOOK_TEST_SOMETHING", "1")  # shapes imports: a new server
    second = forkserver.shared()
    assert second is not first and second.alive() and not first.alive()
    monkeypatch.setenv(forkserver.ENABLE_ENV, "0")
    assert forkserver.shared() is None
    assert ex._server_socket(None) == "" and ex._server_socket(second.socket) == ""


def _exit_after_detaching() -> None:
    forkserver.detach_inherited()
    os._exit(0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="report workers are forked on Linux only")
def test_a_forked_report_worker_leaves_the_shared_server_running(monkeypatch):
    """Report workers forked from the build (runner._worker_start) inherit the server's stdin pipe; dropping
    their copy must not stop the server, which stops only when the build's own copy closes."""
    import multiprocessing

    monkeypatch.delenv(forkserver.ENABLE_ENV, raising=False)
    shared = forkserver.shared()
    child = multiprocessing.get_context("fork").Process(target=_exit_after_detaching)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    time.sleep(0.2)
    assert forkserver.shared() is shared and shared.alive()
    # without detaching, a worker's copy would keep a closed build's server alive: the build's close still works
    shared.close()
    assert not shared.alive()


def test_report_workers_are_forked_on_linux_and_spawned_on_request(monkeypatch):
    from joulebook.site import runner

    monkeypatch.delenv(runner.FORK_WORKERS_ENV, raising=False)
    # the build process is single-threaded; a test worker may still run threads of earlier tests
    monkeypatch.setattr(runner.threading, "active_count", lambda: 1)
    ctx, init = runner._worker_start(False)
    assert ctx.get_start_method() == ("fork" if sys.platform.startswith("linux") else "spawn")
    monkeypatch.setattr(runner.threading, "active_count", lambda: 2)  # threads running: never fork
    assert runner._worker_start(False)[0].get_start_method() == "spawn"
    monkeypatch.setattr(runner.threading, "active_count", lambda: 1)
    monkeypatch.setenv(runner.FORK_WORKERS_ENV, "0")
    ctx, init = runner._worker_start(False)
    assert ctx.get_start_method() == "spawn" and init is None


def test_cell_timeout_interrupts_a_forked_kernel(tmp_path, server):
    res = ex.execute_notebook(FIXTURE_NB, {"sleep_s": 60.0}, tmp_path / "w", timeout_s=3, kernel_server=server.socket)
    assert res.status == "failed" and "Timeout" in res.error, res.error


def test_killed_client_takes_its_kernel_along(tmp_path, server):
    """jupyter_client's last resort is SIGKILL to the process it started (the client): the kernel ends too."""
    km = forkserver.kernel_manager_class()(kernel_name="python3", forkserver_socket=server.socket)

    async def kernel_pid() -> int:
        await km.start_kernel(cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            outputs = []
            reply = await kc.execute_interactive("import os; print(os.getpid())", timeout=30,
                                                 output_hook=outputs.append)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        return int(next(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))

    pid = asyncio.run(kernel_pid())
    client = km.provisioner.process
    assert pid != client.pid  # the kernel is the forked child, not the client
    os.kill(client.pid, signal.SIGKILL)
    client.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid), "the kernel outlived its client"
    asyncio.run(km.cleanup_resources())


ORPHAN = r"""
import asyncio, os, sys
from joulebook.site import forkserver

async def main():
    km = forkserver.kernel_manager_class()(kernel_name="python3", forkserver_socket=sys.argv[1])
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    out = []
    await kc.execute_interactive("import os; print(os.getpid())", timeout=30, output_hook=out.append)
    print(next(m["content"]["text"] for m in out if m["msg_type"] == "stream"), flush=True)
    os._exit(0)  # gone without shutting the kernel down

asyncio.run(main())
"""


def test_kernel_ends_with_the_process_that_started_it(server):
    r = subprocess.run([sys.executable, "-c", ORPHAN, server.socket], capture_output=True, text=True, timeout=120)
    pid = int(r.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid), "the kernel outlived the process that started it"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by the server) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return sys.platform != "linux"
