"""torch.compile captures the fused backends as custom ops, without graph breaks (CPU)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from common.kernels import cpu as cpu_ext
from common.kernels.filter import two_exp_filter
from common.neurons.modules import LIF

pytestmark = pytest.mark.skipif(not cpu_ext.load(), reason="C++ extension unavailable")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.lif1 = LIF(0.8, 1.0, learn_leak=True, learn_threshold=True, num_channels=16, backend="cpu")
        self.fc2 = nn.Linear(16, 5)
        self.lif2 = LIF(0.9, 0.7, reset="hard", surrogate="atan", record_membrane=True, backend="cpu")

    def forward(self, x):  # x [T, B, 12]
        s = self.lif1(self.fc1(x))
        s = self.lif2(self.fc2(s))
        return s.mean(0) + 0.1 * self.lif2.membrane.mean(0)


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(6, 3, 12) * 2
    out = net(x)  # eager (fused autograd.Function)
    out.square().sum().backward()
    g_eager = _grads(net)
    net.zero_grad()
    explanation = torch._dynamo.explain(net)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")  # custom ops + fake + autograd
    out_c = compiled(x)
    out_c.square().sum().backward()
    torch.testing.assert_close(out_c, out, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(net), g_eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_compile_filter_fullgraph():
    x = torch.randn(7, 2, 9, requires_grad=True)
    f = torch.compile(lambda x: two_exp_filter(x, 0.9, 0.8, backend="cpu").sum(0), fullgraph=True,
                      backend="aot_eager")
    out = f(x)
    torch.testing.assert_close(out, two_exp_filter(x, 0.9, 0.8, backend="torch").sum(0))
    out.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize("soft", [True, False])
def test_opcheck_cpu_ops(soft):
    """All of torch.library.opcheck's checks, AOT dispatch included: its backward feeds the stride-0
    gradients of ``out.sum()``, which the kernels once indexed as dense (reading past the storage)."""
    from common.kernels.ops import filter_op, lif_op

    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    leak = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    thr = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(6, dtype=torch.float64, requires_grad=True)
    for args in ((x, None, leak, thr, 1, soft, 0, 0.3, False), (x, v0, leak, thr, 1, soft, 3, 2.0, True)):
        result = torch.library.opcheck(lif_op("cpu"), args)
        assert set(result.values()) == {"SUCCESS"}, result
    assert set(torch.library.opcheck(filter_op("cpu"), (x, 0.9, 0.8)).values()) == {"SUCCESS"}
