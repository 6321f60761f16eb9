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


def test_report_renders_the_dt_sweep_table_and_plot(tmp_path):
    from papers.lmu_quantized.report import render

    def run(seed, acc4):
        pts = [{"dt": dt, "n": 2000.0, "acc": acc, "bits_per_neuron_step": b, "significant_bits_per_multiply": 1.1,
                "spikes_per_neuron_step": b / 2} for dt, acc, b in ((100.0, 0.9, 3.5), (4.0, acc4, 1.5), (1.0, 0.5, 0.8))]
        return {"paper": "lmu_quantized", "scale": "mini", "seed": seed, "row": {"id": "hybrid_mini"},
                "metrics": {"test/dt": 4.0, "test/acc": acc4}, "extras": {"dt_sweep": pts}}

    text = render([run(0, 0.8), run(1, 0.82), {"paper": "lmu_quantized", "scale": "mini", "seed": 0,
                                                 "row": {"id": "lmu_mini"}, "metrics": {}, "extras": {}}],
                  tmp_path, "plots", {})
    assert "`hybrid_mini`: the tested model at other dt" in text and "first 2,000 test sequences, 2 seed(s)" in text
    assert "| 4 | 81.00 ± 1.41 % (n=2)" in text  # mean ± std over the seeds, per dt
    assert "lmu_mini" not in text  # rows without a sweep are not in this section
    assert (tmp_path / "lmu_dt_hybrid_mini.png").is_file()
    assert "⚠" not in text
    early = run(2, 0.7)
    early["metrics"]["test/dt"] = 32.7
    early["config"] = {"callbacks": {"dt": {"dt_end": 4.0}}}
    assert "⚠ seed 2 was tested at dt = 32.7, not at its schedule's final dt = 4" in render([early], tmp_path,
                                                                                            "plots", {})
