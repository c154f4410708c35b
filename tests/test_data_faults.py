"""A broken data folder never gives a traceback or a silent answer.

The walker discovers every CSV under ``data/`` and, for each table, injects the five faults of issue 12
(missing column, text in a number, duplicate key, out-of-range value, empty file) into a copy of the
folder; the CLI must then exit 1 with one line naming the file, the row and the column. The issue's own
examples follow, each run through ``joulebook estimate training`` or ``joulebook regions``.
"""

import csv
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from joulebook import data
from joulebook.cli import main

SOURCE = data.data_dir()
TABLES = data.table_names(SOURCE)
FAULTS = ["missing_column", "text_in_number", "duplicate_key", "out_of_range", "empty_file"]
TRAINING = ["estimate", "training", "--params", "7e9", "--tokens", "2e12", "--accelerator", "h100-sxm", "--count", "64",
            "--region", "us-va", "--json"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    target = tmp_path / "data"
    shutil.copytree(SOURCE, target)
    monkeypatch.setenv(data.DATA_ENV, str(target))
    data.clear_cache()
    yield target
    data.clear_cache()


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])


def edit(folder: Path, name: str, row: int, column: str, value: str) -> None:
    """Set the cell of file row ``row`` (header = row 1) in ``column``."""
    header, rows = read(folder / name)
    rows[row - 2][header.index(column)] = value
    write(folder / name, header, rows)


def find_row(folder: Path, name: str, column: str, value: str) -> int:
    header, rows = read(folder / name)
    return next(i + 2 for i, r in enumerate(rows) if r[header.index(column)] == value)


def numeric_column(name: str) -> tuple[str, float, float]:
    _, numeric = data.SCHEMAS.get(name, ([], {}))
    if numeric:
        col, (lo, hi) = next(iter(numeric.items()))
        return col, lo, hi
    return "year", 1990, 2100


def one_data_error(args, capsys, file: str, row: int | None, column: str | None) -> str:
    data.clear_cache()
    code = main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, err
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("joulebook: data error: "), line
    assert file in line, line
    if row is not None:
        assert re.search(rf"\brows? {row}\b", line), line
    if column is not None:
        assert f"column {column!r}" in line, line
    assert "Traceback" not in err
    return line


def test_every_csv_is_a_declared_table():
    for p in SOURCE.rglob("*.csv"):
        rel = str(p.relative_to(SOURCE))
        if any(fnmatch.fnmatch(rel, pat) for pat in data.SCHEMALESS):
            continue
        assert rel in data.SCHEMAS, f"{rel}: declare its schema in joulebook.data.SCHEMAS (or list it in SCHEMALESS)"
        assert rel in data.KEYS, f"{rel}: declare its key in joulebook.data.KEYS (None for a log of observations)"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", TABLES)
def test_fault_in_every_table_is_one_line_with_file_row_and_column(name, fault, folder, capsys):
    path = folder / name
    header, rows = read(path)
    if fault == "missing_column":
        column = data.schema_columns(name)[0]
        i = header.index(column)
        write(path, header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
        row = 1
    elif fault == "text_in_number":
        if name == "sources.csv":
            pytest.skip("sources.csv has no number column")
        column, _, _ = numeric_column(name)
        rows[0][header.index(column)] = "12 units"
        write(path, header, rows)
        row = 2
    elif fault == "out_of_range":
        if name == "sources.csv":
            pytest.skip("sources.csv has no number column")
        column, _, hi = numeric_column(name)
        rows[0][header.index(column)] = repr(hi * 10 + 1)
        write(path, header, rows)
        row = 2
    elif fault == "duplicate_key":
        key = data.KEYS[name]
        copy = list(rows[0])
        if key:  # same key, different content elsewhere: still a duplicate
            other = [c for c in ("note", "notes", "status") if c in header and c not in key]
            if other:
                copy[header.index(other[0])] = "a second row with the same key"
        write(path, header, [*rows, copy])
        column = key[0] if key else None
        row = len(rows) + 2
    else:  # empty_file
        path.write_text("", encoding="utf-8")
        column, row = None, 1
    line = one_data_error(["regions"], capsys, name, row, column)
    if fault == "duplicate_key":
        assert re.search(r"\brow 2\b", line), line  # names both rows
    if fault == "empty_file":
        assert "column '" in line, line


# ----------------------------------------------------------------------------------- the examples

def test_second_pjm_row_is_refused(folder, capsys):
    header, rows = read(folder / "grid_intensity_us_zones.csv")
    pjm = next(r for r in rows if r[0] == "PJM")
    fake = list(pjm)
    fake[header.index("intensity_g_per_kwh")] = "10"
    write(folder / "grid_intensity_us_zones.csv", header, [*rows, fake])
    line = one_data_error(TRAINING, capsys, "grid_intensity_us_zones.csv", len(rows) + 2, "zone_id")
    assert "PJM" in line and re.search(rf"row {find_row(folder, 'grid_intensity_us_zones.csv', 'zone_id', 'PJM')}\b",
                                       line)


@pytest.mark.parametrize("name,column,value", [("regions.csv", "region_id", "us-va"),
                                               ("accelerators.csv", "accelerator_id", "h100-sxm"),
                                               ("assumptions.csv", "name", "busy_power_fraction"),
                                               ("operator_defaults.csv", "operator", "industry")])
def test_duplicate_named_row_is_refused(name, column, value, folder, capsys):
    header, rows = read(folder / name)
    first = find_row(folder, name, column, value)
    write(folder / name, header, [*rows, list(rows[first - 2])])
    line = one_data_error(TRAINING, capsys, name, len(rows) + 2, column)
    assert value in line and re.search(rf"row {first}\b", line)


@pytest.mark.parametrize("name,key_col,key,column,value", [
    ("assumptions.csv", "name", "busy_power_fraction", "value", "5"),  # 3,022 W on a 700 W part
    ("assumptions.csv", "name", "busy_power_fraction", "value_high", "1.5"),
    ("accelerators.csv", "accelerator_id", "h100-sxm", "idle_w", "800"),  # idle above TDP
    ("operator_defaults.csv", "operator", "industry", "pue_low", "1.6"),  # above pue 1.56
    ("efficiency.csv", "accelerator_id", "*", "efficiency_low", "0.9"),  # above the central value
    ("grid_intensity_us_zones.csv", "zone_id", "PJM", "min_hourly_g_per_kwh", "1900"),  # above the mean
    ("grid_intensity_cloud_region.csv", "region", "us-central1", "cfe_fraction", "1.5"),
    ("model_presets.csv", "model_id", "llama-3.2-1b", "params_active", "9e12"),  # above params_total
])
def test_implausible_value_is_refused(name, key_col, key, column, value, folder, capsys):
    row = find_row(folder, name, key_col, key)
    edit(folder, name, row, column, value)
    one_data_error(TRAINING, capsys, name, row, column)


@pytest.mark.parametrize("name,key_col,key,column", [
    ("grid_intensity_us_zones.csv", "zone_id", "PJM", "intensity_g_per_kwh"),
    ("grid_intensity_country.csv", "area_id", "SWE", "intensity_g_per_kwh"),
    ("operator_defaults.csv", "operator", "industry", "pue"),
    ("efficiency.csv", "accelerator_id", "*", "efficiency"),
    ("electricity_prices.csv", "region_id", "US-VA", "price_local"),
    ("fx_rates.csv", "currency", "EUR", "usd_per_unit"),
    ("cloud_gpu_prices.csv", "provider", "aws", "usd_per_gpu_hour"),
    ("assumptions.csv", "name", "busy_power_fraction", "value"),
    ("hourly_intensity_profiles.csv", "zone_id", "PJM", "intensity_g_per_kwh"),
])
def test_empty_cell_that_outputs_need_is_refused(name, key_col, key, column, folder, capsys):
    row = find_row(folder, name, key_col, key)
    edit(folder, name, row, column, "")
    one_data_error(TRAINING, capsys, name, row, column)


@pytest.mark.parametrize("name,column", [("accelerators.csv", "form_factor"), ("efficiency.csv", "efficiency_low"),
                                         ("regions.csv", "timezone"), ("operator_defaults.csv", "pue_high")])
def test_missing_column_is_refused(name, column, folder, capsys):
    header, rows = read(folder / name)
    i = header.index(column)
    write(folder / name, header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    one_data_error(TRAINING, capsys, name, 1, column)


@pytest.mark.parametrize("column,value,needle", [("intensity_key", "PJMX", "grid_intensity_us_zones.csv"),
                                                 ("operator", "nobody", "operator_defaults.csv"),
                                                 ("timezone", "America/Nowhere", "time zone"),
                                                 ("hourly_zone", "XXX", "hourly_intensity_profiles.csv"),
                                                 ("price_key", "US-XX", "electricity_prices.csv"),
                                                 ("kind", "planet", "kind")])
def test_bad_reference_in_regions_is_a_data_error_not_the_users(column, value, needle, folder, capsys):
    row = find_row(folder, "regions.csv", "region_id", "us-va")
    edit(folder, "regions.csv", row, column, value)
    line = one_data_error(TRAINING, capsys, "regions.csv", row, column)
    assert needle in line and "--region" not in line


def test_text_in_ratio_to_annual_mean(folder, capsys):
    edit(folder, "hourly_intensity_profiles.csv", 5, "ratio_to_annual_mean", "high")
    one_data_error(["regions"], capsys, "hourly_intensity_profiles.csv", 5, "ratio_to_annual_mean")


def test_precision_without_a_peak_is_a_data_error(folder, capsys):
    row = find_row(folder, "accelerators.csv", "accelerator_id", "h100-sxm")
    edit(folder, "accelerators.csv", row, "bf16_fp16_dense_tflops", "")
    one_data_error(TRAINING, capsys, "accelerators.csv", row, "bf16_fp16_dense_tflops")


def test_alias_naming_two_accelerators_is_refused(folder, capsys):
    row = find_row(folder, "accelerators.csv", "accelerator_id", "h200-sxm")
    edit(folder, "accelerators.csv", row, "aliases", "h100")
    one_data_error(TRAINING, capsys, "accelerators.csv", row, "aliases")


def test_duplicate_source_in_a_topic_file_names_that_file(folder, capsys):
    header, rows = read(folder / "sources_federated.csv")
    write(folder / "sources_federated.csv", header, [*rows, list(rows[0])])
    one_data_error(["regions"], capsys, "sources_federated.csv", len(rows) + 2, "source_id")


@pytest.mark.parametrize("name,column,value", [("assumptions.csv", "name", "busy_power_fraction"),
                                               ("operator_defaults.csv", "operator", "industry")])
def test_row_the_model_looks_up_by_name_must_exist(name, column, value, folder, capsys):
    header, rows = read(folder / name)
    write(folder / name, header, [r for r in rows if r[header.index(column)] != value])
    line = one_data_error(TRAINING, capsys, name, None, column)
    assert repr(value) in line


def test_library_raises_the_same_error(folder):
    edit(folder, "operator_defaults.csv", 2, "pue_low", "1.7")
    with pytest.raises(data.DataValidationError, match=r"operator_defaults.csv, row 2, column 'pue_low'"):
        data.region("us-va")


def test_console_script_exit_code_on_a_data_fault(folder):
    header, rows = read(folder / "regions.csv")
    write(folder / "regions.csv", header, [*rows, list(rows[0])])
    r = subprocess.run([sys.executable, "-m", "joulebook", *TRAINING], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "regions.csv" in r.stderr and "Traceback" not in r.stderr


def test_reused_validation_follows_the_content_of_the_table_and_what_it_reads(folder):
    assert data.region("us-ca").tou_schedule == "PG&E B-19"
    original = (folder / "tou_tariffs.csv").read_bytes()
    header, rows = read(folder / "tou_tariffs.csv")
    col = header.index("schedule")
    write(folder / "tou_tariffs.csv", header, [[*r[:col], "B-20", *r[col + 1:]] for r in rows])  # valid on its own
    data.clear_cache()
    with pytest.raises(data.DataValidationError, match=r"regions.csv, row \d+, column 'tou_schedule'"):
        data.region("us-ca")
    (folder / "tou_tariffs.csv").write_bytes(original)
    data.clear_cache()
    assert data.region("us-ca").tou_schedule == "PG&E B-19"
