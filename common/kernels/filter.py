"""SPSN's two-exponential linear filter as a fused kernel (no reset, so it has no spike feedback):

    I[t] = alpha * I[t-1] + X[t];    U[t] = beta * U[t-1] + (1 - beta) * I[t]      (I[-1] = U[-1] = 0)

:func:`two_exp_filter` returns ``U`` (``[T, B, ...]``) with its exact gradient wrt ``X`` (the adjoint
recurrence runs backwards in time in the same kernel). :func:`two_exp_filter_fire` adds SPSN's
firing: ``"threshold"`` (``s = H(U/theta - 1)`` with a surrogate gradient) or ``"bernoulli"``
(``s ~ Bernoulli(sigmoid(U))``, straight-through, :func:`common.neurons.functional.bernoulli_spike`).
Without autograd the threshold spikes come straight out of the fused kernel.
Backends: ``"cpu"`` (C++), ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``), ``"torch"``
(sequential reference loop) and ``"auto"``.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..neurons.backends import resolve_name
from ..neurons.functional import bernoulli_spike
from ..surrogate import Surrogate, get_surrogate


def two_exp_filter_torch(x_seq: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Sequential reference (iterates ``unbind``): :func:`common.neurons.parallel.two_exp_filter_sequential`."""
    from ..neurons.parallel import two_exp_filter_sequential

    return two_exp_filter_sequential(x_seq, alpha, beta)


def _impl_for(backend: str, device: torch.device):
    """``(name, kernel module)`` of the backend ``backend`` resolves to on ``device`` (module ``None``: torch)."""
    from . import _triton_module
    from . import cpu as _cpu

    name = resolve_name(backend, device)
    if name == "cpu":
        return name, _cpu
    if name == "triton":
        return name, _triton_module()
    return name, None


class _FilterFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, a, b, impl):  # type: ignore[override]
        ctx.cfg = (a, b, impl)
        return impl.filter_fwd(x2, a, b, None)[0]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):  # type: ignore[override]
        a, b, impl = ctx.cfg
        return impl.filter_bwd(g.contiguous(), a, b), None, None, None


def _scalar(p, name: str) -> float:
    if torch.is_tensor(p):
        if p.numel() != 1:
            raise ValueError(f"{name} must be a scalar")
        if p.requires_grad:
            raise ValueError(f"two_exp_filter has no gradient wrt {name}; pass a float or a detached tensor")
        return float(p)
    return float(p)


def two_exp_filter(
    x_seq: torch.Tensor, alpha: "float | torch.Tensor", beta: "float | torch.Tensor", backend: str = "auto"
) -> torch.Tensor:
    """``U[T, B, ...]`` of the two-exponential filter, differentiable wrt ``x_seq``."""
    a, b = _scalar(alpha, "alpha"), _scalar(beta, "beta")
    if x_seq.dim() < 1:
        raise ValueError("x_seq must be [T, ...]")
    name, impl = _impl_for(backend, x_seq.device)
    if impl is None or x_seq.shape[0] == 0 or x_seq.numel() == 0:
        return two_exp_filter_torch(x_seq, a, b)
    dtype = x_seq.dtype
    x = x_seq if dtype in (torch.float32, torch.float64) else x_seq.float()
    x2 = x.reshape(x.shape[0], -1).contiguous()
    if torch.compiler.is_compiling():
        from .ops import filter_op

        u = filter_op(name)(x2, a, b)
    else:
        u = _FilterFunction.apply(x2, a, b, impl)
    return u.view(x.shape).to(dtype)


def two_exp_filter_fire(
    x_seq: torch.Tensor,
    alpha: float,
    beta: float,
    firing: str = "threshold",
    threshold: float = 1.0,
    surrogate: "str | Surrogate" = "fast_sigmoid",
    generator: Optional[torch.Generator] = None,
    bernoulli_grad: str = "identity",
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter and fire: returns ``(spikes, U)``."""
    if firing not in ("threshold", "bernoulli"):
        raise ValueError(f"firing must be 'threshold' or 'bernoulli', got {firing!r}")
    if firing == "threshold" and not (torch.is_grad_enabled() and x_seq.requires_grad):
        name, impl = _impl_for(backend, x_seq.device)
        if impl is not None and x_seq.dtype in (torch.float32, torch.float64) and x_seq.numel() > 0:
            x2 = x_seq.reshape(x_seq.shape[0], -1).contiguous()
            u, s = impl.filter_fwd(x2, float(alpha), float(beta), float(threshold))
            return s.view(x_seq.shape), u.view(x_seq.shape)
    u = two_exp_filter(x_seq, alpha, beta, backend)
    if firing == "threshold":
        return get_surrogate(surrogate)(u / threshold - 1.0), u
    return bernoulli_spike(torch.sigmoid(u), generator, bernoulli_grad), u
