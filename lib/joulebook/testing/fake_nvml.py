"""A fake NVML: deterministic power curves, a virtual clock, switchable features, failures.

It drives the tests (no GPU needed) and, through ``$JOULEBOOK_FAKE_NVML``, the CLI end
to end in a subprocess. Every reading is computed exactly from a power curve
``P(t)`` (watts, ``t`` in seconds since the backend was opened):

* energy counter: ``counter_start_mj + floor(1000 * E(t))`` with ``E`` the exact
  integral of ``P``; with ``counter_tick_s > 0`` it only advances at multiples of that
  period, as NVML's counter does (about every 0.1 s on the H100 probe);
* instantaneous power: ``P(t)``;
* power usage: the mean of ``P`` over the last ``usage_window_s`` (1 s), as
  ``nvmlDeviceGetPowerUsage`` behaves on Ampere and newer GPUs.

Spec strings (``$JOULEBOOK_FAKE_NVML`` or :meth:`FakeNVML.from_spec`):

* ``unavailable`` or ``unavailable:REASON``: opening fails with MeasurementUnavailable;
* ``key=value;key=value`` with keys ``gpus`` (count), ``power`` (curve; ``|`` separates
  per-GPU curves), ``counter``, ``instant``, ``usage`` (0/1), ``tick_s``,
  ``fail_after_s``, ``fail_every``, ``power_limit_w``, ``name``;
* a JSON object with the same keys, where ``gpus`` may also be a list of per-GPU objects.

Curves: ``const:W``; ``square:LOW:HIGH:ON_S[:OFF_S[:PHASE_S]]`` (HIGH for ON_S, then LOW
for OFF_S, repeating); ``steps:W1xD1,W2xD2,...[:repeat]`` (piecewise constant, last value
held unless ``:repeat``); ``sine:MEAN:AMP:PERIOD``; ``ramp:W0:W1:DURATION``; and sums
``A+B``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from joulebook.core.errors import InputError, MeasurementUnavailable
from joulebook.measure.backend import Backend, DeviceInfo, ReadError, Unsupported
from joulebook.measure.sampler import RealClock

FAKE_ENV = "JOULEBOOK_FAKE_NVML"
"""The environment variable ``joulebook measure`` reads a fake spec from (the measurement layer itself never does)."""

# --------------------------------------------------------------------------- virtual clock


class FakeClock:
    """Virtual time. ``advance`` moves it forward and fires timers due on the way, in order.

    Samplers register with :meth:`call_every` instead of starting a thread, so a test
    that advances the clock gets exactly the samples a perfect 10 Hz sampler would take.
    """

    virtual = True

    def __init__(self, start: float = 1000.0):
        self._now = float(start)
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            end = self._now + seconds
            while self._timers and self._timers[0][0] <= end:
                due, _, timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                self._now = max(self._now, due)
                timer.fn()
                timer.k += 1
                heapq.heappush(self._timers, (timer.start + timer.k * timer.interval, next(self._seq), timer))
            self._now = end

    def call_every(self, interval: float, fn, start: float | None = None) -> _Timer:
        """Call ``fn`` at ``start + k * interval`` for k = 1, 2, ... while time advances."""
        t = _Timer(fn, float(interval), self._now if start is None else float(start))
        heapq.heappush(self._timers, (t.start + t.interval, next(self._seq), t))
        return t


@dataclass
class _Timer:
    fn: object
    interval: float
    start: float
    k: int = 1
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


# --------------------------------------------------------------------------- power curves

class Curve:
    """A power curve P(t) >= 0 with an exact integral."""

    def power_w(self, t: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def cumulative_j(self, t: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def energy_j(self, t0: float, t1: float) -> float:
        """Exact energy between t0 and t1 (seconds since the backend opened)."""
        return self.cumulative_j(t1) - self.cumulative_j(t0)

    def __add__(self, other: Curve) -> Curve:
        return Sum([self, other])


@dataclass(frozen=True)
class Constant(Curve):
    watts: float

    def power_w(self, t):
        return self.watts

    def cumulative_j(self, t):
        return self.watts * max(t, 0.0)


class PiecewiseConstant(Curve):
    """Segments ``(duration_s, watts)`` from t = 0; then the last value is held, or the pattern repeats.

    ``offset_s`` shifts the pattern: P(t) = pattern(t + offset_s).
    """

    def __init__(self, durations_s, watts, *, repeat: bool = False, offset_s: float = 0.0):
        d = np.asarray(durations_s, dtype=float)
        w = np.asarray(watts, dtype=float)
        if d.ndim != 1 or d.shape != w.shape or d.size == 0:
            raise InputError("power", "piecewise curve needs as many durations as watts (at least one)")
        if (d <= 0).any() or not np.isfinite(d).all():
            raise InputError("power", "segment durations must be > 0")
        if (w < 0).any() or not np.isfinite(w).all():
            raise InputError("power", "power must be >= 0 W")
        self.durations_s, self.watts, self.repeat, self.offset_s = d, w, bool(repeat), float(offset_s)
        self.edges = np.concatenate([[0.0], np.cumsum(d)])
        self.cum = np.concatenate([[0.0], np.cumsum(d * w)])
        self.length = float(self.edges[-1])

    def _pattern_cum(self, u: float) -> float:
        if u <= 0:
            return 0.0
        if self.repeat:
            n, r = divmod(u, self.length)
            return n * self.cum[-1] + self._pattern_cum_once(r)
        if u >= self.length:
            return self.cum[-1] + (u - self.length) * self.watts[-1]
        return self._pattern_cum_once(u)

    def _pattern_cum_once(self, u: float) -> float:
        i = int(np.searchsorted(self.edges, u, side="right")) - 1
        i = min(max(i, 0), len(self.watts) - 1)
        return float(self.cum[i] + (u - self.edges[i]) * self.watts[i])

    def power_w(self, t):
        u = max(t, 0.0) + self.offset_s
        if self.repeat:
            u = u % self.length
        elif u >= self.length:
            return float(self.watts[-1])
        i = int(np.searchsorted(self.edges, u, side="right")) - 1
        return float(self.watts[min(max(i, 0), len(self.watts) - 1)])

    def cumulative_j(self, t):
        t = max(t, 0.0)
        return self._pattern_cum(t + self.offset_s) - self._pattern_cum(self.offset_s)

    def jumps_w(self, t0: float, t1: float) -> float:
        """Sum of |power steps| at times in (t0, t1] (the bound of the trapezoid error uses it)."""
        total = 0.0
        steps = np.abs(np.diff(np.concatenate([self.watts, self.watts[:1]]))) if self.repeat else \
            np.abs(np.diff(self.watts))
        edges = self.edges[1:] if self.repeat else self.edges[1:-1]
        if edges.size == 0:
            return 0.0
        u0, u1 = max(t0, 0.0) + self.offset_s, max(t1, 0.0) + self.offset_s
        if self.repeat:
            k0 = math.floor(u0 / self.length) - 1
            k1 = math.floor(u1 / self.length) + 1
            for k in range(k0, k1 + 1):
                times = edges + k * self.length
                sel = (times > u0) & (times <= u1)
                total += float(steps[sel].sum())
        else:
            sel = (edges > u0) & (edges <= u1)
            total = float(steps[sel].sum())
        return total


def square(low_w: float, high_w: float, on_s: float, off_s: float | None = None, phase_s: float = 0.0) -> PiecewiseConstant:
    """On/off bursts: ``high_w`` for ``on_s``, then ``low_w`` for ``off_s`` (default ``on_s``), repeating."""
    off = on_s if off_s is None else off_s
    return PiecewiseConstant([on_s, off], [high_w, low_w], repeat=True, offset_s=phase_s)


@dataclass(frozen=True)
class Sine(Curve):
    mean_w: float
    amplitude_w: float
    period_s: float

    def power_w(self, t):
        return self.mean_w + self.amplitude_w * math.sin(2 * math.pi * max(t, 0.0) / self.period_s)

    def cumulative_j(self, t):
        t = max(t, 0.0)
        w = 2 * math.pi / self.period_s
        return self.mean_w * t + self.amplitude_w * (1.0 - math.cos(w * t)) / w


@dataclass(frozen=True)
class Ramp(Curve):
    start_w: float
    end_w: float
    duration_s: float

    def power_w(self, t):
        t = max(t, 0.0)
        if t >= self.duration_s:
            return self.end_w
        return self.start_w + (self.end_w - self.start_w) * t / self.duration_s

    def cumulative_j(self, t):
        t = max(t, 0.0)
        u = min(t, self.duration_s)
        e = self.start_w * u + 0.5 * (self.end_w - self.start_w) * u * u / self.duration_s
        return e + max(t - self.duration_s, 0.0) * self.end_w


@dataclass(frozen=True)
class Sum(Curve):
    parts: list

    def power_w(self, t):
        return sum(c.power_w(t) for c in self.parts)

    def cumulative_j(self, t):
        return sum(c.cumulative_j(t) for c in self.parts)


def parse_curve(text: str) -> Curve:
    """Parse a curve spec (see the module docstring)."""
    text = str(text).strip()
    if "+" in text:
        return Sum([parse_curve(p) for p in text.split("+")])
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    try:
        if kind == "const":
            w = float(rest)
            if w < 0:
                raise InputError("power", "power must be >= 0 W")
            return Constant(w)
        if kind == "square":
            a = [float(x) for x in rest.split(":")]
            if not 3 <= len(a) <= 5:
                raise InputError("power", "square:LOW:HIGH:ON_S[:OFF_S[:PHASE_S]]")
            return square(a[0], a[1], a[2], a[3] if len(a) > 3 else None, a[4] if len(a) > 4 else 0.0)
        if kind == "steps":
            body, _, flag = rest.partition(":")
            pairs = [p.split("x") for p in body.split(",") if p.strip()]
            return PiecewiseConstant([float(d) for _, d in pairs], [float(w) for w, _ in pairs],
                                     repeat=flag.strip().lower() == "repeat")
        if kind == "sine":
            m, a, p = (float(x) for x in rest.split(":"))
            if a > m or p <= 0:
                raise InputError("power", "sine needs AMP <= MEAN (power stays >= 0) and PERIOD > 0")
            return Sine(m, a, p)
        if kind == "ramp":
            w0, w1, d = (float(x) for x in rest.split(":"))
            if min(w0, w1) < 0 or d <= 0:
                raise InputError("power", "ramp needs W0, W1 >= 0 and DURATION > 0")
            return Ramp(w0, w1, d)
    except (ValueError, TypeError) as e:
        raise InputError("power", f"cannot parse curve {text!r}: {e}") from None
    raise InputError("power", f"unknown curve {text!r} (const, square, steps, sine, ramp, A+B)")


# --------------------------------------------------------------------------- fake GPUs

@dataclass
class FakeGPU:
    curve: Curve
    uuid: str = ""
    name: str = "Fake GPU (joulebook)"
    counter: bool = True
    instant: bool = True
    usage: bool = True
    usage_window_s: float = 1.0
    counter_tick_s: float = 0.0
    counter_start_mj: float = 7_654_321_000.0
    fail_after_s: float | None = None
    fail_every: int = 0
    power_limit_w: float | None = 700.0
    reads: dict = field(default_factory=lambda: {"energy": 0, "instant": 0, "usage": 0})


class FakeNVML(Backend):
    """A :class:`~joulebook.measure.backend.Backend` whose GPUs follow :class:`Curve` s."""

    name = "fake"

    def __init__(self, gpus: list[FakeGPU] | None = None, *, clock=None, unavailable: str | None = None):
        self.gpus = list(gpus) if gpus is not None else [FakeGPU(Constant(300.0))]
        for i, g in enumerate(self.gpus):
            if not g.uuid:
                g.uuid = f"GPU-fa4e0000-0000-4000-8000-{i:012d}"
        self.clock = clock or RealClock()
        self.unavailable = unavailable
        self.origin: float | None = None
        self.opened = 0
        self._lock = threading.Lock()

    # -- construction from a spec ----------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: str, *, clock=None) -> FakeNVML:
        spec = str(spec).strip()
        if spec.lower().startswith("unavailable"):
            reason = spec.partition(":")[2].strip() or "fake NVML set to unavailable ($JOULEBOOK_FAKE_NVML)"
            return cls([], clock=clock, unavailable=reason)
        if spec.startswith("{"):
            try:
                cfg = json.loads(spec)
            except json.JSONDecodeError as e:
                raise InputError("JOULEBOOK_FAKE_NVML", f"not valid JSON: {e}") from None
        else:
            cfg = {}
            for part in spec.split(";"):
                if not part.strip():
                    continue
                k, sep, v = part.partition("=")
                if not sep:
                    raise InputError("JOULEBOOK_FAKE_NVML", f"expected key=value, got {part!r}")
                cfg[k.strip()] = v.strip()
        return cls(_gpus_from_config(cfg), clock=clock)

    # -- backend interface -------------------------------------------------------------------------
    def open(self) -> list[DeviceInfo]:
        if self.unavailable:
            raise MeasurementUnavailable(self.unavailable)
        if not self.gpus:
            raise MeasurementUnavailable("fake NVML has no GPU")
        self.origin = self.clock.now()
        self.opened += 1
        return [DeviceInfo(i, g.uuid, g.name, g.power_limit_w) for i, g in enumerate(self.gpus)]

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"backend": self.name, "driver": "fake"}

    def t(self) -> float:
        """Seconds since the backend was opened (the curves' time axis)."""
        return self.clock.now() - (self.origin or 0.0)

    def _gpu(self, i: int, what: str) -> tuple[FakeGPU, float]:
        g = self.gpus[i]
        t = self.t()
        with self._lock:
            g.reads[what] += 1
            n = g.reads[what]
        if g.fail_after_s is not None and t >= g.fail_after_s:
            raise ReadError("GPU is lost (fake failure)")
        if g.fail_every and what != "energy" and n % g.fail_every == 0:
            raise ReadError("transient read failure (fake)")
        return g, t

    def energy_mj(self, i: int) -> float:
        g, t = self._gpu(i, "energy")
        if not g.counter:
            raise Unsupported("Not Supported (fake: no energy counter)")
        if g.counter_tick_s > 0:
            t = math.floor(t / g.counter_tick_s + 1e-9) * g.counter_tick_s
        return g.counter_start_mj + math.floor(1000.0 * g.curve.cumulative_j(t))

    def power_instant_w(self, i: int) -> float:
        g, t = self._gpu(i, "instant")
        if not g.instant:
            raise Unsupported("Not Supported (fake: no NVML_FI_DEV_POWER_INSTANT)")
        return g.curve.power_w(t)

    def power_usage_w(self, i: int) -> float:
        g, t = self._gpu(i, "usage")
        if not g.usage:
            raise Unsupported("Not Supported (fake: no power usage)")
        w = min(g.usage_window_s, t)
        if w <= 0:
            return g.curve.power_w(0.0)
        return g.curve.energy_j(t - w, t) / w

    # -- truth for tests -------------------------------------------------------------------------------
    def true_energy_j(self, i: int, t0: float, t1: float) -> float:
        """Exact energy of GPU ``i`` between two clock readings (not backend-relative times)."""
        o = self.origin or 0.0
        return self.gpus[i].curve.energy_j(t0 - o, t1 - o)


def _flag(v) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise InputError("JOULEBOOK_FAKE_NVML", f"expected 0/1, got {v!r}")


def _gpu_from(cfg: dict, curve_text: str, i: int) -> FakeGPU:
    known = {"power", "counter", "instant", "usage", "tick_s", "fail_after_s", "fail_every", "power_limit_w", "name",
             "uuid", "usage_window_s", "gpus"}
    unknown = set(cfg) - known
    if unknown:
        raise InputError("JOULEBOOK_FAKE_NVML", f"unknown keys {sorted(unknown)} (known: {sorted(known)})")
    g = FakeGPU(parse_curve(curve_text))
    g.uuid = str(cfg.get("uuid") or "")
    if "name" in cfg:
        g.name = str(cfg["name"])
    for key in ("counter", "instant", "usage"):
        if key in cfg:
            setattr(g, key, _flag(cfg[key]))
    if "tick_s" in cfg:
        g.counter_tick_s = float(cfg["tick_s"])
    if "usage_window_s" in cfg:
        g.usage_window_s = float(cfg["usage_window_s"])
    if cfg.get("fail_after_s") not in (None, ""):
        g.fail_after_s = float(cfg["fail_after_s"])
    if "fail_every" in cfg:
        g.fail_every = int(cfg["fail_every"])
    if "power_limit_w" in cfg:
        g.power_limit_w = float(cfg["power_limit_w"])
    return g


def _gpus_from_config(cfg: dict) -> list[FakeGPU]:
    gpus = cfg.get("gpus", 1)
    if isinstance(gpus, list):
        base = {k: v for k, v in cfg.items() if k != "gpus"}
        out = []
        for i, g in enumerate(gpus):
            merged = {**base, **g}
            out.append(_gpu_from(merged, str(merged.get("power", "const:300")), i))
        return out
    try:
        n = int(gpus)
    except (TypeError, ValueError):
        raise InputError("JOULEBOOK_FAKE_NVML", f"gpus must be a count or a list, got {gpus!r}") from None
    if n < 1:
        raise InputError("JOULEBOOK_FAKE_NVML", "gpus must be >= 1")
    curves = str(cfg.get("power", "const:300")).split("|")
    return [_gpu_from(cfg, curves[i % len(curves)], i) for i in range(n)]


def backend_from_env(environ=None) -> FakeNVML | None:
    """The fake backend ``$JOULEBOOK_FAKE_NVML`` describes, or None when it is unset or empty."""
    spec = (os.environ if environ is None else environ).get(FAKE_ENV)
    return FakeNVML.from_spec(spec) if spec else None
