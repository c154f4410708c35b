"""Numbers in report prose: thin wrappers over :mod:`joulebook.core.format`, the one formatter.

Kept so that the modules calling ``prose.sig``, ``prose.usd``, ``prose.mass_kg``... need not change; every
function here returns what :mod:`~joulebook.core.format` returns (3 significant figures, money as
``1,230 USD``, a missing value as "—"). New code calls :mod:`joulebook.core.format` directly.
"""

from __future__ import annotations

from typing import Any

from joulebook.core import format as fmt
from joulebook.core.format import (  # noqa: F401  (re-exported for the callers of prose.*)
    MISSING,
    energy_j,
    energy_kwh,
    hours,
    listing,
    mass_kg,
    params,
    power_kw,
    seconds,
    tokens,
    water_l,
)
from joulebook.core.util import round_to


def missing(v: Any) -> bool:
    """True when ``v`` is no number to show: missing (:func:`format.is_missing`) or not numeric at all."""
    if fmt.is_missing(v):
        return True
    try:
        float(v)
    except (TypeError, ValueError):
        return True
    return False


def sig(v: Any, digits: int = fmt.DIGITS) -> str:
    """``v`` with ``digits`` significant figures: :func:`format.number`."""
    return fmt.number(v, digits)


def sci(v: Any, digits: int = fmt.DIGITS) -> str:
    """A very large count (``9.04 × 10^21``): :func:`format.number` (scientific from 10^15)."""
    return fmt.number(v, digits)


def usd(v: Any) -> str:
    """An amount of money in prose: ``87,300 USD``, ``2.5 million USD``."""
    return fmt.money(v, words=True)


def usd_rate(v: Any) -> str:
    """A unit price: ``11 USD``, ``0.0892 USD``."""
    return fmt.money(v)


def pct(v: Any, digits: int = 2) -> str:
    """A fraction as a percentage: ``0.0668`` -> ``6.7%``."""
    return fmt.percent(v, digits)


def times(a: Any, b: Any) -> str:
    """How many times ``a`` is ``b``: ``14×``."""
    if missing(a) or missing(b) or float(b) == 0:
        return MISSING
    return fmt.ratio(float(a) / float(b), 2)


def span(lo: Any, hi: Any, fmt_fn) -> str:
    """``(range 9.1 MWh to 14.2 MWh)``; empty when either end is missing."""
    text = fmt.span(lo, hi, fmt_fn)
    return f"({text})" if text else ""


def frame(df, digits: int = fmt.DIGITS):
    """A copy of ``df`` with float columns as text (:func:`format.number`, "—" for missing) for display."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = [fmt.number(v, digits) for v in out[col]]
    return out


def round_sig(v: Any, digits: int = 6) -> Any:
    """Round floats to ``digits`` significant digits (for metrics.json, not for display); other values unchanged."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, dict):
        return {k: round_sig(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [round_sig(x, digits) for x in v]
    if isinstance(v, int):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return round_to(f, digits)
