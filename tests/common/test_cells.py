"""Explicit-state cells: a cell looped over T equals the multi-step module (values and gradients)."""
import pytest
import torch

from common.neurons import IF, LIF, IFCell, LIFCell, LIFState, constrain_parameters, detach_state


def _copy_params(src, dst):
    with torch.no_grad():
        for name in ("leak", "threshold"):
            getattr(dst, name).copy_(getattr(src, name))


def _loop(cell, x):
    state, outs = None, []
    for xt in x.unbind(0):
        s, state = cell(xt, state)
        outs.append(s)
    return torch.stack(outs), state


def _grads(module, x, out, v, w):
    loss = (out * w).sum() + 0.5 * v.sum()
    params = [p for p in (module.leak, module.threshold) if isinstance(p, torch.nn.Parameter)]
    return torch.autograd.grad(loss, [x] + params)


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("reset,detach_reset", [("soft", False), ("hard", False), ("soft", True)])
@pytest.mark.parametrize("surrogate", ["triangle", "atan", "fast_sigmoid"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_lif_cell_loop_equals_multistep_module(backend, reset, detach_reset, surrogate, per_channel):
    torch.manual_seed(0)
    T, B, C, L = 7, 3, 4, 2
    kw = dict(reset=reset, detach_reset=detach_reset, surrogate=surrogate, learn_leak=True, learn_threshold=True,
              num_channels=C if per_channel else None)
    module = LIF(0.8, 0.9, stateful=True, backend=backend, **kw).double()
    cell = LIFCell(0.8, 0.9, **kw).double()
    with torch.no_grad():  # distinct per-channel values, so a channel mix-up shows
        if per_channel:
            module.leak.copy_(torch.linspace(0.5, 0.95, C))
            module.threshold.copy_(torch.linspace(0.6, 1.2, C))
    _copy_params(module, cell)
    x = (torch.rand(T, B, C, L, dtype=torch.float64) * 1.2).requires_grad_()
    w = torch.randn(T, B, C, L, dtype=torch.float64)

    ref = module(x)
    got, state = _loop(cell, x)
    assert isinstance(state, LIFState)
    assert ref.sum() > 0 and (ref == 0).any()  # spikes and silences: the comparison means something
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(state.v, module.v)

    g_ref = _grads(module, x, ref, module.v, w)
    g_got = _grads(cell, x, got, state.v, w)
    assert len(g_got) == 3 and all(g.abs().sum() > 0 for g in g_got)
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b)


def test_if_cell_equals_if_module_and_refuses_leak_learning():
    torch.manual_seed(1)
    x = torch.rand(6, 2, 5, dtype=torch.float64)
    ref = IF(0.7, reset="hard", surrogate="sigmoid").double()(x)
    got, _ = _loop(IFCell(0.7, reset="hard", surrogate="sigmoid").double(), x)
    torch.testing.assert_close(got, ref)
    with pytest.raises(ValueError, match="leak"):
        IFCell(learn_leak=True)


def test_cell_state_starts_from_rest_and_is_carried():
    cell = LIFCell(1.0, 1.0)
    x = torch.full((1, 1), 0.6)
    s1, st = cell(x)
    s2, st = cell(x, st)
    assert (s1.item(), s2.item()) == (0.0, 1.0)
    torch.testing.assert_close(st.v, torch.tensor([[0.2]]))
    assert cell.v is None  # nothing kept on the module


def test_cell_shape_mismatch_raises():
    cell = LIFCell()
    _, st = cell(torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"state.v has shape \(4, 3\).*\(2, 3\)"):
        cell(torch.rand(2, 3), st)


def test_cell_mask_keeps_state_and_silences_padded_samples():
    cell = LIFCell(0.9, 0.5)
    v = torch.tensor([[0.4], [0.4]])
    s, st = cell(torch.tensor([[0.3], [0.3]]), LIFState(v), mask=torch.tensor([True, False]))
    assert s.flatten().tolist() == [1.0, 0.0]
    assert st.v[1].item() == pytest.approx(0.4)  # padded sample: unchanged
    assert st.v[0].item() == pytest.approx(0.9 * 0.4 + 0.3 - 0.5)


def test_detach_state_cuts_graph_for_truncated_bptt():
    torch.manual_seed(2)
    cell = LIFCell(0.9, 0.8, learn_threshold=True)
    opt = torch.optim.SGD(cell.parameters(), lr=0.01)
    x = torch.rand(8, 4, 3)
    state = None
    for chunk in x.split(4):  # two chunks of one sequence
        out, state = _loop_from(cell, chunk, state)
        opt.zero_grad()
        out.sum().backward()  # second chunk: fails without detach_state ("backward through the graph a second time")
        opt.step()
        state = detach_state(state)
        assert not state.v.requires_grad
    nested = detach_state({"a": (LIFState(torch.ones(1, requires_grad=True) * 2), [None])})
    assert not nested["a"][0].v.requires_grad and nested["a"][1] == [None]


def _loop_from(cell, x, state):
    outs = []
    for xt in x.unbind(0):
        s, state = cell(xt, state)
        outs.append(s)
    return torch.stack(outs), state


def test_cell_parameters_clamp_and_refuse_step_mode():
    cell = LIFCell(0.5, 1.0, learn_leak=True, learn_threshold=True, leak_clamp=(0.2, 0.9))
    with torch.no_grad():
        cell.leak.fill_(1.5)
        cell.threshold.fill_(-1.0)
    constrain_parameters(torch.nn.Sequential(cell))
    assert cell.leak.item() == pytest.approx(0.9) and cell.threshold.item() == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="step_mode"):
        LIFCell(step_mode="multi")
    with pytest.raises(ValueError, match="threshold"):
        LIFCell(threshold=-1.0)
    with pytest.raises(ValueError, match="no fused kernel"):
        LIFCell(backend="cpu")
