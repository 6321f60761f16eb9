"""Fused SPSN two-exponential filter (CPU kernel) against the sequential recurrence."""
from __future__ import annotations

import pytest
import torch

from common.kernels import cpu as cpu_ext
from common.kernels.filter import two_exp_filter, two_exp_filter_fire, two_exp_filter_torch
from common.surrogate import FastSigmoid

try:  # the suite's reference (common/neurons/parallel.py), else the local loop (same recurrence)
    from common.neurons.parallel import two_exp_filter_sequential as reference
except ImportError:  # pragma: no cover
    reference = two_exp_filter_torch

pytestmark = pytest.mark.skipif(not cpu_ext.load(), reason="C++ extension unavailable")


@pytest.mark.parametrize("shape", [(1, 3, 4), (9, 2, 5, 3), (40, 3, 300)])
@pytest.mark.parametrize("ab", [(0.9, 0.8), (0.0, 0.5), (0.95123, 0.0)])
def test_filter_value_and_grad(shape, ab):
    a, b = ab
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    g = torch.randn(shape, dtype=torch.float64)
    u = two_exp_filter(x, a, b, backend="cpu")
    r = reference(x, a, b)
    torch.testing.assert_close(u, r, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(u, x, g)[0], torch.autograd.grad(r, x, g)[0],
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(two_exp_filter_torch(x, a, b), r)


def test_filter_float32_and_auto():
    x = torch.randn(50, 4, 33, requires_grad=True)
    u = two_exp_filter(x, 0.9, 0.7)  # auto -> cpu kernel
    r = reference(x.double(), 0.9, 0.7)
    torch.testing.assert_close(u.double(), r, rtol=1e-5, atol=1e-5)


def test_fused_threshold_firing_matches_surrogate_path():
    x = torch.randn(30, 2, 17, dtype=torch.float64) * 2
    s_fused, u_fused = two_exp_filter_fire(x, 0.9, 0.8, "threshold", threshold=0.5)  # no grad: fused kernel
    xg = x.clone().requires_grad_()
    s, u = two_exp_filter_fire(xg, 0.9, 0.8, "threshold", threshold=0.5, surrogate=FastSigmoid(10.0))
    assert torch.equal(s_fused, s.detach()) and s.requires_grad
    torch.testing.assert_close(u_fused, u.detach())
    assert 0 < float(s.detach().mean()) < 1
    s.sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


def test_bernoulli_firing_is_seeded():
    x = torch.randn(10, 2, 8)
    s1, _ = two_exp_filter_fire(x, 0.9, 0.8, "bernoulli", generator=torch.Generator().manual_seed(0))
    s2, _ = two_exp_filter_fire(x, 0.9, 0.8, "bernoulli", generator=torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2) and set(s1.unique().tolist()) <= {0.0, 1.0}
