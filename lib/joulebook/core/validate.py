"""Checks on numeric inputs. Each check names the parameter it rejects."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from joulebook.core.errors import InputError


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
    if strictly_positive and v < 0:
        raise InputError(name, f"must be > 0, got {v:g} (negative)")
    if strictly_positive and v == 0:
        raise InputError(name, "must be > 0, got 0")
    if minimum is not None and v < minimum:
        if v < 0 <= minimum:
            raise InputError(name, f"must be >= {minimum:g}, got {v:g} (negative)")
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


def _label(values: Any, index: Any, i: int) -> str:
    """How an error names row ``i``: the index label of a Series/``index`` (quoted), else the position."""
    labels = index if index is not None else getattr(values, "index", None)
    if labels is not None and not callable(labels) and len(labels) > i:
        return repr(labels[i])
    return str(i)


def array(name: str, values: Any, *, minimum: float | None = 0.0, strictly_positive: bool = False,
          maximum: float | None = None, index: Any = None) -> np.ndarray:
    """Vectorized twin of :func:`number` for a column of scenarios.

    Errors name the failing row by its index label (``values`` a Series, or ``index`` given), else by position.
    """
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(name, "expected numbers") from None
    if a.size == 0:
        return a
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(name, f"is NaN or infinite in row {_label(values, index, i)}")
    if strictly_positive and (a <= 0).any():
        i = int(np.flatnonzero(a <= 0)[0])
        raise InputError(name, f"must be > 0 (row {_label(values, index, i)} is {a.flat[i]:g})")
    if minimum is not None and (a < minimum).any():
        i = int(np.flatnonzero(a < minimum)[0])
        raise InputError(name, f"must be >= {minimum:g} (row {_label(values, index, i)} is {a.flat[i]:g})")
    if maximum is not None and (a > maximum).any():
        i = int(np.flatnonzero(a > maximum)[0])
        raise InputError(name, f"must be <= {maximum:g} (row {_label(values, index, i)} is {a.flat[i]:g})")
    return a


# --------------------------------------------------------------------------- physical ranges of named inputs

# parameter -> (minimum, maximum, strictly positive, what the bound is). One table for every verb and library
# entry point that takes these names: a value outside is refused with the bound and its reason in the message.
BOUNDS: dict[str, tuple[float, float, bool, str]] = {
    "params": (0, 1e15, True, "parameters (1e15 is 500x the largest model ever reported)"),
    "active_params": (0, 1e15, True, "parameters (1e15 is 500x the largest model ever reported)"),
    "tokens": (0, 1e19, True, "training tokens (1e19 is about a million times the largest published training set)"),
    "dataset_tokens": (0, 1e19, True, "tokens (1e19 is about a million times the largest published training set)"),
    "steps": (0, 1e12, True, "steps"),
    "tokens_per_step": (0, 1e12, True, "tokens per step"),
    "batch": (0, 1e8, True, "sequences per step or decoded together"),
    "seq_len": (0, 1e8, True, "tokens per sequence"),
    "prompt_tokens": (0, 1e8, False, "tokens per prompt"),
    "new_tokens": (0, 1e8, True, "generated tokens per sequence"),
    "epochs": (0, 1e6, True, "epochs"),
    "layers": (0, 1e5, True, "layers"),
    "hidden": (0, 1e7, True, "model width"),
    "heads": (0, 1e5, True, "attention heads"),
    "kv_heads": (0, 1e5, True, "KV heads"),
    "head_dim": (0, 1e5, True, "dimensions per head"),
    "vocab": (0, 1e9, True, "vocabulary entries"),
    "experts": (1, 1e5, True, "experts"),
    "experts_active": (1, 1e5, True, "experts per token"),
    "count": (0, 1e8, True, "accelerators (1e8 is 100x the largest fleet)"),
    "to_count": (0, 1e8, True, "accelerators (1e8 is 100x the largest fleet)"),
    "mfu": (0, 1, True, "a fraction of peak"),
    "compute_efficiency": (0, 1, True, "a fraction of peak"),
    "scaling_efficiency": (0, 1, True, "a share of single-accelerator throughput"),
    "utilisation": (0, 1, True, "a share of the time"),
    "resale_fraction": (0, 1, False, "a share of the purchase price"),
    "operations_share_per_year": (0, 10, False, "a share of the purchase price per year"),
    "accelerator_hours": (0, 1e13, True, "accelerator-hours"),
    "power_w": (0, 1e5, True, "watts per accelerator (a part drawing 0 W does no work)"),
    "node_power_w": (0, 1e5, False, "watts per accelerator"),
    "pue": (1, 3, False, "power usage effectiveness (1 = no overhead; the worst sites are near 3)"),
    "intensity_g_per_kwh": (0, 2000, False, "gCO2e/kWh (the dirtiest grids are near 1,200)"),
    "price_usd_per_kwh": (0, 10, False, "USD/kWh"),
    "cloud_price_usd_per_gpu_hour": (0, 1e4, False, "USD per accelerator-hour"),
    "purchase_usd_per_accelerator": (0, 1e8, False, "USD per accelerator"),
    "migration_usd": (0, 1e12, False, "USD"),
    "wue_l_per_kwh": (0, 20, False, "L/kWh (the thirstiest sites are near 9)"),
    "lifetime_years": (0, 50, True, "years"),
    "horizon_months": (0, 600, True, "months"),
    "energy_kwh": (0, 1e12, True, "kWh (1e12 kWh is about twice the electricity of every data centre in a year)"),
    "hours": (0, 2 * 8784, True, "hours (two years: beyond that an annual profile says nothing about timing)"),
    "carbon_price_usd_per_t": (0, 1e4, False, "USD per tonne CO2e"),
}


def bounded(name: str, value: Any, *, allow_none: bool = True) -> float | None:
    """``value`` checked against :data:`BOUNDS` for ``name`` (NaN, infinities, text and negatives refused)."""
    if value is None and allow_none:
        return None
    lo, hi, strictly, what = BOUNDS[name]
    v = number(name, value, minimum=None)
    if v < 0 and lo >= 0:
        raise InputError(name, f"must be {'> 0' if strictly and lo == 0 else f'>= {lo:g}'}, got {v:g} (negative)")
    if strictly and lo == 0 and v == 0:
        raise InputError(name, f"must be > 0, got 0 ({what})")
    if v < lo or v > hi:
        raise InputError(name, f"{v:g} is outside the physical range [{lo:g}, {hi:g}] {what}")
    return v


def bounded_array(name: str, values: Any, index: Any = None) -> np.ndarray:
    """Vectorized :func:`bounded` (NaN = not given, allowed); errors name the row by its index label."""
    a = np.asarray(values, dtype=float)
    lo, hi, strictly, what = BOUNDS[name]
    given = ~np.isnan(a)
    checks = ((np.isinf(a), "is infinite"),
              (given & (a < 0) & (lo >= 0), "is negative"),
              (given & (a == 0) & strictly & (lo == 0), "must be > 0"),
              (given & ((a < lo) | (a > hi)), f"is outside the physical range [{lo:g}, {hi:g}] {what}"))
    for bad, msg in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(name, f"{msg} (row {_label(values, index, i)}: {a.flat[i]:g})")
    return a


def flag(name: str, value: Any) -> bool:
    """A yes/no input: ``True``/``False`` (also numpy booleans, 0/1 and the strings true/false); anything else is refused.

    ``recompute="no"`` must not switch recomputation on because a non-empty string is truthy.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InputError(name, f"expected True or False, got {value!r}")


def flag_array(name: str, values: Any, index: Any = None) -> np.ndarray:
    """Vectorized :func:`flag` (missing = False); errors name the row by its index label."""
    labels = list(index) if index is not None else None
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(list(values)):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        try:
            out[i] = flag(name, v)
        except InputError:
            raise InputError(name, f"expected True or False, got {v!r} (row {labels[i] if labels else i!r})") from None
    return out


def relations(values: dict[str, Any]) -> None:
    """Checks between named inputs (``None``/NaN = not given), shared by every verb and entry point.

    active_params <= params; experts_active <= experts; kv_heads <= heads and divides them; hidden divisible
    by heads when head_dim is not given (otherwise the head width would be a fraction).
    """
    def get(k):
        v = values.get(k)
        if v is None or isinstance(v, (bool, str)):
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(f) else f

    p, a = get("params"), get("active_params")
    if p is not None and a is not None and a > p:
        raise InputError("active_params", f"{a:g} active parameters exceed the {p:g} total (params)")
    e, k = get("experts"), get("experts_active")
    if e is not None and k is not None and k > e:
        raise InputError("experts_active", f"{k:g} active of {e:g} experts is impossible")
    h, kv, d = get("heads"), get("kv_heads"), get("hidden")
    if h is not None and kv is not None and (kv > h or h % kv):
        raise InputError("kv_heads", f"{kv:g} KV heads must divide the {h:g} attention heads")
    if h is not None and d is not None and get("head_dim") is None and d % h:
        raise InputError("heads", f"hidden {d:g} is not divisible by {h:g} heads (give head_dim if the heads are "
                                  "narrower than hidden / heads)")


def check_named(values: dict[str, Any]) -> None:
    """Every entry of ``values`` whose name has a physical range is checked, then :func:`relations`."""
    for name, v in values.items():
        if name in BOUNDS and v is not None and not isinstance(v, bool):
            bounded(name, v)
    relations(values)
