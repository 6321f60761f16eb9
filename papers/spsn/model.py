"""The SPSN paper's feed-forward network: in -> 128 -> 128 -> 128 -> classes, readout = mean over time of a
non-firing two-exponential membrane, with the spike-count regulariser. Spike statistics come from
:class:`common.metrics.OpsMonitor` (the hidden neurons derive from ``SpikingNeuron``); stochastic evaluation is
seeded by :func:`common.stochastic.seed_evaluation`."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common.neurons.parallel import decay, two_exp_filter
from .neurons import PaperLIF, SPSNNeuron

__all__ = ["SPSNNet", "NEURONS", "spike_regularizer"]

NEURONS = ("sb", "gs", "lif", "relu")


def spike_regularizer(rates: Sequence[torch.Tensor], reg_thr: float) -> torch.Tensor:
    """``ReLU(sum_layers sum_neurons r_i - reg_thr * N)^2`` with ``r_i`` each neuron's mean spikes per step."""
    total = sum(r.sum() for r in rates)
    n = sum(r.numel() for r in rates)
    return F.relu(total - reg_thr * n) ** 2


def _kaiming_linear(n_in: int, n_out: int) -> nn.Linear:
    lin = nn.Linear(n_in, n_out)
    nn.init.kaiming_uniform_(lin.weight, nonlinearity="linear")  # official: Kaiming-uniform, fan_in, linear
    nn.init.zeros_(lin.bias)
    return lin


class SPSNNet(nn.Module):
    """``neuron``: ``"sb"`` | ``"gs"`` (SPSN) | ``"lif"`` (paper LIF) | ``"relu"`` (non-spiking).

    Input ``[B, T, C]`` (batch first, as the data modules give it) or ``[T, B, C]`` with ``time_first``.
    ``reg_thr``: spike regulariser threshold (``None``: off). ``lif_backend``: ``"paper"`` (plain loop, the
    paper's baseline; its readout filter is sequential too) or a suite LIF backend (``"torch"``, ``"auto"``).
    """

    def __init__(self, n_in: int = 700, n_out: int = 20, hidden: Sequence[int] = (128, 128, 128),
                 neuron: str = "sb", tau_syn: float = 20.0, tau_mem: float = 20.0, gs_tau: float = 1.0,
                 reg_thr: Optional[float] = None, filter_method: str = "auto", lif_backend: str = "paper",
                 time_first: bool = False):
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {neuron!r}")
        self.neuron, self.reg_thr, self.time_first = neuron, reg_thr, time_first
        self.alpha, self.beta = decay(tau_syn), decay(tau_mem)
        sizes = [int(n_in), *[int(h) for h in hidden]]
        self.linears = nn.ModuleList(_kaiming_linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = _kaiming_linear(sizes[-1], int(n_out))
        if neuron in ("sb", "gs"):
            acts = [SPSNNeuron(neuron, tau_syn, tau_mem, gs_tau, filter_method) for _ in hidden]
        elif neuron == "lif":
            acts = [PaperLIF(tau_syn, tau_mem, backend=lif_backend, filter_method=filter_method) for _ in hidden]
        else:
            acts = [nn.ReLU() for _ in hidden]
        self.acts = nn.ModuleList(acts)
        self.readout_method = "sequential" if (neuron == "lif" and lif_backend == "paper") else filter_method
        self.last_rates: list[torch.Tensor] = []  # per layer: mean spikes per step of each neuron (regulariser)

    def regularization_loss(self) -> torch.Tensor:
        if self.reg_thr is None or not self.last_rates:
            return torch.zeros((), device=self.readout.weight.device)
        return spike_regularizer(self.last_rates, float(self.reg_thr))

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.time_first:
            x = x.transpose(0, 1)  # [T, B, C]
        x = x.float()
        rates = []
        for lin, act in zip(self.linears, self.acts):
            x = act(lin(x))
            if self.neuron != "relu":
                rates.append(x.mean((0, 1)))  # mean spikes per step of each neuron
        self.last_rates = rates
        out = self.readout(x)
        if self.neuron == "relu":
            return out.mean(0)
        return two_exp_filter(out, self.alpha, self.beta, self.readout_method).mean(0)
