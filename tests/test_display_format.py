"""The display layer's one number formatter and its tables."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from joulebook.core import format as fmt
from joulebook.core.errors import InputError
from joulebook.display import tables

FORBIDDEN = re.compile(r"None|nan|NaN|null|<NA>|NaT|n/a|inf", re.IGNORECASE)

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["None", "nan", "null", "<NA>", "n/a", "", "NaT"]), st.just(pd.NA), st.just(pd.NaT),
    st.just(np.nan), st.just(np.float32("nan")),
)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_three_significant_figures_round_trip(x):
    shown = fmt.number(x)
    assert fmt.parse(shown) == pytest.approx(float(f"{x:.2e}"), rel=1e-12, abs=0)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=1e-3, max_value=1e14))
def test_plain_numbers_have_separators_and_at_most_three_significant_digits(x):
    shown = fmt.number(x)
    assert "×" not in shown
    digits = re.sub(r"[^0-9]", "", shown).lstrip("0")
    assert len(digits.rstrip("0")) <= 3
    if abs(float(f"{x:.2e}")) >= 1000:
        assert "," in shown


@given(anything)
def test_never_emits_none_nan_or_null(v):
    for f in (fmt.number, fmt.money, fmt.year, fmt.percent, fmt.ratio, fmt.text, fmt.count):
        out = f(v)
        assert isinstance(out, str) and out
        assert not FORBIDDEN.search(out), (f.__name__, v, out)


@pytest.mark.parametrize("v", [None, float("nan"), np.nan, pd.NA, pd.NaT, float("inf"), "null", "<NA>", "n/a", "None"])
def test_one_marker_for_missing(v):
    assert fmt.number(v) == fmt.money(v) == fmt.year(v) == fmt.text(v) == fmt.MISSING == "—"


def test_house_style():
    assert fmt.number(23_862_766.0) == "23,900,000"
    assert fmt.number(0.08921) == "0.0892"
    assert fmt.number(1.5) == "1.5" and fmt.number(2.0) == "2"
    assert fmt.number(8.4e21) == "8.4 × 10^21"
    assert fmt.number(64) == "64" and fmt.number(np.int64(1_234_567)) == "1,234,567"  # counts exact
    assert fmt.money(1234.5) == "1,230 USD" and fmt.money(0.0892) == "0.0892 USD"
    assert fmt.year(2020) == "2020" and fmt.year(2020.0) == "2020" and fmt.year(np.int64(2022)) == "2022"
    assert fmt.year("2024-S1") == "2024-S1"
    assert fmt.percent(0.4123) == "41.2%"
    assert fmt.ratio(4.5) == "4.5×"
    assert fmt.header("Emissions", "kg CO2e") == "Emissions (kg CO2e)" and fmt.header("Rank") == "Rank"
    assert fmt.quantity(23_900, "kg CO2e") == "23.9 t CO2e" and fmt.quantity(1500, "kWh") == "1.5 MWh"
    assert fmt.count(7e9) == "7 billion" and fmt.count(2e11) == "200 billion"
    assert fmt.number(True) == "yes" and fmt.text(False) == "no"


def test_bad_arguments_name_the_parameter():
    with pytest.raises(InputError, match="^digits"):
        fmt.number(1.0, digits=0)
    with pytest.raises(InputError, match="^kind"):
        fmt.value(1.0, "colour")


# --------------------------------------------------------------------------- tables

def _frame():
    return pd.DataFrame({
        "region": ["se", "de", "nowhere-9"], "accelerator": ["h100-sxm", "a100-sxm4-80gb", None],
        "emissions_kg": [1234.5, np.nan, 0.5], "intensity_year": [2024, 2022, 2023],
        "electricity_cost_usd": [1.0, None, 3.0], "flag": [True, False, np.nan],
    })


def test_table_shows_names_units_and_one_style():
    t = tables.table(_frame(), {"region": "Region", "accelerator": "Accelerator", "emissions_kg": "Emissions (kg CO2e)",
                                "intensity_year": "Intensity year", "electricity_cost_usd": "Cost (USD)"})
    f = t.frame
    assert list(f.columns) == ["Region", "Accelerator", "Emissions (kg CO2e)", "Intensity year", "Cost (USD)"]
    assert f["Region"].tolist()[:2] == ["Sweden", "Germany"]
    assert f["Region"].iloc[2] == "nowhere-9"  # unknown ids are shown as given, not dropped
    assert "H100" in f["Accelerator"].iloc[0] and f["Accelerator"].iloc[2] == fmt.MISSING
    assert f["Emissions (kg CO2e)"].tolist() == ["1,230", fmt.MISSING, "0.5"]
    assert f["Intensity year"].tolist() == ["2024", "2022", "2023"]
    assert t.kinds["Intensity year"] == "year" and t.kinds["Cost (USD)"] == "money"
    html = t.to_html()
    assert "h100-sxm" not in html and ">se<" not in html
    assert not re.search(r">(None|nan|null|&lt;NA&gt;|n/a)<", html)


def test_table_html_aligns_scrolls_marks_and_sorts():
    t = tables.table(_frame(), {"region": "Region", "emissions_kg": "Emissions (kg CO2e)"},
                     marks={"emissions_kg": "flag"}, sortable=True, caption="A <caption>")
    html = t.to_html()
    assert 'style="overflow-x:auto' in html  # wide tables scroll by themselves
    assert "<caption>A &lt;caption&gt;</caption>" in html  # escaped
    assert '<td class=n data-v="1234.5">1,230 <span class="jb-mark"' in html  # marked, raw value for sorting
    assert '<td class=n data-v="">—</td>' in html  # missing: sorted last, not marked
    assert html.count(tables.SUBSTITUTED_MARK) == 1  # NaN flag is not a mark
    assert "<script>" in html and "src=" not in html.split("<script>", 1)[1]  # inline, no CDN
    assert "table.jb-display .n{text-align:right" in html
    plain = tables.table(_frame(), {"region": "Region"})
    assert "<script>" not in plain.to_html() and "<button" not in plain.to_html()
    assert plain._repr_html_() == plain.to_html()
    assert plain.styler().to_html()  # a pandas Styler for those who prefer one


def test_table_rejects_unknown_columns_and_kinds():
    with pytest.raises(InputError, match="^columns.*emissions"):
        tables.table(_frame(), {"emissions": "Emissions"})
    with pytest.raises(InputError, match="^kinds"):
        tables.table(_frame(), {"emissions_kg": "E"}, kinds={"emissions_kg": "colour"})
    assert math.isnan(tables.table(_frame(), {"emissions_kg": "E"}).values["E"].iloc[1])


def test_format_imports_only_the_core():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(fmt.__file__).read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level], "absolute imports only"
    absolute = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    absolute |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
    assert {m for m in absolute if m.startswith("joulebook")} <= {"joulebook.core.errors", "joulebook.core.validate"}


def test_format_docstring_says_where_formatting_lives():
    doc = fmt.__doc__
    for where in ("joulebook.display.prose", "joulebook.display.report.number", "joulebook.cli._common.fmt",
                  "joulebook.display.tables", "joulebook.site.index"):
        assert where in doc, where


@pytest.mark.slow
def test_sorter_sorts_in_a_real_browser(tmp_path):
    """The inline sorter works offline in a headless browser: numbers by value, missing last, text A-Z."""
    import shutil
    import tempfile
    from pathlib import Path

    chromium, driver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and driver.exists()):
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    df = pd.DataFrame({"region": ["se", "de", "us-va", "sg"], "emissions_kg": [1200.0, 9.5, np.nan, 110.0]})
    page = tmp_path / "t.html"
    page.write_text("<!doctype html><meta charset=utf-8><body>" + tables.table(
        df, {"region": "Region", "emissions_kg": "Emissions (kg CO2e)"}, sortable=True).to_html(), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="jb-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(chromium)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=str(driver)), options=opts)
    try:
        drv.get(page.as_uri())
        buttons = drv.find_elements(By.CSS_SELECTOR, "th button")

        def column(i):
            return [r.find_elements(By.TAG_NAME, "td")[i].text for r in drv.find_elements(By.CSS_SELECTOR, "tbody tr")]

        buttons[1].click()
        assert column(1) == ["9.5", "110", "1,200", "—"]
        buttons[1].click()
        assert column(1) == ["1,200", "110", "9.5", "—"]  # reversed, missing still last
        buttons[0].click()
        assert column(0) == ["Germany", "Singapore", "Sweden", "Virginia (PJM)"]
        assert drv.find_elements(By.CSS_SELECTOR, "th")[0].get_attribute("aria-sort") == "ascending"
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- one formatter: the wrappers delegate

def test_prose_helpers_scale_units_in_the_house_style():
    assert fmt.energy_kwh(12000.03) == "12 MWh" and fmt.energy_kwh(0.5) == "500 Wh"
    assert fmt.energy_j(290375.5) == "290 kJ" and fmt.power_kw(1500) == "1.5 MW"
    assert fmt.mass_kg(431.0) == "431 kg CO2e" and fmt.mass_kg(4351.2) == "4.35 t CO2e"
    assert fmt.water_l(41910.9) == "41.9 m³" and fmt.water_l(950) == "950 L"
    assert fmt.hours(124.19) == "124 h (5.17 days)" and fmt.hours(0.5) == "30 min" and fmt.seconds(0.0123) == "12.3 ms"
    assert fmt.params(7e9) == "7B" and fmt.params(1.25e8) == "125M" and fmt.tokens(2e11) == "200 billion"
    assert fmt.money(2.5e6, words=True) == "2.5 million USD" and fmt.money(870.4, words=True) == "870 USD"
    assert fmt.span(1.0, 2.0, fmt.energy_kwh) == "range 1 kWh to 2 kWh" and fmt.span(None, 2.0) == ""
    assert fmt.listing(["a", "", "b", "c"]) == "a, b and c" and fmt.listing(["a"]) == "a"


@given(anything)
def test_prose_helpers_never_emit_none_nan_or_null(v):
    for f in (fmt.energy_kwh, fmt.energy_j, fmt.power_kw, fmt.mass_kg, fmt.water_l, fmt.hours, fmt.seconds,
              fmt.tokens, fmt.params):
        out = f(v)
        assert out and not FORBIDDEN.search(out), (f.__name__, v, out)


@pytest.mark.parametrize("x", [0.0, 0.0892, 1.5, 999.4, 1234.5, 87270.8, 2.5e6, 8.4e21, -3.2e-7])
def test_prose_and_report_numbers_are_format_numbers(x):
    from joulebook.display import prose, report

    assert prose.sig(x) == report.number(x) == fmt.number(x)
    assert prose.usd_rate(x) == fmt.money(x)
    assert prose.pct(x / 1e4) == fmt.percent(x / 1e4, 2)


@pytest.mark.parametrize("v", [None, float("nan"), pd.NA, float("inf")])
def test_prose_report_and_cli_show_one_missing_marker(v):
    from joulebook.cli._common import fmt as cli_fmt
    from joulebook.display import prose, report

    for f in (prose.sig, prose.usd, prose.usd_rate, prose.pct, prose.energy_kwh, prose.mass_kg, prose.hours,
              report.number, cli_fmt):
        assert f(v) == fmt.MISSING, f
    assert prose.times(1.0, v) == fmt.MISSING and prose.span(v, 1.0, prose.sig) == ""


def test_money_reads_amount_then_currency_everywhere():
    from joulebook.cli._common import fmt as cli_fmt
    from joulebook.display import prose

    assert prose.usd(87270.8) == "87,300 USD" and prose.usd(2.5e6) == "2.5 million USD"
    assert cli_fmt(1234.5, "USD") == "1,230 USD" and cli_fmt(1234.5, "kWh") == "1,230 kWh"
    assert cli_fmt("se", "") == "se" and cli_fmt(64) == "64"


def test_report_table_uses_the_one_formatter():
    from joulebook.display import report

    df = pd.DataFrame({"x": [1234.5678, np.nan], "n": [3, 4], "ok": [True, False], "name": ["a", None],
                       "f": [0.5, None]})
    html = report.table_html(df, formats={"f": "{:.0%}"}, caption="A <b>")
    assert "1,230" in html and "<td>3</td>" in html and "yes" in html and "50%" in html
    assert html.count(fmt.MISSING) == 3  # the NaN number, the None name, the missing formatted value
    assert not re.search(r">(None|nan|NaN|null|&lt;NA&gt;|n/a)<", html)
    assert "A &lt;b&gt;" in html


def test_report_parameters_never_read_null():
    assert tables.parameter_text("mfu", None) == fmt.MISSING and tables.parameter_text("counts", [1, None]) == "1, —"
    assert tables.parameter_text("params", 7e9) == "7,000,000,000"
    assert tables.parameter_text("region", "se") == "Sweden" and tables.parameter_text("precision", "se") == "se"
