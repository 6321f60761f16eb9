"""The fused C++ CPU backend against the ``torch`` reference (values and gradients)."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings

import pytest
import torch

from common.kernels import cpu as cpu_ext
from common.neurons.backends import available_backends, resolve_backend
from common.neurons.functional import lif_multistep_torch
from common.neurons.modules import LIF

from ._cases import RESETS, SURROGATES, assert_expanded_grads_match, assert_matches, make_inputs, run

pytestmark = pytest.mark.skipif(not cpu_ext.load(), reason=f"C++ extension unavailable: {cpu_ext.build_error()}")

from common.kernels import lif_multistep_cpu  # noqa: E402

# T = 1, odd sizes, per-channel with trailing dims, several blocks with software prefetch (rows of at
# most 1 KB), and 16600 neurons: two full 8192-neuron blocks (hardware-streamed rows) and a remainder
SHAPES = [((1, 3, 5), False), ((7, 2, 5, 3), True), ((6, 3, 257), False), ((4, 2, 3, 5, 7), True),
          ((3, 2, 8300), False)]


@pytest.mark.parametrize("reset,detach", list(itertools.product(RESETS, [False, True])))
@pytest.mark.parametrize("sur", SURROGATES, ids=lambda s: type(s).__name__)
def test_cpu_matches_reference_float64(reset, detach, sur):
    for i, (shape, per_channel) in enumerate(SHAPES):
        assert_matches(lif_multistep_cpu, shape, per_channel, reset, detach, sur, torch.float64, seed=i)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("sur", SURROGATES, ids=lambda s: type(s).__name__)
def test_cpu_matches_reference_float32(reset, sur):
    for i, (shape, per_channel) in enumerate(SHAPES):
        assert_matches(lif_multistep_cpu, shape, per_channel, reset, False, sur, torch.float32, seed=10 + i,
                       membrane=(i % 2 == 0), with_v0=(i % 2 == 1))


def test_block_layout_does_not_change_results():
    """1, 2 and 3 threads (three different block layouts) give the same bits."""
    x, v0, leak, thr = make_inputs((5, 3, 6000), False, torch.float32, 7, True)
    w = torch.randn(5, 3, 6000)
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            out = lif_multistep_cpu(x, v0, leak, thr, SURROGATES[2], "soft")
            grads = torch.autograd.grad((out.spikes * w).sum(), (x, v0, leak, thr))
            results.append((out.spikes, *grads))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


def test_long_sequence_float32():
    # T = 300 with the default surrogate: error must not accumulate along the reverse recurrence
    assert_matches(lif_multistep_cpu, (300, 2, 40), False, "soft", False, SURROGATES[0], torch.float32,
                   membrane=False)


def test_fixed_parameters_and_floats():
    x = torch.randn(5, 2, 9, dtype=torch.float64, requires_grad=True)
    a = lif_multistep_cpu(x, None, 0.9, 1.1, SURROGATES[1], "hard")
    b = lif_multistep_torch(x, None, 0.9, 1.1, SURROGATES[1], "hard")
    assert torch.equal(a.spikes, b.spikes) and a.membrane is None
    ga, = torch.autograd.grad(a.spikes.sum(), x)  # grad of .sum(): the stride-0 fast path
    gb, = torch.autograd.grad(b.spikes.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12)


def test_retain_graph_second_backward_recomputes():
    x, v0, leak, thr = make_inputs((6, 3, 11), False, torch.float64, 3, True)
    out = lif_multistep_cpu(x, v0, leak, thr, SURROGATES[3], "soft")
    loss = (out.spikes * torch.linspace(-1, 1, out.spikes.numel(), dtype=torch.float64).view_as(out.spikes)).sum()
    g1 = torch.autograd.grad(loss, (x, leak, thr), retain_graph=True)
    g2 = torch.autograd.grad(loss, (x, leak, thr))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_non_contiguous_and_half_input():
    x = torch.randn(3, 8, 6, dtype=torch.float64).transpose(1, 2).requires_grad_()  # [T, 6, 8], strided
    a, _ = run(lif_multistep_cpu, x, None, 0.8, 1.0, SURROGATES[0], "soft", False, True)
    b, _ = run(lif_multistep_torch, x, None, 0.8, 1.0, SURROGATES[0], "soft", False, True)
    assert torch.equal(a.spikes, b.spikes)
    xb = torch.randn(4, 2, 5).to(torch.bfloat16)
    out = lif_multistep_cpu(xb, None, 0.5, 0.5)
    assert out.spikes.dtype == torch.bfloat16 and out.spikes.shape == xb.shape


def test_registry_and_module():
    assert "cpu" in available_backends("cpu")
    assert resolve_backend("auto", torch.device("cpu")) is lif_multistep_cpu
    assert resolve_backend("cpu", torch.device("cpu")) is lif_multistep_cpu
    torch.manual_seed(0)
    x = torch.randn(8, 4, 6, requires_grad=True)
    m_k = LIF(0.7, 0.9, learn_leak=True, learn_threshold=True, num_channels=6, backend="cpu", surrogate="atan")
    m_r = LIF(0.7, 0.9, learn_leak=True, learn_threshold=True, num_channels=6, backend="torch", surrogate="atan")
    w = torch.randn(8, 4, 6)
    (m_k(x) * w).sum().backward()
    gx_k, x.grad = x.grad, None
    (m_r(x) * w).sum().backward()
    torch.testing.assert_close(gx_k, x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m_k.leak.grad, m_r.leak.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m_k.threshold.grad, m_r.threshold.grad, rtol=1e-4, atol=1e-5)


def test_a_broken_kernel_is_caught():
    """The comparison must be able to fail: a wrong surrogate scale is detected."""
    from common.surrogate import Triangle

    def wrong(x, v0, leak, thr, sur, reset, detach, membrane):
        return lif_multistep_cpu(x, v0, leak, thr, Triangle(sur.alpha * 1.01), reset, detach, membrane)

    with pytest.raises(AssertionError):
        assert_matches(wrong, (5, 2, 7), False, "soft", False, SURROGATES[0], torch.float64)


def test_build_failure_falls_back_with_one_warning():
    code = (
        "import warnings, torch\n"
        "warnings.simplefilter('always')\n"
        "from common.neurons.backends import resolve_backend\n"
        "from common.neurons.functional import lif_multistep_torch\n"
        "from common.neurons.modules import LIF\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    fns = [resolve_backend('auto', torch.device('cpu')) for _ in range(3)]\n"
        "    LIF(backend='auto')(torch.randn(3, 2, 4))\n"
        "assert all(f is lif_multistep_torch for f in fns), fns\n"
        "msgs = [str(x.message) for x in w if 'fused CPU neuron kernels' in str(x.message)]\n"
        "assert len(msgs) == 1, msgs\n"
        "print('ok')\n"
    )
    env = dict(os.environ, SNN_REPRO_DISABLE_CPU_EXT="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_baseline_isa_kernels_match():
    """The portable (non-AVX2) copy of the kernels, forced by SNN_REPRO_CPU_NO_AVX2, is also exact."""
    code = (
        "import torch\n"
        "from common.kernels import lif_multistep_cpu\n"
        "from tests.kernels._cases import SURROGATES, assert_matches\n"
        "for i, sur in enumerate(SURROGATES):\n"
        "    for reset in ('soft', 'hard'):\n"
        "        assert_matches(lif_multistep_cpu, (6, 2, 3, 37), True, reset, i % 2 == 1, sur, torch.float64, seed=i)\n"
        "        assert_matches(lif_multistep_cpu, (5, 3, 301), False, reset, False, sur, torch.float32, seed=i)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, SNN_REPRO_CPU_NO_AVX2="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_cpu_expanded_upstream_grads():
    assert_expanded_grads_match(lif_multistep_cpu)


def test_float_parameters_first_seen_in_inference_mode_still_train():
    """Float leak/threshold become cached constant tensors: one first made under inference_mode (as in
    Lightning's validation) must still be usable by a later training step."""
    x = torch.randn(5, 2, 7)
    with torch.inference_mode():
        lif_multistep_cpu(x, None, 0.8125, 1.0625, SURROGATES[0], "soft", False, False)
    xg = x.clone().requires_grad_()
    out = lif_multistep_cpu(xg, None, 0.8125, 1.0625, SURROGATES[0], "soft", False, False)
    out.spikes.sum().backward()
    ref = lif_multistep_torch(x.clone().requires_grad_(), None, 0.8125, 1.0625, SURROGATES[0], "soft", False, False)
    assert torch.equal(out.spikes, ref.spikes) and xg.grad is not None


def test_raw_op_rejects_mismatched_operands():
    """The kernels read raw pointers: a wrong dtype or size must be an error, never a silent misread."""
    T, N = 4, 10
    x = torch.randn(T, N)
    leak, thr = torch.full((1,), 0.9), torch.ones(1)
    spikes, h, vlast = torch.empty(T, N), torch.empty(T, N), torch.empty(N)
    op = torch.ops.snn_repro_cpu.lif_fwd
    op(x, None, leak, thr, 1, True, spikes, h, vlast)  # well-formed call
    with pytest.raises(RuntimeError, match="leak must be Float"):
        op(x, None, leak.double(), thr, 1, True, spikes, h, vlast)
    with pytest.raises(RuntimeError, match="v0 must have 10 elements"):
        op(x, torch.zeros(N + 1), leak, thr, 1, True, spikes, h, vlast)
    with pytest.raises(RuntimeError, match="h must have 40 elements"):
        op(x, None, leak, thr, 1, True, spikes, torch.empty(T - 1, N), vlast)
    bwd = torch.ops.snn_repro_cpu.lif_bwd
    with pytest.raises(RuntimeError, match="grad_spikes must be Float"):
        bwd(torch.ones(T, N, dtype=torch.float64), 0.0, None, None, h, None, leak, thr, 1, 0, 1.0, True, False,
            torch.empty(T, N), None, None, None)
    with pytest.raises(RuntimeError, match="out must have"):
        torch.ops.snn_repro_cpu.two_exp_filter(x, 0.5, 0.5, False, 1.0, torch.empty(T, N - 1), None)
