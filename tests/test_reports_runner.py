"""The batch runner: config, parameter checks, failures, incremental rebuilds, atomic site swap.

Builds use the fixture notebook in tests/fixtures (a few seconds per execution).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from joulebook.core.errors import InputError, UnknownNameError
from joulebook.site import config as cfg
from joulebook.site import execute as ex
from joulebook.site import index as site
from joulebook.site import runner
from joulebook.site.render import has_code

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NB = FIXTURES / "fixture_report.ipynb"
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (\S+)(?: \S+=\S+)* (ok|failed|unchanged|rejected|failed \(unchanged\)) \d+\.\ds")
STAMP = re.compile(r'<p class="jb-stamp">[^<]*</p>')

FIXTURE_TOML = """
[defaults]
timeout_s = 120

[[report]]
id = "fixture"
notebook = "fixture_report.ipynb"
title = "Fixture report (scale {scale})"
topic = "Fixtures"
[report.parameters]
label = "fixture"
[report.matrix]
scale = [1.0, 2.0]

[[report]]
id = "fixture_failing"
notebook = "fixture_report.ipynb"
title = "Fixture report that fails"
topic = "Broken on purpose"
[report.parameters]
scale = -1.0
"""


def write_config(folder: Path, text: str = FIXTURE_TOML) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE_NB, folder / FIXTURE_NB.name)
    path = folder / "reports.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- config (fast)

def test_config_expands_matrix_and_keeps_types(tmp_path):
    conf = cfg.load_config(write_config(tmp_path))
    jobs = conf.jobs()
    assert [j.slug for j in jobs] == ["fixture--scale-1.0", "fixture--scale-2.0", "fixture_failing"]
    assert [j.label for j in jobs] == ["fixture scale=1.0", "fixture scale=2.0", "fixture_failing"]
    assert jobs[1].parameters == {"label": "fixture", "scale": 2.0}
    assert isinstance(jobs[1].parameters["scale"], float)
    assert jobs[0].title == "Fixture report (scale 1.0)"
    assert conf.reports[0].timeout_s == 120
    assert conf.reports[0].test_parameter_set() == {"label": "fixture", "scale": 1.0}


def test_config_matrix_with_two_keys_is_a_product(tmp_path):
    text = FIXTURE_TOML.replace("scale = [1.0, 2.0]", 'scale = [1.0, 2.0]\nlabel = ["a", "b", "c"]')
    jobs = cfg.load_config(write_config(tmp_path, text)).jobs()
    assert len([j for j in jobs if j.spec.id == "fixture"]) == 6
    assert "fixture--scale-2.0--label-c" in {j.slug for j in jobs}


@pytest.mark.parametrize("bad, field", [
    ('[[report]]\nid = "x"\nnotebook = "a.ipynb"\ntitle = "t"\ntopic = "t"\ncolour = "red"\n', "report[0]"),
    ('[[report]]\nid = "Bad-Id"\nnotebook = "a.ipynb"\ntitle = "t"\ntopic = "t"\n', "report[0].id"),
    ('[[report]]\nid = "x"\nnotebook = "a.ipynb"\ntitle = "t"\n', "report[0].topic"),
    ('[[report]]\nid = "x"\nnotebook = "a.ipynb"\ntitle = "t"\ntopic = "t"\n[report.matrix]\nregion = []\n',
     "report[0].matrix.region"),
    ('[[report]]\nid = "x"\nnotebook = "a.ipynb"\ntitle = "t"\ntopic = "t"\n'
     '[[report]]\nid = "x"\nnotebook = "b.ipynb"\ntitle = "t"\ntopic = "t"\n', "report[1].id"),
    ('[[report]]\nid = "x"\nnotebook = "a.ipynb"\ntitle = "t"\ntopic = "t"\ntimeout_s = -3\n', "report[0].timeout_s"),
    ("this is = not toml [", "--config"),
])
def test_config_errors_name_the_field(tmp_path, bad, field):
    path = tmp_path / "reports.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(InputError) as err:
        cfg.load_config(path)
    assert err.value.parameter == field


def test_select_only_and_region(tmp_path):
    text = FIXTURE_TOML + """
[[report]]
id = "regional"
notebook = "fixture_report.ipynb"
title = "Regional"
topic = "Fixtures"
[report.matrix]
region = ["us-va", "se"]

[[report]]
id = "regional_param"
notebook = "fixture_report.ipynb"
title = "Regional by parameter"
topic = "Fixtures"
[report.parameters]
region = "us-va"
"""
    conf = cfg.load_config(write_config(tmp_path, text))
    assert [j.slug for j in cfg.select(conf, only=["fixture_failing"])] == ["fixture_failing"]
    assert [j.slug for j in cfg.select(conf, only=["fixture--scale-2.0"])] == ["fixture--scale-2.0"]
    picked = cfg.select(conf, region="sg", notebook_parameters=lambda spec: {})
    assert [j.slug for j in picked] == ["regional--region-sg", "regional_param"]
    assert picked[1].parameters["region"] == "sg"
    with pytest.raises(UnknownNameError, match="close matches: fixture"):
        cfg.select(conf, only=["fixtur"])


def test_output_folder_that_is_not_a_site_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(InputError, match="refusing to replace"):
        runner.build(write_config(tmp_path / "conf"), out, progress=None)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "precious"


# --------------------------------------------------------------------------- parameters checked before running

def test_unknown_parameter_is_rejected_before_a_kernel_starts(tmp_path, monkeypatch):
    import papermill

    def must_not_run(*a, **k):  # pragma: no cover - the point is that it is never called
        raise AssertionError("papermill.execute_notebook was called")

    monkeypatch.setattr(papermill, "execute_notebook", must_not_run)
    with pytest.raises(ex.UnknownParameterError) as err:
        ex.execute_notebook(FIXTURE_NB, {"scal": 2.0}, tmp_path / "work")
    assert err.value.close_matches == ["scale"]
    assert "unknown notebook parameter 'scal'" in str(err.value)
    assert not (tmp_path / "work").exists()


def test_unknown_parameter_in_config_fails_that_report_only(tmp_path, monkeypatch):
    text = FIXTURE_TOML.split("[[report]]\nid = \"fixture_failing\"")[0].replace("scale = [1.0, 2.0]", "scale = [1.0]")
    text += '\n[[report]]\nid = "typo"\nnotebook = "fixture_report.ipynb"\ntitle = "Typo"\ntopic = "Fixtures"\n' \
            '[report.parameters]\nscael = 3.0\n'
    lines = []
    result = runner.build(write_config(tmp_path / "conf", text), tmp_path / "site", progress=lines.append)
    by = {r.slug: r for r in result.reports}
    assert by["typo"].status == "failed" and by["typo"].failure == "rejected" and by["typo"].attempts == 0
    assert "scael" in by["typo"].error and "scale" in by["typo"].error
    assert by["fixture--scale-1.0"].status == "ok"
    assert result.exit_code == 1
    page = (tmp_path / "site" / "typo" / "report.html").read_text(encoding="utf-8")
    assert "Not executed" in page and "scael" in page
    assert any(" rejected " in line for line in lines)


def test_port_race_is_retried_once(tmp_path, monkeypatch):
    import nbformat
    import papermill

    calls = []

    def flaky(input_path, output_path, **kw):
        calls.append(kw["kernel_name"])
        if len(calls) == 1:
            raise RuntimeError("ZMQError: Address already in use (addr='tcp://127.0.0.1:50123')")
        return nbformat.read(input_path, as_version=4)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    res = ex.execute_notebook(FIXTURE_NB, {"scale": 2.0}, tmp_path / "w")
    assert res.status == "ok" and res.attempts == 2 and calls == ["python3", "python3"]
    assert "Address already in use" in res.notes[0]


@pytest.mark.slow
def test_cell_timeout_fails_the_report_and_keeps_its_notebook(tmp_path):
    res = ex.execute_notebook(FIXTURE_NB, {"sleep_s": 60.0}, tmp_path / "w", timeout_s=2)
    assert res.status == "failed" and res.failure == "runner" and "timed out" in res.error
    assert res.executed_path.is_file() and res.metrics is None


def test_kernel_environment_is_set_and_restored(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with ex.kernel_environment({ex.METRICS_ENV: "/x/metrics.json"}):
        assert "MPLBACKEND" not in os.environ
        assert os.environ[ex.METRICS_ENV] == "/x/metrics.json"
    assert os.environ["MPLBACKEND"] == "Agg"
    assert ex.METRICS_ENV not in os.environ


def test_validate_metrics():
    good = {"title": "t", "finding": "f.", "key_figures": [{"label": "a", "value": 1.0, "unit": "kWh"},
                                                           {"label": "b", "value": 2, "unit": "t"}]}
    assert ex.validate_metrics(good) == []
    assert ex.validate_metrics(None)
    assert ex.validate_metrics({**good, "finding": ""})
    assert ex.validate_metrics({**good, "key_figures": good["key_figures"][:1]})
    assert ex.validate_metrics({**good, "key_figures": [{"label": "a", "value": "1", "unit": "x"}] * 2})


def test_cache_key_changes_with_each_input():
    versions = {"numpy": "2.0"}
    base = dict(notebook_sha="n", parameters={"scale": 1.0}, lib_hash="l", data_fp="d", versions=versions)
    key = runner.cache_key(**base)
    assert key == runner.cache_key(**{**base, "parameters": {"scale": 1.0}})
    for change in ({"notebook_sha": "n2"}, {"parameters": {"scale": 2.0}}, {"parameters": {"scale": 1}},
                   {"lib_hash": "l2"}, {"data_fp": "d2"}, {"versions": {"numpy": "2.1"}}):
        assert runner.cache_key(**{**base, **change}) != key, change


def test_library_hash_covers_every_module(tmp_path, monkeypatch):
    import joulebook

    fake = tmp_path / "joulebook"
    (fake / "sub").mkdir(parents=True)
    (fake / "__init__.py").write_text("x = 1\n", encoding="utf-8")
    (fake / "sub" / "deep.py").write_text("y = 1\n", encoding="utf-8")
    monkeypatch.setattr(joulebook, "__file__", str(fake / "__init__.py"))
    before = runner.library_hash()
    (fake / "sub" / "deep.py").write_text("y = 2\n", encoding="utf-8")
    assert runner.library_hash() != before


@pytest.fixture()
def frozen_inputs(tmp_path, monkeypatch):
    """Freeze the library hash and the data folder: other people edit the shared tree while tests run."""
    from joulebook import data

    snapshot = tmp_path / "data"
    shutil.copytree(data.data_dir(), snapshot)
    monkeypatch.setenv("JOULEBOOK_DATA_DIR", str(snapshot))
    monkeypatch.setattr(runner, "library_hash", lambda: "frozen-for-test")
    yield
    data.fingerprint.cache_clear()


# --------------------------------------------------------------------------- builds (execute notebooks)

@pytest.mark.slow
def test_build_failure_incremental_force_and_determinism(tmp_path, frozen_inputs):
    conf = write_config(tmp_path / "conf")
    out = tmp_path / "site"
    lines: list[str] = []
    first = runner.build(conf, out, progress=lines.append)

    # a failing report does not stop the batch; exit code 1
    assert first.exit_code == 1
    status = {r.slug: r.status for r in first.reports}
    assert status == {"fixture--scale-1.0": "ok", "fixture--scale-2.0": "ok", "fixture_failing": "failed"}
    failed = next(r for r in first.reports if r.status == "failed")
    assert failed.failure == "cell" and "InputError: scale: must be > 0" in failed.error
    # progress: one line per report, then a summary
    assert len(lines) == 4 and all(PROGRESS.match(line) for line in lines[:3]), lines
    assert lines[-1].startswith("3 reports: 2 ok, 1 failed; 3 executed, 0 unchanged")

    # the failed page shows the code and the traceback; ok pages are code-free
    bad_page = (out / "fixture_failing" / "report.html").read_text(encoding="utf-8")
    assert "This report failed" in bad_page and "InputError" in bad_page
    assert has_code(bad_page) and "Traceback (most recent call last)" in bad_page
    ok_page = (out / "fixture--scale-2.0" / "report.html").read_text(encoding="utf-8")
    assert not has_code(ok_page) and "scale_checked" not in ok_page
    assert not (out / "fixture_failing" / "metrics.json").exists()
    metrics = json.loads((out / "fixture--scale-2.0" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["key_figures"][0]["value"] == 6.0

    # index: cards grouped by topic, the failed one marked and linked
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index('id="topic-fixtures"') < index.index('id="topic-broken-on-purpose"')
    card = index[index.index('id="report-fixture_failing"'):]
    assert "failed" in card[:600] and 'href="fixture_failing/report.html"' in card
    assert "The largest bar is 6." in index

    # manifest: parameters, versions, durations, status, cache keys
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["build"]["packages"]["papermill"] and manifest["build"]["git_commit"]
    entry = next(r for r in manifest["reports"] if r["slug"] == "fixture--scale-2.0")
    assert entry["parameters"] == {"label": "fixture", "scale": 2.0}
    assert entry["status"] == "ok" and len(entry["cache_key"]) == 20 and entry["duration_s"] > 0

    # executing never writes next to the notebook
    assert sorted(p.name for p in conf.parent.iterdir()) == ["fixture_report.ipynb", "reports.toml"]

    # second build, nothing changed: nothing is re-executed (the failure is a property of the inputs)
    lines.clear()
    second = runner.build(conf, out, progress=lines.append)
    assert second.executed == [] and all(r.reused for r in second.reports)
    assert second.exit_code == 1
    assert lines[-1].startswith("3 reports: 2 ok, 1 failed; 0 executed, 3 unchanged")

    # --force re-executes everything (in two processes); same inputs give the same bytes
    snapshot = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    third = runner.build(conf, out, force=True, jobs=2, progress=None)
    assert len(third.executed) == 3
    for rel_path, before in snapshot.items():
        after = (out / rel_path).read_bytes()
        if rel_path == "manifest.json":
            continue
        if rel_path == "index.html":
            before, after = STAMP.sub("", before.decode()), STAMP.sub("", after.decode())
        assert before == after, f"{rel_path} differs between two builds with the same inputs"

    # a changed parameter re-executes that report only
    conf.write_text(FIXTURE_TOML.replace("scale = [1.0, 2.0]", "scale = [1.0, 3.0]"), encoding="utf-8")
    fourth = runner.build(conf, out, progress=None)
    assert [r.slug for r in fourth.executed] == ["fixture--scale-3.0"]
    assert not (out / "fixture--scale-2.0").exists()


@pytest.mark.slow
def test_only_carries_the_other_reports_over_and_with_code_rerenders(tmp_path, frozen_inputs):
    conf = write_config(tmp_path / "conf")
    out = tmp_path / "site"
    runner.build(conf, out, only="fixture--scale-1.0", progress=None)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["fixture--scale-1.0"]
    res = runner.build(conf, out, only=["fixture_failing"], with_code=True, progress=None)
    assert {r.slug: r.carried_over for r in res.reports} == {"fixture--scale-1.0": True, "fixture_failing": False}
    # the carried-over page was built without code; a --with-code rebuild re-renders without re-executing
    res = runner.build(conf, out, only=["fixture--scale-1.0"], with_code=True, progress=None)
    assert res.executed == []
    assert has_code((out / "fixture--scale-1.0" / "report.html").read_text(encoding="utf-8"))


def _wait_for(predicate, timeout_s: float = 60.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_build_leaves_the_old_site_intact(tmp_path, sig):
    conf = write_config(tmp_path / "conf")
    out = tmp_path / "site"
    out.mkdir()
    old_manifest = {"generator": runner.GENERATOR, "reports": []}
    (out / "manifest.json").write_text(json.dumps(old_manifest), encoding="utf-8")
    (out / "index.html").write_text("<p>the old site</p>", encoding="utf-8")
    slow = FIXTURE_TOML.replace('label = "fixture"', 'label = "fixture"\nsleep_s = 60.0')
    conf.write_text(slow, encoding="utf-8")
    code = ("import sys; from joulebook.site import build; "
            f"build({str(conf)!r}, {str(out)!r}, progress=None)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        temp = lambda: list(tmp_path.glob(".site.building-*"))  # noqa: E731
        assert _wait_for(lambda: temp() and proc.poll() is None), proc.communicate()
        time.sleep(3.0)  # let the kernel start executing
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert (out / "index.html").read_text(encoding="utf-8") == "<p>the old site</p>"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "manifest.json"]
    if sig == signal.SIGTERM:  # cleaned up on the way out
        assert not list(tmp_path.glob(".site.building-*"))
    else:  # killed outright: the next build removes the leftovers
        assert list(tmp_path.glob(".site.building-*"))
        site.clean_stale(out)
        assert not list(tmp_path.glob(".site.building-*"))
    assert (out / "index.html").read_text(encoding="utf-8") == "<p>the old site</p>"


@pytest.mark.slow
def test_cli_build_exit_codes(tmp_path, capsys):
    from joulebook.cli import main

    conf = write_config(tmp_path / "conf", FIXTURE_TOML.replace("scale = [1.0, 2.0]", "scale = [1.0]"))
    rc = main(["reports", "build", "--config", str(conf), "--out", str(tmp_path / "site"), "--only", "fixture"])
    out = capsys.readouterr().out
    assert rc == 0 and "[1/1] fixture scale=1.0 ok" in out
    assert main(["reports", "build", "--config", str(conf), "--out", str(tmp_path / "site")]) == 1
    assert main(["reports", "build", "--config", str(conf), "--jobs", "0"]) == 2
    assert main(["reports", "build", "--config", str(tmp_path / "missing.toml")]) == 2
    assert main(["reports", "build", "--config", str(conf), "--only", "nope", "--out", str(tmp_path / "s2")]) == 2
    assert "unknown report 'nope'" in capsys.readouterr().err
