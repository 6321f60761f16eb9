"""The one protocol for seeded stochastic evaluation.

Every module that draws random numbers in its forward pass (rate encoders, stochastic neurons) derives
from :class:`StochasticModule` and draws from :meth:`StochasticModule.generator_for`:

- an explicit ``generator`` given to the module (tests, data encoding) is always used;
- otherwise, in training, the global RNG (seeded by the run's ``seed``);
- otherwise, in evaluation, the generator that :func:`seed_evaluation` gave the model.

:func:`seed_evaluation(model, seed) <seed_evaluation>` gives *all* stochastic modules of ``model`` one
shared generator, created on the first draw on the input's device and seeded with ``seed``; the modules
draw from it in forward order. Calling it before every evaluation (the Lightning module does, with the
run's ``seed``; plain evaluation loops do the same) makes a stochastic evaluation repeat exactly.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = ["StochasticModule", "EvalGenerator", "seed_evaluation"]


class EvalGenerator:
    """A ``torch.Generator`` seeded with ``seed``, created lazily on the device of the first draw."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._gen: Optional[torch.Generator] = None

    def get(self, device: torch.device) -> torch.Generator:
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device).manual_seed(self.seed)
        return self._gen


class StochasticModule(nn.Module):
    """Mixin of modules whose forward draws random numbers (see the module docstring)."""

    generator: Optional[torch.Generator] = None  # explicit generator: used in training and evaluation
    eval_generator: Optional[EvalGenerator] = None  # set by seed_evaluation

    def generator_for(self, x: torch.Tensor) -> Optional[torch.Generator]:
        """The generator this forward draws from (``None``: the global RNG)."""
        if self.generator is not None:
            return self.generator
        if self.training or self.eval_generator is None:
            return None
        return self.eval_generator.get(x.device)


def seed_evaluation(model: nn.Module, seed: int) -> int:
    """Give every :class:`StochasticModule` of ``model`` one fresh generator seeded with ``seed`` for evaluation.

    Returns the number of stochastic modules found (0: the model is deterministic)."""
    shared = EvalGenerator(seed)
    found = 0
    for m in model.modules():
        if isinstance(m, StochasticModule):
            m.eval_generator = shared
            found += 1
    return found
