"""Launch configurations of the Triton LIF kernels (no triton import: the report renders them too)."""
from __future__ import annotations

from typing import NamedTuple


class KernelConfig(NamedTuple):
    """Launch configuration of the LIF kernels (chosen per shape by :func:`launch_config`)."""

    block: int  # neurons per program (block == 32 * warps: one neuron per thread)
    warps: int
    prefetch: bool  # keep the loads of the next 8 steps in flight (8-step unrolled loop)


def launch_config(T: int, N: int, interpret: bool = False) -> KernelConfig:
    """Per-shape launch configuration, from ``scripts/tune_triton_lif.py`` on an H100
    (``results/bench/tune_triton_lif_*.json``).

    The time loop is sequential, so with few neurons each step would wait one memory latency: the
    8-step prefetch window keeps loads in flight (3-4x faster at N <= 4096), and
    one neuron per thread in small programs spreads the neurons over as many SMs as possible. Large
    layers are bandwidth-bound: two neurons per thread there (within 1 % of the best tuned config
    at N = 1M, 86-96 % of the copy bandwidth per kernel).
    """
    if interpret:  # TRITON_INTERPRET=1 (tests on CPU): few, larger programs
        return KernelConfig(128, 4, True)
    if N <= 16384:
        return KernelConfig(32, 1, True)
    if N <= 262144:
        return KernelConfig(128, 4, True)
    return KernelConfig(256, 4, True)
