"""Accelerator power as a function of load, and the node around it.

Power is not a constant TDP: it rises from idle to the power cap with load.

    P_accelerator(load) = P_idle + (P_cap - P_idle) * load          (load in [0, 1])
    P_node_overhead     = node_overhead_fraction_of_tdp * TDP       (CPUs, DRAM, NICs, fans)

``load`` is the share of the dynamic range in use. Under sustained training our
H100 probe drew 688 W against a 700 W cap and 119.6 W idle, i.e. load 0.979
(``busy_power_fraction`` in ``data/assumptions.csv``).
"""

from __future__ import annotations

import numpy as np

from . import data
from .validate import array, fraction

WHICH = ("low", "central", "high")


def _pick(row: tuple[float, float, float], which: str) -> float:
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}")
    return row[WHICH.index(which)]


def idle_power_w(accelerator) -> tuple[float, str, str]:
    """(watts, source_id, note): measured idle power, else ``idle_fraction_of_tdp`` x TDP."""
    acc = data.accelerator(accelerator)
    if acc.idle_w is not None:
        return acc.idle_w, "joulebook_h100_probe1", "measured idle power"
    lo, mid, hi, _, src = data.assumption_row("idle_fraction_of_tdp")
    return mid * acc.tdp_w, src, f"no measured idle power: {mid:g} x TDP {acc.tdp_w:g} W"


def load_power_w(idle_w, cap_w, load_fraction):
    """The power model itself, vectorized over any broadcastable inputs: idle + (cap - idle) x load."""
    return idle_w + (cap_w - idle_w) * load_fraction


def power_w(accelerator, load_fraction) -> float | np.ndarray:
    """Accelerator power (W) at ``load_fraction`` of its dynamic range (scalar or array)."""
    acc = data.accelerator(accelerator)
    if np.ndim(load_fraction) == 0:
        load = fraction("load_fraction", load_fraction, allow_zero=True)
    else:
        load = array("load_fraction", load_fraction, minimum=0.0, maximum=1.0)
    idle, _, _ = idle_power_w(acc)
    return load_power_w(idle, acc.tdp_w, load)


def busy_power_w(accelerator, which: str = "central") -> float:
    """Accelerator power (W) under sustained training: :func:`power_w` at the busy fraction."""
    return power_w(accelerator, busy_power_fraction(which))


def busy_power_fraction(which: str = "central") -> float:
    """Share of the idle-to-cap range drawn under sustained training."""
    return _pick(data.assumption_row("busy_power_fraction")[:3], which)


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
