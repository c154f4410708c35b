"""Measure what a GPU job really draws (NVML), stream it to JSONL, read it back.

    from joulebook.measure import EnergyMeter, measure

    with EnergyMeter(out="run.jsonl", trace=True) as m:
        train()
    print(m.result.energy_kwh, m.result.method)

Importing this package does not touch NVML: ``pynvml`` is imported when a meter starts.
To run against a fake GPU, pass ``backend=joulebook.testing.fake_nvml.FakeNVML(...)`` to the meter
(``joulebook measure`` does so when ``$JOULEBOOK_FAKE_NVML`` is set). This package imports only the
core and the data layer.
"""

from joulebook.core.errors import MeasurementUnavailable
from joulebook.measure.backend import POWER_USAGE_NOTE, NVMLBackend, visible_devices
from joulebook.measure.jsonl import JsonlWriter, Measurement, load_measurement, resolve_measurement_file
from joulebook.measure.meter import METHODS, EnergyMeter, GpuWindow, WindowResult, measure
from joulebook.measure.sampler import DEFAULT_INTERVAL_S, trapezoid_energy_j

__all__ = [
    "DEFAULT_INTERVAL_S", "METHODS", "POWER_USAGE_NOTE", "EnergyMeter", "GpuWindow", "JsonlWriter", "Measurement",
    "MeasurementUnavailable", "NVMLBackend", "WindowResult", "load_measurement", "measure", "resolve_measurement_file",
    "trapezoid_energy_j", "visible_devices",
]
