"""Triton kernels vs the torch reference: on CPU tensors under TRITON_INTERPRET=1, else on CUDA.

Not collected directly: ``test_triton_interpret.py`` runs this file in a subprocess with the
interpreter on (it must be set before the kernels are defined), and ``test_triton_cuda.py`` imports
these tests on a machine with a GPU (skipped elsewhere).
"""
from __future__ import annotations

import itertools
import os

import pytest
import torch

DEVICE = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"

from common.kernels import lif_multistep_triton, triton_available  # noqa: E402
from common.kernels import triton_lif  # noqa: E402
from common.kernels.filter import two_exp_filter, two_exp_filter_fire, two_exp_filter_torch  # noqa: E402
from common.neurons.backends import resolve_backend  # noqa: E402
from common.neurons.modules import LIF  # noqa: E402

from tests.kernels._cases import RESETS, SURROGATES, assert_expanded_grads_match, assert_matches  # noqa: E402

pytestmark = pytest.mark.skipif(not triton_available(DEVICE), reason=f"triton kernels unavailable on {DEVICE}")

# T = 1; odd per-channel sizes; 300 neurons = several program blocks with a partial last one; T > 9
# runs the 8-step prefetch window through its steady state
SHAPES = [((1, 3, 5), False), ((5, 2, 3, 3), True), ((4, 1, 300), False), ((13, 2, 5), False)]
if DEVICE == "cuda":
    SHAPES += [((23, 3, 7, 5), True), ((40, 2, 700), False), ((9, 4, 33000), False)]


@pytest.fixture(params=[True, False], ids=["prefetch", "plain"])
def prefetch(request, monkeypatch):
    """Run each case with and without the 8-step prefetch window (same results either way)."""
    default = triton_lif.config
    monkeypatch.setattr(triton_lif, "config", lambda T, N: default(T, N)._replace(prefetch=request.param))
    return request.param


@pytest.mark.parametrize("reset,detach", list(itertools.product(RESETS, [False, True])))
@pytest.mark.parametrize("sur", SURROGATES, ids=lambda s: type(s).__name__)
def test_triton_matches_reference(reset, detach, sur, prefetch):
    for i, (shape, per_channel) in enumerate(SHAPES):
        assert_matches(lif_multistep_triton, shape, per_channel, reset, detach, sur, torch.float32, seed=i,
                       membrane=(i % 3 != 1), with_v0=(i % 3 != 2), device=DEVICE)


def test_triton_expanded_upstream_grads():
    assert_expanded_grads_match(lif_multistep_triton, DEVICE, torch.float32)


def test_triton_backend_resolves_and_module_runs():
    assert resolve_backend("triton", torch.device(DEVICE)) is lif_multistep_triton
    if DEVICE == "cuda":
        assert resolve_backend("auto", torch.device(DEVICE)) is lif_multistep_triton
    m = LIF(0.9, 1.0, backend="triton", learn_threshold=True).to(DEVICE)
    x = torch.randn(3, 2, 7, device=DEVICE, requires_grad=True)
    m(x).sum().backward()
    assert x.grad is not None and m.threshold.grad is not None


@pytest.mark.parametrize("shape", [(1, 2, 3), (9, 3, 130)])
def test_triton_filter(shape):
    x = torch.randn(shape).to(DEVICE).requires_grad_()
    g = torch.randn(shape).to(DEVICE)
    u = two_exp_filter(x, 0.9, 0.8, backend="triton")
    r = two_exp_filter_torch(x, 0.9, 0.8)
    torch.testing.assert_close(u, r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.autograd.grad(u, x, g)[0], torch.autograd.grad(r, x, g)[0], rtol=1e-5, atol=1e-6)
    s, _ = two_exp_filter_fire(x.detach(), 0.9, 0.8, "threshold", threshold=0.3, backend="triton")
    assert torch.equal(s, (r.detach() / 0.3 - 1 >= 0).float())


def test_triton_custom_op_compiles_without_graph_breaks():
    m = LIF(0.8, 1.0, backend="triton", learn_leak=True).to(DEVICE)
    x = torch.randn(4, 2, 6).to(DEVICE).requires_grad_()
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


@pytest.mark.skipif(DEVICE != "cuda", reason="inductor code generation needs the GPU")
def test_inductor_compiles_network_with_triton_ops():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 64), LIF(0.9, 1.0, backend="triton", learn_threshold=True),
                              torch.nn.Linear(64, 5)).to(DEVICE)
    x = torch.randn(16, 3, 12, device=DEVICE) * 2
    ref = net(x)
    ref.square().sum().backward()
    g_ref = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch._dynamo.reset()
    out = torch.compile(net, fullgraph=True)(x)
    out.square().sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip((p.grad for p in net.parameters()), g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
