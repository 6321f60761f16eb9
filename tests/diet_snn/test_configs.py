"""Every diet_snn row composes (full rows also with trainer=gpu / trainer=ddp) and runs at scale=smoke.

The CIFAR/ImageNet rows' smoke blocks set ``data.fake=true``: a tiny dataset in the official format is
written to a temp dir and read by the same loaders, so no real dataset is needed.
"""
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from common.harness.run import compose_row
from common.registry import get_paper
from tests.harness_fixture.cli import reproduce, results

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ROWS = list(get_paper("diet_snn").rows.values())
FULL = [r.id for r in ROWS if "full" in r.scales]


def _compose(row, scale, extra=()):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose_row("diet_snn", row, scale, list(extra))


def test_rows_registered_with_reported_values():
    ids = {r.id: r for r in ROWS}
    assert ids["cifar10_vgg16_t5"].reported["test/acc"] == 0.9270
    assert ids["cifar100_vgg16_t5"].reported["test/acc"] == 0.6967
    assert ids["cifar10_resnet20_t10"].reported["test/acc"] == 0.9254
    assert ids["cifar100_resnet20_t5"].reported["test/acc"] == 0.6407
    assert ids["imagenet_vgg16_t5"].reported["test/acc"] == 0.6900
    assert all(ids[r].not_run_here for r in FULL)
    used = {row for c in get_paper("diet_snn").claims for row in c.rows()}  # every mini row is checked by a claim
    assert {r.id for r in ROWS if "mini" in r.scales} - used == set()


@pytest.mark.parametrize("row", FULL)
@pytest.mark.parametrize("trainer", ["trainer=gpu", "trainer=ddp"])
def test_full_rows_compose_for_gpu(row, trainer):
    cfg = _compose(row, "full", [trainer])
    c = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("trainer", "threshold", "snn", "ann", "model")}
    c["runner"], c["data"] = cfg.runner, {"fake": cfg.data.fake}
    assert c["trainer"]["accelerator"] == "gpu" and c["runner"] == "papers.diet_snn.pipeline.run"
    assert c["threshold"]["percentile"] == 99.7 and c["threshold"]["num_images"] == 512
    assert c["data"]["fake"] is False


def test_all_rows_run_at_smoke(tmp_path):
    reproduce(tmp_path, "paper=diet_snn", "scale=smoke", plugins=False, timeout=900)
    found = results(tmp_path, "diet_snn")
    assert set(found) == {r.id for r in ROWS}
    for rid, d in found.items():
        m = d["metrics"]
        assert 0.0 <= m["test/acc"] <= 1.0 and "ann/test/acc" in m and "energy_ratio/papers" in m, rid
        assert d["extras"]["snn"] and d["extras"]["thresholds_unscaled"], rid


def test_generic_max_epochs_is_refused_naming_the_stage_keys(tmp_path):
    # DIET-SNN trains two stages with their own epochs: trainer.max_epochs would be silently replaced
    p = reproduce(tmp_path, "paper=diet_snn", "row=cifar_vgg_t5", "scale=smoke", "trainer.max_epochs=3",
                  plugins=False, check=False)
    assert p.returncode != 0 and "ann.max_epochs" in p.stderr + p.stdout and "snn.max_epochs" in p.stderr + p.stdout
    cfg = _compose("cifar_vgg_t5", "smoke", ["ann.max_epochs=3", "snn.max_epochs=2"])
    assert cfg.ann.max_epochs == 3 and cfg.snn.max_epochs == 2  # the stage keys take effect over the smoke block


CIFAR10_FULL = [r for r in FULL if r.startswith("cifar10_")]


@pytest.mark.parametrize("row", CIFAR10_FULL)
def test_full_cifar10_rows_take_the_array_copy(row):
    # here CIFAR-10 exists only as the verified array copy: `data=cifar10_arrays` must swap the reader and keep
    # every setting of the row (batch sizes, validation split, augmentation, subsets) as with the official pickles
    pickle = OmegaConf.to_container(_compose(row, "full").data, resolve=True)
    arrays = OmegaConf.to_container(_compose(row, "full", ["data=cifar10_arrays"]).data, resolve=True)
    assert pickle["_target_"] == "common.data.cifar.CIFAR10DataModule"
    assert arrays["_target_"] == "common.data.cifar10_arrays.CIFAR10ArraysDataModule"
    differ = {k for k in set(pickle) & set(arrays) if pickle[k] != arrays[k]}
    assert differ <= {"_target_", "num_workers"}, differ
    assert not arrays["fake"] and arrays["verify_sha256"]


def test_full_cifar10_row_runs_on_the_array_reader(tmp_path):
    from common.harness.run import run_row
    from common.registry import get_row

    over = ["data=cifar10_arrays", f"paths.runs_dir={tmp_path}/runs", f"paths.results_dir={tmp_path}/res",
            f"paths.output_dir={tmp_path}/out", "logger=none"]
    row = "cifar10_resnet20_t10"
    res = run_row(_compose(row, "smoke", over), get_row("diet_snn", row))  # smoke: data.fake, the arrays' format
    assert 0.0 <= res["metrics"]["test/acc"] <= 1.0 and "ann/test/acc" in res["metrics"]
