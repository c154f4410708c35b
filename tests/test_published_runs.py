"""Reproduce published training runs from their accelerator-hours, power and PUE (within 2 %)."""

import pytest

from joulebook import data
from joulebook.models.training import estimate_training

RUNS = data.table("published_training_runs")
PATTERSON = RUNS[RUNS["source_id"] == "patterson_2021"]
ACC = {"TPU v2": "tpu-v2", "TPU v3": "tpu-v3", "V100": "v100-sxm2"}


@pytest.mark.parametrize("run_id", list(PATTERSON["run_id"]))
def test_patterson_runs(run_id):
    r = PATTERSON.set_index("run_id").loc[run_id]
    e = estimate_training(accelerator_hours=float(r["accelerator_hours"]), accelerator=ACC[r["hardware"]],
                          precision="bf16" if "TPU" in r["hardware"] else "fp16", power_w=float(r["power_per_device_w"]),
                          node_power_w=0, pue=float(r["pue"]), intensity_g_per_kwh=float(r["carbon_intensity_g_per_kwh"]))
    assert e.central["facility_energy_kwh"] / 1000 == pytest.approx(float(r["reported_energy_mwh"]), rel=0.02)
    assert e.central["emissions_kg"] / 1000 == pytest.approx(float(r["reported_emissions_tco2e"]), rel=0.02)


def test_bloom_dynamic_energy():
    r = RUNS.set_index("run_id").loc["bloom176b-dynamic"]
    e = estimate_training(accelerator_hours=float(r["accelerator_hours"]), accelerator="a100-sxm4-80gb",
                          power_w=float(r["power_per_device_w"]), node_power_w=0, pue=1.0,
                          intensity_g_per_kwh=float(r["carbon_intensity_g_per_kwh"]))
    assert e.central["facility_energy_kwh"] / 1000 == pytest.approx(float(r["reported_energy_mwh"]), rel=0.02)
    assert e.central["emissions_kg"] / 1000 == pytest.approx(float(r["reported_emissions_tco2e"]), rel=0.02)
