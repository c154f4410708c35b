"""Reference data: schema, provenance and lookups."""

import shutil

import pandas as pd
import pytest

from joulebook import data
from joulebook.core.errors import DataValidationError, UnknownAcceleratorError, UnknownRegionError


def test_every_table_validates_and_has_provenance():
    names = data.validate_all()
    sources = set(data.table("sources")["source_id"])
    assert len(names) > 15
    for name in names:
        if name == "sources.csv":
            continue
        df = data.table(name)
        assert {"source_id", "year", "status"} <= set(df.columns), name
        assert df["source_id"].isin(sources).all(), name
        assert df["year"].between(1990, 2100).all(), name


def test_every_source_has_a_licence_and_year():
    src = data.table("sources")
    assert src["licence"].notna().all()
    assert src["year_or_date"].notna().all()
    assert not src["source_id"].duplicated().any()


def test_every_data_file_is_covered_by_a_schema_or_has_provenance():
    root = data.data_dir()
    for p in root.rglob("*.csv"):
        rel = str(p.relative_to(root))
        if rel.startswith("sources"):
            continue
        df = pd.read_csv(p, dtype=str)
        assert {"source_id", "year", "status"} <= set(df.columns), rel


@pytest.fixture
def broken_data(tmp_path, monkeypatch):
    target = tmp_path / "data"
    shutil.copytree(data.data_dir(), target)
    monkeypatch.setenv(data.DATA_ENV, str(target))
    data.clear_cache()
    yield target
    monkeypatch.delenv(data.DATA_ENV)
    data.clear_cache()


def test_bad_value_names_file_row_and_column(broken_data):
    p = broken_data / "accelerators.csv"
    df = pd.read_csv(p, dtype=str)
    df.loc[2, "tdp_w"] = "400W"
    df.to_csv(p, index=False)
    with pytest.raises(DataValidationError) as e:
        data.table("accelerators")
    msg = str(e.value)
    assert "accelerators.csv" in msg and "row 4" in msg and "tdp_w" in msg


def test_out_of_range_value_is_rejected(broken_data):
    p = broken_data / "grid_intensity_country.csv"
    df = pd.read_csv(p, dtype=str)
    df.loc[0, "intensity_g_per_kwh"] = "-5"
    df.to_csv(p, index=False)
    with pytest.raises(DataValidationError, match="intensity_g_per_kwh"):
        data.table("grid_intensity_country")


def test_unknown_source_id_is_rejected(broken_data):
    p = broken_data / "fx_rates.csv"
    df = pd.read_csv(p, dtype=str)
    df.loc[0, "source_id"] = "nowhere"
    df.to_csv(p, index=False)
    with pytest.raises(DataValidationError, match="source_id 'nowhere'"):
        data.table("fx_rates")


@pytest.mark.parametrize("rid", ["us-va", "us-ca", "de", "se", "sg", "in", "gcp:us-central1", "aws:us-east-1"])
def test_issue_regions_resolve(rid):
    r = data.region(rid)
    assert r.intensity_g_per_kwh > 0
    assert 1.0 <= r.pue[0] <= r.pue[1] <= r.pue[2]
    assert r.timezone and "/" in r.timezone


def test_region_values_come_from_their_tables():
    assert data.region("us-va").intensity_g_per_kwh == 362.6  # PJM, EIA-930 x IPCC (dc-rl)
    assert data.region("se").intensity_g_per_kwh == 35.89  # Ember 2024
    assert data.region("gcp:us-central1").intensity_g_per_kwh == pytest.approx(412.72)  # Google 2024
    assert data.region("aws:us-east-1").hourly_zone == "PJM"
    assert data.region("us-va").price_usd_per_kwh == 0.0892  # EIA 2023 industrial
    assert data.region("sg").price_usd_per_kwh is None  # no row: no invented price


def test_unknown_region_lists_close_matches():
    with pytest.raises(UnknownRegionError) as e:
        data.region("us-vaa")
    assert "us-va" in str(e.value)


def test_any_country_code_resolves_with_its_caveat():
    r = data.region("nor")
    assert r.iso3 == "NOR"
    r = data.region("country:ken")
    assert r.timezone == "UTC" and "UTC" in r.note


@pytest.mark.parametrize("alias,expected", [("h100", "h100-sxm"), ("H100-SXM", "h100-sxm"), ("a100-80gb", "a100-sxm4-80gb"),
                                            ("a100", "a100-sxm4-80gb"), ("h200", "h200-sxm")])
def test_accelerator_aliases(alias, expected):
    assert data.accelerator(alias).accelerator_id == expected


def test_unknown_accelerator_lists_close_matches():
    with pytest.raises(UnknownAcceleratorError) as e:
        data.accelerator("h1000")
    assert "h100" in str(e.value)


def test_unsupported_precision_is_named():
    with pytest.raises(ValueError, match="precision"):
        data.accelerator("v100").peak("bf16")


def test_fingerprint_is_stable_and_changes_with_data(broken_data):
    a = data.fingerprint()
    assert a == data.fingerprint()
    (broken_data / "fx_rates.csv").write_text((broken_data / "fx_rates.csv").read_text() + "\n")
    data.clear_cache()
    assert data.fingerprint() != a


def test_every_data_file_is_in_the_data_dictionary():
    readme = (data.data_dir() / "README.md").read_text()
    for p in data.data_dir().rglob("*"):
        if p.suffix in (".csv", ".jsonl") and not p.name.startswith("sources_"):
            assert f"`{p.relative_to(data.data_dir())}`" in readme or f"`{p.name}`" in readme, p.name


def test_a_row_with_an_unquoted_comma_is_caught(broken_data):
    p = broken_data / "fx_rates.csv"
    p.write_text(p.read_text() + "CHF,2024,1.1,fx_annual_2024_secondary,secondary,a note, with a comma\n")
    with pytest.raises(DataValidationError, match="unquoted comma"):
        data.table("fx_rates")


def test_every_accelerator_has_a_generation_and_a_training_prior_per_band():
    eff = data.table("efficiency")
    train = eff[eff["workload"] == "train"]
    for a in data.accelerators().values():
        assert a.generation, a.accelerator_id
        for p in ("fp32", "tf32", "bf16", "fp16", "fp8"):
            if not a.supports(p):
                continue
            rows = train[(train["accelerator_id"] == a.accelerator_id) & (train["precision"] == p)]
            assert sorted(rows["scale_band"]) == ["cluster", "frontier", "probe"], (a.accelerator_id, p)


def test_new_accelerators_are_sourced_dense_and_plausible():
    accs = data.table("accelerators").set_index("accelerator_id")
    known = set(data.table("sources")["source_id"])
    for acc in ("b200", "gb200", "mi300x", "mi325x", "gaudi3", "tpu-v5e", "tpu-v5p", "tpu-v6e", "a10g"):
        r = accs.loc[acc]
        assert r["source_id"] in known and r["ref_id"].startswith("J"), acc
        assert r["memory_gb"] > 0 and r["memory_bandwidth_tb_per_s"] > 0, acc
    # dense, not sparse: the dense bf16 peak of B200 is half its sparse 4.5 PFLOPS; fp8 = 2 x bf16 on GPUs
    assert accs.loc["b200", "bf16_fp16_dense_tflops"] == 2250
    for acc in ("b200", "gb200", "mi300x", "mi325x"):
        assert accs.loc[acc, "fp8_dense_tflops"] == pytest.approx(2 * accs.loc[acc, "bf16_fp16_dense_tflops"], rel=1e-3)
    # parts without an embodied profile or price rows stay empty (n/a), never an invented stand-in
    assert pd.isna(accs.loc["b200", "embodied_profile"]) and data.accelerator("b200").embodied_profile == ""
