"""``pip install .`` (not editable) into a new venv gives a joulebook that works from any folder.

The wheel is built from a copy of the checkout (the build writes ``build/`` and
``*.egg-info``, which must not land in the tree), installed into a new venv,
and run from an empty folder with ``PYTHONPATH`` and ``JOULEBOOK_DATA_DIR``
unset: every module of the package imports, ``data_dir()`` is the packaged copy
of ``data/`` (every file, byte for byte), and ``joulebook estimate training``
gives the same JSON as the checkout.

The new venv gets its third-party dependencies in one of two ways:

* by default, a ``.pth`` line pointing at this interpreter's site-packages (no
  download; the ``.pth`` files in there, such as the editable install of the
  checkout, are not processed, so the only joulebook the venv can see is the
  wheel's; that is asserted);
* with ``JOULEBOOK_INSTALL_FROM_INDEX=1`` (``.ci/run`` sets it), ``pip install``
  of the wheel with its declared dependencies from the package index, pinned by
  ``constraints.txt``: the full fresh install.

Building the wheel needs the build backend (``setuptools>=77``) from the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from joulebook import data

ROOT = Path(__file__).resolve().parents[1]
FROM_INDEX = os.environ.get("JOULEBOOK_INSTALL_FROM_INDEX") == "1"
# what a wheel is built from (MANIFEST.in puts the same into an sdist)
SOURCE = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "lib", "data"]
ESTIMATE = ["estimate", "training", "--params", "7e9", "--tokens", "2e12", "--accelerator", "a100-sxm4-80gb",
            "--count", "1024", "--precision", "bf16", "--region", "us-va", "--json"]

PROBE = r"""
import hashlib, importlib, json, pkgutil, sys
import joulebook, joulebook.data as d
mods = sorted(m.name for m in pkgutil.walk_packages(joulebook.__path__, "joulebook."))
for m in mods:
    if m != "joulebook.__main__":  # importing __main__ runs the CLI
        importlib.import_module(m)
root = d.data_dir()
files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
         for p in root.rglob("*") if p.is_file()}
print(json.dumps({"package": joulebook.__file__, "data_dir": str(root), "modules": mods, "files": files,
                  "prefix": sys.prefix}))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", data.DATA_ENV, "VIRTUAL_ENV"}}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(cmd, cwd, timeout=600, env=None):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _clean_env(), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _ignore(_dir, names):
    return [n for n in names if n in {"__pycache__", ".ipynb_checkpoints", "build"} or n.endswith(".egg-info")
            or n.startswith(".") or n.endswith((".pyc", ".tmp"))]


def source_modules() -> list[str]:
    pkg = ROOT / "lib" / "joulebook"
    out = []
    for p in pkg.rglob("*.py"):
        parts = list(p.relative_to(pkg.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return sorted(m for m in out if m != "joulebook")


def source_data_files() -> dict[str, str]:
    """Every file of ``data/`` a wheel must carry (setup.py skips hidden files and temp files)."""
    root = ROOT / "data"
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts) \
                and not p.name.endswith((".tmp", ".pyc", ".swp", "~")):
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=_ignore)
        else:
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", tmp / "dist", src], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("joulebook-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    py = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", py, "install", "--quiet"]
    if FROM_INDEX:
        _run(pip + ["-c", ROOT / "constraints.txt", wheel], cwd=tmp, timeout=900)
    else:
        purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            cwd=tmp).stdout.strip())
        (purelib / "_joulebook_test_dependencies.pth").write_text(
            "\n".join(dict.fromkeys(site.getsitepackages())) + "\n")
        _run(pip + ["--no-deps", wheel], cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return {"wheel": wheel, "venv": venv, "py": py, "cwd": elsewhere}


@pytest.mark.slow
def test_wheel_carries_the_package_and_every_data_file(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert all(t == "joulebook" or (t.startswith("joulebook-") and t.endswith(".dist-info")) for t in tops), \
        f"the wheel installs more than the joulebook package: {sorted(tops)}"
    packaged = {n.removeprefix("joulebook/_data/") for n in names if n.startswith("joulebook/_data/")}
    missing = sorted(set(source_data_files()) - packaged)
    assert not missing, f"data files missing from the wheel: {missing}"
    pkg = ROOT / "lib" / "joulebook"
    resources = sorted(f"joulebook/{p.relative_to(pkg).as_posix()}" for p in pkg.rglob("*")
                       if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts)
    assert "joulebook/py.typed" in resources
    assert not [r for r in resources if r not in names], "package files (templates, py.typed) missing from the wheel"


@pytest.mark.slow
def test_installed_package_imports_every_module_and_reads_packaged_data(installed):
    r = _run([installed["py"], "-c", PROBE], cwd=installed["cwd"])
    got = json.loads(r.stdout)
    venv = installed["venv"].resolve()
    assert Path(got["package"]).resolve().is_relative_to(venv), f"imported joulebook from {got['package']}"
    assert Path(got["data_dir"]).resolve().is_relative_to(venv), f"data read from {got['data_dir']}"
    assert Path(got["data_dir"]).name == "_data"
    assert got["modules"] == source_modules()
    assert got["files"] == source_data_files()


@pytest.mark.slow
def test_installed_cli_estimates_from_another_folder_like_the_checkout(installed):
    exe = installed["venv"] / "bin" / "joulebook"
    r = _run([exe, *ESTIMATE], cwd=installed["cwd"])
    assert not list(installed["cwd"].iterdir()), "the CLI wrote into the working folder"
    env = _clean_env()
    env["PYTHONPATH"] = str(ROOT / "lib")
    ref = _run([sys.executable, "-m", "joulebook", *ESTIMATE], cwd=ROOT, env=env)
    assert json.loads(r.stdout) == json.loads(ref.stdout)


@pytest.mark.slow
def test_installed_metadata_declares_the_dependencies(installed):
    code = "import importlib.metadata as m, json; print(json.dumps(m.requires('joulebook')))"
    requires = json.loads(_run([installed["py"], "-c", code], cwd=installed["cwd"]).stdout)
    names = {r.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in requires
             if "extra ==" not in r}
    assert {"jinja2", "ipython", "traitlets", "matplotlib-inline", "pandas"} <= names
    assert "selenium" not in names, "selenium belongs to the browser extra"


@pytest.mark.slow
def test_reports_build_needs_a_checkout_and_says_so_in_one_line(installed):
    """Decision: the notebooks are not shipped; ``reports build`` runs on a checkout (or ``--config``)."""
    exe = installed["venv"] / "bin" / "joulebook"
    r = subprocess.run([str(exe), "reports", "build", "--out", str(installed["cwd"] / "site")],
                       cwd=installed["cwd"], env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "reports.toml" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (installed["cwd"] / "site").exists()


def test_data_dir_is_the_override_else_the_checkout(monkeypatch, tmp_path):
    """Fast half of the order in ``data_dir()`` (the packaged copy is covered by the install tests above)."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    assert data.data_dir().resolve() == (ROOT / "data").resolve()
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.data_dir() == tmp_path


def test_setup_py_packages_what_the_tests_expect():
    """The build step and this test agree on which files of data/ ship (hidden and temp files do not)."""
    import runpy
    from unittest import mock

    with mock.patch("setuptools.setup"):
        ns = runpy.run_path(str(ROOT / "setup.py"), run_name="not_main")
    assert {p.as_posix() for p in ns["data_files"]()} == set(source_data_files())
