"""Runner of the SPSN rows: train (final epoch kept), test, and record spike statistics and epoch times."""
from __future__ import annotations

import statistics
from pathlib import Path

import torch

from omegaconf import DictConfig

from common.harness.context import RunContext

__all__ = ["train_test"]


def _fit_test(cfg: DictConfig, ctx: RunContext, stage_dir: Path) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dm = ctx.instantiate(cfg.data)
    module = ctx.instantiate(cfg.module)
    trainer = ctx.trainer(stage_dir, "train")
    best = ctx.fit(trainer, module, dm, stage_dir)
    test_ckpt = str(cfg.get("test_ckpt", "last"))
    ckpt = best if test_ckpt == "best" and best else str(Path(stage_dir) / "checkpoints" / "last.ckpt")
    metrics = ctx.test(trainer, module, dm, ckpt)  # eval_seed() reseeds the firing and restarts statistics
    metrics["epochs"] = float(trainer.current_epoch)
    stats = module.model.spike_stats() if hasattr(module.model, "spike_stats") else {}
    if stats:
        metrics["test/spikes_per_neuron_step"] = float(stats["overall"])
    secs = ctx.extras.get("train_epoch_seconds", {}).get(Path(stage_dir).name, [])
    if secs:
        # median over epochs (the first epoch carries one-off warm-up costs)
        metrics["train/epoch_seconds"] = float(statistics.median(secs))
    ctx.close_logger(trainer)
    extras = {"train_epoch_seconds": secs, "spike_stats": stats, "neuron": str(cfg.module.model.neuron),
              "time_steps": getattr(dm, "time_steps", None), "input_size": getattr(dm, "input_size", None)}
    return {"metrics": metrics, "extras": extras}


def train_test(cfg: DictConfig, ctx: RunContext) -> dict:
    """``threads`` (optional, top-level): torch intra-op threads for this row (restored afterwards). The mini
    rows use 1: on the shared 2-core CPU two OpenMP threads wait on each other whenever the other core is
    busy, which made every step 2-5x slower (and the epoch times meaningless) for all four neurons."""
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": cfg.get("test_ckpt")}
    threads = cfg.get("threads")
    depends["threads"] = threads  # epoch times depend on it
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        out = ctx.stage("train", lambda d: _fit_test(cfg, ctx, d), depends)
    finally:
        torch.set_num_threads(before)
    if isinstance(out, dict) and isinstance(out.get("extras"), dict):
        out["extras"].setdefault("torch_threads", int(threads) if threads else before)
    return out
