"""Every registered row has an experiment config that composes at each of its scales (the smoke runs of
every row live in each paper's own tests, which know how to fake its dataset)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.harness.run import compose_row, resolve_runner
from common.registry import Row, get_paper, list_papers

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPERS = list_papers()
ROWS = [(p, r.id, s) for p in PAPERS for r in get_paper(p).rows.values() for s in r.scales]


def test_papers_are_registered():
    assert PAPERS, "no paper registered"


@pytest.mark.parametrize("paper,row,scale", ROWS, ids=[f"{p}/{r}@{s}" for p, r, s in ROWS])
def test_experiment_config_composes(paper, row, scale):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose_row(paper, row, scale)
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert resolved["scale"] == scale and callable(resolve_runner(cfg.runner))
    assert "_target_" in resolved["data"]


def test_no_row_writes_one_result_file_at_two_scales():
    # results/<paper>/<row>/seed<k>.json holds one scale: a row running at both mini and full would let a full run
    # overwrite the committed mini result of the same seed: the registry refuses it (every paper's rows register)
    with pytest.raises(ValueError, match="both mini and full"):
        Row("x", "d", "a", None, scales=("mini", "full", "smoke"))
    assert Row("x", "d", "a", None, scales=("mini", "smoke")).scales == ("mini", "smoke")


@pytest.mark.parametrize("overrides", [["trainer=gpu"], ["trainer=ddp"], ["trainer=ddp_cpu"], ["logger=wandb"],
                                       ["logger=none"], ["seed=3", "ckpt_path=/tmp/x.ckpt"]])
def test_group_overrides_compose(overrides):
    paper = PAPERS[0]
    row = next(iter(get_paper(paper).rows))
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("reproduce", overrides=[f"paper={paper}", f"experiment={paper}/{row}", *overrides])
    OmegaConf.to_container(cfg, resolve=True)
    if "trainer=ddp_cpu" in overrides:
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2 and cfg.trainer.accelerator == "cpu"


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_has_smoke_tests(paper):
    # each paper's own tests run all of its rows at scale=smoke (with fake files in the official formats
    # where the real dataset is not on the CI machine; some rows only in the nightly `slow` run, see
    # tests/harness_fixture/smoke.py): tests/<paper>/ must exist and do so
    tests = list((Path(__file__).parent / paper).glob("test_*.py"))
    assert tests, f"no tests/{paper}/"
    assert any("smoke" in t.read_text() and "get_paper" in t.read_text() for t in tests)


@pytest.mark.parametrize("scale,seeds", [("mini", [0, 1, 2]), ("full", [0]), ("smoke", [0])])
def test_scales_are_a_config_group_with_their_seeds(scale, seeds):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("reproduce", overrides=[f"scale={scale}"])
    assert cfg.scale == scale and list(cfg.seeds) == seeds


def test_experiment_configs_hold_no_regression_bands():
    # regression bands come from the seed spread of committed results (scripts/make_results.py), not configs
    offenders = [str(p) for p in CONFIGS.rglob("*.yaml") if "tolerance:" in p.read_text()]
    assert not offenders, offenders
