"""Build step only: ship the repository's ``data/`` inside the package.

Everything else is declared in ``pyproject.toml``. The tables live in git in one
place, ``data/`` at the repository root; a wheel (``pip install .``) gets a copy
of the whole folder, recursively, as ``joulebook/_data/``, which
``joulebook.data.data_dir()`` finds when there is no checkout around it. An
editable install copies nothing: it reads ``data/`` of the checkout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.errors import SetupError

ROOT = Path(os.path.dirname(os.path.abspath(__file__)))
DATA = ROOT / "data"
PACKAGED = Path("joulebook") / "_data"  # inside the package; joulebook/data/__init__.py looks here
SKIP_SUFFIXES = (".tmp", ".pyc", ".swp", "~")


def data_files() -> list[Path]:
    """Every file under ``data/`` (relative paths), without hidden files, caches and temp files."""
    if not (DATA / "sources.csv").is_file():
        raise SetupError(f"{DATA}: the data tables are missing (expected data/sources.csv); "
                         "build from a joulebook checkout or an sdist that includes data/")
    out = []
    for dirpath, dirnames, filenames in os.walk(DATA):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(SKIP_SUFFIXES):
                continue
            out.append((Path(dirpath) / name).relative_to(DATA))
    return out


class build_py(_build_py):
    """The standard build plus a copy of ``data/`` into ``joulebook/_data/`` (not in editable mode)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        # start clean: a table removed from data/ must not survive in a reused build/ folder
        shutil.rmtree(Path(self.build_lib) / PACKAGED, ignore_errors=True)
        for rel in data_files():
            target = Path(self.build_lib) / PACKAGED / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(DATA / rel), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(Path(self.build_lib) / PACKAGED / rel) for rel in data_files()]
        return outputs


setup(cmdclass={"build_py": build_py})
