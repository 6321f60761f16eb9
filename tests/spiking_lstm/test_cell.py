"""The conversion-friendly LSTM layer and its spiking counterpart (papers/spiking_lstm/cell.py, model.py)."""
import pytest
import torch

from common.neurons.functional import lif_step
from common.surrogate import get_surrogate
from papers.spiking_lstm.cell import ConvLSTMLayer, clip_act, neuron_step
from papers.spiking_lstm.model import SpikingLSTMNet, percentile_thresholds

SG = get_surrogate("triangle", 1.0)


def _layer(I=5, H=6, seed=0, **kw):
    torch.manual_seed(seed)
    layer = ConvLSTMLayer(I, H, **kw)
    with torch.no_grad():  # known, moderate weights
        layer.w_x.weight.normal_(0, 0.5)
        layer.w_h.weight.normal_(0, 0.3)
        layer.w_x.bias.normal_(0, 0.5)
        layer.theta.copy_(torch.tensor([1.5, 1.5, 1.0, 1.5, 0.8]))
        layer.theta_c.fill_(1.2)
    return layer


# ------------------------------------------------------------------ the neuron against the suite's IF/LIF
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_binary_neuron_is_the_suites_if_started_at_shift_theta(shift):
    # threshold (1-s)θ from rest == the suite's lif_step (threshold θ, leak 1) started at v0 = s θ: same spikes,
    # same gradients w.r.t. input and threshold (not w.r.t. the leak: the reference's offset s θ is leaked, ours
    # is the threshold position and is not -- the two differ only for leak < 1)
    torch.manual_seed(1)
    z = (torch.rand(6, 4, 3) * 1.2 - 0.1).requires_grad_()
    th, lk = torch.tensor(0.9, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    v, out = torch.zeros(4, 3), []
    for t in range(6):
        s, v = neuron_step(v, z[t], lk, th, shift, False, SG)
        out.append(s)
    mine = torch.stack(out)
    g_mine = torch.autograd.grad((mine * torch.arange(6.0).view(6, 1, 1)).sum(), [z, th, lk])
    v2, ref = shift * th * torch.ones(4, 3), []
    for t in range(6):
        s, v2, _ = lif_step(z[t], v2, lk, th, SG, "soft")
        ref.append(s)
    ref = torch.stack(ref)
    g_ref = torch.autograd.grad((ref * torch.arange(6.0).view(6, 1, 1)).sum(), [z, th, lk])
    assert torch.equal(mine, ref) and mine.sum() > 0
    for a, b in zip(g_mine[:2], g_ref[:2]):
        assert torch.allclose(a, b, atol=1e-5)


def test_ternary_neuron_counts_round_and_signs():
    # constant input u over T steps: count = sign(u) floor(T|u|/θ + s) for |u| <= θ
    T, th = 8, torch.tensor(1.0)
    u = torch.linspace(-1, 1, 41)
    for s in (0.0, 0.5):
        v, n = torch.zeros_like(u), torch.zeros_like(u)
        for _ in range(T):
            spk, v = neuron_step(v, u, torch.tensor(1.0), th, s, True, SG)
            n += spk
        expect = torch.sign(u) * torch.floor(T * u.abs() + s + 1e-9)
        assert torch.equal(n, expect.clamp(-T, T))


# ------------------------------------------------------------------ bias shift
def test_bias_shift_lowers_conversion_error_of_one_neuron():
    # known case: u uniform on [0, θ], an IF neuron over T steps; the rate vs clip(u/θ): the shift of half a
    # threshold makes the error unbiased and ~4x smaller in mean square (θ²/(3T²) -> θ²/(12T²))
    th, u = torch.tensor(1.0), torch.linspace(0, 1, 10001)
    for T in (1, 2, 4):
        err = {}
        for s in (0.0, 0.5):
            v, n = torch.zeros_like(u), torch.zeros_like(u)
            for _ in range(T):
                spk, v = neuron_step(v, u, torch.tensor(1.0), th, s, False, SG)
                n += spk
            err[s] = ((n / T - u) ** 2).mean().item()
        assert err[0.5] < err[0.0] / 3.5
        assert abs(err[0.0] - 1 / (3 * T * T)) < 0.02 / T and abs(err[0.5] - 1 / (12 * T * T)) < 0.01 / T


def _conversion_error(layer, x, T, shift):
    layer.mode, layer.time_steps = "lstm", 1
    with torch.no_grad():
        ref = layer(x)
        layer.to_snn(T, shift)
        out = layer.rates(layer(x.repeat_interleave(T, 0)))
    layer.mode, layer.time_steps = "lstm", 1
    return ((out - ref) ** 2).mean().item()


def test_bias_shift_lowers_conversion_error_of_the_layer():
    layer = _layer(I=8, H=32)
    torch.manual_seed(3)
    x = torch.randn(10, 64, 8)
    for T in (1, 2, 4):
        assert _conversion_error(layer, x, T, 0.5) < _conversion_error(layer, x, T, 0.0)


def test_converted_layer_approaches_the_source_lstm_as_T_grows():
    layer = _layer(I=8, H=32)
    torch.manual_seed(4)
    x = torch.randn(10, 64, 8)
    errs = [_conversion_error(layer, x, T, 0.5) for T in (1, 2, 4, 16, 64)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 2e-3 and errs[-1] < errs[0] / 50, errs


def test_quantised_lstm_equals_snn_at_T_equal_levels_without_recurrence():
    # one element (no recurrent input): every neuron sees a constant input, so the SNN's rates are exactly the
    # quantised activations floor(T u/θ + 1/2)/T of the source LSTM with levels = T
    for T in (1, 2, 4):
        layer = _layer(I=8, H=16, levels=T)
        x = torch.randn(1, 32, 8)
        with torch.no_grad():
            ref = layer(x)
            layer.to_snn(T, 0.5)
            out = layer.rates(layer(x.repeat_interleave(T, 0)))
        assert torch.allclose(out, ref, atol=1e-6)


# ------------------------------------------------------------------ against a plain reference
def _reference_snn(layer, x, T, s):
    """A plain per-neuron loop of the same spiking cell, with the suite's lif_step for the binary gates."""
    H = layer.hidden_size
    W, U, b = layer.w_x.weight, layer.w_h.weight, layer.w_x.bias
    th, lk = layer.theta, layer.leak
    N, B = x.shape[0], x.shape[1]
    c, hs_prev, outs = torch.zeros(B, H), torch.zeros(T, B, H), []
    for k in range(N):
        rates = []
        for j in range(4):
            Wj, Uj, bj = W[j * H:(j + 1) * H], U[j * H:(j + 1) * H], b[j * H:(j + 1) * H]
            v = s * th[j] * torch.ones(B, H)
            vp, vn = torch.zeros(B, H), torch.zeros(B, H)
            total = torch.zeros(B, H)
            for t in range(T):
                z = x[k] @ Wj.T + hs_prev[t] @ Uj.T + bj
                if j == 2:  # ternary: one membrane, two thresholds
                    hm = lk[j] * vp + z
                    spk = SG(hm / th[j] - (1 - s)) - SG(-hm / th[j] - (1 - s))
                    vp = hm - th[j] * spk
                else:
                    spk, v, _ = lif_step(z, v, lk[j], th[j], SG, "soft")
                total = total + spk
            rates.append(total / T)
        ri, rf, rg, ro = rates
        c = rf * c + ri * rg
        a = ro * torch.clamp(c / layer.theta_c, -1, 1)
        v, hs = torch.zeros(B, H), []
        for t in range(T):
            hm = lk[4] * v + a
            spk = SG(hm / th[4] - (1 - s)) - SG(-hm / th[4] - (1 - s))
            v = hm - th[4] * spk
            hs.append(spk * th[4])
        hs_prev = torch.stack(hs)
        outs.append(hs_prev)
    return torch.cat(outs)


def test_spiking_layer_matches_a_plain_reference_in_values_and_gradients():
    T, s = 3, 0.5
    layer = _layer(I=4, H=5).to_snn(T, s)
    torch.manual_seed(5)
    x = torch.randn(4, 3, 4)
    out = layer(x.repeat_interleave(T, 0))
    loss = (out * torch.randn_like(out)).sum()
    grads = torch.autograd.grad(loss, [layer.w_x.weight, layer.w_h.weight, layer.theta_c])
    torch.manual_seed(5)
    x2 = torch.randn(4, 3, 4)
    ref = _reference_snn(layer, x2, T, s)
    assert torch.equal(out, ref)
    torch.manual_seed(5)
    torch.randn(4, 3, 4)
    loss2 = (ref * torch.randn_like(ref)).sum()
    grads2 = torch.autograd.grad(loss2, [layer.w_x.weight, layer.w_h.weight, layer.theta_c])
    for g, g2 in zip(grads, grads2):
        assert torch.allclose(g, g2, atol=1e-5, rtol=1e-4)


def test_thresholds_and_leaks_get_gradients_and_are_clamped():
    torch.manual_seed(0)
    net = SpikingLSTMNet(4, 8, 2, 3)
    net.to_snn(2, 0.5, learn_threshold=True, learn_leak=True)
    x = torch.randn(5, 6, 4)
    net(x).logsumexp(1).sum().backward()
    torch.manual_seed(0)
    assert net.layers[0].theta.grad.abs().sum() > 0 and net.layers[0].leak.grad.abs().sum() > 0
    for layer in net.layers:
        assert layer.theta.grad is not None and layer.leak.grad is not None
        with torch.no_grad():
            layer.leak += 0.5
            layer.theta[0] = -1
    net.constrain_()
    assert all(float(l.leak.detach().max()) <= 1.0 and float(l.theta.detach().min()) > 0 for l in net.layers)
    fixed = SpikingLSTMNet(4, 8, 1, 3).to_snn(2, learn_threshold=False, learn_leak=False)
    assert not fixed.layers[0].theta.requires_grad and not fixed.layers[0].leak.requires_grad


def test_clip_act_and_trainable_clip_gradient():
    u = torch.tensor([-3.0, 0.5, 1.0, 5.0])
    th = torch.tensor(2.0, requires_grad=True)
    y = clip_act(u, th, False)
    assert torch.allclose(y, torch.tensor([0.0, 0.25, 0.5, 1.0]))
    y.sum().backward()  # d(u/θ)/dθ = -u/θ² inside, 0 where clipped
    assert torch.isclose(th.grad, torch.tensor(-(0.5 + 1.0) / 4))
    assert torch.allclose(clip_act(u, torch.tensor(2.0), True, levels=2), torch.tensor([-1.0, 0.5, 0.5, 1.0]))


def test_percentile_thresholds_from_activation_statistics():
    net = SpikingLSTMNet(4, 16, 2, 3)
    x = torch.randn(6, 32, 4)
    thr100 = percentile_thresholds(net, x, 100.0)
    thr50 = percentile_thresholds(net, x, 50.0)
    assert len(thr100) == 2 and all(a > b > 0 for a, b in zip(thr100, thr50))
    a = []
    net.layers[0].collect_a = a
    with torch.no_grad():
        net(x)
    net.layers[0].collect_a = None
    assert abs(thr100[0] - min(float(torch.cat(a).abs().max()), 1.0)) < 1e-6
