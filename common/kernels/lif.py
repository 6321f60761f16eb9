"""Device-independent front end of the fused multi-step IF/LIF kernels.

:func:`lif_multistep_fused` has the semantics of
:func:`common.neurons.functional.lif_multistep_torch` and runs one of the kernel modules
(:mod:`.cpu` or :mod:`.triton_lif`), which share the raw interface::

    lif_fwd(x2[T,N], v0[N]|None, leak[C], thr[C], S, soft, store_h) -> spikes, h|None, v_last
    lif_bwd(g_spikes|None, g_h|None, g_v|None, h, v0, leak, thr, S, kind, alpha, soft, detach,
            gx_out, need_gleak, need_gthr, need_gv0=True)
        -> gx, gv0|None, gleak_per_neuron|None, gthr_per_neuron|None

Saved state: the charge ``h[t]`` (one float per neuron-step; spikes and ``v[t-1]`` are recomputed
from it). In eager mode the backward writes ``grad_x`` over that buffer, so a forward+backward
allocates only the spike output and one ``[T, N]`` buffer. A second backward through the same graph
(``retain_graph=True``) recomputes ``h`` from the saved input. Under ``torch.compile`` the same
kernels run as ``torch.library`` custom ops (:mod:`.ops`) so the graph has no breaks.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..neurons.functional import RESETS, MultiStepOutput
from ..surrogate import Surrogate, Triangle

_KERNEL_DTYPES = (torch.float32, torch.float64)


_CONSTANTS: dict = {}  # (value, dtype, device) -> 1-element tensor for float leak/threshold


def _constant(value: float, x: torch.Tensor) -> torch.Tensor:
    """A cached 1-element tensor: a fresh one per call cost an allocation and a fill kernel launch on the
    GPU (about 0.1 ms of host time per forward on an H100 machine). Created outside inference mode, so
    a first call during validation cannot make it unusable for training; never modified (read-only
    kernel input)."""
    key = (value, x.dtype, x.device)
    t = _CONSTANTS.get(key)
    if t is None:
        if len(_CONSTANTS) >= 1024:
            _CONSTANTS.clear()
        with torch.inference_mode(False), torch.no_grad():
            t = _CONSTANTS[key] = torch.full((1,), value, dtype=x.dtype, device=x.device)
    return t


def _param(p, x: torch.Tensor, name: str) -> torch.Tensor:
    """float / 0-d / [C] parameter -> 1-d tensor [C] (C = 1 per layer), differentiable view."""
    if not torch.is_tensor(p):
        if torch.compiler.is_compiling():  # a graph constant: no cache lookups while tracing
            return torch.full((1,), float(p), dtype=x.dtype, device=x.device)
        return _constant(float(p), x)
    if p.dim() > 1:
        raise ValueError(f"{name} must be a scalar or a 1-d per-channel tensor, got shape {tuple(p.shape)}")
    return p.reshape(-1).to(device=x.device, dtype=x.dtype)


def reduce_param_grad(g: Optional[torch.Tensor], C: int, S: int) -> Optional[torch.Tensor]:
    if g is None:
        return None
    if C == 1:
        return g.sum().reshape(1)
    return g.view(-1, C, S).sum((0, 2))


class _LifFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, v0, leak, thr, impl, S, kind, alpha, soft, detach, ret_mem):  # type: ignore[override]
        store_h = ret_mem or any(ctx.needs_input_grad[:4])
        spikes, h, vlast = impl.lif_fwd(x2, v0, leak, thr, S, soft, store_h)
        ctx.cfg = (impl, S, kind, alpha, soft, detach, ret_mem)
        ctx.set_materialize_grads(False)
        if ret_mem:
            ctx.save_for_backward(x2, v0, leak, thr, h)
            ctx.h_buf = None
            return spikes, vlast, h
        ctx.save_for_backward(x2, v0, leak, thr)
        ctx.h_buf = h  # private: the backward may overwrite it with grad_x
        return spikes, vlast, None

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_spikes, g_v, g_h):  # type: ignore[override]
        impl, S, kind, alpha, soft, detach, ret_mem = ctx.cfg
        saved = ctx.saved_tensors
        x2, v0, leak, thr = saved[:4]
        if ret_mem:
            h = saved[4]
            gx = torch.empty_like(h)
        else:
            h, ctx.h_buf = ctx.h_buf, None
            if h is None:  # second backward through a retained graph: recompute the charge
                _, h, _ = impl.lif_fwd(x2, v0, leak, thr, S, soft, True)
            gx = h  # grad_x overwrites h[t] right after it is read (reverse-time order)
        need = ctx.needs_input_grad
        gx, gv0, gl, gt = impl.lif_bwd(
            g_spikes.reshape(h.shape) if g_spikes is not None else None,
            g_h, g_v, h, v0, leak, thr, S, kind, alpha, soft, detach, gx, need[2], need[3], need_gv0=bool(need[1]),
        )
        C = leak.numel()
        return (
            gx if need[0] else None,
            gv0 if need[1] else None,
            reduce_param_grad(gl, C, S),
            reduce_param_grad(gt, C, S),
            None, None, None, None, None, None, None,
        )


def lif_multistep_fused(
    impl,
    op_name: str,
    x_seq: torch.Tensor,
    v0: Optional[torch.Tensor] = None,
    leak: "float | torch.Tensor" = 1.0,
    threshold: "float | torch.Tensor" = 1.0,
    surrogate: Surrogate = Triangle(),
    reset: str = "soft",
    detach_reset: bool = False,
    return_membrane: bool = False,
) -> MultiStepOutput:
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must be [T, B, ...], got shape {tuple(x_seq.shape)}")
    kind, alpha = int(surrogate.kind), float(surrogate.alpha)
    if kind < 0:
        raise ValueError(f"surrogate {surrogate!r} has no kernel id (kind)")
    out_dtype = x_seq.dtype
    x = x_seq if x_seq.dtype in _KERNEL_DTYPES else x_seq.float()
    T = x.shape[0]
    step_shape = x.shape[1:]
    N = math.prod(step_shape)
    leak_t, thr_t = _param(leak, x, "leak"), _param(threshold, x, "threshold")
    C = max(leak_t.numel(), thr_t.numel())
    if C > 1:
        if x.dim() < 3 or x.shape[2] != C:
            raise ValueError(f"per-channel parameters of length {C} need x_seq [T, B, {C}, ...], got {tuple(x.shape)}")
        if leak_t.numel() != thr_t.numel():
            if min(leak_t.numel(), thr_t.numel()) != 1:
                raise ValueError("leak and threshold have different channel counts")
            leak_t, thr_t = leak_t.expand(C), thr_t.expand(C)
        S = math.prod(x.shape[3:])
    else:
        S = 1
    leak_t, thr_t = leak_t.contiguous(), thr_t.contiguous()
    x2 = x.reshape(T, N).contiguous()
    v0f = None if v0 is None else v0.to(x.dtype).expand(step_shape).reshape(N).contiguous()
    if T == 0 or N == 0:
        from ..neurons.functional import lif_multistep_torch

        return lif_multistep_torch(x_seq, v0, leak, threshold, surrogate, reset, detach_reset, return_membrane)
    soft = reset == "soft"
    if torch.compiler.is_compiling():
        from . import ops

        spikes, vlast, h = ops.lif_op(op_name)(x2, v0f, leak_t, thr_t, S, soft, kind, alpha, detach_reset)
        if not return_membrane:
            h = None
    else:
        spikes, vlast, h = _LifFunction.apply(
            x2, v0f, leak_t, thr_t, impl, S, kind, alpha, soft, detach_reset, return_membrane
        )
    spikes = spikes.view(x.shape)
    vlast = vlast.view(step_shape)
    membrane = h.view(x.shape) if h is not None else None
    if out_dtype != x.dtype:
        spikes, vlast = spikes.to(out_dtype), vlast.to(out_dtype)
        membrane = None if membrane is None else membrane.to(out_dtype)
    return MultiStepOutput(spikes, vlast, membrane)
