"""spiking_lstm rows, claims and configs; every row runs at scale=smoke on tiny subsets of the real data here
(row-wise MNIST, UCI HAR inertial signals, FSDD, the 300-clip Speech Commands subset)."""
from pathlib import Path

import pytest
from hydra import initialize_config_dir

from common.harness.run import compose_row
from common.registry import get_paper
from tests.harness_fixture.cli import reproduce, results
from tests.harness_fixture.smoke import run_smoke_row

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PAPER = get_paper("spiking_lstm")
ROWS = list(PAPER.rows.values())


def _compose(row, scale, extra=()):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose_row("spiking_lstm", row, scale, list(extra))


def test_rows_and_claims_registered():
    ids = {r.id: r for r in ROWS}
    for ds in ("smnist", "har"):
        for suffix in ("lstm", "snn_t1", "snn_t2", "snn_t4", "t2_no_shift", "t2_fixed", "converted_sweep",
                       "converted_sweep_no_shift"):
            assert f"{ds}_{suffix}" in ids and ids[f"{ds}_{suffix}"].scales == ("mini", "smoke")
            assert ids[f"{ds}_{suffix}_full"].scales == ("full", "smoke")  # own id: never overwrites a mini result
    assert ids["gsc_snn_t2"].reported == {"test/acc": 0.9475, "energy_ratio": 1 / 4.1}
    assert ids["gsc_snn_t2"].not_run_here and ids["gsc_lstm"].not_run_here and "mini" not in ids["gsc_lstm"].scales
    assert "stand-in" in ids["fsdd_snn_t2"].dataset
    used = {row for c in PAPER.claims for row in c.rows()}
    assert used <= set(ids)
    unused = {f"{ds}_{k}{sfx}" for ds in ("smnist", "har") for k in ("lstm", "snn_t1", "snn_t4") for sfx in ("", "_full")}
    assert {r.id for r in ROWS if r.id.startswith(("smnist", "har"))} - used - unused == set()


@pytest.mark.parametrize("row,scale,expect", [
    ("smnist_snn_t2", "mini", {"lstm": 15, "snn": 3, "T": 2, "shift": 0.5}),
    ("har_t2_no_shift", "mini", {"lstm": 4, "snn": 1, "T": 2, "shift": 0.0}),
    ("smnist_snn_t2_full", "full", {"lstm": 30, "snn": 5, "T": 2, "shift": 0.5}),
    ("har_t2_fixed_full", "full", {"lstm": 30, "snn": 3, "T": 2, "shift": 0.5}),
    ("smnist_converted_sweep_full", "full", {"lstm": 30, "snn": 0, "T": [1, 2, 4, 8, 16, 32], "shift": 0.5}),
    ("gsc_snn_t2", "full", {"lstm": 30, "snn": 10, "T": 2, "shift": 0.5}),
])
def test_configs_compose_with_stage_budgets(row, scale, expect):
    cfg = _compose(row, scale)
    assert cfg.runner == "papers.spiking_lstm.pipeline.run"
    assert cfg.lstm.max_epochs == expect["lstm"] and cfg.snn.max_epochs == expect["snn"]
    T = cfg.snn.time_steps
    assert (list(T) if not isinstance(T, int) else T) == expect["T"] and cfg.snn.bias_shift == expect["shift"]


@pytest.mark.parametrize("scale", ["mini", "smoke", "full"])
def test_conversion_sweeps_never_fine_tune(scale):
    """The dataset files' scales.<scale> blocks set the T rows' fine-tuning epochs: a sweep row must keep 0."""
    for r in ROWS:
        if "converted_sweep" in r.id and scale in r.scales:
            assert _compose(r.id, scale).snn.max_epochs == 0, (r.id, scale)


def test_fixed_ablation_and_har_per_T_budget():
    fixed = _compose("har_t2_fixed", "mini")
    assert not fixed.snn.learn_threshold and not fixed.snn.learn_leak
    assert fixed.snn.train_batches[2] == 20 and fixed.model.num_layers == 2


def test_generic_max_epochs_is_refused(tmp_path):
    p = reproduce(tmp_path, "paper=spiking_lstm", "row=smnist_lstm", "scale=smoke", "trainer.max_epochs=3",
                  plugins=False, check=False)
    assert p.returncode != 0 and "lstm.max_epochs" in (p.stdout + p.stderr)


# by default one row per dataset and pipeline branch (LSTM -> converted SNN at T = 2, the converted sweep, the
# fixed-threshold ablation, the stand-in datasets); every row runs in the nightly job (`slow`). The rows of one
# run share its cached LSTM stage per dataset, as `reproduce.py paper=spiking_lstm scale=smoke` does.
SMOKE_DEFAULT = ("smnist_snn_t2", "smnist_converted_sweep", "har_t2_fixed", "fsdd_snn_t2", "gsc_snn_t2")


def _check(found: dict) -> None:
    for rid, d in found.items():
        m = d["metrics"]
        assert 0.0 <= m["test/acc"] <= 1.0 and "lstm/test/acc" in m, rid
        if rid.endswith("_lstm"):
            continue
        key = "T1/" if "sweep" in rid else ""
        for k in ("snn_converted/test/acc", "conversion_error", "energy_ratio", "energy_ratio/gates_only",
                  "latency/pipelined", "latency/plain"):
            assert f"{key}{k}" in m, (rid, k)
        assert m[f"{key}latency/pipelined_sim_minus_model"] == 0, rid
        layers = d["extras"]["snn"][next(iter(d["extras"]["snn"]))]["energy"]["snn"]["layers"]
        assert layers[-1]["name"] == "readout" and all("energy_pj" in l for l in layers), rid


@pytest.mark.timeout(1800)
def test_default_rows_run_at_smoke(tmp_path, no_git):
    found = {rid: run_smoke_row("spiking_lstm", rid, tmp_path) for rid in SMOKE_DEFAULT}
    _check(found)
    from papers.spiking_lstm.report import render

    md = render(list(found.values()), tmp_path / "plots", "plots")
    assert "smnist, scale smoke: accuracy vs T" in md and "Per-layer energy" in md and "| har | 128 | 2 | 2 |" in md
    assert "What fine-tuning moved" in md and "| `smnist_snn_t2` | 1 |" in md


@pytest.mark.slow
@pytest.mark.timeout(2700)  # ~4 min on an idle 2-core CPU
def test_all_rows_run_at_smoke(tmp_path):
    reproduce(tmp_path, "paper=spiking_lstm", "scale=smoke", plugins=False, timeout=2600)
    found = results(tmp_path, "spiking_lstm")
    assert set(found) == {r.id for r in ROWS}
    _check(found)
