"""Generic row runners. A runner is ``fn(cfg, ctx) -> {"metrics": {...}, "extras": {...}}``."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from .context import RunContext

__all__ = ["train_test", "fit_and_test"]


def fit_and_test(cfg: DictConfig, ctx: RunContext, stage_dir: Path, module_cfg, name: str,
                 test_ckpt: str = "best") -> dict:
    """Seed, instantiate data + module, fit (resumable), test; return metrics and energy tables."""
    ctx.seed_everything(int(cfg.seed))
    dm = ctx.instantiate(cfg.data)
    module = ctx.instantiate(module_cfg)
    trainer = ctx.trainer(stage_dir, name)
    best = ctx.fit(trainer, module, dm, stage_dir)
    ckpt = best if test_ckpt == "best" and best else str(Path(stage_dir) / "checkpoints" / "last.ckpt")
    metrics = ctx.test(trainer, module, dm, ckpt)
    metrics["epochs"] = float(trainer.current_epoch)
    ctx.log_energy_table(trainer, getattr(module, "energy_report", {}).get("test"))
    ctx.close_logger(trainer)
    extras = {"energy": getattr(module, "energy_report", {}).get("test"),
              "train_epoch_seconds": ctx.extras.get("train_epoch_seconds", {}).get(Path(stage_dir).name, [])}
    return {"metrics": metrics, "extras": extras}


def train_test(cfg: DictConfig, ctx: RunContext) -> dict:
    """One training stage followed by a test: the runner of single-stage rows."""
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": cfg.test_ckpt}
    return ctx.stage("train", lambda d: fit_and_test(cfg, ctx, d, cfg.module, "train", str(cfg.test_ckpt)), depends)
