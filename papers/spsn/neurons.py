"""SPSN firing rules and layers, and the paper's LIF baseline.

Every layer maps an input current ``x [T, B, N]`` (already through its ``nn.Linear``) to spikes.

- :func:`sigmoid_bernoulli_spike` (SB): ``p = sigmoid(U)``, ``S ~ Bernoulli(p)``, straight-through with
  ``dS/dp := p`` (so ``dS/dU = p * p (1 - p)``), exactly the official ``neurons/spsn.py`` rule.
- :func:`gumbel_spike` (GS): logits ``(U, -U)`` plus two independent Gumbel(0, 1) draws, softmax at
  temperature ``tau`` (=1), hard output ``1[y_soft > 0.5]``, straight-through
  ``y_hard - y_soft.detach() + y_soft``. For two classes the soft output is
  ``y_soft = sigmoid((2U + g1 - g2) / tau)``, so ``dS/dU = (2 / tau) y_soft (1 - y_soft)``.
- :class:`SPSNNeuron`: exact parallel two-exponential filter (no reset, ``common.neurons.parallel``)
  followed by SB or GS firing. Firing stays stochastic in eval; it then draws from the generator of
  :func:`common.stochastic.seed_evaluation` (one per model, shared by its layers in forward order), so a
  seeded evaluation repeats.
- :func:`lif_paper_loop`: the official LIF, one plain PyTorch loop over time (synaptic current and membrane),
  hard reset with the spike detached, SuperSpike surrogate ``1 / (100 |U - 1| + 1)^2``.
- :class:`PaperLIF`: that LIF, either as the plain loop (``backend="paper"``) or as the parallel first-order
  synaptic filter followed by the suite's ``LIF(leak=beta, threshold=1, reset="hard", detach_reset=True,
  surrogate="fast_sigmoid", surrogate_alpha=100, backend=...)`` on input ``(1 - beta) I`` (identical maths).

Both neuron modules derive from :class:`common.neurons.SpikingNeuron`, so :class:`common.metrics.OpsMonitor`
counts their spikes (the common runner's ``test/spikes_per_neuron_step``).
"""
from __future__ import annotations

from typing import Optional

import torch

from common.neurons.functional import bernoulli_spike
from common.neurons.modules import LIF, SpikingNeuron
from common.neurons.parallel import decay, first_order_filter, two_exp_filter
from common.stochastic import StochasticModule
from common.surrogate import get_surrogate

__all__ = ["sigmoid_bernoulli_spike", "gumbel_spike", "logistic_noise", "SPSNNeuron", "PaperLIF", "lif_paper_loop", "FIRING"]

FIRING = ("sb", "gs")


class _SigmoidBernoulli(torch.autograd.Function):
    """Fused SB: ``p = sigmoid(u)``, ``S = 1[r < p]`` with ``r ~ U[0, 1)``; backward ``dS/du = p * p (1 - p)``.

    Same rule as ``bernoulli_spike(sigmoid(u), grad="p")`` (the suite's reference) but one saved tensor and
    a uniform draw instead of ``torch.bernoulli`` (measured ~3x faster on CPU)."""

    @staticmethod
    def forward(ctx, u, generator):  # type: ignore[override]
        p = torch.sigmoid(u)
        ctx.save_for_backward(p)
        r = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
        return (r < p).to(u.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (p,) = ctx.saved_tensors
        return torch.rsub(p, 1.0).mul_(p).mul_(p).mul_(g), None  # g p^2 (1 - p), one temporary


def sigmoid_bernoulli_spike(u: torch.Tensor, generator: Optional[torch.Generator] = None,
                            fused: bool = True) -> torch.Tensor:
    """SPSN-SB: ``S ~ Bernoulli(sigmoid(u))`` with the straight-through gradient scaled by ``p``.

    ``fused=False`` uses the suite's ``bernoulli_spike(p, grad="p")`` (identical gradient; other RNG stream).
    """
    if not fused:
        return bernoulli_spike(torch.sigmoid(u), generator, grad="p")
    return _SigmoidBernoulli.apply(u, generator)


def gumbel_noise(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Gumbel(0, 1) samples ``-log(E)``, ``E ~ Exp(1)`` (as ``F.gumbel_softmax``), drawn from ``generator``."""
    e = torch.empty_like(like).exponential_(generator=generator)
    return -e.log()


def logistic_noise(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Logistic(0, 1) samples ``logit(r)``, ``r ~ U[0, 1)``: the law of ``g1 - g2`` for two independent Gumbel(0, 1).

    One uniform draw and one ``logit`` instead of two ``exponential_`` draws and two logs (``exponential_`` is
    ~6x slower than ``rand`` on CPU). ``r = 0`` gives ``-inf``: no spike and a zero gradient, never a NaN."""
    r = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    return torch.logit(r)


class _GumbelST(torch.autograd.Function):
    """Fused hard straight-through Gumbel-softmax: ``z = (2u + L) / tau``, ``y_soft = sigmoid(z)``,
    forward ``1[y_soft > 0.5]`` (= ``1[z > 0]``), backward ``(2 / tau) y_soft (1 - y_soft)``."""

    @staticmethod
    def forward(ctx, u, noise, tau):  # type: ignore[override]
        z = torch.add(noise, u, alpha=2.0)
        if tau != 1.0:
            z.div_(tau)
        out = (z > 0).to(u.dtype)
        y = z.sigmoid_()
        ctx.save_for_backward(y)
        ctx.tau = tau
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        d = torch.rsub(y, 1.0).mul_(y).mul_(g)
        return d.mul_(2.0 / ctx.tau), None, None


def gumbel_spike(u: torch.Tensor, generator: Optional[torch.Generator] = None, tau: float = 1.0,
                 noise: Optional[tuple] = None, fused: bool = True) -> torch.Tensor:
    """SPSN-GS: hard straight-through Gumbel-softmax over the two logits ``(u, -u)``.

    ``y_soft = softmax([(u + g1) / tau, (-u + g2) / tau])[0] = sigmoid((2u + g1 - g2) / tau)`` and only the
    difference ``g1 - g2`` (a Logistic(0, 1) variable) matters, so the fused path draws that difference
    directly (:func:`logistic_noise`; same distribution, other RNG stream). ``noise=(g1, g2)`` fixes the
    Gumbel draws (tests); ``fused=False`` is the literal two-Gumbel formulation (reference).
    """
    if noise is not None or not fused:
        g1, g2 = noise if noise is not None else (gumbel_noise(u, generator), gumbel_noise(u, generator))
        if fused:
            return _GumbelST.apply(u, g1 - g2, float(tau))
        y_soft = torch.sigmoid((2.0 * u + g1 - g2) / tau)  # = softmax([(u+g1)/tau, (-u+g2)/tau])[0]
        y_hard = (y_soft > 0.5).to(u.dtype)
        return y_hard - y_soft.detach() + y_soft
    return _GumbelST.apply(u, logistic_noise(u, generator), float(tau))


def lif_paper_loop(x: torch.Tensor, alpha: float, beta: float, threshold: float = 1.0,
                   surrogate_alpha: float = 100.0) -> torch.Tensor:
    """The official LIF as a plain per-step PyTorch loop; ``x [T, B, N]`` -> spikes ``[T, B, N]``."""
    spike_fn = get_surrogate("fast_sigmoid", surrogate_alpha)
    i = torch.zeros_like(x[0])
    u = torch.zeros_like(x[0])
    out = []
    for xt in x.unbind(0):
        i = alpha * i + xt
        u = beta * u + (1.0 - beta) * i
        s = spike_fn(u / threshold - 1.0)
        u = u * (1.0 - s.detach())
        out.append(s)
    return torch.stack(out)


class SPSNNeuron(SpikingNeuron, StochasticModule):
    """Two-exponential parallel filter (no reset) + stochastic firing ``"sb"`` or ``"gs"``."""

    def __init__(self, firing: str = "sb", tau_syn: float = 20.0, tau_mem: float = 20.0, gs_tau: float = 1.0,
                 filter_method: str = "auto", chunk: Optional[int] = None):
        super().__init__()
        if firing not in FIRING:
            raise ValueError(f"firing must be one of {FIRING}, got {firing!r}")
        self.firing, self.gs_tau = firing, float(gs_tau)
        self.alpha, self.beta = decay(tau_syn), decay(tau_mem)
        self.filter_method, self.chunk = filter_method, chunk

    def extra_repr(self) -> str:
        return f"firing={self.firing}, alpha={self.alpha:.4f}, beta={self.beta:.4f}, filter={self.filter_method}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = two_exp_filter(x, self.alpha, self.beta, self.filter_method, self.chunk)
        gen = self.generator_for(x)
        if self.firing == "sb":
            return sigmoid_bernoulli_spike(u, gen)
        return gumbel_spike(u, gen, self.gs_tau)


class PaperLIF(SpikingNeuron):
    """The SPSN paper's LIF baseline (see module docstring); ``backend="paper"`` is the plain loop."""

    def __init__(self, tau_syn: float = 20.0, tau_mem: float = 20.0, threshold: float = 1.0,
                 surrogate_alpha: float = 100.0, backend: str = "paper", filter_method: str = "auto"):
        super().__init__()
        self.alpha, self.beta = decay(tau_syn), decay(tau_mem)
        self.threshold, self.surrogate_alpha = float(threshold), float(surrogate_alpha)
        self.backend, self.filter_method = backend, filter_method
        self.lif = None if backend == "paper" else LIF(
            leak=self.beta, threshold=threshold, reset="hard", detach_reset=True, surrogate="fast_sigmoid",
            surrogate_alpha=surrogate_alpha, backend=backend)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4f}, beta={self.beta:.4f}, backend={self.backend}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lif is None:
            return lif_paper_loop(x, self.alpha, self.beta, self.threshold, self.surrogate_alpha)
        i = first_order_filter(x, self.alpha, self.filter_method)
        return self.lif((1.0 - self.beta) * i)
