"""Compression techniques as transforms of a model description, and accuracy evidence from data only.

The grammar of a technique (``fp8``, ``int4-weight-only+sparse-2:4``, ``prune:0.5:sparse``,
``distill:STUDENT``, ``moe:K/E``...), how it changes a resolved model description
(:func:`apply_to_arrays`, used by :func:`joulebook.models.inference.inference_frame`) and the
accuracy rows of ``data/compression_accuracy.csv`` that match a model and technique
(:func:`accuracy`). :mod:`joulebook.models.compression` (the trade-off tables) builds on this
module and on :mod:`joulebook.models.inference`; this module imports neither, so the two never
import each other. What each technique changes is listed in :mod:`joulebook.models.compression`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core.errors import InputError, close_matches
from joulebook.models import presets as models

WEIGHT_ONLY_PRECISIONS = ("int8", "int4")
_ALIASES = {
    "int8-weight-only": ("weight_only", "int8"), "int8wo": ("weight_only", "int8"), "w8a16": ("weight_only", "int8"),
    "int8-wo": ("weight_only", "int8"),
    "int4-weight-only": ("weight_only", "int4"), "int4wo": ("weight_only", "int4"), "w4a16": ("weight_only", "int4"),
    "int4-wo": ("weight_only", "int4"), "awq": ("weight_only", "int4"), "gptq": ("weight_only", "int4"),
    "w8a8": ("precision", "int8"), "int8": ("precision", "int8"), "int8-w8a8": ("precision", "int8"),
    "smoothquant": ("precision", "int8"),
    "sparse-2:4": ("sparse24", None), "2:4": ("sparse24", None), "sparse24": ("sparse24", None),
    "sparsity-2:4": ("sparse24", None),
}
KNOWN = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8-weight-only", "int4-weight-only", "w8a8", "kv:PRECISION",
         "sparse-2:4", "prune:SPARSITY", "prune:SPARSITY:sparse", "distill:STUDENT", "moe:K/E", "none")


@dataclass(frozen=True)
class Technique:
    """One parsed technique: ``kind`` and its argument(s)."""

    kind: str  # precision | weight_only | kv | sparse24 | prune | distill | moe | none
    text: str
    precision: str | None = None
    sparsity: float = 0.0
    sparse_kernels: bool = False
    student: str | None = None
    experts_active: int | None = None
    experts: int | None = None

    @property
    def family(self) -> str:
        """Strategy family for the report: quantization, mixed precision, pruning, distillation, moe."""
        if self.kind in ("weight_only", "kv"):
            return "quantization"
        if self.kind == "precision":
            return "quantization" if self.precision in ("fp8", "int8") else "mixed precision"
        if self.kind in ("sparse24", "prune"):
            return "pruning"
        return {"distill": "distillation", "moe": "mixture of experts"}.get(self.kind, "none")


def parse_technique(text: str) -> list[Technique]:
    """Parse ``fp8``, ``int4-weight-only+sparse-2:4``, ``prune:0.5:sparse``, ``distill:llama-1b``, ``moe:2/8``...

    Raises :class:`InputError` (parameter ``technique``) naming the part it cannot read.
    """
    if text is None:
        return []
    if isinstance(text, float) and math.isnan(text):
        return []
    out: list[Technique] = []
    for raw in str(text).split("+"):
        t = raw.strip()
        low = t.lower().replace("_", "-")
        if low in ("", "none", "baseline", "dense"):
            continue
        if low in _ALIASES:
            kind, arg = _ALIASES[low]
            out.append(Technique(kind=kind, text=t, precision=arg))
            continue
        if low.startswith("kv:") or low.startswith("kv-cache:"):
            out.append(Technique(kind="kv", text=t, precision=data.normalise_precision(low.split(":", 1)[1])))
            continue
        if low.startswith("prune:"):
            parts = low.split(":")
            try:
                sp = float(parts[1])
            except (IndexError, ValueError):
                raise InputError("technique", f"{t!r}: prune needs a sparsity, e.g. prune:0.5") from None
            if not 0.0 < sp < 1.0:
                raise InputError("technique", f"{t!r}: sparsity must be between 0 and 1 (exclusive)")
            kernels = len(parts) > 2 and parts[2] in ("sparse", "sparse-kernels", "kernels")
            if len(parts) > 2 and not kernels and parts[2] not in ("dense",):
                raise InputError("technique", f"{t!r}: the third part must be 'sparse' (sparse kernels) or 'dense'")
            out.append(Technique(kind="prune", text=t, sparsity=sp, sparse_kernels=kernels))
            continue
        if low.startswith("distill:"):
            student = t.split(":", 1)[1].strip()
            models.model(student)  # raises UnknownModelError with close matches
            out.append(Technique(kind="distill", text=t, student=models.model(student).model_id))
            continue
        if low.startswith("moe:"):
            m = re.fullmatch(r"moe:(\d+)(?:/(\d+))?", low)
            if not m:
                raise InputError("technique", f"{t!r}: write moe:K/E (K of E experts active) or moe:K")
            k = int(m.group(1))
            e = int(m.group(2)) if m.group(2) else None
            if k < 1 or (e is not None and (e < 2 or k > e)):
                raise InputError("technique", f"{t!r}: need 1 <= K <= E and E >= 2")
            out.append(Technique(kind="moe", text=t, experts_active=k, experts=e))
            continue
        try:
            p = data.normalise_precision(low)
        except InputError:
            hint = close_matches(low, KNOWN)
            raise InputError("technique", f"unknown technique {t!r}" + (f"; close matches: {', '.join(hint)}" if hint
                                                                          else f"; known: {', '.join(KNOWN)}")) from None
        if p == "int4":
            raise InputError("technique", "int4 compute is not modelled: use int4-weight-only")
        out.append(Technique(kind="precision", text=t, precision=p))
    kinds = [x.kind for x in out]
    for k in ("precision", "weight_only", "distill", "moe", "kv"):
        if kinds.count(k) > 1:
            raise InputError("technique", f"{text!r}: more than one {k.replace('_', '-')} technique")
    if "sparse24" in kinds and "prune" in kinds:
        raise InputError("technique", f"{text!r}: choose 2:4 sparsity or unstructured pruning, not both")
    if "precision" in kinds and "weight_only" in kinds:
        raise InputError("technique", f"{text!r}: a precision change and weight-only quantization both set the weights")
    return out


def technique_label(text: str) -> str:
    """Canonical text of a technique string (``baseline`` when empty)."""
    parts = parse_technique(text)
    return "+".join(p.text for p in parts) if parts else "baseline"


def apply_to_arrays(arr: dict[str, np.ndarray], mask: np.ndarray, techniques: list[Technique]) -> None:
    """Apply parsed techniques to the rows ``mask`` of a resolved description (in place; vectorized).

    ``arr`` holds the model shape (``params_total``, ``layers``, ...) and the
    format columns (``weight_precision``, ``activation_precision``, ``kv_precision``,
    ``weight_only``, ``sparse_24``, ``prune_sparsity``, ``sparse_kernels``).
    Distillation runs first (the student then gets the other techniques).
    """
    if not mask.any():
        return
    order = sorted(techniques, key=lambda t: 0 if t.kind == "distill" else 1)
    for t in order:
        if t.kind == "distill":
            s = models.model(t.student)
            teacher = np.asarray(arr["params_total"][mask], dtype=float)
            if (s.params_total >= teacher).any():
                big = float(teacher[s.params_total >= teacher][0])
                raise InputError("technique", f"{t.text!r}: the student {s.model_id} has {s.params_total:.3g} "
                                              f"parameters, not fewer than the {big:.3g} of the model it would "
                                              "distil; a distillation student must be smaller than its teacher")
            for f, v in (("params_total", s.params_total), ("params_active", s.params_active), ("layers", s.layers),
                         ("hidden", s.hidden), ("heads", s.heads), ("kv_heads", s.kv_heads), ("head_dim", s.head_dim),
                         ("intermediate", s.intermediate), ("vocab", s.vocab), ("experts", s.experts),
                         ("experts_active", s.experts_active), ("tied_embeddings", s.tied_embeddings)):
                arr[f][mask] = v
            arr["model_id"][mask] = s.model_id
        elif t.kind == "precision":
            arr["weight_precision"][mask] = t.precision
            arr["activation_precision"][mask] = t.precision
            arr["weight_only"][mask] = False
        elif t.kind == "weight_only":
            arr["weight_precision"][mask] = t.precision
            arr["weight_only"][mask] = True
        elif t.kind == "kv":
            arr["kv_precision"][mask] = t.precision
        elif t.kind == "sparse24":
            arr["sparse_24"][mask] = True
        elif t.kind == "prune":
            arr["prune_sparsity"][mask] = t.sparsity
            arr["sparse_kernels"][mask] = t.sparse_kernels
        elif t.kind == "moe":
            E_old, k_old = arr["experts"][mask], arr["experts_active"][mask]
            if t.experts is None and (E_old <= 1).any():
                raise InputError("technique", f"{t.text!r}: the model is dense; write moe:K/E to give it E experts")
            E_new = np.full(E_old.shape, float(t.experts)) if t.experts is not None else E_old
            if (t.experts_active > E_new).any():
                raise InputError("technique", f"{t.text!r}: {t.experts_active} active of {int(E_new.max())} experts")
            L, d, inter = arr["layers"][mask], arr["hidden"][mask], arr["intermediate"][mask]
            mlp = 3.0 * d * inter
            router_old = np.where(E_old > 1, d * E_old, 0.0)
            router_new = d * E_new
            arr["params_total"][mask] = arr["params_total"][mask] + L * ((E_new - E_old) * mlp + router_new - router_old)
            arr["params_active"][mask] = (arr["params_active"][mask]
                                          + L * ((t.experts_active - k_old) * mlp + router_new - router_old))
            arr["experts"][mask] = E_new
            arr["experts_active"][mask] = float(t.experts_active)


# --------------------------------------------------------------------------- accuracy (data only)

_METHOD_PATTERNS = {
    "fp8": re.compile(r"^fp8$", re.I),
    "w8a8": re.compile(r"int8-sq|smoothquant", re.I),
    "int4-weight-only": re.compile(r"int4[ -]awq|gptq", re.I),
    "sparse-2:4": re.compile(r"2:4", re.I),
}


def _accuracy_key(techniques: list[Technique]) -> str | None:
    if len(techniques) != 1:
        return None
    t = techniques[0]
    if t.kind == "precision" and t.precision == "fp8":
        return "fp8"
    if t.kind == "precision" and t.precision == "int8":
        return "w8a8"
    if t.kind == "weight_only" and t.precision == "int4":
        return "int4-weight-only"
    if t.kind == "sparse24":
        return "sparse-2:4"
    return None


def accuracy(model_name, technique: str) -> list[dict[str, Any]]:
    """Accuracy rows of ``compression_accuracy.csv`` for this model and technique (empty list = no data).

    Each row: record_id, metric, baseline and compressed values, ``change_pct``
    (relative change of the metric, signed so that negative = worse), method,
    context, source_id. A row counts only when the record's model is one of the
    preset's ``accuracy_names`` and its method is the same technique (FP8;
    INT8 SmoothQuant for w8a8; AWQ/GPTQ for int4 weight-only; 2:4 sparsity).
    """
    spec = models.model(model_name)
    techs = parse_technique(technique)
    key = _accuracy_key(techs)
    if key is None or not spec.accuracy_names:
        return []
    df = data.table("compression_accuracy")
    df = df[df["metric"] != "memory only"]
    names = {n.lower() for n in spec.accuracy_names}
    df = df[df["model"].str.lower().isin(names)]
    pat = _METHOD_PATTERNS[key]
    if key == "sparse-2:4":
        df = df[df["technique"].str.contains(pat)]
    else:
        df = df[df["method"].astype(str).str.strip().str.contains(pat)]
        if key == "int4-weight-only":  # W4A8 schemes (4-bit weights with 8-bit activations) are another technique
            df = df[~df["technique"].str.contains("activation", case=False)]
    rows = []
    for _, r in df.iterrows():
        base = pd.to_numeric(r["baseline_value"], errors="coerce")
        comp = pd.to_numeric(r["compressed_value"], errors="coerce")
        unit = str(r["metric_unit"])
        metric = str(r["metric"])
        lower_better = "lower is better" in unit or "loss" in metric.lower() and "relative loss" not in metric.lower() \
            or "ppl" in metric.lower()
        if "relative loss" in metric.lower():
            change = -float(comp)
        elif pd.notna(base) and pd.notna(comp) and base != 0:
            change = (float(comp) - float(base)) / abs(float(base)) * 100.0
            if lower_better:
                change = -change
        else:
            continue
        rows.append({"record_id": r["record_id"], "model": r["model"], "method": r["method"], "metric": metric,
                     "metric_unit": unit, "baseline_value": None if pd.isna(base) else float(base),
                     "compressed_value": None if pd.isna(comp) else float(comp), "change_pct": round(change, 4),
                     "context": r["context"] if isinstance(r["context"], str) else "", "note": r["note"]
                     if isinstance(r["note"], str) else "", "source_id": r["source_id"], "status": r["status"]})
    return rows
