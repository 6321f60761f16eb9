"""Accuracy and bits against dt (papers.lmu_quantized.dt_sweep) on a tiny hybrid LMU: known limits."""
import pytest
import torch

from common.data.sequence import SeqBatch
from papers.lmu_quantized.dt_sweep import evaluate_at_dts
from papers.lmu_quantized.model import PSMNISTModel


def _models():
    torch.manual_seed(0)
    hybrid = PSMNISTModel("lmu", hidden_size=12, order=8, theta=30.0, spiking=True, dt=0.5)
    rate = PSMNISTModel("lmu", hidden_size=12, order=8, theta=30.0)
    rate.load_state_dict(hybrid.state_dict(), strict=False)
    with torch.no_grad():
        for m in (hybrid, rate):
            m.rnn.W_x.copy_(torch.linspace(-1, 1, 12)[None])
    return hybrid, rate


def test_limits_and_restoring_state():
    hybrid, rate = _models()
    g = torch.Generator().manual_seed(1)
    batches = [SeqBatch(torch.rand(40, 16, 1, generator=g), torch.randint(0, 10, (16,), generator=g),
                        torch.full((16,), 40)) for _ in range(2)]
    hybrid.train()
    res = evaluate_at_dts(hybrid, batches, [1e7, 1.0, 0.25], eval_seed=3)
    assert [r["dt"] for r in res] == [1e7, 1.0, 0.25] and all(r["n"] == 32 for r in res)
    # dt -> infinity: the non-spiking model (quantization error ~ 1/dt per step)
    with torch.no_grad():
        ref_loss = sum(float(torch.nn.functional.cross_entropy(rate(b.x, b.lengths), b.y, reduction="sum"))
                       for b in batches) / 32
    assert res[0]["loss"] == pytest.approx(ref_loss, abs=1e-4)
    # dt <= 1 with |tanh| < 1: at most one spike per step, so every event has 1 magnitude bit + 1 sign bit
    for r in res[1:]:
        assert r["max_abs_count"] == 1 and r["bits_per_event"] == 2 and r["significant_bits_per_multiply"] == 1
    assert res[2]["event_rate"] < res[1]["event_rate"]  # fewer events at smaller dt
    assert float(hybrid.rnn.quantizer.dt) == 0.5 and hybrid.training  # restored
    # the same dt twice gives the same numbers (evaluation draws re-seeded per dt)
    again = evaluate_at_dts(hybrid, batches, [1.0], eval_seed=3)[0]
    assert again == res[1]


def test_needs_a_spiking_model():
    _, rate = _models()
    with pytest.raises(ValueError):
        evaluate_at_dts(rate, [], [1.0])
