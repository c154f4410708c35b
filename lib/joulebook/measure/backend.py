"""Where power and energy readings come from: the real NVML backend and the device map.

A *backend* opens the GPUs and answers three questions per GPU, each in its own unit:

* ``energy_mj(i)``: the total-energy counter in millijoules
  (``nvmlDeviceGetTotalEnergyConsumption``; Volta and newer). On the H100 probe it
  advanced about 10 times a second and one read took about 4 ms, so the meter reads
  it at window edges only.
* ``power_instant_w(i)``: instantaneous power in watts, from the field
  ``NVML_FI_DEV_POWER_INSTANT`` of ``nvmlDeviceGetFieldValues`` (about 2 us a read).
* ``power_usage_w(i)``: ``nvmlDeviceGetPowerUsage`` in watts. On Ampere (except
  GA100) and newer GPUs NVML documents this as a one-second average, so it smooths
  bursts; it is the last resort.

Each read raises :class:`Unsupported` when the GPU or driver cannot answer at all,
or :class:`ReadError` when one read failed (a GPU can fail mid-run). Nothing here
runs at import time: ``pynvml`` (package ``nvidia-ml-py``) is imported when a
backend is opened, and a missing library, driver or GPU becomes
:class:`~joulebook.core.errors.MeasurementUnavailable` with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from joulebook.core.errors import MeasurementUnavailable

POWER_USAGE_NOTE = ("nvmlDeviceGetPowerUsage is a ~1 s moving average on Ampere (except GA100) and newer GPUs: "
                    "bursts shorter than about a second are smoothed away, and short windows are skewed")


class Unsupported(Exception):
    """This GPU (or driver) cannot provide the reading at all."""


class ReadError(Exception):
    """One read failed (the GPU may have been lost); later reads may or may not work."""


@dataclass(frozen=True)
class DeviceInfo:
    """One physical GPU as NVML enumerates it."""

    nvml_index: int
    uuid: str
    name: str
    power_limit_w: float | None = None


class Backend:
    """Interface of a power/energy source. Subclasses: :class:`NVMLBackend`, ``joulebook.testing.fake_nvml.FakeNVML``."""

    name = "abstract"

    def open(self) -> list[DeviceInfo]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        pass

    def energy_mj(self, nvml_index: int) -> float:  # pragma: no cover - interface
        raise Unsupported("no energy counter")

    def power_instant_w(self, nvml_index: int) -> float:  # pragma: no cover - interface
        raise Unsupported("no instantaneous power")

    def power_usage_w(self, nvml_index: int) -> float:  # pragma: no cover - interface
        raise Unsupported("no power usage")

    def describe(self) -> dict:
        return {"backend": self.name}


class NVMLBackend(Backend):
    """The real thing, through ``pynvml`` from the ``nvidia-ml-py`` package."""

    name = "nvml"

    def __init__(self) -> None:
        self._nvml = None
        self._handles: dict[int, object] = {}
        self._field_instant: int | None = None
        self._driver = None

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> list[DeviceInfo]:
        try:
            import pynvml
        except ImportError as e:
            raise MeasurementUnavailable(
                f"cannot import pynvml ({e}); install the nvidia-ml-py package (a joulebook dependency)") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise MeasurementUnavailable(_init_reason(pynvml, e)) from None
        except OSError as e:  # pragma: no cover - ctypes edge cases
            raise MeasurementUnavailable(f"NVML library could not be loaded ({e}): no NVIDIA driver here") from None
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as e:
            self.close()
            raise MeasurementUnavailable(f"NVML started but could not count GPUs ({e})") from None
        if count == 0:
            self.close()
            raise MeasurementUnavailable("NVML started but reports no NVIDIA GPU on this machine")
        # The instant-power field id exists in nvidia-ml-py >= 12.535 and needs a recent driver;
        # both are checked: the constant here, the driver when a GPU is probed.
        self._field_instant = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", None)
        try:
            self._driver = _text(pynvml.nvmlSystemGetDriverVersion())
        except pynvml.NVMLError:
            self._driver = None
        devices = []
        for i in range(count):
            try:
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                uuid = _text(pynvml.nvmlDeviceGetUUID(h))
                name = _text(pynvml.nvmlDeviceGetName(h))
            except pynvml.NVMLError as e:
                self.close()
                raise MeasurementUnavailable(f"NVML could not open GPU {i} ({e})") from None
            try:
                limit = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
            except pynvml.NVMLError:
                limit = None
            self._handles[i] = h
            devices.append(DeviceInfo(i, uuid, name, limit))
        return devices

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # pragma: no cover - shutdown errors are not actionable
                pass
        self._nvml = None
        self._handles = {}

    def describe(self) -> dict:
        return {"backend": self.name, "driver": self._driver}

    # -- reads ---------------------------------------------------------------------------------
    def _call(self, fn, *args):
        nv = self._nvml
        if nv is None:
            raise ReadError("NVML is not open")
        try:
            return fn(*args)
        except nv.NVMLError as e:
            if getattr(e, "value", None) in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_FUNCTION_NOT_FOUND):
                raise Unsupported(str(e)) from None
            raise ReadError(str(e)) from None

    def energy_mj(self, nvml_index: int) -> float:
        return float(self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, self._handles[nvml_index]))

    def power_usage_w(self, nvml_index: int) -> float:
        return self._call(self._nvml.nvmlDeviceGetPowerUsage, self._handles[nvml_index]) / 1000.0

    def power_instant_w(self, nvml_index: int) -> float:
        nv = self._nvml
        if self._field_instant is None:
            raise Unsupported("this pynvml has no NVML_FI_DEV_POWER_INSTANT field id (upgrade nvidia-ml-py)")
        values = self._call(nv.nvmlDeviceGetFieldValues, self._handles[nvml_index], [self._field_instant])
        v = values[0]
        ret = int(v.nvmlReturn)
        if ret != nv.NVML_SUCCESS:
            if ret in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_INVALID_ARGUMENT):
                raise Unsupported(f"driver does not serve NVML_FI_DEV_POWER_INSTANT (NVML return {ret})")
            raise ReadError(f"NVML_FI_DEV_POWER_INSTANT read failed (NVML return {ret})")
        return _field_number(nv, v) / 1000.0  # the field is in milliwatts


def _field_number(nv, v) -> float:
    """Decode an ``nvmlFieldValue_t`` union according to its value type."""
    t = int(v.valueType)
    val = v.value
    if t == nv.NVML_VALUE_TYPE_DOUBLE:
        return float(val.dVal)
    if t == nv.NVML_VALUE_TYPE_UNSIGNED_INT:
        return float(val.uiVal)
    if t == nv.NVML_VALUE_TYPE_UNSIGNED_LONG:
        return float(val.ulVal)
    if t == nv.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
        return float(val.ullVal)
    if t == nv.NVML_VALUE_TYPE_SIGNED_LONG_LONG:
        return float(val.sllVal)
    if t == getattr(nv, "NVML_VALUE_TYPE_SIGNED_INT", -1):
        return float(val.siVal)
    if t == getattr(nv, "NVML_VALUE_TYPE_UNSIGNED_SHORT", -1):
        return float(val.usVal)
    raise ReadError(f"unexpected NVML value type {t}")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _init_reason(nv, e) -> str:
    code = getattr(e, "value", None)
    if code == getattr(nv, "NVML_ERROR_LIBRARY_NOT_FOUND", object()):
        return "NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver is installed on this machine"
    if code == getattr(nv, "NVML_ERROR_DRIVER_NOT_LOADED", object()):
        return "the NVIDIA driver is not loaded (no GPU, or the kernel module is missing)"
    if code == getattr(nv, "NVML_ERROR_NO_PERMISSION", object()):
        return "no permission to use NVML on this machine"
    return f"NVML could not be initialised: {e}"


def default_backend() -> Backend:
    """Real NVML. Other backends are passed in (``EnergyMeter(backend=...)``): the measurement layer never
    chooses a fake itself; the CLI passes :class:`joulebook.testing.fake_nvml.FakeNVML` when
    ``$JOULEBOOK_FAKE_NVML`` is set, and tests build one directly."""
    return NVMLBackend()


# --------------------------------------------------------------------------- CUDA_VISIBLE_DEVICES

def visible_devices(devices: list[DeviceInfo], env: str | None = None) -> list[DeviceInfo]:
    """The GPUs a CUDA program on this machine would see, in CUDA's order.

    ``CUDA_VISIBLE_DEVICES`` (``env`` overrides the environment) lists integers or
    UUIDs (``GPU-…``, a unique prefix is enough, as CUDA allows). Integers are taken
    as NVML indices, i.e. PCI bus order; CUDA numbers GPUs the same way when
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (and on machines with one GPU model, in practice).
    As in CUDA, the list stops at the first entry that names no GPU. Unset: every GPU.
    MIG instances are refused: NVML reports energy for the whole physical GPU.
    """
    raw = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    if raw is None:
        return list(devices)
    entries = [e.strip() for e in raw.split(",")]
    if raw.strip() == "":
        raise MeasurementUnavailable("CUDA_VISIBLE_DEVICES is empty: no GPU is visible to this process")
    out: list[DeviceInfo] = []
    for e in entries:
        if e.upper().startswith("MIG-"):
            raise MeasurementUnavailable(
                f"CUDA_VISIBLE_DEVICES names a MIG instance ({e}); NVML energy and power are per physical GPU, "
                "so measure the parent GPU instead (unset CUDA_VISIBLE_DEVICES and pass its index)")
        hit: DeviceInfo | None = None
        if e.lstrip("-").isdigit():
            k = int(e)
            hit = next((d for d in devices if d.nvml_index == k), None) if k >= 0 else None
        elif e:
            key = e if e.upper().startswith("GPU-") else "GPU-" + e
            matches = [d for d in devices if d.uuid.upper().startswith(key.upper())]
            if len(matches) > 1:
                raise MeasurementUnavailable(f"CUDA_VISIBLE_DEVICES entry {e!r} matches several GPUs; give more of the UUID")
            hit = matches[0] if matches else None
        if hit is None:
            break  # CUDA ignores the rest of the list after an invalid entry
        if hit in out:
            raise MeasurementUnavailable(f"CUDA_VISIBLE_DEVICES lists GPU {hit.uuid} twice")
        out.append(hit)
    if not out:
        raise MeasurementUnavailable(f"CUDA_VISIBLE_DEVICES={raw!r} names no GPU of this machine "
                                     f"(NVML sees {len(devices)}: {', '.join(d.uuid for d in devices)})")
    return out
