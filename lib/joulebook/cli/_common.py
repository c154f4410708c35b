"""Helpers shared by the CLI verbs: number arguments, JSON output and human tables (numbers through core.format)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from typing import Any

from joulebook.core import format as display_format
from joulebook.core.errors import InputError
from joulebook.core.io import to_jsonable


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a plain number (units are in the flag name), got {text!r}") from None


def number_arg(text: str) -> float:
    """argparse ``type`` for a plain number; rejects NaN (infinities are left to the model's own checks)."""
    v = _float_arg(text)
    if math.isnan(v):
        raise argparse.ArgumentTypeError("NaN is not a value")
    return v


def finite_number_arg(text: str) -> float:
    """argparse ``type`` for a plain, finite number (rejects NaN and infinities)."""
    v = _float_arg(text)
    if math.isnan(v) or math.isinf(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v


def whole(name: str, value: float | None) -> int | None:
    """``value`` as an int (``None`` stays ``None``); :class:`InputError` naming ``name`` if it has a fraction."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise InputError(name, f"must be a finite whole number, got {value:g}")
    if value != int(value):
        raise InputError(name, f"must be a whole number, got {value:g}")
    return int(value)


def print_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def fmt(value: Any, unit: str = "") -> str:
    """A value for human output, through :mod:`joulebook.core.format` (3 s.f., "—" when missing), then ``unit``.

    Money is written ``1,230 USD``; text is shown as given.
    """
    if isinstance(value, str):
        return f"{value} {unit}".strip() if value.strip() else display_format.MISSING
    if unit == "USD":
        return display_format.money(value)
    shown = display_format.number(value)
    return shown if shown == display_format.MISSING else f"{shown} {unit}".strip()


def print_table(rows: list[tuple[str, str]], title: str | None = None) -> None:
    if title:
        print(title)
    width = max((len(k) for k, _ in rows), default=0)
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")


def print_assumptions(assumptions: Iterable[Any]) -> None:
    """Print an estimate's assumptions, one line each (notes cut to 70 characters), and where the full ones are."""
    print("assumptions:")
    for a in assumptions:
        flag = " (given)" if a.overridden else ""
        note = a.note if len(a.note) <= 70 else a.note[:69] + "…"
        value = a.value if isinstance(a.value, str) else fmt(a.value)
        print(f"  {a.name} = {value} {a.unit}{flag}  [{a.source or display_format.MISSING}] {note}".rstrip())
    print("(--json gives every assumption in full, with its source)")
