"""Federated vs centralized training model (joulebook.models.federated)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.models import federated, training


def base_row(**kw):
    row = dict(params=20e6, clients=1000, participation=0.1, rounds=200, local_epochs=1, tokens_per_client=5e4,
               device_class="phone", access_type="fixed_wifi", compression="none", client_intensity_g_per_kwh=400.0,
               server_region="us-va", region="us-va", accelerator="a100-sxm4-80gb", count=8, precision="bf16")
    row.update(kw)
    return row


def frame(**kw):
    return pd.DataFrame([base_row(**kw)])


# --------------------------------------------------------------------------- data and lookups

def test_device_classes_have_ordered_ranges():
    classes = federated.device_classes()
    for name in (*federated.DEVICE_CLASSES, federated.SERVER_CLASS):
        dc = classes[name]
        assert dc.load_power_w[0] <= dc.load_power_w[1] <= dc.load_power_w[2]
        assert dc.idle_power_w[0] <= dc.idle_power_w[1] <= dc.idle_power_w[2]
        if name != federated.SERVER_CLASS:
            assert dc.train_tflops[0] <= dc.train_tflops[1] <= dc.train_tflops[2]
            assert dc.idle_power_w[2] < dc.load_power_w[0] + dc.idle_power_w[2]
    src = set(data.table("sources")["source_id"])
    assert all(s in src for dc in classes.values() for s in dc.source_ids)


def test_unknown_device_class_lists_close_matches():
    with pytest.raises(UnknownNameError) as e:
        federated.device_class("phnoe")
    assert "phone" in str(e.value) and e.value.parameter == "device_class"


def test_marginal_power_is_load_minus_idle():
    dc = federated.device_class("laptop")
    assert dc.power_w("marginal")[1] == pytest.approx(dc.load_power_w[1] - dc.idle_power_w[1])
    assert dc.power_w("total") == dc.load_power_w
    with pytest.raises(InputError, match="power_basis"):
        dc.power_w("average")


def test_network_ranges_and_ages():
    tab = federated.network_table()
    assert (tab["age_years"].dropna() == federated.REFERENCE_YEAR - tab["data_year"].dropna()).all()
    for access in federated.ACCESS_TYPES:
        lo, mid, hi, src = federated.network_range(access)
        assert 0 < lo <= mid <= hi
        assert src
        roles = set(tab.loc[tab["access_type"] == access, "role"])
        assert {"low", "central", "high"} <= roles
    # cellular central (Carbon Trust, 2020) halves after two years with the Aslan trend
    c2020 = tab[(tab["access_type"] == "cellular") & (tab["role"] == "central")].iloc[0]
    aged = federated.network_range("cellular", int(c2020["data_year"]) + 2)[1]
    assert aged == pytest.approx(float(c2020["kwh_per_gb"]) / 2)
    assert federated.network_range("mobile") == federated.network_range("cellular")


def test_unknown_access_type():
    with pytest.raises(UnknownNameError) as e:
        federated.network_range("satelite")
    assert e.value.parameter == "access_type"


def test_update_bytes_by_compression():
    n = 1e6
    assert federated.update_bytes(n, "none") == pytest.approx(4 * n)
    assert federated.update_bytes(n, "int8") == pytest.approx(n)
    assert federated.update_bytes(n, "topk", topk_fraction=0.01) == pytest.approx(n * 0.01 * (32 + 32) / 8)
    out = federated.update_bytes([n, n, n], ["none", "int8", "topk"])
    assert out[0] > out[1] > out[2]
    with pytest.raises(InputError, match="compression"):
        federated.update_bytes(n, "zip")
    with pytest.raises(InputError, match="params"):
        federated.update_bytes(-1, "none")
    with pytest.raises(InputError, match="topk_fraction"):
        federated.update_bytes(n, "topk", topk_fraction=1.5)


def test_client_mix_intensity():
    a, b = data.region("us-ca").intensity_g_per_kwh, data.region("in").intensity_g_per_kwh
    ci, src = federated.client_mix_intensity({"us-ca": 0.25, "in": 0.75})
    assert ci == pytest.approx(0.25 * a + 0.75 * b)
    assert src
    with pytest.raises(InputError, match="client_regions"):
        federated.client_mix_intensity({"us-ca": 0.5, "in": 0.6})
    with pytest.raises(InputError, match="client_regions"):
        federated.client_mix_intensity({})


# --------------------------------------------------------------------------- the model, by hand

def test_federated_energy_matches_hand_calculation():
    row = base_row(compression="int8", power_basis="total")
    out = federated.federated_frame(pd.DataFrame([row])).iloc[0]
    dc = federated.device_class("phone")
    p = row["clients"] * row["participation"]
    flops_round = 6 * row["params"] * row["local_epochs"] * row["tokens_per_client"]
    t = flops_round / (dc.train_tflops[1] * 1e12)
    client_kwh = row["rounds"] * p * t * dc.load_power_w[1] / 3.6e6
    assert out["fl_client_energy_kwh"] == pytest.approx(client_kwh)
    gb = row["rounds"] * p * (row["params"] * 4 + row["params"] * 1) / 1e9
    assert out["downlink_gb"] + out["uplink_gb"] == pytest.approx(gb)
    net = gb * federated.network_range("fixed_wifi")[1]
    assert out["fl_network_energy_kwh"] == pytest.approx(net)
    srv = federated.device_class(federated.SERVER_CLASS).load_power_w[1]
    pue = data.region("us-va").pue[1]
    server = row["rounds"] * (t + federated.DEFAULTS["round_overhead_s"][0]) * srv * pue / 3.6e6
    assert out["fl_server_energy_kwh"] == pytest.approx(server)
    ci_s = data.region("us-va").intensity_g_per_kwh
    assert out["fl_emissions_kg"] == pytest.approx((client_kwh + net) * 0.4 + server * ci_s / 1000)


def test_centralized_uses_training_model_and_moves_the_data():
    row = base_row(data_bytes_per_client=2e6)
    out = federated.centralized_frame(pd.DataFrame([row])).iloc[0]
    tokens = row["rounds"] * row["clients"] * row["participation"] * row["local_epochs"] * row["tokens_per_client"]
    est = training.estimate_training(params=row["params"], tokens=tokens, accelerator="a100-sxm4-80gb", count=8,
                                     region="us-va")
    assert out["central_compute_energy_kwh"] == pytest.approx(est.central["facility_energy_kwh"])
    assert out["central_compute_emissions_kg"] == pytest.approx(est.central["emissions_kg"])
    move = row["clients"] * 2e6 / 1e9 * federated.network_range("fixed_wifi")[1]
    assert out["central_data_move_energy_kwh"] == pytest.approx(move)
    # default raw data size: tokens x bytes_per_token
    out2 = federated.centralized_frame(frame()).iloc[0]
    assert out2["central_data_gb"] == pytest.approx(1000 * 5e4 * federated.DEFAULTS["bytes_per_token"][0] / 1e9)
    # a convergence penalty means centralized needs fewer tokens for the same quality
    out3 = federated.centralized_frame(frame(fl_convergence_penalty=2.0)).iloc[0]
    assert out3["central_tokens"] == pytest.approx(out2["central_tokens"] / 2)


def test_marginal_basis_and_compression_lower_energy():
    total = federated.federated_frame(frame(power_basis="total")).iloc[0]
    marginal = federated.federated_frame(frame()).iloc[0]
    assert marginal["fl_client_energy_kwh"] < total["fl_client_energy_kwh"]
    nets = [federated.federated_frame(frame(compression=c)).iloc[0]["fl_network_energy_kwh"]
            for c in ("none", "int8", "topk")]
    assert nets[0] > nets[1] > nets[2]


def test_vectorized_rows_equal_single_rows():
    rows = [base_row(device_class=d, access_type=a, compression=c)
            for d, a, c in (("phone", "cellular", "none"), ("laptop", "fixed_wifi", "int8"), ("edge_gpu", "datacentre", "topk"))]
    together = federated.compare_frame(pd.DataFrame(rows))
    for i, r in enumerate(rows):
        alone = federated.compare_frame(pd.DataFrame([r])).iloc[0]
        for col in ("fl_energy_kwh", "central_energy_kwh", "fl_emissions_kg_high", "break_even_params_energy"):
            a, b = together[col].iloc[i], alone[col]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def test_break_even_is_where_the_totals_meet():
    # cameras on edge boxes: a lot of raw data per client, so small models favour FL
    row = base_row(device_class="edge_gpu", access_type="fixed_wifi", data_bytes_per_client=5e10, rounds=50,
                   participation=0.2, compression="int8")
    out = federated.compare_frame(pd.DataFrame([row])).iloc[0]
    nstar = out["break_even_params_energy"]
    assert nstar > 0 and out["fl_wins_below_break_even_energy"]
    # other inputs fixed, the MFU included (its prior would change with the model size's scale band)
    at = federated.compare_frame(pd.DataFrame([dict(row, params=nstar, mfu=out["central_mfu_used"])])).iloc[0]
    assert at["fl_energy_kwh"] == pytest.approx(at["central_energy_kwh"], rel=1e-6)
    below = federated.compare_frame(pd.DataFrame([dict(row, params=nstar / 10)])).iloc[0]
    above = federated.compare_frame(pd.DataFrame([dict(row, params=nstar * 10)])).iloc[0]
    assert below["winner_energy"] == "federated" and above["winner_energy"] == "centralized"
    e = out["break_even_params_emissions"]
    at_e = federated.compare_frame(pd.DataFrame([dict(row, params=e)])).iloc[0]
    assert at_e["fl_emissions_kg"] == pytest.approx(at_e["central_emissions_kg"], rel=1e-6)


def test_no_break_even_when_one_option_always_wins():
    # tiny data per client, big fixed server overhead: centralized wins at every size
    out = federated.compare_frame(frame(tokens_per_client=100)).iloc[0]
    assert math.isnan(out["break_even_params_energy"])
    assert out["winner_energy"] == "centralized"


@settings(max_examples=20)
@given(params=st.floats(1e5, 1e10), clients=st.integers(1, 10**6), part=st.floats(0.001, 1.0),
       rounds=st.integers(1, 5000), tokens=st.floats(1.0, 1e8),
       device=st.sampled_from(federated.DEVICE_CLASSES), access=st.sampled_from(federated.ACCESS_TYPES),
       comp=st.sampled_from(federated.COMPRESSIONS))
def test_low_central_high_are_ordered(params, clients, part, rounds, tokens, device, access, comp):
    out = federated.compare_frame(frame(params=params, clients=clients, participation=part, rounds=rounds,
                                        tokens_per_client=tokens, device_class=device, access_type=access,
                                        compression=comp)).iloc[0]
    for key in ("fl_energy_kwh", "fl_emissions_kg", "central_energy_kwh", "central_emissions_kg"):
        assert out[f"{key}_low"] <= out[key] * (1 + 1e-12) and out[key] <= out[f"{key}_high"] * (1 + 1e-12)
        assert out[key] > 0


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("col,value", [
    ("clients", 0), ("clients", 2.5), ("participation", 1.5), ("participation", 0.0), ("rounds", -1),
    ("tokens_per_client", -5), ("data_bytes_per_client", -1.0), ("download_bits", -8), ("upload_bits", 0),
    ("topk_fraction", 2.0), ("round_overhead_s", -1.0), ("server_power_w", -10.0), ("params", float("nan")),
    ("client_intensity_g_per_kwh", -1.0), ("network_year", 1800),
])
def test_bad_numbers_name_their_parameter(col, value):
    with pytest.raises(InputError) as e:
        federated.compare_frame(frame(**{col: value}))
    assert e.value.parameter == col


@pytest.mark.parametrize("col,value", [("compression", "gzip"), ("power_basis", "mean"), ("device_class", "toaster"),
                                       ("access_type", "pigeon"), ("server_region", "atlantis")])
def test_bad_names(col, value):
    with pytest.raises((InputError, UnknownNameError)):
        federated.compare_frame(frame(**{col: value}))


def test_missing_column_and_server_as_client():
    df = frame().drop(columns=["clients"])
    with pytest.raises(InputError, match="clients"):
        federated.federated_frame(df)
    with pytest.raises(InputError, match="device_class"):
        federated.federated_frame(frame(device_class="fl_server"))


def test_scalar_compare_agrees_and_carries_provenance():
    c = federated.compare(params=20e6, clients=1000, participation=0.1, rounds=200, local_epochs=1,
                          tokens_per_client=5e4, client_regions={"us-ca": 0.5, "in": 0.5}, compression="int8")
    ci, _ = federated.client_mix_intensity({"us-ca": 0.5, "in": 0.5})
    row = federated.compare_frame(frame(compression="int8", client_intensity_g_per_kwh=ci)).iloc[0]
    assert c.central["fl_energy_kwh"] == pytest.approx(row["fl_energy_kwh"])
    assert c.low["central_energy_kwh"] == pytest.approx(row["central_energy_kwh_low"])
    names = set(c.assumptions)
    assert {"client_power_w", "network_kwh_per_gb", "server_power_w", "client_intensity_g_per_kwh"} <= names
    known = set(data.table("sources")["source_id"])
    assert set(c.source_ids) <= known
    bd = c.breakdown()
    assert bd.loc[bd["option"] == "federated", "energy_kwh"].sum() == pytest.approx(c.central["fl_energy_kwh"])
    with pytest.raises(InputError, match="participation"):
        federated.compare(params=1e6, clients=10, participation=2, rounds=1, local_epochs=1, tokens_per_client=1)
    with pytest.raises(InputError, match="round_overheads"):
        federated.compare(params=1e6, clients=10, participation=0.5, rounds=1, local_epochs=1, tokens_per_client=1,
                          round_overheads=3)


def test_scenario_grid_is_a_cartesian_product():
    g = federated.scenario_grid(base_row(), params=[1e6, 1e7, 1e8], clients=[10, 100], access_type=["cellular", "fixed_wifi"])
    assert len(g) == 12 and g[["params", "clients", "access_type"]].drop_duplicates().shape[0] == 12
    out = federated.compare_frame(g)
    assert len(out) == 12 and np.isfinite(out["fl_energy_kwh"]).all()
