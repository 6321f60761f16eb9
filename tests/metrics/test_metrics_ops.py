"""Hand-computed op counts for the pure counters in common.metrics.ops (both conventions)."""
import pytest
import torch
from torch import nn

from common.metrics import count_conv, count_layer, count_linear, count_rnn, count_rnn_cell


def _f(d):
    return {k: float(v) for k, v in d.items()}


def make_conv():
    # Conv2d(1 -> 2, k=3, stride=2, padding=1) on 4x4 -> 2x2 output.
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = 0.3  # out channel 0: all 9 taps non-zero
        conv.weight[1, 0, 1, 1] = -0.7  # out channel 1: centre tap only
        conv.bias.fill_(0.5)  # bias must never be counted
    return conv


def make_linear():
    # Linear(8 -> 3); column 0 all zero, W[0, 1] zero -> non-zeros per input column:
    # col0: 0, col1: 2, col2..col7: 3
    lin = nn.Linear(8, 3)
    with torch.no_grad():
        lin.weight.fill_(0.2)
        lin.weight[:, 0] = 0
        lin.weight[0, 1] = 0
        lin.bias.fill_(1.0)
    return lin


def test_conv_analog_both_conventions():
    conv = make_conv()
    x = torch.full((1, 1, 4, 4), 0.5)
    c = _f(count_conv(conv, x))
    # papers: dense MACs = k^2 * C_in * C_out * H_out * W_out = 9 * 1 * 2 * 2 * 2 = 72
    assert c["paper_mac"] == 72 and c["paper_ac"] == 0
    # NeuroBench, per output position the number of non-padding taps. Per dim (size 4,
    # stride 2, pad 1): output 0 sees inputs {-1,0,1} -> 2 valid, output 1 sees {1,2,3} -> 3.
    # 2-D: 2*2 + 2*3 + 3*2 + 3*3 = 25 valid taps over the 4 positions.
    # channel 0 (9 non-zero weights): 25; channel 1 (centre only, always valid): 4 -> 29
    assert c["nb_mac"] == 29 and c["nb_ac"] == 0
    # dense (all-ones weights and input, padding excluded): 25 * 2 channels = 50
    assert c["nb_dense"] == 50
    assert c["analog"] == 1 and c["in_nonzero"] == 16 and c["in_numel"] == 16


def test_conv_spikes_both_conventions():
    conv = make_conv()
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = x[0, 0, 3, 3] = 1.0
    c = _f(count_conv(conv, x))
    # fan-out per dim: input 0 -> {out 0}, input 1 -> {out 0, out 1}, input 2 -> {out 1}, input 3 -> {out 1}
    # i.e. 1, 2, 1, 1.  (0,0): 1*1 = 1, (1,1): 2*2 = 4, (3,3): 1*1 = 1 -> 6 positions x C_out 2 = 12 ACs
    assert c["paper_ac"] == 12 and c["paper_mac"] == 0
    # NeuroBench: channel 0 (all taps) 6; channel 1 centre tap reads inputs (0,0),(0,2),(2,0),(2,2):
    # only (0,0) spikes -> 1. Total 7 ACs (weight zeros are skipped, unlike the papers' fan-out).
    assert c["nb_ac"] == 7 and c["nb_mac"] == 0
    assert c["nb_dense"] == 50 and c["analog"] == 0


def test_conv_batched_rows_and_conv1d():
    conv = make_conv()
    x = torch.full((3, 1, 4, 4), -0.25)  # 3 rows (e.g. T*B of a TimeDistributed call)
    c = _f(count_conv(conv, x))
    assert c["paper_mac"] == 3 * 72 and c["nb_mac"] == 3 * 29 and c["nb_dense"] == 3 * 50
    # Conv1d(2 -> 3, k=3, pad=1) on length 5: papers 3*2*3*5 = 90 MACs;
    # non-padding taps per output position 2,3,3,3,2 = 13 -> NeuroBench dense 13*2*3 = 78
    c1 = nn.Conv1d(2, 3, 3, padding=1)
    d = _f(count_conv(c1, torch.rand(1, 2, 5) + 0.1))
    assert d["paper_mac"] == 90 and d["nb_dense"] == 78


def test_conv_groups_spikes():
    # depthwise Conv1d(2 -> 4, k=1, groups=2): a spike in channel c reaches C_out/groups = 2 outputs
    conv = nn.Conv1d(2, 4, 1, groups=2)
    x = torch.zeros(1, 2, 3)
    x[0, 0, 0] = x[0, 1, 2] = x[0, 1, 1] = 1
    c = _f(count_conv(conv, x))
    assert c["paper_ac"] == 3 * 2
    # dense (papers): k * C_in/g * C_out * L = 1 * 1 * 4 * 3 = 12
    x2 = torch.rand(1, 2, 3) + 0.5
    assert _f(count_conv(conv, x2))["paper_mac"] == 12


def test_linear_analog_spike_ternary():
    lin = make_linear()
    x = torch.full((2, 8), 0.5)
    x[0, 2] = 0.0
    c = _f(count_linear(lin, x))
    # papers: dense f_in * f_out per row, zeros included: 2 * 8 * 3 = 48 MACs
    assert c["paper_mac"] == 48 and c["paper_ac"] == 0
    # NeuroBench: row 0: col1 2 + cols 3..7 5*3 = 17 (col0 has no weights, col2 is a zero input);
    # row 1: 2 + 6*3 = 20 -> 37 MACs; dense 48
    assert c["nb_mac"] == 37 and c["nb_ac"] == 0 and c["nb_dense"] == 48

    s = torch.zeros(2, 8)
    s[0, 0] = s[0, 1] = s[0, 7] = 1
    c = _f(count_linear(lin, s))
    # papers: 3 spikes x fan-out 3 = 9 ACs; NeuroBench: 0 + 2 + 3 = 5 ACs
    assert c["paper_ac"] == 9 and c["paper_mac"] == 0
    assert c["nb_ac"] == 5 and c["nb_mac"] == 0

    t = s.clone()
    t[1, 3] = -1  # ternary: analog for the papers ({0,1} test), AC for NeuroBench ({-1,0,1})
    c = _f(count_linear(lin, t))
    assert c["paper_mac"] == 48 and c["paper_ac"] == 0
    assert c["nb_ac"] == 5 + 3 and c["nb_mac"] == 0


def test_lstm_gru_gate_counts():
    cell = nn.LSTMCell(3, 2)
    x = torch.rand(2, 3) + 0.1
    c = _f(count_rnn_cell(cell, x))
    # 4 gates * H * (I + H) = 4*2*5 = 40 per row, 2 rows -> 80 MACs (hh counted densely with hx=None)
    assert c["paper_mac"] == 80 and c["paper_ac"] == 0
    # NeuroBench: no state given -> only the input part: 4*2*3*2 = 48
    assert c["nb_dense"] == 48 and c["nb_mac"] == 48
    # element-wise products f*c, i*g, o*tanh(c): 3H per row
    assert c["elementwise"] == 3 * 2 * 2

    # spike input with an analog state: 3 spikes x 4H = 24 ACs; hh dense 2 rows * 4*2*2 = 32 MACs
    s = torch.zeros(2, 3)
    s[0, 0] = s[0, 2] = s[1, 1] = 1
    h = (torch.rand(2, 2) + 0.1, torch.rand(2, 2))
    c = _f(count_layer(cell, (s, h)))
    assert c["paper_ac"] == 24 and c["paper_mac"] == 32
    assert c["nb_ac"] == 24 + 32 and c["nb_dense"] == 80

    # papers: explicit zero state == hx=None (dense hh MACs), binary or not
    z = (torch.zeros(2, 2), torch.zeros(2, 2))
    assert float(count_layer(cell, (x, z))["paper_mac"]) == 80
    # ... but NeuroBench counts no hh ops on a zero state: 48 + 0
    assert float(count_layer(cell, (x, z))["nb_mac"]) == 48

    gru = nn.GRUCell(3, 2)
    assert float(count_rnn_cell(gru, x)["paper_mac"]) == 2 * 3 * 2 * (3 + 2)  # 60

    # nn.LSTM, seq 4 x batch 2 = 8 row-steps x 4H(I+H) = 8 * 40 = 320
    lstm = nn.LSTM(3, 2)
    assert float(count_rnn(lstm, torch.rand(4, 2, 3) + 0.1)["paper_mac"]) == 320
    # GRU batch_first [B=2, T=4, I=3]: 8 * 3*2*5 = 240
    gru_l = nn.GRU(3, 2, batch_first=True)
    assert float(count_layer(gru_l, (torch.rand(2, 4, 3) + 0.1,))["paper_mac"]) == 240
    # 2-layer bidirectional LSTM(I=3, H=2): layer 0: 2 dirs * (4*2*3 + 4*2*2) = 80;
    # layer 1 (input 2H = 4): 2 * (4*2*4 + 4*2*2) = 96 -> 176 per row-step, 8 row-steps
    bl = nn.LSTM(3, 2, num_layers=2, bidirectional=True)
    assert float(count_rnn(bl, torch.rand(4, 2, 3) + 0.1)["paper_mac"]) == 8 * 176
    # spike input: layer-0 input part becomes ACs: spikes x 4H x 2 dirs; rest stays MACs
    sx = torch.zeros(4, 2, 3)
    sx[0, 0, 0] = sx[3, 1, 2] = 1
    c = _f(count_rnn(bl, sx))
    assert c["paper_ac"] == 2 * 8 * 2 and c["paper_mac"] == 8 * (176 - 48)


def test_counts_can_fail():
    # sanity: the counters are sensitive to the input (guards against vacuous asserts)
    lin = make_linear()
    a = float(count_linear(lin, torch.ones(1, 8))["paper_ac"])
    b = float(count_linear(lin, torch.zeros(1, 8))["paper_ac"])
    assert a == 24 and b == 0
    with pytest.raises(AssertionError):
        assert float(count_linear(lin, torch.full((1, 8), 0.5))["paper_ac"]) == 24
