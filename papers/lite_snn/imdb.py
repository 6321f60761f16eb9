"""IMDB sentiment models of the lite_snn rows: the official code's LIF network and its RNN/LSTM/GRU baselines.

Call convention of :class:`common.lightning.sequence.SequenceClassificationModule`: ``model(x [L, B] token ids,
lengths [B]) -> logits [B, 2]``. Every model ends in **one** logit ``z`` (``Linear(., 1)``, as the official
``output_dim = 1`` with ``BCEWithLogitsLoss``) returned as ``[0, z]``: cross-entropy on ``[0, z]`` is exactly
binary cross-entropy on ``z`` (``softmax([0, z])[1] = sigmoid(z)``), and the parameter counts are the official ones.

:class:`SpikingSentiment` (nitin-rathi/LITE-SNN @1c7d3ae ``imdb_sentiment_analysis.py``, class ``SNN``)::

    Embedding(V, 100) -> Dropout(0.5)                          once per word
    for each word, for t in 1..T:                              T inner steps per word, state kept across words
        Linear(100, H) -> LIF -> Dropout(0.2) -> Linear(H, H) -> LIF -> Dropout(0.2) -> Linear(H, H) -> integrator
    readout = integrator / (number of words)  -> Linear(H, H) -> ReLU -> Dropout(0.5) -> Linear(H, 1)

LIF: trainable scalar threshold (init 1.0) and leak (init 0.95, clamped to [0, 1]), ``U = leak U + I``,
``z = U / theta - 1``, spike ``H(z)`` with the linear surrogate ``0.3 max(0, 1 - |z|)``, soft reset
``U -= theta * spike`` where the reset's spike carries no gradient (the official ``rst = theta * (z > 0).float()``:
``detach_reset=True``; the gradient still reaches theta through it). The membrane is reset once per review.

Hazards of the official script fixed here (README): padding is masked (a padded word neither integrates nor leaks
nor fires, and is not counted in the readout), the readout divides each review's accumulator by **its number of
words** (the official code divides by ``embedded.shape[1]`` = the batch size), model selection uses a validation
split (the data module; the official code picks the best **test** epoch).

Computation: the network has no recurrent weights, so it runs layer by layer over the whole flattened sequence of
``L * T`` steps (one matrix product per layer, then the neuron's time loop), which is exactly the official
word-by-word, step-by-step loop. ``Linear(100, H)`` of a word is the same at each of its ``T`` inner steps and is
computed once per word (the op counter sees that: the input current is held, not recomputed).

Inner dropouts: one mask per review and layer, kept over all its words and steps (the official code draws one
``[H]`` mask per *batch* — shared by every review of the batch — at each forward; we draw one per review).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from common.data.sequence import length_mask
from common.lightning.sequence import last_step
from common.neurons import LIF
from common.neurons.nested import repeat_steps

__all__ = ["SpikingSentiment", "RecurrentSentiment", "SNNState", "two_logits", "count_parameters", "RNN_KINDS"]

RNN_KINDS = ("rnn", "lstm", "gru")


def two_logits(z: Tensor) -> Tensor:
    """``[B, 1]`` -> ``[B, 2]`` = ``[0, z]`` (cross-entropy on it equals BCE-with-logits on ``z``)."""
    return torch.cat([torch.zeros_like(z), z], dim=1)


def count_parameters(model: nn.Module, exclude_embedding: bool = True) -> int:
    """Trainable parameters (without ``nn.Embedding`` tables when ``exclude_embedding``)."""
    skip = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()} \
        if exclude_embedding else set()
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in skip)


class SNNState(NamedTuple):
    """State carried across the words of a review: the two LIF membranes, the integrator, the words read so
    far, and the inner dropout masks (``[B, H]``; ones in evaluation)."""

    v1: Tensor
    v2: Tensor
    acc: Tensor
    words: Tensor
    mask1: Tensor
    mask2: Tensor


def _official_init(layers, std: float = 0.01) -> None:
    for m in layers:
        nn.init.normal_(m.weight, 0.0, std)
        nn.init.zeros_(m.bias)


class SpikingSentiment(nn.Module):
    """The LITE-SNN IMDB network (module docstring).

    Args:
        vocab_size, embed_dim (100), hidden_size (256 on the official command line; 128 class default),
        time_steps: inner steps per word (official command line 5, class default 10).
        dropout: embedding dropout (0.5); ``snn_dropout``: the two inner per-review dropouts (0.2);
        ``head_dropout`` (0.5).
        leak, threshold: LIF initial values (0.95, 1.0), trainable; ``surrogate_alpha`` 0.3.
        detach_reset: the official reset carries no gradient through the spike (True).
        readout_norm: ``"words"`` (each review's number of real words: fixed) or ``"batch"`` (the official
            ``/ batch size``, kept only to reproduce the hazard).
        init_std: std of the N(0, std) init of the three spiking-stage Linear layers (official 0.01; biases 0).
            With it (and N(0, 1) learned embeddings) the second LIF layer is silent at initialisation (first layer
            ~0.7 % of neuron-steps fire): learning starts only through the surrogate's tail and Adam's
            normalised steps (README).
        init_head: also give the ANN head the N(0, init_std) init (the official loop meant to but, through a stale
            loop variable, leaves the head at PyTorch's default; default False = as the code behaves).
        pad_id: the padding token (its embedding row is zero, ``padding_idx``).
        backend: LIF multi-step backend (``"auto"``: the fused CPU/GPU kernels where available).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 100, hidden_size: int = 256, time_steps: int = 5,
                 dropout: float = 0.5, snn_dropout: float = 0.2, head_dropout: float = 0.5, leak: float = 0.95,
                 threshold: float = 1.0, surrogate_alpha: float = 0.3, detach_reset: bool = True,
                 readout_norm: str = "words", init_std: float = 0.01, init_head: bool = False, pad_id: int = 0,
                 backend: str = "auto"):
        super().__init__()
        if int(time_steps) < 1:
            raise ValueError(f"time_steps must be >= 1, got {time_steps}")
        if readout_norm not in ("words", "batch"):
            raise ValueError(f"readout_norm must be 'words' or 'batch', got {readout_norm!r}")
        self.time_steps, self.hidden_size, self.readout_norm = int(time_steps), int(hidden_size), readout_norm
        self.snn_dropout = float(snn_dropout)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.emb_drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(embed_dim, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, hidden_size)
        lif = dict(leak=leak, threshold=threshold, reset="soft", detach_reset=detach_reset, surrogate="triangle",
                   surrogate_alpha=surrogate_alpha, learn_leak=True, learn_threshold=True, leak_clamp=(0.0, 1.0),
                   backend=backend)
        self.lif1, self.lif2 = LIF(**lif), LIF(**lif)
        self.head = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Dropout(head_dropout),
                                  nn.Linear(hidden_size, 1))
        _official_init([self.fc1, self.fc2, self.fc3], init_std)
        if init_head:
            _official_init([self.head[0], self.head[3]], init_std)

    # ------------------------------------------------------------------ state
    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> SNNState:
        H = self.hidden_size
        z = torch.zeros(batch, H, device=device, dtype=dtype)
        ones = torch.ones(batch, H, device=device, dtype=dtype)
        if self.training and self.snn_dropout > 0:
            keep = 1.0 - self.snn_dropout
            m1, m2 = (torch.bernoulli(torch.full_like(ones, keep)) / keep for _ in range(2))
        else:
            m1 = m2 = ones
        return SNNState(z, z, z, torch.zeros(batch, device=device, dtype=dtype), m1, m2)

    def _lif(self, neuron: LIF, x: Tensor, mask: Tensor, v0: Optional[Tensor], keep_state: bool) -> tuple[Tensor, Optional[Tensor]]:
        """Run ``neuron`` over ``x [LT, B, H]`` from ``v0`` (None: rest); return (spikes, final membrane)."""
        neuron.stateful = keep_state
        neuron.v = v0 if keep_state else None
        try:
            s = neuron(x, mask=mask)
            return s, (neuron.v if keep_state else None)
        finally:
            neuron.stateful, neuron.v = False, None

    def encode(self, x: Tensor, lengths: Optional[Tensor] = None, state: Optional[SNNState] = None,
               return_state: bool = False) -> tuple[Tensor, Optional[SNNState]]:
        """Read ``x [L, B]`` (from ``state``, or from rest); returns the integrator ``[B, H]`` (summed over the real
        steps read so far) and, with ``return_state``, the state to continue with the next words."""
        L, B = x.shape
        lengths = torch.full((B,), L, dtype=torch.long, device=x.device) if lengths is None else lengths.to(x.device)
        keep = return_state or state is not None
        if state is None:
            state = self.initial_state(B, x.device)
        mask = length_mask(lengths, L)  # [L, B]
        m = repeat_steps(mask, self.time_steps)  # [L*T, B]
        i1 = repeat_steps(self.fc1(self.emb_drop(self.embedding(x))), self.time_steps)  # held over the T steps
        s1, v1 = self._lif(self.lif1, i1, m, state.v1, keep)
        s2, v2 = self._lif(self.lif2, self.fc2(s1 * state.mask1), m, state.v2, keep)
        out = self.fc3(s2 * state.mask2)  # [L*T, B, H]
        acc = state.acc + torch.where(m[..., None], out, torch.zeros((), dtype=out.dtype, device=out.device)).sum(0)
        new = SNNState(v1, v2, acc, state.words + lengths.to(acc.dtype), state.mask1, state.mask2) if keep else None
        return acc, new

    def readout(self, acc: Tensor, words: Tensor) -> Tensor:
        norm = words if self.readout_norm == "words" else torch.full_like(words, float(acc.shape[0]))
        return two_logits(self.head(acc / norm.clamp(min=1)[:, None]))

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        B = x.shape[1]
        lengths = torch.full((B,), x.shape[0], dtype=torch.long, device=x.device) if lengths is None else lengths
        acc, _ = self.encode(x, lengths)
        return self.readout(acc, lengths.to(acc.dtype))


class RecurrentSentiment(nn.Module):
    """The official baselines (``RNN``/``LSTM`` classes; GRU added): Embedding(V, 100) -> Dropout(0.5) -> 1-layer
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (hidden 256) -> the last real step's hidden state -> Dropout(0.5) ->
    Linear(H, 1). The official code packs the padded batch; here the layer runs over the padded batch and the
    hidden state at each review's last real word is read (identical: padding comes after it), which keeps the
    op counter's full-sequence recurrent counts."""

    def __init__(self, vocab_size: int, kind: str = "lstm", embed_dim: int = 100, hidden_size: int = 256,
                 dropout: float = 0.5, pad_id: int = 0):
        super().__init__()
        if kind not in RNN_KINDS:
            raise ValueError(f"kind must be one of {RNN_KINDS}, got {kind!r}")
        self.kind = kind
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](embed_dim, hidden_size)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        h = self.rnn(self.drop(self.embedding(x)))[0]  # [L, B, H]
        last = h[-1] if lengths is None else last_step(h, lengths)
        return two_logits(self.fc(self.drop(last)))
