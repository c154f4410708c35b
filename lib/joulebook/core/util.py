"""Small helpers shared by the model modules (no I/O)."""

from __future__ import annotations

import math
from typing import Any


def round_to(x: Any, digits: int) -> float | None:
    """``x`` as a float rounded to ``digits`` significant figures; ``None``, NaN and inf give ``None``."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def round6(x: Any) -> float | None:
    """``x`` rounded to 6 significant figures (the precision of ``metrics.json``)."""
    return round_to(x, 6)
