"""Report kernels forked from a warm process: a kernel start without the per-report imports.

A fresh ipykernel spends about two seconds of CPU before a notebook's first line does
anything useful: starting Python, importing ipykernel, then pandas, matplotlib, seaborn
and joulebook in the notebook's first cells. With a dozen reports that is most of a core.

The fork server is a process (``python -m joulebook.site.forkserver SOCKET``) that
imports those modules once, *without* starting a kernel, and then waits on a Unix socket.
Each report's kernel is still started by jupyter_client (so nbclient/papermill work as
always), but through ``ForkKernelManager`` (:func:`kernel_manager_class`), whose command is a tiny client
(:data:`CLIENT`, Python without ``site``) that asks the server to fork. The forked child
takes the client's stdin/stdout/stderr, working folder and environment, reseeds the random
generators and runs ``ipykernel`` as ``python -m ipykernel_launcher`` would. The client stays
in place of the kernel process for jupyter_client: signals sent to it (interrupt,
terminate) are passed on to the kernel's process group, the kernel ends when the client
dies (even by SIGKILL) and when the process that started it dies (as a fresh ipykernel
does), the client when the kernel exits.

What a notebook sees is the same as in a fresh kernel, except that the preloaded modules are
already in ``sys.modules`` (they import nothing at import time that depends on the run:
environment variables such as ``JOULEBOOK_METRICS_PATH`` are read when called) and the
string hash seed is shared between kernels of one server.

Fallbacks, so a report never fails because of this: when the server cannot be reached (not
started, died, preload failed) the client ``exec``s the normal kernel command; platforms
without ``fork`` or Unix sockets, and ``JOULEBOOK_FORK_KERNELS=0``, use the normal command
from the start. The server is started with the environment the kernels would inherit and is
restarted when that environment changes (:func:`shared`).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from functools import cache
from typing import Any

ENABLE_ENV = "JOULEBOOK_FORK_KERNELS"  # "0": every kernel is a fresh process
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets when MPLBACKEND is unset
# imported once by the server; a module that fails to import is skipped (the notebook imports it itself)
# (ipykernel.ipkernel imports the debugger, debugpy: 0.2 s of every kernel start when left to the kernel)
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.history", "sqlite3",
           "psutil", "numpy", "pandas", "matplotlib", "matplotlib.pyplot", "seaborn")
PRELOAD_PACKAGES = ("joulebook.display", "joulebook.stories")  # every module below these
# environment variables that differ from kernel to kernel and do not shape what the server imports
PER_RUN_ENV = ("JOULEBOOK_METRICS_PATH", "JOULEBOOK_GIT_COMMIT", "JPY_PARENT_PID", "JPY_SESSION_NAME",
               "PYDEVD_DISABLE_FILE_VALIDATION", "MPLBACKEND")
SERVER_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # debugpy (imported by ipykernel) stays quiet
_HEADER = 8  # bytes of a length or pid

# The kernel command jupyter_client runs: argv = [python, -I, -S, -c, CLIENT, SOCKET, *real kernel command].
CLIENT = r"""
import json, os, select, signal, socket, sys
sock_path, cmd = sys.argv[1], sys.argv[2:]
parent = os.getppid()
pid = 0
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    msg = json.dumps({"argv": cmd[cmd.index("ipykernel_launcher") + 1:], "cwd": os.getcwd(),
                      "env": dict(os.environ)}).encode()
    socket.send_fds(s, [len(msg).to_bytes(8, "big")], [0, 1, 2])
    s.sendall(msg)
    got = b""
    while len(got) < 8:
        part = s.recv(8 - len(got))
        if not part:
            raise OSError("fork server closed the connection")
        got += part
    pid = int.from_bytes(got, "big")
except (OSError, ValueError):
    if not pid:
        os.execv(cmd[0], cmd)

def forward(signum, frame):
    try:
        os.killpg(pid, signum)
    except OSError:
        pass

for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
    signal.signal(getattr(signal, name), forward)
last = b""
while True:
    if not select.select([s], [], [], 1.0)[0]:
        if os.getppid() != parent:  # whoever started the kernel is gone: so goes the kernel (as ipykernel does)
            forward(signal.SIGTERM, None)
            sys.exit(1)
        continue
    part = s.recv(64)
    if not part:
        break
    last = part
sys.exit(last[-1] if last else 1)
"""


def supported() -> bool:
    """Fork servers work here (POSIX with fork and Unix sockets) and are not switched off."""
    return (os.environ.get(ENABLE_ENV, "1") != "0" and hasattr(os, "fork") and hasattr(socket, "AF_UNIX")
            and hasattr(socket, "send_fds") and sys.platform != "darwin")  # macOS: fork after imports is unsafe


def client_command(sock_path: str, cmd: list[str]) -> list[str]:
    """The command that starts a kernel through the server at ``sock_path``; ``cmd`` when it cannot."""
    if not sock_path or "ipykernel_launcher" not in cmd:
        return cmd
    return [sys.executable, "-I", "-S", "-c", CLIENT, sock_path, *cmd]


@cache
def kernel_manager_class() -> Any:
    """``ForkKernelManager``: nbclient's kernel manager (jupyter_client's AsyncKernelManager) whose kernels come
    from the fork server at its ``forkserver_socket`` (configurable; empty: the normal way). Built on first
    use, so that importing this module does not import jupyter_client."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Type, Unicode

    class ForkKernelManager(AsyncKernelManager):
        forkserver_socket = Unicode("", config=True, help="Unix socket of a joulebook fork server")
        client_factory = Type(klass=_ready_client_class(), default_value=_ready_client_class())

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            # only a kernel of this very interpreter may be forked from a server running it
            if cmd and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable):
                return client_command(self.forkserver_socket, cmd)
            return cmd

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # after a kill, jupyter_client checks every 0.1 s whether the kernel is gone: a tenth of a second
            # per report that a forked kernel (gone within milliseconds) does not need
            await super()._async_wait(pollinterval=min(pollinterval, 0.01))

    return ForkKernelManager


@cache
def _ready_client_class() -> Any:
    """The kernel client of :class:`ForkKernelManager`: jupyter_client's asynchronous client, but ready as soon as
    the kernel has answered ``kernel_info`` and IOPub delivers (jupyter_client then also waits until IOPub has
    been quiet for 0.2 s: a fifth of a second of every report, for status messages that nbclient, which only
    reads replies to its own requests, ignores anyway)."""
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=0.5)
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:  # a message on IOPub: its subscription is live (else ask again)
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(reply)
                        break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
            while True:  # drop what is already queued, without waiting for more
                try:
                    await self.iopub_channel.get_msg(timeout=0.005)
                except Empty:
                    break

    return ReadyClient


def env_key(env: Mapping[str, str]) -> str:
    """What of an environment shapes the server's imports: all of it but the per-run variables."""
    kept = {k: v for k, v in env.items() if k not in PER_RUN_ENV}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


class ForkServer:
    """A running fork server process; :attr:`socket` is what ``ForkKernelManager`` needs."""

    def __init__(self, env: Mapping[str, str] | None = None):
        env = dict(os.environ if env is None else env)
        for k in PER_RUN_ENV:
            env.pop(k, None)
        self.key = env_key(env)
        env.update(SERVER_ENV)
        self._dir = tempfile.mkdtemp(prefix="jb-fork-")
        self.socket = os.path.join(self._dir, "s")
        # stdin is a pipe: the server stops when it closes (this process ended, however it ended)
        try:
            self.process = self._start(env)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def _start(self, env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "joulebook.site.forkserver", self.socket],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, cwd=self._dir, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the server (kernels already forked run on). An idle server stops at once when its stdin
        closes; one still importing (no ready mark yet) is terminated at once, so closing never waits for
        the imports (a build that stops at a bad parameter exits without delay)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=0.5 if os.path.exists(ready_mark(self.socket)) else 0)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        elif self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: ForkServer | None = None
_shared_lock = threading.Lock()


def shared() -> ForkServer | None:
    """This process's fork server for kernels inheriting ``os.environ`` as it is now (None if unsupported).

    Started on first use, and again when the environment changed or the server died; closed at exit.
    A server that cannot be started (no temporary folder, no process) is None too: fresh kernels then.
    """
    global _shared
    if not supported():
        return None
    with _shared_lock:
        key = env_key(os.environ)
        if _shared is not None and (_shared.key != key or not _shared.alive()):
            _shared.close()
            _shared = None
        if _shared is None:
            try:
                _shared = ForkServer()
            except OSError:
                return None
        return _shared


def detach_inherited() -> None:
    """In a process forked from one holding the shared server: drop the inherited handle without stopping the
    server (the server stops when every copy of its stdin pipe is closed: the parent's stays open). Kernels are
    still forked from it through its socket path."""
    global _shared
    server, _shared = _shared, None
    if server is not None and server.process.stdin is not None:
        with contextlib.suppress(OSError):
            os.close(server.process.stdin.fileno())


@atexit.register
def _close_shared() -> None:
    if _shared is not None:
        _shared.close()


# --------------------------------------------------------------------------- the server process

class _KernelLike:
    """What ``get_ipython()`` answers in a kernel, as far as import-time checks look (``hasattr(ip, "kernel")``)."""

    kernel = True


def preload() -> list[str]:
    """Import what report kernels import; returns the modules that failed (skipped).

    Imports run as they would in a kernel: ``MPLBACKEND`` is the inline backend (ipykernel sets it
    before any notebook code) and a builtin ``get_ipython`` exists (pandas, for one, picks its
    display defaults by it: 20 columns in a kernel, the terminal's width elsewhere).
    """
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    builtins.get_ipython = _KernelLike  # type: ignore[attr-defined]
    try:
        return _import_all()
    finally:
        del builtins.get_ipython  # type: ignore[attr-defined]
        os.environ.pop("MPLBACKEND", None)  # each kernel sets it again from its own environment


def _import_all() -> list[str]:
    failed = []
    try:  # every data table read and validated once: kernels reuse the validated copies (see _fresh_state)
        importlib.import_module("joulebook.data").validate_all()
    except Exception:
        failed.append("joulebook.data tables")
    names = list(PRELOAD)
    for pkg in PRELOAD_PACKAGES:
        try:
            mod = importlib.import_module(pkg)
        except Exception:
            failed.append(pkg)
            continue
        names += [m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise OSError("client closed the connection")
        buf += part
    return buf


def _child(conn: socket.socket) -> None:
    """In the forked child: become the client's kernel. Never returns."""
    code = 1
    try:
        os.setpgid(0, 0)  # the kernel and what it starts: one group the client signals
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        header, fds, _flags, _addr = socket.recv_fds(conn, _HEADER, 3)
        if len(header) < _HEADER:
            header += _recv_exact(conn, _HEADER - len(header))
        msg = json.loads(_recv_exact(conn, int.from_bytes(header, "big")))
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(msg["cwd"])
        os.environ.clear()
        os.environ.update(msg["env"])
        _fresh_state()
        conn.sendall(os.getpid().to_bytes(_HEADER, "big"))

        def watch() -> None:  # the client is gone (killed): so is the kernel
            with contextlib.suppress(OSError):
                while conn.recv(64):
                    pass
            os.killpg(0, signal.SIGKILL)

        threading.Thread(target=watch, name="joulebook-fork-client", daemon=True).start()
        spec = importlib.util.find_spec("ipykernel_launcher")  # argv[0] as `python -m ipykernel_launcher` sets it
        sys.argv = [spec.origin if spec and spec.origin else "ipykernel_launcher", *msg["argv"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(BaseException):
            conn.sendall(bytes([code & 0xFF]))
        os._exit(code)


def _fresh_state() -> None:
    """What a new process would have that a forked child shares with the server.

    Random generators are reseeded. joulebook's data caches keyed by path are cleared (the data
    folder or its files may differ for this kernel); its validated tables are kept, as they are
    keyed by the files' content, so an unchanged table is not read and validated again.
    """
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()
    data = sys.modules.get("joulebook.data")
    if data is not None:
        data.clear_cache()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def ready_mark(sock_path: str) -> str:
    """The file a server creates beside its socket once its imports are done."""
    return sock_path + ".ready"


def serve(sock_path: str) -> int:
    """Listen first (clients queue while the imports run), preload, then fork one kernel per connection."""
    if sys.path and (sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(64)
    preload()
    with open(ready_mark(sock_path), "w"):  # the imports are done: closing may now wait for a clean exit
        pass
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([srv, stdin], [], [], 1.0)
        _reap()  # kernels are waited for here, so their CPU time counts as this process's children's
        if stdin in ready and not os.read(stdin, 4096):
            _reap()
            return 0  # the starting process closed the pipe (or died)
        if srv in ready:
            conn, _ = srv.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                srv.close()
                _child(conn)
            conn.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
