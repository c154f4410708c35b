"""Small helpers shared by the model modules (no I/O)."""

from __future__ import annotations

import math
from typing import Any


def round6(x: Any) -> float | None:
    """``x`` as a float rounded to 6 significant figures (for ``metrics.json``); ``None``, NaN and inf give ``None``."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.6g}")
