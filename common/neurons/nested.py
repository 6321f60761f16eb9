"""Nested time: ``T_inner`` spiking steps per sequence element, state carried across elements.

LITE-SNN runs ``T`` steps per word of a review and the spiking LSTM ``T = 2`` steps per frame; both are one
setting here. Each element's features are the input at every one of its inner steps (direct encoding), and the
network's state flows on from the last inner step of element ``l`` to the first of element ``l + 1``. So a
nested run *is* a flat run over the input with each element repeated ``T_inner`` times — which is how
:func:`run_nested` runs a multi-step model (one call over ``L * T_inner`` steps: the fused kernels apply) —
and the per-element output folds the element's ``T_inner`` outputs with ``reduce``:

- ``"sum"`` (spike count, the default), ``"mean"`` (rate), ``"last"`` (the last inner step's output, e.g. an
  LSTM's hidden state), ``"none"`` (keep them all: ``[L, T_inner, B, ...]``).

A mask ``[L, B]`` (False at padded elements) is repeated to ``[L * T_inner, B]``: padded elements leave the
state untouched and output 0 (:class:`~common.neurons.LIF` and the cells implement this; see their ``mask``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from .functional import step_mask

__all__ = ["REDUCTIONS", "repeat_steps", "fold_steps", "run_nested", "run_nested_cell"]

REDUCTIONS = ("sum", "mean", "last", "none")


def _check(T_inner: int, reduce: str) -> int:
    if int(T_inner) != T_inner or int(T_inner) < 1:
        raise ValueError(f"T_inner must be a positive integer, got {T_inner!r}")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    return int(T_inner)


def repeat_steps(x: torch.Tensor, T_inner: int) -> torch.Tensor:
    """``[L, B, ...]`` -> ``[L * T_inner, B, ...]``: element ``l`` fills steps ``l*T_inner ... (l+1)*T_inner - 1``
    (works for ``[L, B]`` masks and token ids too)."""
    return x.repeat_interleave(_check(T_inner, "sum"), dim=0)


def fold_steps(y: torch.Tensor, T_inner: int, reduce: str = "sum") -> torch.Tensor:
    """``[L * T_inner, B, ...]`` -> ``[L, B, ...]`` by ``reduce`` over each element's inner steps
    (``"none"``: ``[L, T_inner, B, ...]``)."""
    T_inner = _check(T_inner, reduce)
    if y.shape[0] % T_inner:
        raise ValueError(f"fold_steps: {y.shape[0]} steps are not a multiple of T_inner={T_inner}")
    y = y.reshape(y.shape[0] // T_inner, T_inner, *y.shape[1:])
    if reduce == "sum":
        return y.sum(1)
    if reduce == "mean":
        return y.mean(1)
    if reduce == "last":
        return y[:, -1]
    return y


def run_nested(model: Callable[..., torch.Tensor], x: torch.Tensor, T_inner: int,
               mask: Optional[torch.Tensor] = None, reduce: str = "sum") -> torch.Tensor:
    """Run a multi-step model (``[T, B, ...] -> [T, B, ...]``, time-first output) with ``T_inner`` inner steps
    per element of ``x`` ``[L, B, ...]``; returns ``[L, B, ...]`` (see ``reduce``). ``mask`` ``[L, B]`` is
    passed on as ``model(x, mask=...)`` repeated to ``[L * T_inner, B]``. State carried *between calls* is the
    model's business (``stateful`` neurons, :func:`~common.neurons.detach_states`)."""
    T_inner = _check(T_inner, reduce)
    xs = repeat_steps(x, T_inner)
    y = model(xs) if mask is None else model(xs, mask=repeat_steps(mask, T_inner))
    if not torch.is_tensor(y) or y.dim() < 1 or y.shape[0] != xs.shape[0]:
        raise ValueError(f"run_nested: the model must return a time-first [T, B, ...] tensor with T={xs.shape[0]}, "
                         f"got {tuple(y.shape) if torch.is_tensor(y) else type(y).__name__}")
    return fold_steps(y, T_inner, reduce)


def _map_state(fn: Callable[..., torch.Tensor], *states: Any) -> Any:
    first = states[0]
    if torch.is_tensor(first):
        return fn(*states)
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(_map_state(fn, *parts) for parts in zip(*states)))
    if isinstance(first, (tuple, list)):
        return type(first)(_map_state(fn, *parts) for parts in zip(*states))
    raise TypeError(f"run_nested_cell: unsupported state type {type(first).__name__} (use tensors or tuples)")


def run_nested_cell(cell: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]], x: torch.Tensor, T_inner: int,
                    state: Any = None, mask: Optional[torch.Tensor] = None,
                    reduce: str = "sum") -> tuple[torch.Tensor, Any]:
    """Run an explicit-state step ``out, state = cell(x_t, state)`` (a :class:`~common.neurons.cells.LIFCell`,
    a spiking LSTM cell, a whole step network) ``T_inner`` times per element of ``x`` ``[L, B, ...]``.

    Returns ``(out [L, B, ...], state)`` — ``out`` reduced per element (see ``reduce``), ``state`` after the last
    step, to pass to the next chunk. ``mask`` ``[L, B]``: at a padded element the output is 0 and every state
    tensor of that sample is kept (from rest, i.e. zeros, when ``state`` was ``None``); the cell itself needs
    no mask support. The state's tensors must have the batch on dim 0.
    """
    T_inner = _check(T_inner, reduce)
    outs = []
    for l, xl in enumerate(x.unbind(0)):
        for _ in range(T_inner):
            out, new_state = cell(xl, state)
            if mask is not None:
                m = mask[l]
                out = out * step_mask(m, out)
                old = _map_state(torch.zeros_like, new_state) if state is None else state
                new_state = _map_state(lambda n, o: torch.where(step_mask(m, n), n, o), new_state, old)
            state = new_state
            outs.append(out)
    return fold_steps(torch.stack(outs), T_inner, reduce), state
