"""Activity and bit metrics of quantizing neurons (integer spike counts ``n`` per neuron-step).

The LMU quantizer (:class:`common.neurons.quantize.QuantizingNeuron`) emits ``y = n / dt`` with an integer,
signed ``n``; the ``1/dt`` is a constant folded into the next layer's weights, so the cost of a step is
carried by ``n`` alone. Voelker et al. (2020) report "at most 3.74 bits on average" of activity and "1.26
significant bits multiplying each weight"; **their definitions are not available** (only the abstract is;
see ``../shared/papers/lmu_quantized.md`` §3b). The definitions used here, per neuron-step with count ``n``:

* ``spikes_per_neuron_step`` = mean of ``|n|`` (a count of k spikes, either sign, is k spikes).
* ``event_rate`` = fraction of neuron-steps with ``n != 0`` (the steps that send anything).
* ``bits_per_neuron_step`` = mean over *all* neuron-steps of ``b(n)``, with ``b(0) = 0`` (no event is sent)
  and ``b(n) = ceil(log2(|n| + 1)) + s`` otherwise: the magnitude's binary width plus one sign bit when
  the layer is ``signed`` (so ``b(±1) = 1 + s``, ``b(±3) = 2 + s``, ``b(±4) = 3 + s``). This is the notes'
  candidate, except that a silent step costs no sign bit.
* ``bits_per_event`` = the same mean over the non-zero neuron-steps only.
* ``range_bits`` = ``ceil(log2(max|n| + 1)) + s``: the fixed word width that holds every count seen.
* ``significant_bits_per_multiply`` = mean over the *non-zero* neuron-steps of the significant bits of
  ``|n|``: from its highest to its lowest set bit, inclusive (``1 → 1``, ``2 → 1``, ``3 → 2``, ``5 → 3``,
  ``6 → 2``, ``12 → 2``). Each non-zero count multiplies every outgoing weight once, so this is the mean
  mantissa width of a weight multiply (1 = a shift-and-add, i.e. an accumulate); zero counts multiply
  nothing and are excluded. With several layers, events are pooled (not weighted by fan-out).

Which of these the paper's 3.74 and 1.26 correspond to is unknown (the closest readings: 3.74 ~
``bits_per_neuron_step`` or ``range_bits`` averaged over layers; 1.26 ~ ``significant_bits_per_multiply``).
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

import torch
from torch import nn
from torchmetrics import Metric

from .monitor import writable_states

__all__ = ["magnitude_bits", "significant_bits", "activity_bits", "QuantizedActivity", "QuantizedActivityMonitor"]

_F64 = torch.float64


def _exponent(a: torch.Tensor) -> torch.Tensor:
    """``floor(log2(a))`` exactly for positive integers ``a`` (float64, via frexp)."""
    return torch.frexp(a)[1].to(_F64) - 1


def _as_abs_counts(n: torch.Tensor) -> torch.Tensor:
    a = n.detach().to(_F64).abs()
    if not bool(torch.all(a == torch.round(a))):
        raise ValueError("spike counts must be integers (pass n, or round(y * dt) of a quantizer output y)")
    return a


def magnitude_bits(n: torch.Tensor) -> torch.Tensor:
    """``ceil(log2(|n| + 1))`` per element: the binary width of ``|n|`` (0 for ``n = 0``)."""
    a = _as_abs_counts(n)
    return torch.where(a > 0, _exponent(a.clamp_min(1)) + 1, torch.zeros_like(a))


def activity_bits(n: torch.Tensor, signed: bool = True) -> torch.Tensor:
    """``b(n)`` of the module docstring per element: magnitude bits plus a sign bit for ``n != 0`` if signed."""
    a = _as_abs_counts(n)
    return magnitude_bits(a) + (float(signed) * (a > 0).to(_F64))


def significant_bits(n: torch.Tensor) -> torch.Tensor:
    """Bits of ``|n|`` from its highest to its lowest set bit, inclusive (0 for ``n = 0``)."""
    a = _as_abs_counts(n)
    pos = a.clamp_min(1)
    i = pos.to(torch.int64)
    low = (i & -i).to(_F64)  # lowest set bit
    return torch.where(a > 0, _exponent(pos) - _exponent(low) + 1, torch.zeros_like(a))


class QuantizedActivity(Metric):
    """Sums over integer spike counts (DDP-correct: sum states, max for ``max|n|``); see the module docstring.

    ``update(counts, mask=None)``: ``counts`` any shape, one element per neuron-step; ``mask`` (bool,
    broadcast over ``counts``' leading dims, e.g. ``[T, B]``) excludes padded steps.
    """

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, signed: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.signed = bool(signed)
        for name in ("neuron_steps", "spikes", "events", "bits", "significant_bits"):
            self.add_state(name, torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("max_abs", torch.zeros((), dtype=_F64), dist_reduce_fx="max")

    def update(self, counts: torch.Tensor, mask: Optional[torch.Tensor] = None) -> None:  # type: ignore[override]
        a = _as_abs_counts(counts)
        if mask is not None:
            if mask.dim() > a.dim() or tuple(mask.shape) != tuple(a.shape[: mask.dim()]):
                raise ValueError(f"mask of shape {tuple(mask.shape)} does not match the leading dims of counts "
                                 f"{tuple(a.shape)}")
            a = a[mask.to(torch.bool).reshape(tuple(mask.shape) + (1,) * (a.dim() - mask.dim())).expand_as(a)]
        dev = self.spikes.device
        self.neuron_steps += float(a.numel())
        self.spikes += a.sum().to(dev)
        self.events += (a > 0).sum().to(dev, _F64)
        self.bits += activity_bits(a, self.signed).sum().to(dev)
        self.significant_bits += significant_bits(a).sum().to(dev)
        if a.numel():
            self.max_abs.clamp_(min=float(a.max()))

    def compute(self) -> dict[str, torch.Tensor]:
        steps, ev = self.neuron_steps.clamp_min(1), self.events.clamp_min(1)
        rb = torch.where(self.max_abs > 0, _exponent(self.max_abs.clamp_min(1)) + 1 + float(self.signed),
                         torch.zeros_like(self.max_abs))
        return {
            "spikes_per_neuron_step": self.spikes / steps,
            "event_rate": self.events / steps,
            "bits_per_neuron_step": self.bits / steps,
            "bits_per_event": self.bits / ev,
            "range_bits": rb,
            "significant_bits_per_multiply": self.significant_bits / ev,
            "neuron_steps": self.neuron_steps,
            "max_abs_count": self.max_abs,
        }


class QuantizedActivityMonitor:
    """Feed the spike counts of every quantizing neuron of ``model`` into one :class:`QuantizedActivity`.

    Forward hooks read each neuron's ``last_counts`` and ``last_mask`` (padded steps are not counted);
    ``neurons`` restricts the hooked modules. Use as a context manager or attach()/detach().
    """

    def __init__(self, model: nn.Module, signed: bool = True, neurons: Optional[Iterable[nn.Module]] = None):
        from common.neurons.quantize import quantizing_neurons  # local: keep metrics importable alone

        self.neurons = list(neurons) if neurons is not None else quantizing_neurons(model)
        if not self.neurons:
            raise ValueError("no QuantizingNeuron found in the model")
        self.metric = QuantizedActivity(signed=signed)
        self._handles: list[Any] = []

    def _hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        counts = getattr(module, "last_counts", None)
        if counts is None:
            return
        mask = getattr(module, "last_mask", None)
        with torch.no_grad():
            if self.metric.spikes.device != counts.device:
                with torch.inference_mode(False):
                    self.metric.to(counts.device)
            writable_states(self.metric)
            self.metric.update(counts, mask)

    def attach(self) -> "QuantizedActivityMonitor":
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook) for m in self.neurons]
        return self

    def detach(self) -> "QuantizedActivityMonitor":
        for h in self._handles:
            h.remove()
        self._handles = []
        return self

    def __enter__(self) -> "QuantizedActivityMonitor":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def reset(self) -> None:
        with torch.inference_mode(False):  # keep states normal tensors (Lightning evaluates in inference mode)
            self.metric.reset()

    def compute(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.metric.compute().items()}
