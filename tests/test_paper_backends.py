"""The paper models run on the fused CPU path (their default backend="auto") and on the PyTorch reference
with the same outputs and gradients (issue: paper tests pass on both paths)."""
import pytest
import torch

from common.neurons import available_backends
from papers.diet_snn.models import build_model
from papers.spsn.model import SPSNNet

pytestmark = pytest.mark.skipif("cpu" not in available_backends("cpu"),
                                reason="the fused CPU extension could not be built on this machine")


def _run(model, x, y):
    model.train()
    torch.manual_seed(0)  # same dropout masks on both paths
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("arch,kwargs", [
    ("vgg_mini", dict(in_channels=1, input_size=28, hidden=[32], num_classes=10)),
    ("resnet20", dict(in_channels=3, input_size=32, num_classes=10, width_div=16)),
])
def test_diet_snn_same_on_reference_and_fused_cpu(arch, kwargs):
    torch.manual_seed(1)
    x, y = torch.randn(4, kwargs["in_channels"], kwargs["input_size"], kwargs["input_size"]), torch.tensor([0, 1, 2, 3])
    results = {}
    for backend in ("torch", "cpu"):
        torch.manual_seed(2)
        model = build_model(arch, mode="snn", time_steps=3, backend=backend, leak=0.95, threshold=0.5, **kwargs)
        results[backend] = _run(model, x, y)
    (l_ref, g_ref), (l_cpu, g_cpu) = results["torch"], results["cpu"]
    torch.testing.assert_close(l_cpu, l_ref)
    assert g_ref.keys() == g_cpu.keys() and any("leak" in k for k in g_ref) and any("threshold" in k for k in g_ref)
    for k in g_ref:
        torch.testing.assert_close(g_cpu[k], g_ref[k], rtol=1e-4, atol=1e-5, msg=k)


def test_spsn_lif_baseline_same_on_reference_and_fused_cpu():
    torch.manual_seed(0)
    x, y = (torch.rand(3, 40, 20) < 0.2).float(), torch.tensor([0, 1, 2])
    results = {}
    for backend in ("torch", "cpu"):
        torch.manual_seed(4)
        model = SPSNNet(n_in=20, n_out=5, hidden=(16, 16), neuron="lif", lif_backend=backend)
        results[backend] = _run(model, x, y)
    (l_ref, g_ref), (l_cpu, g_cpu) = results["torch"], results["cpu"]
    torch.testing.assert_close(l_cpu, l_ref)
    for k in g_ref:
        torch.testing.assert_close(g_cpu[k], g_ref[k], rtol=1e-4, atol=1e-5, msg=k)
