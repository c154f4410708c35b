"""Atomic file writes (temp file in the same folder, fsync, rename), JSON conversion and TOML reading.

Files get the usual mode of a new file (``0o666`` less the process umask), not the
owner-only ``0o600`` of :func:`tempfile.mkstemp`, so a published site is readable
without a chmod pass.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from joulebook.core.errors import InputError


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars, NaN (to null), dataclasses and mappings for ``json.dumps``."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent, sort_keys=True) + "\n")


def check_output_file(path: str | os.PathLike, parameter: str = "--out") -> Path:
    """Check that ``path`` can be written as a file before any work starts; raises :class:`InputError`.

    Refused: an existing folder, a parent that does not exist or is not a folder, a parent this
    process may not write into. (Writes can still fail later, e.g. a full disk: callers turn that
    ``OSError`` into one line too.)
    """
    p = Path(path).expanduser()
    if str(path).strip() == "":
        raise InputError(parameter, "expected a file name, got ''")
    if p.is_dir():
        raise InputError(parameter, f"{p} is a folder; give a file name inside it")
    parent = p.parent
    if not parent.exists():
        raise InputError(parameter, f"folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(parameter, f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(parameter, f"cannot write {p}: permission denied")
    return p


def read_toml(path: str | os.PathLike, parameter: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing file or a syntax error is an :class:`InputError` naming ``parameter``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(parameter, f"no such file: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(parameter, f"{path}: {e}") from None
