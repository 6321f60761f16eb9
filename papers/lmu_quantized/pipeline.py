"""Runner of the hybrid-spiking rows: train and test as :func:`common.harness.runners.train_test`, then evaluate
the tested model at every ``dt`` of ``dt_sweep.dts`` on the first ``dt_sweep.test_batches`` test batches
(:func:`papers.lmu_quantized.dt_sweep.evaluate_at_dts`): the "accuracy and bits against dt" curve of the paper,
stored as ``extras["dt_sweep"]`` (one dict per ``dt``) and plotted by the paper's report. Rows without ``dt_sweep`` are plain
train/test runs.

**Energy.** Every row then counts the tested model's ops on the first ``energy_batches`` test batches
(:func:`common.metrics.measure.measure_ops`; the quantized inputs as graded spikes,
:meth:`papers.lmu_quantized.model.PSMNISTModel.graded_inputs`; the test's stochastic draws): ``test/energy/*`` per
sample in both conventions, the per-layer table in ``extras["energy"]``. Not in every evaluation epoch (the module's
``energy``): hooks on every product at each of 784 steps cost several times the forward pass.
"""
from __future__ import annotations

import itertools

from omegaconf import DictConfig, OmegaConf

from common.harness.context import RunContext
from common.harness.runners import fit_test
from common.metrics.measure import energy_metrics, measure_ops

from .dt_sweep import evaluate_at_dts

__all__ = ["run"]


def run(cfg: DictConfig, ctx: RunContext) -> dict:
    test_ckpt = str(cfg.get("test_ckpt") or "best")
    sweep = cfg.get("dt_sweep")
    sweep = OmegaConf.to_container(sweep, resolve=True) if sweep else None
    energy_batches = int(cfg.get("energy_batches") or 0)
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": test_ckpt,
               "dt_sweep": sweep, "energy_batches": energy_batches}

    def stage(stage_dir):
        ctx.seed_everything(int(cfg.seed))
        dm = ctx.instantiate(cfg.data)
        module = ctx.instantiate(cfg.module)
        metrics = fit_test(ctx, stage_dir, module, dm, "train", test_ckpt)  # the module now holds the tested weights
        extras = {"train_epoch_seconds": ctx.extras.get("train_epoch_seconds", {}).get(stage_dir.name, []),
                  "time_steps": getattr(dm, "time_steps", None), "input_size": getattr(dm, "input_size", None)}
        eval_seed = int(cfg.module.get("eval_seed") or 0)
        if energy_batches:
            model = module.model
            report = measure_ops(model, itertools.islice(dm.test_dataloader(), energy_batches),
                                 graded=model.graded_inputs(), eval_seed=eval_seed)
            metrics.update(energy_metrics(report["totals"], "test/energy"))
            extras["energy"] = report
        if sweep:
            batches = itertools.islice(dm.test_dataloader(), int(sweep["test_batches"]))
            curve = evaluate_at_dts(module.model, batches, [float(d) for d in sweep["dts"]],
                                    eval_seed=eval_seed)
            extras["dt_sweep"] = [{k: float(v) for k, v in point.items()} for point in curve]
        return {"metrics": metrics, "extras": extras}

    return ctx.stage("train", stage, depends)
