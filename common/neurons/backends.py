"""Backend registry of the fused neuron kernels, and the one place that resolves ``backend="auto"``.

``"torch"`` is the pure-PyTorch reference and always exists. Fused implementations (``"cpu"``,
``"triton"``) register themselves from :mod:`common.kernels` with :func:`register_backend`: a multi-step
IF/LIF with the signature of :func:`common.neurons.functional.lif_multistep_torch`, optionally SPSN's fused
two-exponential filter ``(x, alpha, beta) -> U``, and an availability probe. ``common.kernels`` depends on
this module, never the reverse at import time: it is imported on the first request for a backend other
than ``"torch"``, and an ``ImportError`` there is raised (a backend whose compiler is missing registers
itself as unavailable, with one warning, instead).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from .functional import MultiStepOutput, lif_multistep_torch

LifMultistepFn = Callable[..., MultiStepOutput]
FilterFn = Callable[[torch.Tensor, float, float], torch.Tensor]

_BACKENDS: Dict[str, LifMultistepFn] = {"torch": lif_multistep_torch}
_FILTERS: Dict[str, FilterFn] = {}  # fused two-exponential filters ("torch": common.neurons.parallel's methods)
# availability probes, checked lazily: name -> callable(device) -> bool
_AVAILABLE: Dict[str, Callable[[torch.device], bool]] = {"torch": lambda device: True}
# preference order for "auto", per device type
AUTO_ORDER = {"cuda": ("triton", "torch"), "cpu": ("cpu", "torch")}
BACKEND_NAMES = ("auto", "torch", "cpu", "triton")


def register_backend(name: str, fn: LifMultistepFn, available: Callable[[torch.device], bool],
                     two_exp_filter: Optional[FilterFn] = None) -> None:
    check_backend_name(name)
    _BACKENDS[name] = fn
    _AVAILABLE[name] = available
    if two_exp_filter is not None:
        _FILTERS[name] = two_exp_filter


def _load_kernels() -> None:
    # importing common.kernels registers the fused backends; its import errors are real errors (an import
    # statement, not importlib: torch.compile traces it without a graph break)
    import common.kernels  # noqa: F401


def check_backend_name(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    return name


def available_backends(device: "torch.device | str" = "cpu") -> list[str]:
    _load_kernels()
    device = torch.device(device)
    return [n for n, ok in _AVAILABLE.items() if ok(device)]


def resolve_name(name: str, device: "torch.device | str") -> str:
    """The backend ``name`` runs on ``device``: ``"auto"`` picks the first available of :data:`AUTO_ORDER`;
    an explicit backend that is not available raises."""
    check_backend_name(name)
    if name == "torch":
        return name
    _load_kernels()
    device = torch.device(device)
    if name == "auto":
        return next((c for c in AUTO_ORDER.get(device.type, ("torch",)) if c in _AVAILABLE and _AVAILABLE[c](device)),
                    "torch")
    if name not in _AVAILABLE or not _AVAILABLE[name](device):
        raise RuntimeError(
            f"neuron backend {name!r} is not available on {device}; available: {available_backends(device)}"
        )
    return name


def resolve_backend(name: str, device: torch.device) -> LifMultistepFn:
    """The multi-step IF/LIF implementation for ``name`` on ``device``."""
    return _BACKENDS[resolve_name(name, device)]


def resolve_filter(name: str, device: torch.device) -> Optional[FilterFn]:
    """The fused two-exponential filter for ``name`` on ``device``, or ``None`` when the resolved backend has
    none (``"torch"``: use :mod:`common.neurons.parallel`'s methods)."""
    return _FILTERS.get(resolve_name(name, device))
