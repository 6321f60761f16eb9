#!/usr/bin/env python
"""Reproduce a paper's table: ``python scripts/reproduce.py paper=<name> [row=<id>|all] [scale=mini|full|smoke]``.

Each selected row is composed by Hydra as ``configs/reproduce.yaml < experiment=<paper>/<row> <
scale=<scale> (configs/scale/) < the row's own scales.<scale> block < command line``, so every command-line
override wins (``seed=1``, ``trainer.max_epochs=3``, ``data.batch_size=8``, ``trainer=gpu``, ``logger=wandb``).
Without ``seed=`` every seed in ``seeds`` runs (mini: 0, 1, 2); ``-m ... seed=0,1`` sweeps with Hydra.
``--cfg job`` prints the config of every selected row and seed, exactly as it would run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a plain checkout too
os.environ.setdefault("PROJECT_ROOT", str(ROOT))  # configs/paths: outputs, runs and results live in the repo

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from common.harness import compose_row, register_row_keys, run_row, seeds_to_run, select_rows  # noqa: E402
from common.harness.distributed import joined_ranks  # noqa: E402
from common.registry import list_papers  # noqa: E402

CONFIGS = ROOT / "configs"
register_row_keys(CONFIGS)


def row_configs(cfg: DictConfig, overrides: list[str]):
    """``(row, config)`` for every selected row and seed, composed by :func:`compose_row`."""
    if not cfg.get("paper"):
        raise SystemExit(f"say which paper to reproduce: paper=<name>, one of {', '.join(list_papers())}")
    try:
        rows = select_rows(str(cfg.paper), str(cfg.row), str(cfg.scale))
    except (KeyError, ValueError) as e:
        raise SystemExit(f"error: {e.args[0]}") from None
    for row in rows:
        first = compose_row(str(cfg.paper), row.id, str(cfg.scale), overrides)
        for seed in seeds_to_run(first, overrides):
            yield row, (first if int(first.seed) == seed else
                        compose_row(str(cfg.paper), row.id, str(cfg.scale), overrides, seed=seed))


@hydra.main(config_path="../configs", config_name="reproduce", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    # extra config search paths (e.g. papers registered outside this repo) must reach compose() too
    searchpath = [o for o in hydra_cfg.overrides.hydra if o.startswith("hydra.searchpath=")]
    for row, row_cfg in row_configs(cfg, [*searchpath, *hydra_cfg.overrides.task]):
        run_row(row_cfg, row)


def show_cfg(argv: list[str]) -> None:
    """``--cfg job``: print each selected row's composed config (the driver's own config says nothing
    about a row: the row is composed per run), in the order the rows and seeds would run."""
    from hydra import compose, initialize_config_dir

    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="reproduce", overrides=overrides)
        for row, row_cfg in row_configs(cfg, overrides):
            print(f"--- # {row_cfg.paper}/{row.id} scale={row_cfg.scale} seed={row_cfg.seed}")  # one YAML document each
            print(OmegaConf.to_yaml(row_cfg, resolve="--resolve" in argv))


def _asks_job_cfg(args: list[str]) -> bool:
    return any(flag in args and args[args.index(flag) + 1:args.index(flag) + 2] == ["job"] for flag in ("--cfg", "-c"))


if __name__ == "__main__":
    if _asks_job_cfg(sys.argv[1:]):
        show_cfg(sys.argv[1:])
    else:
        with joined_ranks():  # under DDP: every process finished, or the command fails
            main()
