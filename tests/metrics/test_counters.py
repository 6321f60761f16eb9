"""Open op counting: register_counter, embeddings, attention products, gate products, graded spikes,
a spiking recurrent cell, per-token energy. Every number is counted by hand in the comments."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.attention import DotProductAttention
from common.layers import TimeDistributed
from common.metrics import (
    EnergyModel,
    OpsMonitor,
    base_counts,
    count_layer,
    count_linear,
    count_matmul,
    count_mul,
    energy_ratios,
    find_counter,
    register_counter,
    unregister_counter,
)
from common.neurons import LIF, LIFCell
from common.products import MatMul, Mul


def _f(d):
    return {k: float(v) for k, v in d.items()}


# ---------------------------------------------------------------- embedding, per-token energy
def test_embedding_lookups_and_per_token_energy():
    emb, fc = nn.Embedding(10, 4, padding_idx=0), nn.Linear(4, 2)
    model = nn.Sequential(emb, fc)
    idx = torch.tensor([[1, 3], [2, 0], [0, 0]])  # [T=3, B=2]: lengths 2 and 1, padded with 0
    mon = OpsMonitor(model, batch_dim=1)
    with mon, torch.no_grad():
        model(idx)
    mon.update_tokens(3)
    emb_row, fc_row = mon.table()
    # 3 real indices (padding_idx excluded) over 2 samples; no MACs/ACs; indices are no activations
    assert emb_row["lookups"] == 1.5 and emb_row["macs"] == emb_row["acs"] == 0 and emb_row["input"] == "index"
    # the linear layer sees all 6 rows (padding included: analog layers count it densely): 6*4*2 = 48 MACs
    assert fc_row["macs"] == 24 and fc_row["input"] == "analog"
    t = mon.compute()
    assert t["lookups"] == 1.5 and t["macs"] == 24 and t["samples"] == 2 and t["tokens"] == 3
    assert t["activation_sparsity"] == 0.5  # the 3 padded rows are zero vectors: 12 zeros in 24 inputs
    tok = mon.compute(per="token")
    assert tok["macs"] == 16 and tok["lookups"] == 1 and tok["energy_pj"] == pytest.approx(16 * 4.6)
    assert mon.table(per="token")[1]["macs"] == 16
    with pytest.raises(ValueError, match="per"):
        mon.compute(per="word")
    fresh = OpsMonitor(model)
    with pytest.raises(ValueError, match="update_tokens"):
        fresh.compute(per="token")


# ---------------------------------------------------------------- attention
def test_attention_matches_reference_values_and_gradients():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, requires_grad=True) for _ in range(3))
    keep = torch.tensor([[True] * 5, [True, True, True, False, False]])  # [B, S]: sample 1 has 3 real keys
    att = DotProductAttention()
    for causal in (False, True):
        out = att(q, k, v, key_mask=keep[:, None, :], causal=causal)
        mask = keep[:, None, None, :] & (torch.ones(5, 5, dtype=torch.bool).tril() if causal else True)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert torch.allclose(out, ref, atol=1e-6)
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, (q, k, v), g)
        ref_grads = torch.autograd.grad(ref, (q, k, v), g)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, ref_grads))
    # without softmax (spiking self-attention): A = the masked scaled scores
    plain = DotProductAttention(scale=0.5, softmax=False)
    ref = ((q @ k.transpose(-2, -1)) * 0.5).masked_fill(~keep[:, None, None, :], 0.0) @ v
    assert torch.allclose(plain(q, k, v, key_mask=keep[:, None, :]), ref, atol=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        att(q, k[..., :3], v)
    # a query with no real key gets zero weights, not NaN
    out, a = att(q, k, v, key_mask=torch.zeros(2, 1, 5, dtype=torch.bool), need_weights=True)
    assert torch.equal(a, torch.zeros_like(a)) and torch.equal(out, torch.zeros_like(out))


def test_attention_counts_analog_operands():
    q, k, v = torch.rand(1, 2, 3) + 0.1, torch.rand(1, 4, 3) + 0.1, torch.rand(1, 4, 2) + 0.1
    att = DotProductAttention()
    mon = OpsMonitor(att)
    with mon, torch.no_grad():
        att(q, k, v)
    rows = {r["name"]: r for r in mon.table()}
    assert set(rows) == {"scores", "mix"}
    # Q K^T: L*d*S = 2*3*4 = 24 MACs; A V: L*S*dv = 2*4*2 = 16 MACs; every operand non-zero, so NeuroBench's
    # effective ops equal the dense ones
    assert rows["scores"]["macs"] == 24 and rows["mix"]["macs"] == 16
    t = mon.compute()
    assert t["macs"] == 40 and t["acs"] == 0 and t["nb_eff_macs"] == 40 and t["nb_dense"] == 40


def test_attention_counts_binary_operands():
    q = torch.tensor([[[1.0, 0, 1], [0, 0, 0]]])  # [1, L=2, d=3]: 2 spikes
    k = torch.tensor([[[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]]])  # [1, S=4, 3]: 6 spikes
    v = torch.tensor([[[1.0, 0], [0, 0], [0, 1], [1, 0]]])  # [1, S=4, dv=2]: 3 spikes
    att = DotProductAttention()
    mon = OpsMonitor(att)
    with mon, torch.no_grad():
        att(q, k, v)
    rows = {r["name"]: r for r in mon.table()}
    # Q K^T, papers: Q's spikes x S = 2*4 = 8, K's spikes x L = 6*2 = 12 -> the sparser stream: 8 ACs.
    # NeuroBench: products of two non-zeros: row 0 of Q meets every key (each has feature 0 or 2) -> 4 ACs
    assert rows["scores"]["acs"] == 8 and rows["scores"]["macs"] == 0 and rows["scores"]["nb_eff_acs"] == 4
    # A V: A is a softmax (analog, all positive), V binary: V's 3 spikes x L = 2 -> 6 ACs; NeuroBench 2 x 3 = 6
    assert rows["mix"]["acs"] == 6 and rows["mix"]["macs"] == 0 and rows["mix"]["nb_eff_acs"] == 6
    t = mon.compute()
    assert t["acs"] == 14 and t["macs"] == 0 and t["energy_pj"] == pytest.approx(14 * 0.9)
    # ternary operand: analog for the papers ({0, 1} test), AC for NeuroBench ({-1, 0, 1})
    c = _f(count_matmul(-q, torch.full((3, 2), 0.5)))
    assert c["paper_mac"] == 2 * 3 * 2 and c["nb_ac"] == 2 * 2 and c["nb_mac"] == 0
    # broadcasting: a [2 heads, 2, 3] @ b [3, 4] counts both heads
    assert float(count_matmul(torch.rand(2, 2, 3) + 0.1, torch.rand(3, 4) + 0.1)["paper_mac"]) == 2 * 2 * 3 * 4


# ---------------------------------------------------------------- gate products
def test_gate_products_mul_and_lstm_cell():
    mul = Mul()
    gate, c = torch.tensor([[1.0, 0.0, 1.0]]), torch.tensor([[0.3, -0.2, 0.7]])
    # a spiking gate selects: no multiplication; two analog operands: one per element
    assert float(count_layer(mul, (gate, c))["elementwise"]) == 0
    assert float(count_layer(mul, (torch.sigmoid(c), c))["elementwise"]) == 3
    assert float(count_mul(c, 2.0)["elementwise"]) == 3 and float(count_mul(c, 2.0)["paper_mac"]) == 0
    # nn.LSTMCell(3, 2) on 2 rows: f*c, i*g, o*tanh(c) = 3H per row = 12, priced only with e_mul_pj
    cell = nn.LSTMCell(3, 2)
    mon = OpsMonitor(cell, batch_dim=0, energy=EnergyModel(e_mul_pj=3.7))
    with mon, torch.no_grad():
        cell(torch.rand(2, 3) + 0.1)
    t = mon.compute()
    # per sample: 4H(I+H) = 40 MACs, 3H = 6 products
    assert t["macs"] == 40 and t["elementwise"] == 6
    assert t["energy_pj"] == pytest.approx(40 * 4.6 + 6 * 3.7)
    assert EnergyModel().energy_pj(40, 0, 6) == pytest.approx(40 * 4.6)  # default: products not priced


# ---------------------------------------------------------------- spiking recurrent cell
class SpikingRNNCell(nn.Module):
    """``h[t] = LIF(W_in x[t] + W_rec h[t-1])`` from two bias-free ``Linear`` layers and a single-step LIF
    (a stateful module, or the explicit-state ``LIFCell``)."""

    def __init__(self, explicit_state: bool):
        super().__init__()
        self.fc_in, self.fc_rec = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
        self.explicit = explicit_state
        if explicit_state:
            self.lif = LIFCell(0.5, 1.0, reset="hard")
        else:
            self.lif = LIF(0.5, 1.0, reset="hard", step_mode="single", backend="torch")
        with torch.no_grad():
            self.fc_in.weight.copy_(2 * torch.eye(2))
            self.fc_rec.weight.zero_()
            self.fc_rec.weight[1, 0] = 0.1  # only column 0 of W_rec is non-zero

    def forward(self, x):  # x [T, B, 2] spikes
        self.lif.reset_state()
        h, state, out = torch.zeros_like(x[0]), None, []
        for x_t in x.unbind(0):
            i = self.fc_in(x_t) + self.fc_rec(h)
            if self.explicit:
                h, state = self.lif(i, state)
            else:
                h = self.lif(i)
            out.append(h)
        return torch.stack(out)


@pytest.mark.parametrize("explicit_state", [False, True])
def test_spiking_recurrent_cell_counts_acs(explicit_state):
    cell = SpikingRNNCell(explicit_state)
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]])  # [T=3, B=1, 2]
    mon = OpsMonitor(cell, batch_dim=1)
    with mon, torch.no_grad():
        h = cell(x)
    # W_in = 2I drives the neuron of every input spike over threshold (hard reset, no carry-over);
    # W_rec adds only 0.1: h = x
    assert torch.equal(h, x)
    rows = {r["name"]: r for r in mon.table()}
    # papers: fc_in: 4 input spikes x fan-out 2 = 8 ACs; fc_rec is fed h[t-1] = 0, [1,0], [0,1]:
    # 2 spikes x 2 = 4 ACs; no MAC anywhere (binary inputs, including the all-zero first state)
    assert rows["fc_in"]["acs"] == 8 and rows["fc_rec"]["acs"] == 4
    assert rows["fc_in"]["input"] == rows["fc_rec"]["input"] == "spike"
    t = mon.compute()
    assert t["acs"] == 12 and t["macs"] == 0 and t["energy_pj"] == pytest.approx(12 * 0.9)
    # NeuroBench skips zero weights: fc_in one weight per column -> 4; fc_rec: the spike on column 0 -> 1
    assert t["nb_eff_acs"] == 5 and t["nb_eff_macs"] == 0
    # the LIF's 4 spikes over 2 neurons x 3 steps
    (act,) = mon.activity()
    assert act["name"] == "lif" and act["spike_rate"] == pytest.approx(4 / 6)


# ---------------------------------------------------------------- graded spikes
def test_graded_spikes_linear_and_conv():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.fill_(0.5)
        lin.weight[0, 2] = 0.0  # column 2 has one non-zero weight
    x = torch.tensor([[2.0, 0.0, -4.0], [6.0, 0.0, 0.0]])  # n/dt with dt = 0.5: n = [1, 0, -2], [3, 0, 0]
    c = _f(count_linear(lin, x, unit=2.0))
    # papers: sum |n| = 6 spikes x fan-out 2 = 12 ACs
    assert c["paper_ac"] == 12 and c["paper_mac"] == 0 and c["graded"] == 1 and c["analog"] == 0
    # NeuroBench: values outside {-1, 0, 1} are multiplications: non-zero inputs x non-zero weights
    # = row 0: 2 + 1, row 1: 2 -> 5 MACs
    assert c["nb_mac"] == 5 and c["nb_ac"] == 0
    # without the spike height the same input is analog: 2 rows x 3 x 2 = 12 MACs
    c0 = _f(count_linear(lin, x))
    assert c0["paper_mac"] == 12 and c0["paper_ac"] == 0 and c0["graded"] == 0 and c0["analog"] == 1
    # not a multiple of the height: analog
    assert float(count_linear(lin, x + 0.3, unit=2.0)["paper_mac"]) == 12
    # integer counts (height 1) and plain {0, 1} spikes with any height: spikes
    assert float(count_linear(lin, torch.tensor([[1.0, 0.0, 2.0]]), unit=1.0)["paper_ac"]) == 3 * 2
    assert float(count_linear(lin, torch.tensor([[1.0, 0.0, 1.0]]), unit=1000.0)["paper_ac"]) == 2 * 2
    with pytest.raises(ValueError, match="height"):
        count_linear(lin, x, unit=0.0)
    # Conv1d(1 -> 2, k=3, padding=1) on length 4: graded counts [1, 0, 0, 3] (height 4).
    # Fan-out per position (padding excluded): 2, 3, 3, 2 -> sum |n| x fan-out = 1*2 + 3*2 = 8, x 2 channels
    conv = nn.Conv1d(1, 2, 3, padding=1)
    cc = _f(count_layer(conv, (torch.tensor([[[4.0, 0.0, 0.0, 12.0]]]),), unit=4.0))
    assert cc["paper_ac"] == 16 and cc["paper_mac"] == 0


def test_graded_spikes_from_a_quantizing_neuron_follow_dt():
    from common.neurons.quantize import QuantizingNeuron

    q = QuantizingNeuron("identity", dt=0.5, initial_state="zeros")
    model = nn.Sequential(q, TimeDistributed(nn.Linear(3, 2)))
    x = torch.tensor([2.0, 0.0, 4.0]).expand(2, 1, 3)  # [T=2, B=1, 3], constant rate
    mon = OpsMonitor(model, batch_dim=1, graded={"1.0": q})
    with mon, torch.no_grad():
        model(x)
    # dt = 0.5: v = 0.5 * [2, 0, 4] = [1, 0, 2] -> n = [1, 0, 2] each step: 6 spikes x fan-out 2 = 12 ACs
    (row,) = mon.table()
    assert row["acs"] == 12 and row["macs"] == 0 and row["input"] == "graded"
    mon.reset()
    q.set_dt(0.25)  # annealed: v = [0.5, 0, 1] -> n = [0, 0, 1]; then v = [1, 0, 1] -> n = [1, 0, 1]
    with mon, torch.no_grad():
        model(x)
    assert mon.compute()["acs"] == 3 * 2  # height now 4: a stale height 2 would count 6 x 2
    with pytest.raises(ValueError, match="not counted layers"):
        OpsMonitor(model, graded={"nope": 1.0})
    # a callable height is read at every call
    mon2 = OpsMonitor(model, batch_dim=1, graded={"1.0": lambda: 1 / float(q.dt)})
    with mon2, torch.no_grad():
        model(x)
    assert mon2.compute()["acs"] == 6


# ---------------------------------------------------------------- the extension point
class Scale(nn.Module):
    """y = x * w (one weight per feature), with a child Linear the counter accounts for itself."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.full((n,), 0.5))
        self.inner = nn.Linear(n, n)

    def forward(self, x):
        return self.inner(x * self.w)


class SubScale(Scale):
    pass


def test_register_counter_custom_layer_inheritance_and_errors():
    def count_scale(layer, args, kwargs, **opts):
        x = args[0]
        c = base_counts(x)
        rows = x.numel() // x.shape[-1]
        c["paper_mac"] = torch.tensor(float(x.numel() + rows * x.shape[-1] ** 2), dtype=torch.float64)
        return c

    assert find_counter(Scale(3)) is None
    register_counter(Scale, count_scale)
    try:
        model = nn.Sequential(SubScale(3), nn.Linear(3, 1))
        mon = OpsMonitor(model)
        # the subclass inherits the counter along the MRO; the inner Linear is not hooked again
        assert [n for n, _ in mon.layers] == ["0", "1"]
        with mon, torch.no_grad():
            model(torch.rand(2, 3) + 0.1)
        t = mon.compute()
        # per sample: 3 scalings + 3*3 inner MACs = 12, plus the outer Linear 3 -> 15 MACs
        assert t["macs"] == 15 and mon.table()[0]["calls"] == 1 and mon.table()[0]["type"] == "SubScale"

        @register_counter(SubScale)  # a subclass's own counter wins; Python numbers are accepted
        def count_sub(layer, args, kwargs, **opts):
            return {"paper_ac": 7}

        c = _f(count_layer(SubScale(3), (torch.ones(1, 3),)))
        assert c["paper_ac"] == 7 and c["paper_mac"] == 0 and c["calls"] == 1
        unregister_counter(SubScale)
        assert find_counter(SubScale(3)) is count_scale

        register_counter(SubScale, lambda layer, args, kwargs, **opts: {"macs": 1})
        with pytest.raises(KeyError, match="unknown keys"):
            count_layer(SubScale(3), (torch.ones(1, 3),))
    finally:
        unregister_counter(SubScale)
        unregister_counter(Scale)
    assert find_counter(Scale(3)) is None
    with pytest.raises(TypeError):
        register_counter(int, count_scale)
    # a subclass of a built-in inherits its counter: MyLinear counts as Linear
    MyLinear = type("MyLinear", (nn.Linear,), {})
    assert float(count_layer(MyLinear(4, 2), (torch.full((1, 4), 0.5),))["paper_mac"]) == 8
    assert find_counter(MatMul()) is not None and find_counter(nn.ReLU()) is None


def test_energy_ratios_both_conventions():
    snn = {"energy_pj": 5.4, "energy_nb_pj": 5.4}
    ann = {"energy_pj": 110.4, "energy_nb_pj": 92.0}
    r = energy_ratios(snn, ann)
    assert r["papers"] == pytest.approx(5.4 / 110.4) and r["neurobench"] == pytest.approx(5.4 / 92.0)
    assert not math.isclose(r["papers"], r["neurobench"])
