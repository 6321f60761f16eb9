"""WeightProduct (common/weight_product.py) is counted exactly as a bias-free nn.Linear, and measure_ops
(common/metrics/measure.py) gives the module's energy report outside the training loop."""
import pytest
import torch
from torch import nn

from common.metrics import OpsMonitor
from common.metrics.measure import energy_metrics, measure_ops, model_inputs
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


def test_measure_ops_counts_samples_restores_mode_and_reads_batches():
    lin = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).train()
    batches = [(torch.randn(5, 4), torch.zeros(5, dtype=torch.long)) for _ in range(3)]
    report = measure_ops(lin, batches)
    assert lin.training  # restored
    t = report["totals"]
    assert t["samples"] == 15 and t["macs"] == pytest.approx(4 * 3 + 3 * 2, rel=0.05)  # ReLU zeros may make ACs
    assert [row["name"] for row in report["layers"]] == ["0", "2"]
    assert report["activity"] == []

    class Seq:
        x, y, lengths = torch.zeros(3, 2, 1), torch.zeros(2), torch.tensor([3, 2])

    args, y = model_inputs(Seq)
    assert args[1] is Seq.lengths and y is Seq.y


def test_energy_metrics_keeps_finite_numbers_under_the_prefix():
    totals = {"macs": 12, "energy_pj": 55.2, "spike_rate": float("nan"), "inf": float("inf"), "name": "x",
              "per_layer": [1.0]}
    assert energy_metrics(totals, "test/energy") == {"test/energy/macs": 12.0, "test/energy/energy_pj": 55.2}
    lin = nn.Linear(4, 3)
    report = measure_ops(lin, [(torch.randn(2, 4), torch.zeros(2, dtype=torch.long))])
    logged = energy_metrics(report["totals"], "val/energy")
    assert logged["val/energy/samples"] == 2.0 and logged["val/energy/macs"] == 12.0
    assert all(isinstance(v, float) for v in logged.values())
