"""Spike-rate and activation-sparsity metrics (torchmetrics, DDP-correct sum states).

Definitions (per spiking layer, over everything seen since the last reset):

* ``spike_rate``: spikes per neuron per time step = total spikes / (neurons x T x samples);
  the denominator is the number of output elements the layer produced, so it is exact for
  multi-step ``[T, B, ...]`` calls and for single-step ``[B, ...]`` calls made ``T`` times.
* ``spikes_per_neuron``: spikes per neuron per sample (over all ``T`` steps) =
  total spikes / (neurons x samples).
* ``sparsity``: fraction of zero outputs = ``1 - spike_rate`` for binary spikes.

A "spike" is any non-zero output (so graded or signed spikes count once).
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

__all__ = ["SpikeActivity", "spike_counts"]

_F64 = torch.float64


def spike_counts(output: torch.Tensor, step_mode: str = "multi") -> tuple[torch.Tensor, int, int]:
    """``(spikes, elements, neurons)`` of one neuron call; ``neurons`` per sample per step.

    ``step_mode="multi"``: ``output`` is ``[T, B, ...]``; ``"single"``: ``[B, ...]``.
    """
    lead = 2 if (step_mode == "multi" and output.dim() >= 2) else 1
    rows = 1
    for d in output.shape[:lead]:
        rows *= int(d)
    numel = output.numel()
    neurons = numel // max(rows, 1)
    return (output.detach() != 0).sum().to(_F64), numel, neurons


class SpikeActivity(Metric):
    """Per-layer spike statistics of ``num_layers`` spiking layers.

    ``update(index, output, step_mode)`` accumulates one call of layer ``index``;
    ``update_samples(n)`` counts samples (needed for ``spikes_per_neuron``).
    ``compute()`` returns a dict of per-layer float64 tensors.
    """

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, num_layers: int, **kwargs):
        kwargs.setdefault("compute_with_cache", False)
        super().__init__(**kwargs)
        self.num_layers = int(num_layers)
        self.add_state("spikes", torch.zeros(self.num_layers, dtype=_F64), dist_reduce_fx="sum")
        self.add_state("elements", torch.zeros(self.num_layers, dtype=_F64), dist_reduce_fx="sum")
        self.add_state("neurons", torch.zeros(self.num_layers, dtype=_F64), dist_reduce_fx="max")
        self.add_state("samples", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, index: int, output: torch.Tensor, step_mode: str = "multi") -> None:  # type: ignore[override]
        s, numel, neurons = spike_counts(output, step_mode)
        self.spikes[index] += s.to(self.spikes.device)
        self.elements[index] += numel
        self.neurons[index].clamp_(min=float(neurons))  # constant per layer; max is sync-free

    def update_samples(self, n: int) -> None:
        self.samples += float(n)

    def compute(self) -> dict[str, torch.Tensor]:
        el = self.elements.clamp_min(1)
        denom = (self.neurons * self.samples).clamp_min(1)
        rate = self.spikes / el
        return {
            "spikes": self.spikes,
            "elements": self.elements,
            "neurons": self.neurons,
            "samples": self.samples,
            "spike_rate": rate,
            "spikes_per_neuron": self.spikes / denom,
            "sparsity": torch.where(self.elements > 0, 1 - rate, torch.zeros_like(rate)),
        }
