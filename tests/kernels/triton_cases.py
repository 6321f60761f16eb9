"""Triton kernels vs the torch reference, run on CPU tensors under TRITON_INTERPRET=1.

Not collected directly (the interpreter must be on before the kernels are defined): run by
``test_triton_interpret.py`` in a subprocess with the variable set.
"""
from __future__ import annotations

import itertools
import os

import pytest
import torch

assert os.environ.get("TRITON_INTERPRET") == "1", "run through test_triton_interpret.py"

from common.kernels import lif_multistep_triton, triton_available  # noqa: E402
from common.kernels.filter import two_exp_filter, two_exp_filter_fire, two_exp_filter_torch  # noqa: E402
from common.neurons.backends import resolve_backend  # noqa: E402
from common.neurons.modules import LIF  # noqa: E402

from tests.kernels._cases import RESETS, SURROGATES, assert_matches  # noqa: E402

pytestmark = pytest.mark.skipif(not triton_available("cpu"), reason="triton not importable")

# T = 1; odd per-channel sizes; 300 neurons = 3 program blocks of 128 (interpreter BLOCK), partial last one
SHAPES = [((1, 3, 5), False), ((5, 2, 3, 3), True), ((4, 1, 300), False)]


@pytest.mark.parametrize("reset,detach", list(itertools.product(RESETS, [False, True])))
@pytest.mark.parametrize("sur", SURROGATES, ids=lambda s: type(s).__name__)
def test_triton_matches_reference(reset, detach, sur):
    for i, (shape, per_channel) in enumerate(SHAPES):
        assert_matches(lif_multistep_triton, shape, per_channel, reset, detach, sur, torch.float32, seed=i,
                       membrane=(i != 1), with_v0=(i != 2))


def test_triton_backend_resolves_and_module_runs():
    assert resolve_backend("triton", torch.device("cpu")) is lif_multistep_triton
    m = LIF(0.9, 1.0, backend="triton", learn_threshold=True)
    x = torch.randn(3, 2, 7, requires_grad=True)
    m(x).sum().backward()
    assert x.grad is not None and m.threshold.grad is not None


@pytest.mark.parametrize("shape", [(1, 2, 3), (9, 3, 130)])
def test_triton_filter(shape):
    x = torch.randn(shape, requires_grad=True)
    g = torch.randn(shape)
    u = two_exp_filter(x, 0.9, 0.8, backend="triton")
    r = two_exp_filter_torch(x, 0.9, 0.8)
    torch.testing.assert_close(u, r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.autograd.grad(u, x, g)[0], torch.autograd.grad(r, x, g)[0], rtol=1e-5, atol=1e-6)
    s, _ = two_exp_filter_fire(x.detach(), 0.9, 0.8, "threshold", threshold=0.3, backend="triton")
    assert torch.equal(s, (r.detach() / 0.3 - 1 >= 0).float())


def test_triton_custom_op_compiles_without_graph_breaks():
    m = LIF(0.8, 1.0, backend="triton", learn_leak=True)
    x = torch.randn(4, 2, 6, requires_grad=True)
    ref = m(x)
    ref.sum().backward()
    g_ref, x.grad = x.grad.clone(), None
    explanation = torch._dynamo.explain(m)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()
    out = torch.compile(m, fullgraph=True, backend="aot_eager")(x)
    assert torch.equal(out, ref)
    out.sum().backward()
    torch.testing.assert_close(x.grad, g_ref, rtol=1e-5, atol=1e-6)
