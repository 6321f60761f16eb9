"""Legendre Memory Units: the 2019 LMU cell (step loop and parallel memory) and the fully parallel LMU of
Chilkuri & Eliasmith 2021, with the dt-quantizer on the hidden nonlinearity (the hybrid-spiking LMU).

**LMU (Voelker, Kajić & Eliasmith 2019; keras-lmu branch ``paper``, ``lmu/lmu.py``)**, per step, input ``x [B, F]``::

    u = x e_x + h e_h + m e_m                         (scalar per sample: a single-input memory)
    m = m + m (Abar - I)^T + u Bbar^T                 (the LDN, ZOH with dt = 1: papers.lmu_quantized.ldn)
    h = f(x W_x + h W_h + m W_m)                      (no biases; f = tanh)

2019 psMNIST configuration: 212 hidden, order 256, theta = 784, initialisers ``e_x = 1``, ``e_h = e_m = 0``,
``W_x = W_h = 0``, ``W_m`` glorot normal (Keras: truncated normal, std ``sqrt(2 / (fan_in + fan_out)) / .8796``
cut at 2 std); A and B stored and frozen (Keras ``trainable_A = trainable_B = False``). With ``Dense(10)``
on the last ``h``: 167,819 parameters, 102,027 trainable (the notes, §3c).

**Parallel memory.** With ``memory_feedback=False`` (no ``e_h``, ``e_m``: nothing recurs into the memory) the
memory is the causal convolution ``m[t] = sum_{k <= t} H[t - k] u[k]`` of the encoded input with the LDN's
impulse response ``H[k] = Abar^k Bbar``: computed by :func:`causal_conv_fft` (FFT of length ``2T``) or
:func:`causal_conv_chunked` (chunks of ``C`` steps: a ``C x C`` Toeplitz product inside each chunk, the state
carried across chunks by powers of ``Abar``; linear in ``T``). The hidden recurrence stays sequential, but
``x W_x + m W_m`` is one matrix product over all steps first. Note that the 2019 configuration has
``e_h``, ``e_m`` trainable (initialised at 0), so it is strictly a step-loop model; ``memory_feedback=False``
drops their 468 parameters.

**Fully parallel LMU (Chilkuri & Eliasmith 2021, arXiv 2102.11417)**: no hidden recurrence at all::

    u = f_u(x W_u + b_u);   m = H * u (causal);   h = f(m W_m + x W_x + b)

as in hrshtv/pytorch-lmu's ``LMUFFT`` (``W_u``: Linear(F, 1); ``[W_m; W_x]``: Linear(order + F, hidden);
``f_u = f = relu``; 346 hidden / order 468 / theta 784 has 166,092 parameters with a Linear(346, 10) readout).
With only the last state needed (psMNIST), ``m[T-1] = sum_k H[T-1-k] u[k]`` is one matrix product.

**Hybrid spiking.** ``spiking=True`` puts the dt-quantizer of :mod:`common.neurons.quantize` on the hidden
nonlinearity: ``h = Q_dt(f(.))`` (the memory stays real-valued: placement not published, notes §3a). In the
LMU cell ``h`` feeds back, so the quantizer steps (:class:`~common.neurons.QuantizingCell`); in the fully parallel
LMU nothing feeds back, so it is the prefix sum (:class:`papers.lmu_quantized.quantize.PrefixQuantizingNeuron`).
``quantize_u=True`` (LMU) quantizes the memory input ``u`` as well (an alternative placement; in the parallel-memory
mode by the prefix sum, nothing feeding back into ``u``). Every quantizer is found and annealed by
:class:`common.lightning.callbacks.DtSchedule`.

**Op counting.** Every product with a weight matrix (``x e_x``, ``h e_h``, ``m e_m``, ``x W_x``, ``h W_h``, ``m W_m``,
the memory's ``m (Abar - I)^T`` and ``u Bbar^T``, the fully parallel LMU's last-state product) goes through its own
:class:`common.weight_product.WeightProduct` child, so :class:`common.metrics.OpsMonitor` counts it as a bias-free
``Linear`` (graded spikes of a quantizer as ACs: :meth:`papers.lmu_quantized.model.PSMNISTModel.graded_inputs`). The
FFT / chunked convolutions of the parallel forms are not counted (no row uses them at test: the 2019 LMU rows step,
the fully parallel row computes the last state only).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from common.neurons.quantize import QuantizerState, QuantizingCell, get_activation, quantize_step
from common.weight_product import WeightProduct

from .ldn import ldn_discrete, ldn_impulse_response
from .quantize import PrefixQuantizingNeuron

__all__ = ["LMUState", "LMU", "ParallelLMU", "causal_conv_fft", "causal_conv_chunked", "causal_conv_last",
           "causal_conv_direct", "keras_glorot_normal_", "MEMORY_MODES"]

MEMORY_MODES = ("fft", "chunked")


# ------------------------------------------------------------------------------------------------ convolutions
def causal_conv_direct(u: Tensor, H: Tensor) -> Tensor:
    """Reference: ``m[t, b] = sum_{k <= t} H[t - k] u[k, b]`` for ``u [T, B]``, ``H [>= T, d]`` -> ``[T, B, d]``."""
    T = u.shape[0]
    idx = torch.arange(T, device=u.device)
    lag = idx[:, None] - idx[None, :]
    K = H[lag.clamp_min(0)] * (lag >= 0).to(H.dtype)[..., None]  # [T, T, d]
    return torch.einsum("tkd,kb->tbd", K, u)


def causal_conv_fft(u: Tensor, H: Tensor) -> Tensor:
    """The causal convolution by real FFTs of length ``2T`` (no wrap-around): ``u [T, B]``, ``H [>= T, d]``.

    The transforms run along the last (contiguous) dimension, ``[B, d, F]``, and the result is returned as a
    ``[T, B, d]`` view of a ``[B, d, T]`` tensor (about twice as fast on the CPU as transforming dim 0)."""
    T = u.shape[0]
    n = 2 * T
    U = torch.fft.rfft(u.T, n=n, dim=-1)           # [B, n/2+1]
    Hf = torch.fft.rfft(H[:T].T, n=n, dim=-1)      # [d, n/2+1]
    return torch.fft.irfft(U[:, None, :] * Hf[None, :, :], n=n, dim=-1)[..., :T].permute(2, 0, 1)


def causal_conv_chunked(u: Tensor, H: Tensor, powers: Tensor, chunk: int) -> Tensor:
    """The causal convolution in chunks of ``chunk`` steps: inside a chunk a Toeplitz product with ``H[:chunk]``,
    across chunks the memory at the chunk's end carried by ``powers[j] = Abar^(j+1)`` (``[chunk, d, d]``)."""
    T = u.shape[0]
    C = min(int(chunk), T)
    idx = torch.arange(C, device=u.device)
    lag = idx[:, None] - idx[None, :]
    K = H[lag.clamp_min(0)] * (lag >= 0).to(H.dtype)[..., None]  # [C, C, d]
    outs, m_prev = [], None
    for s in range(0, T, C):
        uc = u[s: s + C]
        c = uc.shape[0]
        mc = torch.einsum("tkd,kb->tbd", K[:c, :c], uc)
        if m_prev is not None:
            mc = mc + torch.einsum("tde,be->tbd", powers[:c], m_prev)
        outs.append(mc)
        m_prev = mc[-1]
    return torch.cat(outs, 0)


def causal_conv_last(u: Tensor, H: Tensor) -> Tensor:
    """Only the last memory state ``m[T-1, b] = sum_k H[T-1-k] u[k, b]`` -> ``[B, d]``."""
    T = u.shape[0]
    return torch.einsum("tb,td->bd", u, H[:T].flip(0))


def keras_glorot_normal_(w: Tensor, fan_in: int, fan_out: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Keras ``glorot_normal``: truncated normal (2 std), std ``sqrt(2 / (fan_in + fan_out)) / .87962566103423978``."""
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
    with torch.no_grad():
        return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std, generator=generator)


class _LDNMemory(nn.Module):
    """Frozen ``(Abar - I)^T`` and ``Bbar^T`` (Keras' ``AT``, ``BT``: counted as non-trainable parameters) and the
    cached float64-built impulse response / powers for the parallel forms."""

    def __init__(self, order: int, theta: float, trainable: bool = False):
        super().__init__()
        Ad, Bd = ldn_discrete(order, theta)
        self.order, self.theta = int(order), float(theta)
        self.AT = nn.Parameter((Ad - torch.eye(order, dtype=Ad.dtype)).T.float().contiguous(), requires_grad=trainable)
        self.BT = nn.Parameter(Bd.T.float().contiguous(), requires_grad=trainable)
        self._cache: dict = {}
        self.m_to_m, self.u_to_m, self.last_product = WeightProduct(), WeightProduct(), WeightProduct()

    def step(self, m: Tensor, u: Tensor) -> Tensor:
        """``m + m (Abar - I)^T + u Bbar^T`` for ``m [B, d]``, ``u [B, 1]``."""
        return m + self.m_to_m(m, self.AT) + self.u_to_m(u, self.BT)

    def _key(self, *extra):
        return (self.AT._version, self.BT._version, self.AT.data_ptr(), self.AT.dtype, self.AT.device) + extra

    def _check_frozen(self) -> None:
        if self.AT.requires_grad or self.BT.requires_grad:
            raise ValueError("the parallel memory needs a frozen LDN (trainable A/B: use the step loop)")

    def abar(self) -> Tensor:
        return self.AT.detach().double().T + torch.eye(self.order, dtype=torch.float64, device=self.AT.device)

    def impulse(self, length: int) -> Tensor:
        """``H [length, d]`` in the parameters' dtype (built in float64 from the stored float32 ``Abar``, ``Bbar``)."""
        self._check_frozen()
        key = self._key("H", int(length))
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[:5] == key[:5]}
            H = ldn_impulse_response(self.abar(), self.BT.detach().double().T, length)
            self._cache[key] = H.to(self.AT.dtype)
        return self._cache[key]

    def powers(self, chunk: int) -> Tensor:
        """``P [chunk, d, d]``, ``P[j] = Abar^(j+1)`` (float64-built)."""
        self._check_frozen()
        key = self._key("P", int(chunk))
        if key not in self._cache:
            A = self.abar()
            P = [A]
            for _ in range(int(chunk) - 1):
                P.append(P[-1] @ A)
            self._cache[key] = torch.stack(P).to(self.AT.dtype)
        return self._cache[key]

    def convolve(self, u: Tensor, mode: str = "fft", chunk: int = 64) -> Tensor:
        """``u [T, B]`` -> memory ``[T, B, d]`` (``mode``: ``"fft"``, ``"chunked"`` or ``"direct"``)."""
        T = u.shape[0]
        H = self.impulse(T if mode != "chunked" else max(min(int(chunk), T), 1)).to(u.dtype)
        if mode == "fft":
            return causal_conv_fft(u, H)
        if mode == "chunked":
            return causal_conv_chunked(u, H, self.powers(min(int(chunk), T)).to(u.dtype), chunk)
        if mode == "direct":
            return causal_conv_direct(u, H)
        raise ValueError(f"memory mode must be one of {MEMORY_MODES + ('direct',)}, got {mode!r}")

    def last(self, u: Tensor) -> Tensor:
        """Only the last state (:func:`causal_conv_last`), as one counted product ``u^T @ H`` flipped in time."""
        return self.last_product(u.T, self.impulse(u.shape[0]).to(u.dtype).flip(0))


class LMUState(NamedTuple):
    h: Tensor                           # [B, hidden]
    m: Tensor                           # [B, order]
    q: Optional[QuantizerState] = None   # the hidden quantizer's voltage (spiking only)
    qu: Optional[QuantizerState] = None  # the memory-input quantizer's voltage (quantize_u only)


class LMU(nn.Module):
    """The 2019 LMU layer over a sequence ``x [T, B, F]`` -> hidden states ``[T, B, hidden]`` (see module docstring).

    Args:
        input_size, hidden_size, order, theta: ``F``, ``n``, ``d``, window in steps (2019 psMNIST: 1, 212, 256, 784).
        memory_feedback: create the hidden and memory encoders ``e_h``, ``e_m`` (the 2019 cell). ``False``: the
            memory is driven by the input alone and can be computed in parallel.
        mode: ``"step"`` (the reference loop; any configuration) or ``"parallel"`` (parallel memory + sequential
            hidden; needs ``memory_feedback=False``).
        memory_mode, chunk: ``"fft"`` or ``"chunked"`` (chunk length) for ``mode="parallel"``.
        activation: ``f`` (``"tanh"`` in 2019).
        spiking, dt, initial_state: the dt-quantizer on ``h`` (a :class:`~common.neurons.QuantizingCell`).
        quantize_u: also quantize the memory input ``u`` (identity base activation, same ``dt``): an alternative
            placement. Stepped in ``mode="step"``; in ``mode="parallel"`` nothing feeds back into ``u``, so it is
            the prefix-sum quantizer over the whole sequence.
        trainable_encoders: make ``e_x``, ``e_h``, ``e_m`` trainable (Keras' default, and the 2019 count).
    """

    def __init__(self, input_size: int = 1, hidden_size: int = 212, order: int = 256, theta: float = 784.0, *,
                 memory_feedback: bool = True, mode: str = "step", memory_mode: str = "fft", chunk: int = 64,
                 activation: str = "tanh", spiking: bool = False, dt: float = 1.0, initial_state: str = "uniform",
                 quantize_u: bool = False, trainable_encoders: bool = True,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        if mode not in ("step", "parallel"):
            raise ValueError(f"mode must be 'step' or 'parallel', got {mode!r}")
        if mode == "parallel" and memory_feedback:
            raise ValueError("mode='parallel' needs memory_feedback=False (nothing may recur into the memory)")
        if memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory_mode must be one of {MEMORY_MODES}, got {memory_mode!r}")
        self.input_size, self.hidden_size, self.order = int(input_size), int(hidden_size), int(order)
        self.memory_feedback, self.mode, self.memory_mode, self.chunk = bool(memory_feedback), mode, memory_mode, int(chunk)
        te = bool(trainable_encoders)
        self.e_x = nn.Parameter(torch.ones(input_size, 1), requires_grad=te)
        if memory_feedback:
            self.e_h = nn.Parameter(torch.zeros(hidden_size, 1), requires_grad=te)
            self.e_m = nn.Parameter(torch.zeros(order, 1), requires_grad=te)
        else:
            self.register_parameter("e_h", None)
            self.register_parameter("e_m", None)
        self.W_x = nn.Parameter(torch.zeros(input_size, hidden_size))
        self.W_h = nn.Parameter(torch.zeros(hidden_size, hidden_size))
        self.W_m = nn.Parameter(keras_glorot_normal_(torch.empty(order, hidden_size), order, hidden_size, generator))
        self.memory = _LDNMemory(order, theta)
        # every product with a weight matrix through a counted module (common.weight_product): op counts and energy
        self.x_to_u, self.x_to_h = WeightProduct(), WeightProduct()
        self.h_to_h, self.m_to_h = WeightProduct(), WeightProduct()
        if memory_feedback:
            self.h_to_u, self.m_to_u = WeightProduct(), WeightProduct()
        self.f = get_activation(activation)
        self.quantizer = QuantizingCell(activation, dt, initial_state=initial_state) if spiking else None
        self.u_quantizer: Optional[nn.Module] = None
        if quantize_u:
            cls = QuantizingCell if mode == "step" else PrefixQuantizingNeuron
            self.u_quantizer = cls("identity", dt, initial_state=initial_state)

    def init_state(self, x0: Tensor) -> LMUState:
        B = x0.shape[0]
        z = x0.new_zeros
        q = self.quantizer.init_state(z(B, self.hidden_size)) if self.quantizer is not None else None
        qu = self.u_quantizer.init_state(z(B, 1)) if self.u_quantizer is not None else None
        return LMUState(z(B, self.hidden_size), z(B, self.order), q, qu)

    def _hidden(self, pre: Tensor, q: Optional[QuantizerState]) -> tuple[Tensor, Optional[QuantizerState]]:
        if self.quantizer is None:
            return self.f(pre), None
        return self.quantizer(pre, q)

    def forward(self, x: Tensor, state: Optional[LMUState] = None) -> tuple[Tensor, LMUState]:
        """``x [T, B, F]`` -> ``(h [T, B, hidden], final state)``."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"LMU expects x [T, B, {self.input_size}], got {tuple(x.shape)}")
        state = self.init_state(x[0]) if state is None else state
        return (self._step_loop if self.mode == "step" else self._parallel)(x, state)

    def _step_loop(self, x: Tensor, state: LMUState) -> tuple[Tensor, LMUState]:
        h, m, q, qu = state
        hs = []
        for xt in x.unbind(0):
            u = self.x_to_u(xt, self.e_x)
            if self.memory_feedback:
                u = u + self.h_to_u(h, self.e_h) + self.m_to_u(m, self.e_m)
            if self.u_quantizer is not None:
                u, qu = self.u_quantizer(u, qu)
            m = self.memory.step(m, u)
            h, q = self._hidden(self.x_to_h(xt, self.W_x) + self.h_to_h(h, self.W_h) + self.m_to_h(m, self.W_m), q)
            hs.append(h)
        return torch.stack(hs), LMUState(h, m, q, qu)

    def memory_sequence(self, x: Tensor, m0: Optional[Tensor] = None,
                        qu: Optional[QuantizerState] = None) -> Tensor:
        """The memory ``[T, B, d]`` driven by the input alone (``memory_feedback=False``), in parallel (``qu``: the
        memory-input quantizer's initial voltage, ``[B, 1]``; its final one is left in ``u_quantizer.last_state``)."""
        u = self.x_to_u(x, self.e_x)  # [T, B, 1]
        if self.u_quantizer is not None:
            u = self.u_quantizer(u, v0=None if qu is None else qu.v)
        u = u[..., 0]
        mem = self.memory.convolve(u, self.memory_mode, self.chunk)
        if m0 is not None and bool(m0.ne(0).any()):  # a carried memory decays as Abar^(t+1) m0
            self.memory._check_frozen()
            A = self.memory.abar().to(x.dtype)
            carry, out = m0, []
            for _ in range(x.shape[0]):
                carry = carry @ A.T
                out.append(carry)
            mem = mem + torch.stack(out)
        return mem

    def _parallel(self, x: Tensor, state: LMUState) -> tuple[Tensor, LMUState]:
        h, m0, q, qu = state
        mem = self.memory_sequence(x, m0, qu)
        if self.u_quantizer is not None:
            qu = self.u_quantizer.last_state
        drive = self.x_to_h(x, self.W_x) + self.m_to_h(mem, self.W_m)  # [T, B, n]: one product over all steps
        hs = []
        for dr in drive.unbind(0):
            h, q = self._hidden(dr + self.h_to_h(h, self.W_h), q)
            hs.append(h)
        return torch.stack(hs), LMUState(h, mem[-1], q, qu)


class ParallelLMU(nn.Module):
    """The fully parallel LMU (Chilkuri & Eliasmith 2021; see module docstring): ``x [T, B, F]`` -> ``h``.

    Args:
        input_size, hidden_size, order, theta: ``F``, ``n``, ``d``, window (hrshtv psMNIST: 1, 346, 468, 784).
        memory_mode, chunk: ``"fft"`` or ``"chunked"``.
        u_activation, activation: ``f_u``, ``f`` (``relu``, ``relu``).
        spiking, dt, initial_state: the dt-quantizer on ``h``, as a prefix sum (nothing feeds back).

    ``forward(x, last_only=False, v0=None)``: ``[T, B, n]``, or only the last step ``[B, n]`` (psMNIST: one
    matrix product for the memory; with ``spiking`` the whole sequence is still quantized, the quantizer being
    causal over time). ``forward_steps`` is the step-loop reference (the recurrent form of the same model).
    """

    def __init__(self, input_size: int = 1, hidden_size: int = 346, order: int = 468, theta: float = 784.0, *,
                 memory_mode: str = "fft", chunk: int = 64, u_activation: str = "relu", activation: str = "relu",
                 spiking: bool = False, dt: float = 1.0, initial_state: str = "uniform"):
        super().__init__()
        if memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory_mode must be one of {MEMORY_MODES}, got {memory_mode!r}")
        self.input_size, self.hidden_size, self.order = int(input_size), int(hidden_size), int(order)
        self.memory_mode, self.chunk = memory_mode, int(chunk)
        self.W_u = nn.Linear(input_size, 1)
        self.W_h = nn.Linear(order + input_size, hidden_size)
        self.memory = _LDNMemory(order, theta)
        self.f_u = get_activation(u_activation)
        self.f = get_activation(activation)
        self.quantizer = PrefixQuantizingNeuron(activation, dt, initial_state=initial_state) if spiking else None

    def _u(self, x: Tensor) -> Tensor:
        return self.f_u(self.W_u(x))[..., 0]  # [T, B]

    def _out(self, pre: Tensor, v0: Optional[Tensor]) -> Tensor:
        if self.quantizer is None:
            return self.f(pre)
        return self.quantizer(pre, v0=v0)

    def forward(self, x: Tensor, last_only: bool = False, v0: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"ParallelLMU expects x [T, B, {self.input_size}], got {tuple(x.shape)}")
        u = self._u(x)
        if last_only and self.quantizer is None:
            m = self.memory.last(u)
            return self.f(self.W_h(torch.cat([m, x[-1]], -1)))
        mem = self.memory.convolve(u, self.memory_mode, self.chunk)
        h = self._out(self.W_h(torch.cat([mem, x], -1)), v0)
        return h[-1] if last_only else h

    def forward_steps(self, x: Tensor, v0: Optional[Tensor] = None) -> Tensor:
        """Reference step loop: ``m = m + m (Abar - I)^T + u Bbar^T``; ``h = f(W_h [m; x])`` (quantizer stepped)."""
        u = self._u(x)
        B = x.shape[1]
        m = x.new_zeros(B, self.order)
        q = None
        if self.quantizer is not None:
            q = v0 if v0 is not None else self.quantizer.init_state(x.new_zeros(B, self.hidden_size)).v
        hs = []
        for t in range(x.shape[0]):
            m = self.memory.step(m, u[t][:, None])
            pre = self.W_h(torch.cat([m, x[t]], -1))
            if self.quantizer is None:
                hs.append(self.f(pre))
            else:
                o = quantize_step(self.quantizer.activation(pre), q, self.quantizer.dt)
                q = o.state.v
                hs.append(o.out)
        return torch.stack(hs)
