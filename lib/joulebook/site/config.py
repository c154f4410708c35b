"""``notebooks/reports.toml``: the declared report set, typed, with matrix expansion.

The file is TOML, so values keep their types (``7e9`` stays a float, ``64`` an
int, ``["se", "sg"]`` a list) and papermill receives them unchanged. Shape::

    [defaults]                      # optional, applies to every report
    timeout_s = 600                 # per-cell execution timeout (seconds)

    [[report]]                      # one block per notebook; append new blocks at the end
    id = "training_energy"          # unique, [a-z0-9_]
    notebook = "10_training_energy.ipynb"   # relative to this file
    title = "Training energy ({region})"   # {name} is filled from the parameters
    topic = "Training"              # index section
    timeout_s = 600                 # optional override
    metrics_function = "joulebook.mod:fn" # optional: fn(parameters) -> metrics, the library's direct result
                                    # (only functions inside the joulebook package are accepted)
    [report.parameters]             # typed values for the notebook's parameters cell
    params = 7e9
    [report.matrix]                 # optional: one report per value (cartesian product of keys)
    region = ["us-va", "se", "sg"]  # or region = "all": every region of the shipped data
    [report.test_parameters]        # tiny values used by the test-suite (merged over parameters)
    tokens = 1e9

TOML has no ``null``: leave a parameter out to keep the notebook's default.
Nothing is read at import time.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.io import read_toml

DEFAULT_CONFIG = Path("notebooks") / "reports.toml"
DEFAULT_TIMEOUT_S = 600.0
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# only the library's own functions: a reports.toml must not name os:system or any other callable to run
_METRICS_FUNCTION = re.compile(r"^joulebook(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z][A-Za-z0-9_]*$")
_REPORT_KEYS = {"id", "notebook", "title", "topic", "parameters", "matrix", "test_parameters", "timeout_s",
                "metrics_function", "description"}
_DEFAULT_KEYS = {"timeout_s"}


class UnknownReportError(UnknownNameError):
    kind = "report"


@dataclass(frozen=True)
class ReportSpec:
    """One ``[[report]]`` block as written (before matrix expansion)."""

    id: str
    notebook: Path
    title: str
    topic: str
    parameters: dict[str, Any] = field(default_factory=dict)
    matrix: dict[str, list[Any]] = field(default_factory=dict)
    test_parameters: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    metrics_function: str | None = None
    description: str = ""

    def expand(self) -> list[ReportJob]:
        """One job per combination of matrix values (in the order written)."""
        if not self.matrix:
            return [self._job({})]
        keys = list(self.matrix)
        return [self._job(dict(zip(keys, combo, strict=True)))
                for combo in itertools.product(*(self.matrix[k] for k in keys))]

    def test_parameter_set(self) -> dict[str, Any]:
        """Parameters the tests use: parameters, the first matrix value of each key, then test_parameters."""
        out = dict(self.parameters)
        out.update({k: v[0] for k, v in self.matrix.items()})
        out.update(self.test_parameters)
        return out

    def _job(self, matrix_values: dict[str, Any]) -> ReportJob:
        params = dict(self.parameters)
        params.update(matrix_values)
        return ReportJob(spec=self, parameters=params, matrix_values=matrix_values)


@dataclass(frozen=True)
class ReportJob:
    """One report to build: a spec with its matrix values filled in."""

    spec: ReportSpec
    parameters: dict[str, Any]
    matrix_values: dict[str, Any]

    @property
    def slug(self) -> str:
        """Folder name in the site: ``training_energy`` or ``training_energy--region-se``."""
        if not self.matrix_values:
            return self.spec.id
        parts = [f"{_slug_part(k)}-{_slug_part(v)}" for k, v in self.matrix_values.items()]
        return self.spec.id + "--" + "--".join(parts)

    @property
    def label(self) -> str:
        """Progress label: ``training_energy region=se``."""
        extra = " ".join(f"{k}={_plain(v)}" for k, v in self.matrix_values.items())
        return f"{self.spec.id} {extra}".strip()

    @property
    def title(self) -> str:
        try:
            return self.spec.title.format_map(_Plain(self.parameters))
        except (KeyError, IndexError, ValueError):
            return self.spec.title


class _Plain(dict):
    def __getitem__(self, key):
        return _plain(super().__getitem__(key))


def _plain(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _slug_part(v: Any) -> str:
    s = re.sub(r"[^a-z0-9._]+", "-", _plain(v).lower()).strip("-.")
    return s or "x"


@dataclass(frozen=True)
class Config:
    path: Path
    reports: list[ReportSpec]

    def jobs(self) -> list[ReportJob]:
        return [job for spec in self.reports for job in spec.expand()]

    def spec(self, report_id: str) -> ReportSpec:
        for s in self.reports:
            if s.id == report_id:
                return s
        raise UnknownReportError(report_id, [s.id for s in self.reports], parameter="--only")


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(where, f"must be a table, got {type(value).__name__}")
    for k in value:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            raise InputError(where, f"{k!r} is not a valid Python parameter name")
    return dict(value)


def load_config(path: str | Path = DEFAULT_CONFIG) -> Config:
    """Read and check ``reports.toml``; raises :class:`InputError` naming the field at fault."""
    path = Path(path)
    raw = read_toml(path, "--config")
    unknown_top = set(raw) - {"defaults", "report"}
    if unknown_top:
        raise InputError("--config", f"{path}: unknown top-level key(s) {sorted(unknown_top)} (expected [defaults], [[report]])")
    defaults = raw.get("defaults", {})
    if set(defaults) - _DEFAULT_KEYS:
        raise InputError("defaults", f"unknown key(s) {sorted(set(defaults) - _DEFAULT_KEYS)}")
    default_timeout = float(defaults.get("timeout_s", DEFAULT_TIMEOUT_S))
    blocks = raw.get("report", [])
    if not isinstance(blocks, list):
        raise InputError("report", "use [[report]] blocks (an array of tables)")
    specs: list[ReportSpec] = []
    seen: set[str] = set()
    for i, b in enumerate(blocks):
        where = f"report[{i}]"
        extra = set(b) - _REPORT_KEYS
        if extra:
            raise InputError(where, f"unknown key(s) {sorted(extra)}; allowed: {sorted(_REPORT_KEYS)}")
        for key in ("id", "notebook", "title", "topic"):
            if not isinstance(b.get(key), str) or not b[key].strip():
                raise InputError(f"{where}.{key}", "a non-empty string is required")
        rid = b["id"]
        if not _ID.match(rid):
            raise InputError(f"{where}.id", f"{rid!r} must match [a-z][a-z0-9_]*")
        if rid in seen:
            raise InputError(f"{where}.id", f"duplicate report id {rid!r}")
        seen.add(rid)
        nb = (path.parent / b["notebook"]).resolve()
        if nb.suffix != ".ipynb":
            raise InputError(f"{where}.notebook", f"{b['notebook']!r} is not an .ipynb file")
        params = _table(f"{where}.parameters", b.get("parameters", {}))
        matrix = _table(f"{where}.matrix", b.get("matrix", {}))
        for k, v in matrix.items():
            if k == "region" and v == "all":  # every region of the shipped data (issue 13)
                matrix[k] = v = sorted(data.regions())
            if not isinstance(v, list) or not v:
                raise InputError(f"{where}.matrix.{k}", "must be a non-empty list of values")
            if len({json.dumps(x, sort_keys=True) for x in v}) != len(v):
                raise InputError(f"{where}.matrix.{k}", "values must be distinct")
        test_params = _table(f"{where}.test_parameters", b.get("test_parameters", {}))
        timeout = b.get("timeout_s", default_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InputError(f"{where}.timeout_s", f"must be a positive number of seconds, got {timeout!r}")
        mf = b.get("metrics_function")
        if mf is not None and (not isinstance(mf, str) or not _METRICS_FUNCTION.match(mf)):
            raise InputError(f"{where}.metrics_function", f"must name a function inside joulebook, "
                                                          f"'joulebook.module:function'; got {mf!r}")
        specs.append(ReportSpec(id=rid, notebook=nb, title=b["title"], topic=b["topic"], parameters=params,
                                matrix=matrix, test_parameters=test_params, timeout_s=float(timeout),
                                metrics_function=mf, description=str(b.get("description", ""))))
    return Config(path=path.resolve(), reports=specs)


def select(config: Config, only: list[str] | None = None, region: str | None = None,
           notebook_parameters=None) -> list[ReportJob]:
    """The jobs to build.

    ``only``: report ids (or slugs) to keep. ``region``: build every selected
    report that takes a ``region`` parameter for that region only (a region
    matrix collapses to it, even when it is not listed); reports without a
    ``region`` parameter are left out. ``notebook_parameters(spec)`` returns the
    notebook's parameter names (used to tell whether it takes ``region``).
    """
    jobs: list[ReportJob] = []
    wanted = set(only or [])
    if wanted:
        known = {s.id for s in config.reports} | {j.slug for j in config.jobs()}
        for w in wanted:
            if w not in known:
                config.spec(w)  # raises UnknownReportError with close matches
    for spec in config.reports:
        spec_jobs = spec.expand()
        if wanted and spec.id not in wanted:
            spec_jobs = [j for j in spec_jobs if j.slug in wanted]
            if not spec_jobs:
                continue
        if region is not None:
            takes_region = ("region" in spec.matrix or "region" in spec.parameters
                            or (notebook_parameters is not None and "region" in notebook_parameters(spec)))
            if not takes_region:
                continue
            if "region" in spec.matrix:
                matrix = {k: ([region] if k == "region" else v) for k, v in spec.matrix.items()}
                spec_jobs = dataclasses.replace(spec, matrix=matrix).expand()
            else:
                spec_jobs = dataclasses.replace(spec, parameters={**spec.parameters, "region": region}).expand()
        jobs.extend(spec_jobs)
    return jobs
