"""Scaled dot-product attention whose two products are modules, so the op counter sees them.

:class:`DotProductAttention` computes ``A = softmax(scale * Q K^T)`` (masked) and ``A V`` through two
:class:`common.products.MatMul` children (``scores`` and ``mix``): :class:`common.metrics.OpsMonitor`
counts each as ACs when an operand is binary (spiking ``Q``/``K``/``V``) and as MACs otherwise, in the
papers' and NeuroBench's conventions (:func:`common.metrics.ops.count_matmul`). The scaling, the softmax
and the masking are not counted (neither convention counts non-linearities). Projections, heads and
residuals belong to the model (``nn.Linear`` layers are counted on their own).
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import nn

from .products import MatMul

__all__ = ["DotProductAttention"]


class DotProductAttention(nn.Module):
    """``out = A V`` with ``A = softmax(scale * Q K^T)`` over the keys.

    Args:
        scale: factor on the scores; ``"auto"`` = ``1/sqrt(d)`` (``d`` = the last size of ``Q``), or a number.
        softmax: normalise the scores with a softmax (``False``: ``A`` = the masked, scaled scores, as in
            spiking self-attention without softmax).
        dropout: dropout on ``A`` (training only).

    ``forward(q [..., L, d], k [..., S, d], v [..., S, dv], key_mask=None, causal=False, need_weights=False)``:
    leading dims are batch dims (heads included; for time-first ``[S, B, d]`` tensors pass
    ``x.transpose(0, 1)``). ``key_mask`` (bool, broadcastable to ``[..., S]``) is true for real keys, as
    :func:`common.data.sequence.length_mask` (transposed to ``[B, S]``): padded keys get no weight, and a
    query with no real key gets ``A = 0``. ``causal=True`` lets query ``i`` see keys ``j <= i``. Returns
    ``out [..., L, dv]``, or ``(out, A)`` with ``need_weights=True``.
    """

    def __init__(self, scale: Union[str, float] = "auto", softmax: bool = True, dropout: float = 0.0):
        super().__init__()
        if scale != "auto" and not (isinstance(scale, (int, float)) and math.isfinite(scale)):
            raise ValueError(f"scale must be 'auto' or a finite number, got {scale!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.scale, self.softmax, self.dropout = scale, bool(softmax), float(dropout)
        self.scores = MatMul()  # Q K^T
        self.mix = MatMul()  # A V

    def extra_repr(self) -> str:
        return f"scale={self.scale}, softmax={self.softmax}, dropout={self.dropout}"

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: Optional[torch.Tensor] = None,
                causal: bool = False, need_weights: bool = False):
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise ValueError(f"attention shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
        s = self.scores(q, k.transpose(-2, -1))  # [..., L, S]
        scale = 1.0 / math.sqrt(q.shape[-1]) if self.scale == "auto" else float(self.scale)
        s = s * scale
        keep = None
        if key_mask is not None:
            keep = key_mask.to(torch.bool).unsqueeze(-2)  # [..., 1, S]
        if causal:
            L, S = s.shape[-2], s.shape[-1]
            tri = torch.ones(L, S, dtype=torch.bool, device=s.device).tril()
            keep = tri if keep is None else keep & tri
        if self.softmax:
            if keep is not None:
                s = s.masked_fill(~keep, torch.finfo(s.dtype).min)
            a = torch.softmax(s, dim=-1)
        else:
            a = s
        if keep is not None:
            a = a.masked_fill(~keep, 0.0)  # also zeroes rows with no real key
        if self.dropout and self.training:
            a = nn.functional.dropout(a, self.dropout)
        out = self.mix(a, v)
        return (out, a) if need_weights else out
