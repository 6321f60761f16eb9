"""Input encoders: analog tensors to ``[T, B, ...]`` sequences.

- :class:`DirectEncoder`: the analog input repeated at every step (DIET-SNN's direct encoding:
  the first layer's neurons do the encoding).
- :func:`rate_code` / :class:`RateEncoder`: the suite's one Bernoulli ("Poisson") rate code, a spike at
  each step iff ``r < p`` with ``r ~ U[0, 1)`` (the law of ``torch.bernoulli(p)``, ~2.5x faster on CPU);
  :class:`RateEncoder` first maps a normalised input back to ``p = clamp(x * std + mean, 0, 1)`` and is a
  :class:`~common.stochastic.StochasticModule` (seeded evaluation, :func:`common.stochastic.seed_evaluation`).
- :func:`event_frames`: tonic's ``ToFrame`` binning for event streams (DVS, SHD, ...), as a
  transform that returns a float tensor ``[T, C, ...]``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from .stochastic import StochasticModule

__all__ = ["DirectEncoder", "RateEncoder", "rate_code", "event_frames", "check_time_steps"]


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


def rate_code(p: torch.Tensor, time_steps: int, generator: Optional[torch.Generator] = None,
              out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Bernoulli rate code of probabilities ``p``: spikes ``[T, *p.shape]`` (dtype of ``p``, or of ``out``),
    ``s[t] = 1[r[t] < p]`` with ``r ~ U[0, 1)`` drawn from ``generator`` (``None``: the global RNG)."""
    r = torch.rand((check_time_steps(time_steps),) + tuple(p.shape), generator=generator, dtype=p.dtype,
                   device=p.device)
    if out is not None:
        return torch.lt(r, p, out=out)
    return (r < p).to(p.dtype)


class RateEncoder(StochasticModule):
    """Rate coding of a (normalised) input: ``s[t] ~ Bernoulli(clamp(x * std + mean, 0, 1))`` i.i.d. over t
    (:func:`rate_code`). ``mean``/``std``: the input normalisation to undo, scalars or one value per channel
    (dim 1 of ``x``); the defaults take ``x`` as the probability. ``generator``: a fixed generator for every
    forward; without it, training draws from the global RNG and evaluation from the generator of
    :func:`common.stochastic.seed_evaluation`."""

    def __init__(self, time_steps: int, mean: Union[float, Sequence[float]] = 0.0,
                 std: Union[float, Sequence[float]] = 1.0, generator: Optional[torch.Generator] = None):
        super().__init__()
        self.time_steps = check_time_steps(time_steps)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(-1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(-1), persistent=False)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, mean={self.mean.tolist()}, std={self.std.tolist()}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2) if x.dim() >= 2 else (-1,)  # channels: dim 1
        p = (x * self.std.view(shape) + self.mean.view(shape)).clamp(0.0, 1.0)
        return rate_code(p, self.time_steps, self.generator_for(x))


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
