"""Latency model vs simulated schedule; energy counting of the spiking LSTM against the iso-architecture LSTM."""
import pytest
import torch

from common.metrics import EnergyModel
from papers.spiking_lstm.energy import energy_report, lstm_energy, record_counts, snn_energy
from papers.spiking_lstm.latency import (lane_latency, lane_units, latency_table, model_units, pipelined_latency,
                                         plain_latency, plot_latency, simulate)
from papers.spiking_lstm.model import SpikingLSTMNet


@pytest.mark.parametrize("N", [1, 2, 3, 7])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("T", [1, 2, 4])
def test_latency_closed_forms_equal_the_simulated_schedules(N, L, T):
    r = latency_table(N, L, T)
    assert r["plain_sim"] == r["plain"] == 2 * N * L * T
    assert r["pipelined_sim"] == r["pipelined"] == (N + L) * (T + 1) - 2
    assert r["lane_sim"] == r["lane"] == N + L + T - 2
    assert r["pipelined"] <= r["plain"]


def test_model_schedule_by_hand_one_layer_two_elements_T2():
    # G(0,0,0)=1 G(0,0,1)=2 | H(0,0,0)=3 H(0,0,1)=4 | G(0,1,0)=max(G(0,1,-),H(0,0,0))+1=4, G(0,1,1)=5 | H(0,1,1)=7
    deps = model_units(2, 1, 2)
    assert set(deps[("G", 0, 1, 0)]) == {("H", 0, 0, 0)}
    assert set(deps[("H", 0, 1, 1)]) == {("H", 0, 1, 0), ("G", 0, 1, 1)}
    assert simulate(deps) == 7 == pipelined_latency(2, 1, 2)
    assert simulate(deps, pipelined=False) == 8 == plain_latency(2, 1, 2)


def test_pipelining_hides_layers_not_T_for_the_rate_cell():
    # growth in N: the model's pipelined latency grows by T + 1 per element, the step-aligned wavefront by 1
    for T in (1, 2, 4):
        assert pipelined_latency(11, 2, T) - pipelined_latency(10, 2, T) == T + 1
        assert lane_latency(11, 2, T) - lane_latency(10, 2, T) == 1
        assert simulate(lane_units(5, 2, T)) == lane_latency(5, 2, T)


def test_plot_latency(tmp_path):
    pytest.importorskip("matplotlib")
    p = plot_latency(tmp_path / "lat.png", L=2, Ts=(1, 2), N_max=20)
    assert p is not None and p.stat().st_size > 1000


# ------------------------------------------------------------------ energy
def test_lstm_energy_counts_gate_macs_and_elementwise_products():
    net = SpikingLSTMNet(3, 5, 2, 4)
    em = EnergyModel(e_mac_pj=2.0, e_ac_pj=1.0, e_mul_pj=0.5)
    e = lstm_energy(net, 10, em)
    l0, l1, ro = e["layers"]
    assert l0["macs"] == 10 * 4 * 5 * (3 + 5) and l1["macs"] == 10 * 4 * 5 * (5 + 5) and ro["macs"] == 5 * 4
    assert l0["elementwise"] == 10 * 3 * 5
    assert e["energy_pj"] == pytest.approx(2.0 * (l0["macs"] + l1["macs"] + ro["macs"]) + 0.5 * 2 * 10 * 3 * 5)


def test_snn_energy_from_recorded_spikes_matches_a_hand_count():
    torch.manual_seed(0)
    T, N, B = 2, 6, 4
    net = SpikingLSTMNet(3, 5, 2, 4).to_snn(T, theta_h=[0.3, 0.3])
    x = torch.randn(N, B, 3)
    rec = net.start_recording()
    with torch.no_grad():
        h0 = net.layers[0](x.repeat_interleave(T, 0))
        h1 = net.layers[1](h0)
        net.layers[0].record = net.layers[1].record = None
        net.record = None
    rec["readout"] = {"calls": float(B), "in_spikes": float(h1.view(N, T, B, 5)[-1].ne(0).sum())}
    em = EnergyModel(e_mac_pj=2.0, e_ac_pj=1.0, e_mul_pj=0.0)
    e = snn_energy(net, rec, em)
    l0, l1, ro = e["layers"]
    assert l0["macs"] == pytest.approx(T * 4 * 5 * 3 * N)                    # direct-encoded input, every inner step
    assert l0["acs"] == pytest.approx(float(h0.ne(0).sum()) / B * 4 * 5)      # own h spikes, recurrent
    assert l1["macs"] == 0 and l1["acs_input"] == pytest.approx(float(h0.ne(0).sum()) / B * 4 * 5)
    assert l1["acs_recurrent"] == pytest.approx(float(h1.ne(0).sum()) / B * 4 * 5)
    assert ro["acs"] == pytest.approx(rec["readout"]["in_spikes"] / B * 4)
    assert e["energy_pj"] == pytest.approx(2.0 * l0["macs"] + l0["acs"] + l1["acs"] + ro["acs"])
    assert 0.0 <= l0["spike_rates"]["h"] <= 1.0 and l0["spike_rates"]["f"] > 0


def test_record_counts_and_report_through_the_model():
    from common.data.sequence import SeqBatch

    torch.manual_seed(1)
    net = SpikingLSTMNet(3, 8, 1, 4).to_snn(2, theta_h=[0.2])
    batches = [SeqBatch(torch.randn(5, 4, 3), torch.zeros(4, dtype=torch.long), torch.full((4,), 5))]
    rec, elements = record_counts(net, batches, torch.device("cpu"))
    assert elements == 5 and rec["readout"]["calls"] == 4 and net.record is None and net.layers[0].record is None
    rep = energy_report(net, rec, elements)
    assert rep["ratio"] > 0 and rep["ratio_input_once"] < rep["ratio"]
    assert rep["lstm"]["energy_pj"] > rep["lstm_gates_only"]["energy_pj"]  # element-wise products priced
