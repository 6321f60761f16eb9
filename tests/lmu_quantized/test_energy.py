"""Ops and energy of the lmu_quantized models: every weight product of the LMU is counted (WeightProduct), the
hybrid's quantized h as graded ACs, the fully parallel LMU's last-state product; the report's energy table."""
import pytest
import torch

from common.metrics.measure import measure_ops
from papers.lmu_quantized.model import PSMNISTModel

T, B, N, D = 6, 3, 5, 4


def _x(seed=0):
    return torch.rand(T, B, 1, generator=torch.Generator().manual_seed(seed)) + 0.1  # analog, non-zero


def _layers(report):
    return {row["name"]: row for row in report["layers"]}


def test_lmu_step_loop_counts_every_product_of_the_cell():
    model = PSMNISTModel("lmu", hidden_size=N, order=D, theta=T)
    rep = measure_ops(model, [(_x(), torch.zeros(B, dtype=torch.long))])
    L = _layers(rep)
    # h and m are 0 before the first step: an all-zero input costs nothing; every other input is analog
    expect = {"rnn.x_to_u": T * 1, "rnn.x_to_h": T * N, "rnn.memory.u_to_m": T * D, "rnn.m_to_h": T * D * N,
              "rnn.h_to_u": (T - 1) * N, "rnn.m_to_u": (T - 1) * D, "rnn.memory.m_to_m": (T - 1) * D * D,
              "rnn.h_to_h": (T - 1) * N * N, "readout": N * 10}
    for name, macs in expect.items():
        assert L[name]["macs"] == pytest.approx(macs), name
        assert L[name]["acs"] == 0, name
    assert rep["totals"]["macs"] == pytest.approx(sum(expect.values()))
    assert rep["totals"]["energy_pj"] == pytest.approx(4.6 * sum(expect.values()))
    assert L["rnn.memory.last_product"]["input"] == "-"  # only the fully parallel LMU uses it


def test_hybrid_graded_spikes_are_counted_as_acs():
    dt = 4.0
    model = PSMNISTModel("lmu", hidden_size=N, order=D, theta=T, spiking=True, dt=dt, initial_state="zeros")
    x = _x(1) * 3
    with torch.no_grad():
        hs, _ = model.rnn(x)  # the same pass as the counted one (zero initial voltage: deterministic)
    n = (hs * dt).round().abs().sum(-1)  # [T, B]: |spikes| per step and sample
    assert n.sum() > 0 and torch.allclose(hs * dt, (hs * dt).round())
    rep = measure_ops(model, [(x, torch.zeros(B, dtype=torch.long))], graded=model.graded_inputs())
    L = _layers(rep)
    assert L["rnn.h_to_h"]["acs"] == pytest.approx(float(n[:-1].sum()) * N / B)   # h feeds h W_h at the next step
    assert L["rnn.h_to_u"]["acs"] == pytest.approx(float(n[:-1].sum()) * 1 / B)
    assert L["readout"]["acs"] == pytest.approx(float(n[-1].sum()) * 10 / B)     # the last h feeds the readout
    for name in ("rnn.h_to_h", "rnn.h_to_u", "readout"):
        assert L[name]["macs"] == 0 and L[name]["input"] in ("graded", "mixed"), name
    assert L["rnn.memory.m_to_m"]["macs"] == pytest.approx((T - 1) * D * D)  # the memory stays analog
    assert set(model.graded_inputs()) == {"rnn.h_to_h", "rnn.h_to_u", "readout"}
    mu = PSMNISTModel("lmu", hidden_size=N, order=D, theta=T, spiking=True, quantize_u=True)
    assert set(mu.graded_inputs()) == {"rnn.h_to_h", "rnn.h_to_u", "readout", "rnn.memory.u_to_m"}
    assert PSMNISTModel("lstm", hidden_size=N).graded_inputs() == {}


def test_parallel_lmu_counts_the_last_state_product():
    model = PSMNISTModel("parallel", hidden_size=N, order=D, theta=T)
    with torch.no_grad():
        model.rnn.W_u.weight.fill_(1.0)
        model.rnn.W_u.bias.fill_(0.5)  # u = relu(x + 0.5) > 0: analog at every step
    rep = measure_ops(model, [(_x(), torch.zeros(B, dtype=torch.long))])
    L = _layers(rep)
    assert L["rnn.memory.last_product"]["macs"] == pytest.approx(T * D)  # m[T-1] = sum_k H[T-1-k] u[k]
    assert L["rnn.W_u"]["macs"] == pytest.approx(T * 1)
    assert L["rnn.W_h"]["macs"] == pytest.approx((D + 1) * N)
    assert L["rnn.memory.m_to_m"]["input"] == "-"  # no step loop at test


def _run(row, scale, seed, energy, acc=0.9):
    return {"paper": "lmu_quantized", "scale": scale, "seed": seed, "row": {"id": row},
            "metrics": {"test/acc": acc, "test/energy/energy_pj": energy, "test/energy/energy_nb_pj": energy / 2,
                        "test/energy/macs": energy / 4.6, "test/energy/acs": 0.0}}


def test_report_energy_table_gives_ratios_to_the_lstm(tmp_path):
    from papers.lmu_quantized.report import render

    runs = [_run("lstm_mini", "mini", s, 400e6) for s in (0, 1)] + [_run("lmu_mini", "mini", 0, 600e6),
                                                                    _run("lmu_mini", "mini", 1, 500e6)]
    text = render(runs, tmp_path, "plots", {})
    assert "Ops and energy per sample" in text and "**Scale mini**" in text and "**Scale full**" not in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| `lmu_mini`"))
    assert "550 ± 70.7 (n=2)" in line       # µJ, mean ± std over seeds
    assert line.count("1.38 ± 0.177 (n=2)") == 2  # 1.5 and 1.25 times the LSTM, seed for seed, both conventions
    assert "Ops and energy" not in render([], tmp_path, "plots", {})
