"""Packaging: environment.yml mirrors pyproject.toml; importing has no side effects."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env_yaml_lines():
    return [ln.strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]


def test_environment_yml_installs_the_project_with_its_extras():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(py["project"]["optional-dependencies"])
    lines = _env_yaml_lines()
    pip_lines = [ln for ln in lines if ln.startswith("- -e .")]
    assert len(pip_lines) == 1, "environment.yml must pip-install the project (- -e .[...])"
    spec = pip_lines[0].split("[", 1)[1].rstrip("]").split(",")
    assert set(spec) == extras, f"environment.yml extras {spec} != pyproject extras {sorted(extras)}"
    req = py["project"]["requires-python"].lstrip(">=")
    assert f"- python>={req}" in lines


def test_environment_yml_names_no_package_that_pyproject_does_not():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in py["project"]["dependencies"]}
    for extra in py["project"]["optional-dependencies"].values():
        deps |= {d.split(">")[0].split("=")[0].strip().lower() for d in extra}
    lines = _env_yaml_lines()
    start = lines.index("dependencies:")
    conda_pkgs = [ln[2:].split(">")[0].split("=")[0].strip() for ln in lines[start + 1:]
                  if ln.startswith("- ") and not ln.startswith("- -e") and ln != "- pip:"]
    extra = [p for p in conda_pkgs if p not in {"python", "pip"} and p.lower() not in deps]
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {extra}"


def test_nvidia_ml_py_not_deprecated_pynvml():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = [d.split(">")[0].strip() for d in py["project"]["dependencies"]]
    assert "nvidia-ml-py" in names and "pynvml" not in names


def test_import_has_no_side_effects():
    code = ("import sys, joulebook, joulebook.data, joulebook.training, joulebook.cli;"
            "import joulebook.data as d;"
            "assert d._load_cached.cache_info().currsize == 0, 'data read at import';"
            "assert 'pynvml' not in sys.modules, 'NVML touched at import';"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported at import'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
