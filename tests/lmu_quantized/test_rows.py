"""lmu_quantized rows, configs, models, the psMNIST protocol checksums and every row at scale=smoke."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from common.data.mnist import nru_permutations
from tests.harness_fixture.smoke import run_smoke_row, smoke_row_params

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
ROWS = sorted(p.stem for p in (CONFIG_DIR / "experiment" / "lmu_quantized").glob("*.yaml"))


def _sha(a):
    return hashlib.sha256(np.asarray(a, dtype="<i8").tobytes()).hexdigest()


def test_psmnist_protocol_checksums():
    perm, seq_perm = nru_permutations(50)
    assert seq_perm[:10].tolist() == [46, 466, 537, 44, 515, 589, 362, 765, 270, 539]
    assert _sha(seq_perm) == "dda347f72737de70dcf06700b3a567682e34166f6ae9c3ffde5463bdf224f8b6"
    assert perm[:10].tolist() == [6820, 11854, 9635, 45077, 18764, 22779, 11348, 49404, 27504, 45000]
    assert _sha(perm) == "fa99aca7e184d1a2e1cb7a2ceda0ae62e7d051aad6c37d1b0d2f70c30aab463a"


def test_every_config_is_registered_and_claims_name_rows():
    from common.registry import get_paper

    p = get_paper("lmu_quantized")
    assert set(ROWS) == set(p.rows)
    assert {r.id for r in p.rows_for("mini")} == {f"{k}_mini" for k in ("lmu", "hybrid", "lstm", "gru", "parallel",
                                                                       "hybrid_u", "hybrid_dt1")}
    assert {c.id for c in p.claims} >= {"hybrid_beats_lstm", "hybrid_beats_gru", "activity_bits", "significant_bits",
                                        "lmu_2019", "parallel_speedup"}


@pytest.mark.parametrize("kind,hidden,order,trainable", [("lmu", 212, 256, 102_027), ("lstm", 157, 256, 102_060),
                                                         ("gru", 181, 256, 101_732), ("parallel", 346, 468, 166_092)])
def test_model_parameter_counts(kind, hidden, order, trainable):
    from papers.lmu_quantized.model import PSMNISTModel

    m = PSMNISTModel(kind, hidden_size=hidden, order=order)
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == trainable
    if kind == "lmu":
        assert sum(p.numel() for p in m.parameters()) == 167_819


@pytest.mark.parametrize("kind", ["lmu", "parallel", "lstm", "gru"])
def test_model_reads_out_each_sequences_last_real_step(kind):
    from papers.lmu_quantized.model import PSMNISTModel

    torch.manual_seed(0)
    m = PSMNISTModel(kind, hidden_size=6, order=5, theta=10.0)
    x = torch.randn(12, 3, 1)
    lengths = torch.tensor([12, 7, 9])
    out = m(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[b], m(x[:n, b: b + 1], torch.tensor([n]))[0], rtol=1e-5, atol=1e-6)


def test_configs_compose():
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from common.harness.run import compose_row

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        full = {r: OmegaConf.to_container(compose_row("lmu_quantized", r, "full"), resolve=True)
                for r in ("lmu", "hybrid", "lstm", "gru", "parallel")}
        mini = OmegaConf.to_container(compose_row("lmu_quantized", "hybrid_mini", "mini"), resolve=True)
        mini_u = OmegaConf.to_container(compose_row("lmu_quantized", "hybrid_u_mini", "mini"), resolve=True)
        smoke = OmegaConf.to_container(compose_row("lmu_quantized", "lstm", "smoke"), resolve=True)
    for c in full.values():
        d = c["data"]
        assert d["view"] == "permuted" and d["permutation_seed"] == 50 and not d["normalize"] and d["batch_size"] == 100
        assert c["trainer"]["max_epochs"] == 10 and c["seeds"] == [0]
        assert c["module"]["optimizer"]["lr"] == 1e-3
    m = full["lmu"]["module"]["model"]
    assert (m["kind"], m["hidden_size"], m["order"], m["theta"], m["memory_feedback"]) == ("lmu", 212, 256, 784.0, True)
    assert full["hybrid"]["callbacks"]["dt"]["_target_"].endswith("DtSchedule") and full["hybrid"]["test_ckpt"] == "last"
    assert full["parallel"]["module"]["model"]["order"] == 468
    assert mini["seeds"] == [0, 1, 2] and mini["data"]["train_subset"] == 5000 and mini["callbacks"]["dt"]["dt_end"] == 4.0
    assert mini_u["module"]["model"]["quantize_u"] and "quantize_u" not in mini["module"]["model"]
    assert smoke["module"]["model"]["hidden_size"] == 8 and smoke["data"]["train_subset"] == 8


@pytest.mark.parametrize("row", smoke_row_params(ROWS, ROWS))  # every row: seconds each
def test_row_runs_at_smoke(row, tmp_path, no_git):
    res = run_smoke_row("lmu_quantized", row, tmp_path)
    met = res["metrics"]
    assert 0.0 <= met["test/acc"] <= 1.0
    # every row counts the tested model's ops on the first test batch (pipeline: energy_batches)
    assert met["test/energy/energy_pj"] > 0 and met["test/energy/samples"] == 4 and res["extras"]["energy"]["layers"]
    if row.startswith("hybrid"):
        assert met["test/energy/acs"] > 0  # the quantized h feeds ACs
        trained = 1.0 if "dt1" in row else 4.0
        assert met["test/dt"] == pytest.approx(trained)
        assert 0 < met["test/bits/bits_per_neuron_step"] <= 4 and met["test/bits/significant_bits_per_multiply"] >= 1
        # the dt sweep re-evaluates the tested model: at the trained dt, on the same (one-batch) test set and
        # evaluation draws, it must give the test metrics; far above it, nearly every neuron-step sends spikes
        sweep = {p["dt"]: p for p in res["extras"]["dt_sweep"]}
        assert list(sweep) == [1000.0, trained] and sweep[trained]["n"] == 4
        assert sweep[trained]["acc"] == pytest.approx(met["test/acc"])
        assert sweep[trained]["bits_per_neuron_step"] == pytest.approx(met["test/bits/bits_per_neuron_step"], rel=1e-5)
        assert sweep[1000.0]["spikes_per_neuron_step"] > sweep[trained]["spikes_per_neuron_step"]
    else:
        assert not any(k.startswith("test/bits/") for k in met)


def test_claims_evaluate_on_synthetic_results():
    """The claims read the metrics the rows log (names as LMUSequenceModule logs them) and the bench JSON."""
    from common.claims import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, evaluate
    from common.registry import get_paper

    claims = {c.id: c for c in get_paper("lmu_quantized").claims}
    vals = {"hybrid": [{"test/acc": 0.97, "test/bits/bits_per_neuron_step": 2.5,
                        "test/bits/significant_bits_per_multiply": 1.3}],
            "lstm": [{"test/acc": 0.90}], "gru": [{"test/acc": 0.98}], "lmu": [{"test/acc": 0.969}]}
    assert evaluate(claims["hybrid_beats_lstm"], vals).verdict == REPRODUCED
    assert evaluate(claims["hybrid_beats_gru"], vals).verdict == NOT_REPRODUCED
    assert evaluate(claims["activity_bits"], vals).verdict == REPRODUCED
    assert evaluate(claims["significant_bits"], vals).verdict == NOT_REPRODUCED
    assert evaluate(claims["lmu_2019"], vals).verdict == REPRODUCED
    assert evaluate(claims["hybrid_beats_lstm_mini"], vals).verdict == NOT_TESTABLE
    assert evaluate(claims["activity_bits_mini"], vals).verdict == NOT_TESTABLE  # reads hybrid_mini only
    mini = {"hybrid_mini": [{"test/bits/bits_per_neuron_step": 1.3, "test/bits/significant_bits_per_multiply": 1.4}]}
    assert evaluate(claims["activity_bits_mini"], mini).verdict == REPRODUCED
    assert evaluate(claims["significant_bits_mini"], mini).verdict == NOT_REPRODUCED
    case = {"T": 784, "batch": 100}
    bench = {"lmu_speed": {"cases": [{"impl": "step", "spiking": False, "ratio_vs_step": 1.0, **case},
                                     {"impl": "parallel_fft", "spiking": False, "ratio_vs_step": 250.0, **case},
                                     {"impl": "parallel_fft", "spiking": True, "ratio_vs_step": 3.0, **case}]}}
    assert evaluate(claims["parallel_speedup"], {}, bench).verdict == REPRODUCED
    assert evaluate(claims["parallel_speedup"], {}, {}).verdict == NOT_TESTABLE
    quick = {"lmu_speed": {"cases": [dict(c, T=50, batch=8) for c in bench["lmu_speed"]["cases"]]}}
    assert evaluate(claims["parallel_speedup"], {}, quick).verdict == NOT_TESTABLE  # a --quick file never counts
