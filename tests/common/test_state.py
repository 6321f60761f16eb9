"""Carried state in the multi-step modules: detach for truncated BPTT, shape errors, masks; nested time."""
import pytest
import torch
from torch import nn

from common.layers import TimeDistributed
from common.neurons import (
    LIF,
    Integrator,
    LIFCell,
    detach_states,
    fold_steps,
    lif_step,
    repeat_steps,
    reset_states,
    run_nested,
    run_nested_cell,
)


# ---------------------------------------------------------------- detach / truncated BPTT
def _stateful_net():
    torch.manual_seed(0)
    return nn.Sequential(TimeDistributed(nn.Linear(3, 5)), LIF(0.9, 0.5, stateful=True, learn_threshold=True))


def test_second_batch_backward_fails_without_detach_and_trains_with_it():
    x = torch.rand(6, 2, 3)
    net = _stateful_net()
    net(x[:3]).sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        net(x[3:]).sum().backward()

    net = _stateful_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    outs = []
    for chunk in x.split(3):
        opt.zero_grad()
        out = net(chunk)
        out.sum().backward()
        opt.step()
        detach_states(net)
        outs.append(out)
        assert not net[1].v.requires_grad
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))

    # detaching keeps the value: two chunks with detach == one pass over the whole sequence (forward)
    net = _stateful_net()
    with torch.no_grad():
        whole = net(x)
        reset_states(net)
        first = net(x[:3])
        detach_states(net)
        second = net(x[3:])
    torch.testing.assert_close(torch.cat([first, second]), whole)


# ---------------------------------------------------------------- shape mismatch
@pytest.mark.parametrize("make,shape_a,shape_b", [
    (lambda: LIF(stateful=True), (4, 2, 3), (4, 5, 3)),
    (lambda: LIF(step_mode="single"), (2, 3), (5, 3)),
    (lambda: Integrator(step_mode="single"), (2, 3), (2, 4)),
])
def test_carried_state_shape_mismatch_raises_and_reset_recovers(make, shape_a, shape_b):
    m = make()
    m(torch.rand(*shape_a))
    with pytest.raises(ValueError, match="carried state has shape .* reset_state"):
        m(torch.rand(*shape_b))
    m.reset_state()
    m(torch.rand(*shape_b))  # from rest again


# ---------------------------------------------------------------- masks
def _padded(seqs):
    L = max(s.shape[0] for s in seqs)
    x = torch.full((L, len(seqs)) + seqs[0].shape[1:], 7.0, dtype=seqs[0].dtype)  # padding that would fire
    mask = torch.zeros(L, len(seqs), dtype=torch.bool)
    for b, s in enumerate(seqs):
        x[: s.shape[0], b] = s
        mask[: s.shape[0], b] = True
    return x, mask


@pytest.mark.parametrize("stateful", [False, True])  # False: fused kernel + zeroed padding; True: masked loop
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_right_padding_leaves_state_and_output_untouched(stateful, reset):
    torch.manual_seed(3)
    seqs = [torch.rand(n, 4, dtype=torch.float64) * 1.5 for n in (5, 2, 4)]
    x, mask = _padded(seqs)
    x.requires_grad_()
    neuron = LIF(0.8, 0.7, reset=reset, stateful=stateful, learn_threshold=True).double()
    out = neuron(x, mask=mask)
    assert out[~mask].abs().sum() == 0  # padded steps: no spikes although the padding value is 7
    (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
    for b, s in enumerate(seqs):
        one = LIF(0.8, 0.7, reset=reset, stateful=True, learn_threshold=True).double()
        s = s.clone().requires_grad_()
        ref = one(s[:, None])[:, 0]
        torch.testing.assert_close(out[: len(s), b], ref)
        assert ref.sum() > 0
        (ref * torch.arange(out.numel()).reshape(out.shape)[: len(s), b]).sum().backward()
        torch.testing.assert_close(x.grad[: len(s), b], s.grad)  # the padding adds no gradient to real steps
        if stateful:
            torch.testing.assert_close(neuron.v[b], one.v[0])  # the state after each sequence's own end
    assert x.grad[~mask].abs().sum() == 0


def test_mask_with_gaps_equals_running_only_the_real_steps():
    torch.manual_seed(4)
    x = torch.rand(6, 2, 3, dtype=torch.float64) * 1.5
    mask = torch.tensor([[0, 1], [1, 1], [0, 0], [1, 1], [1, 0], [0, 1]], dtype=torch.bool)  # left pad, gaps
    neuron = LIF(0.9, 0.8, stateful=True).double()
    out = neuron(x, mask=mask)
    assert out[~mask].abs().sum() == 0
    for b in range(2):
        one = LIF(0.9, 0.8, stateful=True).double()
        ref = one(x[mask[:, b], b][:, None])[:, 0]
        torch.testing.assert_close(out[mask[:, b], b], ref)
        torch.testing.assert_close(neuron.v[b], one.v[0])


def test_single_step_mask_and_integrator_readouts():
    lif = LIF(1.0, 1.0, step_mode="single")
    lif(torch.full((2, 1), 0.6))
    s = lif(torch.full((2, 1), 0.6), mask=torch.tensor([True, False]))
    assert s.flatten().tolist() == [1.0, 0.0]
    torch.testing.assert_close(lif.v.flatten(), torch.tensor([0.2, 0.6]))

    x = torch.tensor([[1.0, 1.0], [2.0, 5.0], [3.0, 9.0]]).unsqueeze(-1)  # [T=3, B=2, 1]
    mask = torch.tensor([[1, 1], [1, 1], [1, 0]], dtype=torch.bool)
    assert Integrator(output="last")(x, mask=mask).flatten().tolist() == [6.0, 6.0]
    assert Integrator(output="sum")(x, mask=mask).flatten().tolist() == [10.0, 7.0]  # (1+3+6), (1+6)
    assert Integrator(output="mean")(x, mask=mask).flatten().tolist() == pytest.approx([10.0 / 3, 3.5])


def test_bad_mask_is_refused():
    with pytest.raises(ValueError, match="mask of shape"):
        LIF()(torch.rand(4, 2, 3), mask=torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        LIF()(torch.rand(4, 2, 3), mask=torch.ones(4, 2))


# ---------------------------------------------------------------- nested time
def _flat_loop(x, T_inner, leak, thr):
    """The plain double loop: every element, T_inner steps each, one membrane throughout."""
    v = torch.zeros_like(x[0])
    out = []
    for xl in x.unbind(0):
        for _ in range(T_inner):
            s, v, _ = lif_step(xl, v, leak, thr)
            out.append(s)
    return torch.stack(out), v


@pytest.mark.parametrize("T_inner", [1, 2, 3])
def test_nested_time_equals_flat_loop(T_inner):
    torch.manual_seed(5)
    x = torch.rand(4, 3, 5, dtype=torch.float64) * 0.8  # [L, B, F]
    flat, v = _flat_loop(x, T_inner, 0.9, 0.7)
    assert flat.sum() > 0
    per_elem = flat.reshape(4, T_inner, 3, 5)

    neuron = LIF(0.9, 0.7, stateful=True).double()
    torch.testing.assert_close(run_nested(neuron, x, T_inner, reduce="sum"), per_elem.sum(1))
    torch.testing.assert_close(neuron.v, v)  # state carried across elements
    out, state = run_nested_cell(LIFCell(0.9, 0.7).double(), x, T_inner, reduce="none")
    torch.testing.assert_close(out, per_elem)
    torch.testing.assert_close(state.v, v)
    out, _ = run_nested_cell(LIFCell(0.9, 0.7).double(), x, T_inner, reduce="last")
    torch.testing.assert_close(out, per_elem[:, -1])
    torch.testing.assert_close(fold_steps(flat, T_inner, "mean"), per_elem.mean(1))


def test_nested_cell_chunks_and_masks():
    torch.manual_seed(6)
    x = torch.rand(5, 2, 3, dtype=torch.float64)
    cell = LIFCell(0.9, 0.6).double()
    whole, st = run_nested_cell(cell, x, 2)
    a, st_a = run_nested_cell(cell, x[:2], 2)
    b, st_b = run_nested_cell(cell, x[2:], 2, state=st_a)  # state passed on between chunks
    torch.testing.assert_close(torch.cat([a, b]), whole)
    torch.testing.assert_close(st_b.v, st.v)

    mask = torch.tensor([[1, 1], [1, 1], [1, 0], [1, 0], [1, 0]], dtype=torch.bool)
    out, st_m = run_nested_cell(cell, x, 2, mask=mask)
    assert out[~mask].abs().sum() == 0
    ref, st_ref = run_nested_cell(cell, x[:2, 1:], 2)
    torch.testing.assert_close(out[:2, 1:], ref)
    torch.testing.assert_close(st_m.v[1:], st_ref.v)
    # the multi-step path with the same mask agrees
    neuron = LIF(0.9, 0.6, stateful=True).double()
    torch.testing.assert_close(run_nested(neuron, x, 2, mask=mask), out)
    torch.testing.assert_close(neuron.v, st_m.v)
    assert repeat_steps(mask, 2).shape == (10, 2)
    with pytest.raises(ValueError, match="T_inner"):
        run_nested(neuron, x, 0)
    with pytest.raises(ValueError, match="time-first"):
        run_nested(Integrator(output="last"), x, 2)
