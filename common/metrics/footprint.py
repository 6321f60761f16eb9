"""Static model size: parameter counts and memory footprint."""
from __future__ import annotations

from torch import nn

__all__ = ["parameter_count", "memory_footprint"]


def parameter_count(model: nn.Module) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}`` number of parameter elements (shared tensors once)."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():  # nn.Module.parameters() already de-duplicates shared params
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return {"total": total, "trainable": trainable}


def memory_footprint(model: nn.Module, buffers: bool = True) -> int:
    """Bytes taken by the parameters (and buffers, e.g. BatchNorm statistics) of ``model``.

    Each tensor is counted once (``numel * element_size``); gradients, optimizer state and
    activations are not included (NeuroBench's "footprint" convention).
    """
    seen: set[int] = set()
    n = 0
    tensors = list(model.parameters()) + (list(model.buffers()) if buffers else [])
    for t in tensors:
        if id(t) in seen:
            continue
        seen.add(id(t))
        n += t.numel() * t.element_size()
    return n
