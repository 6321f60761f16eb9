import math

import pytest
import torch

from common.surrogate import SURROGATES, ATan, FastSigmoid, Sigmoid, StraightThrough, Triangle, get_surrogate

Z = torch.tensor([-2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0], dtype=torch.float64)


def test_forward_is_heaviside_at_zero_inclusive():
    for cls in (Triangle, FastSigmoid, Sigmoid, ATan, StraightThrough):
        s = cls()(Z)
        assert torch.equal(s, (Z >= 0).double())


@pytest.mark.parametrize(
    "surrogate,formula",
    [
        (Triangle(0.3), lambda z: 0.3 * torch.clamp(1 - z.abs(), min=0)),
        (FastSigmoid(100.0), lambda z: 1 / (100 * z.abs() + 1) ** 2),
        (Sigmoid(4.0), lambda z: 4 * torch.sigmoid(4 * z) * (1 - torch.sigmoid(4 * z))),
        (ATan(2.0), lambda z: 1.0 / (1 + (math.pi * z) ** 2)),
        (StraightThrough(1.0), lambda z: torch.ones_like(z)),
    ],
)
def test_backward_matches_formula(surrogate, formula):
    z = Z.clone().requires_grad_(True)
    g = torch.linspace(0.5, 1.5, len(Z), dtype=torch.float64)
    (surrogate(z) * g).sum().backward()
    torch.testing.assert_close(z.grad, g * formula(Z))


@pytest.mark.parametrize("name", ["sigmoid", "atan"])
def test_smooth_surrogates_are_derivatives_of_their_smooth_step(name):
    # the surrogate of a smooth step must equal that step's derivative (finite differences)
    s = get_surrogate(name)
    step = {"sigmoid": lambda z: torch.sigmoid(s.alpha * z),
            "atan": lambda z: torch.atan(math.pi / 2 * s.alpha * z) / math.pi + 0.5}[name]
    z = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64)
    eps = 1e-6
    fd = (step(z + eps) - step(z - eps)) / (2 * eps)
    torch.testing.assert_close(s.derivative(z), fd, rtol=1e-6, atol=1e-8)


def test_triangle_integrates_to_alpha():
    z = torch.linspace(-1, 1, 200001, dtype=torch.float64)
    area = torch.trapezoid(Triangle(0.3).derivative(z), z)
    assert abs(area.item() - 0.3) < 1e-6


def test_get_surrogate_errors():
    with pytest.raises(ValueError, match="unknown surrogate"):
        get_surrogate("nope")
    with pytest.raises(ValueError, match="alpha"):
        Triangle(-1.0)
    assert set(SURROGATES) >= {"triangle", "fast_sigmoid", "sigmoid", "atan", "straight_through"}
