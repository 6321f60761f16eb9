"""DIET-SNN's leak-gradient diagnostic: the gradient it reports is autograd's, and running it does not change training."""
import json

import pytest
import torch
import torch.nn.functional as F

from papers.diet_snn.models import build_model
from papers.diet_snn.pipeline import leak_gradients
from tests.harness_fixture.cli import reproduce

KW = dict(num_classes=3, in_channels=1, input_size=8, hidden=[6], dropout_ann_conv=0.0, dropout_ann_fc=0.0,
          dropout_snn=0.0)


def _net():
    torch.manual_seed(0)
    net = build_model("vgg_mini", mode="snn", time_steps=4, width_div=8, **KW)
    for _, m in net.neurons():
        with torch.no_grad():
            m.threshold.fill_(0.05)  # low thresholds: every layer spikes, so every leak has a gradient
    return net


def test_leak_gradients_are_autograds_per_batch_mean_and_sign():
    torch.manual_seed(1)
    batches = [(torch.randn(5, 1, 8, 8), torch.randint(0, 3, (5,))) for _ in range(3)]
    got = leak_gradients(_net, batches, torch.device("cpu"), batches=2)
    net = _net().train()
    per = {n: [] for n, _ in net.neurons()}
    for x, y in batches[:2]:
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        for n, m in net.neurons():
            per[n].append(float(m.leak.grad))
    assert set(got) == set(per) and len(got) == 4
    assert any(abs(v) > 0 for g in per.values() for v in g)  # the check below is not 0 == 0
    for n, g in per.items():
        assert got[n]["batches"] == 2
        assert got[n]["mean"] == pytest.approx(sum(g) / 2, rel=1e-5, abs=1e-12)
        assert got[n]["frac_negative"] == sum(v < 0 for v in g) / 2


def test_probe_does_not_change_the_trained_snn(tmp_path):
    # the smoke row runs the probe (snn.leak_gradient.batches=2); with batches=0 it is skipped. Training must be the same.
    def run(sub, batches):
        reproduce(tmp_path / sub, "paper=diet_snn", "row=cifar_vgg_t5", "scale=smoke", "seed=0",
                  f"snn.leak_gradient.batches={batches}", plugins=False, timeout=300)
        (p,) = (tmp_path / sub / "runs" / "diet_snn").glob("*/smoke-seed0*/result.json")
        return json.loads(p.read_text())

    with_probe, without = run("a", 2), run("b", 0)
    snn_a, snn_b = with_probe["extras"]["snn"]["5"], without["extras"]["snn"]["5"]
    assert snn_a["leak_gradient_at_init"] and not snn_b["leak_gradient_at_init"]
    assert set(snn_a["leak_gradient_at_init"]) == {"0.2", "0.4", "0.6", "1.0"}
    assert snn_a["learned"] == snn_b["learned"] and snn_a["test_acc"] == snn_b["test_acc"]
    assert snn_a["spike_rates"] == snn_b["spike_rates"]
