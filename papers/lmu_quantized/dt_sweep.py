"""Accuracy and bit metrics of a trained hybrid model against ``dt`` (the paper's "accuracy vs dt" curves).

:func:`evaluate_at_dts` sets ``dt`` of every spiking :class:`~common.neurons.QuantizingNeuron` of the model to each
value in turn, evaluates the batches (``model(x, lengths)`` on :class:`~common.data.sequence.SeqBatch` or
``(x, y)``), and returns per ``dt``: accuracy, mean cross-entropy and the :class:`common.metrics.bits.QuantizedActivity`
metrics (signed counts). The stochastic initial voltages follow :func:`common.stochastic.seed_evaluation` with
``eval_seed``, freshly for each ``dt``, so every ``dt`` sees the same draws. The model's ``dt`` values and
training mode are restored afterwards.

Move to common: model-agnostic (any model with quantizing neurons).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common.metrics.bits import QuantizedActivityMonitor
from common.metrics.measure import model_inputs
from common.neurons.quantize import quantizing_neurons
from common.stochastic import seed_evaluation

__all__ = ["evaluate_at_dts"]


@torch.no_grad()
def evaluate_at_dts(model: nn.Module, batches: Iterable, dts: Sequence[float], eval_seed: int = 0) -> list[dict]:
    """``[{"dt", "acc", "loss", "n", <bit metrics>...}, ...]`` in the order of ``dts`` (see the module docstring)."""
    neurons = [n for n in quantizing_neurons(model) if n.spiking]
    if not neurons:
        raise ValueError("the model has no spiking QuantizingNeuron: nothing depends on dt")
    batches = list(batches)
    saved = [float(n.dt) for n in neurons]
    was_training = model.training
    model.eval()
    out = []
    try:
        for dt in dts:
            for n in neurons:
                n.set_dt(float(dt))
            seed_evaluation(model, eval_seed)
            correct, total, loss = 0, 0, 0.0
            with QuantizedActivityMonitor(model, signed=True, neurons=neurons) as mon:
                for batch in batches:
                    args, y = model_inputs(batch)
                    logits = model(*args)
                    correct += int((logits.argmax(-1) == y).sum())
                    loss += float(F.cross_entropy(logits, y, reduction="sum"))
                    total += int(y.shape[0])
                stats = mon.compute()
            out.append({"dt": float(dt), "acc": correct / max(total, 1), "loss": loss / max(total, 1), "n": total,
                        **stats})
    finally:
        for n, dt in zip(neurons, saved):
            n.set_dt(dt)
        model.train(was_training)
    return out
