"""Model descriptions for inference estimates: presets and user-given shapes.

A :class:`ModelSpec` is what the roofline needs to know about a decoder-only
transformer: total and active parameters, layers, width, attention heads and
KV heads, head dimension, feed-forward width, vocabulary and, for a mixture of
experts, how many experts exist and how many each token uses.

Parameter count of a Llama-style block (SwiGLU feed-forward, RMSNorm, no biases)::

    attention  = d (H hd) + 2 d (KV hd) + (H hd) d
    mlp        = 3 d I                      (x E experts, plus a d x E router)
    per layer  = attention + E mlp + 2 d    (two norms)
    total      = L per-layer + d + V d (tied embeddings) or 2 V d (untied)
    active     = total - L (E - k) mlp

The presets (``data/model_presets.csv``) were transcribed from the publishers'
configuration files; their parameter counts are this formula applied to those
numbers, and a test checks that the two agree.

Nothing here reads data at import time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

from joulebook import data
from joulebook.core.assumptions import Assumptions
from joulebook.core.errors import InputError, UnknownModelError
from joulebook.core.validate import number


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a decoder-only transformer (counts, not bytes)."""

    model_id: str
    name: str
    params_total: float
    params_active: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: float
    vocab: float  # NaN when unknown
    experts: int = 1
    experts_active: int = 1
    tied_embeddings: bool = False
    source_id: str = ""
    status: str = ""
    note: str = ""
    accuracy_names: tuple[str, ...] = ()
    assumed: tuple[str, ...] = ()  # fields filled from assumptions, not given

    # ------------------------------------------------------------------ derived counts
    @property
    def attention_dim(self) -> int:
        """Width of the query projection, heads x head_dim."""
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of one of the K and V projections, kv_heads x head_dim."""
        return self.kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def expert_params(self) -> float:
        """Parameters in the routed feed-forward experts (0 for a dense model)."""
        if not self.is_moe:
            return 0.0
        return float(self.layers * self.experts * 3 * self.hidden * self.intermediate)

    @property
    def embedding_params(self) -> float:
        """One vocabulary x width table (0 when the vocabulary is unknown)."""
        return 0.0 if math.isnan(self.vocab) else float(self.vocab * self.hidden)

    def kv_bytes_per_token(self, kv_bytes: float) -> float:
        """Bytes of K and V cache one token adds: 2 L KV hd x bytes."""
        return 2.0 * self.layers * self.kv_dim * kv_bytes

    def replace(self, **changes) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["accuracy_names"] = list(self.accuracy_names)
        d["assumed"] = list(self.assumed)
        d["vocab"] = None if math.isnan(self.vocab) else self.vocab
        return d


def architecture_params(layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, experts=1, experts_active=1,
                        tied_embeddings=False) -> tuple[float, float]:
    """(total, active) parameters of a Llama-style decoder (see the module docstring); vectorizes over numpy arrays."""
    import numpy as np

    L, d = np.asarray(layers, float), np.asarray(hidden, float)
    E, k = np.asarray(experts, float), np.asarray(experts_active, float)
    attn = d * heads * head_dim * 2 + 2 * d * np.asarray(kv_heads, float) * head_dim
    mlp = 3 * d * np.asarray(intermediate, float)
    router = np.where(E > 1, d * E, 0.0)
    per_layer = attn + E * mlp + router + 2 * d
    vocab = np.nan_to_num(np.asarray(vocab, float))
    emb = vocab * d * np.where(np.asarray(tied_embeddings, bool), 1.0, 2.0)
    total = L * per_layer + d + emb
    active = total - L * (E - k) * mlp
    if np.ndim(total) == 0:
        return float(total), float(active)
    return total, active


# --------------------------------------------------------------------------- presets

def _bool(v) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


@lru_cache(maxsize=8)
def _preset_index(directory: str, fingerprint: str) -> tuple[dict[str, ModelSpec], dict[str, str]]:
    df = data.table("model_presets")
    specs: dict[str, ModelSpec] = {}
    alias: dict[str, str] = {}
    for _, r in df.iterrows():
        m = ModelSpec(
            model_id=r["model_id"], name=r["name"], params_total=float(r["params_total"]),
            params_active=float(r["params_active"]), layers=int(r["layers"]), hidden=int(r["hidden"]),
            heads=int(r["heads"]), kv_heads=int(r["kv_heads"]), head_dim=int(r["head_dim"]),
            intermediate=float(r["intermediate"]), vocab=float(r["vocab"]), experts=int(r["experts"]),
            experts_active=int(r["experts_active"]), tied_embeddings=_bool(r["tied_embeddings"]),
            source_id=r["source_id"], status=r["status"], note=r["note"] if isinstance(r["note"], str) else "",
            accuracy_names=tuple(a.strip() for a in str(r.get("accuracy_names") or "").split(";")
                                 if a.strip() and a.strip() != "nan"))
        specs[m.model_id] = m
        alias[m.model_id] = m.model_id
        for a in str(r.get("aliases") or "").split(";"):
            if a.strip() and a.strip() != "nan":
                alias[_key(a)] = m.model_id
    return specs, alias


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-").replace(" ", "-")


def presets() -> dict[str, ModelSpec]:
    """Every preset, by id."""
    return dict(_preset_index(str(data.data_dir()), data.fingerprint())[0])


def model(name) -> ModelSpec:
    """A preset by id or alias (``llama-7b``, ``Llama-3-8B``, ``mixtral``); lists close matches when unknown."""
    if isinstance(name, ModelSpec):
        return name
    specs, alias = _preset_index(str(data.data_dir()), data.fingerprint())
    key = _key(name)
    if key in alias:
        return specs[alias[key]]
    raise UnknownModelError(str(name), list(alias), parameter="model")


def presets_frame():
    """The preset table as shown in reports: shape, parameters and source."""
    import pandas as pd

    rows = [{"model": m.model_id, "name": m.name, "params_total_b": m.params_total / 1e9,
             "params_active_b": m.params_active / 1e9, "layers": m.layers, "hidden": m.hidden, "heads": m.heads,
             "kv_heads": m.kv_heads, "head_dim": m.head_dim, "experts": f"{m.experts_active} of {m.experts}"
             if m.is_moe else "dense", "source_id": m.source_id, "status": m.status} for m in presets().values()]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- user-given shapes

@lru_cache(maxsize=8)
def _runtime_index(directory: str, fingerprint: str) -> dict[str, tuple[float, float, float, str, str, str]]:
    df = data.table("inference_runtime")
    out = {}
    for _, r in df.iterrows():
        vals = [float(r[c]) if str(r[c]).strip() not in ("", "nan") else float("nan")
                for c in ("value_low", "value", "value_high")]
        out[r["name"]] = (vals[0], vals[1], vals[2], r["unit"], r["source_id"],
                          r["note"] if isinstance(r["note"], str) else "")
    return out


def runtime_row(name: str) -> tuple[float, float, float, str, str, str]:
    """(low, central, high, unit, source_id, note) of a row of ``data/inference_runtime.csv``."""
    idx = _runtime_index(str(data.data_dir()), data.fingerprint())
    if name not in idx:
        raise KeyError(f"inference_runtime.csv has no row {name!r}")
    return idx[name]


def shape_arrays(params, *, layers=None, hidden=None, heads=None, kv_heads=None, head_dim=None, intermediate=None,
                 vocab=None, experts=None, experts_active=None, tied_embeddings=None, active_params=None) -> dict:
    """Fill a user-given shape (arrays; NaN = not given) with the labelled assumptions of :func:`custom`.

    Returns arrays ``params_total, params_active, layers, hidden, heads, kv_heads, head_dim, intermediate, vocab,
    experts, experts_active, tied_embeddings`` and boolean arrays ``assumed_<field>`` saying which were filled.
    Raises :class:`InputError` naming the first impossible row.
    """
    import numpy as np

    N = np.atleast_1d(np.asarray(params, dtype=float))
    n = N.size

    def arr(v, default=np.nan):
        if v is None:
            return np.full(n, default, dtype=float)
        a = np.atleast_1d(np.asarray(v, dtype=float))
        return np.broadcast_to(a, (n,)).astype(float) if a.size == 1 else a.astype(float)

    L, d, H, KV, hd, inter, V = (arr(x) for x in (layers, hidden, heads, kv_heads, head_dim, intermediate, vocab))
    E = np.where(np.isnan(arr(experts)), 1.0, arr(experts))
    k = np.where(np.isnan(arr(experts_active)), 1.0, arr(experts_active))
    tied = arr(tied_embeddings, 0.0) > 0.5 if tied_embeddings is not None else np.zeros(n, bool)
    act_in = arr(active_params)
    bad = ~np.isfinite(N) | (N <= 0)
    if bad.any():
        raise InputError("params", f"must be > 0 (row {int(np.flatnonzero(bad)[0])})")
    if (k > E).any():
        i = int(np.flatnonzero(k > E)[0])
        raise InputError("experts_active", f"{k[i]:g} active of {E[i]:g} experts is impossible (row {i})")
    ratio = runtime_row("hidden_per_layer_ratio")[1]
    hd_lo, hd_c = runtime_row("default_head_dim")[:2]
    out = {}
    both = np.isnan(L) & np.isnan(d)
    d_both = np.maximum(128.0, np.round((N * ratio / 12.0) ** (1.0 / 3.0) / 128.0) * 128.0)
    L_both = np.maximum(1.0, np.round(d_both / ratio))
    d_only = np.isnan(d) & ~np.isnan(L)
    L_only = np.isnan(L) & ~np.isnan(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_fill = np.maximum(64.0, np.round(np.sqrt(N / (12.0 * L)) / 64.0) * 64.0)
        L_fill = np.maximum(1.0, np.round(N / (12.0 * d * d)))
    out["assumed_hidden"] = both | d_only
    out["assumed_layers"] = both | L_only
    d = np.where(both, d_both, np.where(d_only, d_fill, d))
    L = np.where(both, L_both, np.where(L_only, L_fill, L))
    hd_from_heads = ~np.isnan(H) & np.isnan(hd)
    with np.errstate(invalid="ignore"):
        bad = hd_from_heads & (np.mod(d, np.where(np.isnan(H), 1.0, H)) != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("heads", f"hidden {d[i]:g} is not divisible by {H[i]:g} heads (row {i}); give head_dim if "
                                  "the heads are narrower than hidden / heads")
    out["assumed_head_dim"] = np.isnan(H) & np.isnan(hd)
    with np.errstate(invalid="ignore", divide="ignore"):
        hd = np.where(hd_from_heads, np.maximum(1.0, np.floor(d / H)),
                      np.where(out["assumed_head_dim"], np.where(np.mod(d, hd_c) == 0, hd_c, hd_lo), hd))
    out["assumed_heads"] = np.isnan(H)
    H = np.where(np.isnan(H), np.maximum(1.0, np.floor(d / hd)), H)
    out["assumed_kv_heads"] = np.isnan(KV)
    KV = np.where(np.isnan(KV), H, KV)
    bad = (KV > H) | (np.mod(H, KV) != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("kv_heads", f"{KV[i]:g} KV heads must divide the {H[i]:g} attention heads (row {i})")
    emb = np.nan_to_num(V) * d * np.where(tied, 1.0, 2.0)
    attn = L * (2 * d * H * hd + 2 * d * KV * hd + 2 * d)
    out["assumed_intermediate"] = np.isnan(inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        inter_fill = (N - attn - emb - d - np.where(E > 1, L * d * E, 0.0)) / (L * E * 3 * d)
    bad = out["assumed_intermediate"] & ~(inter_fill > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("params", f"{N[i]:g} parameters cannot hold {L[i]:g} layers of width {d[i]:g} "
                                   f"(attention and embeddings alone are larger; row {i})")
    inter = np.where(out["assumed_intermediate"], inter_fill, inter)
    active = N - L * (E - k) * 3 * d * inter
    if (~np.isnan(act_in) & (act_in > N)).any():
        i = int(np.flatnonzero(act_in > N)[0])
        raise InputError("active_params", f"{act_in[i]:g} exceeds the total parameters {N[i]:g} (row {i})")
    active = np.where(np.isnan(act_in), active, act_in)
    out.update(params_total=N, params_active=active, layers=L, hidden=d, heads=H, kv_heads=KV, head_dim=hd,
               intermediate=inter, vocab=V, experts=E, experts_active=k, tied_embeddings=tied)
    return out


def custom(params: float, *, active_params: float | None = None, layers: int | None = None, hidden: int | None = None,
           heads: int | None = None, kv_heads: int | None = None, head_dim: int | None = None,
           intermediate: float | None = None, vocab: int | None = None, experts: int = 1, experts_active: int = 1,
           tied_embeddings: bool = False, name: str | None = None) -> tuple[ModelSpec, Assumptions]:
    """A model from a parameter count and whatever architecture numbers are known.

    Missing numbers come from labelled assumptions (``data/inference_runtime.csv``),
    each recorded in the returned :class:`Assumptions`:

    * width and depth from ``N ~ 12 L d^2`` (attention 4 d^2 + SwiGLU 8 d^2 per
      layer) and the width/depth ratio ``hidden_per_layer_ratio`` of the presets;
    * ``head_dim`` from ``default_head_dim``; heads = hidden / head_dim;
    * KV heads = heads (no grouped-query attention: the largest KV cache);
    * feed-forward width from the parameters left after attention.

    The given parameter count is authoritative. The vocabulary stays unknown
    unless given: embeddings then count as ordinary weights (read every step), a
    small overestimate of decode traffic.
    """
    params = number("params", params, strictly_positive=True)
    for nm, v in (("layers", layers), ("hidden", hidden), ("heads", heads), ("kv_heads", kv_heads),
                  ("head_dim", head_dim), ("vocab", vocab)):
        if v is not None:
            number(nm, v, strictly_positive=True, integer=True)
    if intermediate is not None:
        number("intermediate", intermediate, strictly_positive=True)
    if active_params is not None:
        number("active_params", active_params, strictly_positive=True)
    number("experts", experts, minimum=1, integer=True)
    number("experts_active", experts_active, minimum=1, integer=True)
    s = shape_arrays(params, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                     intermediate=intermediate, vocab=vocab, experts=experts, experts_active=experts_active,
                     tied_embeddings=float(bool(tied_embeddings)), active_params=active_params)
    g = {k: (v[0] if hasattr(v, "__len__") else v) for k, v in s.items()}
    spec = ModelSpec(model_id="custom", name=name or f"custom {params / 1e9:.3g}B", params_total=float(g["params_total"]),
                     params_active=float(g["params_active"]), layers=int(g["layers"]), hidden=int(g["hidden"]),
                     heads=int(g["heads"]), kv_heads=int(g["kv_heads"]), head_dim=int(g["head_dim"]),
                     intermediate=float(g["intermediate"]), vocab=float(g["vocab"]), experts=int(g["experts"]),
                     experts_active=int(g["experts_active"]), tied_embeddings=bool(g["tied_embeddings"]),
                     source_id="user", status="user", note="given by the user",
                     assumed=tuple(f for f in ("hidden", "layers", "head_dim", "heads", "kv_heads", "intermediate")
                                   if bool(g[f"assumed_{f}"])))
    return spec, shape_assumptions(spec)


def shape_assumptions(spec: ModelSpec) -> Assumptions:
    """The labelled assumptions behind the fields of ``spec`` that were not given."""
    a = Assumptions()
    if not spec.assumed:
        return a
    if "hidden" in spec.assumed and "layers" in spec.assumed:
        r = runtime_row("hidden_per_layer_ratio")
        a.add("hidden_per_layer_ratio", r[1], r[3], r[4],
              f"width and depth not given: N ~ 12 L d^2 with d/L = {r[1]:g} gives {spec.layers} layers of width {spec.hidden}")
    elif "hidden" in spec.assumed:
        a.add("hidden", spec.hidden, "", "joulebook_inference_assumptions", "width not given: sqrt(N / (12 L)), rounded to 64")
    elif "layers" in spec.assumed:
        a.add("layers", spec.layers, "", "joulebook_inference_assumptions", "depth not given: N / (12 d^2)")
    if "head_dim" in spec.assumed:
        r = runtime_row("default_head_dim")
        a.add("default_head_dim", spec.head_dim, r[3], r[4], "heads and head dimension not given; " + r[5])
    if "kv_heads" in spec.assumed:
        a.add("kv_heads", spec.kv_heads, "heads", "joulebook_inference_assumptions",
              "KV heads not given: assumed equal to the attention heads (no grouped-query attention), the largest KV cache")
    if "intermediate" in spec.assumed:
        a.add("intermediate", round(spec.intermediate, 1), "feed-forward width", "joulebook_inference_assumptions",
              "not given: the parameters left after attention, norms and embeddings, as a SwiGLU (3 d I per layer)")
    return a
