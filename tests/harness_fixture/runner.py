"""Test runners and callbacks for the harness tests."""
from __future__ import annotations

import os

import lightning as L
import torch

from common.harness.runners import fit_and_test


class CrashAfterEpoch(L.Callback):
    """Kill the process (no cleanup, like SIGKILL) when epoch ``epoch`` starts in stage ``stage``.
    It does not change what a finished run computes, so it is not part of the stage hash."""

    result_neutral = True

    def __init__(self, epoch: int, stage: str):
        self.epoch, self.stage = epoch, stage

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch and self.stage in str(trainer.default_root_dir):
            os._exit(17)


def two_stage(cfg, ctx):
    """Stage 'pre': train; stage 'fine': load 'pre' weights, train again at a lower lr, test."""
    pre = ctx.stage("pre", lambda d: {**fit_and_test(cfg, ctx, d, cfg.module, "pre"),
                                      "weights": str(d / "checkpoints" / "last.ckpt")},
                    depends={"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer})

    def fine(d):
        module_cfg = cfg.module.copy()
        module_cfg.optimizer.lr = float(cfg.module.optimizer.lr) / 10
        orig = ctx.instantiate

        def instantiate_with_weights(node, **kw):
            obj = orig(node, **kw)
            if node is module_cfg:
                state = torch.load(pre["weights"], map_location="cpu", weights_only=True)["state_dict"]
                obj.load_state_dict(state)
            return obj

        ctx.instantiate = instantiate_with_weights
        try:
            return fit_and_test(cfg, ctx, d, module_cfg, "fine")
        finally:
            ctx.instantiate = orig

    out = ctx.stage("fine", fine, depends={"pre": pre, "module": cfg.module})
    out["metrics"]["pre/test/acc"] = pre["metrics"]["test/acc"]
    return out


class PoisonWeights(L.Callback):
    """Simulate divergence: set every weight to NaN when epoch ``epoch`` starts."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))


class FailOnRank(L.Callback):
    """Raise on global rank ``rank`` only, when testing ends (after rank 0 has its results)."""

    def __init__(self, rank: int):
        self.rank = rank

    def on_test_end(self, trainer, pl_module):
        if trainer.global_rank == self.rank:
            raise RuntimeError(f"FailOnRank: rank {self.rank} fails on purpose")
