"""Pure per-layer operation counters, in two conventions.

Every counter takes the layer and the *input of one call* and returns a dict of 0-dim
``float64`` tensors (no host synchronisation) with the keys of :data:`FIELDS`, summed over all
rows of that call (so a ``TimeDistributed`` call over ``T*B`` rows counts all ``T`` steps).
Divide by the number of samples to get per-sample numbers (the monitor does that).

**Papers' convention** (DIET-SNN, SPSN, ...; ``paper_mac`` / ``paper_ac``):

* input not entirely in ``{0, 1}`` (analog: direct-encoded first layer, any ANN layer):
  ``MACs`` = dense ops of the call, ``k^2 * C_in/groups * C_out * H_out * W_out`` per row for a
  conv (padding positions included) and ``f_in * f_out`` for a linear layer;
* input in ``{0, 1}`` (spikes): ``ACs`` = number of input spikes x fan-out. For a conv the
  fan-out of each spike is computed exactly by convolving the binarised input with an all-ones
  kernel of the layer's geometry (bias excluded), so padding, stride, dilation and groups are
  respected; for a linear layer the fan-out is ``out_features``.

**NeuroBench's convention** (``nb_mac`` / ``nb_ac`` / ``nb_dense``), following
``neurobench/metrics/utils/layers/macs.py`` (``single_layer_MACs``, ``stateless_layer_macs``),
``.../layers/input.py`` (``binary_inputs``) and ``.../layers/binary_copy.py`` of
github.com/NeuroBench/neurobench: effective ops are the output sum of a binarised copy of the
layer (non-zero weights -> 1, bias excluded) applied to the binarised input (non-zero -> 1);
the call counts as ACs iff every input value lies in ``{-1, 0, 1}``, else as MACs. ``nb_dense``
is the same computation with all-ones weights and all-ones input (so, unlike the papers' dense
count, zero-padding positions of a conv are *not* counted). For recurrent cells only the first
input (``x``) decides AC vs MAC, as in NeuroBench, and a missing state (``hx=None``) contributes
no hidden-to-hidden ops. Deviation: NeuroBench adds the element-wise gate products of LSTM/GRU
cells to the effective MACs; here they are reported separately, densely, in ``elementwise``
(LSTM: ``f*c, i*g, o*tanh(c)`` = 3H per row-step; GRU: ``r*(W_hn h), (1-z)*n, z*h`` = 3H).
NeuroBench does not support full-sequence ``nn.LSTM/GRU/RNN``; here their first-layer input
part is counted like a cell's and everything else (recurrent weights, deeper layers,
projections) densely at every step.

**Recurrent layers, papers' convention**: gate-level MACs, bias excluded: LSTM ``4H(I+H)``,
GRU ``3H(I+H)``, RNN ``H(I+H)`` per row-step (x seq. length, layers, directions for
``nn.LSTM/GRU/RNN``). The input-to-hidden part of the first layer follows the AC/MAC rule above
(ACs = input spikes x ``gates*H`` per direction); the hidden-to-hidden part is always dense MACs
(the hidden state of these PyTorch cells is analog; ``hx=None`` counts like a zero state). A
spiking recurrence (binary ``h``) should be built from ``Linear`` layers + spiking neurons, which
are then counted as ACs.

Other keys: ``in_nonzero``/``in_numel`` (input activity), ``analog`` (1 if the call was analog in
the papers' sense), ``calls``; the monitor adds ``out_zero``/``out_numel``.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FIELDS",
    "COUNTED_TYPES",
    "is_spike_tensor",
    "is_ternary_tensor",
    "count_linear",
    "count_conv",
    "count_rnn_cell",
    "count_rnn",
    "count_layer",
    "stack_counts",
]

FIELDS = (
    "paper_mac",
    "paper_ac",
    "nb_mac",
    "nb_ac",
    "nb_dense",
    "elementwise",
    "in_nonzero",
    "in_numel",
    "out_zero",
    "out_numel",
    "analog",
    "calls",
)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CELLS = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
_RNNS = (nn.LSTM, nn.GRU, nn.RNN)
COUNTED_TYPES = (nn.Linear,) + _CONVS + _CELLS + _RNNS

_F64 = torch.float64


def _gates(layer: nn.Module) -> int:
    if isinstance(layer, (nn.LSTM, nn.LSTMCell)):
        return 4
    if isinstance(layer, (nn.GRU, nn.GRUCell)):
        return 3
    return 1


def is_spike_tensor(x: torch.Tensor) -> torch.Tensor:
    """0-dim bool tensor: every entry is 0 or 1 (papers' AC criterion)."""
    return ((x == 0) | (x == 1)).all()


def is_ternary_tensor(x: torch.Tensor) -> torch.Tensor:
    """0-dim bool tensor: every entry is -1, 0 or 1 (NeuroBench's AC criterion)."""
    return ((x == 0) | (x == 1) | (x == -1)).all()


def _t(v: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(v, dtype=_F64, device=like.device)


def _pick(cond: torch.Tensor, if_true: torch.Tensor, zero: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value if not cond else 0, value if cond else 0)`` with no host sync: (mac, ac)."""
    return torch.where(cond, zero, if_true), torch.where(cond, if_true, zero)


def _binarise(x: torch.Tensor) -> torch.Tensor:
    return (x != 0).to(torch.float32)


def _base(x: torch.Tensor) -> dict[str, torch.Tensor]:
    z = torch.zeros((), dtype=_F64, device=x.device)
    return {
        "in_nonzero": (x != 0).sum().to(_F64),
        "in_numel": _t(x.numel(), x),
        "analog": (~is_spike_tensor(x)).to(_F64),
        "calls": _t(1, x),
        "elementwise": z,
        "out_zero": z,
        "out_numel": z,
    }


# ---------------------------------------------------------------- stateless layers
@torch.no_grad()
def count_linear(layer: nn.Linear, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Ops of ``layer(x)`` for ``x`` of shape ``[..., in_features]`` (all rows summed)."""
    f_in, f_out = layer.in_features, layer.out_features
    x2 = x.detach().reshape(-1, f_in)
    rows = x2.shape[0]
    xb = _binarise(x2)
    col = xb.sum(0, dtype=_F64)  # spikes (non-zeros) per input feature
    zero = torch.zeros((), dtype=_F64, device=x.device)
    dense = _t(rows * f_in * f_out, x)
    spike, tern = is_spike_tensor(x2), is_ternary_tensor(x2)
    # papers: dense MACs, or (#spikes x out_features) ACs
    p_mac, _ = _pick(spike, dense, zero)
    _, p_ac = _pick(spike, col.sum() * f_out, zero)
    # NeuroBench: sum(bin(x) @ bin(W)^T) = sum_i spikes_i * nnz(W[:, i])
    fan = (layer.weight.detach() != 0).sum(0).to(_F64)
    eff = col @ fan
    nb_mac, nb_ac = _pick(tern, eff, zero)
    out = _base(x2)
    out.update(paper_mac=p_mac, paper_ac=p_ac, nb_mac=nb_mac, nb_ac=nb_ac, nb_dense=dense)
    return out


def _conv_nd(layer: nn.Module) -> int:
    if isinstance(layer, nn.Conv1d):
        return 1
    return 2 if isinstance(layer, nn.Conv2d) else 3


def _conv_apply(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``layer``'s convolution (stride, padding incl. mode, dilation, groups) with another weight, no bias."""
    nd = _conv_nd(layer)
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    padding = layer.padding
    if layer.padding_mode != "zeros":
        x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
        padding = 0
    return fn(x, weight, None, layer.stride, padding, layer.dilation, layer.groups)


_dense_cache: dict[tuple, float] = {}


@torch.no_grad()
def count_conv(layer: nn.Module, x: torch.Tensor, neurobench: bool = True) -> dict[str, torch.Tensor]:
    """Ops of ``layer(x)`` for a ``Conv1d/2d/3d`` and input ``[N, C_in, *spatial]`` (or unbatched).

    ``neurobench=False`` skips the binarised-weight convolution (``nb_mac``/``nb_ac`` are 0)."""
    nd = _conv_nd(layer)
    x = x.detach()
    if x.dim() == nd + 1:
        x = x.unsqueeze(0)
    x = x.float()
    N = x.shape[0]
    g = layer.groups
    c_in_g = layer.in_channels // g
    c_out_g = layer.out_channels // g
    k = math.prod(layer.kernel_size)
    zero = torch.zeros((), dtype=_F64, device=x.device)
    spike, tern = is_spike_tensor(x), is_ternary_tensor(x)
    xb = _binarise(x)
    # papers: ACs = sum over spikes of their exact fan-out = sum(conv(bin(x), ones)) ; one output
    # channel per group suffices (all C_out/g channels of a group see the same receptive fields)
    ones_w = torch.ones((g, c_in_g) + tuple(layer.kernel_size), dtype=torch.float32, device=x.device)
    ac_map = _conv_apply(layer, xb, ones_w)
    fan_ac = ac_map.sum(dtype=_F64) * c_out_g
    out_spatial = math.prod(ac_map.shape[2:])
    dense_paper = _t(N * out_spatial * layer.out_channels * c_in_g * k, x)
    p_mac, _ = _pick(spike, dense_paper, zero)
    _, p_ac = _pick(spike, fan_ac, zero)
    # NeuroBench: effective = sum(conv(bin(x), bin(W))), dense = sum(conv(ones, ones)) (no padding)
    if neurobench:
        wb = (layer.weight.detach() != 0).to(torch.float32)
        eff = _conv_apply(layer, xb, wb).sum(dtype=_F64)
    else:
        eff = zero
    nb_mac, nb_ac = _pick(tern, eff, zero)
    key = (nd, tuple(x.shape[1:]), layer.in_channels, layer.out_channels, tuple(layer.kernel_size),
           str(layer.stride), str(layer.padding), str(layer.dilation), g, layer.padding_mode)
    if key not in _dense_cache:
        one = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float32, device=x.device)
        _dense_cache[key] = float(_conv_apply(layer, one, ones_w).sum(dtype=_F64)) * c_out_g
    nb_dense = _t(_dense_cache[key] * N, x)
    out = _base(x)
    out.update(paper_mac=p_mac, paper_ac=p_ac, nb_mac=nb_mac, nb_ac=nb_ac, nb_dense=nb_dense)
    return out


# ---------------------------------------------------------------- recurrent
@torch.no_grad()
def count_rnn_cell(layer: nn.Module, x: torch.Tensor, hx: Any = None) -> dict[str, torch.Tensor]:
    """Ops of one step of an ``LSTMCell``/``GRUCell``/``RNNCell`` (``x`` ``[B, I]`` or ``[I]``).

    ``hx``: ``None``, ``h`` (GRU/RNN) or ``(h, c)`` (LSTM). Gate-level MACs, bias excluded.
    """
    G, H, I = _gates(layer), layer.hidden_size, layer.input_size
    x = x.detach().reshape(-1, I)
    B = x.shape[0]
    h = hx[0] if isinstance(hx, (tuple, list)) else hx
    zero = torch.zeros((), dtype=_F64, device=x.device)
    xb = _binarise(x)
    x_spikes = xb.sum(dtype=_F64)
    spike, tern = is_spike_tensor(x), is_ternary_tensor(x)
    # papers: input part
    ih_dense = _t(B * G * H * I, x)
    p_mac, _ = _pick(spike, ih_dense, zero)
    _, p_ac = _pick(spike, x_spikes * (G * H), zero)
    # papers: recurrent part, always dense MACs (the state of these cells is analog by construction;
    # with hx=None PyTorch still runs the W_hh product on a zero state)
    hh_dense = _t(B * G * H * H, x)
    p_mac = p_mac + hh_dense
    if h is not None:
        h = h.detach().reshape(-1, H)
    # NeuroBench: sum(bin(W_ih) bin(x)) + sum(bin(W_hh) bin(h)); AC iff x in {-1,0,1}
    eff = xb.sum(0, dtype=_F64) @ (layer.weight_ih.detach() != 0).sum(0).to(_F64)
    dense = ih_dense
    if h is not None:
        eff = eff + _binarise(h).sum(0, dtype=_F64) @ (layer.weight_hh.detach() != 0).sum(0).to(_F64)
        dense = dense + hh_dense
    nb_mac, nb_ac = _pick(tern, eff, zero)
    out = _base(x)
    ew = 3 * H * B if G in (3, 4) else 0
    out.update(paper_mac=p_mac, paper_ac=p_ac, nb_mac=nb_mac, nb_ac=nb_ac, nb_dense=dense,
               elementwise=_t(ew, x))
    return out


@torch.no_grad()
def count_rnn(layer: nn.Module, x: Any, hx: Any = None) -> dict[str, torch.Tensor]:
    """Ops of a full-sequence ``nn.LSTM``/``nn.GRU``/``nn.RNN`` call (all steps, layers, directions).

    Per row-step the dense gate MACs are the sum of the sizes of all weight matrices
    (``weight_ih_l*``, ``weight_hh_l*``, ``weight_hr_l*``); bias excluded. ``x`` may be a
    ``PackedSequence`` (padding steps are then not counted).
    """
    data = x.data if isinstance(x, nn.utils.rnn.PackedSequence) else x
    data = data.detach()
    I = layer.input_size
    x2 = data.reshape(-1, I)
    R = x2.shape[0]  # row-steps = batch x seq. length (unpadded for packed input)
    G, H = _gates(layer), layer.hidden_size
    dirs = 2 if layer.bidirectional else 1
    zero = torch.zeros((), dtype=_F64, device=data.device)
    w_first = [getattr(layer, f"weight_ih_l0{s}") for s in ("", "_reverse")[:dirs]]
    first_dense = sum(w.numel() for w in w_first)  # = dirs * G*H*I
    all_dense = sum(p.numel() for n, p in layer.named_parameters() if n.startswith("weight_"))
    rest = _t(R * (all_dense - first_dense), data)
    xb = _binarise(x2)
    spike, tern = is_spike_tensor(x2), is_ternary_tensor(x2)
    m, _ = _pick(spike, _t(R * first_dense, data), zero)
    _, a = _pick(spike, xb.sum(dtype=_F64) * (G * H * dirs), zero)
    p_mac, p_ac = m + rest, a
    col = xb.sum(0, dtype=_F64)
    eff = sum(col @ (w.detach() != 0).sum(0).to(_F64) for w in w_first) + rest
    nb_mac, nb_ac = _pick(tern, eff, zero)
    out = _base(x2)
    ew = 3 * H * R * dirs * layer.num_layers if G in (3, 4) else 0
    out.update(paper_mac=p_mac, paper_ac=p_ac, nb_mac=nb_mac, nb_ac=nb_ac,
               nb_dense=_t(R * all_dense, data), elementwise=_t(ew, data))
    return out


def count_layer(
    layer: nn.Module, args: tuple, kwargs: Optional[dict] = None, neurobench: bool = True
) -> Optional[dict[str, torch.Tensor]]:
    """Dispatch on the layer type; ``args``/``kwargs`` are the call's arguments. ``None`` if unsupported."""
    kwargs = kwargs or {}
    x = args[0] if args else kwargs.get("input")
    if x is None:
        return None
    if isinstance(layer, nn.Linear):
        return count_linear(layer, x)
    if isinstance(layer, _CONVS):
        return count_conv(layer, x, neurobench)
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    if isinstance(layer, _CELLS):
        return count_rnn_cell(layer, x, hx)
    if isinstance(layer, _RNNS):
        return count_rnn(layer, x, hx)
    return None


def stack_counts(d: dict[str, torch.Tensor], device: Optional[torch.device] = None) -> torch.Tensor:
    """The counts as one ``float64`` vector in :data:`FIELDS` order."""
    v = torch.stack([d[k].to(_F64) for k in FIELDS])
    return v if device is None else v.to(device)
