"""The prefix-sum quantizer (papers.lmu_quantized.quantize) against the common step loop: spike for spike,
straight-through gradients, masks, float32 precision over 784 steps."""
import pytest
import torch

from common.neurons import QuantizerState, QuantizingNeuron, quantize_multistep
from common.neurons.quantize import quantizing_neurons
from papers.lmu_quantized.quantize import PrefixQuantizingNeuron, prefix_quantize

F64 = torch.float64


@pytest.mark.parametrize("dt", [0.001, 0.05, 1.0, 37.0, 1000.0])
@pytest.mark.parametrize("act", ["tanh", "relu", "identity"])
def test_equals_float64_step_loop_spike_for_spike(act, dt):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(784, 4, 5, generator=g, dtype=F64) * 3).requires_grad_()
    v0 = torch.rand(4, 5, generator=g, dtype=F64)
    ref = QuantizingNeuron(act, dt=dt).double()
    par = PrefixQuantizingNeuron(act, dt=dt).double()
    r_out, r_state = ref._run(x, QuantizerState(v0.clone()), None)
    p_out, p_state = par._run(x, QuantizerState(v0.clone()), None)
    assert torch.equal(par.last_counts, ref.last_counts)
    assert torch.equal(p_out, r_out)
    torch.testing.assert_close(p_state.v, r_state.v, rtol=0, atol=1e-12 * 784 * max(dt, 1.0))  # |S| ~ T dt |r|
    w = torch.randn(784, 4, 5, generator=g, dtype=F64)
    (gr,) = torch.autograd.grad((r_out * w).sum(), x)
    (gp,) = torch.autograd.grad((p_out * w).sum(), x)
    torch.testing.assert_close(gp, gr, rtol=0, atol=0)  # straight-through: f'(x) * w, identical graphs


def test_float32_against_float32_step_loop():
    """A float32 step loop rounds v every step; the float64 prefix sum does not. Counts may move by one spike
    between adjacent steps (rarely), never accumulate; a naive float32 prefix sum drifts."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(784, 100, 16, generator=g) * 2 - 0.5
    v0 = torch.rand(100, 16, generator=g)
    for dt in (0.01, 1.0, 300.0):
        ref = quantize_multistep(x, v0, dt)
        par = prefix_quantize(x, v0, dt)
        mismatch = (ref.counts != par.counts).double().mean().item()
        assert mismatch < 1e-3, (dt, mismatch)
        cum = (ref.counts.double().cumsum(0) - par.counts.double().cumsum(0)).abs().max().item()
        assert cum <= 1, (dt, cum)
        # and the float64 prefix equals the float64 step loop exactly
        ref64 = quantize_multistep(x.double(), v0.double(), dt)
        assert torch.equal(ref64.counts, par.counts.double())
    # the reason for float64: a float32 cumsum of dt * r loses the fractional part at dt = 300
    S32 = torch.cumsum(x * 300.0, 0) + v0
    naive = torch.diff(torch.floor(S32), dim=0, prepend=torch.zeros_like(v0)[None])
    exact = quantize_multistep(x.double(), v0.double(), 300.0).counts
    assert (naive.double() != exact).double().mean().item() > 1e-3


def test_mask_holds_voltage_and_outputs_zero():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, 3, 2, generator=g, dtype=F64).requires_grad_()
    v0 = torch.rand(3, 2, generator=g, dtype=F64)
    mask = torch.rand(50, 3, generator=g) > 0.3
    ref = quantize_multistep(torch.tanh(x), v0, 0.3, mask)
    par = prefix_quantize(torch.tanh(x), v0, 0.3, mask)
    assert torch.equal(ref.counts, par.counts) and torch.equal(ref.out, par.out)
    torch.testing.assert_close(par.state.v, ref.state.v)
    (gr,) = torch.autograd.grad(ref.out.sum(), x)
    (gp,) = torch.autograd.grad(par.out.sum(), x)
    assert torch.equal(gr, gp)


def test_module_records_counts_v0_and_is_found_by_dt_schedule():
    n = PrefixQuantizingNeuron("relu", dt=0.5, initial_state="zeros")
    x = torch.full((4, 1, 1), 1.0)
    assert n(x).flatten().tolist() == [0.0, 2.0, 0.0, 2.0]
    assert n.last_counts.flatten().tolist() == [0, 1, 0, 1]
    assert n(x, v0=torch.full((1, 1), 0.6)).flatten().tolist() == [2.0, 0.0, 2.0, 0.0]
    assert quantizing_neurons(torch.nn.Sequential(n)) == [n]  # what DtSchedule anneals
    n.set_dt(2.0)
    assert n(x).flatten().tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        PrefixQuantizingNeuron("relu", step_mode="single")
