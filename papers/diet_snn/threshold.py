"""DIET-SNN stage 2: layer-wise threshold initialisation (official ``snn.py: find_threshold``).

For each hidden LIF layer ``l`` in forward order, with every leak set to 1 (IF neurons) and a long
simulation (``time_steps``, 100 in the official code): feed the ``num_images`` training images, record
the input current ``I_l[t] = W_l * O_{l-1}[t]`` of layer ``l`` at every step, take its ``percentile``
(99.7th) over all images and neurons *per step* and keep the maximum over steps (as the official
code does); set ``theta_l`` to it, then go on to layer ``l + 1`` (so later layers see the spikes of
earlier layers under their new thresholds). Finally the caller multiplies every threshold by the
scaling factor (:func:`scale_thresholds`).

The long simulation runs in chunks of ``chunk`` steps with the neurons' membrane carried between
chunks, so memory does not grow with ``time_steps``.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from common.harness.distributed import on_rank_zero
from common.neurons import LIF, SpikingNeuron, reset_states

__all__ = ["percentile", "find_thresholds", "set_thresholds", "scale_thresholds", "chunked_forward",
           "simulation_mode"]


def percentile(t: torch.Tensor, q: float) -> float:
    """The official code's percentile: ``kthvalue(1 + round(q/100 * (n - 1)))`` of the flattened tensor."""
    flat = t.reshape(-1)
    k = 1 + round(0.01 * float(q) * (flat.numel() - 1))
    return float(flat.float().kthvalue(int(k)).values.item())


class _Stop(Exception):
    pass


@contextlib.contextmanager
def simulation_mode(model: nn.Module, chunk: int, leak_one: bool = False) -> Iterator[None]:
    """Eval mode, stateful neurons (state carried across calls), ``model.time_steps = chunk``,
    optionally every leak set to 1; everything restored on exit."""
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    saved_state = [(m, m.stateful) for m in neurons]
    saved_leak = [(m, m.leak.detach().clone()) for m in neurons if isinstance(m, LIF)]
    was_training, T = model.training, model.time_steps
    model.eval()
    try:
        for m in neurons:
            m.stateful = True
        if leak_one:
            with torch.no_grad():
                for m, _ in saved_leak:
                    m.leak.fill_(1.0)
        model.time_steps = chunk
        reset_states(model)
        yield
    finally:
        model.time_steps = T
        for m, s in saved_state:
            m.stateful = s
        with torch.no_grad():
            for m, v in saved_leak:
                m.leak.copy_(v)
        reset_states(model)
        model.train(was_training)


@torch.no_grad()
def chunked_forward(model: nn.Module, x: torch.Tensor, time_steps: int, chunk: int = 10) -> torch.Tensor:
    """The SNN's logits after ``time_steps`` steps, simulated ``chunk`` steps at a time."""
    out = None
    with simulation_mode(model, chunk):
        done = 0
        while done < time_steps:
            n = min(chunk, time_steps - done)
            model.time_steps = n
            out = model(x)
            done += n
    assert out is not None
    return out


def find_thresholds(model: nn.Module, x: torch.Tensor, time_steps: int = 100, q: float = 99.7,
                    chunk: int = 10, log=None) -> dict[str, float]:
    """Set and return the (unscaled) threshold of every hidden LIF of an SNN-mode DIET model.

    Under DDP the search runs once, on rank 0; every rank receives its thresholds and sets them."""
    thresholds = on_rank_zero(lambda: _search_thresholds(model, x, time_steps, q, chunk, log))
    set_thresholds(model, thresholds)
    return thresholds


@torch.no_grad()
def _search_thresholds(model: nn.Module, x: torch.Tensor, time_steps: int, q: float, chunk: int,
                       log=None) -> dict[str, float]:
    layers = model.neurons()  # type: ignore[operator]
    result: dict[str, float] = {}
    for name, neuron in layers:
        best = -float("inf")

        def hook(module, args):
            nonlocal best
            cur = args[0]  # [t, B, ...]
            for step in cur.unbind(0):
                best = max(best, percentile(step, q))
            raise _Stop

        with simulation_mode(model, chunk, leak_one=True):
            handle = neuron.register_forward_pre_hook(hook)
            try:
                done = 0
                while done < time_steps:
                    n = min(chunk, time_steps - done)
                    model.time_steps = n
                    try:
                        model(x)
                    except _Stop:
                        pass
                    done += n
            finally:
                handle.remove()
        if not best > 0:
            raise RuntimeError(f"threshold search: layer {name} receives no positive input current "
                               f"(percentile {best}); is the ANN trained?")
        neuron.threshold.fill_(best)
        result[name] = best
        if log:
            log(f"threshold {name}: {best:.4f}")
    return result


@torch.no_grad()
def set_thresholds(model: nn.Module, thresholds: dict[str, float], scale: float = 1.0,
                   leak: Optional[float] = None) -> None:
    """Load thresholds (times ``scale``) and optionally reset every leak to ``leak``."""
    named = dict(model.neurons())  # type: ignore[operator]
    if set(named) != set(thresholds):
        raise KeyError(f"threshold names {sorted(thresholds)} do not match the model's LIF layers {sorted(named)}")
    for name, m in named.items():
        m.threshold.fill_(float(thresholds[name]) * float(scale))
        if leak is not None:
            m.leak.fill_(float(leak))


def scale_thresholds(thresholds: dict[str, float], scale: float) -> dict[str, float]:
    return {k: float(v) * float(scale) for k, v in thresholds.items()}
