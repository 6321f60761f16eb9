"""Products of two activations as modules, so that forward hooks (and the op counter) see them.

``a @ b`` or ``a * b`` written inline in a model is invisible to :class:`common.metrics.OpsMonitor`;
the same product through :class:`MatMul` / :class:`Mul` is counted (:func:`common.metrics.ops.count_matmul`,
:func:`common.metrics.ops.count_mul`): AC when an operand is binary, MAC otherwise, in the papers' and
NeuroBench's conventions. Use :class:`Mul` for the gate products of a recurrent cell built by hand
(``f * c``, ``i * g``), :class:`MatMul` for attention (:class:`common.attention.DotProductAttention`).
"""
from __future__ import annotations

from typing import Union

import torch
from torch import nn

from .metrics.ops import count_matmul, count_mul, register_counter

__all__ = ["MatMul", "Mul"]


class MatMul(nn.Module):
    """``forward(a, b) = torch.matmul(a, b)`` (no parameters)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Mul(nn.Module):
    """``forward(a, b) = a * b`` element-wise, broadcast (no parameters)."""

    def forward(self, a: torch.Tensor, b: Union[torch.Tensor, float]) -> torch.Tensor:
        return a * b


def _operands(args: tuple, kwargs: dict):
    a = args[0] if args else kwargs.get("a")
    b = args[1] if len(args) > 1 else kwargs.get("b")
    return a, b


def _matmul_counter(layer, args, kwargs, neurobench=True, **_):
    a, b = _operands(args, kwargs)
    return None if a is None or b is None else count_matmul(a, b, neurobench)


def _mul_counter(layer, args, kwargs, **_):
    a, b = _operands(args, kwargs)
    return None if a is None or b is None else count_mul(a, b)


register_counter(MatMul, _matmul_counter)
register_counter(Mul, _mul_counter)
