"""One batch convention for every sequence data module: time-first ``[T, B, ...]`` with lengths.

A sequence-classification batch is ``SeqBatch(x, y, lengths)``: ``x`` is ``[T, B, ...]`` padded after
each sequence's end with ``pad_value``, ``y`` the ``[B]`` labels, ``lengths`` the ``[B]`` valid steps.
A sequence-to-sequence batch adds the targets: ``y`` is ``[U, B]`` token ids (``<bos> ... <eos>``, padded
with the pad id) and ``y_lengths`` their ``[B]`` lengths. :func:`length_mask` turns lengths into the
``[T, B]`` boolean mask of valid steps that models and neurons take.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor

__all__ = ["SeqBatch", "pad_time_first", "length_mask", "collate_classification", "collate_seq2seq"]


class SeqBatch(NamedTuple):
    x: Tensor                          # [T, B, ...] time-first, padded
    y: Tensor                          # [B] labels, or [U, B] target tokens (seq2seq)
    lengths: Tensor                    # [B] int64: valid steps of x
    y_lengths: Optional[Tensor] = None  # [B] int64: valid steps of y (seq2seq only)


def pad_time_first(seqs: Sequence[Tensor], pad_value: float = 0) -> tuple[Tensor, Tensor]:
    """Stack variable-length ``[T_i, ...]`` tensors into ``[max T_i, B, ...]`` and their ``[B]`` lengths."""
    if not seqs:
        raise ValueError("pad_time_first: empty batch")
    lengths = torch.tensor([int(s.shape[0]) for s in seqs], dtype=torch.long)
    out = seqs[0].new_full((int(lengths.max()), len(seqs), *seqs[0].shape[1:]), pad_value)
    for b, s in enumerate(seqs):
        out[: s.shape[0], b] = s
    return out, lengths


def length_mask(lengths: Tensor, T: Optional[int] = None) -> Tensor:
    """``[T, B]`` bool: ``mask[t, b]`` is true where step ``t`` of sequence ``b`` is a real (unpadded) step."""
    T = int(lengths.max()) if T is None else int(T)
    return torch.arange(T, device=lengths.device)[:, None] < lengths[None, :]


def collate_classification(batch: Sequence[tuple[Tensor, int]], pad_value: float = 0) -> SeqBatch:
    """``[(x_i [T_i, ...], label_i), ...]`` -> :class:`SeqBatch` with ``x`` ``[T, B, ...]``."""
    xs, ys = zip(*batch)
    x, lengths = pad_time_first(list(xs), pad_value)
    return SeqBatch(x, torch.as_tensor(ys, dtype=torch.long), lengths)


def collate_seq2seq(batch: Sequence[tuple[Tensor, Tensor]], pad_id: int) -> SeqBatch:
    """``[(src_i [S_i], tgt_i [U_i]), ...]`` token ids -> :class:`SeqBatch` (``x`` ``[S, B]``, ``y`` ``[U, B]``)."""
    src, tgt = zip(*batch)
    x, lengths = pad_time_first(list(src), pad_id)
    y, y_lengths = pad_time_first(list(tgt), pad_id)
    return SeqBatch(x, y, lengths, y_lengths)
