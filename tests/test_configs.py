"""Every registered row has an experiment config that composes at each of its scales, and every
registered row runs end to end at scale=smoke (one subprocess per paper)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.harness.run import apply_scale, resolve_runner
from common.registry import get_paper, list_papers

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPERS = list_papers()
ROWS = [(p, r.id, s) for p in PAPERS for r in get_paper(p).rows.values() for s in r.scales]


def test_papers_are_registered():
    assert PAPERS, "no paper registered"


@pytest.mark.parametrize("paper,row,scale", ROWS, ids=[f"{p}/{r}@{s}" for p, r, s in ROWS])
def test_experiment_config_composes(paper, row, scale):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("reproduce", overrides=[f"paper={paper}", f"row={row}", f"+experiment={paper}/{row}"])
    cfg = apply_scale(cfg, scale, [])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert resolved["scale"] == scale and callable(resolve_runner(cfg.runner))
    assert "_target_" in resolved["data"]


@pytest.mark.parametrize("overrides", [["trainer=gpu"], ["trainer=ddp"], ["trainer=ddp_cpu"], ["logger=wandb"],
                                       ["logger=none"], ["seed=3", "ckpt_path=/tmp/x.ckpt"]])
def test_group_overrides_compose(overrides):
    paper = PAPERS[0]
    row = next(iter(get_paper(paper).rows))
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("reproduce", overrides=[f"paper={paper}", f"+experiment={paper}/{row}", *overrides])
    OmegaConf.to_container(cfg, resolve=True)
    if "trainer=ddp_cpu" in overrides:
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2 and cfg.trainer.accelerator == "cpu"


@pytest.mark.parametrize("paper", PAPERS)
def test_every_row_runs_at_smoke_scale(paper, tmp_path):
    from tests.harness_fixture.cli import reproduce, results

    reproduce(tmp_path, f"paper={paper}", "scale=smoke", plugins=False, timeout=900)
    got = results(tmp_path, paper)
    expected = {r.id for r in get_paper(paper).rows_for("smoke")}
    assert set(got) == expected
    for r in got.values():
        assert r["metrics"], f"{r['row']['id']} produced no metrics"
