"""Op counts and energy of a trained model on a few batches, outside the training loop.

:class:`common.lightning.module.ClassificationModule` counts ops in every validation and test epoch when
``energy=True``. For a model whose hooks are costly (a recurrent cell stepping 784 times, every product hooked at
every step) :func:`measure_ops` counts the tested model once, on a given number of batches, and returns the same
report as the module (``{"totals", "layers", "activity"}``: :meth:`OpsMonitor.compute`, :meth:`~OpsMonitor.table`,
:meth:`~OpsMonitor.activity`). Counts are per sample; the batches' labels only give the number of samples.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional

import torch
from torch import nn

from common.stochastic import seed_evaluation

from .energy import EnergyModel
from .monitor import OpsMonitor

__all__ = ["energy_metrics", "measure_ops", "model_inputs"]


def model_inputs(batch) -> tuple[tuple, torch.Tensor]:
    """``(args, y)`` of a batch: ``((x, lengths), y)`` for a :class:`~common.data.sequence.SeqBatch` (anything
    with ``lengths``), ``((x,), y)`` for an ``(x, y, ...)`` tuple."""
    if hasattr(batch, "lengths"):
        return (batch.x, batch.lengths), batch.y
    return (batch[0],), batch[1]


def energy_metrics(totals: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The loggable scalars of an energy report's ``totals``: ``{f"{prefix}/{key}": value}`` for every finite
    number (the totals also hold non-numeric entries, and ratios that are NaN when nothing was counted)."""
    return {f"{prefix}/{k}": float(v) for k, v in totals.items() if isinstance(v, (int, float)) and math.isfinite(v)}


@torch.no_grad()
def measure_ops(model: nn.Module, batches: Iterable, graded: Optional[Mapping[str, Any]] = None,
                energy: Optional[EnergyModel] = None, eval_seed: Optional[int] = None) -> dict:
    """Count ``model(*args)`` over ``batches`` in eval mode (see the module docstring).

    ``graded``: as :class:`OpsMonitor`'s (layer name -> height of one graded spike or its quantizer).
    ``eval_seed``: reseed the model's stochastic modules first (:func:`common.stochastic.seed_evaluation`), so that
    the counted pass sees the same draws as the test. The model's training mode is restored."""
    was_training = model.training
    model.eval()
    if eval_seed is not None:
        seed_evaluation(model, int(eval_seed))
    mon = OpsMonitor(model, energy=energy, batch_dim=None, graded=graded)
    try:
        with mon:
            for batch in batches:
                args, y = model_inputs(batch)
                model(*args)
                mon.update_samples(int(y.shape[0]))
        return {"totals": mon.compute(), "layers": mon.table(), "activity": mon.activity()}
    finally:
        model.train(was_training)
