"""``joulebook reports build --cluster``: the same site from Dask workers; ``region = "all"`` matrices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from joulebook import data
from joulebook.site import config as cfg
from joulebook.site import runner

FIXTURE_NB = Path(__file__).parent / "fixtures" / "fixture_report.ipynb"

TOML = """
[defaults]
timeout_s = 120

[[report]]
id = "fixture"
notebook = "fixture_report.ipynb"
title = "Fixture report (scale {scale})"
topic = "Fixtures"
[report.parameters]
label = "fixture"
scale = 2.0

[[report]]
id = "fixture_failing"
notebook = "fixture_report.ipynb"
title = "Fixture report that fails"
topic = "Broken on purpose"
[report.parameters]
scale = -1.0
"""


def test_region_all_matrix_expands_to_every_region(tmp_path):
    shutil.copy(FIXTURE_NB, tmp_path / FIXTURE_NB.name)
    (tmp_path / "reports.toml").write_text(TOML.replace("scale = 2.0", 'scale = 2.0\n[report.matrix]\nregion = "all"'))
    jobs = [j for j in cfg.load_config(tmp_path / "reports.toml").jobs() if j.spec.id == "fixture"]
    assert [j.parameters["region"] for j in jobs] == sorted(data.regions())
    assert len(jobs) == len(data.regions()) > 50


@pytest.mark.slow
def test_cluster_build_matches_local_build_and_isolates_failures(tmp_path):
    site_dir = tmp_path / "site"
    shutil.copy(FIXTURE_NB, tmp_path / FIXTURE_NB.name)
    (tmp_path / "reports.toml").write_text(TOML)
    res = runner.build(tmp_path / "reports.toml", site_dir, cluster="local:2", progress=None)
    by = {o.id: o for o in res.reports}
    assert by["fixture"].status == "ok" and by["fixture_failing"].status == "failed"  # one failure, the other built
    assert (site_dir / "fixture" / "report.html").is_file() and (site_dir / "fixture" / "metrics.json").is_file()
    assert (site_dir / "fixture_failing" / "report.html").is_file()
    assert not list(tmp_path.glob(".*site*"))  # the temporary site was swapped into place
    cluster_metrics = json.loads((site_dir / "fixture" / "metrics.json").read_text())
    local = runner.build(tmp_path / "reports.toml", tmp_path / "local", only=["fixture"], progress=None)
    assert json.loads((tmp_path / "local" / "fixture" / "metrics.json").read_text()) == cluster_metrics
    again = runner.build(tmp_path / "reports.toml", site_dir, cluster="local:2", progress=None)  # same cache
    assert {o.id: o.reused for o in again.reports}["fixture"] and local.ok
