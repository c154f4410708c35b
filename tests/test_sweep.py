"""``joulebook sweep``: grid arithmetic, hourly intensity, local vs Dask, worker death, resume, bad specs."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from joulebook.cli import main
from joulebook.models import grid
from joulebook.models.training import estimate_training
from joulebook.sweeps import engine as sweep

SPEC = """
model = "training"
partition_size = {part}
group_by = ["region", "start_hour"]
[fixed]
params = 1e9
tokens = 2e10
count = 8
[axes]
accelerator = ["h100-sxm", "a100-sxm4-80gb"]
region = ["us-va", "se", "in"]
start = "2026-03-01T00:00/2026-03-0{days}T23:00"
"""


def write_spec(tmp_path: Path, text: str = SPEC, **fmt) -> Path:
    fmt = {"part": 97, "days": 3, **fmt}
    p = tmp_path / "spec.toml"
    p.write_text(textwrap.dedent(text.format(**fmt)))
    return p


def read_all(out: Path) -> pd.DataFrame:
    df = sweep.read_sweep(out)
    return df.sort_values("scenario").reset_index(drop=True)


def test_grid_rows_follow_the_cartesian_product(tmp_path):
    spec = sweep.load_spec(write_spec(tmp_path))
    assert spec.n_scenarios == 2 * 3 * 72
    payload = spec.payload()
    whole = sweep.scenario_frame(payload, 0, spec.n_scenarios)
    expect = pd.MultiIndex.from_product([a.values for a in spec.axes]).to_frame(index=False)
    assert (whole["accelerator"].astype(str).to_numpy() == expect[0].to_numpy()).all()
    assert (whole["region"].astype(str).to_numpy() == expect[1].to_numpy()).all()
    assert (whole["start"].to_numpy() == expect[2].to_numpy()).all()
    part = sweep.scenario_frame(payload, 100, 250)  # any slice is the same rows, rebuilt by index arithmetic
    pd.testing.assert_frame_equal(part, whole.iloc[100:250].reset_index(drop=True), check_categorical=False)


def test_hourly_window_intensity_matches_the_scalar_model():
    rng = np.random.default_rng(0)
    for region in ("us-va", "us-ca", "de", "in", "sg"):
        starts = np.datetime64("2026-01-01T00:00", "m") + rng.integers(0, 365 * 24, 6).astype("timedelta64[h]")
        durs = np.array([0.5, 1.0, 7.25, 30.0, 400.0, 40_000.0])  # the last one is longer than the 4-year cycle
        got = sweep.window_intensity(region, starts, durs)
        want = [grid.mean_intensity(region, pd.Timestamp(s).isoformat(), d) for s, d in zip(starts, durs, strict=True)]
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_sweep_rows_equal_the_scalar_api_and_summary_is_consistent(tmp_path):
    res = sweep.run_sweep(sweep.load_spec(write_spec(tmp_path)), tmp_path / "out", jobs=1)
    df = read_all(tmp_path / "out")
    assert df["scenario"].tolist() == list(range(res.scenarios))
    for i in (0, 71, 150, 299, 431):
        r = df.iloc[i]
        e = estimate_training(params=1e9, tokens=2e10, count=8, accelerator=r.accelerator, region=r.region,
                              start=pd.Timestamp(r.start).isoformat())
        for k in ("emissions_kg", "facility_energy_kwh", "cloud_cost_usd"):
            assert r[k] == pytest.approx(e[k], rel=1e-9), k
        assert r["emissions_kg_high"] == pytest.approx(e.high["emissions_kg"], rel=1e-9)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["scenarios"] == len(df) and s["data_fingerprint"] and s["versions"]["pyarrow"] != "absent"
    for col in ("emissions_kg", "facility_energy_kwh", "water_l"):
        st = s["columns"][col]
        assert st["min"] == df[col].min() and st["max"] == df[col].max()
        lower_median = np.sort(df[col].to_numpy())[(len(df) - 1) // 2]
        assert st["median_approx"] == pytest.approx(lower_median, rel=0.0116)
    best = pd.DataFrame(s["best"]["rows"])
    assert len(best) == 3 * 24  # region x start hour
    exact = df.loc[df.groupby(["region", "start_hour"], observed=True)["emissions_kg"].idxmin()]
    merged = best.merge(exact[["region", "start_hour", "emissions_kg"]], on=["region", "start_hour"])
    np.testing.assert_allclose(merged["emissions_kg_x"], merged["emissions_kg_y"])


@pytest.fixture(scope="module")
def local_cluster():
    """One LocalCluster (2 worker processes, 1 thread each) shared by the Dask tests: starting one takes seconds."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        yield lc, client


def test_local_processes_and_local_cluster_write_identical_parquet(tmp_path, local_cluster):
    spec = sweep.load_spec(write_spec(tmp_path))
    a = sweep.run_sweep(spec, tmp_path / "local", jobs=2, progress=False)
    b = sweep.run_sweep(spec, tmp_path / "dask", cluster=local_cluster[0].scheduler_address, progress=False)
    assert a.evaluated == b.evaluated == len(spec.partitions()) > 2
    names_a = sorted(p.name for p in (tmp_path / "local").glob("part-*"))
    assert names_a == sorted(p.name for p in (tmp_path / "dask").glob("part-*"))
    for name in names_a:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name), pd.read_parquet(tmp_path / "dask" / name))
    sa, sb = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "dask"))
    assert sa["columns"] == sb["columns"] and sa["best"] == sb["best"]


def _die_mid_write():
    """Run in one worker: its next Parquet write leaves half a file and SIGKILLs the worker process."""
    import pyarrow.parquet as pq

    def write_then_die(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half a file")
        os.kill(os.getpid(), signal.SIGKILL)

    pq.write_table = write_then_die
    return os.getpid()


def test_killed_worker_output_is_complete_without_duplicates(tmp_path, local_cluster):
    spec = sweep.load_spec(write_spec(tmp_path, part=25, days=4))  # 24 partitions over 2 workers
    out = tmp_path / "out"
    lc, client = local_cluster
    workers = sorted(client.scheduler_info()["workers"])
    doomed = client.run(_die_mid_write, workers=[workers[0]])[workers[0]]  # dies inside its first task
    res = sweep.run_sweep(spec, out, cluster=lc.scheduler_address, progress=False)
    assert doomed not in client.run(os.getpid).values()  # that worker really died (its nanny started a new one)
    df = read_all(out)
    assert df["scenario"].tolist() == list(range(spec.n_scenarios))  # complete, each scenario exactly once
    assert not list(out.glob(".tmp-*"))  # the half-written file is gone
    assert res.summary["scenarios"] == spec.n_scenarios and res.evaluated == len(spec.partitions())


def test_resume_re_evaluates_nothing_finished(tmp_path, monkeypatch):
    spec = sweep.load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    first = sweep.run_sweep(spec, out, jobs=1, progress=False)
    before = read_all(out)
    parts = sorted(out.glob("part-*.parquet"))
    lost = [parts[1], parts[-1]]  # as if the run had died before these
    for p in lost:
        p.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in parts if p not in lost}
    calls = []
    real = sweep.scenario_frame
    monkeypatch.setattr(sweep, "scenario_frame", lambda payload, lo, hi: calls.append((lo, hi)) or real(payload, lo, hi))
    again = sweep.run_sweep(spec, out, jobs=1, resume=True, progress=False)
    assert sorted(calls) == sorted((int(p.name.split("-")[2]), int(p.name.split("-")[3][:12])) for p in lost)
    assert again.evaluated == 2 and again.skipped == first.partitions - 2
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    pd.testing.assert_frame_equal(read_all(out), before)
    assert again.summary["columns"] == first.summary["columns"] and again.summary["best"] == first.summary["best"]


def test_scenarios_file_instead_of_axes(tmp_path):
    rows = pd.DataFrame({"accelerator": ["h100-sxm", "l4", "a100-sxm4-80gb"], "region": ["se", "us-va", "de"],
                         "params": [1e9, 1e8, 7e9]})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "spec.toml").write_text('model = "training"\nscenarios = "rows.csv"\n[fixed]\ntokens = 1e10\n')
    res = sweep.run_sweep(sweep.load_spec(tmp_path / "spec.toml"), tmp_path / "out", jobs=1, progress=False)
    df = read_all(tmp_path / "out")
    assert res.scenarios == 3 and df["params"].tolist() == [1e9, 1e8, 7e9]
    e = estimate_training(params=1e8, tokens=1e10, accelerator="l4", region="us-va")
    assert df.loc[1, "emissions_kg"] == pytest.approx(e["emissions_kg"], rel=1e-12)


def test_inference_sweep(tmp_path):
    (tmp_path / "spec.toml").write_text(textwrap.dedent("""
        model = "inference"
        group_by = ["region"]
        [fixed]
        model = "llama-3-8b"
        [axes]
        batch = [1, 8, 64]
        technique = ["", "fp8"]
        region = ["se", "us-va"]
        """))
    res = sweep.run_sweep(sweep.load_spec(tmp_path / "spec.toml"), tmp_path / "out", jobs=1, progress=False)
    df = read_all(tmp_path / "out")
    assert res.scenarios == 12 and df["energy_j_per_1k_tokens"].gt(0).all()
    assert {r["region"] for r in res.summary["best"]["rows"]} == {"se", "us-va"}


BAD = [
    ('[fixed]\nparam = 1e9', "params"),  # unknown parameter: close match named
    ('[axes]\nregion = ["us-va", "mars-1"]', "mars-1"),
    ('[axes]\naccelerator = ["h100-sxm", "h900"]', "h900"),
    ('[axes]\ncount = []', "empty"),
    ('[axes]\ncount = { from = 8, to = 1, step = 1 }', "empty"),
    ('[axes]\nprecision = ["fp8"]\naccelerator = ["a100-sxm4-80gb"]', "fp8"),
]


@pytest.mark.parametrize("body,needle", BAD)
def test_bad_specs_fail_before_any_work(tmp_path, capsys, body, needle):
    text = 'model = "training"\n' + ("" if "[fixed]" in body else "[fixed]\nparams = 1e9\ntokens = 1e10\n") + body
    if "[fixed]" in body:
        text += "\ntokens = 1e10\n[axes]\ncount = [1, 2]\n"
    (tmp_path / "spec.toml").write_text(text)
    code = main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err
    assert not (tmp_path / "out").exists()


def test_cluster_argument_is_checked(tmp_path):
    with pytest.raises(sweep.InputError, match="local:N"):
        with sweep.dask_client("local:two"):
            pass
    with pytest.raises(sweep.InputError, match="scheduler address"):
        with sweep.dask_client("http://x"):
            pass


def test_grid_above_max_scenarios_needs_yes(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text('model = "training"\nmax_scenarios = 10\n[fixed]\nparams = 1e9\ntokens = 1e10\n'
                                        '[axes]\ncount = { from = 1, to = 12, step = 1 }\n')
    code = main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "max_scenarios" in err and "12" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    code = main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out"), "--yes", "--jobs", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["scenarios"] == 12


# --------------------------------------------------------------------------- the sweep explorer story (report 95)

def _explorer_defaults() -> dict:
    import nbhelpers as nbh

    return nbh.parameters(nbh.read(nbh.NOTEBOOKS / "95_sweep_explorer.ipynb").cells)


@pytest.fixture(scope="module")
def explorer():
    from joulebook.stories import sweep_explorer as story

    plan = story.check(**{**_explorer_defaults(), "model_params": [1.25e8, 7e9], "accelerators": ["h100-sxm", "l40s"],
                          "regions": ["se", "us-va", "in"], "start": "2026-07-01T00:00/2026-07-01T23:00"})
    return story.explore(plan)


def test_explorer_parameters_are_checked_and_named():
    from joulebook.core.errors import InputError
    from joulebook.stories import sweep_explorer as story

    defaults = _explorer_defaults()
    assert tuple(defaults) == story.PARAMETERS  # defaults live in the notebook; the story takes every one
    for bad, name in [({"cost_column": "cost"}, "cost_column"), ({"objective": "speed"}, "objective"),
                      ({"focus_params": 1e6}, "focus_params"), ({"accelerators": "h100-sxm"}, "accelerators"),
                      ({"large_rows": 0}, "large_rows"), ({"focus_param": 7e9}, "focus_param")]:
        with pytest.raises(InputError) as e:
            story.check(**{**defaults, **bad})
        assert e.value.parameter == name
    missing = dict(defaults)
    del missing["tokens"]
    with pytest.raises(InputError, match="^tokens"):
        story.check(**missing)


def test_explorer_finding_tables_and_figures_use_names_and_units(explorer):
    import re

    import matplotlib

    from joulebook.core import format as fmt
    from joulebook.display import tables
    from joulebook.stories import sweep_explorer as story

    matplotlib.use("Agg")
    low = explorer.pareto.iloc[0]
    headline, tiles = story.finding(explorer)
    assert f"{tables.accelerator_name(low['accelerator'])} in {tables.region_name(low['region'])}" in headline
    assert fmt.mass_kg(low["emissions_kg"]) in headline and "7B-parameter" in headline
    assert dict((t[0], t[1]) for t in tiles)["Scenarios explored"] == fmt.number(explorer.rows)
    pareto, summary = story.pareto_table(explorer), story.summary_table(explorer)
    assert len(pareto.frame) == len(explorer.pareto) and "Emissions (kg CO2e)" in pareto.frame.columns
    assert not set(pareto.frame["Region"]) & {"se", "us-va", "in"}  # names, not ids
    assert "Emissions (kg CO2e)" in set(summary.frame["Output (unit)"])
    assert not any("_" in x for x in summary.frame["Output (unit)"])  # every output named, none a raw column
    for text in [headline, *(x for t in tiles for x in t), pareto.to_html(), summary.to_html(),
                 story.pareto_alt(explorer), story.distributions_alt(explorer), story.best_heatmap_alt(explorer)]:
        assert not re.search(r"\bNone\b|\bnan\b|\bnull\b|<NA>|n/a", text), text
    fig = story.plot_pareto(explorer)
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 >= fig.axes[0].get_window_extent().x1 - 1  # outside
    assert "Sweden" in [t.get_text() for t in story.plot_best_heatmap(explorer).axes[0].get_yticklabels()]
    m = story.metrics(explorer)
    assert m["finding"] == headline and m["pareto_points"] == len(explorer.pareto)
