"""Calibration profiles: what a measured run says about one accelerator at one precision, as a file.

A profile (JSON, or TOML when the file ends in ``.toml``)::

    {"kind": "joulebook-calibration", "version": 1, "accelerator_id": "h100-sxm",
     "precision": "bf16", "mfu": 0.32, "power_w": 688.0, "idle_w": 119.6,
     "measured": {...}, "source": "run.jsonl", "created_from": {...}}

This module sits below both :mod:`joulebook.models.training` (which applies a profile in
``estimate_training(..., calibration=profile)``) and :mod:`joulebook.models.calibration`
(which fits one from a measured run), so neither has to import the other inside a function.
Imports only the core and the data layer.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.io import atomic_write_json
from joulebook.core.validate import number

KIND = "joulebook-calibration"
VERSION = 1


@dataclass(frozen=True)
class CalibrationProfile:
    """What a measured run says about one accelerator at one precision."""

    accelerator_id: str
    precision: str
    mfu: float
    power_w: float
    idle_w: float | None
    source: str
    measured: dict[str, Any] = field(default_factory=dict, compare=False)
    created_from: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"kind": KIND, "version": VERSION, **d}


# --------------------------------------------------------------------------- profile files

def load_profile(path_or_dict) -> CalibrationProfile:
    """Read and validate a calibration profile (path to JSON/TOML, a dict, or a profile)."""
    if isinstance(path_or_dict, CalibrationProfile):
        return path_or_dict
    if isinstance(path_or_dict, dict):
        raw = path_or_dict
        origin = str(raw.get("source") or "dict")
    elif isinstance(path_or_dict, (str, os.PathLike)):
        p = Path(path_or_dict)
        if not p.exists():
            raise InputError("calibration", f"no such file: {p}")
        try:
            text = p.read_text(encoding="utf-8")
            if p.suffix.lower() == ".toml":
                raw = tomllib.loads(text)
            else:
                raw = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise InputError("calibration", f"{p.name} cannot be read as {'TOML' if p.suffix == '.toml' else 'JSON'}: "
                                            f"{e}") from None
        origin = p.name
    else:
        raise InputError("calibration", f"expected a file path, a dict or a CalibrationProfile, got "
                                        f"{type(path_or_dict).__name__}")
    if not isinstance(raw, dict):
        raise InputError("calibration", f"{origin}: expected an object")
    if raw.get("kind") != KIND:
        raise InputError("calibration", f"{origin}: not a calibration profile (kind must be {KIND!r}, "
                                        f"got {raw.get('kind')!r})")
    try:
        version = int(raw.get("version", 0))
    except (TypeError, ValueError):
        version = 0
    if not 1 <= version <= VERSION:
        raise InputError("calibration", f"{origin}: unsupported version {raw.get('version')!r} (this joulebook reads 1)")
    for key in ("accelerator_id", "precision", "mfu", "power_w"):
        if raw.get(key) is None:
            raise InputError("calibration", f"{origin}: missing {key!r}")
    try:
        acc = data.accelerator(str(raw["accelerator_id"]))
        prec = data.normalise_precision(str(raw["precision"]))
    except (UnknownNameError, InputError) as e:
        raise InputError("calibration", f"{origin}: {e}") from None
    if not acc.supports(prec):
        raise InputError("calibration", f"{origin}: {acc.accelerator_id} has no {prec} peak in the data")
    mfu = _field(origin, "mfu", raw["mfu"])
    if not 0 < mfu <= 1:
        raise InputError("calibration", f"{origin}: mfu must be in (0, 1], got {mfu:g}")
    power = _field(origin, "power_w", raw["power_w"])
    cap = acc.tdp_w if acc.tdp_w == acc.tdp_w else 5000.0
    if not 0 < power <= 1.5 * cap:
        raise InputError("calibration", f"{origin}: power_w {power:g} W is not plausible for {acc.accelerator_id} "
                                        f"(power cap {cap:g} W)")
    idle = raw.get("idle_w")
    if idle is not None:
        idle = _field(origin, "idle_w", idle)
        if not 0 < idle <= power:
            raise InputError("calibration", f"{origin}: idle_w must be in (0, power_w], got {idle:g}")
    measured = raw.get("measured") or {}
    created = raw.get("created_from") or {}
    if not isinstance(measured, dict) or not isinstance(created, dict):
        raise InputError("calibration", f"{origin}: 'measured' and 'created_from' must be objects")
    return CalibrationProfile(acc.accelerator_id, prec, mfu, power, idle, str(raw.get("source") or origin),
                              dict(measured), dict(created))


def _field(origin: str, name: str, value) -> float:
    try:
        return float(number(name, value, minimum=None))
    except InputError as e:
        raise InputError("calibration", f"{origin}: {e}") from None


def save_profile(profile: CalibrationProfile, path: str | os.PathLike) -> Path:
    """Write a profile atomically (JSON; TOML is read but not written)."""
    load_profile(profile.to_dict())  # never write what we could not read back
    return atomic_write_json(path, profile.to_dict())
