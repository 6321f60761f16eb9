"""Fused CPU kernels: a C++ extension (``csrc/``) built once with torch's cpp_extension.

The build is lazy (first use), cached in torch's extension directory (``TORCH_EXTENSIONS_DIR``,
default ``~/.cache/torch_extensions``) and portable: ``-O3`` without ``-march=native``; the kernels
are compiled twice, for AVX2 and for the baseline ISA, in two translation units that ninja builds in
parallel, and the AVX2 copy is chosen at run time when the CPU has it. OpenMP over neuron blocks
(torch's own libgomp is reused at run time). Headers are tracked by ninja, so an edited kernel
rebuilds. If the compiler, ninja or the headers are missing, :func:`load` returns ``False`` after one
warning and the ``"cpu"`` backend reports itself as unavailable, so ``"auto"`` falls back to the
PyTorch reference; an ``ImportError`` is raised, never taken for a missing compiler.
"""
from __future__ import annotations

import os
import pathlib
import threading
import warnings
from typing import Optional

import torch

_CSRC = pathlib.Path(__file__).with_name("csrc")
_SOURCES = [_CSRC / "lif_cpu.cpp", _CSRC / "lif_cpu_avx2.cpp", _CSRC / "lif_cpu_base.cpp"]
_LOCK = threading.Lock()
_STATE: dict = {"tried": False, "ok": False, "error": None}

CFLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno", "-fopenmp"]
LDFLAGS = ["-fopenmp"]


def _ops_registered() -> bool:
    try:
        return hasattr(torch.ops.snn_repro_cpu, "lif_fwd")
    except (AttributeError, RuntimeError):
        return False


@torch.compiler.disable
def load(verbose: bool = False) -> bool:
    """Build (or load the cached build of) the extension; ``True`` when its ops are registered."""
    if _STATE["tried"]:
        return _STATE["ok"]
    with _LOCK:
        if _STATE["tried"]:
            return _STATE["ok"]
        try:
            if os.environ.get("SNN_REPRO_DISABLE_CPU_EXT", "") not in ("", "0"):
                raise RuntimeError("disabled by SNN_REPRO_DISABLE_CPU_EXT")
            if not _ops_registered():
                from torch.utils import cpp_extension

                cpp_extension.load(
                    name="snn_repro_lif_cpu",
                    sources=[str(p) for p in _SOURCES],
                    extra_cflags=CFLAGS,
                    extra_ldflags=LDFLAGS,
                    is_python_module=False,
                    verbose=verbose,
                )
            _STATE["ok"] = _ops_registered()
            if not _STATE["ok"]:
                raise RuntimeError("extension loaded but its ops are not registered")
        except ImportError:
            raise  # a broken install, not a missing compiler: never hidden behind the fallback (nor cached)
        except Exception as exc:  # noqa: BLE001 - a failed build (no compiler/ninja/headers): use the reference
            _STATE["tried"], _STATE["ok"], _STATE["error"] = True, False, f"{type(exc).__name__}: {exc}"
            warnings.warn(
                "snn-repro: the fused CPU neuron kernels could not be built "
                f"({_STATE['error'].splitlines()[0][:300]}); falling back to the PyTorch reference "
                "(backend='torch'). Install a C++ compiler and ninja to enable backend='cpu'.",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            _STATE["tried"] = True
    return _STATE["ok"]


def available(device: "torch.device | str") -> bool:
    return torch.device(device).type == "cpu" and (_STATE["ok"] if _STATE["tried"] else load())


def build_error() -> Optional[str]:
    return _STATE["error"]


# ---------------------------------------------------------------- raw kernel calls
def pool_empty(like: torch.Tensor) -> torch.Tensor:
    """Uninitialised tensor shaped like ``like`` over a pooled block (reused across calls)."""
    return torch.ops.snn_repro_cpu.pool_empty(list(like.shape), like.dtype)


def pool_configure(cap_bytes: int = -1) -> int:
    """Set the pool's cap in bytes (0: disable and free cached blocks; -1: keep); returns bytes cached."""
    _ensure()
    return int(torch.ops.snn_repro_cpu.pool_configure(int(cap_bytes)))


def _ensure() -> None:
    if not _STATE["ok"] and not load():
        raise RuntimeError(f"the fused CPU kernels are unavailable: {_STATE['error']}")


def lif_fwd(x2, v0, leak, thr, S: int, soft: bool, store_h: bool):
    """x2 [T, N] contiguous -> (spikes [T, N], h [T, N] or None, v_last [N])."""
    _ensure()
    T, N = x2.shape
    spikes = pool_empty(x2)
    h = pool_empty(x2) if store_h else None
    vlast = x2.new_empty(N)
    torch.ops.snn_repro_cpu.lif_fwd(x2, v0, leak, thr, S, soft, spikes, h, vlast)
    return spikes, h, vlast


def lif_bwd(gs, gh, gv, h, v0, leak, thr, S, kind, alpha, soft, detach, gx, need_gl: bool, need_gt: bool,
            need_gv0: bool = True):
    """Reverse-time pass; ``gx`` may be ``h`` itself (grad_x is written over the saved charge)."""
    _ensure()
    N = h.shape[1]
    gs_scalar = 0.0
    if gs is not None:
        if gs.numel() > 0 and all(st == 0 for st in gs.stride()):  # e.g. the grad of spikes.sum()
            gs_scalar, gs = float(gs.reshape(-1)[0]), None
        elif not gs.is_contiguous():
            gs = gs.contiguous()
    gh = gh.contiguous() if gh is not None else None  # e.g. expanded (stride-0) grads of .sum()
    gv = gv.contiguous() if gv is not None else None
    gv0 = h.new_empty(N) if need_gv0 else None
    gl = h.new_empty(N) if need_gl else None
    gt = h.new_empty(N) if need_gt else None
    torch.ops.snn_repro_cpu.lif_bwd(
        gs, gs_scalar, gh, gv, h, v0, leak, thr, S, int(kind), float(alpha), soft, detach, gx, gv0, gl, gt
    )
    return gx, gv0, gl, gt


def filter_fwd(x2, a: float, b: float, thr: Optional[float] = None):
    _ensure()
    out = torch.empty_like(x2)
    spikes = torch.empty_like(x2) if thr is not None else None
    torch.ops.snn_repro_cpu.two_exp_filter(x2, a, b, False, 0.0 if thr is None else thr, out, spikes)
    return out, spikes


def filter_bwd(g2, a: float, b: float):
    _ensure()
    out = torch.empty_like(g2)
    torch.ops.snn_repro_cpu.two_exp_filter(g2, a, b, True, 0.0, out, None)
    return out
