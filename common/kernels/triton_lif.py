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

from .triton_config import KernelConfig, launch_config

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


def config(T: int, N: int) -> KernelConfig:
    return launch_config(T, N, interpret=_INTERPRET)


def _launch_opts(cfg: KernelConfig, exact_fp: bool) -> dict:
    opts = {"num_warps": cfg.warps}
    if exact_fp and not _INTERPRET:
        opts["enable_fp_fusion"] = False  # h = leak * v + x rounds like the reference (no FMA)
    return opts


@triton.jit
def _fwd_step(x, v, lam, th, sp, hp, valid, SOFT: tl.constexpr, STORE_H: tl.constexpr):
    """One forward step: store s[t] (and h[t]); returns v[t] (unchanged where ``valid`` is false)."""
    h = lam * v + x
    s = tl.where(tl.math.div_rn(h, th) - 1.0 >= 0.0, 1.0, 0.0).to(h.dtype)
    tl.store(sp, s, mask=valid)
    if STORE_H:
        tl.store(hp, h, mask=valid)
    if SOFT:
        vn = h - th * s
    else:
        vn = h * (1.0 - s)
    return tl.where(valid, vn, v)


@triton.jit
def _lif_fwd_kernel(x_ptr, v0_ptr, leak_ptr, thr_ptr, s_ptr, h_ptr, vlast_ptr, T, N, C, S,
                    HAS_V0: tl.constexpr, STORE_H: tl.constexpr, SOFT: tl.constexpr, BLOCK: tl.constexpr,
                    PREFETCH: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ti = tl.zeros([BLOCK], dtype=tl.int32)  # step indices as vectors (masks must be tensors)
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
    if PREFETCH:
        # Eight steps per iteration, each slot refilled with the input 8 steps ahead right after use:
        # eight loads stay in flight and no register is copied while its load is pending (a rotating
        # window would wait for the newest load every step).
        x0 = tl.load(xp, mask=mask & (ti + 0 < T), other=0.0)
        x1 = tl.load(xp + N, mask=mask & (ti + 1 < T), other=0.0)
        x2 = tl.load(xp + 2 * N, mask=mask & (ti + 2 < T), other=0.0)
        x3 = tl.load(xp + 3 * N, mask=mask & (ti + 3 < T), other=0.0)
        x4 = tl.load(xp + 4 * N, mask=mask & (ti + 4 < T), other=0.0)
        x5 = tl.load(xp + 5 * N, mask=mask & (ti + 5 < T), other=0.0)
        x6 = tl.load(xp + 6 * N, mask=mask & (ti + 6 < T), other=0.0)
        x7 = tl.load(xp + 7 * N, mask=mask & (ti + 7 < T), other=0.0)
        for t in range(0, T, 8):
            v = _fwd_step(x0, v, lam, th, sp, hp, mask & (ti + t < T), SOFT, STORE_H)
            x0 = tl.load(xp + 8 * N, mask=mask & (ti + t + 8 < T), other=0.0)
            v = _fwd_step(x1, v, lam, th, sp + N, hp + N, mask & (ti + t + 1 < T), SOFT, STORE_H)
            x1 = tl.load(xp + 9 * N, mask=mask & (ti + t + 9 < T), other=0.0)
            v = _fwd_step(x2, v, lam, th, sp + 2 * N, hp + 2 * N, mask & (ti + t + 2 < T), SOFT, STORE_H)
            x2 = tl.load(xp + 10 * N, mask=mask & (ti + t + 10 < T), other=0.0)
            v = _fwd_step(x3, v, lam, th, sp + 3 * N, hp + 3 * N, mask & (ti + t + 3 < T), SOFT, STORE_H)
            x3 = tl.load(xp + 11 * N, mask=mask & (ti + t + 11 < T), other=0.0)
            v = _fwd_step(x4, v, lam, th, sp + 4 * N, hp + 4 * N, mask & (ti + t + 4 < T), SOFT, STORE_H)
            x4 = tl.load(xp + 12 * N, mask=mask & (ti + t + 12 < T), other=0.0)
            v = _fwd_step(x5, v, lam, th, sp + 5 * N, hp + 5 * N, mask & (ti + t + 5 < T), SOFT, STORE_H)
            x5 = tl.load(xp + 13 * N, mask=mask & (ti + t + 13 < T), other=0.0)
            v = _fwd_step(x6, v, lam, th, sp + 6 * N, hp + 6 * N, mask & (ti + t + 6 < T), SOFT, STORE_H)
            x6 = tl.load(xp + 14 * N, mask=mask & (ti + t + 14 < T), other=0.0)
            v = _fwd_step(x7, v, lam, th, sp + 7 * N, hp + 7 * N, mask & (ti + t + 7 < T), SOFT, STORE_H)
            x7 = tl.load(xp + 15 * N, mask=mask & (ti + t + 15 < T), other=0.0)
            xp += 8 * N
            sp += 8 * N
            hp += 8 * N
    else:
        for t in range(T):
            x = tl.load(xp, mask=mask, other=0.0)
            v = _fwd_step(x, v, lam, th, sp, hp, mask, SOFT, STORE_H)
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
def _lif_bwd_step(hv, hm, gsum, gh, gv, v0, lam, th, has_prev, alpha, atan_c,
                  KIND: tl.constexpr, SOFT: tl.constexpr, DETACH: tl.constexpr):
    """One reverse-time step: (grad_x[t], gv for t-1, d threshold, d leak) from h[t], h[t-1]."""
    sm = tl.where(tl.math.div_rn(hm, th) - 1.0 >= 0.0, 1.0, 0.0).to(hm.dtype)
    if SOFT:
        vr = hm - th * sm
    else:
        vr = hm * (1.0 - sm)
    vp = tl.where(has_prev, vr, v0)
    z = tl.math.div_rn(hv, th) - 1.0
    s = tl.where(z >= 0.0, 1.0, 0.0).to(hv.dtype)
    sg = _surrogate(z, alpha, atan_c, KIND)
    if not DETACH:
        if SOFT:
            gsum = gsum - gv * th
        else:
            gsum = gsum - gv * hv
    if SOFT:
        g = gv + gsum * sg / th + gh
    else:
        g = gv * (1.0 - s) + gsum * sg / th + gh
    dth = gsum * sg * (-hv / (th * th))
    if SOFT:
        dth = dth - gv * s
    return g, g * lam, dth, g * vp


@triton.jit
def _bwd_step(hv, hm, gsum, gv, gl, gt, v0, lam, th, t, ti, mask, gxp, ghp, alpha, atan_c, HAS_GH: tl.constexpr,
              KIND: tl.constexpr, SOFT: tl.constexpr, DETACH: tl.constexpr):
    """Step ``t`` of the reverse pass (a no-op where t < 0): stores grad_x[t], returns (gv, gl, gt)."""
    valid = mask & (ti + t >= 0)
    if HAS_GH:
        gh = tl.load(ghp, mask=valid, other=0.0)
    else:
        gh = gv * 0.0
    g, gvn, dth, dl = _lif_bwd_step(hv, hm, gsum, gh, gv, v0, lam, th, (ti + t) > 0, alpha, atan_c,
                                    KIND, SOFT, DETACH)
    tl.store(gxp, g, mask=valid)
    return tl.where(valid, gvn, gv), gl + tl.where(valid, dl, 0.0), gt + tl.where(valid, dth, 0.0)


@triton.jit
def _lif_bwd_kernel(gs_ptr, gs_sn, gs_st, gs_last, gh_ptr, gv_ptr, h_ptr, v0_ptr, leak_ptr, thr_ptr,
                    gx_ptr, gv0_ptr, gl_ptr, gt_ptr, T, N, C, S, last, alpha, atan_c,
                    HAS_GS: tl.constexpr, HAS_GH: tl.constexpr, HAS_GV: tl.constexpr, HAS_V0: tl.constexpr,
                    NEED_GL: tl.constexpr, NEED_GT: tl.constexpr, KIND: tl.constexpr, SOFT: tl.constexpr,
                    DETACH: tl.constexpr, BLOCK: tl.constexpr, PREFETCH: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ti = tl.zeros([BLOCK], dtype=tl.int32)
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
    hp = h_ptr + last + offs  # row t of h / grad_x / grad_h (grad_x may alias h: h[t] is read first)
    gxp = gx_ptr + last + offs
    ghp = gh_ptr + last + offs
    gsp = gs_ptr + gs_last + offs * gs_sn
    if PREFETCH:
        # Step t needs h[t] (the previous step's h[t-1]) and one new row, h[t-1]: slot k holds h[t-1-k]
        # and grad_spikes[t-k] for the k-th step of an iteration and is refilled 8 steps ahead after use
        # (see the forward kernel). Rows below t are read before grad_x overwrites them.
        hv = tl.load(hp, mask=mask, other=0.0)
        a0 = tl.load(hp - N, mask=mask & (ti + 1 < T), other=0.0)
        a1 = tl.load(hp - 2 * N, mask=mask & (ti + 2 < T), other=0.0)
        a2 = tl.load(hp - 3 * N, mask=mask & (ti + 3 < T), other=0.0)
        a3 = tl.load(hp - 4 * N, mask=mask & (ti + 4 < T), other=0.0)
        a4 = tl.load(hp - 5 * N, mask=mask & (ti + 5 < T), other=0.0)
        a5 = tl.load(hp - 6 * N, mask=mask & (ti + 6 < T), other=0.0)
        a6 = tl.load(hp - 7 * N, mask=mask & (ti + 7 < T), other=0.0)
        a7 = tl.load(hp - 8 * N, mask=mask & (ti + 8 < T), other=0.0)
        if HAS_GS:
            b0 = tl.load(gsp, mask=mask, other=0.0)
            b1 = tl.load(gsp - gs_st, mask=mask & (ti + 1 < T), other=0.0)
            b2 = tl.load(gsp - 2 * gs_st, mask=mask & (ti + 2 < T), other=0.0)
            b3 = tl.load(gsp - 3 * gs_st, mask=mask & (ti + 3 < T), other=0.0)
            b4 = tl.load(gsp - 4 * gs_st, mask=mask & (ti + 4 < T), other=0.0)
            b5 = tl.load(gsp - 5 * gs_st, mask=mask & (ti + 5 < T), other=0.0)
            b6 = tl.load(gsp - 6 * gs_st, mask=mask & (ti + 6 < T), other=0.0)
            b7 = tl.load(gsp - 7 * gs_st, mask=mask & (ti + 7 < T), other=0.0)
        else:
            b0 = zero
            b1 = zero
            b2 = zero
            b3 = zero
            b4 = zero
            b5 = zero
            b6 = zero
            b7 = zero
        for j in range(0, T, 8):
            t = T - 1 - j
            gv, gl, gt = _bwd_step(hv, a0, b0, gv, gl, gt, v0, lam, th, t, ti, mask, gxp, ghp, alpha, atan_c,
                                   HAS_GH, KIND, SOFT, DETACH)
            hv = a0
            a0 = tl.load(hp - 9 * N, mask=mask & (ti + t >= 9), other=0.0)
            if HAS_GS:
                b0 = tl.load(gsp - 8 * gs_st, mask=mask & (ti + t >= 8), other=0.0)
            gv, gl, gt = _bwd_step(hv, a1, b1, gv, gl, gt, v0, lam, th, t - 1, ti, mask, gxp - N, ghp - N, alpha,
                                   atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a1
            a1 = tl.load(hp - 10 * N, mask=mask & (ti + t >= 10), other=0.0)
            if HAS_GS:
                b1 = tl.load(gsp - 9 * gs_st, mask=mask & (ti + t >= 9), other=0.0)
            gv, gl, gt = _bwd_step(hv, a2, b2, gv, gl, gt, v0, lam, th, t - 2, ti, mask, gxp - 2 * N, ghp - 2 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a2
            a2 = tl.load(hp - 11 * N, mask=mask & (ti + t >= 11), other=0.0)
            if HAS_GS:
                b2 = tl.load(gsp - 10 * gs_st, mask=mask & (ti + t >= 10), other=0.0)
            gv, gl, gt = _bwd_step(hv, a3, b3, gv, gl, gt, v0, lam, th, t - 3, ti, mask, gxp - 3 * N, ghp - 3 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a3
            a3 = tl.load(hp - 12 * N, mask=mask & (ti + t >= 12), other=0.0)
            if HAS_GS:
                b3 = tl.load(gsp - 11 * gs_st, mask=mask & (ti + t >= 11), other=0.0)
            gv, gl, gt = _bwd_step(hv, a4, b4, gv, gl, gt, v0, lam, th, t - 4, ti, mask, gxp - 4 * N, ghp - 4 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a4
            a4 = tl.load(hp - 13 * N, mask=mask & (ti + t >= 13), other=0.0)
            if HAS_GS:
                b4 = tl.load(gsp - 12 * gs_st, mask=mask & (ti + t >= 12), other=0.0)
            gv, gl, gt = _bwd_step(hv, a5, b5, gv, gl, gt, v0, lam, th, t - 5, ti, mask, gxp - 5 * N, ghp - 5 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a5
            a5 = tl.load(hp - 14 * N, mask=mask & (ti + t >= 14), other=0.0)
            if HAS_GS:
                b5 = tl.load(gsp - 13 * gs_st, mask=mask & (ti + t >= 13), other=0.0)
            gv, gl, gt = _bwd_step(hv, a6, b6, gv, gl, gt, v0, lam, th, t - 6, ti, mask, gxp - 6 * N, ghp - 6 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a6
            a6 = tl.load(hp - 15 * N, mask=mask & (ti + t >= 15), other=0.0)
            if HAS_GS:
                b6 = tl.load(gsp - 14 * gs_st, mask=mask & (ti + t >= 14), other=0.0)
            gv, gl, gt = _bwd_step(hv, a7, b7, gv, gl, gt, v0, lam, th, t - 7, ti, mask, gxp - 7 * N, ghp - 7 * N,
                                   alpha, atan_c, HAS_GH, KIND, SOFT, DETACH)
            hv = a7
            a7 = tl.load(hp - 16 * N, mask=mask & (ti + t >= 16), other=0.0)
            if HAS_GS:
                b7 = tl.load(gsp - 15 * gs_st, mask=mask & (ti + t >= 15), other=0.0)
            hp -= 8 * N
            gxp -= 8 * N
            ghp -= 8 * N
            gsp -= 8 * gs_st
    else:
        for k in range(T):
            t = T - 1 - k
            hv = tl.load(hp, mask=mask, other=0.0)
            hm = tl.load(hp - N, mask=mask & (ti + t > 0), other=0.0)
            if HAS_GS:
                gsum = tl.load(gsp, mask=mask, other=0.0)
            else:
                gsum = zero
            gv, gl, gt = _bwd_step(hv, hm, gsum, gv, gl, gt, v0, lam, th, t, ti, mask, gxp, ghp, alpha, atan_c,
                                   HAS_GH, KIND, SOFT, DETACH)
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


def _grid(N: int, block: int):
    return (triton.cdiv(N, block),)


def lif_fwd(x2, v0, leak, thr, S: int, soft: bool, store_h: bool, cfg: Optional[KernelConfig] = None):
    T, N = x2.shape
    cfg = cfg or config(T, N)
    spikes = torch.empty_like(x2)
    h = torch.empty_like(x2) if store_h else spikes  # dummy pointer when not stored
    vlast = x2.new_empty(N)
    _lif_fwd_kernel[_grid(N, cfg.block)](
        x2, x2 if v0 is None else v0, leak, thr, spikes, h, vlast, T, N, leak.numel(), S,
        HAS_V0=v0 is not None, STORE_H=store_h, SOFT=soft, BLOCK=cfg.block, PREFETCH=cfg.prefetch,
        **_launch_opts(cfg, exact_fp=True),
    )
    return spikes, (h if store_h else None), vlast


def lif_bwd(gs, gh, gv, h, v0, leak, thr, S, kind, alpha, soft, detach, gx, need_gl, need_gt,
            need_gv0: bool = True, cfg: Optional[KernelConfig] = None):
    T, N = h.shape
    cfg = cfg or config(T, N)
    gv0 = h.new_empty(N)  # the kernel always writes the initial-state gradient
    gl = h.new_empty(N) if need_gl else gv0
    gt = h.new_empty(N) if need_gt else gv0
    gh = gh.contiguous() if gh is not None else None  # e.g. expanded (stride-0) grads of .sum()
    gv = gv.contiguous() if gv is not None else None
    if gs is not None:
        gs_st, gs_sn = gs.stride()
    else:
        gs_st = gs_sn = 0
    _lif_bwd_kernel[_grid(N, cfg.block)](
        h if gs is None else gs, gs_sn, gs_st, (T - 1) * gs_st, h if gh is None else gh, h if gv is None else gv,
        h, h if v0 is None else v0, leak, thr, gx, gv0, gl, gt, T, N, leak.numel(), S, (T - 1) * N,
        float(alpha), float(math.pi / 2.0 * alpha),
        HAS_GS=gs is not None, HAS_GH=gh is not None, HAS_GV=gv is not None, HAS_V0=v0 is not None,
        NEED_GL=need_gl, NEED_GT=need_gt, KIND=int(kind), SOFT=soft, DETACH=detach, BLOCK=cfg.block,
        PREFETCH=cfg.prefetch, **_launch_opts(cfg, exact_fp=False),
    )
    return gx, (gv0 if need_gv0 else None), (gl if need_gl else None), (gt if need_gt else None)


def filter_fwd(x2, a: float, b: float, thr: Optional[float] = None):
    T, N = x2.shape
    out = torch.empty_like(x2)
    spikes = torch.empty_like(x2) if thr is not None else out
    cfg = config(T, N)
    _filter_kernel[_grid(N, cfg.block)](x2, out, spikes, T, N, (T - 1) * N, float(a), float(b), float(thr or 0.0),
                                        REVERSE=False, FIRE=thr is not None, BLOCK=cfg.block, num_warps=cfg.warps)
    return out, (spikes if thr is not None else None)


def filter_bwd(g2, a: float, b: float):
    T, N = g2.shape
    g2 = g2.contiguous()
    out = torch.empty_like(g2)
    cfg = config(T, N)
    _filter_kernel[_grid(N, cfg.block)](g2, out, out, T, N, (T - 1) * N, float(a), float(b), 0.0,
                                        REVERSE=True, FIRE=False, BLOCK=cfg.block, num_warps=cfg.warps)
    return out
