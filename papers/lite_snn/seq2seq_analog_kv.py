"""Ablation of the conv SNN's attention source: analog keys and values (issue 16: "where it matters, ablate it").

In :class:`.seq2seq.ConvSeq2Seq` the decoder attends to the spikes ``neuron_kv(x_enc)`` of the encoder's last
residual stream. The spiking model decodes every source sentence to the same target sentence at the mini budget
(it learns a target language model and ignores the source), while its ReLU twin translates. Two explanations
were refuted: binary scores (learned query/key projections, :mod:`.seq2seq_proj`, help the ReLU twin only) and the
official surrogate amplitude 0.3 (amplitude 1 changes nothing). Left: the source reaches the decoder only through
the spikes of one LIF layer, whose gradient passes through its surrogate.

:class:`AnalogKVConvSeq2Seq` gives the attention the encoder's residual stream itself (analog, padded positions
zeroed) as keys and values: the queries stay spikes, so the scores ``q·k`` are still accumulates (ACs), while
``A V`` mixes analog values (MACs). Everything else is :class:`.seq2seq.ConvSeq2Seq`.
(To fold into ``ConvSeq2Seq`` as an option, with :mod:`.seq2seq_proj`, when the translation rows are next rerun:
seq2seq.py is part of the provenance of the rows run without it.)
"""
from __future__ import annotations

from torch import nn

from .seq2seq import ConvSeq2Seq

__all__ = ["AnalogKVConvSeq2Seq"]


class AnalogKVConvSeq2Seq(ConvSeq2Seq):
    """:class:`.seq2seq.ConvSeq2Seq` whose attention keys/values are the encoder's analog residual stream."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kv_act = nn.Identity()  # encode(): kv = kv_act(x) * mask = the masked residual stream
