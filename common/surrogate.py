"""Surrogate gradients for the Heaviside spike function.

A surrogate is an object with one scale parameter ``alpha``. Its forward pass is the Heaviside step
``H(z) = 1[z >= 0]`` and its backward pass replaces ``dH/dz`` by :meth:`Surrogate.derivative`.
``z`` is the *normalised* membrane distance to threshold, ``z = U / theta - 1`` in the suite's
neurons (identical to ``U - theta`` when ``theta = 1``).

Every surrogate is identified by a small integer :attr:`Surrogate.kind` so that fused kernels can
take ``(kind, alpha)`` as plain arguments and evaluate the same formula
(see :func:`surrogate_derivative`, which is the single reference definition of every formula).
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "Surrogate",
    "Triangle",
    "FastSigmoid",
    "SuperSpike",
    "Sigmoid",
    "ATan",
    "StraightThrough",
    "surrogate_derivative",
    "get_surrogate",
    "SURROGATES",
]

# kind ids shared with the fused kernels (common/kernels). Never renumber.
TRIANGLE, FAST_SIGMOID, SIGMOID, ATAN, STRAIGHT_THROUGH = 0, 1, 2, 3, 4


def surrogate_derivative(z: torch.Tensor, kind: int, alpha: float) -> torch.Tensor:
    """Reference formula of each surrogate's derivative dS/dz (the kernels must match it).

    - TRIANGLE:         alpha * max(0, 1 - |z|)                 (DIET-SNN / LITE-SNN: alpha = 0.3)
    - FAST_SIGMOID:     1 / (alpha * |z| + 1)^2                  (SuperSpike; SPSN's LIF: alpha = 100)
    - SIGMOID:          alpha * s * (1 - s), s = sigmoid(alpha z)
    - ATAN:             alpha / 2 / (1 + (pi/2 * alpha * z)^2)  (SpikingJelly's ATan)
    - STRAIGHT_THROUGH: alpha (constant)
    """
    if kind == TRIANGLE:
        return alpha * torch.clamp(1.0 - z.abs(), min=0.0)
    if kind == FAST_SIGMOID:
        return 1.0 / (alpha * z.abs() + 1.0) ** 2
    if kind == SIGMOID:
        s = torch.sigmoid(alpha * z)
        return alpha * s * (1.0 - s)
    if kind == ATAN:
        return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * z) ** 2)
    if kind == STRAIGHT_THROUGH:
        return torch.full_like(z, float(alpha))
    raise ValueError(f"unknown surrogate kind {kind}")


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, kind: int, alpha: float):  # type: ignore[override]
        ctx.save_for_backward(z)
        ctx.kind, ctx.alpha = kind, alpha
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return grad_out * surrogate_derivative(z, ctx.kind, ctx.alpha), None, None


class Surrogate:
    """Heaviside forward, ``derivative(z)`` backward. Subclasses set ``kind`` and a default alpha."""

    kind: int = -1
    default_alpha: float = 1.0

    def __init__(self, alpha: float | None = None):
        alpha = self.default_alpha if alpha is None else float(alpha)
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"{type(self).__name__}: alpha must be a positive finite number, got {alpha}")
        self.alpha = alpha

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return _SpikeFn.apply(z, self.kind, self.alpha)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return surrogate_derivative(z, self.kind, self.alpha)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha:g})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.alpha == other.alpha  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.alpha))


class Triangle(Surrogate):
    """Piecewise-linear surrogate ``alpha * max(0, 1 - |z|)`` (DIET-SNN's LinearSpike, alpha = 0.3)."""

    kind, default_alpha = TRIANGLE, 0.3


class FastSigmoid(Surrogate):
    """SuperSpike / fast-sigmoid derivative ``1 / (alpha |z| + 1)^2`` (slope alpha)."""

    kind, default_alpha = FAST_SIGMOID, 100.0


SuperSpike = FastSigmoid


class Sigmoid(Surrogate):
    """Derivative of ``sigmoid(alpha z)``."""

    kind, default_alpha = SIGMOID, 4.0


class ATan(Surrogate):
    """Derivative of ``atan(pi/2 alpha z) / pi + 1/2``."""

    kind, default_alpha = ATAN, 2.0


class StraightThrough(Surrogate):
    """Passes the gradient through, scaled by alpha."""

    kind, default_alpha = STRAIGHT_THROUGH, 1.0


SURROGATES: dict[str, type[Surrogate]] = {
    "triangle": Triangle,
    "linear": Triangle,
    "fast_sigmoid": FastSigmoid,
    "superspike": FastSigmoid,
    "sigmoid": Sigmoid,
    "atan": ATan,
    "straight_through": StraightThrough,
}


def get_surrogate(spec: "str | Surrogate", alpha: float | None = None) -> Surrogate:
    """Return a surrogate object from a name (``"triangle"``) or pass an object through."""
    if isinstance(spec, Surrogate):
        return spec
    try:
        return SURROGATES[str(spec).lower()](alpha)
    except KeyError:
        raise ValueError(f"unknown surrogate {spec!r}; choose one of {sorted(SURROGATES)}") from None
