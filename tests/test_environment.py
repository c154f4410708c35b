"""Packaging: environment.yml mirrors pyproject.toml; importing has no side effects."""

import functools
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
    code = ("import sys, joulebook, joulebook.data, joulebook.models.training, joulebook.cli;"
            "import joulebook.data as d;"
            "assert d._load_cached.cache_info().currsize == 0, 'data read at import';"
            "assert 'pynvml' not in sys.modules, 'NVML touched at import';"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported at import'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# --- what the code imports is declared; what is declared is locked -------------------------------------

def _requirements(extras: bool):
    from packaging.requirements import Requirement

    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [Requirement(d) for d in py["project"]["dependencies"]]
    if extras:
        reqs += [Requirement(d) for extra in py["project"]["optional-dependencies"].values() for d in extra]
    return reqs


def _third_party_imports(folders):
    """{top-level module: first file importing it} for absolute imports that are neither stdlib nor local."""
    import ast

    local = {"joulebook"} | {p.stem for f in ("tests", "scripts", "benchmarks") for p in (ROOT / f).glob("*.py")}
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, path.relative_to(ROOT).as_posix())
    return found


@functools.cache
def _packages_distributions():
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _undeclared(folders, extras: bool):
    from packaging.utils import canonicalize_name

    declared = {canonicalize_name(r.name) for r in _requirements(extras)}
    dists = _packages_distributions()
    out = []
    for module, where in sorted(_third_party_imports(folders).items()):
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        if not names & declared:
            out.append(f"{module} (imported by {where}; distribution {sorted(names) or 'not installed'})")
    return out


def test_library_imports_only_declared_dependencies():
    """Everything lib/ imports is a core dependency (an install without extras must run every module)."""
    missing = _undeclared(["lib"], extras=False)
    assert not missing, "imported but not in [project] dependencies: " + "; ".join(missing)


def test_tests_and_benchmarks_import_only_declared_packages():
    missing = _undeclared(["tests", "benchmarks"], extras=True)
    assert not missing, "imported but declared neither as a dependency nor in an extra: " + "; ".join(missing)


def test_selenium_is_only_in_the_browser_extra():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    where = [k for k, v in py["project"]["optional-dependencies"].items() if any(d.startswith("selenium") for d in v)]
    assert where == ["browser"]
    assert not any(d.startswith("selenium") for d in py["project"]["dependencies"])


def _constraints() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for i, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and name and version and " " not in line, f"constraints.txt:{i}: not `name==version`: {line}"
        key = canonicalize_name(name)
        assert key not in pins, f"constraints.txt:{i}: {name} pinned twice"
        pins[key] = version
    return pins


def test_constraints_pin_every_declared_dependency_within_its_range():
    from packaging.utils import canonicalize_name

    pins = _constraints()
    assert "joulebook" not in pins, "constraints.txt must not pin the project itself"
    for req in _requirements(extras=True):
        key = canonicalize_name(req.name)
        assert key in pins, f"{req.name} is declared in pyproject.toml but not pinned in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[key], prereleases=True), \
            f"constraints.txt pins {req.name}=={pins[key]}, outside pyproject.toml's {req}"


def test_constraints_pin_the_packages_a_report_manifest_records():
    """A report's manifest.json lists these versions; the lock must fix every one of them."""
    from packaging.utils import canonicalize_name

    from joulebook.site.runner import KEY_PACKAGES

    pins = _constraints()
    assert not [p for p in KEY_PACKAGES if canonicalize_name(p) not in pins]


def test_pre_commit_ruff_is_the_locked_ruff():
    import re

    text = (ROOT / ".pre-commit-config.yaml").read_text()
    pinned = re.findall(r"ruff==([\w.]+)", text)
    assert pinned and set(pinned) == {_constraints()["ruff"]}, \
        f".pre-commit-config.yaml runs ruff {pinned}, constraints.txt locks {_constraints()['ruff']}"


# --- the Makefile reinstalls exactly when the inputs of the install change ------------------------------

def _make(tmp, *args):
    import shutil

    make = shutil.which("make")
    if make is None:
        import pytest

        pytest.skip("no make on this machine")
    return subprocess.run([make, "--no-print-directory", *args], cwd=tmp, capture_output=True, text=True, timeout=60)


def test_make_reinstalls_when_pyproject_setup_or_constraints_change(tmp_path):
    import os
    import shutil

    for name in ("Makefile", "pyproject.toml", "setup.py", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    bindir = tmp_path / ".venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").write_text("#!/bin/sh\n")
    (bindir / "python").chmod(0o755)
    stamp = tmp_path / ".venv" / ".installed-stamp"
    stamp.touch()
    later = max((tmp_path / n).stat().st_mtime for n in ("pyproject.toml", "setup.py", "constraints.txt")) + 10
    os.utime(stamp, (later, later))
    assert _make(tmp_path, "-q", "setup").returncode == 0, "setup is not up to date right after an install"
    dry = _make(tmp_path, "-n", "test")
    assert "pip install" not in dry.stdout and "pytest" in dry.stdout
    for name in ("pyproject.toml", "setup.py", "constraints.txt"):
        os.utime(tmp_path / name, (later + 10, later + 10))
        dry = _make(tmp_path, "-n", "setup").stdout
        assert "-c constraints.txt -e '.[lab,dev,browser]'" in dry, f"editing {name} does not reinstall:\n{dry}"
        assert "ipykernel install --sys-prefix --name python3" in dry
        os.utime(stamp, (later + 20, later + 20))
        later += 20
    assert "-c " not in _make(tmp_path, "-n", "-B", "setup", "CONSTRAINTS=").stdout.split("pip install", 1)[1].split("\n")[0]


def test_make_has_the_contributor_targets():
    import re

    text = (ROOT / "Makefile").read_text()
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = re.search(r"^EXTRAS \?= (\S+)$", text, re.M).group(1).split(",")
    assert set(extras) == set(py["project"]["optional-dependencies"]), "make installs every extra (browser for CI)"
    for target in ("setup", "report", "test", "lint", "lab", "bench", "constraints", "clean"):
        assert f"\n{target}:" in text, f"make {target} is missing"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make lint") < ci.index("make test"), ".ci/run runs ruff (make lint) before the tests"
