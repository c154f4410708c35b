"""Accelerator power as a function of what the chip does, and the node around it.

Power is not a constant TDP. Over a phase of length ``t`` that performs ``F``
floating-point operations and moves ``M`` bytes through HBM on one accelerator::

    u_c = F / (t x peak FLOP/s)          achieved share of the dense peak (compute precision)
    u_m = M / (t x peak bandwidth)       achieved share of the datasheet HBM bandwidth
    f_g = host-side gap time / t         launch gaps of an eager runtime, scheduler time, all-reduce waits
    P   = min(P_cap, P_idle + (P_cap - P_idle) x (k_c u_c + k_m u_m + k_g f_g))

i.e. energy per phase = idle power x time + an energy per FLOP + an energy per
byte + the extra draw of a GPU that waits with its clocks up. ``k_c`` and
``k_m`` (``compute_power_fraction``, ``memory_power_fraction``) and ``k_g``
(``gap_power_fraction``) are fitted by ``scripts/fit_power.py`` on the H100
fitting sets (``data/measured/h100_decode_probe.csv`` and
``data/measured/mlenergy_v3_llama31_h100.csv``) and stored, with low/high from the
fit's bootstrap spread, in ``data/power_model.csv``.

**Transfer rule.** The coefficients are fractions of the dynamic range
``P_cap - P_idle``: an accelerator with a row of its own family in
``power_model.csv`` (``applies_to``) uses it; every other accelerator uses the
fitted H100 family's fractions scaled by its own ``(TDP - idle)`` (a part at the
same share of its peak FLOP/s and bandwidth draws the same share of its dynamic
range) and is labelled ``transferred``. Its idle power is measured where
``accelerators.csv`` has one, else ``idle_fraction_of_tdp`` x TDP.

**Training** uses the same function: the compute share is the training MFU and
the memory share ``training_memory_utilisation`` (fitted on our H100 train-step
probe, which drew 688 W at MFU 0.32 in bf16), see :func:`training_power_w`.

The node around the accelerators (CPUs, DRAM, NICs, fans) adds
``node_overhead_fraction_of_tdp`` x TDP per accelerator.
"""

from __future__ import annotations

import numpy as np

from joulebook import data
from joulebook.core.errors import InputError

WHICH = ("low", "central", "high")
POWER_TERMS = ("compute_power_fraction", "memory_power_fraction", "gap_power_fraction", "training_memory_utilisation")
FITTED_FAMILY = "h100"


def _pick(row: tuple[float, float, float], which: str) -> float:
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}")
    return row[WHICH.index(which)]


def idle_power_w(accelerator) -> tuple[float, str, str]:
    """(watts, source_id, note): measured idle power, else ``idle_fraction_of_tdp`` x TDP."""
    acc = data.accelerator(accelerator)
    if acc.idle_w is not None:
        if acc.accelerator_id == "h100-sxm" or not acc.measured_source_id:
            return acc.idle_w, "joulebook_h100_probe1", "measured idle power"
        return acc.idle_w, acc.measured_source_id, "measured minimum chip power (or a sibling chip's, scaled by TDP: see the accelerator's note)"
    lo, mid, hi, _, src = data.assumption_row("idle_fraction_of_tdp")
    return mid * acc.tdp_w, src, f"no measured idle power: {mid:g} x TDP {acc.tdp_w:g} W"


@data.cached
def power_model_row(name: str, accelerator: str) -> tuple[float, float, float, str, str, str]:
    """(low, central, high, source_id, basis, note) of a ``data/power_model.csv`` coefficient for an accelerator.

    ``basis`` is ``fitted on <family>`` when the accelerator is in the row's
    ``applies_to`` list, else ``transferred from <family>`` (the transfer rule of
    the module docstring: same fraction of the dynamic range).
    """
    if name not in POWER_TERMS:
        raise InputError("power_term", f"unknown power-model coefficient {name!r} (one of {', '.join(POWER_TERMS)})")
    df = data.table("power_model")
    rows = df[df["name"] == name]
    if rows.empty:
        raise InputError("power_term", f"data/power_model.csv has no row {name!r}")
    acc_id = data.accelerator(accelerator).accelerator_id
    own = rows[rows["applies_to"].astype(str).str.split(";").apply(lambda xs: acc_id in [x.strip() for x in xs])]
    r = own.iloc[0] if not own.empty else rows[rows["family"] == FITTED_FAMILY].iloc[0]
    basis = (f"fitted on the {r['family']} family" if not own.empty
             else f"transferred from the {r['family']} family (same fraction of cap - idle)")
    low = float(r["value_low"])
    if own.empty and name == "compute_power_fraction":
        # assumption transferred_compute_power_fraction_low: a transferred part may reach its cap only at peak
        k_lo = data.assumption_row("transferred_compute_power_fraction_low")[1]
        if k_lo < low:
            low = k_lo
            basis += f"; low {k_lo:g} (transferred_compute_power_fraction_low: linear in compute up to the cap)"
    return (low, float(r["value"]), float(r["value_high"]), str(r["source_id"]), basis, str(r["note"]))


def power_coefficients(accelerator, which: str = "central") -> dict[str, float]:
    """The four power-model coefficients of an accelerator (``which`` = low, central or high)."""
    return {n: _pick(power_model_row(n, data.accelerator(accelerator).accelerator_id)[:3], which) for n in POWER_TERMS}


def activity_power_w(idle_w, cap_w, compute_utilisation, memory_utilisation, gap_share=0.0, *,
                     compute_power_fraction, memory_power_fraction, gap_power_fraction=0.0):
    """The power model itself, vectorized over broadcastable inputs (see the module docstring).

    ``compute_utilisation`` = achieved / peak FLOP/s, ``memory_utilisation`` =
    achieved / peak HBM bytes/s, ``gap_share`` = share of the time in host-side
    gaps; the ``*_power_fraction`` coefficients come from :func:`power_coefficients`.
    Returns watts per accelerator, between idle and the cap.
    """
    dyn = cap_w - idle_w
    raw = idle_w + dyn * (compute_power_fraction * compute_utilisation + memory_power_fraction * memory_utilisation
                          + gap_power_fraction * gap_share)
    return np.minimum(cap_w, np.maximum(idle_w, raw))


def training_power_w(idle_w, cap_w, mfu, coefficients: dict[str, float]):
    """Power of a training step: :func:`activity_power_w` with compute share = MFU and
    memory share = ``training_memory_utilisation`` (no host gaps). Vectorized."""
    return activity_power_w(idle_w, cap_w, mfu, coefficients["training_memory_utilisation"], 0.0,
                            compute_power_fraction=coefficients["compute_power_fraction"],
                            memory_power_fraction=coefficients["memory_power_fraction"])


def node_power_w(accelerator, which: str = "central") -> float:
    """Non-accelerator node power per accelerator (W)."""
    acc = data.accelerator(accelerator)
    return _pick(data.assumption_row("node_overhead_fraction_of_tdp")[:3], which) * acc.tdp_w


def accelerator_frame() -> pd.DataFrame:  # noqa: F821
    """One row per accelerator: TDP, idle power (measured or modelled), dense peaks per precision."""
    import pandas as pd

    rows = []
    for a in data.accelerators().values():
        idle, src, note = idle_power_w(a)
        row = {"accelerator_id": a.accelerator_id, "name": a.name, "memory_gb": a.memory_gb,
               "memory_bandwidth_tb_per_s": a.memory_bandwidth_tb_per_s, "tdp_w": a.tdp_w, "idle_w": idle,
               "idle_basis": note}
        for p in ("fp32", "tf32", "bf16", "fp16", "fp8", "int8"):
            row[f"peak_{p}_tflops"] = a.peak_tflops.get(p) if a.supports(p) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
