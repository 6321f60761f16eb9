"""Layers for the multi-step ``[T, B, ...]`` layout."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["TimeDistributed", "SequenceDropout", "merge_time", "split_time"]


def merge_time(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...] -> [T*B, ...]`` (a view)."""
    return x.flatten(0, 1)


def split_time(x: torch.Tensor, T: int) -> torch.Tensor:
    """``[T*B, ...] -> [T, B, ...]``."""
    return x.reshape((T, x.shape[0] // T) + tuple(x.shape[1:]))


class TimeDistributed(nn.Sequential):
    """Apply stateless layers (conv, linear, pooling, flatten) to every step at once.

    The ``T`` steps are merged into the batch, so one conv call serves all steps. The wrapped
    layers are ordinary children (``TimeDistributed(conv)[0] is conv``), so hooks and the op
    counters in :mod:`common.metrics` see them unchanged; they see ``T*B`` samples per call.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        T = x.shape[0]
        return split_time(super().forward(merge_time(x)), T)


class SequenceDropout(nn.Module):
    """Dropout whose mask is drawn once per input and reused at every time step (DIET-SNN).

    Input ``[T, B, ...]``; the mask has shape ``[1, B, ...]``. Inverted scaling by ``1/(1-p)``
    as :class:`torch.nn.Dropout`. Identity in eval mode or with ``p = 0``.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must lie in [0, 1), got {p}")
        self.p = float(p)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty((1,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)
