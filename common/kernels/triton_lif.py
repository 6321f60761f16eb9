"""Triton kernels for the multi-step IF/LIF neuron and the SPSN two-exponential filter.

One program owns ``BLOCK`` neurons and runs the whole time loop (forward, or the reverse-time
adjoint recurrence for backward) in registers: per step it reads ``x`` and writes the spike and the
charge ``h`` (the only float saved per neuron-step); backward reads ``h[t]``, ``h[t-1]`` and the
incoming gradients and writes ``grad_x``. Leak/threshold gradients are accumulated per neuron and
reduced per layer or channel on the host side. The kernels run on CUDA, and on CPU tensors under
``TRITON_INTERPRET=1`` (used by the tests).
"""
from __future__ import annotations

import math
import os
from typing import Optional

import torch
import triton
import triton.language as tl

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
BLOCK = 128 if _INTERPRET else 256
NUM_WARPS = 4


def _cfg(N: int) -> tuple[int, int]:
    """(BLOCK, num_warps): few neurons -> small blocks, so long sequences still spread over the SMs."""
    if _INTERPRET:
        return BLOCK, NUM_WARPS
    if N <= 16384:
        return 64, 2
    if N <= 131072:
        return 128, 4
    return 256, 4


@triton.jit
def _lif_fwd_kernel(x_ptr, v0_ptr, leak_ptr, thr_ptr, s_ptr, h_ptr, vlast_ptr, T, N, C, S,
                    HAS_V0: tl.constexpr, STORE_H: tl.constexpr, SOFT: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    c = (offs // S) % C
    lam = tl.load(leak_ptr + c, mask=mask, other=1.0)
    th = tl.load(thr_ptr + c, mask=mask, other=1.0)
    if HAS_V0:
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    else:
        v = tl.zeros([BLOCK], dtype=lam.dtype)
    xp = x_ptr + offs
    sp = s_ptr + offs
    hp = h_ptr + offs
    for _t in range(T):
        x = tl.load(xp, mask=mask, other=0.0)
        h = lam * v + x
        s = tl.where(h / th - 1.0 >= 0.0, 1.0, 0.0).to(h.dtype)
        tl.store(sp, s, mask=mask)
        if STORE_H:
            tl.store(hp, h, mask=mask)
        if SOFT:
            v = h - th * s
        else:
            v = h * (1.0 - s)
        xp += N
        sp += N
        hp += N
    tl.store(vlast_ptr + offs, v, mask=mask)


@triton.jit
def _surrogate(z, alpha, atan_c, KIND: tl.constexpr):
    if KIND == 0:
        sg = alpha * tl.maximum(1.0 - tl.abs(z), 0.0)
    elif KIND == 1:
        d = alpha * tl.abs(z) + 1.0
        sg = 1.0 / (d * d)
    elif KIND == 2:
        sig = 1.0 / (1.0 + tl.exp(-(alpha * z)))
        sg = alpha * sig * (1.0 - sig)
    elif KIND == 3:
        q = atan_c * z
        sg = (alpha / 2.0) / (1.0 + q * q)
    else:
        sg = z * 0.0 + alpha
    return sg.to(z.dtype)


@triton.jit
def _lif_bwd_kernel(gs_ptr, gs_sn, gs_st, gs_last, gh_ptr, gv_ptr, h_ptr, v0_ptr, leak_ptr, thr_ptr,
                    gx_ptr, gv0_ptr, gl_ptr, gt_ptr, T, N, C, S, last, alpha, atan_c,
                    HAS_GS: tl.constexpr, HAS_GH: tl.constexpr, HAS_GV: tl.constexpr, HAS_V0: tl.constexpr,
                    NEED_GL: tl.constexpr, NEED_GT: tl.constexpr, KIND: tl.constexpr, SOFT: tl.constexpr,
                    DETACH: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    c = (offs // S) % C
    lam = tl.load(leak_ptr + c, mask=mask, other=1.0)
    th = tl.load(thr_ptr + c, mask=mask, other=1.0)
    zero = tl.zeros([BLOCK], dtype=lam.dtype)
    if HAS_GV:
        gv = tl.load(gv_ptr + offs, mask=mask, other=0.0)
    else:
        gv = zero
    if HAS_V0:
        v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    else:
        v0 = zero
    gl = zero
    gt = zero
    hp = h_ptr + last + offs
    gxp = gx_ptr + last + offs
    ghp = gh_ptr + last + offs
    gsp = gs_ptr + gs_last + offs * gs_sn
    for k in range(T):
        t = T - 1 - k
        hv = tl.load(hp, mask=mask, other=0.0)
        has_prev = (tl.zeros([BLOCK], dtype=tl.int32) + t) > 0
        hm = tl.load(hp - N, mask=mask & has_prev, other=0.0)
        sm = tl.where(hm / th - 1.0 >= 0.0, 1.0, 0.0).to(hm.dtype)
        if SOFT:
            vr = hm - th * sm
        else:
            vr = hm * (1.0 - sm)
        vp = tl.where(has_prev, vr, v0)
        z = hv / th - 1.0
        s = tl.where(z >= 0.0, 1.0, 0.0).to(hv.dtype)
        sg = _surrogate(z, alpha, atan_c, KIND)
        if HAS_GS:
            gsum = tl.load(gsp, mask=mask, other=0.0)
        else:
            gsum = zero
        if not DETACH:
            if SOFT:
                gsum = gsum - gv * th
            else:
                gsum = gsum - gv * hv
        if SOFT:
            g = gv + gsum * sg / th
        else:
            g = gv * (1.0 - s) + gsum * sg / th
        if HAS_GH:
            g = g + tl.load(ghp, mask=mask, other=0.0)
        dth = gsum * sg * (-hv / (th * th))
        if SOFT:
            dth = dth - gv * s
        gt += dth
        gl += g * vp
        tl.store(gxp, g, mask=mask)
        gv = g * lam
        hp -= N
        gxp -= N
        ghp -= N
        gsp -= gs_st
    tl.store(gv0_ptr + offs, gv, mask=mask)
    if NEED_GL:
        tl.store(gl_ptr + offs, gl, mask=mask)
    if NEED_GT:
        tl.store(gt_ptr + offs, gt, mask=mask)


@triton.jit
def _filter_kernel(in_ptr, out_ptr, s_ptr, T, N, last, a, b, thr,
                   REVERSE: tl.constexpr, FIRE: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ip = in_ptr + last + offs
    op = out_ptr + last + offs
    sp = s_ptr + offs
    step = -N if REVERSE else N
    if not REVERSE:
        ip = in_ptr + offs
        op = out_ptr + offs
    x0 = tl.load(ip, mask=mask, other=0.0)
    cur_i = x0 * 0.0
    cur_u = x0 * 0.0
    for _k in range(T):
        x = tl.load(ip, mask=mask, other=0.0)
        if REVERSE:
            cur_u = b * cur_u + x
            cur_i = a * cur_i + (1.0 - b) * cur_u
            tl.store(op, cur_i, mask=mask)
        else:
            cur_i = a * cur_i + x
            cur_u = b * cur_u + (1.0 - b) * cur_i
            tl.store(op, cur_u, mask=mask)
            if FIRE:
                tl.store(sp, tl.where(cur_u / thr - 1.0 >= 0.0, 1.0, 0.0).to(cur_u.dtype), mask=mask)
                sp += step
        ip += step
        op += step


def _grid(N: int):
    return (triton.cdiv(N, _cfg(N)[0]),)


def lif_fwd(x2, v0, leak, thr, S: int, soft: bool, store_h: bool):
    T, N = x2.shape
    spikes = torch.empty_like(x2)
    h = torch.empty_like(x2) if store_h else spikes  # dummy pointer when not stored
    vlast = x2.new_empty(N)
    _lif_fwd_kernel[_grid(N)](x2, x2 if v0 is None else v0, leak, thr, spikes, h, vlast, T, N, leak.numel(), S,
                              HAS_V0=v0 is not None, STORE_H=store_h, SOFT=soft, BLOCK=_cfg(N)[0], num_warps=_cfg(N)[1])
    return spikes, (h if store_h else None), vlast


def lif_bwd(gs, gh, gv, h, v0, leak, thr, S, kind, alpha, soft, detach, gx, need_gl, need_gt):
    T, N = h.shape
    gv0 = h.new_empty(N)
    gl = h.new_empty(N) if need_gl else gv0
    gt = h.new_empty(N) if need_gt else gv0
    if gh is not None and not gh.is_contiguous():
        gh = gh.contiguous()
    if gs is not None:
        gs_st, gs_sn = gs.stride()
    else:
        gs_st = gs_sn = 0
    _lif_bwd_kernel[_grid(N)](
        h if gs is None else gs, gs_sn, gs_st, (T - 1) * gs_st, h if gh is None else gh, h if gv is None else gv,
        h, h if v0 is None else v0, leak, thr, gx, gv0, gl, gt, T, N, leak.numel(), S, (T - 1) * N,
        float(alpha), float(math.pi / 2.0 * alpha),
        HAS_GS=gs is not None, HAS_GH=gh is not None, HAS_GV=gv is not None, HAS_V0=v0 is not None,
        NEED_GL=need_gl, NEED_GT=need_gt, KIND=int(kind), SOFT=soft, DETACH=detach, BLOCK=_cfg(N)[0],
        num_warps=_cfg(N)[1],
    )
    return gx, gv0, (gl if need_gl else None), (gt if need_gt else None)


def filter_fwd(x2, a: float, b: float, thr: Optional[float] = None):
    T, N = x2.shape
    out = torch.empty_like(x2)
    spikes = torch.empty_like(x2) if thr is not None else out
    _filter_kernel[_grid(N)](x2, out, spikes, T, N, (T - 1) * N, float(a), float(b), float(thr or 0.0),
                             REVERSE=False, FIRE=thr is not None, BLOCK=_cfg(N)[0], num_warps=_cfg(N)[1])
    return out, (spikes if thr is not None else None)


def filter_bwd(g2, a: float, b: float):
    T, N = g2.shape
    g2 = g2.contiguous()
    out = torch.empty_like(g2)
    _filter_kernel[_grid(N)](g2, out, out, T, N, (T - 1) * N, float(a), float(b), 0.0,
                             REVERSE=True, FIRE=False, BLOCK=_cfg(N)[0], num_warps=_cfg(N)[1])
    return out
