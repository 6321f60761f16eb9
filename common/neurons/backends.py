"""Backend registry for the multi-step neuron loop.

``"torch"`` is the pure-PyTorch reference and always exists. Fused implementations (``"cpu"``,
``"triton"``) register themselves from :mod:`common.kernels` with :func:`register_backend`;
``"auto"`` picks the fastest one available for the input tensor's device.
Every implementation has the signature of :func:`common.neurons.functional.lif_multistep_torch`.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch

from .functional import MultiStepOutput, lif_multistep_torch

LifMultistepFn = Callable[..., MultiStepOutput]

_BACKENDS: Dict[str, LifMultistepFn] = {"torch": lif_multistep_torch}
# availability probes, checked lazily: name -> callable(device) -> bool
_AVAILABLE: Dict[str, Callable[[torch.device], bool]] = {"torch": lambda device: True}
# preference order for "auto", per device type
AUTO_ORDER = {"cuda": ("triton", "torch"), "cpu": ("cpu", "torch")}
BACKEND_NAMES = ("auto", "torch", "cpu", "triton")


def register_backend(name: str, fn: LifMultistepFn, available: Callable[[torch.device], bool]) -> None:
    _BACKENDS[name] = fn
    _AVAILABLE[name] = available


def _load_kernels() -> None:
    # importing common.kernels registers the fused backends (if their dependencies exist)
    try:
        import common.kernels  # noqa: F401
    except ImportError:
        pass


def check_backend_name(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    return name


def available_backends(device: "torch.device | str" = "cpu") -> list[str]:
    _load_kernels()
    device = torch.device(device)
    return [n for n, ok in _AVAILABLE.items() if ok(device)]


def resolve_backend(name: str, device: torch.device) -> LifMultistepFn:
    """Return the implementation for ``name`` on ``device`` (``"auto"``: fastest available)."""
    check_backend_name(name)
    if name != "torch":
        _load_kernels()
    if name == "auto":
        for cand in AUTO_ORDER.get(device.type, ("torch",)):
            if cand in _BACKENDS and _AVAILABLE[cand](device):
                return _BACKENDS[cand]
        return lif_multistep_torch
    if name not in _BACKENDS or not _AVAILABLE[name](device):
        raise RuntimeError(
            f"neuron backend {name!r} is not available on {device}; available: {available_backends(device)}"
        )
    return _BACKENDS[name]
