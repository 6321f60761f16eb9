import pytest
import torch

from common.neurons import IF, LIF, BernoulliNeuron, Integrator, bernoulli_spike, lif_multistep_torch, lif_step
from common.neurons.functional import integrate_multistep
from common.surrogate import SURROGATES, get_surrogate


def seq(*values):
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1, 1)


# ---------------------------------------------------------------- values, hand-computed
def test_if_soft_reset_sequence():
    # theta=1: v: 0.6 -> 1.2 (spike, v=0.2) -> 0.8 -> 1.4 (spike, v=0.4) -> 0.4
    out = lif_multistep_torch(seq(0.6, 0.6, 0.6, 0.6, 0.0), threshold=1.0, reset="soft", return_membrane=True)
    assert out.spikes.flatten().tolist() == [0, 1, 0, 1, 0]
    torch.testing.assert_close(out.membrane.flatten(), torch.tensor([0.6, 1.2, 0.8, 1.4, 0.4], dtype=torch.float64))
    torch.testing.assert_close(out.v.flatten(), torch.tensor([0.4], dtype=torch.float64))


def test_if_hard_reset_sequence():
    # hard reset to 0: 0.6 -> 1.2 (spike, v=0) -> 0.6 -> 1.2 (spike, v=0) -> 0
    out = lif_multistep_torch(seq(0.6, 0.6, 0.6, 0.6, 0.0), threshold=1.0, reset="hard", return_membrane=True)
    assert out.spikes.flatten().tolist() == [0, 1, 0, 1, 0]
    torch.testing.assert_close(out.membrane.flatten(), torch.tensor([0.6, 1.2, 0.6, 1.2, 0.0], dtype=torch.float64))


def test_lif_leak_and_threshold_sequence():
    # leak 0.5, theta 0.8: h = 0.5 v + x; x = 0.5 each step
    # h1=0.5; h2=0.75; h3=0.875 spike -> v=0.075; h4=0.5375; h5=0.76875
    out = lif_multistep_torch(seq(0.5, 0.5, 0.5, 0.5, 0.5), leak=0.5, threshold=0.8, reset="soft", return_membrane=True)
    assert out.spikes.flatten().tolist() == [0, 0, 1, 0, 0]
    torch.testing.assert_close(out.membrane.flatten(),
                               torch.tensor([0.5, 0.75, 0.875, 0.5375, 0.76875], dtype=torch.float64))


def test_per_channel_parameters_apply_along_channel_dim():
    x = torch.full((3, 2, 2, 4), 0.6, dtype=torch.float64)  # [T, B, C, L]
    out = lif_multistep_torch(x, threshold=torch.tensor([1.0, 0.5], dtype=torch.float64))
    # channel 0 (theta 1): 0,1,0 ; channel 1 (theta 0.5): 0.6 spike ->0.1, 0.7 spike ->0.2, 0.8 spike
    assert out.spikes[:, 0, 0, 0].tolist() == [0, 1, 0]
    assert out.spikes[:, 0, 1, 0].tolist() == [1, 1, 1]


def test_integrator_readouts():
    x = seq(1.0, 2.0, 3.0)
    torch.testing.assert_close(integrate_multistep(x).flatten(), torch.tensor([1.0, 3.0, 6.0], dtype=torch.float64))
    assert Integrator(output="last")(x).item() == 6.0
    assert Integrator(output="mean")(x).item() == pytest.approx(10 / 3)
    assert Integrator(leak=0.5, output="last")(x).item() == pytest.approx(0.25 * 1 + 0.5 * 2 + 3)


def test_single_step_matches_multi_step_and_keeps_state():
    torch.manual_seed(0)
    x = torch.rand(7, 3, 5, dtype=torch.float64)
    multi = LIF(leak=0.9, threshold=0.7, reset="hard")(x)
    single = LIF(leak=0.9, threshold=0.7, reset="hard", step_mode="single")
    steps = torch.stack([single(xt) for xt in x.unbind(0)])
    torch.testing.assert_close(multi, steps)
    single.reset_state()
    assert single.v is None


# ---------------------------------------------------------------- gradients
def _float64_fd_check(surrogate_name, reset, detach_reset):
    """Autograd of the unrolled step functions vs. a hand-written BPTT with the surrogate formula."""
    torch.manual_seed(1)
    sur = get_surrogate(surrogate_name)
    T, B, N = 6, 2, 3
    x = (torch.rand(T, B, N, dtype=torch.float64) * 1.2).requires_grad_(True)
    leak = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    thr = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(T, B, N, dtype=torch.float64)
    out = lif_multistep_torch(x, None, leak, thr, sur, reset, detach_reset)
    (out.spikes * w).sum().backward()

    # manual BPTT
    with torch.no_grad():
        hs, vs, ss, v = [], [], [], torch.zeros(B, N, dtype=torch.float64)
        for t in range(T):
            h = 0.8 * v + x[t]
            s = (h / 0.9 - 1 >= 0).double()
            vs.append(v)
            hs.append(h)
            ss.append(s)
            v = h - 0.9 * s if reset == "soft" else h * (1 - s)
        gx = torch.zeros_like(x)
        gl = torch.zeros((), dtype=torch.float64)
        gt = torch.zeros((), dtype=torch.float64)
        gv = torch.zeros(B, N, dtype=torch.float64)  # dL/dv[t]
        for t in reversed(range(T)):
            h, s = hs[t], ss[t]
            sg = sur.derivative(h / 0.9 - 1)
            # v[t] = h - thr*s (soft) or h*(1-s) (hard); s = S(h/thr - 1)
            gs = w[t] + gv * ((-0.9 if reset == "soft" else -h) if not detach_reset else 0.0)
            dv_dh_direct = 1.0 if reset == "soft" else (1 - s)
            gh = gv * dv_dh_direct + gs * sg / 0.9
            gt += (gs * sg * (-h / 0.9**2)).sum()
            if reset == "soft":
                gt += (gv * (-s)).sum()
            gx[t] = gh
            gl += (gh * vs[t]).sum()
            gv = gh * 0.8
    torch.testing.assert_close(x.grad, gx)
    torch.testing.assert_close(leak.grad, gl)
    torch.testing.assert_close(thr.grad, gt)


@pytest.mark.parametrize("surrogate_name", ["triangle", "fast_sigmoid", "sigmoid", "atan", "straight_through"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_gradients_match_manual_bptt(surrogate_name, reset, detach_reset):
    _float64_fd_check(surrogate_name, reset, detach_reset)


def test_gradient_wrt_input_matches_finite_differences_with_smooth_surrogate_limit():
    # Replace the step by the smooth sigmoid whose derivative the surrogate is: finite differences of the
    # smooth network equal autograd of the surrogate network where no spike flips (tiny eps).
    torch.manual_seed(3)
    x = torch.rand(4, 1, 3, dtype=torch.float64)
    sur = get_surrogate("sigmoid", 4.0)

    def smooth(xx):
        v, out = torch.zeros(1, 3, dtype=torch.float64), []
        for xt in xx.unbind(0):
            h = 0.9 * v + xt
            s = torch.sigmoid(4.0 * (h - 1.0))
            out.append(s)
            v = h - s  # soft reset with the smooth spike
        return torch.stack(out).sum()

    xg = x.clone().requires_grad_(True)
    smooth(xg).backward()
    eps = 1e-6
    fd = torch.zeros_like(x)
    for i in range(x.numel()):
        d = torch.zeros(x.numel(), dtype=torch.float64)
        d[i] = eps
        d = d.view_as(x)
        fd.view(-1)[i] = (smooth(x + d) - smooth(x - d)) / (2 * eps)
    torch.testing.assert_close(xg.grad, fd, rtol=1e-5, atol=1e-8)
    # and the surrogate path produces the same derivative formula at the same points
    z = torch.linspace(-1, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(sur.derivative(z), 4 * torch.sigmoid(4 * z) * (1 - torch.sigmoid(4 * z)))


def test_per_channel_trainable_grads_reduce_to_channel_shape():
    n = LIF(leak=0.9, threshold=0.5, learn_leak=True, learn_threshold=True, num_channels=4, backend="torch")
    x = torch.rand(5, 2, 4, 3, 3, requires_grad=True)
    n(x).sum().backward()
    assert n.leak.grad.shape == (4,) and n.threshold.grad.shape == (4,)
    assert n.threshold.grad.abs().sum() > 0


# ---------------------------------------------------------------- clamping and validation
def test_constrain_clamps_leak_and_threshold():
    n = LIF(leak=0.9, threshold=1.0, learn_leak=True, learn_threshold=True, leak_clamp=(None, 1.0),
            threshold_clamp=(0.05, None))
    with torch.no_grad():
        n.leak.fill_(1.3)
        n.threshold.fill_(-2.0)
    n.constrain_()
    assert n.leak.item() == 1.0 and n.threshold.item() == pytest.approx(0.05)
    with torch.no_grad():
        n.leak.fill_(-0.5)
    n.constrain_()
    assert n.leak.item() == -0.5  # DIET-SNN clamps from above only


@pytest.mark.parametrize("kwargs,field", [
    ({"threshold": -1.0}, "threshold"),
    ({"threshold": 0.0}, "threshold"),
    ({"leak": 1.5}, "leak"),
    ({"leak": -0.1}, "leak"),
    ({"reset": "zero"}, "reset"),
    ({"backend": "cuda"}, "backend"),
    ({"step_mode": "both"}, "step_mode"),
    ({"surrogate": "nope"}, "surrogate"),
])
def test_bad_neuron_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LIF(**kwargs)


def test_if_refuses_leak_learning():
    with pytest.raises(ValueError, match="leak"):
        IF(learn_leak=True)


# ---------------------------------------------------------------- stochastic
def test_bernoulli_spike_seeded_and_straight_through():
    p = torch.full((1000,), 0.3, requires_grad=True)
    a = bernoulli_spike(p, torch.Generator().manual_seed(5))
    b = bernoulli_spike(p, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert abs(a.mean().item() - 0.3) < 0.06
    a.sum().backward()
    assert torch.all(p.grad == 1.0)
    p2 = torch.tensor([0.2, 0.7], requires_grad=True)
    bernoulli_spike(p2, torch.Generator().manual_seed(0), grad="p").sum().backward()
    torch.testing.assert_close(p2.grad, torch.tensor([0.2, 0.7]))


def test_bernoulli_neuron_logits():
    n = BernoulliNeuron(logits=True, generator=torch.Generator().manual_seed(0))
    s = n(torch.full((2000,), 100.0))
    assert s.mean().item() == 1.0


def test_loop_uses_unbind_not_indexing():
    # backward cost must stay linear in T: the reference loop iterates unbind (one UnbindBackward node)
    x = torch.rand(50, 2, 3, requires_grad=True)
    out = lif_multistep_torch(x).spikes.sum()
    names, stack, seen = [], [out.grad_fn], set()
    while stack:
        f = stack.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        names.append(type(f).__name__)
        stack.extend(nf for nf, _ in f.next_functions)
    assert names.count("UnbindBackward0") == 1
    assert "SelectBackward0" not in names
