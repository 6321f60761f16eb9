"""DVS128 Gesture model of the lite_snn rows: a convolutional SNN with the LITE-SNN neuron.

The paper's DVS model is not available (notes §3f: no code; preprocessing, architecture, training: not found).
Ours follows SpikingJelly's ``DVSGestureNet`` (Fang et al., PLIF, ICCV 2021; notes' anchor: 93.75 % at T = 16)
with the LITE-SNN LIF neuron (trainable leak 0.95 / threshold 1.0 per layer, soft reset with the reset's spike
detached, linear surrogate 0.3) in place of PLIF::

    frames [T, B, 2, S, S] (tonic ToFrame, T equal-duration bins)
    n_blocks x [Conv2d(3x3, channels, no bias) -> BatchNorm2d -> LIF -> MaxPool2d(2)]   down to 4 x 4
    Flatten -> Dropout(0.5) -> Linear(C*16, 512) -> LIF -> Dropout(0.5) -> Linear(512, 11)
    logits = mean over the T frames of the last Linear (an integrator readout divided by T)

The membrane potential carries the gesture's history from frame to frame (the "inherent dynamics"); state is reset
per recording. Dropout masks are drawn per element and step (SpikingJelly uses per-sequence masks; a minor choice).
"""
from __future__ import annotations

import math
from typing import Optional

from torch import Tensor, nn

from .seq2seq import make_lif

__all__ = ["GestureSNN"]


class GestureSNN(nn.Module):
    """See the module docstring. ``sensor``: frame side (128, or a tonic-downsampled 64/32); ``channels``: conv width
    (128 in DVSGestureNet); ``fc_hidden``: 512."""

    def __init__(self, sensor: int = 128, channels: int = 128, fc_hidden: int = 512, num_classes: int = 11,
                 dropout: float = 0.5, leak: float = 0.95, threshold: float = 1.0, surrogate_alpha: float = 0.3,
                 backend: str = "auto"):
        super().__init__()
        n_blocks = int(math.log2(sensor // 4))
        if sensor < 8 or 4 * 2 ** n_blocks != sensor:
            raise ValueError(f"sensor must be 4 x a power of two >= 8, got {sensor}")
        lif = dict(leak=leak, threshold=threshold, surrogate_alpha=surrogate_alpha, backend=backend)
        self.convs, self.bns, self.lifs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c_in = 2
        for _ in range(n_blocks):
            self.convs.append(nn.Conv2d(c_in, channels, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(channels))
            self.lifs.append(make_lif(**lif))
            c_in = channels
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(channels * 16, fc_hidden)
        self.fc_lif = make_lif(**lif)
        self.fc2 = nn.Linear(fc_hidden, num_classes)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        """``x [T, B, 2, S, S]`` -> logits ``[B, 11]`` (every recording has T frames: ``lengths`` unused)."""
        T, B = x.shape[:2]
        h = x.float()
        for conv, bn, lif in zip(self.convs, self.bns, self.lifs):
            z = bn(conv(h.flatten(0, 1)))
            s = lif(z.view(T, B, *z.shape[1:]))
            h = self.pool(s.flatten(0, 1)).view(T, B, s.shape[2], s.shape[3] // 2, s.shape[4] // 2)
        h = self.drop(h.flatten(2))
        s = self.fc_lif(self.fc1(h))
        return self.fc2(self.drop(s)).mean(0)
