"""Input encoders: analog tensors to ``[T, B, ...]`` sequences.

- :class:`DirectEncoder`: the analog input repeated at every step (DIET-SNN's direct encoding:
  the first layer's neurons do the encoding).
- :class:`RateEncoder`: Bernoulli ("Poisson") rate coding, ``P(spike) = clamp(gain * x, 0, 1)``
  per step; a seeded ``torch.Generator`` makes it repeatable.
- :func:`event_frames`: tonic's ``ToFrame`` binning for event streams (DVS, SHD, ...), as a
  transform that returns a float tensor ``[T, C, ...]``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = ["DirectEncoder", "RateEncoder", "event_frames", "check_time_steps"]


def check_time_steps(T: int) -> int:
    if int(T) != T or int(T) < 1:
        raise ValueError(f"time_steps (T) must be an integer >= 1, got {T}")
    return int(T)


class DirectEncoder(nn.Module):
    """Repeat the analog input over ``T`` steps (an expanded view; no copy)."""

    def __init__(self, time_steps: int):
        super().__init__()
        self.time_steps = check_time_steps(time_steps)

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand((self.time_steps,) + tuple(x.shape))


class RateEncoder(nn.Module):
    """Bernoulli rate coding: ``s[t] ~ Bernoulli(clamp(gain * (x - offset), 0, 1))`` i.i.d. over t.

    For normalised images pass ``offset``/``gain`` that map the input back to [0, 1]
    (``offset = -mean/std``, ``gain = std`` undoes a Normalize), or feed un-normalised pixels.
    """

    def __init__(self, time_steps: int, gain: float = 1.0, offset: float = 0.0,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        self.time_steps = check_time_steps(time_steps)
        self.gain, self.offset = float(gain), float(offset)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, gain={self.gain}, offset={self.offset}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = ((x - self.offset) * self.gain).clamp(0.0, 1.0)
        p = p.unsqueeze(0).expand((self.time_steps,) + tuple(x.shape))
        return torch.bernoulli(p, generator=self.generator)


def event_frames(sensor_size, n_time_bins: Optional[int] = None, time_window: Optional[float] = None,
                 include_incomplete: bool = False):
    """A transform binning a tonic event array into frames ``[T, *sensor]`` (float32 tensor).

    Exactly one of ``n_time_bins`` (fixed T) or ``time_window`` (bin width in the events' time
    unit, e.g. 1000 µs = 1 ms) is given; this is tonic's :class:`tonic.transforms.ToFrame`.
    """
    import tonic.transforms as tt

    if (n_time_bins is None) == (time_window is None):
        raise ValueError("give exactly one of n_time_bins or time_window")
    if n_time_bins is not None:
        check_time_steps(n_time_bins)
    to_frame = tt.ToFrame(sensor_size=tuple(sensor_size), n_time_bins=n_time_bins, time_window=time_window,
                          include_incomplete=include_incomplete)

    def transform(events):
        return torch.as_tensor(to_frame(events), dtype=torch.float32)

    return transform
