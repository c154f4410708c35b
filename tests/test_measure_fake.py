"""The fake NVML backend: exact curves, virtual clock, spec strings, features and failures."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joulebook.core.errors import InputError, MeasurementUnavailable
from joulebook.measure.backend import NVMLBackend, ReadError, Unsupported, default_backend
from joulebook.testing.fake_nvml import (
    FAKE_ENV,
    Constant,
    FakeClock,
    FakeGPU,
    FakeNVML,
    PiecewiseConstant,
    Ramp,
    Sine,
    backend_from_env,
    parse_curve,
    square,
)


@pytest.fixture(autouse=True)
def _no_gpu_environment(monkeypatch):
    """The fake backend is injected explicitly; a CUDA_VISIBLE_DEVICES of the host must not remap it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("JOULEBOOK_FAKE_NVML", raising=False)



def numeric_integral(curve, t0, t1, n=20_000):
    h = (t1 - t0) / n
    return sum(curve.power_w(t0 + (k + 0.5) * h) for k in range(n)) * h


@pytest.mark.parametrize("curve", [
    Constant(250.0), square(100, 700, 0.3), square(80, 650, 0.25, 0.4, 0.1), Sine(400, 150, 0.7), Ramp(100, 700, 2.0),
    PiecewiseConstant([0.5, 1.0, 0.25], [120, 690, 300]), PiecewiseConstant([0.2, 0.3], [90, 500], repeat=True),
    parse_curve("const:100+square:0:300:0.3"),
])
def test_curve_integrals_match_numeric_quadrature(curve):
    for t0, t1 in ((0.0, 3.3), (0.7, 2.15), (1.9, 4.05)):
        assert curve.energy_j(t0, t1) == pytest.approx(numeric_integral(curve, t0, t1), rel=1e-3, abs=1e-2)


def test_square_wave_shape():
    c = square(100, 700, 0.3)
    assert c.power_w(0.1) == 700 and c.power_w(0.45) == 100 and c.power_w(0.61) == 700
    assert c.energy_j(0, 0.6) == pytest.approx(0.3 * 700 + 0.3 * 100)
    assert c.jumps_w(0.0, 1.2) == pytest.approx(4 * 600)  # steps at 0.3, 0.6, 0.9, 1.2


@given(st.lists(st.tuples(st.floats(0.01, 3), st.floats(0, 1000)), min_size=1, max_size=20), st.booleans(),
       st.floats(0, 10), st.floats(0, 10))
@settings(max_examples=60, deadline=None)
def test_piecewise_cumulative_is_additive_and_monotone(segs, repeat, a, b):
    c = PiecewiseConstant([d for d, _ in segs], [w for _, w in segs], repeat=repeat)
    t0, t1 = sorted((a, b))
    mid = (t0 + t1) / 2
    assert c.energy_j(t0, t1) >= -1e-9
    assert c.energy_j(t0, mid) + c.energy_j(mid, t1) == pytest.approx(c.energy_j(t0, t1), abs=1e-6)
    assert c.energy_j(t0, t1) <= max(w for _, w in segs) * (t1 - t0) + 1e-6


def test_fake_clock_fires_timers_in_order_at_exact_times():
    clk = FakeClock(start=5.0)
    seen = []
    clk.call_every(0.1, lambda: seen.append(("a", round(clk.now(), 9))))
    t = clk.call_every(0.25, lambda: seen.append(("b", round(clk.now(), 9))))
    clk.advance(0.5)
    assert [t for k, t in seen if k == "a"] == [5.1, 5.2, 5.3, 5.4, 5.5]
    assert [t for k, t in seen if k == "b"] == [5.25, 5.5]
    assert [t for _, t in seen] == sorted(t for _, t in seen)  # fired in time order
    t.cancel()
    clk.advance(0.25)
    assert [s for s in seen if s[0] == "b"] == [("b", 5.25), ("b", 5.5)]
    assert clk.now() == pytest.approx(5.75)
    with pytest.raises(ValueError):
        clk.advance(-1)


def test_readings_follow_the_curve_and_the_counter_ticks():
    clk = FakeClock()
    g = FakeGPU(square(100, 700, 0.3), counter_tick_s=0.1)
    fake = FakeNVML([g], clock=clk)
    fake.open()
    c0 = fake.energy_mj(0)
    clk.advance(0.15)
    assert fake.power_instant_w(0) == 700
    assert fake.energy_mj(0) - c0 == math.floor(1000 * 700 * 0.1)  # counter held at its 0.1 s tick
    clk.advance(0.05)
    assert fake.energy_mj(0) - c0 == math.floor(1000 * 700 * 0.2)
    clk.advance(1.0)  # t = 1.2: usage is the mean over the last second
    assert fake.power_usage_w(0) == pytest.approx(square(100, 700, 0.3).energy_j(0.2, 1.2))


def test_features_can_be_switched_off_and_fail_mid_run():
    clk = FakeClock()
    fake = FakeNVML([FakeGPU(Constant(300), counter=False, instant=False, fail_after_s=2.0),
                     FakeGPU(Constant(200), fail_every=3)], clock=clk)
    fake.open()
    with pytest.raises(Unsupported):
        fake.energy_mj(0)
    with pytest.raises(Unsupported):
        fake.power_instant_w(0)
    assert fake.power_usage_w(0) == 300
    clk.advance(2.0)
    with pytest.raises(ReadError):
        fake.power_usage_w(0)
    reads = []
    for _ in range(6):
        try:
            reads.append(fake.power_instant_w(1))
        except ReadError:
            reads.append(None)
    assert reads == [200, 200, None, 200, 200, None]


def test_spec_strings():
    f = FakeNVML.from_spec("gpus=3;power=square:100:700:0.3|const:250;counter=0;tick_s=0.1")
    assert len(f.gpus) == 3 and not any(g.counter for g in f.gpus)
    assert isinstance(f.gpus[1].curve, Constant) and f.gpus[2].curve.power_w(0.1) == 700
    assert len({g.uuid for g in f.gpus}) == 3
    j = FakeNVML.from_spec('{"gpus": [{"power": "const:100", "uuid": "GPU-aaaa"}, {"power": "sine:300:100:1", '
                           '"instant": false}], "usage": true}')
    assert [g.uuid for g in j.gpus][0] == "GPU-aaaa" and j.gpus[1].instant is False
    u = FakeNVML.from_spec("unavailable:no driver in this container")
    with pytest.raises(MeasurementUnavailable, match="no driver in this container"):
        u.open()
    for bad in ("gpus=0", "power=triangle:1:2", "power=const:-5", "nonsense", "gpus=1;colour=red", "{not json",
                "power=sine:100:200:1", "counter=maybe"):
        with pytest.raises(InputError):
            FakeNVML.from_spec(bad)


# --------------------------------------------------------------------------- who picks the fake

def test_the_measurement_layer_never_picks_the_fake_itself(monkeypatch):
    """Production code does not import joulebook.testing: with $JOULEBOOK_FAKE_NVML set, the measurement layer
    still defaults to real NVML; the CLI (or a test) passes the fake it builds from the variable."""
    monkeypatch.setenv(FAKE_ENV, "gpus=2;power=const:250")
    assert isinstance(default_backend(), NVMLBackend)
    fake = backend_from_env()
    assert isinstance(fake, FakeNVML) and len(fake.gpus) == 2
    assert backend_from_env({}) is None and backend_from_env({FAKE_ENV: ""}) is None
    with pytest.raises(InputError) as e:
        backend_from_env({FAKE_ENV: "gpus=0"})
    assert e.value.parameter == FAKE_ENV


def test_importing_the_measurement_layer_loads_neither_testing_nor_cli_nor_models():
    code = ("import sys, joulebook.measure; "
            "print(sorted(m for m in sys.modules if m.startswith(('joulebook.testing', 'joulebook.cli', "
            "'joulebook.models', 'joulebook.display', 'joulebook.stories'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
