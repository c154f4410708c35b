"""Helpers shared by the CLI verbs: JSON output and human tables."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars, NaN (to null), dataclasses and mappings for ``json.dumps``."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def print_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (int, float, np.floating, np.integer)):
        v = float(value)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            s = f"{v:.3e}"
        elif abs(v) >= 100:
            s = f"{v:,.0f}"
        else:
            s = f"{v:.3g}"
        return f"{s} {unit}".strip()
    return str(value)


def print_table(rows: list[tuple[str, str]], title: str | None = None) -> None:
    if title:
        print(title)
    width = max((len(k) for k, _ in rows), default=0)
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
