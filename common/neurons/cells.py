"""Explicit-state spiking cells (Norse style): ``out, state = cell(x, state)`` for one time step.

A cell keeps nothing between calls: the membrane travels in a typed tuple (:class:`LIFState`), so the same
cell can sit inside any recurrent loop (a spiking LSTM's gates, a decoder step, :func:`.nested.run_nested_cell`)
and truncated BPTT is ``state = LIFState(state.v.detach())`` — or :func:`detach_state` for any state tuple.
``state=None`` starts from rest (membrane 0).

:class:`LIFCell` / :class:`IFCell` are :class:`~common.neurons.LIF` / :class:`~common.neurons.IF` in
single-step mode with the state made explicit: the same constructor (leak, threshold, reset modes, detached
reset, surrogates, trainable per-layer or per-channel leak/threshold and their clamping through
:func:`~common.neurons.constrain_parameters`) and the same step function
(:func:`~common.neurons.functional.lif_step`); a cell looped over ``T`` equals the multi-step module. The fused
kernels fuse a whole time loop, so a single step has nothing to fuse: over a full sequence that needs no
per-step interaction, use the multi-step module (``backend="auto"``).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import torch

from .functional import as_param_tensor, lif_step, step_mask
from .modules import IF, LIF

__all__ = ["LIFState", "LIFCell", "IFCell", "detach_state"]


class LIFState(NamedTuple):
    """State of an IF/LIF cell: the membrane after the step's reset, shaped like the input ``[B, ...]``."""

    v: torch.Tensor


def detach_state(state: Any) -> Any:
    """The same state (a tensor, ``None``, or a possibly nested tuple/NamedTuple/list/dict of them) with every
    tensor detached: truncated BPTT across batches or chunks for explicit-state cells."""
    if state is None:
        return None
    if torch.is_tensor(state):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"detach_state: unsupported state type {type(state).__name__}")


class _CellMixin:
    """Single-step forward with explicit state, shared by :class:`LIFCell` and :class:`IFCell`."""

    def _init_cell(self, kwargs: dict) -> dict:
        for key in ("step_mode", "stateful"):
            if key in kwargs:
                raise ValueError(f"{type(self).__name__} is single-step with explicit state; it takes no {key!r}")
        backend = kwargs.pop("backend", "auto")  # accepted for config symmetry with LIF
        if backend not in ("auto", "torch"):
            raise ValueError(f"{type(self).__name__}: a single step has no fused kernel (backend={backend!r}); "
                             "run whole sequences through the multi-step LIF/IF to use one")
        return dict(kwargs, step_mode="single", stateful=False)

    def forward(self, x: torch.Tensor, state: Optional[LIFState] = None,
                mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, LIFState]:
        """One step: ``x`` ``[B, ...]`` -> ``(spikes [B, ...], LIFState)``. ``mask`` (``[B]`` bool, False for
        a padded step of that sample) gives 0 spikes and returns that sample's state unchanged."""
        if state is None:
            v = torch.zeros_like(x)
        else:
            v = state.v if isinstance(state, LIFState) else state[0]
            if v.shape != x.shape:
                raise ValueError(f"{type(self).__name__}: state.v has shape {tuple(v.shape)} but the input has shape "
                                 f"{tuple(x.shape)}; pass state=None to start new sequences from rest")
        leak = as_param_tensor(self.leak, x.dim(), x)
        thr = as_param_tensor(self.threshold, x.dim(), x)
        spike, v_next, h = lif_step(x, v, leak, thr, self.surrogate, self.reset, self.detach_reset)
        if mask is not None:
            m = step_mask(mask, x)
            spike, v_next, h = spike * m, torch.where(m, v_next, v), torch.where(m, h, v)
        if self.record_membrane:
            self.membrane = h
        return spike, LIFState(v_next)


class LIFCell(_CellMixin, LIF):
    """Explicit-state LIF: ``spikes, state = cell(x, state)``; takes :class:`~common.neurons.LIF`'s arguments
    (except ``step_mode``/``stateful``; ``backend`` only as ``"auto"``/``"torch"``)."""

    def __init__(self, leak: float = 1.0, threshold: float = 1.0, **kwargs):
        super().__init__(leak, threshold, **self._init_cell(kwargs))


class IFCell(_CellMixin, IF):
    """Explicit-state IF (leak fixed at 1): ``spikes, state = cell(x, state)``; state :class:`LIFState`."""

    def __init__(self, threshold: float = 1.0, **kwargs):
        super().__init__(threshold, **self._init_cell(kwargs))
