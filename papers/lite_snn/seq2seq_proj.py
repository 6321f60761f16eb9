"""Ablation of the conv encoder-decoder's attention (issue 16: "design documented ... where it matters, ablate it").

In :class:`.seq2seq.ConvSeq2Seq` the attention compares the decoder's query spikes with the encoder's key spikes
directly: with binary spikes and no projection the scores ``q·k / sqrt(H)`` can only grow through the spike rates,
so the spiking model has no weight with which to sharpen (or learn) the alignment, while its ReLU twin can scale
its continuous activations. The mini rows showed the spiking model decoding every source sentence to the same
target sentence (it learned a target language model, not a translation) while the ReLU twin translated.

:class:`ProjectedConvSeq2Seq` adds learned projections, as ConvS2S and Transformers have: scores
``(W_q s_q) · (W_k s_k) / sqrt(H)``, values the key spikes unchanged. ``W_q``, ``W_k`` (``Linear(H, H)``, no bias)
read spikes, so in the spiking network they are accumulates (ACs) like every other synaptic layer. Everything else
is :class:`.seq2seq.ConvSeq2Seq`; ``neuron="relu"`` is its ReLU twin.
(To fold into ``ConvSeq2Seq`` as an option when the translation rows are next rerun: seq2seq.py is part of the
provenance of the rows run without it.)
"""
from __future__ import annotations

from torch import Tensor, nn

from .seq2seq import ConvSeq2Seq

__all__ = ["ProjectedConvSeq2Seq"]


class ProjectedConvSeq2Seq(ConvSeq2Seq):
    """:class:`.seq2seq.ConvSeq2Seq` with learned query/key projections in every decoder attention (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        H, layers = self.hidden, len(self.attention)
        self.q_proj = nn.ModuleList(nn.Linear(H, H, bias=False) for _ in range(layers))
        self.k_proj = nn.ModuleList(nn.Linear(H, H, bias=False) for _ in range(layers))

    def _decoder_states(self, tgt_in: Tensor, memory: dict) -> Tensor:
        kv, mask = memory["kv"], memory["mask"]
        key_mask = mask.t()[None]  # [1, B, S], broadcast over T
        y = self._embed(tgt_in, self.tgt_emb, self.tgt_pos, self.tgt_in)  # [T, B, U, H]
        for i, (act, conv, q_act, att) in enumerate(zip(self.dec_acts, self.dec_convs, self.q_acts, self.attention)):
            y = y + self._conv(conv, act(y), self.kernel - 1)
            y = y + att(self.q_proj[i](q_act(y)), self.k_proj[i](kv), kv, key_mask=key_mask)
        return y
