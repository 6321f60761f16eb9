"""The conversion-friendly LSTM layer and its spiking counterpart (one module, two modes).

Everything here is a design of this project (the paper's formulas are not available; README.md, notes §3).

**Source LSTM** (``mode="lstm"``), per element ``k`` with pre-activations ``u = W_x x_k + W_h h_{k-1} + b``:

- gates ``i, f, o = q(clip(u / θ_gate, 0, 1))`` — a hard sigmoid with a *trainable clip* θ (Ponghiran & Roy's
  ``clamp((u+2)/4, 0, 1)`` is θ = 4 with the +2 in the bias, which is how they are initialised);
- candidate ``g = q(clip(u_g / θ_g, -1, 1))`` (their ``clamp(u/2, -1, 1)``: θ_g = 2);
- cell ``c_k = f ⊙ c_{k-1} + i ⊙ g`` (unbounded, analog); output ``a_k = o ⊙ clip(c_k / θ_c, -1, 1)``;
- hidden ``h_k = θ_h · q(clip(a_k / θ_h, -1, 1))`` (PACT-style trainable clip of the output, init 1 = no clip).

``q`` is the identity (``levels=None``) or a ``levels``-step quantiser ``floor(y·Q + shift)/Q`` (sign-symmetric for
the signed functions) with a straight-through gradient: the grid the SNN produces at ``T = Q`` inner steps.

**Spiking LSTM** (``mode="snn"``), ``T`` inner steps per element (nested time, direct encoding): every bounded
function of the source LSTM becomes a neuron whose rate over the element's ``T`` steps is that function:

- ``i, f, o``: integrate-and-fire, binary spikes, threshold = the source clip θ_gate (exact correspondence);
- ``g`` and ``h``: *ternary* IF (spikes in {-1, 0, +1}: fire +1 at ``v >= (1-s)θ``, -1 at ``v <= -(1-s)θ``, soft
  reset by ±θ) — both are signed, and a signed rate needs signed spikes;
- ``c`` stays analog: ``c_k = r_f ⊙ c_{k-1} + r_i ⊙ r_g`` with the element's spike rates ``r``. This update *is*
  an LIF membrane equation whose leak is the forget rate and whose input is ``r_i r_g``; it has no reset (the
  memory must not lose charge when it "fires"), so it is kept as the analog membrane and its readout
  ``a_k = r_o ⊙ clip(c_k/θ_c)`` drives the spiking ``h`` neuron (the LIF derived from the cell update);
- every neuron's membrane starts each element at 0 and follows ``v <- λ v + z`` over the inner steps: λ = 1 (IF)
  after conversion, trained (LIF, clamped to [0, 1]) in fine-tuning, one leak per neuron group and layer;
- the **bias shift** ``s`` (default 1/2): the firing threshold sits at ``(1-s)θ``, i.e. the membrane starts half a
  threshold up — for a constant input ``u`` the spike count is ``floor(T u/θ + s)`` (round for s = 1/2) instead of
  ``floor(T u/θ)`` (s = 0): the rate is unbiased and its worst-case error halves. For a per-step input it is the
  same total charge as adding θ/(2T) to the bias at every step;
- the recurrent input of element ``k`` at inner step ``t`` is ``W_h`` times the ``h`` spikes of element ``k-1`` at
  inner step ``t`` (times θ_h, folded into ``W_h`` on hardware): over the ``T`` steps the charge is exactly
  ``T · W_h · rate(h_{k-1})``. The input of layer 1 is the analog element at every inner step (direct encoding);
  deeper layers take the ternary ``h`` spikes of the layer below.

``record`` (a dict) accumulates the counts the energy model needs (:mod:`.energy`).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from common.neurons.nested import fold_steps
from common.surrogate import get_surrogate

__all__ = ["ConvLSTMLayer", "clip_act", "quantize", "neuron_step", "GATES", "NEURONS"]

GATES = ("i", "f", "g", "o")
NEURONS = ("i", "f", "g", "o", "h")  # neuron groups with a threshold and a leak
SIGNED = {"i": False, "f": False, "g": True, "o": False, "h": True}


class _STEFloor(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return torch.floor(x)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return g


def quantize(y: Tensor, levels: Optional[int], shift: float, signed: bool) -> Tensor:
    """``floor(y Q + shift) / Q`` (sign-symmetric when ``signed``), straight-through gradient; identity for
    ``levels=None``. ``y`` is already clipped to [0, 1] / [-1, 1]."""
    if not levels:
        return y
    Q = float(levels)
    if signed:
        return torch.sign(y) * _STEFloor.apply(y.abs() * Q + shift) / Q
    return _STEFloor.apply(y * Q + shift) / Q


def clip_act(u: Tensor, theta: Tensor, signed: bool, levels: Optional[int] = None, shift: float = 0.5) -> Tensor:
    """The source LSTM's bounded activation: ``q(clip(u/θ, -1 or 0, 1))``."""
    y = torch.clamp(u / theta, -1.0 if signed else 0.0, 1.0)
    return quantize(y, levels, shift, signed)


def neuron_step(v: Tensor, z: Tensor, leak: Tensor, theta: Tensor, shift: float, signed: bool,
                surrogate) -> tuple[Tensor, Tensor]:
    """One inner step of an IF/LIF (binary) or ternary neuron with soft reset and bias shift ``shift``:
    ``h = λ v + z``; spike +1 where ``h >= (1-shift) θ`` (and -1 where ``h <= -(1-shift) θ`` when signed);
    ``v' = h - θ s``. Returns ``(spikes, v')``. The surrogate sees ``h/θ - (1-shift)``."""
    h = leak * v + z
    s = surrogate(h / theta - (1.0 - shift))
    if signed:
        s = s - surrogate(-h / theta - (1.0 - shift))
    return s, h - theta * s


class ConvLSTMLayer(nn.Module):
    """One conversion-friendly LSTM layer (``mode="lstm"``) / its spiking counterpart (``mode="snn"``).

    Input ``[N*T, B, I]`` in nested time (element ``k`` at steps ``kT .. kT+T-1``; ``T = 1`` for the LSTM);
    output ``[N*T, B, H]``: the LSTM's ``h_k`` (T = 1) or the ``h`` spikes times θ_h (SNN). Parameters: ``w_x``
    (``Linear(I, 4H)``, with the bias), ``w_h`` (``Linear(H, 4H)``, no bias), ``theta`` (θ_i, θ_f, θ_g, θ_o, θ_h),
    ``theta_c``, ``leak`` (λ_i, λ_f, λ_g, λ_o, λ_h; 1 and unused in the LSTM).
    """

    def __init__(self, input_size: int, hidden_size: int, *, theta_gate: float = 4.0, theta_g: float = 2.0,
                 theta_c: float = 2.0, theta_h: float = 1.0, levels: Optional[int] = None, q_shift: float = 0.5,
                 forget_bias: float = 1.0, surrogate: str = "triangle", surrogate_alpha: float = 1.0):
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        H = self.hidden_size
        self.w_x = nn.Linear(self.input_size, 4 * H)
        self.w_h = nn.Linear(H, 4 * H, bias=False)
        with torch.no_grad():  # orthogonal recurrent init (Ponghiran & Roy); gate biases: the +2 of clamp((u+2)/4)
            for j in range(4):
                nn.init.orthogonal_(self.w_h.weight[j * H:(j + 1) * H])
            b = self.w_x.bias
            b.zero_()
            b[0:H] += theta_gate / 2
            b[H:2 * H] += theta_gate / 2 + forget_bias
            b[3 * H:4 * H] += theta_gate / 2
        self.theta = nn.Parameter(torch.tensor([theta_gate, theta_gate, theta_g, theta_gate, theta_h]))
        self.theta_c = nn.Parameter(torch.tensor(float(theta_c)))
        self.leak = nn.Parameter(torch.ones(5), requires_grad=False)
        self.levels, self.q_shift = levels, float(q_shift)
        self.mode, self.time_steps, self.shift = "lstm", 1, 0.5
        self.surrogate = get_surrogate(surrogate, surrogate_alpha)
        self.record: Optional[dict] = None   # energy/activity counters (see .energy)
        self.collect_a: Optional[list] = None  # pre-clip outputs a_k (threshold statistics)

    # ------------------------------------------------------------------ configuration
    def to_snn(self, time_steps: int, shift: float = 0.5, learn_threshold: bool = True, learn_leak: bool = True,
               theta_h: Optional[float] = None) -> "ConvLSTMLayer":
        """Switch to the spiking mode in place (the weights are shared; θ_h optionally re-initialised)."""
        self.mode, self.time_steps, self.shift = "snn", int(time_steps), float(shift)
        if theta_h is not None:
            with torch.no_grad():
                self.theta[4] = float(theta_h)
        self.theta.requires_grad_(bool(learn_threshold))
        self.theta_c.requires_grad_(bool(learn_threshold))
        self.leak.requires_grad_(bool(learn_leak))
        return self

    @torch.no_grad()
    def constrain_(self) -> None:
        self.leak.clamp_(0.0, 1.0)
        self.theta.clamp_(min=1e-3)
        self.theta_c.clamp_(min=1e-3)

    # ------------------------------------------------------------------ forward
    def _count(self, key: str, value) -> None:
        if self.record is not None:
            self.record[key] = self.record.get(key, 0.0) + float(value)

    def forward(self, x: Tensor) -> Tensor:
        return self._lstm(x) if self.mode == "lstm" else self._snn(x)

    def _lstm(self, x: Tensor) -> Tensor:
        H, th = self.hidden_size, self.theta
        ux = self.w_x(x)  # [N, B, 4H]: the input part of every element at once
        h = x.new_zeros(x.shape[1], H)
        c = x.new_zeros(x.shape[1], H)
        outs = []
        for k in range(x.shape[0]):
            u = ux[k] + self.w_h(h)
            i = clip_act(u[:, :H], th[0], False, self.levels, self.q_shift)
            f = clip_act(u[:, H:2 * H], th[1], False, self.levels, self.q_shift)
            g = clip_act(u[:, 2 * H:3 * H], th[2], True, self.levels, self.q_shift)
            o = clip_act(u[:, 3 * H:], th[3], False, self.levels, self.q_shift)
            c = f * c + i * g
            a = o * torch.clamp(c / self.theta_c, -1.0, 1.0)
            if self.collect_a is not None:
                self.collect_a.append(a.detach())
            h = th[4] * clip_act(a, th[4], True, self.levels, self.q_shift)
            outs.append(h)
        self._count("elements", x.shape[0] * x.shape[1])
        self._count("in_nonzero", (x != 0).sum())
        self._count("in_numel", x.numel())
        return torch.stack(outs)

    def _snn(self, x: Tensor) -> Tensor:
        H, T, th, lk, s = self.hidden_size, self.time_steps, self.theta, self.leak, self.shift
        if x.shape[0] % T:
            raise ValueError(f"input has {x.shape[0]} steps, not a multiple of T={T}")
        N, B = x.shape[0] // T, x.shape[1]
        ux = self.w_x(x).view(N, T, B, 4 * H)
        sh = x.new_zeros(T, B, H)  # h spikes (x θ_h) of the previous element, per inner step
        c = x.new_zeros(B, H)
        outs, counts = [], {n: 0.0 for n in NEURONS} if self.record is not None else None
        for k in range(N):
            z = ux[k] + self.w_h(sh)  # [T, B, 4H]
            vs = [x.new_zeros(B, H) for _ in GATES]
            sums = [x.new_zeros(B, H) for _ in GATES]
            for t in range(T):
                for j, name in enumerate(GATES):
                    spk, vs[j] = neuron_step(vs[j], z[t, :, j * H:(j + 1) * H], lk[j], th[j], s, SIGNED[name],
                                             self.surrogate)
                    sums[j] = sums[j] + spk
                    if counts is not None:
                        counts[name] += float(spk.detach().abs().sum())
            ri, rf, rg, ro = (v / T for v in sums)
            c = rf * c + ri * rg
            a = ro * torch.clamp(c / self.theta_c, -1.0, 1.0)
            v, hs = x.new_zeros(B, H), []
            for t in range(T):
                spk, v = neuron_step(v, a, lk[4], th[4], s, True, self.surrogate)
                hs.append(spk * th[4])
            sh = torch.stack(hs)
            outs.append(sh)
            if counts is not None:
                counts["h"] += float((sh.detach() != 0).sum())
        if self.record is not None:
            self._count("elements", N * B)
            self._count("in_nonzero", (x != 0).sum())
            self._count("in_numel", x.numel())
            for n in NEURONS:
                self._count(f"spikes_{n}", counts[n])
        return torch.cat(outs)

    def rates(self, out: Tensor) -> Tensor:
        """Per-element output value ``[N, B, H]`` from the layer output (SNN: the mean of the spikes x θ_h)."""
        return out if self.mode == "lstm" else fold_steps(out, self.time_steps, "mean")
