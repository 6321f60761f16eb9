"""Thin ``nn.Module`` wrappers around :mod:`common.neurons.functional`.

Every neuron takes ``step_mode="multi"`` (input ``[T, B, ...]``, the default) or ``"single"``
(input ``[B, ...]``, state kept between calls until :meth:`SpikingNeuron.reset_state`).
Trainable leak/threshold live in ``nn.Parameter``s (one per layer, or one per channel with
``num_channels``); their clamping rule is a constructor argument applied by :meth:`constrain_`,
which the Lightning module calls after every optimizer step.

Carried state (``stateful=True``, or single-step mode) is made safe for sequences:
:meth:`SpikingNeuron.detach_state` / :func:`detach_states` cut it from the previous batch's graph (truncated
BPTT across batches or chunks: without it the next backward fails), a carried state whose shape does not match
the next input raises (call :func:`reset_states` first) instead of silently restarting from rest, and
``forward(x, mask=)`` (``[T, B]`` bool, True = real step) leaves both the state and the output (0 spikes)
untouched at padded steps.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from ..stochastic import StochasticModule
from ..surrogate import Surrogate, get_surrogate
from .backends import check_backend_name, resolve_backend
from .functional import (
    RESETS,
    as_param_tensor,
    bernoulli_spike,
    integrate_multistep,
    lif_multistep_masked,
    lif_step,
    step_mask,
)

__all__ = ["SpikingNeuron", "LIF", "IF", "BernoulliNeuron", "Integrator", "reset_states", "detach_states",
           "constrain_parameters"]

STEP_MODES = ("multi", "single")


def _bounds(value: Optional[Sequence[Optional[float]]], name: str) -> tuple[Optional[float], Optional[float]]:
    if value is None:
        return (None, None)
    lo, hi = tuple(value)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi}")
    return (None if lo is None else float(lo), None if hi is None else float(hi))


class SpikingNeuron(nn.Module):
    """Base class: step mode, membrane state, and the hooks metrics rely on (outputs are spikes)."""

    emits_spikes = True

    def __init__(self, step_mode: str = "multi", stateful: Optional[bool] = None):
        super().__init__()
        if step_mode not in STEP_MODES:
            raise ValueError(f"step_mode must be one of {STEP_MODES}, got {step_mode!r}")
        self.step_mode = step_mode
        # multi-step calls start from rest unless stateful; single-step calls always carry state
        self.stateful = (step_mode == "single") if stateful is None else bool(stateful)
        self.v: Optional[torch.Tensor] = None

    def reset_state(self) -> None:
        self.v = None

    def detach_state(self) -> None:
        """Keep the carried membrane's value but cut it from the graph that produced it (truncated BPTT)."""
        if self.v is not None:
            self.v = self.v.detach()

    def _initial_v(self, x_step: torch.Tensor) -> Optional[torch.Tensor]:
        """The carried membrane for an input step shaped like ``x_step`` (``None``: start from rest)."""
        if not self.stateful or self.v is None:
            return None
        if self.v.shape != x_step.shape:
            raise ValueError(
                f"{type(self).__name__}: the carried state has shape {tuple(self.v.shape)} but the input step has "
                f"shape {tuple(x_step.shape)}; call reset_state() (or common.neurons.reset_states(model)) before "
                "feeding a batch of another shape")
        return self.v

    def constrain_(self) -> None:
        """Clamp trainable parameters to their allowed range (no-op by default)."""


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire neuron (``leak = 1`` and fixed: IF).

    Args:
        leak: initial leak λ in [0, 1] (``h = λ v + x``).
        threshold: initial threshold θ > 0.
        reset: ``"soft"`` (subtract θ) or ``"hard"`` (to 0).
        detach_reset: cut the gradient through the reset.
        surrogate: a :class:`~common.surrogate.Surrogate` or its name; ``surrogate_alpha`` its scale.
        learn_leak / learn_threshold: make λ / θ trainable.
        num_channels: ``None`` for one λ, θ per layer; ``C`` for one per channel (dim 1 of each step).
        leak_clamp / threshold_clamp: ``(lo, hi)`` applied by :meth:`constrain_` (``None`` = open).
        backend: ``"auto"`` | ``"torch"`` | ``"cpu"`` | ``"triton"`` for the multi-step loop.
        record_membrane: keep the last forward's charge sequence in ``self.membrane``.
    """

    def __init__(
        self,
        leak: float = 1.0,
        threshold: float = 1.0,
        *,
        reset: str = "soft",
        detach_reset: bool = False,
        surrogate: "str | Surrogate" = "triangle",
        surrogate_alpha: Optional[float] = None,
        learn_leak: bool = False,
        learn_threshold: bool = False,
        num_channels: Optional[int] = None,
        leak_clamp: Optional[Sequence[Optional[float]]] = (0.0, 1.0),
        threshold_clamp: Optional[Sequence[Optional[float]]] = (1e-4, None),
        step_mode: str = "multi",
        stateful: Optional[bool] = None,
        backend: str = "auto",
        record_membrane: bool = False,
    ):
        super().__init__(step_mode, stateful)
        leak, threshold = float(leak), float(threshold)
        if not (math.isfinite(leak) and 0.0 <= leak <= 1.0):
            raise ValueError(f"leak must lie in [0, 1], got {leak}")
        if not (math.isfinite(threshold) and threshold > 0.0):
            raise ValueError(f"threshold must be a positive finite number, got {threshold}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        if num_channels is not None and int(num_channels) < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        self.reset, self.detach_reset = reset, bool(detach_reset)
        self.surrogate = get_surrogate(surrogate, surrogate_alpha)
        self.backend = check_backend_name(backend)
        self.record_membrane = record_membrane
        self.membrane: Optional[torch.Tensor] = None
        self.leak_clamp = _bounds(leak_clamp, "leak_clamp")
        self.threshold_clamp = _bounds(threshold_clamp, "threshold_clamp")
        shape = () if num_channels is None else (int(num_channels),)
        self._make_param("leak", torch.full(shape, leak), learn_leak)
        self._make_param("threshold", torch.full(shape, threshold), learn_threshold)

    def _make_param(self, name: str, value: torch.Tensor, trainable: bool) -> None:
        if trainable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def extra_repr(self) -> str:
        per = "layer" if self.leak.dim() == 0 else f"channel[{self.leak.shape[0]}]"
        return (
            f"reset={self.reset}, detach_reset={self.detach_reset}, surrogate={self.surrogate}, "
            f"learn_leak={isinstance(self.leak, nn.Parameter)}, "
            f"learn_threshold={isinstance(self.threshold, nn.Parameter)}, per={per}, "
            f"step_mode={self.step_mode}, backend={self.backend}"
        )

    @torch.no_grad()
    def constrain_(self) -> None:
        for p, (lo, hi) in ((self.leak, self.leak_clamp), (self.threshold, self.threshold_clamp)):
            if isinstance(p, nn.Parameter) and (lo is not None or hi is not None):
                p.clamp_(min=lo, max=hi)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x``: ``[T, B, ...]`` (multi) or ``[B, ...]`` (single); ``mask``: ``[T, B]`` / ``[B]`` bool, False at
        padded steps, where the neuron emits 0 and keeps its membrane."""
        if self.step_mode == "single":
            leak = as_param_tensor(self.leak, x.dim(), x)
            thr = as_param_tensor(self.threshold, x.dim(), x)
            v = self._initial_v(x)
            v = torch.zeros_like(x) if v is None else v
            spike, v_next, h = lif_step(x, v, leak, thr, self.surrogate, self.reset, self.detach_reset)
            if mask is not None:
                m = step_mask(mask, x)
                spike, v_next, h = spike * m, torch.where(m, v_next, v), torch.where(m, h, v)
            self.v = v_next
            if self.record_membrane:
                self.membrane = h
            return spike
        if x.dim() < 2:
            raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(x.shape)}")
        v0 = self._initial_v(x[0])
        args = (v0, self.leak, self.threshold, self.surrogate, self.reset, self.detach_reset, self.record_membrane)
        if mask is None:
            out = resolve_backend(self.backend, x.device)(x, *args)
            spikes = out.spikes
        elif not self.stateful and not self.record_membrane and _is_right_padded(step_mask(mask, x)):
            # from rest, nothing carried out, padding only after each sequence's end: steps past the end cannot
            # affect the real ones, so the fused kernel runs and the padded outputs are zeroed
            out = resolve_backend(self.backend, x.device)(x, *args)
            spikes = out.spikes * step_mask(mask, x)
        else:
            out = lif_multistep_masked(x, mask, *args)
            spikes = out.spikes
        if self.stateful:
            self.v = out.v
        self.membrane = out.membrane
        return spikes


def _is_right_padded(mask: torch.Tensor) -> bool:
    """True when no ``[T, B, ...]`` mask column turns on again after turning off (padding only at the end)."""
    return not bool((mask[1:] & ~mask[:-1]).any())


class IF(LIF):
    """Integrate-and-fire: LIF with a fixed leak of 1."""

    def __init__(self, threshold: float = 1.0, **kwargs):
        if kwargs.pop("learn_leak", False):
            raise ValueError("IF has no leak to learn; use LIF(learn_leak=True)")
        kwargs.pop("leak", None)
        super().__init__(leak=1.0, threshold=threshold, learn_leak=False, **kwargs)


class BernoulliNeuron(SpikingNeuron, StochasticModule):
    """Stochastic neuron: input is a firing probability (or a logit with ``logits=True``).

    ``s ~ Bernoulli(p)`` with a straight-through gradient (``grad="identity"`` or SPSN's ``"p"``).
    ``generator``: a fixed generator for every call; without it, training draws from the global RNG and
    evaluation from the generator of :func:`common.stochastic.seed_evaluation`.
    Works on any layout; the step mode only affects state handling (there is none).
    """

    def __init__(self, logits: bool = False, grad: str = "identity", step_mode: str = "multi",
                 generator: Optional[torch.Generator] = None):
        super().__init__(step_mode)
        if grad not in ("identity", "p"):
            raise ValueError(f"grad must be 'identity' or 'p', got {grad!r}")
        self.logits, self.grad = logits, grad
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(x) if self.logits else x
        return bernoulli_spike(p, self.generator_for(x), self.grad)


class Integrator(SpikingNeuron):
    """Non-firing readout ``v[t] = leak * v[t-1] + x[t]`` (leak 1: DIET-SNN's output layer).

    ``output``: ``"last"`` (v[T], the logits of DIET-SNN), ``"mean"`` (mean over time of v, SPSN),
    ``"sum"`` or ``"sequence"`` (all of v). Multi-step only for the reductions.
    """

    emits_spikes = False
    OUTPUTS = ("last", "mean", "sum", "sequence")

    def __init__(self, leak: float = 1.0, output: str = "last", step_mode: str = "multi"):
        super().__init__(step_mode)
        leak = float(leak)
        if not (math.isfinite(leak) and 0.0 <= leak <= 1.0):
            raise ValueError(f"leak must lie in [0, 1], got {leak}")
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {self.OUTPUTS}, got {output!r}")
        self.leak, self.output = leak, output

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``mask`` (``[T, B]`` / ``[B]`` bool): the membrane is held at padded steps, so ``"last"`` is the value
        after each sequence's last real step, ``"sum"``/``"mean"`` run over the real steps only, and
        ``"sequence"`` repeats the held value at padded steps."""
        if self.step_mode == "single":
            v = self._initial_v(x)
            v_next = x if v is None else self.leak * v + x
            if mask is not None:
                v_next = torch.where(step_mask(mask, x), v_next, torch.zeros_like(x) if v is None else v)
            self.v = v_next
            return self.v
        v = integrate_multistep(x, self._initial_v(x[0]), self.leak, mask)
        if self.stateful:
            self.v = v[-1]
        if self.output == "last":
            return v[-1]
        if mask is not None and self.output in ("mean", "sum"):
            m = step_mask(mask, v)
            total = (v * m).sum(0)
            return total if self.output == "sum" else total / m.sum(0).clamp(min=1)
        if self.output == "mean":
            return v.mean(0)
        if self.output == "sum":
            return v.sum(0)
        return v


def reset_states(model: nn.Module) -> None:
    """Reset the membrane state of every spiking module in ``model``."""
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.reset_state()


def detach_states(model: nn.Module) -> None:
    """Detach the carried state of every spiking module in ``model`` (truncated BPTT: call between batches or
    chunks that continue the same sequences; :func:`reset_states` instead when new sequences start)."""
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.detach_state()


def constrain_parameters(model: nn.Module) -> None:
    """Apply every neuron's clamping rule (call after each optimizer step)."""
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.constrain_()
