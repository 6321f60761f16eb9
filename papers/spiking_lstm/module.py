"""Lightning module of the spiking_lstm stages: :class:`SequenceClassificationModule` that also applies the model's
clamping rules after every optimizer step (trainable clips / thresholds > 0, leaks in [0, 1]): the layers are not
:class:`common.neurons.SpikingNeuron` s, so the generic ``constrain_parameters`` does not see them."""
from __future__ import annotations

from common.lightning.sequence import SequenceClassificationModule

__all__ = ["SpikingLSTMModule"]


class SpikingLSTMModule(SequenceClassificationModule):
    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(outputs, batch, batch_idx)
        fn = getattr(self.model, "constrain_", None)
        if fn is not None:
            fn()
