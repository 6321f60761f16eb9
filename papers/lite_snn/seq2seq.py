"""Multi30k translation models of the lite_snn rows, all with the interface of
:class:`common.lightning.seq2seq.Seq2SeqModule` (``encode``, ``decode_step``, ``decode``).

:class:`ConvSeq2Seq` — the convolutional encoder-decoder with attention. The paper's design is not available
(notes §3e: "conv-SNN-with-attention: absent; kernel sizes, layers, attention form: not found"); ours, ConvS2S-like
(Gehring et al. 2017) with the residual stream carried as a membrane-like analog signal and every convolution fed
by a neuron's output (the MS-ResNet arrangement: ``x <- x + conv(neuron(x))``), so in the spiking network every
convolution and the attention's value product read spikes (ACs)::

    x0 = Linear(E, H)(token emb + position emb)                  each token position, held over T inner steps
    encoder block:  x <- mask * (x + Conv1d_k(neuron(x)))           'same' padding; padded positions zeroed
    keys = values = neuron_kv(x_enc)                              spikes [T, B, S, H]
    decoder block:  y <- y + CausalConv1d_k(neuron(y))            left padding k - 1: position u sees <= u
                    y <- y + Attention(neuron_q(y), keys, values) dot product, scale 1/sqrt(H), padded keys masked
    logits = mean over T of Linear(H, V)(neuron_out(y))           rate readout of the T inner steps

``neuron="lif"``: one LIF per place (the official LIF: trainable leak 0.95 / threshold 1.0, soft reset without
gradient through the reset spike, linear surrogate 0.3) running over the ``T`` inner steps of every token position
(positions are processed in parallel by the convolutions: the "inherent recurrence + parallel convolutions" of the
abstract). ``neuron="relu"``: the same network with ReLU and ``T = 1`` (the "same CNN with ReLU").
The decoder cannot see future target tokens: causal convolutions, attention only to the source, neurons
per position (tested).

:class:`LSTMSeq2Seq` — the official baseline (``Encoder``/``OneStepDecoder``): 2-layer LSTM encoder whose final
``(h, c)`` starts a 2-layer LSTM decoder, embedding dropout, ``Linear(H, V)``; sized by the config (official:
embedding 256, hidden 1024, dropout 0.2).

:class:`VanillaSpikingSeq2Seq` — the official ``SpikeEncoder``/``SpikeOneStepDecoder`` (defined, never trained in
the official script): encoder Embedding -> [Linear(E, H) -> LIF -> Dropout -> Linear(H, H) -> integrator] x T steps
per source token, state kept across tokens, readout = integrator / number of source tokens (the official code
divides by the batch size: fixed); decoder per target token: LIF membrane initialised from the previous hidden
(the encoder readout first), the same layers for T steps with the integrator reset per token, ``hidden`` = the
integrator, logits ``Linear(H, V)(hidden)``. No attention, one vector carries the whole source: the model the
abstract says degrades on long sequences.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from common.attention import DotProductAttention
from common.data.sequence import length_mask
from common.neurons import LIF

__all__ = ["ConvSeq2Seq", "LSTMSeq2Seq", "VanillaSpikingSeq2Seq", "make_lif"]


def make_lif(leak: float = 0.95, threshold: float = 1.0, surrogate_alpha: float = 0.3, backend: str = "auto") -> LIF:
    """The official LIF: trainable scalar leak (clamped to [0, 1]) and threshold, soft reset with the reset's spike
    detached, linear surrogate."""
    return LIF(leak, threshold, reset="soft", detach_reset=True, surrogate="triangle", surrogate_alpha=surrogate_alpha,
               learn_leak=True, learn_threshold=True, leak_clamp=(0.0, 1.0), backend=backend)


class _Act(nn.Module):
    """A neuron over ``[T, ..., H]``: LIF (multi-step over dim 0) or ReLU."""

    def __init__(self, kind: str, **lif):
        super().__init__()
        self.kind = kind
        self.fn = make_lif(**lif) if kind == "lif" else nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


class ConvSeq2Seq(nn.Module):
    """See the module docstring.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes; ``emb`` / ``hidden``: widths; ``layers``: conv blocks in the encoder
        and in the decoder; ``kernel``: conv width (3, as ConvS2S); ``time_steps``: inner steps per token
        (``neuron="relu"`` needs 1); ``dropout`` on the embeddings; ``max_positions``: learned position table.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, neuron: str = "lif", emb: int = 128, hidden: int = 128,
                 layers: int = 2, kernel: int = 3, time_steps: int = 4, dropout: float = 0.2,
                 max_positions: int = 256, pad_id: int = 0, leak: float = 0.95, threshold: float = 1.0,
                 surrogate_alpha: float = 0.3, backend: str = "auto"):
        super().__init__()
        if neuron not in ("lif", "relu"):
            raise ValueError(f"neuron must be 'lif' or 'relu', got {neuron!r}")
        if neuron == "relu" and time_steps != 1:
            raise ValueError("the ReLU network has no inner time: time_steps must be 1")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 1, got {kernel}")
        self.neuron, self.T, self.kernel, self.hidden = neuron, int(time_steps), int(kernel), int(hidden)
        self.vocab_size, self.max_positions = tgt_vocab, int(max_positions)
        lif = dict(leak=leak, threshold=threshold, surrogate_alpha=surrogate_alpha, backend=backend)
        act = lambda: _Act(neuron, **lif)  # noqa: E731
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=pad_id)
        self.src_pos = nn.Embedding(max_positions, emb)
        self.tgt_pos = nn.Embedding(max_positions, emb)
        self.drop = nn.Dropout(dropout)
        self.src_in = nn.Linear(emb, hidden)
        self.tgt_in = nn.Linear(emb, hidden)
        self.enc_acts = nn.ModuleList(act() for _ in range(layers))
        self.enc_convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2) for _ in range(layers))
        self.kv_act = act()
        self.dec_acts = nn.ModuleList(act() for _ in range(layers))
        self.dec_convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel) for _ in range(layers))  # causal: left pad
        self.q_acts = nn.ModuleList(act() for _ in range(layers))
        self.attention = nn.ModuleList(DotProductAttention() for _ in range(layers))
        self.out_act = act()
        self.out = nn.Linear(hidden, tgt_vocab)

    # ------------------------------------------------------------------ helpers
    def _embed(self, tokens: Tensor, table: nn.Embedding, pos: nn.Embedding, proj: nn.Linear) -> Tensor:
        """``tokens [L, B]`` -> ``[T, B, L, H]`` (the same current at every inner step)."""
        L = tokens.shape[0]
        if L > self.max_positions:
            raise ValueError(f"sequence of {L} tokens exceeds max_positions={self.max_positions}")
        p = pos(torch.arange(L, device=tokens.device))[None]  # [1, L, E]
        x = proj(self.drop(table(tokens.t()) + p))  # [B, L, H]
        return x.unsqueeze(0).expand(self.T, *x.shape)

    @staticmethod
    def _conv(conv: nn.Conv1d, s: Tensor, causal_pad: int = 0) -> Tensor:
        """``s [T, B, L, H]`` -> conv over L -> ``[T, B, L, H]``."""
        T, B, L, H = s.shape
        z = s.reshape(T * B, L, H).transpose(1, 2)
        if causal_pad:
            z = nn.functional.pad(z, (causal_pad, 0))
        return conv(z).transpose(1, 2).reshape(T, B, L, -1)

    # ------------------------------------------------------------------ interface
    def encode(self, src: Tensor, src_lengths: Tensor) -> dict:
        mask = length_mask(src_lengths.to(src.device), src.shape[0])  # [S, B]
        m = mask.t()[None, :, :, None].to(torch.float32)  # [1, B, S, 1]
        x = self._embed(src, self.src_emb, self.src_pos, self.src_in) * m
        for act, conv in zip(self.enc_acts, self.enc_convs):
            x = (x + self._conv(conv, act(x))) * m
        kv = self.kv_act(x) * m  # [T, B, S, H]
        return {"kv": kv, "mask": mask}

    def _decoder_states(self, tgt_in: Tensor, memory: dict) -> Tensor:
        """``[T, B, U, H]``: the decoder's residual stream after the last block."""
        kv, mask = memory["kv"], memory["mask"]
        key_mask = mask.t()[None]  # [1, B, S], broadcast over T
        y = self._embed(tgt_in, self.tgt_emb, self.tgt_pos, self.tgt_in)  # [T, B, U, H]
        for act, conv, q_act, att in zip(self.dec_acts, self.dec_convs, self.q_acts, self.attention):
            y = y + self._conv(conv, act(y), self.kernel - 1)
            y = y + att(q_act(y), kv, kv, key_mask=key_mask)
        return y

    def decode(self, tgt_in: Tensor, memory: dict) -> Tensor:
        y = self._decoder_states(tgt_in, memory)
        return self.out(self.out_act(y)).mean(0).transpose(0, 1)  # [U, B, V]

    def decode_step(self, tokens: Tensor, state: Optional[Tensor], memory: dict):
        """The whole prefix is re-decoded (convolutional decoders keep no recurrent state; the neurons of a position
        depend only on positions <= it): ``state`` = the tokens so far ``[u, B]``; only the last position is read
        out."""
        prefix = tokens[None] if state is None else torch.cat([state, tokens[None]])
        y = self._decoder_states(prefix, memory)[:, :, -1]  # [T, B, H]
        return self.out(self.out_act(y)).mean(0), prefix


class LSTMSeq2Seq(nn.Module):
    """The official LSTM baseline (module docstring). Memory ``(h, c)`` ``[layers, B, H]``; state the same."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 256, hidden: int = 1024, layers: int = 2,
                 dropout: float = 0.2, pad_id: int = 0):
        super().__init__()
        self.vocab_size = tgt_vocab
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.LSTM(emb, hidden, layers, dropout=dropout if layers > 1 else 0.0)
        self.decoder = nn.LSTM(emb, hidden, layers, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src: Tensor, src_lengths: Tensor):
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.src_emb(src)), src_lengths.cpu(),
                                                   enforce_sorted=False)
        _, (h, c) = self.encoder(packed)
        return h, c

    def decode(self, tgt_in: Tensor, memory) -> Tensor:
        dec, _ = self.decoder(self.drop(self.tgt_emb(tgt_in)), memory)
        return self.out(dec)

    def decode_step(self, tokens: Tensor, state, memory):
        dec, state = self.decoder(self.drop(self.tgt_emb(tokens))[None], memory if state is None else state)
        return self.out(dec[0]), state


class VanillaSpikingSeq2Seq(nn.Module):
    """The official spiking encoder/decoder without attention (module docstring). Memory and state: ``[1, B, H]``."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 256, hidden: int = 1024, time_steps: int = 10,
                 dropout: float = 0.2, pad_id: int = 0, leak: float = 0.95, threshold: float = 1.0,
                 surrogate_alpha: float = 0.3, backend: str = "auto"):
        super().__init__()
        self.vocab_size, self.T, self.hidden, self.p = tgt_vocab, int(time_steps), int(hidden), float(dropout)
        lif = dict(leak=leak, threshold=threshold, surrogate_alpha=surrogate_alpha, backend=backend)
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.enc1, self.enc2, self.enc_lif = nn.Linear(emb, hidden), nn.Linear(hidden, hidden), make_lif(**lif)
        self.dec1, self.dec2, self.dec_lif = nn.Linear(emb, hidden), nn.Linear(hidden, hidden), make_lif(**lif)
        self.out = nn.Linear(hidden, tgt_vocab)

    def _mask(self, like: Tensor) -> Tensor:
        if not (self.training and self.p > 0):
            return torch.ones_like(like)
        return torch.bernoulli(torch.full_like(like, 1.0 - self.p)) / (1.0 - self.p)

    @staticmethod
    def _run(neuron: LIF, x: Tensor, v0: Optional[Tensor], mask: Optional[Tensor] = None) -> Tensor:
        neuron.stateful, neuron.v = v0 is not None, v0
        try:
            return neuron(x, mask=mask)
        finally:
            neuron.stateful, neuron.v = False, None

    def encode(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        lengths = src_lengths.to(src.device)
        mask = length_mask(lengths, src.shape[0]).repeat_interleave(self.T, 0)  # [S*T, B]
        i = self.enc1(self.drop(self.src_emb(src))).repeat_interleave(self.T, 0)  # held over the T steps
        s = self._run(self.enc_lif, i, None, mask)
        out = self.enc2(s * self._mask(s[0]))
        acc = torch.where(mask[..., None], out, torch.zeros((), dtype=out.dtype, device=out.device)).sum(0)
        return (acc / lengths[:, None].to(acc.dtype))[None]  # [1, B, H]

    def decode_step(self, tokens: Tensor, state, memory):
        v0 = (memory if state is None else state)[0]
        i = self.dec1(self.drop(self.tgt_emb(tokens)))[None].expand(self.T, -1, -1)
        s = self._run(self.dec_lif, i, v0)
        h = self.dec2(s * self._mask(s[0])).sum(0)  # integrator over the token's T steps (reset per token)
        return self.out(h), h[None]
