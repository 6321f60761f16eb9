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
are then counted as ACs, with its gate products through :class:`common.products.Mul` (a spike gate
selects: no multiplication).

**Graded spikes** (a quantizing neuron's ``n/dt``, or integer spike counts ``n``): a ``Linear`` or
``Conv`` call told the height ``unit`` of one spike (``1/dt``; 1 for counts; see ``OpsMonitor(graded=)``)
whose input is everywhere an integer multiple ``n * unit`` counts, in the papers' convention, as
``|n|`` additions per fan-out target (``ACs = sum |n| x fan-out``: an event-driven core delivers ``|n|``
spikes, the height folds into the weights; ``graded`` = 1 for such a call). NeuroBench's convention
has no graded case: a value outside ``{-1, 0, 1}`` is a multiplication, so the call counts as MACs
(effective: non-zero inputs x non-zero weights). Without ``unit`` a graded input is analog (MACs).

**Embeddings** (``nn.Embedding``): ``lookups`` = indices read (``padding_idx`` excluded: a padding
position is no token), no MACs/ACs in either convention; indices do not enter the input activity.

**Products** (:class:`common.products.MatMul` ``a @ b``, e.g. the ``Q K^T`` and ``A V`` of
:class:`common.attention.DotProductAttention`; :class:`common.products.Mul` ``a * b``): see
:func:`count_matmul` and :func:`count_mul`.

**Extension point.** :func:`register_counter` maps a module type to a counter
``fn(layer, args, kwargs, **opts) -> dict | None`` (``args``/``kwargs``: the call's arguments; ``opts``:
``neurobench``, ``unit``; a counter takes ``**opts`` and ignores what it does not use). The counter of a
module is the one registered for the nearest class of its MRO, so subclasses inherit it; missing keys
of the returned dict are filled with zeros (``calls`` with 1), and :func:`base_counts` gives a full
dict with the input statistics to start from.

Other keys: ``in_nonzero``/``in_numel`` (input activity), ``analog`` (1 if the call was analog in
the papers' sense), ``graded``, ``lookups``, ``calls``; the monitor adds ``out_zero``/``out_numel``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FIELDS",
    "COUNTED_TYPES",
    "Counter",
    "register_counter",
    "unregister_counter",
    "find_counter",
    "base_counts",
    "graded_counts",
    "count_embedding",
    "count_matmul",
    "count_mul",
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
    "graded",
    "lookups",
)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CELLS = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
_RNNS = (nn.LSTM, nn.GRU, nn.RNN)
COUNTED_TYPES = (nn.Linear,) + _CONVS + _CELLS + _RNNS + (nn.Embedding,)
"""The built-in torch types with a counter (the products register theirs in :mod:`common.products`)."""

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


def _base(x: torch.Tensor, graded: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    z = torch.zeros((), dtype=_F64, device=x.device)
    out = {k: z for k in FIELDS}
    not_analog = is_spike_tensor(x) if graded is None else (is_spike_tensor(x) | graded)
    out.update(
        in_nonzero=(x != 0).sum().to(_F64),
        in_numel=_t(x.numel(), x),
        analog=(~not_analog).to(_F64),
        calls=_t(1, x),
        graded=z if graded is None else graded.to(_F64),
    )
    return out


def base_counts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """A full counts dict for one call with input ``x``: its activity (``in_nonzero``, ``in_numel``,
    ``analog`` by the papers' {0, 1} test), ``calls`` = 1, every op count 0. For custom counters."""
    return _base(x.detach())


def graded_counts(x: torch.Tensor, unit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(graded, |n|)`` for an input made of graded spikes of height ``unit``.

    ``graded``: 0-dim bool, every ``x / unit`` is an integer (to 1e-3, float rounding of ``n/dt``);
    ``|n|``: the ``float64`` spike counts ``round(|x| / unit)`` where graded, else zeros."""
    if not (isinstance(unit, (int, float)) and math.isfinite(unit) and unit > 0):
        raise ValueError(f"graded spike height (unit) must be a positive finite number, got {unit!r}")
    n = x.detach().to(_F64) / float(unit)
    r = n.round()
    ok = ((n - r).abs() <= 1e-3).all()
    return ok, torch.where(ok, r.abs(), torch.zeros_like(r))


def _events(x: torch.Tensor, xb: torch.Tensor, spike: torch.Tensor, unit: Optional[float]):
    """Papers' events per input element (binarised spikes, or ``|n|`` for graded input) and the 0-dim
    ``graded`` flag (graded and not plain {0, 1} spikes)."""
    if unit is None:
        return xb, torch.zeros((), dtype=torch.bool, device=x.device)
    g, n = graded_counts(x, unit)
    g = g & ~spike
    return torch.where(spike, xb, n.to(xb.dtype)), g


# ---------------------------------------------------------------- stateless layers
@torch.no_grad()
def count_linear(layer: nn.Linear, x: torch.Tensor, unit: Optional[float] = None) -> dict[str, torch.Tensor]:
    """Ops of ``layer(x)`` for ``x`` of shape ``[..., in_features]`` (all rows summed); ``unit``: the
    height of one graded spike (see the module docstring), ``None`` for no graded input."""
    f_in, f_out = layer.in_features, layer.out_features
    x2 = x.detach().reshape(-1, f_in)
    rows = x2.shape[0]
    xb = _binarise(x2)
    col = xb.sum(0, dtype=_F64)  # spikes (non-zeros) per input feature
    zero = torch.zeros((), dtype=_F64, device=x.device)
    dense = _t(rows * f_in * f_out, x)
    spike, tern = is_spike_tensor(x2), is_ternary_tensor(x2)
    ev, graded = _events(x2, xb, spike, unit)
    # papers: dense MACs, or (#spikes x out_features) ACs (graded: sum |n| x out_features)
    p_mac, _ = _pick(spike | graded, dense, zero)
    _, p_ac = _pick(spike | graded, ev.sum(dtype=_F64) * f_out, zero)
    # NeuroBench: sum(bin(x) @ bin(W)^T) = sum_i spikes_i * nnz(W[:, i])
    fan = (layer.weight.detach() != 0).sum(0).to(_F64)
    eff = col @ fan
    nb_mac, nb_ac = _pick(tern, eff, zero)
    out = _base(x2, graded)
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
def count_conv(layer: nn.Module, x: torch.Tensor, neurobench: bool = True,
               unit: Optional[float] = None) -> dict[str, torch.Tensor]:
    """Ops of ``layer(x)`` for a ``Conv1d/2d/3d`` and input ``[N, C_in, *spatial]`` (or unbatched).

    ``neurobench=False`` skips the binarised-weight convolution (``nb_mac``/``nb_ac`` are 0);
    ``unit``: the height of one graded spike (module docstring), ``None`` for no graded input."""
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
    ev, graded = _events(x, xb, spike, unit)
    # papers: ACs = sum over spikes of their exact fan-out = sum(conv(bin(x), ones)) (graded: conv(|n|,
    # ones)); one output channel per group suffices (all C_out/g channels of a group see the same fields)
    ones_w = torch.ones((g, c_in_g) + tuple(layer.kernel_size), dtype=torch.float32, device=x.device)
    ac_map = _conv_apply(layer, ev, ones_w)
    fan_ac = ac_map.sum(dtype=_F64) * c_out_g
    out_spatial = math.prod(ac_map.shape[2:])
    dense_paper = _t(N * out_spatial * layer.out_channels * c_in_g * k, x)
    p_mac, _ = _pick(spike | graded, dense_paper, zero)
    _, p_ac = _pick(spike | graded, fan_ac, zero)
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
    out = _base(x, graded)
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


# ---------------------------------------------------------------- embeddings and products
@torch.no_grad()
def count_embedding(layer: nn.Embedding, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """``nn.Embedding``: ``lookups`` = indices read (``padding_idx`` excluded), no MACs/ACs; the indices
    are no activations, so ``in_nonzero``/``in_numel``/``analog`` stay 0."""
    idx = idx.detach()
    valid = idx != layer.padding_idx if layer.padding_idx is not None else torch.ones_like(idx, dtype=torch.bool)
    z = torch.zeros((), dtype=_F64, device=idx.device)
    out = {k: z for k in FIELDS}
    out.update(lookups=valid.sum().to(_F64), calls=_t(1, idx))
    return out


def _mm_shapes(a: torch.Tensor, b: torch.Tensor):
    if a.dim() < 1 or b.dim() < 1:
        raise ValueError("count_matmul: operands must have at least one dimension")
    a2 = a.unsqueeze(0) if a.dim() == 1 else a  # torch.matmul's rules for 1-D operands
    b2 = b.unsqueeze(-1) if b.dim() == 1 else b
    batch = torch.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    return a2.expand(batch + a2.shape[-2:]), b2.expand(batch + b2.shape[-2:])


@torch.no_grad()
def count_matmul(a: torch.Tensor, b: torch.Tensor, neurobench: bool = True) -> dict[str, torch.Tensor]:
    """Ops of ``a @ b`` (``[..., n, k] @ [..., k, m]``, batch dims broadcast; no weights, both operands are
    activations, e.g. ``Q K^T`` and ``A V`` of attention).

    Dense: ``n k m`` multiply-adds per batch entry (``nb_dense``). Papers' convention: MACs = dense unless
    an operand is in ``{0, 1}``; then ACs = that operand's spikes x their fan-out (a spike ``a[i, j]``
    adds row ``b[j]``: ``m`` ACs; a spike ``b[j, l]`` adds column ``a[:, j]``: ``n`` ACs); both binary:
    the operand giving fewer ACs (the sparser stream is delivered). NeuroBench's convention: effective ops
    ``sum(bin(a) @ bin(b))`` (products of two non-zeros), ACs iff an operand is in ``{-1, 0, 1}``, else MACs.
    Input activity (``in_nonzero``/``in_numel``) covers both operands; ``neurobench=False`` skips the
    binarised product (``nb_mac``/``nb_ac`` are 0)."""
    a, b = _mm_shapes(a.detach(), b.detach())
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.shape[-2] != k:
        raise ValueError(f"count_matmul: inner sizes differ ({tuple(a.shape)} @ {tuple(b.shape)})")
    batch = math.prod(a.shape[:-2])
    zero = torch.zeros((), dtype=_F64, device=a.device)
    dense = _t(batch * n * k * m, a)
    ab, bb = _binarise(a), _binarise(b)
    sa, sb = is_spike_tensor(a), is_spike_tensor(b)
    ac_a = ab.sum(dtype=_F64) * m
    ac_b = bb.sum(dtype=_F64) * n
    acs = torch.where(sa & sb, torch.minimum(ac_a, ac_b), torch.where(sa, ac_a, torch.where(sb, ac_b, zero)))
    p_mac, _ = _pick(sa | sb, dense, zero)
    eff = (ab.to(_F64) @ bb.to(_F64)).sum() if neurobench else zero
    nb_mac, nb_ac = _pick(is_ternary_tensor(a) | is_ternary_tensor(b), eff, zero)
    out = {key: zero for key in FIELDS}
    out.update(paper_mac=p_mac, paper_ac=acs, nb_mac=nb_mac, nb_ac=nb_ac, nb_dense=dense,
               in_nonzero=(a != 0).sum().to(_F64) + (b != 0).sum().to(_F64), in_numel=_t(a.numel() + b.numel(), a),
               analog=(~(sa | sb)).to(_F64), calls=_t(1, a))
    return out


@torch.no_grad()
def count_mul(a: torch.Tensor, b: Union[torch.Tensor, float]) -> dict[str, torch.Tensor]:
    """Ops of the element-wise product ``a * b`` (broadcast), e.g. a recurrent cell's gate products.

    ``elementwise`` = multiplications: one per output element when both operands are analog; 0 when an
    operand is in ``{0, 1}`` (a spike gate selects, it does not multiply). As for the LSTM/GRU cells, the
    products stay out of the MAC/AC counts of both conventions (NeuroBench would add them to its MACs)."""
    a = a.detach()
    b = torch.as_tensor(b, device=a.device).detach()
    numel = math.prod(torch.broadcast_shapes(a.shape, b.shape))
    sel = is_spike_tensor(a) | is_spike_tensor(b)
    zero = torch.zeros((), dtype=_F64, device=a.device)
    out = {key: zero for key in FIELDS}
    ew, _ = _pick(sel, _t(numel, a), zero)
    out.update(elementwise=ew, in_nonzero=(a != 0).sum().to(_F64) + (b != 0).sum().to(_F64),
               in_numel=_t(a.numel() + b.numel(), a), analog=(~sel).to(_F64), calls=_t(1, a))
    return out


# ---------------------------------------------------------------- registry and dispatch
Counter = Callable[..., Optional[dict]]
"""``fn(layer, args, kwargs, **opts) -> dict | None``; ``opts``: ``neurobench`` (bool), ``unit`` (graded
spike height or ``None``). ``None`` means "nothing to count for this call"."""

_COUNTERS: dict[type, Counter] = {}


def register_counter(layer_type: type, fn: Optional[Counter] = None):
    """Count every call of ``layer_type`` (and of its subclasses without their own counter) with ``fn``.

    Usable as ``register_counter(MyLayer, fn)`` or as the decorator ``@register_counter(MyLayer)``;
    registering a type again replaces its counter. :class:`~common.metrics.OpsMonitor` hooks every module
    with a counter (and none of its descendants: the counter accounts for them). See the module docstring
    for the counter's contract."""
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        raise TypeError(f"register_counter: layer_type must be an nn.Module subclass, got {layer_type!r}")

    def deco(f: Counter) -> Counter:
        if not callable(f):
            raise TypeError(f"register_counter: counter for {layer_type.__name__} is not callable: {f!r}")
        _COUNTERS[layer_type] = f
        return f

    return deco if fn is None else deco(fn)


def unregister_counter(layer_type: type) -> None:
    """Remove the counter registered for exactly ``layer_type`` (subclasses fall back to their bases')."""
    _COUNTERS.pop(layer_type, None)


def find_counter(layer: nn.Module) -> Optional[Counter]:
    """The counter of ``layer``: the one registered for the nearest class in its MRO, or ``None``."""
    for cls in type(layer).__mro__:
        fn = _COUNTERS.get(cls)
        if fn is not None:
            return fn
    return None


def _input(args: tuple, kwargs: dict, name: str = "input") -> Any:
    return args[0] if args else kwargs.get(name)


def _hx(args: tuple, kwargs: dict) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("hx")


def _linear_counter(layer, args, kwargs, unit=None, **_):
    x = _input(args, kwargs)
    return None if x is None else count_linear(layer, x, unit)


def _conv_counter(layer, args, kwargs, neurobench=True, unit=None, **_):
    x = _input(args, kwargs)
    return None if x is None else count_conv(layer, x, neurobench, unit)


def _cell_counter(layer, args, kwargs, **_):
    x = _input(args, kwargs)
    return None if x is None else count_rnn_cell(layer, x, _hx(args, kwargs))


def _rnn_counter(layer, args, kwargs, **_):
    x = _input(args, kwargs)
    return None if x is None else count_rnn(layer, x, _hx(args, kwargs))


def _embedding_counter(layer, args, kwargs, **_):
    x = _input(args, kwargs)
    return None if x is None else count_embedding(layer, x)


register_counter(nn.Linear, _linear_counter)
for _cls in _CONVS:
    register_counter(_cls, _conv_counter)
for _cls in _CELLS:
    register_counter(_cls, _cell_counter)
for _cls in _RNNS:
    register_counter(_cls, _rnn_counter)
register_counter(nn.Embedding, _embedding_counter)


def count_layer(
    layer: nn.Module, args: tuple, kwargs: Optional[dict] = None, neurobench: bool = True,
    unit: Optional[float] = None,
) -> Optional[dict[str, torch.Tensor]]:
    """Count one call of ``layer`` with its registered counter (``args``/``kwargs``: the call's arguments;
    ``unit``: graded spike height). ``None`` if the type has no counter or the counter returns ``None``;
    otherwise a dict with every key of :data:`FIELDS` (missing ones 0, ``calls`` 1)."""
    fn = find_counter(layer)
    if fn is None:
        return None
    d = fn(layer, tuple(args), dict(kwargs or {}), neurobench=neurobench, unit=unit)
    if d is None:
        return None
    unknown = set(d) - set(FIELDS)
    if unknown:
        raise KeyError(f"counter for {type(layer).__name__} returned unknown keys {sorted(unknown)}; "
                       f"valid keys: {FIELDS}")
    like = next((v for v in d.values() if isinstance(v, torch.Tensor)), None)
    dev = like.device if like is not None else None
    out = {}
    for k in FIELDS:
        v = d.get(k, 1 if k == "calls" else 0)
        out[k] = torch.as_tensor(v, dtype=_F64, device=dev)
    return out


def stack_counts(d: dict[str, torch.Tensor], device: Optional[torch.device] = None) -> torch.Tensor:
    """The counts as one ``float64`` vector in :data:`FIELDS` order."""
    v = torch.stack([d[k].to(_F64) for k in FIELDS])
    return v if device is None else v.to(device)
