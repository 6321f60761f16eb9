"""Sequence classification: :class:`ClassificationModule` on time-first, variable-length batches.

Batches are :class:`common.data.sequence.SeqBatch` ``(x [T, B, ...], y [B], lengths [B])``, the one
convention of every sequence data module. **Model call convention:** ``model(x, lengths) -> logits
[B, classes]``; ``lengths`` (int64, on ``x``'s device) says how many leading steps of each sequence are
real, and ``common.data.sequence.length_mask(lengths, T)`` turns it into the ``[T, B]`` mask that masked
neurons take. A model that integrates its readout over time divides by each sequence's own length
(:func:`masked_time_mean`), so padding changes neither the logits nor the loss; :func:`last_step`
picks each sequence's last real step (readout from a final state).

Everything else (cross-entropy with label smoothing, accuracy, optimizer/scheduler, evaluation seeding,
the optional energy monitor with samples = sequences) is :class:`ClassificationModule`'s. The op counter
hooks count what the model computes, padded steps included: bucket lengths to keep padding small.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.sequence import SeqBatch, length_mask
from .module import ClassificationModule

__all__ = ["SequenceClassificationModule", "masked_time_mean", "last_step"]


def _lengths_like(x: Tensor, lengths: Tensor) -> Tensor:
    lengths = torch.as_tensor(lengths, device=x.device).long()
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[1]:
        raise ValueError(f"lengths must be [B] with B = x.shape[1] = {x.shape[1]}, got shape {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > x.shape[0]).any()):
        raise ValueError(f"lengths must lie in [1, T={x.shape[0]}], got {lengths.tolist()}")
    return lengths


def masked_time_mean(x: Tensor, lengths: Tensor) -> Tensor:
    """Mean over the real steps of each sequence: ``x [T, B, ...]`` -> ``[B, ...]``.

    ``out[b] = sum_{t < lengths[b]} x[t, b] / lengths[b]``; padded steps (whatever they hold, even NaN)
    do not contribute, so a padded batch reads out exactly like each sequence alone.
    """
    lengths = _lengths_like(x, lengths)
    mask = length_mask(lengths, x.shape[0]).view(*x.shape[:2], *([1] * (x.dim() - 2)))
    total = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(0)
    return total / lengths.view(-1, *([1] * (x.dim() - 2))).to(x.dtype)


def last_step(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence's last real step: ``x [T, B, ...]`` -> ``x[lengths[b] - 1, b]`` as ``[B, ...]``."""
    lengths = _lengths_like(x, lengths)
    return x[lengths - 1, torch.arange(x.shape[1], device=x.device)]


class SequenceClassificationModule(ClassificationModule):
    """:class:`ClassificationModule` for :class:`SeqBatch` batches; the model is called as
    ``model(x [T, B, ...], lengths [B]) -> [B, classes]`` (see the module docstring). Same arguments
    and logged metrics as :class:`ClassificationModule`."""

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:  # type: ignore[override]
        return self.model(x, lengths)

    def _logits(self, batch) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, SeqBatch):
            if isinstance(batch, (tuple, list)) and len(batch) in (3, 4):
                batch = SeqBatch(*batch)
            else:
                raise TypeError("SequenceClassificationModule expects SeqBatch(x [T, B, ...], y [B], lengths [B]) "
                                f"batches (common.data.sequence.collate_classification), got {type(batch).__name__}")
        if batch.y.dim() != 1:
            raise ValueError(f"sequence classification needs one label per sequence (y [B]), got y of shape "
                             f"{tuple(batch.y.shape)}; use Seq2SeqModule for token targets")
        lengths = batch.lengths.to(batch.x.device)
        logits = self(batch.x, lengths)
        if logits.shape[0] != batch.y.shape[0] or logits.dim() != 2:
            raise ValueError(f"model(x, lengths) must return [B, classes] with B = {batch.y.shape[0]}, "
                             f"got {tuple(logits.shape)}")
        return logits, batch.y
