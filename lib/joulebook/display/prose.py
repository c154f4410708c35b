"""Number formatting for report prose: units scaled to the value, three significant digits.

Prose never uses the dollar sign (Markdown renderers may read ``$...$`` as
maths); money is written ``USD 1,230``.
"""

from __future__ import annotations

import math
from typing import Any

from joulebook.core.util import round_to


def missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        f = float(v)
    except (TypeError, ValueError):
        return True
    return math.isnan(f) or math.isinf(f)


def sig(v: Any, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits and thousands separators (``n/a`` when missing)."""
    if missing(v):
        return "n/a"
    f = float(v)
    if f == 0:
        return "0"
    rounded = float(f"{f:.{digits}g}")
    if abs(rounded) >= 10 ** (digits - 1):
        return f"{rounded:,.0f}"
    decimals = digits - 1 - int(math.floor(math.log10(abs(rounded))))
    text = f"{rounded:,.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def sci(v: Any, digits: int = 3) -> str:
    """Scientific notation for very large counts: ``9.04 × 10^21``."""
    if missing(v):
        return "n/a"
    f = float(v)
    if f == 0:
        return "0"
    exp = int(math.floor(math.log10(abs(f))))
    if -3 <= exp < 6:
        return sig(f, digits)
    mant = f / 10 ** exp
    return f"{mant:.{digits - 1}f} × 10^{exp}"


def usd_rate(v: Any) -> str:
    """A unit price: ``USD 10.98``, ``USD 0.0892``."""
    if missing(v):
        return "n/a"
    f = float(v)
    return f"USD {f:,.2f}" if abs(f) >= 1 else f"USD {sig(f)}"


def frame(df, digits: int = 3):
    """A copy of ``df`` with float columns as text (3 significant digits, ``n/a`` for missing) for display."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = [sig(v, digits) for v in out[col]]
    return out


def round_sig(v: Any, digits: int = 6) -> Any:
    """Round floats to ``digits`` significant digits (for metrics.json); other values unchanged."""
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


_COUNT_STEPS = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1.0, "")]


def _scaled(v: Any, steps: list[tuple[float, str]], sep: str = " ") -> str:
    """``v`` in the first unit of ``steps`` (factor, unit; largest first) it reaches, ``sep`` before the unit."""
    if missing(v):
        return "n/a"
    f = float(v)
    for factor, unit in steps:
        if abs(f) >= factor:
            return f"{sig(f / factor)}{sep}{unit}".rstrip()
    factor, unit = steps[-1]  # below the smallest step: still in the smallest unit
    return f"{sig(f / factor)}{sep}{unit}".rstrip()


def energy_kwh(v: Any) -> str:
    return _scaled(v, [(1e6, "GWh"), (1e3, "MWh"), (1.0, "kWh"), (1e-3, "Wh")])


def energy_j(v: Any) -> str:
    return _scaled(v, [(1e9, "GJ"), (1e6, "MJ"), (1e3, "kJ"), (1.0, "J")])


def power_kw(v: Any) -> str:
    return _scaled(v, [(1e3, "MW"), (1.0, "kW")])


def mass_kg(v: Any) -> str:
    """Emissions: ``kg CO2e`` below a tonne, ``t CO2e`` above."""
    return _scaled(v, [(1e3, "t CO2e"), (1.0, "kg CO2e")])


def water_l(v: Any) -> str:
    """Water: litres below 10,000 L, cubic metres above."""
    if missing(v):
        return "n/a"
    f = float(v)
    return f"{sig(f)} L" if abs(f) < 1e4 else f"{sig(f / 1e3)} m³"


def usd(v: Any) -> str:
    if missing(v):
        return "n/a"
    f = float(v)
    if abs(f) >= 1e9:
        return f"USD {sig(f / 1e9)} billion"
    if abs(f) >= 1e6:
        return f"USD {sig(f / 1e6)} million"
    return f"USD {sig(f)}"


def hours(v: Any) -> str:
    """``115 h (4.81 days)`` / ``36 min``."""
    if missing(v):
        return "n/a"
    f = float(v)
    if f < 1:
        return f"{sig(f * 60)} min"
    if f < 48:
        return f"{sig(f)} h"
    return f"{sig(f)} h ({sig(f / 24)} days)"


def seconds(v: Any) -> str:
    if missing(v):
        return "n/a"
    f = float(v)
    return f"{sig(f * 1000)} ms" if f < 1 else f"{sig(f)} s"


def tokens(v: Any) -> str:
    """Token counts: ``2 T``, ``350 M``."""
    return _scaled(v, _COUNT_STEPS)


def params(v: Any) -> str:
    """Model size: ``7B``, ``350M``."""
    return _scaled(v, _COUNT_STEPS, sep="")


def pct(v: Any, digits: int = 2) -> str:
    return "n/a" if missing(v) else f"{sig(100.0 * float(v), digits)} %"


def times(a: Any, b: Any) -> str:
    """How many times ``a`` is ``b``: ``14×``."""
    if missing(a) or missing(b) or float(b) == 0:
        return "n/a"
    return f"{sig(float(a) / float(b), 2)}×"


def span(lo: Any, hi: Any, fmt) -> str:
    """``(range 9.1 MWh to 14.2 MWh)``."""
    if missing(lo) or missing(hi):
        return ""
    return f"(range {fmt(lo)} to {fmt(hi)})"


def listing(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
