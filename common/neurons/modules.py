"""Thin ``nn.Module`` wrappers around :mod:`common.neurons.functional`.

Every neuron takes ``step_mode="multi"`` (input ``[T, B, ...]``, the default) or ``"single"``
(input ``[B, ...]``, state kept between calls until :meth:`SpikingNeuron.reset_state`).
Trainable leak/threshold live in ``nn.Parameter``s (one per layer, or one per channel with
``num_channels``); their clamping rule is a constructor argument applied by :meth:`constrain_`,
which the Lightning module calls after every optimizer step.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from ..stochastic import StochasticModule
from ..surrogate import Surrogate, get_surrogate
from .backends import check_backend_name, resolve_backend
from .functional import RESETS, as_param_tensor, bernoulli_spike, integrate_multistep, lif_step

__all__ = ["SpikingNeuron", "LIF", "IF", "BernoulliNeuron", "Integrator", "reset_states", "constrain_parameters"]

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

    def _initial_v(self, x_step: torch.Tensor) -> Optional[torch.Tensor]:
        if self.stateful and self.v is not None and self.v.shape == x_step.shape:
            return self.v
        return None

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "single":
            leak = as_param_tensor(self.leak, x.dim(), x)
            thr = as_param_tensor(self.threshold, x.dim(), x)
            v = self._initial_v(x)
            v = torch.zeros_like(x) if v is None else v
            spike, self.v, h = lif_step(x, v, leak, thr, self.surrogate, self.reset, self.detach_reset)
            if self.record_membrane:
                self.membrane = h
            return spike
        if x.dim() < 2:
            raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(x.shape)}")
        fn = resolve_backend(self.backend, x.device)
        out = fn(
            x,
            self._initial_v(x[0]) if self.stateful else None,
            self.leak,
            self.threshold,
            self.surrogate,
            self.reset,
            self.detach_reset,
            self.record_membrane,
        )
        if self.stateful:
            self.v = out.v
        self.membrane = out.membrane
        return out.spikes


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "single":
            v = self._initial_v(x)
            self.v = x if v is None else self.leak * v + x
            return self.v
        v = integrate_multistep(x, self._initial_v(x[0]) if self.stateful else None, self.leak)
        if self.stateful:
            self.v = v[-1]
        if self.output == "last":
            return v[-1]
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


def constrain_parameters(model: nn.Module) -> None:
    """Apply every neuron's clamping rule (call after each optimizer step)."""
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.constrain_()
