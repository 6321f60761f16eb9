"""psMNIST classifiers of the lmu_quantized rows: a recurrent layer, then ``Linear(hidden, 10)`` on the last step.

``kind``:

- ``"lmu"``: the 2019 LMU (:class:`papers.lmu_quantized.lmu.LMU`; ``spiking=True``: the hybrid-spiking LMU, the
  dt-quantizer on ``h``). The readout is initialised as Keras' ``Dense`` (glorot uniform, zero bias).
- ``"parallel"``: the fully parallel LMU of Chilkuri & Eliasmith 2021 (:class:`~papers.lmu_quantized.lmu.ParallelLMU`);
  with every sequence of full length only the last memory state is computed.
- ``"lstm"`` / ``"gru"``: PyTorch's layers (default initialisation), the baselines of about the same
  trainable-parameter count (LSTM 157 hidden: 102,060; GRU 181 hidden: 101,732; LMU: 102,027).

Call convention of :class:`common.lightning.sequence.SequenceClassificationModule`: ``model(x [T, B, F], lengths)``
-> logits ``[B, 10]``; the readout takes each sequence's last real step.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from common.lightning.sequence import last_step

from .lmu import LMU, ParallelLMU

__all__ = ["PSMNISTModel", "KINDS"]

KINDS = ("lmu", "parallel", "lstm", "gru")


class PSMNISTModel(nn.Module):
    """See the module docstring. LMU options (``order``, ``theta``, ``memory_feedback``, ``mode``,
    ``memory_mode``, ``chunk``, ``spiking``, ``dt``, ``initial_state``, ``activation``, ``u_activation``) are passed
    to the layer of ``kind``; ``None`` leaves the layer's default."""

    def __init__(self, kind: str = "lmu", input_size: int = 1, hidden_size: int = 212, num_classes: int = 10, *,
                 order: int = 256, theta: float = 784.0, memory_feedback: bool = True, mode: str = "step",
                 memory_mode: str = "fft", chunk: int = 64, spiking: bool = False, dt: float = 1.0,
                 initial_state: str = "uniform", quantize_u: bool = False, activation: Optional[str] = None,
                 u_activation: Optional[str] = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if quantize_u and kind != "lmu":
            raise ValueError("quantize_u=True is for kind='lmu'")
        if spiking and kind in ("lstm", "gru"):
            raise ValueError("spiking=True is for the LMU kinds")
        self.kind = kind
        if kind == "lmu":
            self.rnn = LMU(input_size, hidden_size, order, theta, memory_feedback=memory_feedback, mode=mode,
                           memory_mode=memory_mode, chunk=chunk, spiking=spiking, dt=dt, initial_state=initial_state,
                           quantize_u=quantize_u, activation=activation or "tanh")
        elif kind == "parallel":
            self.rnn = ParallelLMU(input_size, hidden_size, order, theta, memory_mode=memory_mode, chunk=chunk,
                                   spiking=spiking, dt=dt, initial_state=initial_state,
                                   activation=activation or "relu", u_activation=u_activation or "relu")
        else:
            self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, num_classes)
        if kind == "lmu":  # Keras Dense defaults
            nn.init.xavier_uniform_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

    def graded_inputs(self) -> dict[str, nn.Module]:
        """The counted products fed by a quantizer, name -> that quantizer (``OpsMonitor(graded=...)``: each input
        of ``n`` spikes of height ``1/dt`` costs ``|n|`` ACs per output). The hybrid LMU: the quantized ``h`` feeds
        ``h e_h``, ``h W_h`` and the readout; with ``quantize_u`` the quantized ``u`` feeds ``u Bbar^T``."""
        out: dict[str, nn.Module] = {}
        q = getattr(self.rnn, "quantizer", None)
        if q is not None:
            if self.kind == "lmu":
                out["rnn.h_to_h"] = q
                if self.rnn.memory_feedback:
                    out["rnn.h_to_u"] = q
            out["readout"] = q
        qu = getattr(self.rnn, "u_quantizer", None)
        if qu is not None:
            out["rnn.memory.u_to_m"] = qu
        return out

    def hidden_sequence(self, x: Tensor) -> Tensor:
        """``[T, B, hidden]``."""
        if self.kind == "lmu":
            return self.rnn(x)[0]
        if self.kind == "parallel":
            return self.rnn(x)
        return self.rnn(x)[0]

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        x = x.float()
        T = x.shape[0]
        full = lengths is None or bool((torch.as_tensor(lengths) == T).all())
        if self.kind == "parallel" and full:
            return self.readout(self.rnn(x, last_only=True))
        h = self.hidden_sequence(x)
        return self.readout(h[-1] if full else last_step(h, lengths))
