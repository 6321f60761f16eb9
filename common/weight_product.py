"""``x @ W`` as a module, for a weight matrix ``W`` its caller owns, so that the op counter sees it.

A recurrent cell written with raw parameters (``h @ self.W_h``: the LMU) hides its products from
:class:`common.metrics.OpsMonitor`'s forward hooks. Routing each through its own :class:`WeightProduct` child
(``self.h_to_h(h, self.W_h)``) makes it a counted layer, counted exactly as ``nn.Linear`` without bias with
``in_features, out_features = W.shape`` (:func:`common.metrics.ops.count_linear`): dense MACs for analog inputs,
ACs per spike for binary ones, ``|n|`` ACs per input of ``n`` graded spikes (``OpsMonitor(graded={name: ...})``),
and NeuroBench's effective ops from the non-zeros of ``W``. The values are those of ``x @ W``, bit for bit.

(Kept in its own file: :mod:`common.products` is imported by every run, and a new layer there would mark every
committed result stale.)
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from .metrics.ops import count_linear, register_counter

__all__ = ["WeightProduct"]


class WeightProduct(nn.Module):
    """``forward(x, W) = x @ W`` for ``x [..., in]`` and ``W [in, out]`` (no parameters of its own)."""

    def forward(self, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return x @ W


def _counter(layer, args, kwargs, unit=None, **_):
    x = args[0] if args else kwargs.get("x")
    W = args[1] if len(args) > 1 else kwargs.get("W")
    if x is None or W is None:
        return None
    view = SimpleNamespace(in_features=W.shape[0], out_features=W.shape[1], weight=W.detach().T)
    return count_linear(view, x, unit)


register_counter(WeightProduct, _counter)
