"""Periodic power sampling in a background thread, and trapezoid integration.

The sampler calls one function (the meter's "take a sample") every ``interval_s``
seconds on a fixed grid ``t_start + k * interval_s``; a late tick does not shift the
grid, and ticks that could not run at all are skipped and counted. With a virtual
clock (``clock.virtual``, see :class:`~joulebook.testing.fake_nvml.FakeClock`) no thread is
started: the clock calls the sampler as it advances, which makes tests exact.

Integration is the trapezoid rule over (time, power) pairs. For a piecewise-constant
power curve its error is at most ``sum(|step|) * dt / 2`` over the steps inside the
window (``dt`` the sampling interval); for a linear stretch it is exact. A load whose
bursts are commensurate with the sampling interval can alias: sample faster, or use the
energy counter, which the meter prefers whenever the GPU has one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np

DEFAULT_INTERVAL_S = 0.1  # 10 Hz


class RealClock:
    """Monotonic wall time (``time.perf_counter``)."""

    virtual = False

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Sampler:
    """Call ``tick()`` every ``interval_s`` seconds until stopped."""

    def __init__(self, tick: Callable[[], None], interval_s: float = DEFAULT_INTERVAL_S, clock=None,
                 name: str = "joulebook-sampler"):
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError("interval_s must be > 0")
        self.tick = tick
        self.interval_s = float(interval_s)
        self.clock = clock or RealClock()
        self.name = name
        self.ticks = 0
        self.skipped = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer = None
        self.t_start: float | None = None

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive()) or self._timer is not None

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.t_start = self.clock.now()
        if getattr(self.clock, "virtual", False):
            self._timer = self.clock.call_every(self.interval_s, self._safe_tick, start=self.t_start)
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thread is not None:
            if self._thread is not threading.current_thread():
                self._thread.join(timeout)
            self._thread = None

    def _safe_tick(self) -> None:
        try:
            self.tick()
            self.ticks += 1
        except Exception as e:  # a sampler must not die silently: keep the first errors
            if len(self.errors) < 20:
                self.errors.append(f"{type(e).__name__}: {e}")

    def _run(self) -> None:
        k = 1
        start = self.t_start
        while True:
            delay = start + k * self.interval_s - self.clock.now()
            if delay > 0 and self._stop.wait(delay):
                return
            if self._stop.is_set():
                return
            self._safe_tick()
            k += 1
            behind = self.clock.now() - (start + k * self.interval_s)
            if behind >= self.interval_s:  # whole slots already missed: skip them, take the late one now
                missed = int(behind // self.interval_s)
                self.skipped += missed
                k += missed


class Integrator:
    """Running trapezoid integral, peak, count and largest gap of one power series."""

    __slots__ = ("t_first", "t_last", "p_first", "p_last", "energy_j", "peak_w", "n", "missed", "max_gap_s")

    def __init__(self) -> None:
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.p_first = 0.0
        self.p_last = 0.0
        self.energy_j = 0.0
        self.peak_w: float | None = None
        self.n = 0
        self.missed = 0
        self.max_gap_s = 0.0

    def add(self, t: float, p: float | None) -> None:
        if p is None:
            self.missed += 1
            return
        if self.t_last is None:
            self.t_first = t
            self.p_first = p
        else:
            dt = t - self.t_last
            self.energy_j += 0.5 * (p + self.p_last) * dt
            if dt > self.max_gap_s:
                self.max_gap_s = dt
        self.t_last = t
        self.p_last = p
        self.n += 1
        if self.peak_w is None or p > self.peak_w:
            self.peak_w = p

    def gap_to_edges(self, t0: float, t1: float) -> float:
        """Largest stretch of the window [t0, t1] without a valid reading."""
        if self.t_first is None:
            return t1 - t0
        return max(self.max_gap_s, self.t_first - t0, t1 - self.t_last)


def trapezoid_energy_j(t_s, power_w) -> float:
    """Trapezoid integral of power (W) over time (s), ignoring NaN readings. Needs two valid points."""
    t = np.asarray(t_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.size < 2:
        raise ValueError("need at least two valid samples to integrate")
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    return float(np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(t)))
