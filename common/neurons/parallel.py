"""Exact parallel-in-time linear filters (SPSN's no-reset integration), with their sequential reference.

Two linear time-invariant (LTI) filters along dim 0 of ``x [T, B, ...]``:

- first order  (synaptic current):  ``I[t] = a * I[t-1] + x[t]``
- two-exponential (SPSN membrane):  ``I[t] = alpha * I[t-1] + x[t]``;  ``U[t] = beta * U[t-1] + (1 - beta) * I[t]``

Both are a small state-space system ``s[t] = A s[t-1] + b x[t]``, ``y[t] = c.s[t]`` (state size d = 1 or 2),
computed from rest (zero initial state). Implementations, selectable by ``method=``:

- ``"sequential"`` - the per-step recurrence (reference; slow, autograd through the loop).
- ``"chunked"``    - chunked scan: inside chunks of ``C`` steps one batched Toeplitz matmul gives the local
  response and the chunk's end state; a short loop over the ``ceil(T / C)`` chunks carries the state; one
  more small matmul adds the carried state's response. Work ``O(T * C)`` per channel, no power with a negative
  exponent and no power above ``A^C`` (decaying), so nothing can overflow at any ``T``.
- ``"fft"``        - causal convolution with the impulse response through ``rfft`` of length ``2T``
  (the official SPSN code's method). Exact to float tolerance; measured slowest on CPU.
- ``"doubling"``   - log-depth (Hillis-Steele) scan of each first-order stage: ``ceil(log2 T)`` passes of
  ``y[t] += a^k y[t-k]`` (powers decay, underflow to 0 is harmless).
- ``"fused"``      - the fused kernel of :mod:`common.kernels.filter` (C++ on CPU, Triton on CUDA): the exact
  recurrence in one pass, forward and backward (2-5x faster than ``"chunked"`` on this CPU, measured).
- ``"auto"``       - ``"fused"`` where the kernel is available, else the method and chunk measured fastest
  for that ``T`` on CPU (``AUTO_TABLE``, measured once by hand on the development CPU).

Gradients: the filters are linear and time invariant, so the input gradient is the same filter run
backwards in time (``dL/dx = flip(H flip(dL/dy))``). The parallel methods use that in a custom autograd
function (the parameters ``alpha``, ``beta`` are constants, as in SPSN; they get no gradient).
The cumulative-sum formulation (``beta^t * cumsum(x / beta^t)``) is deliberately absent: ``beta^-t``
overflows float32 past a few hundred steps.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch

from .backends import resolve_filter

__all__ = [
    "METHODS",
    "AUTO_TABLE",
    "two_exp_filter_sequential",
    "first_order_filter_sequential",
    "two_exp_filter",
    "first_order_filter",
    "lti_filter",
    "decay",
    "resolve_method",
]

METHODS = ("sequential", "chunked", "fft", "doubling", "fused", "auto")

# (max T, method, chunk): the first entry whose max T >= T is used by method="auto".
# Chosen from timings on the project's 2-core CPU (float32, B*N = 8192 channels, forward + backward); those
# timings are not kept. Where the fused kernel exists (common.kernels), "auto" uses it instead.
AUTO_TABLE: tuple = ((64, "chunked", 0), (2048, "chunked", 32), (10 ** 12, "chunked", 32))


def decay(tau: float, dt: float = 1.0) -> float:
    """``exp(-dt / tau)`` (SPSN: tau = 20 steps of 1 ms -> 0.9512)."""
    return math.exp(-float(dt) / float(tau))


# ----------------------------------------------------------------------------------------- reference
def first_order_filter_sequential(x: torch.Tensor, a: float) -> torch.Tensor:
    """Reference ``I[t] = a I[t-1] + x[t]`` from rest, by a loop over time (differentiable)."""
    state = torch.zeros_like(x[0])
    out = []
    for xt in x.unbind(0):
        state = a * state + xt
        out.append(state)
    return torch.stack(out)


def two_exp_filter_sequential(x: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Reference SPSN integration ``I[t] = alpha I[t-1] + x[t]``, ``U[t] = beta U[t-1] + (1-beta) I[t]``."""
    i = torch.zeros_like(x[0])
    u = torch.zeros_like(x[0])
    out = []
    for xt in x.unbind(0):
        i = alpha * i + xt
        u = beta * u + (1.0 - beta) * i
        out.append(u)
    return torch.stack(out)


# ----------------------------------------------------------------------------------------- system
def _system(coefs: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, b, c) in float64 for coefs = (a,) or (alpha, beta)."""
    if len(coefs) == 1:
        (a,) = coefs
        return (torch.tensor([[a]], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64),
                torch.tensor([1.0], dtype=torch.float64))
    alpha, beta = coefs
    A = torch.tensor([[alpha, 0.0], [(1.0 - beta) * alpha, beta]], dtype=torch.float64)
    return A, torch.tensor([1.0, 1.0 - beta], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)


def _check_coefs(coefs: tuple) -> tuple:
    out = tuple(float(c) for c in coefs)
    for c in out:
        if not (math.isfinite(c) and 0.0 <= c <= 1.0):
            raise ValueError(f"filter decays must lie in [0, 1], got {c}")
    return out


@lru_cache(maxsize=64)
def _impulse64(coefs: tuple, n: int) -> torch.Tensor:
    """Impulse response h[k] = c A^k b, k < n, in float64 (by recurrence: decaying, never overflows)."""
    A, b, c = _system(coefs)
    h = torch.empty(n, dtype=torch.float64)
    s = b.clone()
    for k in range(n):
        h[k] = c @ s
        s = A @ s
    return h


@lru_cache(maxsize=64)
def _chunk_mats64(coefs: tuple, C: int) -> dict:
    """Matrices of the chunked scan for chunks of C steps (float64, see :func:`_chunked_nograd`).

    causal (forward in time), chunk covering steps t0..t0+C-1, n = t - t0:
      local output    y_loc = Tm @ x_chunk          Tm[n, m] = h[n - m] (lower-triangular Toeplitz)
      local end state e     = E @ x_chunk           E[:, m]  = A^(C-1-m) b
      carried part    y[n] += F[n] . s_prev         F[n]     = c A^(n+1)
      carry           s_end = A^C s_prev + e
    anti-causal (the transpose, used for gradients), with reverse states sigma[t] = A sigma[t+1] + b g[t]:
      Tm^T, Er[:, m] = A^m b, Fr[n] = c A^(C-n), carry sigma[t0] = A^C sigma[t0+C] + Er @ g_chunk.
    Only powers A^0..A^C appear (all decaying), so no entry can overflow.
    """
    A, b, c = _system(coefs)
    d = A.shape[0]
    h = _impulse64(coefs, C)
    idx = torch.arange(C)
    diff = idx[:, None] - idx[None, :]
    Tm = torch.where(diff >= 0, h[diff.clamp(min=0)], torch.zeros((), dtype=torch.float64))
    pows = [torch.eye(d, dtype=torch.float64)]
    for _ in range(C):
        pows.append(A @ pows[-1])
    E = torch.stack([pows[C - 1 - m] @ b for m in range(C)], 1)
    Er = torch.stack([pows[m] @ b for m in range(C)], 1)
    F = torch.stack([c @ pows[n + 1] for n in range(C)], 0)
    Fr = torch.stack([c @ pows[C - n] for n in range(C)], 0)
    TmT = Tm.t().contiguous()
    return {"Tm": Tm, "TmT": TmT, "M": torch.cat([Tm, E], 0), "MrT": torch.cat([TmT, Er], 0),
            "E": E, "Er": Er, "F": F, "Fr": Fr, "AC": pows[C]}


_MAT_CACHE: dict = {}


def _chunk_mats(coefs: tuple, C: int, dtype: torch.dtype, device: torch.device) -> dict:
    key = (coefs, C, dtype, str(device))
    got = _MAT_CACHE.get(key)
    if got is None:
        if len(_MAT_CACHE) > 64:
            _MAT_CACHE.clear()
        m64 = _chunk_mats64(coefs, C)
        got = {k: v.to(dtype=dtype, device=device) for k, v in m64.items()}
        got["AC_list"] = [[float(v) for v in row] for row in m64["AC"]]
        _MAT_CACHE[key] = got
    return got


def _carry_step(out: torch.Tensor, e: torch.Tensor, s: torch.Tensor, AC: list) -> None:
    """out = AC @ s + e for states [d, M] (d = 1 or 2; AC lower triangular), elementwise."""
    torch.add(e[0], s[0], alpha=AC[0][0], out=out[0])
    if len(AC) == 2:
        torch.add(e[1], s[1], alpha=AC[1][1], out=out[1])
        out[1].add_(s[0], alpha=AC[1][0])


def _chunked_nograd(x: torch.Tensor, coefs: tuple, C: int, reverse: bool = False) -> torch.Tensor:
    """Causal (``reverse=False``) or anti-causal (the transpose) filter of ``x [T, ...]``.

    Full chunks are aligned from t = 0; the ``T mod C`` remaining steps form a short tail chunk.
    Two passes over the data: ``[Tm; E] @ x`` (local outputs and end states in one batched matmul), then
    ``out = local + F @ carried_state`` (one ``baddbmm`` that also writes the contiguous output).
    """
    T = x.shape[0]
    C = max(1, min(int(C), T))
    n, r = divmod(T, C)
    Mc = x[0].numel()
    mats = _chunk_mats(coefs, C, x.dtype, x.device)
    AC = mats["AC_list"]
    d = len(AC)
    x2 = x.reshape(T, Mc)
    out = torch.empty_like(x2)
    nC = n * C
    xc = x2[:nC].view(n, C, Mc)
    yc = out[:nC].view(n, C, Mc)
    if n == 1 and r == 0:
        torch.matmul(mats["TmT" if reverse else "Tm"], xc, out=yc)
        return out.view(x.shape)
    loc = torch.matmul(mats["MrT" if reverse else "M"], xc)  # [n, C+d, Mc]
    e = loc[:, C:]  # local end states [n, d, Mc]
    states = x2.new_empty(n + 1, d, Mc)
    if not reverse:
        # states[k] = state at the end of chunk k-1 (states[0] = rest)
        states[0].zero_()
        for k in range(1, n + 1):
            _carry_step(states[k], e[k - 1], states[k - 1], AC)
        torch.baddbmm(loc[:, :C], mats["F"].expand(n, C, d), states[:n], out=yc)
        if r:
            xt, yt = x2[nC:], out[nC:]
            torch.matmul(mats["Tm"][:r, :r], xt, out=yt)
            yt.addmm_(mats["F"][:r], states[n])
    else:
        # states[k] = reverse state at the start of chunk k (states[n]: what flows in from the tail)
        if r:
            xt, yt = x2[nC:], out[nC:]
            torch.matmul(mats["TmT"][:r, :r], xt, out=yt)
            torch.matmul(mats["Er"][:, :r], xt, out=states[n])
        else:
            states[n].zero_()
        for k in range(n - 1, 0, -1):
            _carry_step(states[k], e[k], states[k + 1], AC)
        torch.baddbmm(loc[:, :C], mats["Fr"].expand(n, C, d), states[1:], out=yc)
    return out.view(x.shape)


def _fft_nograd(x: torch.Tensor, coefs: tuple) -> torch.Tensor:
    T = x.shape[0]
    h = _impulse64(coefs, T).to(device=x.device)
    n = 2 * T
    Hf = torch.fft.rfft(h, n=n)
    x2 = x.reshape(T, -1).double() if x.dtype == torch.float64 else x.reshape(T, -1).float()
    Xf = torch.fft.rfft(x2, n=n, dim=0)
    y = torch.fft.irfft(Xf * Hf.to(Xf.dtype)[:, None], n=n, dim=0)[:T]
    return y.to(x.dtype).reshape(x.shape)


def _doubling_first(x: torch.Tensor, a: float) -> torch.Tensor:
    y = x.clone()
    T = x.shape[0]
    k, ak = 1, a
    while k < T:
        if ak == 0.0:
            break
        y[k:] = torch.add(y[k:], y[:-k], alpha=ak)  # out-of-place RHS: reads the old values
        k, ak = 2 * k, ak * ak
    return y


def _doubling_nograd(x: torch.Tensor, coefs: tuple) -> torch.Tensor:
    if len(coefs) == 1:
        return _doubling_first(x, coefs[0])
    alpha, beta = coefs
    return _doubling_first(_doubling_first(x, alpha), beta).mul_(1.0 - beta)


def _apply_nograd(x: torch.Tensor, coefs: tuple, method: str, chunk: int) -> torch.Tensor:
    if method == "chunked":
        return _chunked_nograd(x, coefs, chunk)
    if method == "fft":
        return _fft_nograd(x, coefs)
    if method == "doubling":
        return _doubling_nograd(x, coefs)
    raise ValueError(f"unknown parallel method {method!r}")


class _LTIFilter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coefs, method, chunk):  # type: ignore[override]
        ctx.coefs, ctx.method, ctx.chunk = coefs, method, chunk
        with torch.no_grad():
            return _apply_nograd(x.contiguous(), coefs, method, chunk)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        # dL/dx = H^T g: the same filter run backwards in time (anti-causal)
        g = g.contiguous()
        if ctx.method == "chunked":
            return _chunked_nograd(g, ctx.coefs, ctx.chunk, reverse=True), None, None, None
        return _apply_nograd(g.flip(0), ctx.coefs, ctx.method, ctx.chunk).flip(0), None, None, None


def resolve_method(method: str, T: int, chunk: Optional[int] = None) -> tuple[str, int]:
    """``(method, chunk)`` actually used for a sequence of ``T`` steps (``chunk`` 0 means one chunk of T)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        for max_t, m, c in AUTO_TABLE:
            if T <= max_t:
                method, auto_chunk = m, c
                break
        chunk = auto_chunk if chunk is None else chunk
    if chunk is None:
        chunk = 32
    chunk = int(chunk)
    return method, (T if chunk <= 0 else min(chunk, T))


def _fused_filter(device: torch.device):
    """The fused two-exponential filter ``backend="auto"`` resolves to on ``device`` (:mod:`.backends`), or ``None``."""
    return resolve_filter("auto", device)


def lti_filter(x: torch.Tensor, coefs: tuple, method: str = "auto", chunk: Optional[int] = None) -> torch.Tensor:
    """Apply the first-order (``coefs=(a,)``) or two-exponential (``(alpha, beta)``) filter along dim 0."""
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"x must be [T, ...] with T >= 1, got shape {tuple(x.shape)}")
    coefs = _check_coefs(coefs)
    if method in ("auto", "fused"):
        fused = _fused_filter(x.device)
        if fused is not None:
            # the fused kernel runs the recurrence in one pass (exact; 2-5x faster than the chunked scan on
            # CPU, measured); beta = 0 turns the two-exponential filter into the first-order one (U = I)
            return fused(x, coefs[0], coefs[1] if len(coefs) == 2 else 0.0)
        if method == "fused":
            raise RuntimeError(f"the fused filter kernel is not available on {x.device} (see common.kernels)")
    method, chunk = resolve_method(method, x.shape[0], chunk)
    if method == "sequential":
        if len(coefs) == 1:
            return first_order_filter_sequential(x, coefs[0])
        return two_exp_filter_sequential(x, *coefs)
    if torch.is_grad_enabled() and x.requires_grad:
        return _LTIFilter.apply(x, coefs, method, chunk)
    with torch.no_grad():
        return _apply_nograd(x.contiguous(), coefs, method, chunk)


def two_exp_filter(x: torch.Tensor, alpha: float, beta: float, method: str = "auto",
                   chunk: Optional[int] = None) -> torch.Tensor:
    """SPSN's membrane ``U`` (no reset) for input current ``x [T, B, ...]``, computed in parallel over time."""
    return lti_filter(x, (alpha, beta), method, chunk)


def first_order_filter(x: torch.Tensor, a: float, method: str = "auto", chunk: Optional[int] = None) -> torch.Tensor:
    """``I[t] = a I[t-1] + x[t]`` (the LIF baseline's synaptic current), computed in parallel over time."""
    return lti_filter(x, (a,), method, chunk)
