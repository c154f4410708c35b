"""EnergyMeter on the fake backend: methods, failures, several GPUs, CUDA_VISIBLE_DEVICES, windows."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from joulebook.core.errors import InputError, MeasurementUnavailable
from joulebook.measure import POWER_USAGE_NOTE, EnergyMeter, measure, visible_devices
from joulebook.measure.backend import DeviceInfo, NVMLBackend, ReadError, Unsupported
from joulebook.testing.fake_nvml import Constant, FakeClock, FakeGPU, FakeNVML, Ramp, square

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(autouse=True)
def _no_gpu_environment(monkeypatch):
    """The fake backend is injected explicitly; a CUDA_VISIBLE_DEVICES of the host must not remap it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JOULEBOOK_FAKE_NVML", raising=False)



def rig(*gpus, **meter_kw):
    clk = FakeClock()
    fake = FakeNVML(list(gpus), clock=clk)
    meter = EnergyMeter(backend=fake, clock=clk, **meter_kw)
    return clk, fake, meter


def run_window(clk, meter, seconds, name="w"):
    meter.begin_window(name)
    clk.advance(seconds)
    return meter.end_window(name)


# --------------------------------------------------------------------------- methods

def test_counter_is_preferred_and_exact():
    clk, fake, m = rig(FakeGPU(square(100, 700, 0.3, 0.3, 0.05)))
    m.start()
    clk.advance(0.4)
    t0 = clk.now()
    r = run_window(clk, m, 7.3)
    g = r.gpus[0]
    truth = fake.true_energy_j(0, t0, clk.now())
    assert g.method == r.method == "energy_counter"
    assert g.energy_j == pytest.approx(truth, abs=1e-3)  # whole millijoules
    assert g.energy_j_sampled == pytest.approx(truth, rel=0.01)
    assert r.mean_power_w == pytest.approx(truth / 7.3, rel=1e-6)
    assert r.peak_power_w == 700 and g.samples == 74 and r.duration_s == pytest.approx(7.3)
    assert r.energy_kwh == pytest.approx(truth / 3.6e6, rel=1e-6)
    m.stop()


def test_counter_tick_quantisation_is_bounded():
    clk, fake, m = rig(FakeGPU(Constant(650.0), counter_tick_s=0.1))
    m.start()
    clk.advance(0.037)
    r = run_window(clk, m, 5.03)
    assert r.method == "energy_counter"
    assert abs(r.energy_j - 650 * 5.03) <= 2 * 0.1 * 650  # at most one tick of power at each edge


def test_without_counter_instant_power_is_sampled():
    clk, fake, m = rig(FakeGPU(Ramp(100, 700, 4.0), counter=False))
    m.start()
    t0 = clk.now()
    r = run_window(clk, m, 6.0)
    assert r.method == "power_instant_sampled" and r.sample_method == "power_instant_sampled"
    assert r.energy_j == pytest.approx(fake.true_energy_j(0, t0, clk.now()), rel=1e-9)  # trapezoid exact on ramps
    assert m.header()["method"] == "power_instant_sampled"


def test_power_usage_is_last_resort_and_says_it_is_a_one_second_average():
    clk, fake, m = rig(FakeGPU(Constant(300.0), counter=False, instant=False))
    m.start()
    clk.advance(2.0)
    r = run_window(clk, m, 3.0)
    assert r.method == "power_usage_sampled"
    assert r.energy_j == pytest.approx(900.0)
    assert POWER_USAGE_NOTE in r.notes and POWER_USAGE_NOTE in m.header()["notes"]
    assert "1 s" in POWER_USAGE_NOTE


def test_power_usage_smooths_bursts_the_instant_field_does_not():
    burst = square(100, 700, 0.3)
    _, _, usage = rig(FakeGPU(burst, counter=False, instant=False))
    clk_u = usage.clock
    usage.start()
    clk_u.advance(1.0)  # a full second of history behind the averaged reading
    r_u = run_window(clk_u, usage, 5.0)
    _, _, inst = rig(FakeGPU(burst, counter=False))
    inst.start()
    r_i = run_window(inst.clock, inst, 5.0)
    assert r_i.peak_power_w == 700
    assert r_u.peak_power_w < 500  # the one-second average never shows the 700 W bursts


def test_nothing_readable_raises_with_every_reason():
    _, _, m = rig(FakeGPU(Constant(1.0), counter=False, instant=False, usage=False))
    with pytest.raises(MeasurementUnavailable) as e:
        m.start()
    msg = str(e.value)
    assert "energy_counter" in msg and "power_instant" in msg and "power_usage" in msg
    _, _, m2 = rig(FakeGPU(Constant(300), counter=False), power_source="none")
    with pytest.raises(MeasurementUnavailable):
        m2.start()
    _, _, m3 = rig(FakeGPU(Constant(300), instant=False), power_source="instant")
    with pytest.raises(MeasurementUnavailable, match="NVML_FI_DEV_POWER_INSTANT"):
        m3.start()


def test_counter_only_meter_has_no_sampler_and_no_peak():
    clk, _, m = rig(FakeGPU(Constant(400.0)), power_source="none")
    m.start()
    r = run_window(clk, m, 2.0)
    assert r.energy_j == pytest.approx(800.0) and r.peak_power_w is None and r.samples == 0
    assert "peak power unknown" in " ".join(r.notes)
    assert m.header()["interval_s"] is None


# --------------------------------------------------------------------------- failures: never 0

def test_gpu_lost_mid_window_marks_energy_missing_not_zero():
    clk, _, m = rig(FakeGPU(Constant(300.0), fail_after_s=2.0), FakeGPU(Constant(200.0)))
    m.start()
    r = run_window(clk, m, 5.0)
    lost, ok = r.gpus
    assert lost.energy_j is None and lost.method is None and lost.mean_power_w is None
    assert "counter read failed" in lost.missing_reason and "no valid power reading" in lost.missing_reason
    assert ok.energy_j == pytest.approx(1000.0)
    assert r.energy_j is None and r.method is None and "GPU 0" in r.missing_reason
    s = m.stop()
    assert s["read_errors"] > 0 and "lost" in s["last_read_error"]


def test_counter_failing_at_the_end_falls_back_to_sampled_power():
    class FlakyCounter(FakeNVML):
        def energy_mj(self, i):
            if self.t() > 1.0:
                raise ReadError("Unknown Error")
            return super().energy_mj(i)

    clk = FakeClock()
    fake = FlakyCounter([FakeGPU(Constant(250.0))], clock=clk)
    m = EnergyMeter(backend=fake, clock=clk)
    m.start()
    r = run_window(clk, m, 3.0)
    assert r.method == "power_instant_sampled" and r.energy_j == pytest.approx(750.0)
    assert r.gpus[0].energy_j_counter is None
    assert any("counter unusable" in n and "Unknown Error" in n for n in r.notes)


def test_transient_read_failures_are_counted_and_bridged():
    clk, _, m = rig(FakeGPU(Constant(300.0), counter=False, fail_every=4))
    m.start()
    r = run_window(clk, m, 4.0)
    g = r.gpus[0]
    assert g.energy_j == pytest.approx(1200.0) and g.missed_samples >= 9
    assert g.samples + g.missed_samples == r.samples


def test_zero_length_and_counter_that_did_not_tick():
    clk, _, m = rig(FakeGPU(Constant(300.0), counter_tick_s=0.1), power_source="none")
    m.start()
    r0 = run_window(clk, m, 0.0, "zero")
    assert r0.energy_j is None and "zero duration" in r0.missing_reason
    clk.advance(0.01)
    r1 = run_window(clk, m, 0.03, "tiny")  # inside one counter tick
    assert r1.energy_j is None and "did not advance" in r1.missing_reason


def test_short_window_uses_sampled_power_instead_of_the_counter():
    clk, _, m = rig(FakeGPU(Constant(500.0), counter_tick_s=0.1))
    m.start()
    clk.advance(0.05)
    r = run_window(clk, m, 0.45)
    assert r.method == "power_instant_sampled" and r.energy_j == pytest.approx(225.0)
    assert any("shorter than 1 s" in n for n in r.notes)


# --------------------------------------------------------------------------- several GPUs, CUDA_VISIBLE_DEVICES

def four_gpus():
    return [DeviceInfo(i, f"GPU-{i}{i}aa0000-1111-2222-3333-44445555666{i}", "H100", 700.0) for i in range(4)]


def test_cuda_visible_devices_by_index_and_uuid():
    devs = four_gpus()
    assert [d.nvml_index for d in visible_devices(devs, "2,0")] == [2, 0]
    assert [d.nvml_index for d in visible_devices(devs, "GPU-33aa,11aa0000")] == [3, 1]
    assert [d.nvml_index for d in visible_devices(devs, "1,7,2")] == [1]  # CUDA stops at an invalid entry
    assert [d.nvml_index for d in visible_devices(devs, "3,-1,0")] == [3]
    assert len(visible_devices(devs, None)) in (4, len(visible_devices(devs)))
    for bad in ("", "9", "-1", "GPU-ffff"):
        with pytest.raises(MeasurementUnavailable):
            visible_devices(devs, bad)
    with pytest.raises(MeasurementUnavailable, match="MIG"):
        visible_devices(devs, "MIG-1234")
    with pytest.raises(MeasurementUnavailable, match="twice"):
        visible_devices(devs, "0,GPU-00aa")
    amb = [DeviceInfo(0, "GPU-abc1", "x"), DeviceInfo(1, "GPU-abc2", "x")]
    with pytest.raises(MeasurementUnavailable, match="several"):
        visible_devices(amb, "GPU-abc")


def test_meter_maps_visible_gpus_to_nvml_devices(monkeypatch):
    curves = [Constant(100.0), Constant(200.0), Constant(300.0), Constant(400.0)]
    clk = FakeClock()
    fake = FakeNVML([FakeGPU(c) for c in curves], clock=clk)
    uuids = [g.uuid for g in fake.gpus]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"{uuids[3]},2,{uuids[1][4:]}")  # a UUID without "GPU-" works too
    m = EnergyMeter(backend=fake, clock=clk, gpus="0,2")
    m.start()
    r = run_window(clk, m, 2.0)
    assert [g.nvml_index for g in r.gpus] == [3, 1] and [g.gpu for g in r.gpus] == [0, 1]
    assert [g.energy_j for g in r.gpus] == pytest.approx([800.0, 400.0])
    assert r.energy_j == pytest.approx(1200.0) and r.peak_power_w == pytest.approx(600.0)
    assert m.header()["cuda_visible_devices"].startswith(uuids[3])
    m.stop()
    with pytest.raises(InputError, match="not visible"):
        EnergyMeter(backend=FakeNVML([FakeGPU(c) for c in curves], clock=clk), clock=clk, gpus=[5]).start()


def test_several_gpus_with_different_methods():
    clk, _, m = rig(FakeGPU(Constant(300.0)), FakeGPU(Constant(100.0), counter=False),
                    FakeGPU(Constant(50.0), counter=False, instant=False))
    m.start()
    r = run_window(clk, m, 2.0)
    assert [g.method for g in r.gpus] == ["energy_counter", "power_instant_sampled", "power_usage_sampled"]
    assert r.method == "mixed" and r.energy_j == pytest.approx(900.0)
    assert m.header()["method"] == "mixed"


@pytest.mark.parametrize("bad", ["a", "0,0", -1, [1.5], "", True])
def test_gpu_selection_is_validated(bad):
    with pytest.raises(InputError):
        EnergyMeter(gpus=bad)


# --------------------------------------------------------------------------- windows

def test_nested_and_restarted_windows():
    clk, _, m = rig(FakeGPU(Constant(100.0)), counter_min_window_s=0.0)
    m.begin_window("outer")  # starts the meter implicitly
    clk.advance(1.0)
    m.begin_window("inner")
    clk.advance(2.0)
    m.begin_window("inner")  # a re-run notebook cell: restart
    clk.advance(0.5)
    inner = m.end_window("inner")
    clk.advance(1.0)
    outer = m.end_window("outer")
    assert inner.restarts == 1 and inner.energy_j == pytest.approx(50.0)
    assert outer.energy_j == pytest.approx(450.0) and outer.restarts == 0
    m.begin_window("inner")  # same name again after it ended
    clk.advance(0.2)
    again = m.end_window("inner")
    assert again.energy_j == pytest.approx(20.0) and again.restarts == 0
    assert [r.name for r in m.history] == ["inner", "outer", "inner"] and m.results["inner"] is again
    with pytest.raises(InputError, match="no open window"):
        m.end_window("never")
    with pytest.raises(InputError):
        m.begin_window("")
    m.stop()


def test_stop_keeps_open_windows():
    clk, _, m = rig(FakeGPU(Constant(100.0)))
    m.begin_window("forgotten")
    clk.advance(2.0)
    summary = m.stop()
    r = m.results["forgotten"]
    assert r.energy_j == pytest.approx(200.0) and r.meta["closed_by_stop"] is True
    assert summary["windows"] == 1 and not m.running
    assert m.stop() is None


def test_context_manager_decorator_and_measure():
    clk, _, m = rig(FakeGPU(Constant(200.0)), name="block")
    with m as meter:
        clk.advance(1.5)
        with meter.window("part") as w:
            clk.advance(0.5)
    assert w.result.energy_j == pytest.approx(100.0)
    assert m.result.name == "block" and m.result.energy_j == pytest.approx(400.0)

    clk2 = FakeClock()

    @measure(backend=FakeNVML([FakeGPU(Constant(50.0))], clock=clk2), clock=clk2)
    def work(seconds):
        clk2.advance(seconds)
        return "done"

    assert work(2.0) == "done"
    assert work.meter.result.name.endswith("work") and work.meter.result.energy_j == pytest.approx(100.0)
    assert work(1.0) == "done" and work.meter.result.energy_j == pytest.approx(50.0)  # measured per call

    clk3 = FakeClock()
    with measure("step", backend=FakeNVML([FakeGPU(Constant(10.0))], clock=clk3), clock=clk3) as mm:
        clk3.advance(3.0)
    assert mm.result.name == "step" and mm.result.energy_j == pytest.approx(30.0)

    clk4, _, m4 = rig(FakeGPU(Constant(10.0)))

    @m4.window("decorated")
    def step():
        clk4.advance(1.0)

    step()
    step()
    assert [r.name for r in m4.history] == ["decorated", "decorated"]
    with pytest.raises(InputError):
        measure(42)


def test_exception_inside_a_window_is_recorded_and_propagates():
    clk, _, m = rig(FakeGPU(Constant(10.0)))
    with pytest.raises(RuntimeError):
        with m:
            clk.advance(1.0)
            raise RuntimeError("training diverged")
    assert m.result.energy_j == pytest.approx(10.0) and not m.running


def test_idle_baseline_gives_net_energy():
    # 120 W for the first 5 s (idle), then 700 W under load
    from joulebook.testing.fake_nvml import PiecewiseConstant

    clk, _, m = rig(FakeGPU(PiecewiseConstant([5.0, 100.0], [120.0, 700.0])))
    m.start()
    base = m.measure_idle(5.0)
    assert base.meta["baseline"] is True and m.idle_power_w == pytest.approx([120.0])
    r = run_window(clk, m, 10.0)
    assert r.energy_j == pytest.approx(7000.0)
    assert r.idle_power_w == pytest.approx(120.0) and r.net_energy_j == pytest.approx(7000.0 - 1200.0)
    assert m.header()["idle_power_w"] == pytest.approx([120.0])
    _, _, m2 = rig(FakeGPU(Constant(300.0)), FakeGPU(Constant(300.0)), idle_power_w=[100.0, 110.0])
    m2.start()
    r2 = run_window(m2.clock, m2, 1.0)
    assert r2.net_energy_j == pytest.approx(600.0 - 210.0)
    with pytest.raises(InputError):
        rig(FakeGPU(Constant(1.0)), idle_power_w=[1.0, 2.0])[2].start()
    with pytest.raises(InputError):
        m.measure_idle(-1)


def test_meter_arguments_are_validated():
    for kw in ({"interval_s": 0}, {"interval_s": float("nan")}, {"interval_s": "0.1"}, {"power_source": "magic"},
               {"name": ""}):
        with pytest.raises(InputError):
            EnergyMeter(**kw)


def test_trace_is_kept_when_asked():
    clk, _, m = rig(FakeGPU(square(100, 700, 0.3, 0.3, 0.05)), FakeGPU(Constant(50.0)), trace=True)
    m.start()
    clk.advance(1.0)  # samples are kept even outside windows with a trace
    run_window(clk, m, 1.0)
    tf = m.trace_frame()
    assert set(tf.columns) == {"t_s", "gpu", "power_w"} and set(tf["gpu"]) == {0, 1}
    assert len(tf) == 2 * (20 + 2)
    assert set(tf.loc[tf.gpu == 0, "power_w"]) == {100.0, 700.0}


# --------------------------------------------------------------------------- torch synchronisation

def test_torch_synchronize_at_window_edges_only_when_torch_is_in_use(monkeypatch):
    calls = []
    state = {"init": True}
    cuda = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: state["init"],
                                 synchronize=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    clk, _, m = rig(FakeGPU(Constant(1.0)))
    run_window(clk, m, 1.0)
    assert len(calls) == 2
    state["init"] = False  # CUDA never initialised by the program: no sync (and no context created)
    run_window(clk, m, 1.0)
    assert len(calls) == 2
    state["init"] = True
    m.sync = False
    run_window(clk, m, 1.0)
    assert len(calls) == 2

    def broken():
        raise RuntimeError("CUDA error: device-side assert")

    cuda.synchronize = broken
    m.sync = True
    r = run_window(clk, m, 1.0)
    assert r.energy_j == pytest.approx(1.0)
    assert "device-side assert" in m.stop()["sync_error"]


# --------------------------------------------------------------------------- import hygiene and real NVML

def test_importing_joulebook_and_measure_does_not_touch_nvml():
    code = ("import sys, joulebook, joulebook.measure, joulebook.models.calibration, joulebook.cli; "
            "print('pynvml' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


class _FakePynvml(types.ModuleType):
    """Just enough of pynvml's surface to exercise NVMLBackend's code paths."""

    NVML_SUCCESS = 0
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_FUNCTION_NOT_FOUND = 13
    NVML_ERROR_INVALID_ARGUMENT = 2
    NVML_ERROR_UNKNOWN = 999
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_VALUE_TYPE_DOUBLE = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4

    class NVMLError(Exception):
        def __init__(self, value):
            self.value = value
            super().__init__(f"NVML error {value}")

    def __init__(self, init_error=None, field_return=0, field_type=1, counter_error=None):
        super().__init__("pynvml")
        self.init_error, self.field_return, self.field_type, self.counter_error = (
            init_error, field_return, field_type, counter_error)
        self.shutdowns = 0

    def nvmlInit(self):
        if self.init_error is not None:
            raise self.NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlSystemGetDriverVersion(self):
        return b"580.159.04"

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("h", i)

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-0000000{h[1]}-aaaa"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700000

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.counter_error is not None:
            raise self.NVMLError(self.counter_error)
        return 123456789

    def nvmlDeviceGetPowerUsage(self, h):
        return 345678

    def nvmlDeviceGetFieldValues(self, h, ids):
        assert ids == [186]
        value = types.SimpleNamespace(dVal=412.5e3, uiVal=412500, ulVal=412500, ullVal=412500, sllVal=412500)
        return [types.SimpleNamespace(nvmlReturn=self.field_return, valueType=self.field_type, value=value)]


def test_nvml_backend_reads_and_decodes(monkeypatch):
    fake = _FakePynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    b = NVMLBackend()
    devs = b.open()
    assert [d.uuid for d in devs] == ["GPU-00000000-aaaa", "GPU-00000001-aaaa"]
    assert devs[0].name == "NVIDIA H100 80GB HBM3" and devs[0].power_limit_w == 700.0
    assert b.energy_mj(1) == 123456789.0
    assert b.power_usage_w(0) == pytest.approx(345.678)
    assert b.power_instant_w(0) == pytest.approx(412.5)  # the field is in milliwatts
    fake.field_type = 0
    assert b.power_instant_w(0) == pytest.approx(412.5)
    fake.field_return = 3
    with pytest.raises(Unsupported):
        b.power_instant_w(0)
    fake.field_return = 999
    with pytest.raises(ReadError):
        b.power_instant_w(0)
    fake.counter_error = 3
    with pytest.raises(Unsupported):
        b.energy_mj(0)
    fake.counter_error = 999
    with pytest.raises(ReadError):
        b.energy_mj(0)
    assert b.describe()["driver"] == "580.159.04"
    b.close()
    assert fake.shutdowns == 1


def test_nvml_backend_drives_a_meter(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _FakePynvml(counter_error=3))
    monkeypatch.delenv("JOULEBOOK_FAKE_NVML", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    clk = FakeClock()
    m = EnergyMeter(clock=clk)  # default backend: real NVMLBackend (on the fake module)
    m.start()
    r = run_window(clk, m, 2.0)
    assert r.method == "power_instant_sampled" and r.energy_j == pytest.approx(2 * 2 * 412.5)
    assert m.header()["gpus"][0]["unsupported"]["energy_counter"].startswith("NVML error 3")
    m.stop()


@pytest.mark.parametrize("code,needle", [(12, "no NVIDIA driver"), (9, "not loaded"), (4, "permission"),
                                         (999, "could not be initialised")])
def test_nvml_init_failures_say_why(monkeypatch, code, needle):
    monkeypatch.setitem(sys.modules, "pynvml", _FakePynvml(init_error=code))
    with pytest.raises(MeasurementUnavailable, match=needle):
        NVMLBackend().open()


def test_missing_pynvml_says_which_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    with pytest.raises(MeasurementUnavailable, match="nvidia-ml-py"):
        NVMLBackend().open()


def test_real_nvml_on_this_machine_is_clear_when_absent():
    """On a machine without a driver (like CI), the real backend explains itself."""
    b = NVMLBackend()
    try:
        devs = b.open()
    except MeasurementUnavailable as e:
        assert "NVML" in str(e) or "driver" in str(e)
        return
    b.close()
    pytest.skip(f"a real GPU is present ({len(devs)}): covered by scripts/gpu_check.py")


# --------------------------------------------------------------------------- scripts/gpu_check.py (runs on a GPU only)

def test_gpu_check_fails_loudly_without_a_gpu(tmp_path):
    """Here (no GPU, maybe no torch) the device check must exit 1 with a reason, not pretend."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py")], capture_output=True, text=True,
                       env={**os.environ, "OUT": str(tmp_path)}, timeout=120)
    assert r.returncode == 1
    assert "gpu_check: FAIL:" in r.stderr and ("torch" in r.stderr or "NVML" in r.stderr)
    assert not (tmp_path / "gpu_check.json").exists()


def test_gpu_check_maps_device_names_to_accelerators():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from joulebook import data

    assert mod.accelerator_id("NVIDIA H100 80GB HBM3") == "h100-sxm"
    assert mod.accelerator_id("NVIDIA H100 PCIe") == "h100-pcie"
    assert mod.accelerator_id("NVIDIA H200") == "h200-sxm"
    assert mod.accelerator_id("NVIDIA A100-SXM4-80GB") == "a100-sxm4-80gb"
    assert mod.accelerator_id("Tesla T4") is None
    for name in ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H200", "NVIDIA A100-SXM4-80GB",
                 "NVIDIA A100 80GB PCIe"):
        assert data.accelerator(mod.accelerator_id(name)).accelerator_id == mod.accelerator_id(name)
