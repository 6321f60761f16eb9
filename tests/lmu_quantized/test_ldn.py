"""The LDN (papers.lmu_quantized.ldn): closed forms, ZOH against a numerical integration, delay reconstruction."""
import math

import pytest
import torch

from papers.lmu_quantized.ldn import ldn_continuous, ldn_discrete, ldn_impulse_response, legendre_readout, zoh

F64 = torch.float64


def test_closed_form_order_3_by_hand():
    A, B = ldn_continuous(3, 2.0)
    torch.testing.assert_close(A * 2, torch.tensor([[-1., -1., -1.], [3., -3., -3.], [-5., 5., -5.]], dtype=F64))
    torch.testing.assert_close(B * 2, torch.tensor([[1.], [-3.], [5.]], dtype=F64))


def rk4_zoh(A, B, V, dt=1.0, steps=1600):
    """ZOH by RK4 integration over [0, dt]: ``(exp(A dt) V, int_0^dt exp(A s) ds B)`` from Phi' = A Phi (Phi(0) = V)
    and g' = A g + B (g(0) = 0, u = 1 held). 4th order: 1600 steps give ~1e-12 here (400 give ~2e-10)."""
    k = V.shape[1]
    X = torch.cat([V, torch.zeros_like(B)], 1)
    drive = torch.cat([torch.zeros_like(V), B], 1)
    f = lambda X: A @ X + drive  # noqa: E731
    h = dt / steps
    for _ in range(steps):
        k1 = f(X); k2 = f(X + h / 2 * k1); k3 = f(X + h / 2 * k2); k4 = f(X + h * k3)  # noqa: E702
        X = X + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return X[:, :k], X[:, k:]


@pytest.mark.parametrize("order,theta", [(256, 784.0), (16, 10.0), (6, 3.0)])
def test_zoh_matches_rk4_integration(order, theta):
    A, B = ldn_continuous(order, theta)
    Ad, Bd = ldn_discrete(order, theta)
    g = torch.Generator().manual_seed(0)
    cols = [0, 1, order // 2, order - 1]  # a few columns of Abar, and Abar applied to random vectors
    V = torch.cat([torch.eye(order, dtype=F64)[:, cols], torch.randn(order, 3, generator=g, dtype=F64)], 1)
    AV, Br = rk4_zoh(A, B, V)
    torch.testing.assert_close(Ad @ V, AV, rtol=0, atol=1e-11)
    torch.testing.assert_close(Bd, Br, rtol=0, atol=1e-11)


def test_zoh_closed_form_identities():
    A, B = ldn_continuous(32, 40.0)
    Ad, Bd = zoh(A, B, 1.0)
    # Bbar = A^{-1} (Abar - I) B (A is invertible) and exp(A) * exp(A) = exp(2A) (a step of 2 = two steps of 1)
    torch.testing.assert_close(Bd, torch.linalg.solve(A, (Ad - torch.eye(32, dtype=F64)) @ B), rtol=0, atol=1e-11)
    Ad2, Bd2 = zoh(A, B, 2.0)
    torch.testing.assert_close(Ad2, Ad @ Ad, rtol=0, atol=1e-12)
    torch.testing.assert_close(Bd2, Ad @ Bd + Bd, rtol=0, atol=1e-12)
    assert float(torch.linalg.eigvals(Ad).abs().max()) < 1  # stable
    assert float(torch.linalg.eigvals(ldn_discrete(256, 784.0)[0]).abs().max()) < 1


def test_impulse_response_is_the_step_loop_of_an_impulse():
    Ad, Bd = ldn_discrete(20, 30.0)
    H = ldn_impulse_response(Ad, Bd, 77)  # not a power of two (doubling is truncated)
    m, rows = torch.zeros(20, dtype=F64), []
    for t in range(77):
        m = Ad @ m + Bd[:, 0] * (1.0 if t == 0 else 0.0)
        rows.append(m)
    torch.testing.assert_close(H, torch.stack(rows), rtol=0, atol=1e-13)
    assert ldn_impulse_response(Ad.float(), Bd.float(), 5).dtype == torch.float32


def test_legendre_readout_values():
    r = torch.tensor([0.0, 0.25, 1.0], dtype=F64)
    P = legendre_readout(4, r)
    # P_i(r) = (-1)^i sum_j C(i, j) C(i + j, j) (-r)^j
    ref = torch.tensor([[(-1) ** i * sum(math.comb(i, j) * math.comb(i + j, j) * (-x) ** j for j in range(i + 1))
                         for i in range(4)] for x in r.tolist()], dtype=F64)
    torch.testing.assert_close(P, ref)
    torch.testing.assert_close(P[-1], torch.ones(4, dtype=F64))  # P_i(1) = 1: C = ones reads the full delay


def test_memory_reconstructs_the_delayed_input():
    order, theta, T = 12, 50, 400
    Ad, Bd = ldn_discrete(order, theta)
    t = torch.arange(T, dtype=F64)
    u = torch.sin(2 * math.pi * t / 160) + 0.5 * torch.cos(2 * math.pi * t / 97 + 1.0)
    m, mem = torch.zeros(order, dtype=F64), []
    for k in range(T):
        m = Ad @ m + Bd[:, 0] * u[k]
        mem.append(m)
    mem = torch.stack(mem)
    for frac in (0.0, 0.5, 1.0):
        delay = frac * theta
        dec = mem @ legendre_readout(order, frac)
        ref = torch.sin(2 * math.pi * (t - delay) / 160) + 0.5 * torch.cos(2 * math.pi * (t - delay) / 97 + 1.0)
        err = (dec - ref)[2 * theta:].abs().max()
        assert float(err) < 0.05, (frac, float(err))
