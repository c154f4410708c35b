"""Checks on numeric inputs. Each check names the parameter it rejects."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InputError


def number(name: str, value: Any, *, minimum: float | None = 0.0, maximum: float | None = None,
           strictly_positive: bool = False, allow_none: bool = False, integer: bool = False) -> float | None:
    """Return ``value`` as a float after checking it; raise :class:`InputError` naming ``name``.

    Rejects NaN, infinities, booleans, strings with units (``"300W"``) and values
    outside ``[minimum, maximum]``.
    """
    if value is None:
        if allow_none:
            return None
        raise InputError(name, "a value is required")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise InputError(name, f"expected a plain number (units are in the parameter name), got {value!r}") from None
        else:
            raise InputError(name, f"expected a number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v):
        raise InputError(name, "is NaN")
    if math.isinf(v):
        raise InputError(name, "is infinite")
    if strictly_positive and v <= 0:
        raise InputError(name, f"must be > 0, got {v:g}")
    if minimum is not None and v < minimum:
        raise InputError(name, f"must be >= {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise InputError(name, f"must be <= {maximum:g}, got {v:g}")
    if integer and v != int(v):
        raise InputError(name, f"must be a whole number, got {v:g}")
    return v


def fraction(name: str, value: Any, *, allow_zero: bool = False, allow_none: bool = False) -> float | None:
    """A share in (0, 1] (or [0, 1] with ``allow_zero``)."""
    v = number(name, value, minimum=0.0, maximum=1.0, allow_none=allow_none)
    if v is not None and v == 0 and not allow_zero:
        raise InputError(name, "must be > 0 and <= 1, got 0")
    return v


def array(name: str, values: Any, *, minimum: float | None = 0.0, strictly_positive: bool = False,
          maximum: float | None = None) -> np.ndarray:
    """Vectorized twin of :func:`number` for a column of scenarios."""
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(name, "expected numbers") from None
    if a.size == 0:
        return a
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(name, f"is NaN or infinite in row {i}")
    if strictly_positive and (a <= 0).any():
        i = int(np.flatnonzero(a <= 0)[0])
        raise InputError(name, f"must be > 0 (row {i} is {a.flat[i]:g})")
    if minimum is not None and (a < minimum).any():
        i = int(np.flatnonzero(a < minimum)[0])
        raise InputError(name, f"must be >= {minimum:g} (row {i} is {a.flat[i]:g})")
    if maximum is not None and (a > maximum).any():
        i = int(np.flatnonzero(a > maximum)[0])
        raise InputError(name, f"must be <= {maximum:g} (row {i} is {a.flat[i]:g})")
    return a
