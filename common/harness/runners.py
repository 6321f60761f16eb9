"""The common fit/test runner: :func:`train_test` (the runner of single-stage rows), :func:`fit_and_test` (a
fit/test stage built from the config, for multi-stage runners) and :func:`fit_test` (fit and test a module a
runner built itself, e.g. DIET-SNN's converted SNN).

A runner is ``fn(cfg, ctx) -> {"metrics": {...}, "extras": {...}}``. Torch threads (``threads``) are set and
restored by the harness (:func:`common.harness.run.run_row`), not here.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Optional

import lightning as L
from omegaconf import DictConfig

from .context import RunContext

__all__ = ["train_test", "fit_and_test", "fit_test"]


def fit_test(ctx: RunContext, stage_dir: Path, module: L.LightningModule, datamodule: L.LightningDataModule,
             name: str = "train", test_ckpt: str = "best", **trainer_overrides) -> dict:
    """Fit ``module`` in ``stage_dir`` (resumable), test the ``"best"`` or ``"last"`` checkpoint; return metrics.

    Metrics: the module's test metrics (``test/acc``, ``test/loss``, with ``energy=True`` also ``test/energy/*``
    and, for spiking models, ``test/spikes_per_neuron_step``), ``epochs`` and ``train/epoch_seconds`` (median
    over epochs: the first carries one-off warm-up costs). ``trainer_overrides`` go to the Trainer (a stage's
    own ``max_epochs``, ``limit_*_batches``).
    """
    if test_ckpt not in ("best", "last"):
        raise ValueError(f"test_ckpt must be 'best' or 'last', got {test_ckpt!r}")
    trainer = ctx.trainer(stage_dir, name, **trainer_overrides)
    best = ctx.fit(trainer, module, datamodule, stage_dir)
    ckpt = best if test_ckpt == "best" and best else str(Path(stage_dir) / "checkpoints" / "last.ckpt")
    metrics = ctx.test(trainer, module, datamodule, ckpt)
    metrics["epochs"] = float(trainer.current_epoch)
    secs = ctx.extras.get("train_epoch_seconds", {}).get(Path(stage_dir).name, [])
    if secs:
        metrics["train/epoch_seconds"] = float(statistics.median(secs))
    ctx.log_energy_table(trainer, getattr(module, "energy_report", {}).get("test"))
    ctx.close_logger(trainer)
    return metrics


def fit_and_test(cfg: DictConfig, ctx: RunContext, stage_dir: Path, module_cfg: Any = None, name: str = "train",
                 test_ckpt: str = "best") -> dict:
    """A stage: seed with ``cfg.seed``, instantiate ``cfg.data`` and ``module_cfg`` (default ``cfg.module``),
    :func:`fit_test`. Extras: the per-layer energy/activity tables, every epoch's seconds, the data's
    ``time_steps``/``input_size``."""
    ctx.seed_everything(int(cfg.seed))
    dm = ctx.instantiate(cfg.data)
    module = ctx.instantiate(cfg.module if module_cfg is None else module_cfg)
    metrics = fit_test(ctx, stage_dir, module, dm, name, test_ckpt)
    energy: Optional[dict] = getattr(module, "energy_report", {}).get("test")
    secs = ctx.extras.get("train_epoch_seconds", {}).get(Path(stage_dir).name, [])
    extras = {"energy": energy, "train_epoch_seconds": secs,
              "time_steps": getattr(dm, "time_steps", None), "input_size": getattr(dm, "input_size", None)}
    return {"metrics": metrics, "extras": extras}


def train_test(cfg: DictConfig, ctx: RunContext) -> dict:
    """One training stage followed by a test (``test_ckpt``: ``"best"``, the default, or ``"last"``)."""
    test_ckpt = str(cfg.get("test_ckpt") or "best")
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": test_ckpt}
    return ctx.stage("train", lambda d: fit_and_test(cfg, ctx, d, cfg.module, "train", test_ckpt), depends)
