#!/usr/bin/env python
"""Reproduce a paper's table: ``python scripts/reproduce.py paper=<name> [row=<id>] [scale=full|mini|smoke]``.

Every Hydra override works (``trainer=gpu``, ``logger=wandb``, ``seed=1``, ``-m seed=0,1``,
``ckpt_path=...``, ``trainer.max_epochs=3``). Each row's experiment config is
``configs/experiment/<paper>/<row>.yaml``; precedence: experiment < scale < command line.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a plain checkout too
os.environ.setdefault("PROJECT_ROOT", str(ROOT))  # configs/paths: outputs, runs and results live in the repo

import hydra  # noqa: E402
from hydra import compose  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from common.harness import run_row, apply_scale, select_rows  # noqa: E402
from common.registry import list_papers  # noqa: E402


def _select_from_argv(argv: list[str]) -> None:
    """Validate paper/row/scale early and add the first selected row's experiment to the primary
    composition, so that overrides of experiment keys (``module.optimizer.lr=...``) are accepted."""
    if any(a.startswith(("+experiment=", "--help", "-h", "--cfg", "--info", "--hydra-help")) for a in argv[1:]):
        return
    args = dict(a.split("=", 1) for a in argv[1:] if "=" in a and not a.startswith(("-", "+", "~", "hydra.")))
    paper, row, scale = args.get("paper"), args.get("row", "all"), args.get("scale", "mini")
    if not paper or any("," in v or "(" in v for v in (paper, row, scale)):
        return  # missing paper is reported in main; sweeps over paper/row/scale compose per job
    try:
        rows = select_rows(paper, row, scale)
    except (KeyError, ValueError) as e:
        raise SystemExit(f"error: {e.args[0]}") from None
    argv.append(f"+experiment={paper}/{rows[0].id}")


@hydra.main(config_path="../configs", config_name="reproduce", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if not cfg.get("paper"):
        raise SystemExit(f"say which paper to reproduce: paper=<name>, one of {', '.join(list_papers())}")
    try:
        rows = select_rows(str(cfg.paper), str(cfg.row), str(cfg.scale))
    except (KeyError, ValueError) as e:
        raise SystemExit(f"error: {e.args[0]}") from None
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("row=", "+experiment="))]
    # extra config search paths (e.g. papers registered outside this repo) must reach compose() too
    searchpath = [o for o in hydra_cfg.overrides.hydra if o.startswith("hydra.searchpath=")]
    failures = []
    for row in rows:
        row_cfg = compose(config_name="reproduce", overrides=[*searchpath, *overrides, f"row={row.id}",
                                                              f"+experiment={cfg.paper}/{row.id}"])
        if "runner" not in row_cfg:
            raise SystemExit(f"error: no experiment config for row {row.id}: expected "
                             f"configs/experiment/{cfg.paper}/{row.id}.yaml with a `runner:` entry")
        row_cfg = apply_scale(row_cfg, str(cfg.scale), overrides)
        result = run_row(row_cfg, row)
        failures += [f"{row.id}:{k}" for k, v in result["tolerance"].items() if not v["ok"]]
    if failures and cfg.get("fail_on_tolerance"):
        raise SystemExit(f"metrics outside their tolerance band: {', '.join(failures)}")


if __name__ == "__main__":
    _select_from_argv(sys.argv)
    main()
