"""``joulebook measure -- CMD ARGS...``: run a command and measure the GPU energy it draws.

Behaviour (decided here, documented in ``--help``):

* The command runs as a child process with this process's environment (so
  ``CUDA_VISIBLE_DEVICES`` applies to it and to the meter alike) and its output goes where
  ours goes. The report is printed on **stderr** (like ``time``), so the command's stdout
  stays clean. With ``--json`` exactly one JSON object is printed on stdout and the
  command's stdout is sent to stderr.
* The exit code is the command's (128 + N if it died from signal N; 127 if it could not
  be started).
* Ctrl-C / SIGTERM: the first signal is forwarded to the command (unless a terminal Ctrl-C
  already reached it, being in our foreground process group); a second one terminates it,
  a third kills it; it is also terminated if it has not exited 10 s after the first
  signal. The window is closed and the summary written in every case.
* The command does not outlive the meter: on Linux it gets ``SIGKILL`` when the meter
  dies (``prctl(PR_SET_PDEATHSIG)``), so a ``kill -9`` of ``joulebook measure`` does not
  leave it running unmeasured. (To stop both cleanly, signal the meter, which forwards.)
* With ``--out``, each open window gets a cumulative ``checkpoint`` record every
  ``--checkpoint-s`` seconds, so a killed meter's file still holds the energy up to the
  last one (read back as an ``incomplete`` window: a lower bound).
* No NVML (no driver, no GPU, library missing): ``MeasurementUnavailable``, a one-line
  reason on stderr, exit 1, and the command is **not** run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from joulebook import data
from joulebook.cli._common import finite_number_arg, fmt, print_json, print_table
from joulebook.core.errors import InputError, MeasurementUnavailable
from joulebook.core.io import check_output_file
from joulebook.measure import EnergyMeter
from joulebook.stories.measurement_analysis import run_summary
from joulebook.testing.fake_nvml import backend_from_env

GRACE_S = 10.0  # after the first signal, how long the command may take to exit before it is terminated
KILL_AFTER_S = 5.0


def register(sub) -> None:
    p = sub.add_parser(
        "measure", help="run a command and measure its GPU energy (NVML)",
        description="Run CMD, measure the energy its GPUs draw (NVML energy counter, else sampled power), and print "
                    "energy, mean/peak power, duration and, with --region, emissions and electricity cost. "
                    "The report goes to stderr; --json prints one JSON object on stdout (the command's stdout then "
                    "goes to stderr). Exit code: the command's; 1 if no GPU can be measured (the command is not run).",
        usage="joulebook measure [options] -- CMD [ARGS...]")
    p.add_argument("--gpus", help="GPU indices to measure, among those visible (CUDA_VISIBLE_DEVICES order), e.g. 0,1; "
                                  "default: all visible")
    p.add_argument("--interval-ms", type=finite_number_arg, default=100.0, help="power sampling interval in ms (default 100 = 10 Hz)")
    p.add_argument("--out", help="stream the measurement to this JSONL file (header, windows, summary)")
    p.add_argument("--checkpoint-s", type=finite_number_arg, default=10.0,
                   help="with --out, write the energy so far every S seconds, so a killed run keeps it (default 10; "
                        "0: never)")
    p.add_argument("--trace", action="store_true", help="also write every power sample to --out (for plots)")
    p.add_argument("--idle-baseline-s", type=finite_number_arg, help="first measure S seconds of idle power, then report net energy")
    p.add_argument("--region", help="region id for emissions and electricity cost (see `joulebook regions`)")
    p.add_argument("--steps", type=finite_number_arg, help="training steps the command runs: energy per step")
    p.add_argument("--tokens-per-step", type=finite_number_arg, help="tokens per step (with --steps): energy per token")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    p.set_defaults(func=run)


def _validate(args) -> list[str]:
    cmd = list(args.command or [])
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise InputError("command", "give the command to measure after --, e.g. joulebook measure -- python train.py")
    if args.out is not None:
        check_output_file(args.out, "--out")  # the command is not run when its measurement cannot be kept
    if not 0 <= args.checkpoint_s <= 86400:
        raise InputError("checkpoint_s", f"must be seconds in [0, 86400] (0: no checkpoints), got {args.checkpoint_s:g}")
    if args.trace and not args.out:
        raise InputError("trace", "--trace writes the power samples to the --out file: give --out")
    if not 1 <= args.interval_ms <= 60000:
        raise InputError("interval_ms", f"must be between 1 and 60000 ms, got {args.interval_ms:g}")
    if args.steps is not None and (args.steps <= 0 or args.steps != int(args.steps)):
        raise InputError("steps", f"must be a whole number > 0, got {args.steps:g}")
    if args.tokens_per_step is not None:
        if args.steps is None:
            raise InputError("tokens_per_step", "needs --steps (tokens = steps x tokens per step)")
        if args.tokens_per_step <= 0:
            raise InputError("tokens_per_step", f"must be > 0, got {args.tokens_per_step:g}")
    if args.idle_baseline_s is not None and not 0 < args.idle_baseline_s <= 3600:
        raise InputError("idle_baseline_s", f"must be in (0, 3600] seconds, got {args.idle_baseline_s:g}")
    if args.region:
        data.region(args.region)  # unknown region: exit 2 before anything runs
    return cmd


def _terminal_delivered_sigint() -> bool:
    """True when we are the terminal's foreground process group, so Ctrl-C also reached the child."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent():
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux); None elsewhere.

    libc is loaded here, before the fork, so the child only makes two system calls. If this
    process died between the fork and the ``prctl`` call, the child notices that its parent
    changed and exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the meter is already gone
            os._exit(137)

    return preexec


def _exit_code(rc: int | None) -> int:
    if rc is None:
        return 1
    return 128 - rc if rc < 0 else rc


def run(args) -> int:
    cmd = _validate(args)
    # the CLI, not the measurement layer, picks the fake backend ($JOULEBOOK_FAKE_NVML: tests and demos)
    meter = EnergyMeter(gpus=args.gpus, interval_s=args.interval_ms / 1000.0, name="command", out=args.out,
                        trace=args.trace, sync=False, metadata={"command": cmd}, checkpoint_s=args.checkpoint_s,
                        backend=backend_from_env())
    try:
        meter.start()
    except MeasurementUnavailable as e:
        print(f"joulebook: measurement unavailable: {e} (the command was not run)", file=sys.stderr)
        return 1
    state: dict = {"signals": [], "child": None, "first_signal_at": None, "escalated": 0}

    def forward(signum: int) -> None:
        child = state["child"]
        if child is None or child.poll() is not None:
            return
        n = len(state["signals"])
        try:
            if n == 1:
                if not (signum == signal.SIGINT and _terminal_delivered_sigint()):
                    child.send_signal(signum)
            elif n == 2:
                child.terminate()
            else:
                child.kill()
        except ProcessLookupError:
            pass

    def handler(signum, frame) -> None:
        state["signals"].append(signum)
        if state["first_signal_at"] is None:
            state["first_signal_at"] = time.monotonic()
        forward(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    rc: int | None = None
    start_error = None
    try:
        if args.idle_baseline_s:
            meter.measure_idle(args.idle_baseline_s)
        meter.begin_window("command", meta={"command": cmd, "steps": args.steps, "tokens_per_step": args.tokens_per_step})
        try:
            stdout = sys.stderr.fileno() if args.json else None
        except (AttributeError, OSError, ValueError):
            stdout = subprocess.DEVNULL if args.json else None
        try:
            if not state["signals"]:
                state["child"] = subprocess.Popen(cmd, stdout=stdout, preexec_fn=_die_with_parent())
        except OSError as e:
            start_error = f"cannot run {cmd[0]!r}: {e.strerror or e}"
            rc = 127
        child = state["child"]
        if child is not None:
            if state["signals"]:  # a signal arrived while the child was starting
                forward(state["signals"][0])
            while True:
                try:
                    rc = child.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    t0 = state["first_signal_at"]
                    if t0 is None:
                        continue
                    waited = time.monotonic() - t0
                    if waited > GRACE_S and state["escalated"] == 0:
                        state["escalated"] = 1
                        child.terminate()
                    elif waited > GRACE_S + KILL_AFTER_S and state["escalated"] == 1:
                        state["escalated"] = 2
                        child.kill()
        elif rc is None:
            rc = 130  # interrupted before the command started
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        res = meter.end_window("command") if "command" in meter._open else None
        sig = state["signals"][0] if state["signals"] else None
        extra = {"command": cmd, "exit_code": _exit_code(rc), "returncode": rc, "interrupted": bool(sig),
                 "signal": signal.Signals(sig).name if sig else None, "start_error": start_error}
        meter.stop(extra)
    summary = run_summary(res, steps=args.steps, tokens_per_step=args.tokens_per_step, region=args.region,
                          extra={**extra, "out": args.out, "backend": meter.backend.name if meter.backend else None,
                                 "gpu_names": [d.info.name for d in meter.devices]})
    if args.json:
        print_json(summary)
    else:
        _print_human(summary, res)
    if start_error:
        print(f"joulebook: error: {start_error}", file=sys.stderr)
    return _exit_code(rc)


def _print_human(s: dict, res) -> None:
    out = sys.stderr
    stdout, sys.stdout = sys.stdout, out
    try:
        status = (f"interrupted by {s['signal']}, exit code {s['exit_code']}" if s["interrupted"]
                  else f"exit code {s['exit_code']}")
        rows = [("command", " ".join(s["command"])), ("status", status), ("duration", fmt(s["duration_s"], "s"))]
        gpus = s["gpus"]
        rows.append(("GPUs", f"{len(gpus)}: " + ", ".join(f"{g['gpu']} {g['name'] or ''}".strip() for g in gpus)))
        if s["energy_j"] is None:
            rows.append(("energy", f"not measured: {s['missing_reason']}"))
        else:
            rows.append(("energy", f"{s['energy_kwh']:.6g} kWh ({fmt(s['energy_j'], 'J')})"))
        rows.append(("method", f"{s['method'] or 'missing'}" + (f"; power sampled every {s['interval_ms']:g} ms "
                                                                  f"({s['sample_method']})" if s["interval_ms"] else "")))
        rows.append(("mean power", fmt(s["mean_power_w"], "W")))
        rows.append(("peak power", fmt(s["peak_power_w"], "W") + (" (sampled)" if s["peak_power_w"] is not None else "")))
        if s["idle_power_w"] is not None:
            rows.append(("idle baseline", fmt(s["idle_power_w"], "W")))
            rows.append(("net energy above idle", fmt(s["net_energy_j"], "J")))
        ps = s.get("per_step")
        if ps:
            rows.append(("energy per step", f"{fmt(ps['energy_per_step_j'], 'J')} ({fmt(ps['energy_per_step_kwh'], 'kWh')})"))
            if ps.get("energy_per_token_j") is not None:
                rows.append(("energy per token", fmt(ps["energy_per_token_j"], "J")))
        fp = s.get("footprint")
        if fp:
            pue = fp["pue"]
            if fp["emissions_kg"] is not None:
                em = fp["emissions_kg"]
                rows.append(("emissions", f"{fmt(em['central'] * 1000, 'g CO2e')} [{fmt(em['low'] * 1000)} .. "
                                          f"{fmt(em['high'] * 1000)}]"))
            else:
                rows.append(("emissions", "not computed: the energy was not measured"))
            rows.append(("  = facility energy", f"GPU energy x PUE {pue['central']:g} [{pue['low']:g} .. {pue['high']:g}] "
                                                f"x {fp['intensity_g_per_kwh']:g} g/kWh ({fp['region']}, "
                                                f"{fp['intensity_year']}, location-based; GPU only, no node power)"))
            cost = fp["electricity_cost_usd"]
            if fp["price_usd_per_kwh"] is None:
                rows.append(("electricity cost", "no price data for this region"))
            elif cost is None:
                rows.append(("electricity cost", "not computed: the energy was not measured"))
            else:
                rows.append(("electricity cost", f"{fmt(cost['central'], 'USD')} at {fp['price_usd_per_kwh']:g} USD/kWh"))
        if s.get("out"):
            rows.append(("written to", s["out"]))
        print_table(rows, title="joulebook measure")
        for n in s.get("notes") or []:
            print(f"  note: {n}")
        if s.get("backend") == "fake":
            print("  note: fake NVML backend ($JOULEBOOK_FAKE_NVML): these numbers are synthetic")
    finally:
        sys.stdout = stdout
