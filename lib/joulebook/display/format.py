"""The one number formatter of the display layer.

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

Other modules still carry their own formatters (not migrated yet): ``joulebook.display.report.number``
and ``report.table`` ("n/a" for missing), ``joulebook.display.prose`` (``sig``, ``usd`` as
"USD 1,234", ``pct``, ``mass_kg``...), ``measure/story.py`` and ``measure/analysis.py`` (``pct``),
and the ``TABLE_FORMATS`` / f-string formats in ``planning.py``, ``precision.py``, ``roi.py``,
``compression.py``, ``schedule.py``, ``cli/verb_plan.py``, ``cli/_common.py`` and
``reports/site.py``.
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


def money(v: Any, currency: str = "USD", digits: int = DIGITS) -> str:
    """An amount of money: ``1,230 USD`` (3 s.f.), MISSING when missing."""
    if is_missing(v):
        return MISSING
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
