"""Lightning module of the lmu_quantized rows: :class:`SequenceClassificationModule` plus the bit metrics.

In validation and test, the spike counts of every quantizing neuron of the model are fed to
:class:`common.metrics.bits.QuantizedActivityMonitor` (signed counts; definitions in ``common/metrics/bits.py``) and
logged as ``<split>/bits/<name>`` (``bits_per_neuron_step``, ``bits_per_event``, ``range_bits``,
``significant_bits_per_multiply``, ``event_rate``, ``spikes_per_neuron_step``, ``max_abs_count``), with the
current ``dt`` as ``<split>/dt``. A model without quantizing neurons (or with ``spiking`` off) logs none.
"""
from __future__ import annotations

from common.lightning.sequence import SequenceClassificationModule
from common.metrics.bits import QuantizedActivityMonitor
from common.neurons.quantize import quantizing_neurons

__all__ = ["LMUSequenceModule", "BIT_METRICS"]

BIT_METRICS = ("bits_per_neuron_step", "bits_per_event", "range_bits", "significant_bits_per_multiply",
               "event_rate", "spikes_per_neuron_step", "max_abs_count")


class LMUSequenceModule(SequenceClassificationModule):
    """Same arguments and metrics as :class:`SequenceClassificationModule`, plus the bit metrics above."""

    def _spiking_neurons(self):
        return [n for n in quantizing_neurons(self.model) if n.spiking]

    def _eval_start(self, split: str) -> None:
        super()._eval_start(split)
        neurons = self._spiking_neurons()
        self.bits_monitor = QuantizedActivityMonitor(self.model, signed=True, neurons=neurons).attach() if neurons else None

    def _eval_end(self, split: str) -> None:
        super()._eval_end(split)
        mon = getattr(self, "bits_monitor", None)
        if mon is None:
            return
        stats = mon.compute()
        mon.detach()
        self.bits_monitor = None
        if stats["neuron_steps"] > 0:
            for k in BIT_METRICS:
                self.log(f"{split}/bits/{k}", stats[k], on_step=False, on_epoch=True, sync_dist=False)
        self.log(f"{split}/dt", float(self._spiking_neurons()[0].dt), on_step=False, on_epoch=True, sync_dist=False)
