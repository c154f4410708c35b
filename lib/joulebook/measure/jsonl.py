"""Measurement files: streamed JSON Lines, written as the run goes, read back into DataFrames.

One JSON object per line, each with a ``type``:

* ``header`` (first line): ``format`` ("joulebook-measure"), ``version``, ``host``, ``gpus``
  (index, NVML index, UUID, name, power limit, method), ``method``, ``sample_method``,
  ``interval_s`` / ``interval_ms``, ``trace``, notes;
* ``sample`` (only with a trace): ``t_s`` (seconds since the meter started) and
  ``power_w`` (one value per GPU, ``null`` where a read failed);
* ``window``: one measured window (name, times, duration, energy, mean and peak power,
  sample count, method, idle baseline and net energy, per-GPU details, ``meta``);
* ``checkpoint``: a window still open, so far (same fields as ``window``), written every
  few seconds; when a run is killed before the window closes, the reader turns the last
  checkpoint into a window with ``incomplete: true`` whose energy is a lower bound
  (the run used at least that much);
* ``summary`` (last line, when the run ended normally or was interrupted cleanly).

Every record is flushed when written and window and summary records are also
``fsync``-ed, so a killed process leaves a readable file: the reader skips a torn last
line and says so (``truncated``).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.io import to_jsonable
from joulebook.data import data_dir

FORMAT = "joulebook-measure"
VERSION = 1


class JsonlWriter:
    """Append records to a JSONL file, one flushed line each (thread-safe)."""

    def __init__(self, path: str | os.PathLike, *, append: bool = False):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 - long-lived handle
        self._lock = threading.Lock()
        self.records = 0

    def write(self, record: dict[str, Any], *, sync: bool = False) -> None:
        line = json.dumps(to_jsonable(record), separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock:
            if self._fh is None:
                raise ValueError(f"{self.path} is closed")
            self._fh.write(line)
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())
            self.records += 1

    def header(self, **fields: Any) -> None:
        self.write({"type": "header", "format": FORMAT, "version": VERSION, **fields}, sync=True)

    def sample(self, t_s: float, power_w: list[float | None]) -> None:
        self.write({"type": "sample", "t_s": round(t_s, 6),
                    "power_w": [None if p is None else round(p, 3) for p in power_w]})

    def window(self, record: dict[str, Any]) -> None:
        self.write({"type": "window", **record}, sync=True)

    def summary(self, record: dict[str, Any]) -> None:
        self.write({"type": "summary", **record}, sync=True)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- reading

class UnknownWindowError(UnknownNameError):
    kind = "window"


@dataclass
class Measurement:
    """A measurement file read back. DataFrames are built on request."""

    path: Path
    header: dict[str, Any]
    windows: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    truncated: bool = False
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Whether some window never closed (the run was killed); its energy is then a lower bound."""
        return any(w.get("incomplete") for w in self.windows)

    @property
    def has_samples(self) -> bool:
        return bool(self.samples)

    @property
    def gpu_count(self) -> int:
        return len(self.header.get("gpus") or [])

    def window_names(self) -> list[str]:
        return [w.get("name", "") for w in self.windows]

    def window(self, name: str) -> dict[str, Any]:
        """The last window called ``name``."""
        for w in reversed(self.windows):
            if w.get("name") == name:
                return w
        raise UnknownWindowError(str(name), self.window_names(), parameter="window")

    def samples_frame(self):
        """Long format: ``t_s``, ``gpu``, ``power_w`` (NaN where a read failed)."""
        import numpy as np
        import pandas as pd

        if not self.samples:
            return pd.DataFrame({"t_s": pd.Series(dtype=float), "gpu": pd.Series(dtype=int),
                                 "power_w": pd.Series(dtype=float)})
        t = np.array([s["t_s"] for s in self.samples], dtype=float)
        p = [s.get("power_w") or [] for s in self.samples]
        n = max(len(x) for x in p)
        mat = np.full((len(p), n), np.nan)
        for i, row in enumerate(p):
            mat[i, : len(row)] = [np.nan if v is None else v for v in row]
        return pd.DataFrame({"t_s": np.repeat(t, n), "gpu": np.tile(np.arange(n), len(t)),
                             "power_w": mat.reshape(-1)})

    def windows_frame(self):
        """One row per window; ``meta`` keys become columns (prefixed ``meta_`` on a clash)."""
        import pandas as pd

        base_cols = ["name", "t_start_s", "t_end_s", "duration_s", "energy_j", "energy_kwh", "mean_power_w",
                     "peak_power_w", "samples", "method", "sample_method", "idle_power_w", "net_energy_j",
                     "missing_reason"]
        rows = []
        for w in self.windows:
            row = {c: w.get(c) for c in base_cols}
            row["gpus"] = len(w.get("gpus") or [])
            row["incomplete"] = bool(w.get("incomplete"))
            for k, v in (w.get("meta") or {}).items():
                row[k if k not in row else f"meta_{k}"] = v
            rows.append(row)
        df = pd.DataFrame(rows, columns=None if rows else base_cols + ["gpus", "incomplete"])
        for c in ("t_start_s", "t_end_s", "duration_s", "energy_j", "energy_kwh", "mean_power_w", "peak_power_w",
                  "idle_power_w", "net_energy_j"):
            if c in df.columns:
                df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    def gpu_windows_frame(self):
        """One row per window and GPU."""
        import pandas as pd

        rows = []
        for w in self.windows:
            for g in w.get("gpus") or []:
                rows.append({"window": w.get("name"), **g})
        return pd.DataFrame(rows)


def load_measurement(path: str | os.PathLike) -> Measurement:
    """Read a measurement JSONL file (a torn last line from a killed run is skipped)."""
    p = Path(path)
    if not p.exists():
        raise InputError("measurement_file", f"no such file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError("measurement_file", f"cannot read {p}: {e}") from None
    lines = text.split("\n")
    m: Measurement | None = None
    truncated = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if all(not rest.strip() for rest in lines[i + 1:]):
                truncated = True  # the process died while writing its last line
                break
            raise InputError("measurement_file", f"{p.name}: line {i + 1} is not valid JSON") from None
        if not isinstance(rec, dict) or "type" not in rec:
            raise InputError("measurement_file", f"{p.name}: line {i + 1} is not a measurement record")
        kind = rec["type"]
        if m is None:
            if kind != "header" or rec.get("format") != FORMAT:
                raise InputError("measurement_file", f"{p.name} does not start with a {FORMAT} header "
                                                     "(write it with `joulebook measure --out` or EnergyMeter(out=...))")
            if int(rec.get("version", 0)) > VERSION:
                raise InputError("measurement_file", f"{p.name} has format version {rec.get('version')}; "
                                                     f"this joulebook reads up to {VERSION}")
            m = Measurement(path=p, header=rec)
            continue
        if kind == "sample":
            m.samples.append(rec)
        elif kind == "window":
            m.windows.append(rec)
        elif kind == "summary":
            m.summary = rec
        elif kind == "checkpoint":
            m.checkpoints.append(rec)
        # unknown record types from newer writers are ignored
    if m is None:
        if truncated:  # the first line is not JSON: not a torn record of a killed run, not our format at all
            raise InputError("measurement_file", f"{p.name} is not a JSON Lines measurement file: line 1 is not "
                                                 "valid JSON (write it with `joulebook measure --out`)")
        raise InputError("measurement_file", f"{p.name} is empty")
    m.truncated = truncated
    m.windows.extend(_unclosed_windows(m))
    return m


def _key(rec: dict[str, Any]) -> tuple[Any, Any]:
    t = rec.get("t_start_s")
    return rec.get("name"), (round(float(t), 6) if isinstance(t, (int, float)) else None)


def _unclosed_windows(m: Measurement) -> list[dict[str, Any]]:
    """Windows that have checkpoints but no closing record: the last checkpoint each, marked incomplete."""
    closed = {_key(w) for w in m.windows}
    last: dict[tuple[Any, Any], dict[str, Any]] = {}
    for c in m.checkpoints:
        if _key(c) not in closed:
            last[_key(c)] = c
    out = []
    for c in last.values():
        w = {k: v for k, v in c.items() if k != "type"}
        w["incomplete"] = True
        w["energy_is_lower_bound"] = True
        note = (f"the run ended without closing this window (killed?): energy up to its last checkpoint, "
                f"{w.get('duration_s')} s after the window opened; the true energy is at least this")
        w["notes"] = [*list(w.get("notes") or []), note]
        meta = dict(w.get("meta") or {})
        if meta.get("steps") is not None:  # the steps planned for the whole window did not all run in this part
            meta["planned_steps"] = meta.pop("steps")
        w["meta"] = meta
        out.append(w)
    return out


def resolve_measurement_file(path: str | os.PathLike) -> Path:
    """Find a measurement file: absolute paths as given; relative ones in ``data/`` first, then the cwd.

    Notebooks name the shipped sample as ``measured/h100_probe1_sample.jsonl`` and it is
    found whatever the working directory.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        if not p.exists():
            raise InputError("measurement_file", f"no such file: {p}")
        return p
    for cand in (data_dir() / p, Path.cwd() / p):
        if cand.exists():
            return cand.resolve()
    raise InputError("measurement_file", f"{path} is neither in the data folder ({data_dir()}) nor in {Path.cwd()}")
