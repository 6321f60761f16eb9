"""``torch.library`` custom ops around the fused kernels (used when ``torch.compile`` traces a model).

For each kernel module (``cpu`` -> C++ extension, ``triton`` -> Triton) two ops are defined:

- ``snn_repro::lif_fwd_<impl>(x[T,N], v0?, leak[C], thr[C], S, soft, kind, alpha, detach)``
  -> ``(spikes[T,N], v_last[N], h[T,N])``
- ``snn_repro::lif_bwd_<impl>(g_spikes?, g_h?, g_v?, h, v0?, leak, thr, S, kind, alpha, soft, detach,
  need_gleak, need_gthr)`` -> ``(gx, gv0, gleak_per_neuron, gthr_per_neuron)`` (empty when not needed)

with fake (meta) implementations and an autograd registration, so Dynamo/AOTAutograd capture them
as single nodes, and ``snn_repro::two_exp_filter_<impl>`` / ``..._bwd_<impl>`` for the SPSN filter.
Ops are created lazily per implementation (the Triton op only if triton imports).
"""
from __future__ import annotations

import importlib
from typing import Optional

import torch
from torch import Tensor

from .lif import reduce_param_grad

_LIF_OPS: dict = {}
_FILTER_OPS: dict = {}
_MODULES = {"cpu": ".cpu", "triton": ".triton_lif"}


def _impl(name: str):
    return importlib.import_module(_MODULES[name], __package__)


def _define_lif(name: str):
    impl = _impl(name)

    @torch.library.custom_op(f"snn_repro::lif_fwd_{name}", mutates_args=())
    def lif_fwd(
        x: Tensor, v0: Optional[Tensor], leak: Tensor, thr: Tensor, S: int, soft: bool, kind: int, alpha: float,
        detach: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        spikes, h, vlast = impl.lif_fwd(x.contiguous(), v0, leak.contiguous(), thr.contiguous(), S, soft, True)
        return spikes, vlast, h

    @lif_fwd.register_fake
    def _(x, v0, leak, thr, S, soft, kind, alpha, detach):
        return torch.empty_like(x), x.new_empty(x.shape[1]), torch.empty_like(x)

    @torch.library.custom_op(f"snn_repro::lif_bwd_{name}", mutates_args=())
    def lif_bwd(
        gs: Optional[Tensor], gh: Optional[Tensor], gv: Optional[Tensor], h: Tensor, v0: Optional[Tensor],
        leak: Tensor, thr: Tensor, S: int, kind: int, alpha: float, soft: bool, detach: bool, need_gl: bool,
        need_gt: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        gx = impl.pool_empty(h) if hasattr(impl, "pool_empty") else torch.empty_like(h)
        gx, gv0, gl, gt = impl.lif_bwd(
            gs, gh, gv, h, v0, leak.contiguous(), thr.contiguous(), S, kind, alpha, soft, detach, gx, need_gl,
            need_gt,
        )
        return gx, gv0, (gl if gl is not None else h.new_empty(0)), (gt if gt is not None else h.new_empty(0))

    @lif_bwd.register_fake
    def _(gs, gh, gv, h, v0, leak, thr, S, kind, alpha, soft, detach, need_gl, need_gt):
        N = h.shape[1]
        return (torch.empty_like(h), h.new_empty(N), h.new_empty(N if need_gl else 0),
                h.new_empty(N if need_gt else 0))

    def setup_context(ctx, inputs, output):
        x, v0, leak, thr, S, soft, kind, alpha, detach = inputs
        _, _, h = output
        ctx.save_for_backward(h, v0, leak, thr)
        ctx.cfg = (S, soft, kind, alpha, detach)

    def backward(ctx, g_spikes, g_v, g_h):
        h, v0, leak, thr = ctx.saved_tensors
        S, soft, kind, alpha, detach = ctx.cfg
        need = ctx.needs_input_grad
        gx, gv0, gl, gt = lif_bwd(g_spikes, g_h, g_v, h, v0, leak, thr, S, kind, alpha, soft, detach,
                                  need[2], need[3])
        C = leak.numel()
        return (gx, gv0 if need[1] else None, reduce_param_grad(gl, C, S) if need[2] else None,
                reduce_param_grad(gt, C, S) if need[3] else None, None, None, None, None, None)

    lif_fwd.register_autograd(backward, setup_context=setup_context)
    return lif_fwd


def lif_op(name: str):
    """The forward custom op ``snn_repro::lif_fwd_<name>`` (defined on first use)."""
    if name not in _LIF_OPS:
        _LIF_OPS[name] = _define_lif(name)
    return _LIF_OPS[name]


def _define_filter(name: str):
    impl = _impl(name)

    @torch.library.custom_op(f"snn_repro::two_exp_filter_{name}", mutates_args=())
    def filt(x: Tensor, a: float, b: float) -> Tensor:
        return impl.filter_fwd(x.contiguous(), a, b, None)[0]

    @filt.register_fake
    def _(x, a, b):
        return torch.empty_like(x)

    @torch.library.custom_op(f"snn_repro::two_exp_filter_bwd_{name}", mutates_args=())
    def filt_bwd(g: Tensor, a: float, b: float) -> Tensor:
        return impl.filter_bwd(g.contiguous(), a, b)

    @filt_bwd.register_fake
    def _(g, a, b):
        return torch.empty_like(g)

    def setup_context(ctx, inputs, output):
        ctx.ab = inputs[1], inputs[2]

    def backward(ctx, g):
        return filt_bwd(g, *ctx.ab), None, None

    filt.register_autograd(backward, setup_context=setup_context)
    return filt


def filter_op(name: str):
    if name not in _FILTER_OPS:
        _FILTER_OPS[name] = _define_filter(name)
    return _FILTER_OPS[name]
