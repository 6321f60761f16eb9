"""The dt-quantizer of :mod:`common.neurons.quantize` in parallel form: a prefix sum.

Where nothing feeds the quantizer's output back into its input, the step loop ::

    v[t] = v[t-1] + dt * r[t];  n[t] = floor(v[t]);  v[t] -= n[t]      (r = f(x), v[-1] = v0 in [0, 1))

has the closed form ``n[t] = floor(S[t]) - floor(S[t-1])`` with ``S[t] = v0 + sum_{s <= t} dt * r[s]`` and
``S[-1] = v0`` (``floor(v0) = 0``), and ``v[t] = S[t] - floor(S[t])``: by induction, if
``v[t-1] = S[t-1] - floor(S[t-1])`` then ``v[t-1] + dt r[t] = S[t] - floor(S[t-1])``, whose floor is ``n[t]``.
One ``cumsum`` replaces ``T`` sequential steps.

**Precision.** ``S`` grows to ``T * dt * max|r|`` (e.g. 784 * 1000 in the non-spiking limit of a dt schedule); in
float32 its fractional part, which decides every spike, would be lost. The sum is therefore accumulated in
float64 (the products ``dt * r`` of float32 values are exact in float64), which is the exact-arithmetic
quantizer up to ~1e-16 relative: it equals a float64 step loop spike for spike. Against a float32 step loop
(which rounds ``v`` at every step) it may differ where that loop's rounding crosses an integer, by one spike
moved between adjacent steps, never accumulating (the cumulative counts differ by at most 1).

Masked (padded) steps add nothing to ``S``, so the voltage is held and the output is 0, as in the step loop;
the gradient is the same straight-through ``dy/dx = f'(x)`` as :class:`~common.neurons.QuantizingNeuron`.

Move to common: :func:`prefix_quantize` and :class:`PrefixQuantizingNeuron` belong next to
``common.neurons.quantize`` (a ``parallel=True`` option of ``QuantizingNeuron``).
"""
from __future__ import annotations

from typing import Optional

import torch

from common.neurons.functional import step_mask
from common.neurons.quantize import QuantizerOutput, QuantizerState, QuantizingNeuron, _as_dt, _StraightThrough

__all__ = ["prefix_quantize", "PrefixQuantizingNeuron"]

_F64 = torch.float64


def prefix_quantize(rate_seq: torch.Tensor, v0: torch.Tensor, dt: "float | torch.Tensor",
                    mask: Optional[torch.Tensor] = None) -> QuantizerOutput:
    """Parallel :func:`common.neurons.quantize.quantize_multistep` on rates ``[T, B, ...]`` (float64 prefix sum)."""
    if rate_seq.dim() < 2:
        raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(rate_seq.shape)}")
    dt_x = _as_dt(dt, rate_seq)
    with torch.no_grad():
        inc = rate_seq.detach().to(_F64) * dt_x.to(_F64)
        if mask is not None:
            inc = torch.where(step_mask(mask, rate_seq), inc, torch.zeros((), dtype=_F64, device=inc.device))
        S = torch.cumsum(inc, 0).add_(v0.detach().to(_F64))
        F = torch.floor(S)
        n = torch.diff(F, dim=0, prepend=torch.floor(v0.detach().to(_F64)).unsqueeze(0))
        v = (S[-1] - F[-1]).to(v0.dtype)
        n = n.to(rate_seq.dtype)
    return QuantizerOutput(_StraightThrough.apply(rate_seq, n / dt_x), QuantizerState(v), n)


class PrefixQuantizingNeuron(QuantizingNeuron):
    """Multi-step :class:`~common.neurons.QuantizingNeuron` computed by :func:`prefix_quantize` (same arguments,
    ``dt`` buffer, ``last_counts`` and DtSchedule support). Only valid where the output does not feed back into
    the input within the call (a feed-forward layer); ``forward(x, mask=None, v0=None)`` takes an explicit
    initial voltage ``v0`` ``[B, ...]`` (otherwise the neuron's own initial state)."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("step_mode", "multi") != "multi":
            raise ValueError("PrefixQuantizingNeuron is multi-step only")
        super().__init__(*args, **kwargs)
        self.last_state: Optional[QuantizerState] = None  # the voltage after the last call (spiking only)

    def _run(self, x, state, mask):
        if x.dim() < 2:
            raise ValueError(f"multi-step input must be [T, B, ...], got shape {tuple(x.shape)}")
        rate = self.activation(x)
        self.last_mask = mask
        if not self.spiking:
            self.last_counts = None
            return rate, None
        if state is None:
            state = self.init_state(rate[0])
        out = prefix_quantize(rate, state.v, self.dt, mask)
        self.last_counts, self.last_state = out.counts, out.state
        return out.out, out.state

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,  # type: ignore[override]
                v0: Optional[torch.Tensor] = None) -> torch.Tensor:
        if v0 is None:
            v0 = self._initial_v(x[0] if x.dim() >= 2 else x)
        out, state = self._run(x, None if v0 is None else QuantizerState(v0), mask)
        if self.stateful and state is not None:
            self.v = state.v
        return out
