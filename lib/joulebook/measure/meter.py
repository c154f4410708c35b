"""The energy meter: windows over one or more GPUs, as a context manager, decorator or by hand.

    from joulebook.measure import EnergyMeter

    with EnergyMeter(out="run.jsonl") as meter:      # one window over the block
        meter.begin_window("epoch")                   # named windows nest ...
        for batch in loader:
            with meter.window("step"):               # ... and restart (re-run notebook cells)
                train_step(batch)
        meter.end_window("epoch")
    print(meter.result.energy_kwh)

Per window and per GPU the result holds energy (J), duration, mean and peak power, the
number of power samples, and the method, best first:

* ``energy_counter``: NVML's total-energy counter, read at the window edges only (one
  read costs milliseconds and the counter advances about ten times a second);
* ``power_instant_sampled``: ``NVML_FI_DEV_POWER_INSTANT`` sampled by a background thread
  (default every 0.1 s) and integrated with the trapezoid rule;
* ``power_usage_sampled``: ``nvmlDeviceGetPowerUsage`` sampled the same way; on Ampere and
  newer GPUs that reading is itself a ~1 s average, which the result says.

With ``out``, every open window also gets a ``checkpoint`` record every ``checkpoint_s``
seconds (default 10): its energy so far, read like a window's end (energy counter, else
the samples). A run killed with ``kill -9`` therefore keeps its energy up to the last
checkpoint; the reader turns that into a window marked ``incomplete`` whose energy is a
lower bound. Checkpoints are taken by the sampling thread, so a meter without power
sampling (``power_source="none"``) writes none.

Nothing is reported as 0 when nothing could be read: such a value is ``None`` with a
``missing_reason``, and a meter that can read nothing at all raises
:class:`~joulebook.core.errors.MeasurementUnavailable` when it starts.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from joulebook import __version__
from joulebook.core.errors import InputError, MeasurementUnavailable
from joulebook.measure.backend import (
    POWER_USAGE_NOTE,
    Backend,
    DeviceInfo,
    ReadError,
    Unsupported,
    default_backend,
    visible_devices,
)
from joulebook.measure.jsonl import JsonlWriter
from joulebook.measure.sampler import DEFAULT_INTERVAL_S, Integrator, RealClock, Sampler

DEFAULT_CHECKPOINT_S = 10.0  # seconds between cumulative records of each open window (with ``out``)
METHODS = ("energy_counter", "power_instant_sampled", "power_usage_sampled")
SAMPLE_METHOD = {"instant": "power_instant_sampled", "usage": "power_usage_sampled"}
COUNTER_NOTE = ("energy counter read at the window edges only; it advances about every 0.1 s (H100 probe), so its "
                "edge error is up to ~0.1 s of power at each end")


@dataclass
class GpuWindow:
    """One GPU's share of a window. ``energy_j`` is None (never 0) when it could not be read."""

    gpu: int
    nvml_index: int | None
    uuid: str | None
    name: str | None
    duration_s: float
    energy_j: float | None
    method: str | None
    mean_power_w: float | None
    peak_power_w: float | None
    samples: int | None
    missed_samples: int | None = 0
    energy_j_counter: float | None = None
    energy_j_sampled: float | None = None
    sample_method: str | None = None
    max_gap_s: float | None = None
    idle_power_w: float | None = None
    net_energy_j: float | None = None
    missing_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def energy_kwh(self) -> float | None:
        return None if self.energy_j is None else self.energy_j / 3.6e6

    def to_dict(self) -> dict[str, Any]:
        d = {k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        d["energy_kwh"] = self.energy_kwh
        return d


@dataclass
class WindowResult:
    """A measured window over all metered GPUs (totals are sums over GPUs)."""

    name: str
    t_start_s: float | None
    t_end_s: float | None
    start_unix: float | None
    duration_s: float
    gpus: list[GpuWindow]
    energy_j: float | None
    mean_power_w: float | None
    peak_power_w: float | None
    samples: int | None
    method: str | None
    sample_method: str | None
    interval_s: float | None
    idle_power_w: float | None = None
    net_energy_j: float | None = None
    missing_reason: str | None = None
    restarts: int = 0
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_kwh(self) -> float | None:
        return None if self.energy_j is None else self.energy_j / 3.6e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "t_start_s": _r(self.t_start_s), "t_end_s": _r(self.t_end_s),
            "start_unix": _r(self.start_unix, 3), "duration_s": _r(self.duration_s), "energy_j": _r(self.energy_j),
            "energy_kwh": self.energy_kwh, "mean_power_w": _r(self.mean_power_w), "peak_power_w": _r(self.peak_power_w),
            "samples": self.samples, "method": self.method, "sample_method": self.sample_method,
            "interval_s": self.interval_s, "idle_power_w": _r(self.idle_power_w), "net_energy_j": _r(self.net_energy_j),
            "missing_reason": self.missing_reason, "restarts": self.restarts, "notes": list(self.notes),
            "gpus": [g.to_dict() for g in self.gpus], "meta": dict(self.meta),
        }

    def to_frame(self):
        """One row per GPU."""
        import pandas as pd

        return pd.DataFrame([{"window": self.name, **g.to_dict()} for g in self.gpus])


def _r(v, nd: int = 6):
    return None if v is None else round(float(v), nd)


@dataclass
class _Device:
    gpu: int
    info: DeviceInfo
    counter_ok: bool
    sample_source: str | None  # "instant" | "usage" | None
    energy_method: str
    unsupported: dict[str, str]
    read_errors: int = 0
    last_error: str | None = None
    last_power_error: str | None = None


class _OpenWindow:
    __slots__ = ("name", "t0", "t0_unix", "counters", "accs", "total", "restarts", "meta", "ticks")

    def __init__(self, name, t0, t0_unix, counters, n_gpus, restarts, meta):
        self.name, self.t0, self.t0_unix, self.counters = name, t0, t0_unix, counters
        self.accs = [Integrator() for _ in range(n_gpus)]
        self.total = Integrator()
        self.restarts, self.meta, self.ticks = restarts, meta, 0

    def add(self, t: float, powers: list[float | None]) -> None:
        self.ticks += 1
        for acc, p in zip(self.accs, powers, strict=True):
            acc.add(t, p)
        self.total.add(t, None if any(p is None for p in powers) else sum(powers))


class EnergyMeter:
    """Measure GPU energy over named windows. See the module docstring.

    Parameters
    ----------
    gpus: which GPUs, as indices into the visible list (``CUDA_VISIBLE_DEVICES`` order):
        None (all), an int, ``"0,1"`` or a list.
    interval_s: power sampling interval (default 0.1 s = 10 Hz).
    name: the window opened by ``with meter:`` (default "total") and by the decorator
        (default: the function's name).
    out: JSONL file to stream header, windows, summary (and samples with ``trace``) to.
    trace: keep every power sample (``trace_frame()``) and write it to ``out``.
    sync: call ``torch.cuda.synchronize()`` at window edges when the program has already
        imported torch and initialised CUDA (joulebook never imports torch itself).
    power_source: ``"auto"`` (instantaneous power if the GPU serves it, else power usage),
        ``"instant"``, ``"usage"`` or ``"none"`` (no sampling thread: counter only).
    idle_power_w: known idle power per GPU (float or list), for net energy; or measure it
        with :meth:`measure_idle`.
    counter_min_window_s: windows shorter than this use sampled power when available,
        because the counter only advances about every 0.1 s.
    backend, clock: injectable (tests use ``joulebook.testing.fake_nvml.FakeNVML`` and ``FakeClock``);
        default: real NVML (:func:`~joulebook.measure.backend.default_backend`).
    metadata: extra fields for the JSONL header.
    checkpoint_s: with ``out``, write a cumulative ``checkpoint`` record of every open window
        this often (seconds; None or 0: never), so a killed run keeps its energy so far.
    """

    def __init__(self, gpus=None, *, interval_s: float = DEFAULT_INTERVAL_S, name: str | None = None, out=None,
                 trace: bool = False, sync: bool = True, power_source: str = "auto", idle_power_w=None,
                 counter_min_window_s: float = 1.0, max_gap_s: float | None = None, backend: Backend | None = None,
                 clock=None, metadata: dict[str, Any] | None = None,
                 checkpoint_s: float | None = DEFAULT_CHECKPOINT_S):
        if checkpoint_s is not None and (isinstance(checkpoint_s, bool) or not isinstance(checkpoint_s, (int, float))
                                         or not (math.isfinite(checkpoint_s) and 0 <= checkpoint_s <= 86400)):
            raise InputError("checkpoint_s", f"must be seconds in [0, 86400] (0 or None: no checkpoints), "
                                             f"got {checkpoint_s!r}")
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)) or not (
                math.isfinite(interval_s) and 0.001 <= interval_s <= 60):
            raise InputError("interval_s", f"must be a number of seconds in [0.001, 60], got {interval_s!r}")
        if power_source not in ("auto", "instant", "usage", "none"):
            raise InputError("power_source", f"one of auto, instant, usage, none; got {power_source!r}")
        self._name_given = name is not None
        name = "total" if name is None else name
        if not isinstance(name, str) or not name:
            raise InputError("name", "a window name must be a non-empty string")
        self.gpus_requested = _parse_gpus(gpus)
        self.interval_s = float(interval_s)
        self.name = name
        self.out = out
        self.trace = bool(trace)
        self.sync = bool(sync)
        self.power_source = power_source
        self.counter_min_window_s = float(counter_min_window_s)
        self.max_gap_s = float(max_gap_s) if max_gap_s is not None else max(5 * self.interval_s, 0.5)
        self.metadata = dict(metadata or {})
        self.checkpoint_s = float(checkpoint_s) if checkpoint_s else None
        self._last_checkpoint: float | None = None
        self._idle_given = idle_power_w
        self.idle_power_w: list[float] | None = None
        self._backend_given = backend
        self.backend: Backend | None = None
        self.clock = clock or RealClock()
        self.devices: list[_Device] = []
        self.results: dict[str, WindowResult] = {}
        self.history: list[WindowResult] = []
        self.result: WindowResult | None = None
        self._open: dict[str, _OpenWindow] = {}
        self._lock = threading.RLock()
        self._sampler: Sampler | None = None
        self._writer: JsonlWriter | None = None
        self._trace: list[tuple[float, tuple]] = []
        self._started = False
        self._runs = 0
        self._t_origin = 0.0
        self._start_unix = 0.0
        self._sync_error: str | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._started

    @property
    def origin(self) -> float:
        """Clock reading when the meter started (``t_start_s`` of windows counts from here)."""
        return self._t_origin

    def start(self) -> EnergyMeter:
        """Open NVML, choose a method per GPU, write the header, start the sampler."""
        if self._started:
            return self
        backend = self._backend_given or default_backend()
        devices = backend.open()
        try:
            visible = visible_devices(devices)
            chosen = self._select(visible)
            self.devices = [self._probe(backend, i, d) for i, d in enumerate(chosen)]
            self.backend = backend
            self._idle_from_given()
            self._t_origin = self.clock.now()
            self._last_checkpoint = self._t_origin
            self._start_unix = time.time()
            self._trace = []
            if self.out is not None:
                try:
                    self._writer = JsonlWriter(self.out, append=self._runs > 0)
                except OSError as e:
                    raise InputError("out", f"cannot write {self.out}: {e.strerror or e}") from None
                self._writer.header(**self.header())
        except BaseException:
            backend.close()
            raise
        if any(d.sample_source for d in self.devices):
            self._sampler = Sampler(self._tick, self.interval_s, self.clock)
            self._sampler.start()
        self._started = True
        self._runs += 1
        return self

    def stop(self, extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """End any open window (its data is kept), stop sampling, write the summary. Returns it."""
        if not self._started:
            return None
        for name in list(self._open):
            self.end_window(name, _closed_by_stop=True)
        if self._sampler is not None:
            self._sampler.stop()
        summary = {
            "duration_s": _r(self.clock.now() - self._t_origin), "windows": len(self.history),
            "window_names": list(dict.fromkeys(r.name for r in self.history)),
            "sampler_ticks": self._sampler.ticks if self._sampler else 0,
            "sampler_skipped_ticks": self._sampler.skipped if self._sampler else 0,
            "sampler_errors": list(self._sampler.errors) if self._sampler else [],
            "read_errors": sum(d.read_errors for d in self.devices),
            "last_read_error": next((d.last_error for d in self.devices if d.last_error), None),
        }
        if self._sync_error:
            summary["sync_error"] = self._sync_error
        summary.update(extra or {})
        self._sampler = None
        if self._writer is not None:
            self._writer.summary(summary)
            self._writer.close()
            self._writer = None
        if self.backend is not None:
            self.backend.close()
        self._started = False
        return summary

    def __enter__(self) -> EnergyMeter:
        self.start()
        self.begin_window(self.name)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._started and self.name in self._open:
            self.result = self.end_window(self.name)
        self.stop({"exception": exc_type.__name__} if exc_type else None)

    def __call__(self, fn):
        """Use the meter as a decorator: each call of ``fn`` is measured (``meter.result``).

        The window is named after the function unless the meter was given a ``name``.
        """
        if not self._name_given:
            self.name = getattr(fn, "__qualname__", "call")
            self._name_given = True

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self._started:
                name = self.name
                k = 1
                while name in self._open:
                    k += 1
                    name = f"{self.name}#{k}"
                with self.window(name) as w:
                    out = fn(*args, **kwargs)
                self.result = w.result
                return out
            with self:
                return fn(*args, **kwargs)

        wrapper.meter = self
        return wrapper

    def window(self, name: str, meta: dict[str, Any] | None = None) -> _WindowContext:
        """A context manager (and decorator) for one named window; ``.result`` after exit."""
        return _WindowContext(self, name, meta)

    # ------------------------------------------------------------------ windows
    def begin_window(self, name: str, meta: dict[str, Any] | None = None) -> None:
        """Open (or, if already open, restart) the window ``name``. Starts the meter if needed."""
        if not isinstance(name, str) or not name:
            raise InputError("name", "a window name must be a non-empty string")
        if not self._started:
            self.start()
        self._sync()
        with self._lock:
            old = self._open.pop(name, None)
            restarts = old.restarts + 1 if old else 0
            t0 = self.clock.now()
            counters = [self._read_counter(d) for d in self.devices]
            w = _OpenWindow(name, t0, time.time(), counters, len(self.devices), restarts, dict(meta or {}))
            self._open[name] = w
            if self._sampler is not None:
                self._take_sample()

    def end_window(self, name: str, meta: dict[str, Any] | None = None, *, _closed_by_stop: bool = False) -> WindowResult:
        """Close the window ``name`` and return its :class:`WindowResult` (also streamed to ``out``)."""
        if name not in self._open:
            raise InputError("name", f"no open window {name!r} (open: {', '.join(self._open) or 'none'})")
        self._sync()
        with self._lock:
            if self._sampler is not None:
                self._take_sample()
            t1 = self.clock.now()
            counters = [self._read_counter(d) for d in self.devices]
            w = self._open.pop(name)
        if meta:
            w.meta.update(meta)
        if _closed_by_stop:
            w.meta["closed_by_stop"] = True
        res = self._finish(w, t1, counters)
        self.results[name] = res
        self.history.append(res)
        if self._writer is not None:
            self._writer.window(res.to_dict())
        return res

    def measure_idle(self, seconds: float = 5.0) -> WindowResult:
        """Measure the idle baseline (the GPUs should be idle): sets ``idle_power_w`` per GPU."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (0 < seconds <= 3600):
            raise InputError("idle_baseline_s", f"must be in (0, 3600] seconds, got {seconds!r}")
        self.begin_window("idle_baseline", meta={"baseline": True})
        self.clock.sleep(float(seconds))
        res = self.end_window("idle_baseline")
        missing = [g for g in res.gpus if g.mean_power_w is None]
        if missing:
            raise MeasurementUnavailable("idle baseline could not be measured: " +
                                         "; ".join(f"GPU {g.gpu}: {g.missing_reason}" for g in missing))
        self.idle_power_w = [g.mean_power_w for g in res.gpus]
        return res

    # ------------------------------------------------------------------ data
    def header(self) -> dict[str, Any]:
        methods = {d.energy_method for d in self.devices}
        samples = {d.sample_source for d in self.devices}
        notes = [COUNTER_NOTE] if any(d.counter_ok for d in self.devices) else []
        if "usage" in samples:
            notes.append(POWER_USAGE_NOTE)
        return {
            "host": socket.gethostname(), "pid": _pid(), "created_unix": round(self._start_unix, 3),
            "joulebook_version": __version__, **(self.backend.describe() if self.backend else {}),
            "gpus": [{"gpu": d.gpu, "nvml_index": d.info.nvml_index, "uuid": d.info.uuid, "name": d.info.name,
                      "power_limit_w": d.info.power_limit_w, "method": d.energy_method,
                      "sample_method": SAMPLE_METHOD.get(d.sample_source) if d.sample_source else None,
                      "unsupported": d.unsupported} for d in self.devices],
            "method": methods.pop() if len(methods) == 1 else "mixed",
            "sample_method": (SAMPLE_METHOD.get(next(iter(samples))) if len(samples) == 1 and None not in samples
                              else (None if samples == {None} else "mixed")),
            "interval_s": self.interval_s if any(d.sample_source for d in self.devices) else None,
            "interval_ms": round(self.interval_s * 1000, 3) if any(d.sample_source for d in self.devices) else None,
            "trace": self.trace, "cuda_visible_devices": _env("CUDA_VISIBLE_DEVICES"), "notes": notes,
            "idle_power_w": self.idle_power_w, **self.metadata,
        }

    def trace_frame(self):
        """The kept power samples (``trace=True``) in long format: ``t_s``, ``gpu``, ``power_w``."""
        import numpy as np
        import pandas as pd

        with self._lock:
            rows = list(self._trace)
        n = len(self.devices)
        t = np.array([r[0] for r in rows], dtype=float)
        p = np.array([[np.nan if v is None else v for v in r[1]] for r in rows], dtype=float).reshape(len(rows), n)
        return pd.DataFrame({"t_s": np.repeat(t, n), "gpu": np.tile(np.arange(n), len(rows)), "power_w": p.reshape(-1)})

    # ------------------------------------------------------------------ internals
    def _select(self, visible: list[DeviceInfo]) -> list[DeviceInfo]:
        if self.gpus_requested is None:
            return visible
        bad = [g for g in self.gpus_requested if g >= len(visible)]
        if bad:
            raise InputError("gpus", f"GPU index {bad[0]} is not visible (visible: 0..{len(visible) - 1}, "
                                     f"after CUDA_VISIBLE_DEVICES)")
        return [visible[g] for g in self.gpus_requested]

    def _probe(self, backend: Backend, i: int, d: DeviceInfo) -> _Device:
        why: dict[str, str] = {}

        def ok(fn, label) -> bool:
            try:
                v = fn(d.nvml_index)
            except (Unsupported, ReadError) as e:
                why[label] = str(e)
                return False
            if not (isinstance(v, (int, float)) and math.isfinite(v)) or (label != "energy_counter" and v <= 0):
                why[label] = f"returned {v!r}, not a usable reading"
                return False
            return True

        counter = ok(backend.energy_mj, "energy_counter")
        instant = ok(backend.power_instant_w, "power_instant") if self.power_source in ("auto", "instant") else False
        usage = ok(backend.power_usage_w, "power_usage") if self.power_source in ("auto", "usage") or not (
            counter or instant) else False
        if self.power_source == "instant" and not instant:
            raise MeasurementUnavailable(f"GPU {i} ({d.uuid}): power_source='instant' but NVML_FI_DEV_POWER_INSTANT "
                                         f"cannot be read ({why.get('power_instant')})")
        if self.power_source == "usage" and not usage:
            raise MeasurementUnavailable(f"GPU {i} ({d.uuid}): power_source='usage' but nvmlDeviceGetPowerUsage "
                                         f"cannot be read ({why.get('power_usage')})")
        source = None
        if self.power_source != "none":
            source = "instant" if instant else ("usage" if usage else None)
        if counter:
            method = "energy_counter"
        elif source:
            method = SAMPLE_METHOD[source]
        else:
            reasons = "; ".join(f"{k}: {v}" for k, v in why.items()) or "power sampling disabled (power_source='none')"
            raise MeasurementUnavailable(f"GPU {i} ({d.name}, {d.uuid}) "
                                         f"offers no energy or power reading: {reasons}")
        return _Device(i, d, counter, source, method, why)

    def _idle_from_given(self) -> None:
        v = self._idle_given
        if v is None:
            return
        vals = [v] * len(self.devices) if isinstance(v, (int, float)) and not isinstance(v, bool) else list(v)
        if len(vals) != len(self.devices):
            raise InputError("idle_power_w", f"give one value or one per GPU ({len(self.devices)})")
        for x in vals:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not (0 < x < 10000):
                raise InputError("idle_power_w", f"must be watts in (0, 10000), got {x!r}")
        self.idle_power_w = [float(x) for x in vals]

    def _read_counter(self, d: _Device) -> tuple[float | None, str | None]:
        if not d.counter_ok:
            return None, None
        try:
            return float(self.backend.energy_mj(d.info.nvml_index)), None
        except (Unsupported, ReadError) as e:
            d.read_errors += 1
            d.last_error = f"energy counter: {e}"
            return None, str(e)

    def _read_power(self, d: _Device) -> float | None:
        try:
            if d.sample_source == "instant":
                p = self.backend.power_instant_w(d.info.nvml_index)
            elif d.sample_source == "usage":
                p = self.backend.power_usage_w(d.info.nvml_index)
            else:
                return None
        except (Unsupported, ReadError) as e:
            d.read_errors += 1
            d.last_error = d.last_power_error = f"power: {e}"
            return None
        if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
            d.read_errors += 1
            d.last_error = d.last_power_error = f"power: unusable reading {p!r}"
            return None
        return float(p)

    def _tick(self) -> None:
        with self._lock:
            if self._open or self.trace:
                self._take_sample()
            if self._open and self._writer is not None and self.checkpoint_s is not None:
                now = self.clock.now()
                if now - self._last_checkpoint >= self.checkpoint_s:
                    self._last_checkpoint = now
                    self._checkpoint(now)

    def _checkpoint(self, t: float) -> None:  # lock held
        """A cumulative record of each open window so far (the window itself stays open)."""
        counters = [self._read_counter(d) for d in self.devices]
        for w in self._open.values():
            res = self._finish(w, t, counters)
            try:
                self._writer.write({"type": "checkpoint", **res.to_dict()}, sync=True)
            except (OSError, ValueError) as e:  # a full disk must not stop the measurement itself
                if self._sampler is not None:
                    self._sampler.errors.append(f"checkpoint not written: {e}")

    def _take_sample(self) -> None:  # lock held
        t = self.clock.now()
        powers = [self._read_power(d) for d in self.devices]
        for w in self._open.values():
            w.add(t, powers)
        if self.trace:
            self._trace.append((t, tuple(powers)))
            if self._writer is not None:
                self._writer.sample(t - self._t_origin, powers)

    def _sync(self) -> None:
        if not self.sync:
            return
        torch = sys.modules.get("torch")
        if torch is None:
            return
        try:
            cuda = torch.cuda
            if cuda.is_available() and cuda.is_initialized():
                cuda.synchronize()
        except Exception as e:  # never let synchronisation break a measurement
            self._sync_error = f"{type(e).__name__}: {e}"

    def _finish(self, w: _OpenWindow, t1: float, counters1) -> WindowResult:
        dur = max(t1 - w.t0, 0.0)
        gpus: list[GpuWindow] = []
        for i, d in enumerate(self.devices):
            acc = w.accs[i]
            notes: list[str] = []
            reasons: list[str] = []
            e_sampled = None
            gap = None
            if d.sample_source is not None:
                gap = acc.gap_to_edges(w.t0, t1)
                if acc.n >= 2 and gap <= self.max_gap_s:
                    # trapezoid over the samples, edge values held over the few ms to the window edges
                    e_sampled = acc.energy_j + acc.p_first * (acc.t_first - w.t0) + acc.p_last * (t1 - acc.t_last)
                elif acc.n < 2:
                    reasons.append(f"only {acc.n} valid power reading(s) in the window ({acc.missed} failed"
                                   f"{': ' + d.last_power_error if d.last_power_error else ''})")
                else:
                    reasons.append(f"no valid power reading for {gap:.2f} s of the window (limit {self.max_gap_s:.2f} s; "
                                   f"{acc.missed} reads failed"
                                   f"{': ' + d.last_power_error if d.last_power_error else ''})")
            e_counter = None
            if dur <= 0:
                reasons.append("the window has zero duration")
            elif d.counter_ok:
                (c0, err0), (c1, err1) = w.counters[i], counters1[i]
                if c0 is None or c1 is None:
                    reasons.append(f"energy counter read failed at the window {'start' if c0 is None else 'end'} "
                                   f"({err0 or err1})")
                elif c1 < c0:
                    reasons.append("energy counter went backwards (driver reloaded?)")
                elif c1 == c0:
                    reasons.append("energy counter did not advance (window shorter than its update period)")
                else:
                    e_counter = (c1 - c0) / 1000.0
            energy, method = None, None
            if dur <= 0:
                e_sampled = None
            if e_counter is not None and (dur >= self.counter_min_window_s or e_sampled is None):
                energy, method = e_counter, "energy_counter"
                if dur < self.counter_min_window_s:
                    notes.append(f"window of {dur:.3g} s is short for the energy counter (it advances about every 0.1 s)")
            elif e_sampled is not None:
                energy, method = e_sampled, SAMPLE_METHOD[d.sample_source]
                if e_counter is not None:
                    notes.append(f"window shorter than {self.counter_min_window_s:g} s: sampled power used instead of "
                                 "the energy counter")
                elif d.counter_ok:
                    notes.append(f"energy counter unusable here ({'; '.join(reasons) or 'no reading'}); "
                                 "sampled power used instead")
            if method == "power_usage_sampled" or d.sample_source == "usage":
                notes.append(POWER_USAGE_NOTE)
            if d.sample_source is None:
                notes.append("no power sampling: peak power unknown")
            mean = energy / dur if energy is not None and dur > 0 else None
            idle = self.idle_power_w[i] if self.idle_power_w else None
            gpus.append(GpuWindow(
                gpu=d.gpu, nvml_index=d.info.nvml_index, uuid=d.info.uuid, name=d.info.name, duration_s=dur,
                energy_j=energy, method=method, mean_power_w=mean, peak_power_w=acc.peak_w, samples=acc.n,
                missed_samples=acc.missed, energy_j_counter=e_counter, energy_j_sampled=e_sampled,
                sample_method=SAMPLE_METHOD.get(d.sample_source) if d.sample_source else None,
                max_gap_s=gap, idle_power_w=idle,
                net_energy_j=(energy - idle * dur) if (energy is not None and idle is not None) else None,
                missing_reason=None if energy is not None else ("; ".join(reasons) or "no reading"),
                notes=notes))
        missing = [g for g in gpus if g.energy_j is None]
        energy = None if missing else sum(g.energy_j for g in gpus)
        methods = {g.method for g in gpus}
        idle_sum = sum(self.idle_power_w) if self.idle_power_w else None
        notes = list(dict.fromkeys(n for g in gpus for n in g.notes))
        return WindowResult(
            name=w.name, t_start_s=w.t0 - self._t_origin, t_end_s=t1 - self._t_origin, start_unix=w.t0_unix,
            duration_s=dur, gpus=gpus, energy_j=energy,
            mean_power_w=energy / dur if energy is not None and dur > 0 else None,
            peak_power_w=w.total.peak_w, samples=w.ticks,
            method=None if missing else (methods.pop() if len(methods) == 1 else "mixed"),
            sample_method=gpus[0].sample_method if len({g.sample_method for g in gpus}) == 1 else "mixed",
            interval_s=self.interval_s if self._sampler is not None else None,
            idle_power_w=idle_sum, net_energy_j=(energy - idle_sum * dur) if (energy is not None and idle_sum) else None,
            missing_reason=("; ".join(f"GPU {g.gpu}: {g.missing_reason}" for g in missing) if missing else None),
            restarts=w.restarts, notes=notes, meta=w.meta)


class _WindowContext:
    def __init__(self, meter: EnergyMeter, name: str, meta):
        self.meter, self.name, self.meta = meter, name, meta
        self.result: WindowResult | None = None

    def __enter__(self) -> _WindowContext:
        self.meter.begin_window(self.name, self.meta)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.name in self.meter._open:
            self.result = self.meter.end_window(self.name, {"exception": exc_type.__name__} if exc_type else None)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


def measure(fn=None, /, *, name: str | None = None, **kwargs):
    """Measure a function or a block.

    ``@measure`` / ``@measure(gpus=[0])``: every call of the function is measured
    (``f.meter.result``). ``with measure("step") as m:`` measures the block (``m.result``).
    Keyword arguments go to :class:`EnergyMeter`.
    """
    if callable(fn):
        return EnergyMeter(name=name or getattr(fn, "__qualname__", "call"), **kwargs)(fn)
    if isinstance(fn, str):
        name = fn
    elif fn is not None:
        raise InputError("name", f"measure() takes a function or a window name, got {type(fn).__name__}")
    return EnergyMeter(name=name, **kwargs)


def _parse_gpus(gpus) -> list[int] | None:
    if gpus is None:
        return None
    if isinstance(gpus, str):
        parts = [p.strip() for p in gpus.split(",") if p.strip()]
    elif isinstance(gpus, int) and not isinstance(gpus, bool):
        parts = [gpus]
    else:
        try:
            parts = list(gpus)
        except TypeError:
            raise InputError("gpus", f"expected GPU indices, got {gpus!r}") from None
    out: list[int] = []
    for p in parts:
        try:
            if isinstance(p, bool):
                raise ValueError
            k = int(p)
            if str(p).strip() != str(k) and not isinstance(p, int):
                raise ValueError
        except (TypeError, ValueError):
            raise InputError("gpus", f"GPU indices are whole numbers >= 0, got {p!r}") from None
        if k < 0:
            raise InputError("gpus", f"GPU indices are whole numbers >= 0, got {k}")
        if k in out:
            raise InputError("gpus", f"GPU {k} listed twice")
        out.append(k)
    if not out:
        raise InputError("gpus", "no GPU index given")
    return out


def _pid() -> int:
    return os.getpid()


def _env(name: str) -> str | None:
    return os.environ.get(name)
