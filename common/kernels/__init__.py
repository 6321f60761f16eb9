"""Fused neuron kernels: registers the ``"cpu"`` (C++ extension) and ``"triton"`` backends.

Imported lazily by :func:`common.neurons.backends.resolve_name` (the registry and the one resolver of
``"auto"`` live in :mod:`common.neurons.backends`). Each backend's ``available`` probe is cheap after the
first call. Only a missing compiler makes a backend unavailable — a failed C++ build (:mod:`.cpu`) or triton
not installed where it would run, each with one warning — and ``"auto"`` then uses the PyTorch reference;
any other error (an ``ImportError`` inside this package included) is raised.

- ``lif_multistep_cpu`` / ``lif_multistep_triton``: drop-in versions of ``lif_multistep_torch``.
- :func:`common.kernels.filter.two_exp_filter`: SPSN's fused two-exponential filter.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional

import torch

from ..neurons.backends import register_backend
from ..neurons.functional import MultiStepOutput
from ..surrogate import Surrogate, Triangle
from . import cpu as _cpu
from . import ops
from .filter import two_exp_filter
from .lif import lif_multistep_fused

__all__ = ["lif_multistep_cpu", "lif_multistep_triton", "triton_available", "two_exp_filter"]

_TRITON: dict = {"checked": False, "module": None, "error": None}


def _triton_module():
    """The Triton kernel module, or ``None`` (one warning) when triton itself is not installed."""
    if not _TRITON["checked"]:
        try:
            import triton  # noqa: F401
        except ModuleNotFoundError as exc:
            if exc.name != "triton":
                raise
            _TRITON["checked"], _TRITON["error"] = True, f"{type(exc).__name__}: {exc}"
            warnings.warn("snn-repro: triton is not installed, so the 'triton' neuron backend is unavailable and "
                          "backend='auto' uses the PyTorch reference on CUDA tensors (pip install triton).",
                          RuntimeWarning, stacklevel=2)
            return None
        from . import triton_lif

        ops.lif_op("triton")
        ops.filter_op("triton")
        _TRITON["checked"], _TRITON["module"] = True, triton_lif
    return _TRITON["module"]


def triton_available(device: "torch.device | str") -> bool:
    """CUDA tensors with triton installed; CPU tensors only under ``TRITON_INTERPRET=1`` (tests)."""
    device = torch.device(device)
    if device.type == "cuda":
        ok = torch.cuda.is_available()
    elif device.type == "cpu":
        ok = os.environ.get("TRITON_INTERPRET", "0") == "1"
    else:
        ok = False
    return ok and _triton_module() is not None


def _fused_backend(name: str, module, unavailable):
    """A drop-in ``lif_multistep_torch`` running the fused kernels of ``module()`` (``None``: unavailable)."""

    def lif_multistep(
        x_seq: torch.Tensor,
        v0: Optional[torch.Tensor] = None,
        leak: "float | torch.Tensor" = 1.0,
        threshold: "float | torch.Tensor" = 1.0,
        surrogate: Surrogate = Triangle(),
        reset: str = "soft",
        detach_reset: bool = False,
        return_membrane: bool = False,
    ) -> MultiStepOutput:
        mod = module(x_seq.device)
        if mod is None:
            raise RuntimeError(f"backend {name!r} unavailable for {x_seq.device}: {unavailable()}")
        return lif_multistep_fused(mod, name, x_seq, v0, leak, threshold, surrogate, reset, detach_reset,
                                   return_membrane)

    lif_multistep.__name__ = lif_multistep.__qualname__ = f"lif_multistep_{name}"
    lif_multistep.__doc__ = f"Fused multi-step IF/LIF ({name}); same semantics as ``lif_multistep_torch``."
    return lif_multistep


# C++ extension on CPU; Triton kernels (CUDA, or CPU under TRITON_INTERPRET=1)
lif_multistep_cpu = _fused_backend("cpu", lambda device: _cpu if _cpu.available(device) else None, _cpu.build_error)
lif_multistep_triton = _fused_backend("triton", lambda device: _triton_module(), lambda: _TRITON["error"])


register_backend("cpu", lif_multistep_cpu, available=_cpu.available,
                 two_exp_filter=lambda x, a, b: two_exp_filter(x, a, b, backend="cpu"))
register_backend("triton", lif_multistep_triton, available=triton_available,
                 two_exp_filter=lambda x, a, b: two_exp_filter(x, a, b, backend="triton"))

# define the custom ops now (cheap), so torch.compile never traces their creation
ops.lif_op("cpu")
ops.filter_op("cpu")
if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET", "0") == "1":
    _triton_module()
