"""Pure neuron dynamics: step functions with explicit state, and their multi-step (``[T, B, ...]``) loops.

Conventions shared by every neuron, kernel and test in the suite:

- ``h[t] = leak * v[t-1] + x[t]``                      (charge; ``leak = 1`` gives IF)
- ``z[t] = h[t] / threshold - 1``,  ``s[t] = H(z[t])`` with the surrogate's gradient
- soft reset ``v[t] = h[t] - threshold * s[t]``;  hard reset ``v[t] = h[t] * (1 - s[t])`` (to 0)
- ``detach_reset`` cuts the gradient through the reset term's spike (SpikingJelly's option).

``leak`` and ``threshold`` are a float, a 0-d tensor (one per layer) or a 1-d tensor of length C
(one per channel, applied along dim 1 of each step, i.e. dim 2 of the ``[T, B, C, ...]`` sequence).
The multi-step loops iterate ``x_seq.unbind(0)``; they never index ``x_seq[t]`` inside autograd.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from ..surrogate import Surrogate, Triangle

__all__ = [
    "RESETS",
    "MultiStepOutput",
    "lif_step",
    "lif_multistep_torch",
    "lif_multistep_masked",
    "step_mask",
    "bernoulli_spike",
    "integrate_multistep",
    "as_param_tensor",
]

RESETS = ("soft", "hard")


class MultiStepOutput(NamedTuple):
    spikes: torch.Tensor  # [T, B, ...]
    v: torch.Tensor  # membrane after the last step (post reset) [B, ...]
    membrane: Optional[torch.Tensor] = None  # charge h[t] before reset [T, B, ...], when requested


def as_param_tensor(p: "float | torch.Tensor", step_ndim: int, like: torch.Tensor) -> torch.Tensor:
    """Shape a per-layer (0-d) or per-channel ([C]) parameter so it broadcasts over ``[B, C, ...]``."""
    if not torch.is_tensor(p):
        return torch.tensor(float(p), dtype=like.dtype, device=like.device)
    if p.dim() == 0:
        return p
    if p.dim() != 1:
        raise ValueError(f"neuron parameters must be scalars or 1-d per-channel tensors, got shape {tuple(p.shape)}")
    if step_ndim < 2:
        raise ValueError("per-channel parameters need inputs of shape [B, C, ...]")
    return p.reshape((p.shape[0],) + (1,) * (step_ndim - 2))


def _check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def lif_step(
    x: torch.Tensor,
    v: torch.Tensor,
    leak: "float | torch.Tensor" = 1.0,
    threshold: "float | torch.Tensor" = 1.0,
    surrogate: Surrogate = Triangle(),
    reset: str = "soft",
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of an IF/LIF neuron. Returns ``(spike, v_next, charge)``."""
    h = leak * v + x
    spike = surrogate(h / threshold - 1.0)
    s = spike.detach() if detach_reset else spike
    v_next = h - threshold * s if reset == "soft" else h * (1.0 - s)
    return spike, v_next, h


def lif_multistep_torch(
    x_seq: torch.Tensor,
    v0: Optional[torch.Tensor] = None,
    leak: "float | torch.Tensor" = 1.0,
    threshold: "float | torch.Tensor" = 1.0,
    surrogate: Surrogate = Triangle(),
    reset: str = "soft",
    detach_reset: bool = False,
    return_membrane: bool = False,
) -> MultiStepOutput:
    """Reference multi-step IF/LIF in pure PyTorch (the ``backend="torch"`` path)."""
    _check_reset(reset)
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must be [T, B, ...], got shape {tuple(x_seq.shape)}")
    step_ndim = x_seq.dim() - 1
    leak_t = as_param_tensor(leak, step_ndim, x_seq)
    thr_t = as_param_tensor(threshold, step_ndim, x_seq)
    v = torch.zeros_like(x_seq[0]) if v0 is None else v0
    spikes, charges = [], []
    for x in x_seq.unbind(0):
        s, v, h = lif_step(x, v, leak_t, thr_t, surrogate, reset, detach_reset)
        spikes.append(s)
        if return_membrane:
            charges.append(h)
    return MultiStepOutput(torch.stack(spikes), v, torch.stack(charges) if return_membrane else None)


def step_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Shape a ``[B]`` (one step) or ``[T, B]`` (a sequence) bool mask to broadcast over ``like``
    (``[B, ...]`` or ``[T, B, ...]``), checking that its leading dims match."""
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = real step), got dtype {mask.dtype}")
    if mask.dim() > like.dim() or tuple(mask.shape) != tuple(like.shape[: mask.dim()]):
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not match the leading dims of the input "
                         f"{tuple(like.shape)} (expected [T, B] for [T, B, ...] or [B] for [B, ...])")
    return mask.reshape(tuple(mask.shape) + (1,) * (like.dim() - mask.dim()))


def lif_multistep_masked(
    x_seq: torch.Tensor,
    mask: torch.Tensor,
    v0: Optional[torch.Tensor] = None,
    leak: "float | torch.Tensor" = 1.0,
    threshold: "float | torch.Tensor" = 1.0,
    surrogate: Surrogate = Triangle(),
    reset: str = "soft",
    detach_reset: bool = False,
    return_membrane: bool = False,
) -> MultiStepOutput:
    """Multi-step IF/LIF over a variable-length batch: where ``mask[t, b]`` is False (a padded step) the
    neuron neither integrates nor fires — its spikes are 0 and its membrane is carried unchanged (the
    charge recorded there is the held membrane). Any mask pattern (right or left padding, gaps) works."""
    _check_reset(reset)
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must be [T, B, ...], got shape {tuple(x_seq.shape)}")
    m_seq = step_mask(mask, x_seq)
    step_ndim = x_seq.dim() - 1
    leak_t = as_param_tensor(leak, step_ndim, x_seq)
    thr_t = as_param_tensor(threshold, step_ndim, x_seq)
    v = torch.zeros_like(x_seq[0]) if v0 is None else v0
    spikes, charges = [], []
    for x, m in zip(x_seq.unbind(0), m_seq.unbind(0)):
        s, v_next, h = lif_step(x, v, leak_t, thr_t, surrogate, reset, detach_reset)
        spikes.append(s * m)
        if return_membrane:
            charges.append(torch.where(m, h, v))
        v = torch.where(m, v_next, v)
    return MultiStepOutput(torch.stack(spikes), v, torch.stack(charges) if return_membrane else None)


class _BernoulliST(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, generator, scale_by_p: bool):  # type: ignore[override]
        ctx.save_for_backward(p)
        ctx.scale_by_p = scale_by_p
        return torch.bernoulli(p, generator=generator)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (p,) = ctx.saved_tensors
        return (grad_out * p if ctx.scale_by_p else grad_out), None, None


def bernoulli_spike(
    p: torch.Tensor, generator: Optional[torch.Generator] = None, grad: str = "identity"
) -> torch.Tensor:
    """Stochastic spike ``s ~ Bernoulli(p)`` with a straight-through gradient.

    ``grad="identity"``: ds/dp := 1.  ``grad="p"``: ds/dp := p (SPSN's sigmoid-Bernoulli rule).
    """
    if grad not in ("identity", "p"):
        raise ValueError(f"grad must be 'identity' or 'p', got {grad!r}")
    return _BernoulliST.apply(p.clamp(0.0, 1.0), generator, grad == "p")


def integrate_multistep(
    x_seq: torch.Tensor, v0: Optional[torch.Tensor] = None, leak: "float | torch.Tensor" = 1.0,
    mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Non-firing integrator ``v[t] = leak * v[t-1] + x[t]``; returns the membrane sequence ``[T, B, ...]``.

    With ``leak = 1`` (the DIET-SNN / LITE-SNN readout) this is a cumulative sum. ``mask`` (``[T, B]``
    bool): at a padded step the membrane is held (neither leaks nor integrates).
    """
    if mask is not None:
        m_seq = step_mask(mask, x_seq)
        leak_t = as_param_tensor(leak, x_seq.dim() - 1, x_seq)
        v = torch.zeros_like(x_seq[0]) if v0 is None else v0
        out = []
        for x, m in zip(x_seq.unbind(0), m_seq.unbind(0)):
            v = torch.where(m, leak_t * v + x, v)
            out.append(v)
        return torch.stack(out)
    if not torch.is_tensor(leak) and float(leak) == 1.0:
        out = x_seq.cumsum(0)
        return out if v0 is None else out + v0
    leak_t = as_param_tensor(leak, x_seq.dim() - 1, x_seq)
    v = torch.zeros_like(x_seq[0]) if v0 is None else v0
    out = []
    for x in x_seq.unbind(0):
        v = leak_t * v + x
        out.append(v)
    return torch.stack(out)
