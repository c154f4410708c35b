"""The one number formatter (in the core, so every layer writes numbers the same way).

Imports nothing of joulebook but the core. Every function returns text and never the strings
``None``, ``nan``, ``null``, ``<NA>`` or ``n/a``: a missing value (None, NaN, pandas NA/NaT,
an infinity, or one of those strings) is shown as :data:`MISSING` ("—").

House style, written once here:

* **Numbers**: 3 significant figures with thousands separators (``23,900,000``, ``0.0892``,
  ``1.5``; trailing zeros after the point are dropped). Magnitudes of 10^15 and above, or below
  10^-4, are written ``1.23 × 10^21``. Integers (Python or NumPy ints: counts, ranks) are exact.
* **Money**: the amount, a space, the ISO currency code: ``1,230 USD``, ``0.0892 USD``. Not
  ``$1,230``: Markdown/MathJax renderers may read ``$...$`` as maths. In tables the currency
  goes in the column header (``Electricity cost (USD)``) and the cells hold plain numbers.
* **Years**: plain digits, ``2020`` (never ``2,020``).
* **Percentages**: from a fraction, 3 s.f. and a ``%`` sign: ``0.412`` -> ``41.2%``.
* **Units**: in column headers, ``Name (unit)`` (:func:`header`), not in every cell.
* **Booleans**: ``yes`` / ``no``.

**Prose** (sentences, headlines, tiles) scales units to the value: :func:`quantity`,
:func:`energy_kwh` (``12 MWh``), :func:`mass_kg` (``4.35 t CO2e``), :func:`water_l`, :func:`hours`,
:func:`seconds`, :func:`tokens` (``200 billion``), :func:`params` (``7B``), :func:`count`;
:func:`money` with ``words=True`` writes ``2.5 million USD``.

Where formatting lives: here. :mod:`joulebook.display.prose` (``sig``, ``usd``, ``pct``,
``mass_kg``, ...), :func:`joulebook.display.report.number` / :func:`~joulebook.display.report.table`
and the CLI's human output (``joulebook.cli._common.fmt``) are thin wrappers over this module,
kept so that their callers need not change. :mod:`joulebook.display.tables` builds reader tables
from it, and the index cards of ``joulebook.site.index`` use :func:`count`. It lives in the core (it imports only
``core.errors``) so that every layer, models included, writes numbers in a sentence the same way.
"""

from __future__ import annotations

import math
import re
from typing import Any

from joulebook.core.errors import InputError

MISSING = "—"
"""The one marker for a value the data or the model does not have."""

DIGITS = 3
MISSING_TEXT = frozenset({"", "none", "nan", "null", "<na>", "n/a", "na", "nat", "inf", "-inf"})
_SCI_HIGH = 15  # 10^15 and above: scientific
_SCI_LOW = -4  # below 10^-4: scientific
_SCI = re.compile(r"^(-?[\d.]+) × 10\^(-?\d+)$")


def is_missing(v: Any) -> bool:
    """True for None, NaN, pandas NA/NaT, infinities and the usual "no value" strings."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TEXT
    if isinstance(v, bool):
        return False
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _is_na_scalar(v)
    return not math.isfinite(f)


def _is_na_scalar(v: Any) -> bool:
    # pandas.NA / NaT refuse float(); detect them by name rather than importing pandas here
    return type(v).__name__ in ("NAType", "NaTType")


def _check_digits(digits: int) -> int:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise InputError("digits", f"must be a whole number from 1 to 15, got {digits!r}")
    return digits


def _strip(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(v: Any, digits: int = DIGITS) -> str:
    """``v`` to ``digits`` significant figures with thousands separators; integers exact; MISSING if missing."""
    digits = _check_digits(digits)
    if is_missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if _is_int(v):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return text(v)
    mant_text, exp_text = f"{f:.{digits - 1}e}".split("e")  # exponent from the text: no overflow near 1e308
    exp = int(exp_text)
    if float(mant_text) == 0:
        return "0"
    if exp >= _SCI_HIGH or exp < _SCI_LOW:
        return f"{_strip(mant_text)} × 10^{exp}"
    rounded = float(f"{mant_text}e{exp}")
    if exp >= digits - 1:
        return f"{rounded:,.0f}"
    return _strip(f"{rounded:,.{digits - 1 - exp}f}")


def _is_int(v: Any) -> bool:
    if isinstance(v, int):
        return True
    dtype = getattr(v, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "") in "iu" and getattr(v, "ndim", 0) == 0


def parse(text_value: str) -> float | None:
    """The number a string from :func:`number` stands for (None for MISSING); the inverse used by tests."""
    s = str(text_value).strip()
    if s == MISSING:
        return None
    for suffix in ("%", " USD"):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
    m = _SCI.match(s)
    if m:
        return float(f"{m.group(1)}e{m.group(2)}")
    return float(s.replace(",", ""))


def money(v: Any, currency: str = "USD", digits: int = DIGITS, *, words: bool = False) -> str:
    """An amount of money: ``1,230 USD`` (3 s.f.), MISSING when missing.

    ``words=True`` (for prose) writes a million and more in words: ``2.5 million USD``.
    """
    if is_missing(v):
        return MISSING
    if words:
        return f"{count(v, digits)} {currency}"
    return f"{number(float(v), digits)} {currency}"


def year(v: Any) -> str:
    """A calendar year as plain digits (``2020``); text such as ``2024-S1`` is kept; MISSING when missing."""
    if is_missing(v):
        return MISSING
    if isinstance(v, str):
        return v.strip()
    f = float(v)
    return str(int(round(f)))


def percent(fraction: Any, digits: int = DIGITS) -> str:
    """A fraction as a percentage: ``0.412`` -> ``41.2%``; MISSING when missing."""
    if is_missing(fraction):
        return MISSING
    return f"{number(float(fraction) * 100.0, digits)}%"


def ratio(v: Any, digits: int = DIGITS) -> str:
    """A factor: ``4.5×``; MISSING when missing."""
    if is_missing(v):
        return MISSING
    return f"{number(float(v), digits)}×"


def text(v: Any) -> str:
    """A text cell: the value as a string, MISSING for None/NaN/"null"/"<NA>"/"n/a"."""
    if is_missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def header(name: str, unit: str | None = None) -> str:
    """A column header with its unit: ``Emissions (kg CO2e)``; no unit, no brackets."""
    return f"{name} ({unit})" if unit else name


_COUNT_WORDS = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def count(v: Any, digits: int = DIGITS) -> str:
    """A large count in words for prose: ``7e9`` -> ``7 billion``, ``2e11`` -> ``200 billion``; MISSING when missing."""
    if is_missing(v):
        return MISSING
    f = float(v)
    for scale, word in _COUNT_WORDS:
        if abs(f) >= scale:
            return f"{number(f / scale, digits)} {word}"
    return number(f, digits)


_LADDERS = {
    "kg CO2e": ((1e6, "kt CO2e"), (1e3, "t CO2e"), (1.0, "kg CO2e")),
    "kWh": ((1e6, "GWh"), (1e3, "MWh"), (1.0, "kWh")),
    "L": ((1e6, "million L"), (1.0, "L")),
    "h": ((1.0, "h"),),
}


def quantity(v: Any, unit: str, digits: int = DIGITS) -> str:
    """A value in ``unit`` scaled for prose: ``23,900 kg CO2e`` -> ``23.9 t CO2e``; ``1,500 kWh`` -> ``1.5 MWh``.

    Units without a ladder (``USD`` goes through :func:`money`) are printed as given.
    """
    if is_missing(v):
        return MISSING
    if unit == "USD":
        return money(v, digits=digits)
    f = float(v)
    for scale, name in _LADDERS.get(unit, ((1.0, unit),)):
        if abs(f) >= scale:
            return f"{number(f / scale, digits)} {name}"
    return f"{number(f, digits)} {unit}"


def _scaled(v: Any, steps: tuple[tuple[float, str], ...], sep: str = " ", digits: int = DIGITS) -> str:
    """``v`` in the first unit of ``steps`` (factor, unit; largest first) it reaches; below the last, in the last."""
    if is_missing(v):
        return MISSING
    f = float(v)
    factor, unit = next(((fa, u) for fa, u in steps if abs(f) >= fa), steps[-1])
    return f"{number(f / factor, digits)}{sep}{unit}".rstrip()


def energy_kwh(v: Any, digits: int = DIGITS) -> str:
    """Energy for prose: ``500 Wh``, ``12 MWh``."""
    return _scaled(v, ((1e6, "GWh"), (1e3, "MWh"), (1.0, "kWh"), (1e-3, "Wh")), digits=digits)


def energy_j(v: Any, digits: int = DIGITS) -> str:
    """Energy in joules for prose: ``290 kJ``."""
    return _scaled(v, ((1e9, "GJ"), (1e6, "MJ"), (1e3, "kJ"), (1.0, "J")), digits=digits)


def power_kw(v: Any, digits: int = DIGITS) -> str:
    """Power for prose: ``450 kW``, ``1.2 MW``."""
    return _scaled(v, ((1e3, "MW"), (1.0, "kW")), digits=digits)


def mass_kg(v: Any, digits: int = DIGITS) -> str:
    """Emissions for prose: ``431 kg CO2e`` below a tonne, ``4.35 t CO2e`` above."""
    return _scaled(v, ((1e3, "t CO2e"), (1.0, "kg CO2e")), digits=digits)


def water_l(v: Any, digits: int = DIGITS) -> str:
    """Water for prose: litres below 10,000 L, cubic metres above (``41.9 m³``)."""
    if is_missing(v):
        return MISSING
    f = float(v)
    return f"{number(f, digits)} L" if abs(f) < 1e4 else f"{number(f / 1e3, digits)} m³"


def hours(v: Any, digits: int = DIGITS) -> str:
    """A duration in hours for prose: ``30 min``, ``30 h``, ``124 h (5.17 days)``."""
    if is_missing(v):
        return MISSING
    f = float(v)
    if f < 1:
        return f"{number(f * 60, digits)} min"
    if f < 48:
        return f"{number(f, digits)} h"
    return f"{number(f, digits)} h ({number(f / 24, digits)} days)"


def seconds(v: Any, digits: int = DIGITS) -> str:
    """A duration in seconds for prose: ``12.3 ms``, ``4.5 s``."""
    if is_missing(v):
        return MISSING
    f = float(v)
    return f"{number(f * 1000, digits)} ms" if f < 1 else f"{number(f, digits)} s"


def tokens(v: Any, digits: int = DIGITS) -> str:
    """A token count for prose: ``200 billion``, ``350 million``."""
    return count(v, digits)


def params(v: Any, digits: int = DIGITS) -> str:
    """A model size: ``7B``, ``350M``, ``1.3B``."""
    return _scaled(v, ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1.0, "")), sep="", digits=digits)


def span(lo: Any, hi: Any, fmt=number) -> str:
    """``range 9.1 MWh to 14.2 MWh`` through ``fmt``; empty when either end is missing."""
    if is_missing(lo) or is_missing(hi):
        return ""
    return f"range {fmt(lo)} to {fmt(hi)}"


def listing(items) -> str:
    """``a, b and c`` (empty items left out)."""
    items = [str(i) for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def value(v: Any, kind: str = "number", digits: int = DIGITS) -> str:
    """Format ``v`` as one of the kinds: number, integer, money, year, percent, ratio, text."""
    if kind == "number":
        return number(v, digits)
    if kind == "integer":
        return MISSING if is_missing(v) else f"{int(round(float(v))):,}"
    if kind == "money":
        return number(v, digits)  # in a table the currency is in the header
    if kind == "year":
        return year(v)
    if kind == "percent":
        return percent(v, digits)
    if kind == "ratio":
        return ratio(v, digits)
    if kind == "text":
        return text(v)
    raise InputError("kind", f"unknown kind {kind!r} (one of number, integer, money, year, percent, ratio, text)")


KINDS = ("number", "integer", "money", "year", "percent", "ratio", "text")
NUMERIC_KINDS = frozenset({"number", "integer", "money", "year", "percent", "ratio"})
