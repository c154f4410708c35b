"""The site around the report pages: ``index.html`` and the atomic swap into place.

Pages are jinja2 templates (``templates/``) with autoescaping on, and the site's
stylesheet is one file, ``site.css``, that the index and every report page link to.
The index is a section front page: one card per report (title, the one-line
finding: the headline of the page's finding block when it shows one, else the
``finding`` of its ``metrics.json``; and the key figures from ``metrics.json``), grouped by topic in
the order of ``reports.toml``; failed reports are marked and link to their page
with the traceback. It loads nothing from the network. Apart from the one
element of class ``jb-stamp`` (build time), the same outcomes give the same bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from joulebook.core import format as fmt
from joulebook.core.errors import InputError, JoulebookError
from joulebook.core.format import MISSING
from joulebook.display import tables
from joulebook.site.render import SITE_CSS, templates_env

STAMP_CLASS = "jb-stamp"

def format_number(value: Any) -> str:
    """An index card's number: :func:`joulebook.core.format.count` (3 significant figures, thousands
    separators, million/billion in words); a boolean or a missing value is the missing marker."""
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, str):  # text where a number was expected: shown as given (the template escapes it)
        return fmt.text(value)
    try:
        return fmt.count(value)
    except (TypeError, ValueError):
        return fmt.text(value)


def _card(o: Mapping[str, Any]) -> dict[str, Any]:
    """The values one index card shows (plain text: the template escapes them)."""
    failed = o["status"] != "ok"
    metrics = o.get("metrics") or {}
    title = (metrics.get("title") if not failed else None) or o["title"]
    params = " · ".join(f"{k.replace('_', ' ')}: {tables.parameter_text(k, v)}"
                        for k, v in o.get("matrix_values", {}).items())
    return {"slug": o["slug"], "page": o["page"], "failed": failed, "title": title, "params": params, "id": o["id"],
            "error": o.get("error") or "unknown error",
            "finding": (o.get("finding") or metrics.get("finding")) if not failed else None,
            "figures": [{"value": f.get("value"), "unit": f.get("unit", ""), "label": f.get("label", "")}
                        for f in (metrics.get("key_figures") or [])] if not failed else [],
            "executed": o.get("executed"), "metrics_file": o.get("metrics_file")}


def _topic_anchor(topic: str) -> str:
    return "topic-" + (re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-") or "other")


def index_html(outcomes: Iterable[Mapping[str, Any]], *, stamp: str, facts: str, css_href: str = SITE_CSS) -> str:
    """The front page (``templates/index.html.j2``, autoescaped).

    ``stamp``: the build time text; ``facts``: commit/data line (deterministic);
    ``css_href``: the site's stylesheet (written beside it by the runner).
    """
    outcomes = list(outcomes)
    topics: dict[str, list[Mapping[str, Any]]] = {}
    for o in outcomes:
        topics.setdefault(o["topic"], []).append(o)
    n_failed = sum(1 for o in outcomes if o["status"] != "ok")
    summary = f"{len(outcomes)} report{'s' if len(outcomes) != 1 else ''}"
    if n_failed:
        summary += f", {n_failed} failed"
    env = templates_env(number=format_number)
    return env.get_template("index.html.j2").render(
        summary=summary, stamp=stamp, facts=facts, css_href=css_href, stamp_class=STAMP_CLASS,
        topics=[{"name": t, "anchor": _topic_anchor(t), "cards": [_card(o) for o in items]}
                for t, items in topics.items()])


# --------------------------------------------------------------------------- atomic swap

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target``; the previous site is removed afterwards.

    On Linux both folders are exchanged in one system call, so a reader sees either
    the old or the new site, never a mix or nothing. Elsewhere two renames are used
    (the old site is parked as ``.<name>.old-*`` and recovered by the next build).
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now holds the old site
        return
    parked = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, parked)
    os.rename(new, target)
    shutil.rmtree(parked, ignore_errors=True)


def temp_prefix(target: Path) -> str:
    return f".{target.name}.building-"


def clean_stale(target: Path) -> list[Path]:
    """Remove temporary folders of interrupted builds (whose process is gone); returns them.

    If the site itself is missing but a parked old site exists (interrupted between
    two renames on a platform without atomic exchange), the old site is restored.
    """
    removed = []
    parent = target.parent
    if not parent.is_dir():
        return removed
    for p in sorted(parent.glob(f".{target.name}.building-*")):
        m = re.search(r"-building-(\d+)-", p.name)
        if m and _alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    for p in sorted(parent.glob(f".{target.name}.old-*")):
        if not target.exists():
            os.rename(p, target)
        else:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- one build at a time

class SiteBusyError(JoulebookError):
    """Another build is writing the same site folder."""


def lock_path(target: Path) -> Path:
    """The lock file of a site folder: ``.<name>.lock`` beside it (the folder itself is swapped out)."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def locked(target: Path) -> Iterator[Path]:
    """Hold the site folder's lock for the whole build; a second build refuses at once.

    ``fcntl.flock`` on :func:`lock_path`: the kernel drops the lock when the holder exits,
    however it exits (``kill -9`` included), so a stale lock never blocks a later build.
    The file is removed when the build ends (a killed build leaves it, unlocked and harmless).
    Raises :class:`SiteBusyError` (one line, with the holder's pid) when the folder is
    locked, and :class:`~joulebook.core.errors.InputError` (``--out``) when its parent folder
    cannot be written. Where ``fcntl`` does not exist, no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield target
        return
    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError("--out", f"cannot write the site folder {target}: {e.strerror or e}") from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise InputError("--out", f"cannot write the site folder {target}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            except OSError:
                holder = "unknown"
            os.close(fd)
            raise SiteBusyError(f"--out: another `joulebook reports build` (pid {holder}) is writing {target}; "
                                "wait for it to finish and run again") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield target
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # removed while still locked, so no second holder can lock this inode later
        os.close(fd)  # closing the descriptor releases the lock
