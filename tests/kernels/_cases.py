"""Shared comparison helpers for the kernel tests (fused backend vs the ``torch`` reference)."""
from __future__ import annotations

import torch

from common.neurons.functional import lif_multistep_torch
from common.surrogate import ATan, FastSigmoid, Sigmoid, StraightThrough, Triangle

SURROGATES = [Triangle(), FastSigmoid(2.0), Sigmoid(4.0), ATan(2.0), StraightThrough(1.0)]
RESETS = ["soft", "hard"]


def make_inputs(shape, per_channel: bool, dtype, seed: int, with_v0: bool, learn: bool = True, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=dtype) * 0.7 + 0.35).to(device).requires_grad_()
    C = shape[2] if per_channel else None
    pshape = (C,) if per_channel else ()
    leak = (torch.rand(pshape, generator=g, dtype=dtype) * 0.5 + 0.5).to(device).requires_grad_(learn)
    thr = (torch.rand(pshape, generator=g, dtype=dtype) * 0.6 + 0.7).to(device).requires_grad_(learn)
    v0 = (torch.randn(shape[1:], generator=g, dtype=dtype) * 0.3).to(device).requires_grad_() if with_v0 else None
    return x, v0, leak, thr


def run(fn, x, v0, leak, thr, sur, reset, detach, membrane, seed: int = 1):
    out = fn(x, v0, leak, thr, sur, reset, detach, membrane)
    g = torch.Generator().manual_seed(seed)

    def rand(shape):
        return torch.randn(shape, generator=g, dtype=x.dtype).to(x.device)

    loss = (out.spikes * rand(out.spikes.shape)).sum() + 0.5 * (out.v * rand(out.v.shape)).sum()
    if membrane:
        loss = loss + 0.1 * (out.membrane * rand(out.membrane.shape)).sum()
    named = [(n, t) for n, t in zip(("x", "v0", "leak", "thr"), (x, v0, leak, thr))
             if torch.is_tensor(t) and t.requires_grad]
    grads = torch.autograd.grad(loss, [t for _, t in named])
    return out, {n: g for (n, _), g in zip(named, grads)}


def assert_matches(fn, shape, per_channel, reset, detach, sur, dtype, membrane=True, with_v0=True, seed=0,
                   device="cpu"):
    """Forward (spikes, v, membrane) and gradients (x, v0, leak, threshold) of ``fn`` vs the reference.

    The reference runs on the same tensors (same dtype and device); float32 kernels get rtol 1e-4 (their
    loops add per-step terms in a different order than autograd), float64 ones 1e-9. The forward uses exactly the
    reference's float operations (no FMA), so spikes are compared bit for bit on float32 inputs too.
    """
    x, v0, leak, thr = make_inputs(shape, per_channel, dtype, seed, with_v0, device=device)
    out_k, g_k = run(fn, x, v0, leak, thr, sur, reset, detach, membrane)
    out_r, g_r = run(lif_multistep_torch, x, v0, leak, thr, sur, reset, detach, membrane)
    assert torch.equal(out_k.spikes, out_r.spikes), "spikes differ"
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out_k.v, out_r.v, **tol)
    if membrane:
        torch.testing.assert_close(out_k.membrane, out_r.membrane, **tol)
    else:
        assert out_k.membrane is None
    assert g_k.keys() == g_r.keys()
    for name in g_r:
        ref = g_r[name]
        scale = max(1.0, float(ref.abs().max()))  # reductions over B*N*T terms: tolerance relative to magnitude
        torch.testing.assert_close(g_k[name], ref, rtol=tol["rtol"], atol=tol["atol"] * scale * 10,
                                   msg=lambda m, n=name: f"grad {n}: {m}")
        assert g_k[name].shape == ref.shape


def assert_expanded_grads_match(fn, device="cpu", dtype=torch.float64):
    """Stride-0 (expanded) upstream gradients, as ``out.sum()`` produces, give the same input gradients as
    the same values materialised (a kernel that indexes such a gradient as dense reads past its storage)."""
    x, v0, leak, thr = make_inputs((6, 3, 4), False, dtype, 5, True, device=device)
    out = fn(x, v0, leak, thr, Triangle(), "soft", False, True)
    outs = (out.spikes, out.v, out.membrane)
    wrt = (x, v0, leak, thr)
    one = torch.ones((), dtype=x.dtype, device=device)
    expanded = torch.autograd.grad(outs, wrt, [(2 * one).expand_as(o) for o in outs], retain_graph=True)
    dense = torch.autograd.grad(outs, wrt, [torch.full_like(o, 2.0) for o in outs])
    for a, b in zip(expanded, dense):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
