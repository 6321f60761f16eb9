"""WeightProduct (common/weight_product.py) is counted exactly as a bias-free nn.Linear."""
import pytest
import torch
from torch import nn

from common.metrics import OpsMonitor
from common.weight_product import WeightProduct


class _ByProduct(nn.Module):
    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(W.clone())
        self.prod = WeightProduct()

    def forward(self, x):
        return self.prod(x, self.W)


def _pair(f_in=5, f_out=3, zeros=()):
    torch.manual_seed(0)
    lin = nn.Linear(f_in, f_out, bias=False)
    with torch.no_grad():
        for i, j in zeros:
            lin.weight[i, j] = 0.0  # NeuroBench counts non-zero weights only
    return lin, _ByProduct(lin.weight.detach().T)


def _counts(model, x, graded=None):
    mon = OpsMonitor(model, batch_dim=0, graded=graded)
    with mon, torch.no_grad():
        model(x)
    return mon.compute(), mon.table()


@pytest.mark.parametrize("kind", ["analog", "spikes", "graded"])
def test_weight_product_counts_as_linear(kind):
    lin, prod = _pair(zeros=[(0, 1), (2, 4)])
    g = torch.Generator().manual_seed(1)
    if kind == "analog":
        x = torch.randn(7, 5, generator=g)
    elif kind == "spikes":
        x = (torch.rand(7, 5, generator=g) < 0.3).float()
    else:  # graded spikes of height 1/4: n in {-2..2}
        x = torch.randint(-2, 3, (7, 5), generator=g).float() / 4
    graded = {"": 0.25} if kind == "graded" else None  # the height of one spike
    (ca, ta), (cb, tb) = _counts(lin, x, graded), _counts(prod, x, {"prod": 0.25} if graded else None)
    for k in ("macs", "acs", "energy_pj", "nb_eff_macs", "nb_eff_acs", "nb_dense", "energy_nb_pj"):
        assert cb[k] == pytest.approx(ca[k]), k
    assert tb[0]["input"] == ta[0]["input"]
    if kind == "analog":
        assert cb["macs"] == 5 * 3 and cb["acs"] == 0
    elif kind == "spikes":
        assert cb["macs"] == 0 and cb["acs"] == pytest.approx(float((x != 0).sum()) * 3 / 7)
    else:
        assert cb["acs"] == pytest.approx(float((x * 4).abs().sum()) * 3 / 7)


def test_weight_product_values_and_gradients_are_the_matmul():
    W = torch.randn(4, 6, requires_grad=True)
    x = torch.randn(2, 3, 4, requires_grad=True)
    y = WeightProduct()(x, W)
    ref = x @ W
    assert torch.equal(y, ref)
    gy = torch.randn_like(y)
    assert all(torch.equal(a, b) for a, b in zip(torch.autograd.grad(y, (x, W), gy),
                                                  torch.autograd.grad(ref, (x, W), gy)))
