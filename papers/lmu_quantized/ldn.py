"""The Legendre Delay Network (LDN): the LMU's linear memory (Voelker, Kajić & Eliasmith, NeurIPS 2019).

Continuous system of order ``d`` and window ``theta`` (nengolib's ``LegendreDelay``, the keras-lmu 2019 code)::

    theta * m'(t) = A m(t) + B u(t)
    A[i, j] = (2i + 1) * (-1 if i < j else (-1) ** (i - j + 1))
    B[i]    = (2i + 1) * (-1) ** i

(:func:`ldn_continuous` returns ``A / theta`` and ``B / theta``.) ``m(t)`` holds the coefficients of the
shifted Legendre expansion of the window ``u(t - theta')``, ``0 <= theta' <= theta``::

    u(t - theta') ~= sum_i P_i(theta' / theta) m_i(t),  P_i(r) = (-1)^i sum_j C(i, j) C(i + j, j) (-r)^j

(:func:`legendre_readout`; ``P_i(1) = 1``, so ``C = ones`` reads out the full delay ``theta``).

Discretisation: zero-order hold with step ``dt`` (1 in the LMU: one step per pixel), computed here without
scipy as the exponential of the augmented matrix ``[[A, B], [0, 0]] * dt`` (Van Loan), in float64::

    Abar = exp(A dt),  Bbar = int_0^dt exp(A s) ds B

so that ``m[t] = Abar m[t-1] + Bbar u[t]`` (keras-lmu: ``cont2discrete(..., dt=1, method="zoh")``). The impulse
response of the discrete memory is ``H[k] = Abar^k Bbar`` (:func:`ldn_impulse_response`): with ``m[-1] = 0``,
``m[t] = sum_{k <= t} H[t - k] u[k]``, the causal convolution that the parallel LMU exploits.

Move to common: this module is model-agnostic (any LMU-family paper needs it).
"""
from __future__ import annotations

import math
import torch

__all__ = ["ldn_continuous", "zoh", "ldn_discrete", "ldn_impulse_response", "legendre_readout"]

_F64 = torch.float64


def ldn_continuous(order: int, theta: float, dtype: torch.dtype = _F64) -> tuple[torch.Tensor, torch.Tensor]:
    """The continuous LDN ``(A / theta, B / theta)``: ``[order, order]`` and ``[order, 1]``."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if not (math.isfinite(float(theta)) and float(theta) > 0):
        raise ValueError(f"theta must be a positive finite number, got {theta}")
    q = torch.arange(order, dtype=_F64)
    r = (2 * q + 1)[:, None] / float(theta)
    i, j = q[:, None], q[None, :]
    sign = torch.where(i < j, torch.full_like(i - j, -1.0), (-1.0) ** (i - j + 1))
    A = sign * r
    B = ((-1.0) ** q)[:, None] * r
    return A.to(dtype), B.to(dtype)


def zoh(A: torch.Tensor, B: torch.Tensor, dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation ``(exp(A dt), int_0^dt exp(A s) ds B)`` via one float64 matrix exponential
    of the augmented matrix ``[[A, B], [0, 0]] * dt``; returned in ``A``'s dtype."""
    if A.dim() != 2 or A.shape[0] != A.shape[1] or B.dim() != 2 or B.shape[0] != A.shape[0]:
        raise ValueError(f"need A [d, d] and B [d, k], got {tuple(A.shape)} and {tuple(B.shape)}")
    d, k = B.shape
    M = torch.zeros(d + k, d + k, dtype=_F64, device=A.device)
    M[:d, :d] = A.to(_F64)
    M[:d, d:] = B.to(_F64)
    E = torch.linalg.matrix_exp(M * float(dt))
    return E[:d, :d].to(A.dtype), E[:d, d:].to(A.dtype)


def ldn_discrete(order: int, theta: float, dt: float = 1.0, dtype: torch.dtype = _F64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Abar [d, d], Bbar [d, 1])``: the LDN discretised by ZOH with step ``dt`` (computed in float64)."""
    A, B = ldn_continuous(order, theta)
    Ad, Bd = zoh(A, B, dt)
    return Ad.to(dtype), Bd.to(dtype)


def ldn_impulse_response(Abar: torch.Tensor, Bbar: torch.Tensor, length: int) -> torch.Tensor:
    """``H [length, d]`` with ``H[k] = Abar^k Bbar[:, 0]`` (a single-input memory), accumulated in float64."""
    if Bbar.dim() != 2 or Bbar.shape[1] != 1:
        raise ValueError(f"Bbar must be [d, 1], got {tuple(Bbar.shape)}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    A, x = Abar.to(_F64), Bbar[:, 0].to(_F64)
    # doubling: H[0:n] known -> H[n:2n] = H[0:n] @ (A^n)^T; log2(length) matrix products
    H = x[None, :]
    P = A
    while H.shape[0] < length:
        H = torch.cat([H, H @ P.T], 0)
        P = P @ P
    return H[:length].to(Abar.dtype)


def legendre_readout(order: int, r: "float | torch.Tensor", dtype: torch.dtype = _F64) -> torch.Tensor:
    """Shifted Legendre polynomials ``P_i(r)``, ``i < order``, at ``r = theta' / theta`` in ``[0, 1]``:
    ``[..., order]`` (``r`` of shape ``[...]``); ``m @ P`` decodes ``u(t - theta')``."""
    r = torch.as_tensor(r, dtype=_F64)
    x = 2 * r - 1  # shifted: P_i(r) = Legendre_i(2r - 1) (Bonnet's recursion)
    polys = [torch.ones_like(x)]
    if order > 1:
        polys.append(x)
    for n in range(1, order - 1):
        polys.append(((2 * n + 1) * x * polys[n] - n * polys[n - 1]) / (n + 1))
    return torch.stack(polys[:order], -1).to(dtype)
