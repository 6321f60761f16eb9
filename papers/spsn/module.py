"""SPSN on time-first, variable-length spike trains (``data=fsdd_spikes``): :class:`SPSNSequenceModule`.

:class:`common.lightning.sequence.SequenceClassificationModule` calls ``SPSNNet(x [T, B, C], lengths)`` (the model
with ``time_first=True``). The common op monitor's ``<split>/spikes_per_neuron_step`` divides by every computed
step, zero padding of the batch included (the padded steps of an SPSN layer still fire: its membrane holds the
filtered bias there), so this module also logs ``<split>/spikes_per_neuron_real_step``: the spikes of all
spiking layers on real (unpadded) steps per neuron per real step, from the model's ``last_spike_stats``.
"""
from __future__ import annotations

from common.lightning.sequence import SequenceClassificationModule

__all__ = ["SPSNSequenceModule"]

REAL_RATE = "spikes_per_neuron_real_step"


class SPSNSequenceModule(SequenceClassificationModule):
    """Same arguments and metrics as :class:`SequenceClassificationModule`, plus ``<split>/spikes_per_neuron_real_step``
    (spiking neurons only)."""

    def _eval_start(self, split: str) -> None:
        super()._eval_start(split)
        self._real = [0.0, 0.0]  # spikes, neuron-steps (real steps only)

    def _eval_step(self, batch, split: str):
        super()._eval_step(batch, split)
        s, n = getattr(self.model, "last_spike_stats", (0.0, 0.0))
        self._real[0] += s
        self._real[1] += n

    def _eval_end(self, split: str) -> None:
        super()._eval_end(split)
        if getattr(self, "_real", None) and self._real[1] > 0:
            self.log(f"{split}/{REAL_RATE}", self._real[0] / self._real[1], on_step=False, on_epoch=True,
                     sync_dist=False)
