"""The classifier: a stack of :class:`~.cell.ConvLSTMLayer` + ``Linear(H, classes)`` on the last element.

Call convention of :class:`common.lightning.sequence.SequenceClassificationModule`: ``model(x [N, B, F], lengths)``
-> logits ``[B, classes]``. In the SNN mode the input is direct-encoded: each element's analog features are the
input at every one of its ``T`` inner steps (:func:`common.neurons.nested.repeat_steps`); the readout takes the
last real element's ``h`` rate (spike count / T x θ_h) of the top layer.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from common.lightning.sequence import last_step
from common.neurons.nested import repeat_steps

from .cell import ConvLSTMLayer

__all__ = ["SpikingLSTMNet", "percentile_thresholds"]


class SpikingLSTMNet(nn.Module):
    def __init__(self, input_size: int, hidden_size: int = 128, num_layers: int = 1, num_classes: int = 10,
                 dropout: float = 0.0, **layer_kw):
        super().__init__()
        self.layers = nn.ModuleList(
            ConvLSTMLayer(input_size if l == 0 else hidden_size, hidden_size, **layer_kw) for l in range(num_layers))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.readout = nn.Linear(hidden_size, num_classes)
        self.record: Optional[dict] = None

    @property
    def mode(self) -> str:
        return self.layers[0].mode

    @property
    def time_steps(self) -> int:
        return self.layers[0].time_steps

    def to_snn(self, time_steps: int, shift: float = 0.5, learn_threshold: bool = True, learn_leak: bool = True,
               theta_h: Optional[list] = None) -> "SpikingLSTMNet":
        for l, layer in enumerate(self.layers):
            layer.to_snn(time_steps, shift, learn_threshold, learn_leak, None if theta_h is None else theta_h[l])
        return self

    def constrain_(self) -> None:
        for layer in self.layers:
            layer.constrain_()

    def start_recording(self) -> dict:
        self.record = {"layers": [dict() for _ in self.layers], "readout": {}}
        for layer, rec in zip(self.layers, self.record["layers"]):
            layer.record = rec
        return self.record

    def stop_recording(self) -> Optional[dict]:
        rec, self.record = self.record, None
        for layer in self.layers:
            layer.record = None
        return rec

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        x = x.float()
        N = x.shape[0]
        h = x if self.mode == "lstm" else repeat_steps(x, self.time_steps)
        for l, layer in enumerate(self.layers):
            if l:
                h = self.dropout(h)
            h = layer(h)
        r = self.layers[-1].rates(h)  # [N, B, H]
        full = lengths is None or bool((torch.as_tensor(lengths) == N).all())
        last = r[-1] if full else last_step(r, lengths)
        if self.record is not None:
            rec = self.record["readout"]
            rec["calls"] = rec.get("calls", 0.0) + float(last.shape[0])
            if self.mode == "snn":  # h spikes of the last element, summed over its T steps
                T = self.time_steps
                th = self.layers[-1].theta[4].detach()
                spikes = h.view(N, T, *h.shape[1:])[-1].ne(0).sum() if full else (last.abs() * T / th).sum()
                rec["in_spikes"] = rec.get("in_spikes", 0.0) + float(spikes)
        return self.readout(last)


@torch.no_grad()
def percentile_thresholds(model: SpikingLSTMNet, x: Tensor, percentile: float = 99.9) -> list[float]:
    """θ_h per layer from activation statistics: the ``percentile`` of ``|a_k|`` (the output before the h clip)
    of the source LSTM over the batch ``x`` ``[N, B, F]``, capped at the LSTM's own clip θ_h (values above it are
    clipped in the LSTM anyway). Run in the LSTM mode."""
    if model.mode != "lstm":
        raise ValueError("percentile_thresholds runs the source LSTM (mode='lstm')")
    for layer in model.layers:
        layer.collect_a = []
    was = model.training
    model.eval()
    model(x)
    model.train(was)
    out = []
    for layer in model.layers:
        a = torch.cat(layer.collect_a).abs().flatten().double()
        layer.collect_a = None
        q = float(torch.quantile(a[:2_000_000], percentile / 100.0)) if a.numel() else 1.0
        out.append(max(min(q, float(layer.theta[4])), 1e-3))
    return out
