"""common/metrics/measure.py: measure_ops gives the module's energy report outside the training loop, and
energy_metrics the loggable scalars of its totals."""
import pytest
import torch
from torch import nn

from common.metrics.measure import energy_metrics, measure_ops, model_inputs


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
