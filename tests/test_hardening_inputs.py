"""Issue 12, inputs: every example that gave a silent wrong answer or a traceback is refused with one line.

CLI: exit 2 and one line naming the parameter. Library: :class:`InputError` naming it.
"""

import pandas as pd
import pytest

from joulebook.cli import main
from joulebook.core import validate
from joulebook.core.errors import InputError, require_parameters
from joulebook.models import compression, grid, roi
from joulebook.models import presets as models
from joulebook.models.training import estimate_training, estimate_training_frame

TRAIN = ["estimate", "training", "--params", "7e9", "--tokens", "1e12", "--accelerator", "h100-sxm", "--region", "us-va"]
INFER = ["estimate", "inference", "--model", "llama-3-8b"]


def one_line(args, capsys, code=2) -> str:
    got = main(args)
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert got == code, out.err
    assert out.out == ""
    assert len(lines) == 1, out.err
    assert "Traceback" not in out.err and "internal error" not in out.err
    return lines[0]


def with_flag(args, flag, value):
    """``args`` with ``flag`` set to ``value`` (replaced if present)."""
    if flag in args:
        i = args.index(flag)
        return args[:i + 1] + [value] + args[i + 2:]
    return [*args, flag, value]


@pytest.mark.parametrize("base,flag,value,needle", [
    (TRAIN, "--params", "1e300", "physical range"),
    (TRAIN, "--tokens", "1e300", "physical range"),
    (TRAIN, "--count", "1e300", "physical range"),
    (TRAIN, "--layers", "1e300", "physical range"),
    (TRAIN, "--power-w", "1e9", "physical range"),
    (TRAIN, "--intensity-g-per-kwh", "1e6", "physical range"),
    (TRAIN, "--price-usd-per-kwh", "1e6", "physical range"),
    (TRAIN, "--power-w", "0", "> 0"),
    (INFER, "--batch", "1e300", "physical range"),
    (INFER, "--new-tokens", "1e300", "physical range"),
    (INFER, "--power-w", "0", "> 0"),
    (INFER, "--compute-efficiency", "2", "physical range"),
])
def test_numbers_outside_their_physical_range_are_refused(base, flag, value, needle, capsys):
    line = one_line(with_flag(base, flag, value), capsys)
    name = flag[2:].replace("-", "_")
    assert line.startswith(f"joulebook: error: {name}: ") and needle in line, line


@pytest.mark.parametrize("base,flag", [(TRAIN, "--params"), (TRAIN, "--tokens"), (INFER, "--batch"),
                                       (TRAIN, "--power-w"), (["roi"], "--count")])
def test_negative_value_says_negative_not_expected_one_argument(base, flag, capsys):
    line = one_line(with_flag(base, flag, "-7e9"), capsys)
    assert "negative" in line and flag[2:].replace("-", "_") in line and "expected one argument" not in line, line


@pytest.mark.parametrize("flag,value", [("--energy-kwh", "1e300"), ("--hours", "1e9"), ("--pue", "7")])
def test_plan_numbers_are_bounded(flag, value, capsys):
    args = with_flag(["plan", "--energy-kwh", "5000", "--hours", "5", "--regions", "us-va,se"], flag, value)
    assert one_line(args, capsys).startswith(f"joulebook: error: {flag[2:].replace('-', '_')}: ")


@pytest.mark.parametrize("args", [TRAIN[:-1] + [""], TRAIN[:-2] + ["--region=  "], INFER + ["--accelerator", ""],
                                  ["roi", "--region", " "], ["plan", "--energy-kwh", "5", "--hours", "2", "--regions", ""]])
def test_empty_value_is_refused(args, capsys):
    assert "empty value" in one_line(args, capsys)


def test_empty_argument_of_a_measured_command_is_not_ours():
    from joulebook.cli import _empty_value

    assert _empty_value(["measure", "--", "python", "-c", ""]) is None
    assert _empty_value(["estimate", "training", "--region", ""]) == "--region"


def test_negative_infinity_is_read_as_a_value(capsys):
    line = one_line(with_flag(TRAIN, "--params", "-inf"), capsys)
    assert "params" in line and "expected one argument" not in line


@pytest.mark.parametrize("args,needle", [
    (TRAIN + ["--active-params", "8e9"], "active_params"),
    (INFER[:2] + ["--params", "7e9", "--active-params", "8e9"], "active_params"),
    (INFER[:2] + ["--params", "7e9", "--heads", "33", "--hidden", "4096"], "heads"),
    (INFER[:2] + ["--params", "7e9", "--heads", "32", "--kv-heads", "5"], "kv_heads"),
    (INFER[:2] + ["--params", "7e9", "--experts", "2", "--experts-active", "4"], "experts_active"),
    (INFER + ["--technique", "distill:llama-2-70b"], "smaller than its teacher"),
])
def test_impossible_combinations_are_refused(args, needle, capsys):
    assert needle in one_line(args, capsys)


@pytest.mark.parametrize("start,needle", [("9999-12-31T23:59", "year 9999"), ("2026-03-08T02:30", "does not exist"),
                                          ("1900-01-01T00:00", "year 1900")])
def test_start_times_that_cannot_be_modelled(start, needle, capsys):
    line = one_line(TRAIN + ["--start", start], capsys)
    assert "start" in line and needle in line


def test_start_just_after_the_dst_gap_is_fine(capsys):
    assert main(TRAIN + ["--start", "2026-03-08T03:30", "--json"]) == 0
    capsys.readouterr()


def test_dst_gap_in_the_library_names_the_parameter():
    with pytest.raises(InputError, match=r"^when: .*does not exist in America/New_York"):
        grid.aware_datetime("2026-03-08T02:30", "America/New_York", "when")
    # the repeated hour when daylight saving ends is the first of the two
    first = grid.aware_datetime("2026-11-01T01:30", "America/New_York")
    assert first.utcoffset().total_seconds() == -4 * 3600


def test_overlong_hourly_window_is_refused():
    with pytest.raises(InputError, match="^start: .*annual intensity"):
        grid.intensity_series("us-va", "2026-01-01T00:00", 1e9)


@pytest.mark.parametrize("value", ["no", "false ", "yes", 2, 0.5, None, [True]])
def test_recompute_must_be_a_real_boolean(value):
    kw = dict(params=7e9, tokens=1e12, region="us-va")
    if isinstance(value, str) and value.strip() == "false":
        assert estimate_training(**kw, recompute=value)["flops"] == estimate_training(**kw)["flops"]
        return
    with pytest.raises(InputError, match="^recompute: expected True or False"):
        estimate_training(**kw, recompute=value)


def test_recompute_true_and_false_still_work():
    kw = dict(params=7e9, tokens=1e12)
    assert estimate_training(**kw, recompute=True)["flops"] == pytest.approx(estimate_training(**kw)["flops"] * 4 / 3)


def test_library_bounds_match_the_cli():
    with pytest.raises(InputError, match="^params: .*physical range"):
        estimate_training(params=1e300, tokens=1e12)
    with pytest.raises(InputError, match=r"^tokens: must be > 0, got -1e\+12 \(negative\)"):
        estimate_training(params=7e9, tokens=-1e12)
    with pytest.raises(InputError, match="^active_params: "):
        estimate_training(params=7e9, active_params=8e9, tokens=1e12)


# ----------------------------------------------------------------------------------- frames

def frame(**cols):
    base = {"params": [7e9, 7e9], "tokens": [1e12, 1e12], "region": ["us-va", "se"]}
    base.update(cols)
    return pd.DataFrame(base, index=["small", "big"])


def test_frame_refuses_a_start_column():
    with pytest.raises(InputError, match="^start: not understood"):
        estimate_training_frame(frame(start=["2026-07-01T02:00", "2026-07-01T02:00"]))


def test_frame_refuses_a_misspelt_input_column():
    with pytest.raises(InputError, match="^token: unknown input column; close matches: tokens"):
        estimate_training_frame(frame(token=[1, 2]))


def test_frame_keeps_label_columns():
    out = estimate_training_frame(frame(scenario=["a", "b"]))
    assert list(out["scenario"]) == ["a", "b"]


@pytest.mark.parametrize("cols,name", [
    ({"tokens": [1e12, 1e300]}, "tokens"),
    ({"tokens": [1e12, -5.0]}, "tokens"),
    ({"power_w": [700, 0]}, "power_w"),
    ({"recompute": [False, "no"]}, "recompute"),
    ({"active_params": [1e9, 8e9]}, "active_params"),
    ({"count": [1, 2.5]}, "count"),
    ({"tokens": [1e12, "5 tokens"]}, "tokens"),
])
def test_frame_errors_name_the_row_by_its_index_label(cols, name):
    with pytest.raises(InputError) as e:
        estimate_training_frame(frame(**cols))
    msg = str(e.value)
    assert msg.startswith(f"{name}: ") and "'big'" in msg, msg


def test_frame_recompute_accepts_booleans():
    out = estimate_training_frame(frame(recompute=[True, False]))
    assert out.loc["small", "flops"] == pytest.approx(out.loc["big", "flops"] * 4 / 3)


# ----------------------------------------------------------------------------------- shared helpers

def test_bounds_cover_every_numeric_training_input():
    from joulebook.models.training import NUMERIC_INPUTS

    assert set(NUMERIC_INPUTS) <= set(validate.BOUNDS)


def test_custom_model_heads_must_divide_hidden():
    with pytest.raises(InputError, match="^heads: hidden 4096 is not divisible by 33"):
        models.custom(7e9, hidden=4096, heads=33)
    spec, _ = models.custom(7e9, hidden=4096, heads=32)
    assert spec.head_dim == 128


def test_distillation_student_must_be_smaller():
    with pytest.raises(InputError, match="^technique: .*smaller than its teacher"):
        compression.technique_table(["distill:llama-2-70b"], model="llama-3-8b")
    small = compression.technique_table(["distill:llama-3.2-1b"], model="llama-3-8b")
    assert len(small) >= 1


# ----------------------------------------------------------------------------------- ROI

def test_roi_switch_costing_more_every_month_never_breaks_even(capsys):
    code = main(["roi", "--from", "h100-sxm", "--to", "a100-sxm4-80gb", "--count", "64", "--region", "us-va"])
    out = capsys.readouterr().out
    assert code == 0
    assert "month 0" not in out
    verdicts = [ln.split()[-1] for ln in out.splitlines() if ln.strip().startswith("break-even")]
    assert verdicts == ["never", "never"], out
    res = roi.switch_roi(from_accelerator="h100-sxm", to_accelerator="a100-sxm4-80gb", from_count=64, region="us-va")
    assert res.cloud.savings_usd_per_month < 0 and res.cloud.month is None and "never" in res.cloud.reason


@pytest.mark.parametrize("switch_cost", [0.0, -1000.0])
def test_break_even_with_rising_monthly_cost_is_never(switch_cost):
    be = roi.break_even(switch_cost, 100.0, 150.0)
    assert be.month is None and "never" in be.reason and "50 USD more every month" in be.reason
    assert pd.isna(roi.break_even_months(switch_cost, 100.0, 150.0))


def test_break_even_free_switch_without_extra_cost_is_month_zero():
    assert roi.break_even(0.0, 100.0, 100.0).month == 0
    assert roi.break_even(0.0, 100.0, 80.0).month == 0
    assert roi.break_even(1000.0, 100.0, 50.0).month == 20


def test_array_checks_name_the_index_label_of_a_series():
    s = pd.Series([1.0, -2.0], index=["ok", "bad"])
    with pytest.raises(InputError, match=r"^x: must be >= 0 \(row 'bad' is -2\)"):
        validate.array("x", s)
    with pytest.raises(InputError, match=r"^x: must be >= 0 \(row 1 is -2\)"):
        validate.array("x", [1.0, -2.0])


def test_a_report_check_needs_every_parameter_and_no_other():
    names = ("params", "region", "accelerator")
    require_parameters({"params": 1, "region": "se", "accelerator": "h100"}, names)  # all given: fine
    with pytest.raises(InputError, match=r"^regoin: .*close matches: region"):
        require_parameters({"params": 1, "regoin": "se", "accelerator": "h100"}, names)  # unknown before missing
    with pytest.raises(InputError, match=r"^zzz: .*parameters: params, region, accelerator"):
        require_parameters({"zzz": 1}, names)
    with pytest.raises(InputError, match=r"^accelerator: a value is required"):
        require_parameters({"params": 1, "region": "se"}, names)
