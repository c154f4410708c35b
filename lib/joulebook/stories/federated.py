"""Story: federated versus centralized training (``70_federated_tradeoffs.ipynb``).

The notebook's parameters cell holds every default; :func:`check` validates a complete set (one
:class:`InputError` naming the parameter). The numbers come from :mod:`joulebook.models.federated`
(one scenario with :func:`~joulebook.models.federated.compare`, grids with
:func:`~joulebook.models.federated.compare_frame`); this module shapes them into frames the notebook
draws, writes the finding and the prose, the display tables and the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, require_parameters
from joulebook.core.util import round6
from joulebook.core.validate import array, number
from joulebook.display import tables
from joulebook.models import federated

TITLE = "Federated vs centralized training"

#: The notebook's parameter names (their defaults live in its parameters cell only).
PARAMETERS = ("params", "clients", "participation", "rounds", "local_epochs", "tokens_per_client",
              "data_bytes_per_client", "device_class", "access_type", "compression", "topk_fraction", "power_basis",
              "client_regions", "server_region", "region", "accelerator", "count", "fl_convergence_penalty",
              "network_year", "grid_params", "grid_clients", "grid_data_bytes")
GRID_KEYS = ("grid_params", "grid_clients", "grid_data_bytes")
ACCESS_LABELS = {"cellular": "cellular networks", "fixed_wifi": "fixed broadband and Wi-Fi",
                 "datacentre": "data-centre networks"}
DEVICE_WORDS = {"phone": "phones", "laptop": "laptops", "edge_gpu": "edge GPU modules"}
ROLE_WORDS = {"low": "low bound", "central": "central estimate", "high": "high bound",
              "context": "context (not used)"}
STATUS_WORDS = {"verified_repo": "checked in the source's repository", "verified_page": "checked on the publication's page",
                "secondary": "read in a secondary source", "derived": "derived from a cited figure"}


def access_label(access_type: str) -> str:
    """Words for an access type: ``fixed_wifi`` -> ``fixed broadband and Wi-Fi``."""
    key = federated.access_key(access_type)
    return ACCESS_LABELS.get(key, key)


def _kwh(v: float) -> str:
    """Energy in kWh, the unit of the page's tables (so prose, tiles and tables show the same figure)."""
    return f"{fmt.number(v)} kWh"


def _kg(v: float) -> str:
    return f"{fmt.number(v)} kg CO2e"


def _bytes(v: float) -> str:
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(v) >= scale:
            return f"{fmt.number(v / scale)} {unit}"
    return f"{fmt.number(v)} B"


# --------------------------------------------------------------------------- parameters

def check(**parameters: Any) -> dict[str, Any]:
    """The notebook's parameters, checked: every name of :data:`PARAMETERS` is required (None where the
    notebook allows it); unknown names and bad values raise one InputError naming the parameter."""
    require_parameters(parameters, PARAMETERS)
    p = dict(parameters)
    for name in GRID_KEYS:
        vals = p[name]
        if not isinstance(vals, (list, tuple)) or not vals:
            raise InputError(name, "give a non-empty list")
        array(name, list(vals), strictly_positive=True)
    if any(float(c) != int(c) for c in p["grid_clients"]):
        raise InputError("grid_clients", "client counts must be whole numbers")
    p["grid_params"] = [float(x) for x in p["grid_params"]]
    p["grid_clients"] = [int(c) for c in p["grid_clients"]]
    p["grid_data_bytes"] = [float(b) for b in p["grid_data_bytes"]]
    federated.device_class(p["device_class"])
    p["access_type"] = federated.access_key(p["access_type"])
    for name in ("clients", "rounds", "count"):
        p[name] = int(number(name, p[name], strictly_positive=True, integer=True))
    if p["network_year"] is not None:
        p["network_year"] = int(number("network_year", p["network_year"], minimum=1990, maximum=2100, integer=True))
    number("data_bytes_per_client", p["data_bytes_per_client"], minimum=0.0, allow_none=True)
    federated.client_mix_intensity(p["client_regions"])  # raises on bad regions or shares
    p["region"] = data.region(p["region"]).region_id
    p["server_region"] = data.region(p["server_region"]).region_id
    p["accelerator"] = data.accelerator(p["accelerator"]).accelerator_id
    federated.compare(**scenario(p))  # one trial evaluation: every remaining range check happens here
    return p


def scenario(p: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of :func:`joulebook.models.federated.compare` (grid axes and None values left out)."""
    return {k: v for k, v in p.items() if k not in GRID_KEYS and v is not None}


# --------------------------------------------------------------------------- computed frames

def comparison(p: Mapping[str, Any]) -> federated.Comparison:
    """The chosen scenario: both options, central / low / high, assumptions and sources."""
    return federated.compare(**scenario(p))


def _grid_base(p: Mapping[str, Any], drop) -> dict[str, Any]:
    kw = scenario(p)
    mix = kw.pop("client_regions")
    kw["client_intensity_g_per_kwh"] = federated.client_mix_intensity(mix)[0]
    return {k: v for k, v in kw.items() if k not in drop}


def grid(p: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`~joulebook.models.federated.compare_frame` over access type x model size x client count."""
    base = _grid_base(p, ("params", "clients", "access_type"))
    g = federated.scenario_grid(base, access_type=list(federated.ACCESS_TYPES), params=p["grid_params"],
                                clients=p["grid_clients"])
    return federated.compare_frame(g)


def data_grid(p: Mapping[str, Any]) -> pd.DataFrame:
    """The same over access type x model size x raw data per client (bytes)."""
    base = _grid_base(p, ("params", "data_bytes_per_client", "access_type", "bytes_per_token"))
    g = federated.scenario_grid(base, access_type=list(federated.ACCESS_TYPES), params=p["grid_params"],
                                data_bytes_per_client=p["grid_data_bytes"])
    return federated.compare_frame(g)


def breakdown_energy(result: federated.Comparison) -> pd.DataFrame:
    """Energy per component (kWh): rows components, columns the two options (NaN where a component does not
    apply), for grouped bars on a log axis."""
    bd = result.breakdown()
    order = list(dict.fromkeys(bd["component"]))
    piv = bd.pivot(index="component", columns="option", values="energy_kwh").reindex(order)
    piv = piv[["federated", "centralized"]]
    piv.index.name = ""
    piv.columns.name = ""
    return piv


def break_even_map(g: pd.DataFrame, what: str = "energy", columns: str = "clients") -> pd.DataFrame:
    """log10(federated / centralized) of energy or emissions: rows network x model size, columns ``columns``
    (clients or data_bytes_per_client). Below 0 = federated uses less. Index and column names are axis labels."""
    if what not in ("energy", "emissions"):
        raise InputError("what", "energy or emissions")
    if columns not in ("clients", "data_bytes_per_client"):
        raise InputError("columns", "clients or data_bytes_per_client")
    rows = [f"{access_label(a)} · {fmt.count(n)}" for a, n in zip(g["access_type"], g["params"], strict=True)]
    t = g.assign(row=rows, value=np.log10(g[f"{what}_ratio_fl_to_central"].astype(float)))
    order = list(dict.fromkeys(t["row"]))
    piv = t.pivot(index="row", columns=columns, values="value").reindex(order)
    if columns == "data_bytes_per_client":
        piv.columns = [_bytes(c) for c in piv.columns]
        piv.columns.name = "raw data per client"
    else:
        piv.columns = [fmt.number(int(c)) for c in piv.columns]
        piv.columns.name = "clients"
    piv.index.name = "network · model parameters"
    return piv


def break_even_by_data(dg: pd.DataFrame) -> pd.DataFrame:
    """Energy break-even model size (parameters) per raw data per client (rows) and network (columns); NaN where
    one option wins at every size."""
    g = dg.drop_duplicates(["access_type", "data_bytes_per_client"])
    piv = g.pivot(index="data_bytes_per_client", columns="access_type", values="break_even_params_energy")
    piv = piv[[a for a in federated.ACCESS_TYPES if a in piv.columns]]
    return piv.reset_index()


def energy_by_size(g: pd.DataFrame, clients: int | None = None) -> pd.DataFrame:
    """Total energy (kWh) against model size: federated per network and centralized (data moved over that network),
    at ``clients`` (default: the largest client count of the grid)."""
    c = g["clients"].max() if clients is None else clients
    t = g[g["clients"] == c]
    piv = t.pivot(index="params", columns="access_type", values="fl_energy_kwh")
    piv.columns = [f"federated over {access_label(a)}" for a in piv.columns]
    cen = t.pivot(index="params", columns="access_type", values="central_energy_kwh")
    for a in cen.columns:
        piv[f"centralized, data moved over {access_label(a)}"] = cen[a]
    piv.index.name = "model parameters"
    piv.attrs["clients"] = int(c)
    return piv


def network_literature(reference_year: int = federated.REFERENCE_YEAR) -> pd.DataFrame:
    """The published network intensities with their age and the role each plays here."""
    t = federated.network_table(reference_year)
    cols = ["access_type", "role", "kwh_per_gb", "data_year", "age_years", "scope", "source_id", "status"]
    return t[cols].sort_values(["access_type", "kwh_per_gb"]).reset_index(drop=True)


# --------------------------------------------------------------------------- finding

def _times(ratio: float, what: str) -> str:
    """``511× the energy of`` above 1, ``5% of the energy of`` below it (a factor below 1 reads badly)."""
    return f"{fmt.ratio(ratio)} the {what} of" if ratio >= 1 else f"{fmt.percent(ratio)} of the {what} of"


def _share(ratio: float) -> str:
    return f"{fmt.ratio(ratio)}" if ratio >= 1 else f"{fmt.percent(ratio)} of"


def finding(result: federated.Comparison) -> tuple[str, list[tuple[str, str, str]]]:
    """The answer first: which option uses less energy and emits less, by what factor, and how sure that is."""
    c, lo, hi, row = result.central, result.low, result.high, result.row
    ratio = c["energy_ratio_fl_to_central"]
    er = c["emissions_ratio_fl_to_central"]
    devices = DEVICE_WORDS.get(row["device_class"], row["device_class"])
    sure = (" in every low-high combination of the inputs" if c["robust_energy"] else
            ", but the low-high ranges overlap: the answer depends on the uncertain inputs")
    headline = (
        f"For a {fmt.count(row['params'])}-parameter model on {fmt.number(row['clients'])} {devices} over "
        f"{access_label(row['access_type'])}, federated training uses {_times(ratio, 'energy')} centralized training "
        f"in {data.region(row['region']).name}, so {c['winner_energy']} training uses less energy{sure}. "
        f"On emissions federated training is at {_share(er)} centralized, so {c['winner_emissions']} training "
        "emits less.")
    be = c["break_even_params_energy"]
    if be is not None and not math.isnan(be):
        side = "smaller" if c["fl_wins_below_break_even_energy"] else "larger"
        be_tile = ("Energy break-even model size", f"{fmt.count(be)} parameters", f"federated uses less for {side} models")
    else:
        be_tile = ("Energy break-even model size", "none", f"{c['winner_energy']} uses less at every size")
    tiles = [
        ("Federated energy", _kwh(c["fl_energy_kwh"]),
         f"range {fmt.number(lo['fl_energy_kwh'])}–{fmt.number(hi['fl_energy_kwh'])} kWh"),
        ("Centralized energy", _kwh(c["central_energy_kwh"]),
         f"range {fmt.number(lo['central_energy_kwh'])}–{fmt.number(hi['central_energy_kwh'])} kWh"),
        ("Emissions, federated / centralized", fmt.ratio(er) if er >= 1 else fmt.percent(er),
         f"{_kg(c['fl_emissions_kg'])} against {_kg(c['central_emissions_kg'])}"),
        be_tile,
    ]
    return headline, tiles


# --------------------------------------------------------------------------- section prose

def scenario_md(result: federated.Comparison) -> str:
    """Where the energy goes and why the emissions ratio differs from the energy ratio."""
    c = result.central
    comp = {"the clients": c["fl_client_energy_kwh"], "the network": c["fl_network_energy_kwh"],
            "the aggregation server": c["fl_server_energy_kwh"]}
    top = max(comp, key=comp.get)
    parts = [
        f"Most of the federated energy goes to {top} ({fmt.percent(comp[top] / c['fl_energy_kwh'])}): "
        f"{fmt.number(c['downlink_gb'] + c['uplink_gb'])} GB of model and update traffic cross the network against "
        f"{fmt.number(c['central_data_gb'])} GB of raw data that centralized training would move once.",
        f"Federated training emits {_kg(c['fl_emissions_kg'])} against "
        f"{_kg(c['central_emissions_kg'])}: the clients' grids average "
        f"{fmt.number(result.assumptions['client_intensity_g_per_kwh'].value)} g CO2e/kWh.",
    ]
    for what in ("energy", "emissions"):
        be = c[f"break_even_params_{what}"]
        if be is not None and not math.isnan(be):
            side = "smaller" if c[f"fl_wins_below_break_even_{what}"] else "larger"
            parts.append(f"With everything else fixed, the {what} break-even is at {fmt.count(be)} parameters: "
                         f"federated training uses less for {side} models.")
        else:
            parts.append(f"With everything else fixed, no model size makes the two options equal on {what}: "
                         f"{c['winner_' + what]} training wins at every size.")
    return " ".join(parts)


def maps_md(g: pd.DataFrame, dg: pd.DataFrame) -> str:
    """What the grids say: how often federated wins, how much the client count moves the ratio, and the data size
    where federated first wins."""
    share = (g["winner_energy"] == "federated").mean()
    spread = g.groupby(["access_type", "params"])["energy_ratio_fl_to_central"].agg(["min", "max"])
    widest = float((spread["max"] / spread["min"]).max())
    cause = ("with few participants per round the aggregation server's fixed waiting time dominates; with many, both "
             "options grow in step with the number of clients" if widest > 2 else
             "both options grow in step with the number of clients")
    parts = [f"Across the {len(g)} cells of the network × model size × clients grid, federated training uses less "
             f"energy in {fmt.percent(share)}. For a given model and network the client count changes the ratio by up "
             f"to {fmt.ratio(widest)}: {cause}."]
    wins = dg[dg["winner_energy"] == "federated"]
    if len(wins):
        parts.append(f"What decides the outcome is how much raw data each client holds against the bytes of model "
                     f"traffic: in the data-size grid federated training first wins at "
                     f"{_bytes(wins['data_bytes_per_client'].min())} per client ({len(wins)} of {len(dg)} cells).")
    else:
        parts.append(f"Even with {_bytes(dg['data_bytes_per_client'].max())} of raw data per client, moving the data "
                     "to the data centre stays cheaper than federated training in every cell.")
    return " ".join(parts)


# --------------------------------------------------------------------------- figure descriptions

def breakdown_alt(result: federated.Comparison) -> str:
    c = result.central
    return ("Horizontal bars on a log scale of the energy per component: federated training spends "
            f"{_kwh(c['fl_client_energy_kwh'])} on the clients, "
            f"{_kwh(c['fl_network_energy_kwh'])} on the network and "
            f"{_kwh(c['fl_server_energy_kwh'])} on the aggregation server; centralized training "
            f"{_kwh(c['central_compute_energy_kwh'])} in the data centre and "
            f"{_kwh(c['central_data_move_energy_kwh'])} moving the data there.")


def map_alt(piv: pd.DataFrame, what: str) -> str:
    v = piv.to_numpy(dtype=float)
    ok = v[~np.isnan(v)]
    below = int((ok < 0).sum())
    return (f"Heat map of log10 of federated over centralized {what}, rows network and model size, columns "
            f"{piv.columns.name}: values from {fmt.number(ok.min())} to {fmt.number(ok.max())}; federated {what} is lower "
            f"in {below} of {ok.size} cells (values below 0).")


def energy_by_size_alt(frame: pd.DataFrame) -> str:
    parts = [f"{col}: {_kwh(s.iloc[0])} to {_kwh(s.iloc[-1])}" for col, s in frame.items()]
    return (f"Line chart on log-log axes of total energy against model size from {fmt.count(frame.index.min())} to "
            f"{fmt.count(frame.index.max())} parameters with {fmt.number(frame.attrs.get('clients', 0))} clients; "
            + "; ".join(parts) + ".")


# --------------------------------------------------------------------------- tables

def breakdown_table(result: federated.Comparison) -> tables.Table:
    bd = result.breakdown()
    return tables.table(bd, {"option": "Option", "component": "Component",
                             "energy_kwh": fmt.header("Energy", "kWh"), "energy_low_kwh": fmt.header("Low", "kWh"),
                             "energy_high_kwh": fmt.header("High", "kWh"),
                             "emissions_kg": fmt.header("Emissions", "kg CO2e")},
                        caption="Energy and emissions per component (central estimate, with the low-high range of "
                                "the energy)")


def network_table(lit: pd.DataFrame) -> tables.Table:
    t = lit.copy()
    t["network"] = [access_label(a) for a in t["access_type"]]
    t["role"] = [ROLE_WORDS.get(r, r) for r in t["role"]]
    t["source"] = [source_short(s) for s in t["source_id"]]
    t["status"] = [STATUS_WORDS.get(s, s) for s in t["status"]]
    return tables.table(t, {"network": "Network", "role": "Role here", "kwh_per_gb": fmt.header("Intensity", "kWh/GB"),
                            "data_year": "Data year", "age_years": fmt.header("Age", "years"), "scope": "Scope",
                            "source": "Source", "status": "How it was read"},
                        kinds={"data_year": "year", "age_years": "number"},
                        caption="Network electricity intensity by access type, with its data year and age",
                        notes=[f"{fmt.MISSING}: the source gives no data year."])


def break_even_by_data_table(frame: pd.DataFrame) -> tables.Table:
    t = frame.copy()
    t["raw data"] = [_bytes(b) for b in t["data_bytes_per_client"]]
    cols = {"raw data": "Raw data per client"}
    cols.update({a: fmt.header(access_label(a).capitalize(), "parameters") for a in federated.ACCESS_TYPES
                 if a in t.columns})
    return tables.table(t, cols, kinds={"raw data": "text"},
                        caption="Energy break-even model size by raw data per client and network: federated "
                                "training uses less energy for smaller models",
                        notes=[f"{fmt.MISSING}: one option uses less energy at every model size."])


# --------------------------------------------------------------------------- provenance (end of the page)

def source_short(source_id: str) -> str:
    """A source's title without its bracketed authors and venue (for a table cell); the id where unknown."""
    src = data.sources_for([source_id])
    if not len(src):
        return source_id
    title = str(src["title"].iloc[0])
    return title.split(" (")[0].split(", ")[0] if len(title) > 60 else title


def _mix_text(mix: Any) -> str:
    """The clients' region mix as a reader reads it: ``{"us-va": 0.5, ...}`` -> ``Virginia (PJM) 50%, ...``."""
    if not isinstance(mix, Mapping):
        return tables.parameter_text("client_regions", mix)
    return ", ".join(f"{tables.region_name(k)} {fmt.percent(s)}" for k, s in mix.items()) or fmt.MISSING


def parameters_table(p: Mapping[str, Any]) -> tables.Table:
    shown = {**p, "access_type": access_label(p["access_type"]), "client_regions": _mix_text(p["client_regions"])}
    df = pd.DataFrame({"parameter": list(shown), "value": [tables.parameter_text(k, v) for k, v in shown.items()]})
    return tables.table(df, {"parameter": "Parameter", "value": "Value"}, kinds={"value": "text"},
                        caption=f"Parameters of this run ({fmt.MISSING}: derived or as published)")


def assumptions_table(result: federated.Comparison, p: Mapping[str, Any]) -> tables.Table:
    """The assumptions with names for ids (regions, the network, the clients' region mix)."""
    df = result.assumptions.to_frame()
    df["unit"] = [u.replace(f"({p['access_type']})", f"({access_label(p['access_type'])})") if isinstance(u, str) else u
                  for u in df["unit"]]
    mix = df["name"] == "client_intensity_g_per_kwh"
    df.loc[mix, "note"] = "share-weighted: " + _mix_text(p["client_regions"])
    return tables.assumptions_table(df)


def sources_table(result: federated.Comparison) -> tables.Table:
    src = data.sources_for(result.source_ids)
    return tables.table(src, {"title": "Source", "url_or_repo_path": "Where", "year_or_date": "Year or date",
                              "licence": "Licence"}, kinds={"year_or_date": "text"}, caption="Data sources")


# --------------------------------------------------------------------------- metrics

def metrics(result: federated.Comparison, g: pd.DataFrame, dg: pd.DataFrame) -> dict[str, Any]:
    """The report's metrics.json: title, the finding's headline, key figures and named numbers."""
    c = result.central
    headline, _ = finding(result)
    be = c["break_even_params_energy"]
    key = [
        {"label": "Federated energy", "value": round6(c["fl_energy_kwh"]), "unit": "kWh"},
        {"label": "Centralized energy", "value": round6(c["central_energy_kwh"]), "unit": "kWh"},
        {"label": "Federated / centralized emissions", "value": round6(c["emissions_ratio_fl_to_central"]), "unit": "×"},
    ]
    if be is not None and not math.isnan(be):
        key.append({"label": "Energy break-even model size", "value": round6(be), "unit": "parameters"})
    row = result.row
    title = (f"{TITLE} ({DEVICE_WORDS.get(row['device_class'], row['device_class'])} over "
             f"{access_label(row['access_type'])})")
    out: dict[str, Any] = {"title": title, "finding": headline, "key_figures": key}
    for k in ("fl_energy_kwh", "central_energy_kwh", "fl_emissions_kg", "central_emissions_kg",
              "fl_client_energy_kwh", "fl_network_energy_kwh", "fl_server_energy_kwh", "central_compute_energy_kwh",
              "central_data_move_energy_kwh", "energy_ratio_fl_to_central", "emissions_ratio_fl_to_central",
              "break_even_params_energy", "break_even_params_emissions", "uplink_gb", "downlink_gb", "central_data_gb"):
        out[k] = round6(c[k])
    out["fl_energy_kwh_low"] = round6(result.low["fl_energy_kwh"])
    out["fl_energy_kwh_high"] = round6(result.high["fl_energy_kwh"])
    out["winner_energy"] = c["winner_energy"]
    out["winner_emissions"] = c["winner_emissions"]
    out["grid_cells"] = int(len(g))
    out["grid_federated_wins_energy_share"] = round6((g["winner_energy"] == "federated").mean())
    out["grid_federated_wins_emissions_share"] = round6((g["winner_emissions"] == "federated").mean())
    out["data_grid_federated_wins_energy_share"] = round6((dg["winner_energy"] == "federated").mean())
    out["data_grid_federated_wins_emissions_share"] = round6((dg["winner_emissions"] == "federated").mean())
    return out


def metrics_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What the notebook's last cell writes, computed directly from a complete parameter set."""
    p = check(**dict(parameters))
    return metrics(comparison(p), grid(p), data_grid(p))
