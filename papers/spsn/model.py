"""The SPSN paper's feed-forward network: in -> 128 -> 128 -> 128 -> classes, readout = mean over time of a
non-firing two-exponential membrane, with the spike-count regulariser. Spike statistics come from
:class:`common.metrics.OpsMonitor` (the hidden neurons derive from ``SpikingNeuron``); stochastic evaluation is
seeded by :func:`common.stochastic.seed_evaluation`."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common.data.sequence import length_mask
from common.lightning.sequence import masked_time_mean
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

    Input ``[B, T, C]`` (batch first, as the array data modules give it) or ``[T, B, C]`` with ``time_first``
    (the sequence data modules' :class:`~common.data.sequence.SeqBatch` layout, e.g. ``data=fsdd_spikes`` under
    :class:`common.lightning.sequence.SequenceClassificationModule`, which calls ``model(x, lengths)``).
    ``lengths`` ``[B]`` (optional): each sequence's real steps, padding **after** them. Every layer is causal, so
    padded steps change nothing at real steps; with ``lengths`` the readout is the mean over each sequence's own
    steps (:func:`~common.lightning.sequence.masked_time_mean`) and the spike rates (regulariser,
    ``last_spike_stats``) count real steps only, so a padded batch gives the logits and rates of each sequence
    alone (up to the stochastic draws). Without ``lengths`` every step counts (the official code's behaviour).
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
        # (spikes, neuron-steps) of the last forward, all spiking layers, real (unpadded) steps only
        self.last_spike_stats: tuple[float, float] = (0.0, 0.0)

    def regularization_loss(self) -> torch.Tensor:
        if self.reg_thr is None or not self.last_rates:
            return torch.zeros((), device=self.readout.weight.device)
        return spike_regularizer(self.last_rates, float(self.reg_thr))

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.time_first:
            x = x.transpose(0, 1)  # [T, B, C]
        x = x.float()
        T, B = x.shape[:2]
        w = None  # [T, B, 1] weight of each step: 1 on real steps, 0 on padding
        if lengths is not None:
            w = length_mask(torch.as_tensor(lengths, device=x.device).long(), T).unsqueeze(-1).to(x.dtype)
            n_steps = w.sum()  # real (sequence, step) pairs
        rates, spikes, neuron_steps = [], 0.0, 0.0
        for lin, act in zip(self.linears, self.acts):
            x = act(lin(x))
            if self.neuron != "relu":
                if w is None:
                    r = x.mean((0, 1))  # mean spikes per step of each neuron
                else:
                    r = (x * w).sum((0, 1)) / n_steps
                rates.append(r)
                spikes += float(r.detach().sum()) * float(n_steps if w is not None else T * B)
                neuron_steps += float(r.numel()) * float(n_steps if w is not None else T * B)
        self.last_rates = rates
        self.last_spike_stats = (spikes, neuron_steps)
        out = self.readout(x)
        if self.neuron != "relu":
            out = two_exp_filter(out, self.alpha, self.beta, self.readout_method)
        return out.mean(0) if lengths is None else masked_time_mean(out, lengths)
