"""LMU layers (papers.lmu_quantized.lmu): parameter counts, parallel memory = step loop, fully parallel LMU = its
step loop, values and gradients, with and without the quantizer."""
import pytest
import torch
from torch import nn

from common.neurons import QuantizerState
from common.neurons.quantize import quantizing_neurons
from papers.lmu_quantized.lmu import (
    LMU,
    LMUState,
    ParallelLMU,
    causal_conv_chunked,
    causal_conv_direct,
    causal_conv_fft,
    causal_conv_last,
    keras_glorot_normal_,
)
from papers.lmu_quantized.ldn import ldn_discrete, ldn_impulse_response

F64 = torch.float64


def count(module):
    total = sum(p.numel() for p in module.parameters())
    return total, sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_2019_psmnist_parameter_count():
    torch.manual_seed(0)
    model = nn.ModuleDict({"lmu": LMU(1, 212, 256, 784.0), "dense": nn.Linear(212, 10)})
    assert count(model) == (167_819, 102_027)  # 65,792 frozen A/B (notes §3c)
    assert count(model["lmu"]) == (165_689, 99_897)


def test_chilkuri_hrshtv_parameter_count():
    model = nn.ModuleDict({"lmu": ParallelLMU(1, 346, 468, 784.0), "dense": nn.Linear(346, 10)})
    assert count(model)[1] == 166_092  # hrshtv/pytorch-lmu LMUFFT(346, 468) + Linear(346, 10)


def test_2019_initialisers():
    lmu = LMU(1, 212, 256, 784.0)
    assert torch.equal(lmu.e_x, torch.ones(1, 1)) and not lmu.e_h.any() and not lmu.e_m.any()
    assert not lmu.W_x.any() and not lmu.W_h.any()
    w = keras_glorot_normal_(torch.empty(4000, 468), 4000, 468, torch.Generator().manual_seed(0))
    std = (2 / (4000 + 468)) ** 0.5
    assert abs(float(w.std()) / std - 1) < 0.02 and float(w.abs().max()) <= 2 * std / 0.87962566103423978 + 1e-7
    Ad, Bd = ldn_discrete(256, 784.0, dtype=torch.float32)
    torch.testing.assert_close(lmu.memory.AT, (Ad - torch.eye(256)).T, rtol=0, atol=1e-7)
    torch.testing.assert_close(lmu.memory.BT, Bd.T)


# ------------------------------------------------------------------------- the convolution forms
@pytest.mark.parametrize("T", [1, 5, 64, 100, 129])
def test_convolution_forms_agree(T):
    g = torch.Generator().manual_seed(T)
    Ad, Bd = ldn_discrete(24, 60.0)
    H = ldn_impulse_response(Ad, Bd, T)
    P = torch.stack([torch.linalg.matrix_power(Ad, j + 1) for j in range(32)])
    u = torch.randn(T, 3, generator=g, dtype=F64)
    ref = causal_conv_direct(u, H)
    m, rows = torch.zeros(3, 24, dtype=F64), []  # the recurrence itself
    for t in range(T):
        m = m @ Ad.T + u[t][:, None] @ Bd.T
        rows.append(m)
    torch.testing.assert_close(ref, torch.stack(rows), rtol=0, atol=1e-12)
    torch.testing.assert_close(causal_conv_fft(u, H), ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(causal_conv_chunked(u, H[:32], P[: min(32, T)], 32), ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(causal_conv_last(u, H), ref[-1], rtol=0, atol=1e-12)


def _grads(out, params, w):
    return torch.autograd.grad((out * w).sum(), params)


def _compare(a_out, b_out, a_params, b_params, atol):
    torch.testing.assert_close(a_out, b_out, rtol=0, atol=atol)
    w = torch.randn(a_out.shape, generator=torch.Generator().manual_seed(9), dtype=a_out.dtype)
    for ga, gb in zip(_grads(a_out, a_params, w), _grads(b_out, b_params, w)):
        torch.testing.assert_close(ga, gb, rtol=0, atol=atol * max(1.0, float(ga.abs().max())))


def _pair(cls, step_kw, par_kw, **kw):
    torch.manual_seed(0)
    a = cls(**kw, **step_kw).double()
    b = cls(**kw, **par_kw).double()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():  # non-trivial recurrent weights (the 2019 init zeroes W_x, W_h)
        for pa, pb in zip(a.parameters(), b.parameters()):
            if pa.requires_grad:
                pa.add_(0.1 * torch.randn_like(pa))
                pb.copy_(pa)
    return a, b


@pytest.mark.parametrize("T,memory_mode", [(100, "fft"), (100, "chunked"), (77, "chunked"), (16, "chunked"),
                                           (77, "fft")])
def test_parallel_memory_equals_step_loop(T, memory_mode):
    kw = dict(input_size=2, hidden_size=12, order=16, theta=50.0, memory_feedback=False, chunk=16)
    a, b = _pair(LMU, dict(mode="step"), dict(mode="parallel", memory_mode=memory_mode), **kw)
    x = torch.randn(T, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    ha, sa = a(x)
    hb, sb = b(x)
    torch.testing.assert_close(sa.m, sb.m, rtol=0, atol=1e-10)
    pa = [x] + [p for p in a.parameters() if p.requires_grad]
    pb = [x] + [p for p in b.parameters() if p.requires_grad]
    _compare(ha, hb, pa, pb, 1e-10)


def test_parallel_memory_carries_a_state_like_the_step_loop():
    kw = dict(input_size=1, hidden_size=8, order=12, theta=30.0, memory_feedback=False)
    a, b = _pair(LMU, dict(mode="step"), dict(mode="parallel"), **kw)
    x = torch.randn(40, 2, 1, dtype=F64)
    h1, s1 = a(x[:25])
    ha, _ = a(x[25:], s1)
    hb, _ = b(x[25:], LMUState(s1.h, s1.m, None))
    torch.testing.assert_close(ha, hb, rtol=0, atol=1e-10)


def test_parallel_memory_float32():
    kw = dict(input_size=1, hidden_size=32, order=64, theta=200.0, memory_feedback=False)
    for mm in ("fft", "chunked"):
        a, b = _pair(LMU, dict(mode="step"), dict(mode="parallel", memory_mode=mm), **kw)
        a, b = a.float(), b.float()
        x = torch.rand(300, 4, 1)
        torch.testing.assert_close(a(x)[0], b(x)[0], rtol=0, atol=2e-4)


def test_parallel_memory_with_quantizer_equals_step_loop():
    kw = dict(input_size=1, hidden_size=10, order=16, theta=40.0, memory_feedback=False, spiking=True, dt=0.7)
    a, b = _pair(LMU, dict(mode="step"), dict(mode="parallel"), **kw)
    x = torch.randn(60, 3, 1, dtype=F64).requires_grad_()
    v0 = torch.rand(3, 10, dtype=F64)
    z = torch.zeros(3, 10, dtype=F64)
    ha, sa = a(x, LMUState(z, torch.zeros(3, 16, dtype=F64), QuantizerState(v0.clone())))
    hb, sb = b(x, LMUState(z, torch.zeros(3, 16, dtype=F64), QuantizerState(v0.clone())))
    assert torch.equal(ha * 0.7, torch.round(ha * 0.7))  # spikes: n / dt
    assert torch.equal(torch.round(ha * 0.7), torch.round(hb * 0.7))
    pa = [x] + [p for p in a.parameters() if p.requires_grad]
    pb = [x] + [p for p in b.parameters() if p.requires_grad]
    _compare(ha, hb, pa, pb, 1e-9)
    assert len(quantizing_neurons(a)) == 1


def test_2019_cell_with_feedback_runs_and_refuses_parallel():
    lmu = LMU(1, 8, 12, 20.0)
    h, s = lmu(torch.randn(30, 2, 1))
    assert h.shape == (30, 2, 8) and s.m.shape == (2, 12)
    with pytest.raises(ValueError):
        LMU(1, 8, 12, 20.0, mode="parallel")
    frozen = LMU(1, 8, 12, 20.0, memory_feedback=False, mode="parallel")
    frozen.memory.AT.requires_grad_(True)
    with pytest.raises(ValueError):
        frozen(torch.randn(5, 2, 1))


# ------------------------------------------------------------------------- fully parallel (Chilkuri & Eliasmith)
@pytest.mark.parametrize("T,memory_mode", [(100, "fft"), (77, "chunked"), (64, "chunked")])
@pytest.mark.parametrize("spiking", [False, True])
def test_fully_parallel_equals_its_step_loop(T, memory_mode, spiking):
    torch.manual_seed(0)
    m = ParallelLMU(2, 12, 16, 50.0, memory_mode=memory_mode, chunk=32, spiking=spiking, dt=0.5,
                    activation="tanh", u_activation="identity").double()
    x = torch.randn(T, 3, 2, dtype=F64).requires_grad_()
    v0 = torch.rand(3, 12, dtype=F64) if spiking else None
    params = [x] + list(m.parameters())[:4]  # W_u, W_h weights and biases (A/B frozen)
    assert all(p.requires_grad for p in params)
    hp = m(x, v0=v0)
    hs = m.forward_steps(x, v0=v0)
    if spiking:
        assert torch.equal(torch.round(hp * 0.5), torch.round(hs * 0.5))
    _compare(hp, hs, params, params, 1e-10)
    torch.testing.assert_close(m(x, last_only=True, v0=v0), hs[-1], rtol=0, atol=1e-10)


def test_fully_parallel_last_only_relu():
    torch.manual_seed(1)
    m = ParallelLMU(1, 16, 32, 784.0).double()
    x = torch.rand(784, 5, 1, dtype=F64)
    torch.testing.assert_close(m(x, last_only=True), m(x)[-1], rtol=0, atol=1e-10)
    torch.testing.assert_close(m(x, last_only=True), m.forward_steps(x)[-1], rtol=0, atol=1e-10)


def test_float32_parallel_memory_at_psmnist_scale_is_as_accurate_as_the_float32_step_loop():
    """order 256, theta = T = 784: FFT and chunked memories (float32) against a float64 step loop."""
    torch.manual_seed(0)
    lmu = LMU(1, 8, 256, 784.0, memory_feedback=False)
    u = torch.rand(784, 4)
    A, B = lmu.memory.abar(), lmu.memory.BT.double()
    m64, m32, ref, step32 = torch.zeros(4, 256, dtype=F64), torch.zeros(4, 256), [], []
    for t in range(784):
        m64 = m64 @ A.T + u[t].double()[:, None] @ B
        m32 = lmu.memory.step(m32, u[t][:, None])
        ref.append(m64)
        step32.append(m32)
    ref = torch.stack(ref)
    err_step = (torch.stack(step32).double() - ref).abs().max().item()
    for mode in ("fft", "chunked"):
        err = (lmu.memory.convolve(u, mode).double() - ref).abs().max().item()
        assert err < max(2 * err_step, 2e-6), (mode, err, err_step)


@pytest.mark.parametrize("spiking", [False, True])
@pytest.mark.parametrize("memory_mode", ["fft", "chunked"])
def test_parallel_memory_with_quantized_input_equals_step_loop(spiking, memory_mode):
    """The memory input u quantized too: a prefix sum in the parallel form, stepped in the loop."""
    kw = dict(input_size=1, hidden_size=10, order=16, theta=40.0, memory_feedback=False, spiking=spiking, dt=0.7,
              quantize_u=True, chunk=16)
    a, b = _pair(LMU, dict(mode="step"), dict(mode="parallel", memory_mode=memory_mode), **kw)
    assert type(b.u_quantizer).__name__ == "PrefixQuantizingNeuron" and len(quantizing_neurons(b)) == 1 + spiking
    x = (torch.rand(61, 3, 1, dtype=F64) * 2).requires_grad_()
    g = torch.Generator().manual_seed(5)
    vq, vu = torch.rand(3, 10, generator=g, dtype=F64), torch.rand(3, 1, generator=g, dtype=F64)

    def state():
        return LMUState(torch.zeros(3, 10, dtype=F64), torch.zeros(3, 16, dtype=F64),
                        QuantizerState(vq.clone()) if spiking else None, QuantizerState(vu.clone()))
    ha, sa = a(x, state())
    hb, sb = b(x, state())
    torch.testing.assert_close(sa.qu.v, sb.qu.v, rtol=0, atol=1e-12)
    torch.testing.assert_close(sa.m, sb.m, rtol=0, atol=1e-10)
    pa = [x] + [p for p in a.parameters() if p.requires_grad]
    pb = [x] + [p for p in b.parameters() if p.requires_grad]
    _compare(ha, hb, pa, pb, 1e-9)
    n_u = b.u_quantizer.last_counts  # integer counts of the quantized input
    assert torch.equal(n_u, torch.round(n_u)) and bool((n_u != 0).any())
