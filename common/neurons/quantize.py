"""Quantizing neuron with temporally diffused error (the hybrid-spiking LMU's activation).

The dynamics are those of Nengo's ``RegularSpiking`` and KerasSpiking's / PyTorchSpiking's
``SpikingActivation`` (the group of Voelker et al. 2020, arXiv 2002.03553), for a base activation ``f``::

    v[t] = v[t-1] + dt * f(x[t])      # accumulate the rate
    n[t] = floor(v[t])                # integer spike count: signed, several per step allowed
    y[t] = n[t] / dt                  # output: n spikes of height 1/dt
    v[t] = v[t] - n[t]                # the quantization error is carried (diffused over time)

so ``v`` stays in ``[0, 1)`` and the running mean of ``y`` tracks ``f(x)`` with error below
``1 / (T * dt)`` after ``T`` steps of a constant input. Large ``dt`` is the non-spiking limit
(``y -> f(x)``, many spikes per step), small ``dt`` at most one spike per step; :class:`common.lightning.
callbacks.DtSchedule` anneals ``dt`` from the one to the other during training. ``v[0]`` is uniform in
``[0, 1)`` (drawn per neuron by the :mod:`common.stochastic` protocol) or zero.

Gradient: straight-through on the quantizer, so ``dy/dx = f'(x)`` (KerasSpiking's
``spiking_aware_training``); the voltage carries no graph (it is computed without autograd), so a
carried state never needs detaching.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional, Union

import torch
from torch import nn

from ..stochastic import StochasticModule
from .functional import step_mask
from .modules import SpikingNeuron

__all__ = [
    "QuantizerState", "QuantizerOutput", "ACTIVATIONS", "get_activation", "quantize_step",
    "quantize_multistep", "QuantizingNeuron", "QuantizingCell", "quantizing_neurons", "spike_counts_from_output",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def get_activation(activation: Union[str, nn.Module, Callable]) -> Callable:
    """The base activation ``f``: a name in :data:`ACTIVATIONS`, an ``nn.Module`` or any callable."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)} "
                             "or pass a callable")
        return ACTIVATIONS[activation]()
    if not callable(activation):
        raise TypeError(f"activation must be a name or a callable, got {type(activation).__name__}")
    return activation


class QuantizerState(NamedTuple):
    """Carried quantization error (voltage), ``[B, ...]``, in ``[0, 1)``; never requires grad."""
    v: torch.Tensor


class QuantizerOutput(NamedTuple):
    out: torch.Tensor     # n / dt with the gradient of f: [T, B, ...] (multi-step) or [B, ...]
    state: QuantizerState  # voltage after the last step
    counts: torch.Tensor  # integer spike counts n (same dtype as out, no grad)


class _StraightThrough(torch.autograd.Function):
    """Forward: the quantized value exactly; backward: the gradient goes to the rate unchanged."""

    @staticmethod
    def forward(ctx, rate: torch.Tensor, quantized: torch.Tensor):  # type: ignore[override]
        return quantized.clone()

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        return grad_out, None


def _as_dt(dt: "float | torch.Tensor", like: torch.Tensor) -> torch.Tensor:
    """``dt`` as a 0-d tensor of ``like``'s dtype/device. A number is checked (positive, finite); a tensor only
    for its shape, so that a device-resident ``dt`` (the module's buffer, checked by ``set_dt``) never syncs."""
    if not torch.is_tensor(dt):
        if not (math.isfinite(float(dt)) and float(dt) > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt}")
    elif dt.dim() != 0:
        raise ValueError(f"dt must be a scalar, got shape {tuple(dt.shape)}")
    return torch.as_tensor(dt, dtype=like.dtype, device=like.device)


def quantize_step(rate: torch.Tensor, v: torch.Tensor, dt: "float | torch.Tensor",
                  mask: Optional[torch.Tensor] = None) -> QuantizerOutput:
    """One step on the rate ``f(x)`` (already applied): returns ``(n/dt, state, n)``.

    ``mask`` (``[B]`` bool, False = padded step): there the voltage is held and the output is 0.
    """
    dt = _as_dt(dt, rate)
    with torch.no_grad():
        h = v + dt * rate.detach()
        n = torch.floor(h)
        if mask is None:
            v = h - n
        else:
            m = step_mask(mask, rate)
            n = torch.where(m, n, torch.zeros_like(n))
            v = torch.where(m, h - n, v)  # a padded step holds the voltage
    return QuantizerOutput(_StraightThrough.apply(rate, n / dt), QuantizerState(v), n)


def quantize_multistep(rate_seq: torch.Tensor, v0: torch.Tensor, dt: "float | torch.Tensor",
                       mask: Optional[torch.Tensor] = None) -> QuantizerOutput:
    """Reference multi-step loop over ``[T, B, ...]`` rates (``mask``: ``[T, B]`` bool, optional)."""
    if rate_seq.dim() < 2:
        raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(rate_seq.shape)}")
    dt = _as_dt(dt, rate_seq)
    if mask is not None:
        step_mask(mask, rate_seq)  # checks dtype and shape
    masks = [None] * rate_seq.shape[0] if mask is None else mask.unbind(0)
    state, outs, counts = QuantizerState(v0), [], []
    for r, m in zip(rate_seq.unbind(0), masks):
        o = quantize_step(r, state.v, dt, m)
        state = o.state
        outs.append(o.out)
        counts.append(o.counts)
    return QuantizerOutput(torch.stack(outs), state, torch.stack(counts))


class QuantizingNeuron(SpikingNeuron, StochasticModule):
    """``f`` followed by the dt-quantizer of the module docstring (multi-step ``[T, B, ...]`` or single-step).

    Args:
        activation: base activation ``f`` (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"identity"`` or a callable).
        dt: initial time step (a buffer, saved in checkpoints; :class:`~common.lightning.callbacks.DtSchedule`
            anneals it). KerasSpiking's default is 0.001.
        initial_state: ``"uniform"`` (``v[0] ~ U[0, 1)``, as Nengo/KerasSpiking) or ``"zeros"``.
        spiking: ``False`` gives the non-spiking (rate) output ``f(x)`` with no state.
        step_mode / stateful: as every :class:`SpikingNeuron` (multi-step calls start afresh unless stateful;
            a carried state of another shape raises).
        generator: a fixed generator for the initial voltage; otherwise :mod:`common.stochastic`'s protocol
            (global RNG in training, the evaluation generator of ``seed_evaluation`` in evaluation).

    ``forward(x, mask=None)``: ``mask`` (``[T, B]`` or ``[B]`` bool, False = padded step) holds the voltage and
    outputs 0 there. After each call ``last_counts`` holds the integer spike counts ``n`` and ``last_mask``
    the mask (read by :class:`common.metrics.bits.QuantizedActivityMonitor`). The carried voltage has no
    graph, so ``detach_state`` is a no-op. Explicit state: :class:`QuantizingCell`.
    """

    emits_spikes = True

    def __init__(self, activation: Union[str, nn.Module, Callable] = "relu", dt: float = 0.001, *,
                 initial_state: str = "uniform", spiking: bool = True, step_mode: str = "multi",
                 stateful: Optional[bool] = None, generator: Optional[torch.Generator] = None):
        super().__init__(step_mode, stateful)
        if initial_state not in ("uniform", "zeros"):
            raise ValueError(f"initial_state must be 'uniform' or 'zeros', got {initial_state!r}")
        self.activation = get_activation(activation)
        self.register_buffer("dt", _as_dt(float(dt), torch.empty((), dtype=torch.float64)))  # float64: exact schedules
        self.initial_state, self.spiking, self.generator = initial_state, bool(spiking), generator
        self.last_counts: Optional[torch.Tensor] = None
        self.last_mask: Optional[torch.Tensor] = None

    def extra_repr(self) -> str:
        return (f"dt={float(self.dt):.6g}, initial_state={self.initial_state}, spiking={self.spiking}, "
                f"step_mode={self.step_mode}")

    def set_dt(self, dt: float) -> None:
        """Set ``dt`` in place (keeps the buffer's device and dtype)."""
        with torch.no_grad():
            self.dt.copy_(_as_dt(float(dt), self.dt))

    def init_state(self, x_step: torch.Tensor) -> QuantizerState:
        """A fresh state for one step's shape ``[B, ...]`` (uniform or zero voltage)."""
        if self.initial_state == "zeros":
            return QuantizerState(torch.zeros_like(x_step))
        gen = self.generator_for(x_step)
        return QuantizerState(torch.rand(x_step.shape, generator=gen, dtype=x_step.dtype, device=x_step.device))

    def _run(self, x: torch.Tensor, state: Optional[QuantizerState], mask: Optional[torch.Tensor]):
        """``(out, state or None)`` from ``state`` (``None``: a fresh one); records counts and mask."""
        multi = self.step_mode == "multi"
        if multi and x.dim() < 2:
            raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(x.shape)}")
        rate = self.activation(x)
        self.last_mask = mask
        if not self.spiking:
            self.last_counts = None
            return rate, None
        if state is None:
            state = self.init_state(rate[0] if multi else rate)
        out = (quantize_multistep if multi else quantize_step)(rate, state.v, self.dt, mask)
        self.last_counts = out.counts
        return out.out, out.state

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        v = self._initial_v(x[0] if self.step_mode == "multi" and x.dim() >= 2 else x)
        out, state = self._run(x, None if v is None else QuantizerState(v), mask)
        if self.stateful and state is not None:
            self.v = state.v
        return out


class QuantizingCell(QuantizingNeuron):
    """Single-step quantizer with explicit state (the suite's cell convention, cf. :class:`~common.neurons.LIFCell`):
    ``out, state = cell(x, state=None, mask=None)``; ``state=None`` starts a fresh :class:`QuantizerState`
    (uniform or zero voltage). Same arguments as :class:`QuantizingNeuron`, without ``step_mode``/``stateful``."""

    def __init__(self, activation: Union[str, nn.Module, Callable] = "relu", dt: float = 0.001, **kwargs):
        for key in ("step_mode", "stateful"):
            if key in kwargs:
                raise ValueError(f"QuantizingCell is single-step with explicit state; it takes no {key!r}")
        super().__init__(activation, dt, step_mode="single", stateful=False, **kwargs)

    def forward(self, x: torch.Tensor, state: Optional[QuantizerState] = None,  # type: ignore[override]
                mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, QuantizerState]:
        if state is not None and tuple(state.v.shape) != tuple(x.shape):
            raise ValueError(f"QuantizingCell: state has shape {tuple(state.v.shape)} but the input step has "
                             f"shape {tuple(x.shape)}")
        out, new = self._run(x, state, mask)
        if new is None:  # non-spiking: the state is unused and passed through
            new = state if state is not None else QuantizerState(torch.zeros_like(x))
        return out, new


def quantizing_neurons(model: nn.Module) -> list[QuantizingNeuron]:
    """Every :class:`QuantizingNeuron` of ``model`` (in ``modules()`` order)."""
    return [m for m in model.modules() if isinstance(m, QuantizingNeuron)]


def spike_counts_from_output(y: torch.Tensor, dt: "float | torch.Tensor") -> torch.Tensor:
    """Integer spike counts ``n = round(y * dt)`` of a quantizer output ``y = n / dt``."""
    return torch.round(y.detach() * torch.as_tensor(dt, dtype=y.dtype, device=y.device))
