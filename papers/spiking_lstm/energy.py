"""Energy of the spiking LSTM against the iso-architecture LSTM, per layer and in total (per test sample).

Priced by :class:`common.metrics.EnergyModel` (45 nm: 4.6 pJ/MAC, 0.9 pJ/AC) with element-wise products at
``e_mul_pj`` (default 3.7 pJ, a 32-bit float multiply; ``e_mul_pj=0`` gives the gate-only convention of
DIET-SNN-style papers — both are reported). Counting (bias additions and neuron updates are not counted, in
either network, as in those papers):

**LSTM** (the same layers, the conversion-friendly LSTM in ``mode="lstm"``), per element of layer ``l``
(input width ``I_l``, hidden ``H``): gate MACs ``4H (I_l + H)``; element-wise products ``3H``
(``f c``, ``i g``, ``o clip(c)``); readout ``H C`` MACs once per sequence.

**SNN** at ``T`` inner steps:

- input part of layer 1 (direct encoding: analog features at every inner step): ``T · 4H · I`` MACs per element
  (DIET-SNN's convention, ``ratio``); computing ``W_x x_k`` once per element and injecting it at every inner step
  makes it ``4 H I`` (``ratio_input_once``; see README);
- input part of deeper layers: ACs = input spikes x ``4H`` (the ternary ``h`` spikes of the layer below; a
  -1 spike is a subtraction, one AC);
- recurrent part: ACs = the layer's own ``h`` spikes x ``4H``;
- element-wise products: ``3H`` per element (``r_f c``, ``r_i r_g``, ``r_o clip(c)``; once per element, not per
  inner step), priced like the LSTM's;
- readout: the top layer's ``h`` spikes of the last element x ``C`` ACs.

The spike counts come from the model's recorder (:meth:`SpikingLSTMNet.start_recording`).
"""
from __future__ import annotations

from typing import Optional

import torch

from common.metrics import EnergyModel

from .cell import NEURONS

__all__ = ["lstm_energy", "snn_energy", "record_counts", "energy_report"]


def _dims(model) -> list[tuple[int, int]]:
    return [(l.input_size, l.hidden_size) for l in model.layers]


def lstm_energy(model, elements_per_sample: float, em: EnergyModel) -> dict:
    """Per-sample MACs / element-wise products / energy of the LSTM of ``model``'s architecture over sequences of
    ``elements_per_sample`` elements."""
    layers = []
    for l, (I, H) in enumerate(_dims(model)):
        macs, ew = elements_per_sample * 4 * H * (I + H), elements_per_sample * 3 * H
        layers.append({"name": f"layer{l}", "macs": macs, "acs": 0.0, "elementwise": ew,
                       "energy_pj": em.energy_pj(macs, 0.0, ew)})
    C, H = model.readout.out_features, model.readout.in_features
    layers.append({"name": "readout", "macs": float(H * C), "acs": 0.0, "elementwise": 0.0,
                   "energy_pj": em.energy_pj(H * C, 0.0)})
    return {"layers": layers, "energy_pj": sum(r["energy_pj"] for r in layers)}


def snn_energy(model, rec: dict, em: EnergyModel, input_once: bool = False) -> dict:
    """Per-sample op counts and energy of the SNN from a recorder dict (see module docstring). ``input_once``: the
    direct-encoded input current ``W_x x_k`` is computed once per element and injected at each inner step
    (``4 H I`` MACs per element instead of ``T`` times that)."""
    samples = max(float(rec["readout"].get("calls", 0.0)), 1.0)
    T = model.time_steps
    layers = []
    for l, ((I, H), r) in enumerate(zip(_dims(model), rec["layers"])):
        elements = r.get("elements", 0.0) / samples
        if l == 0:
            macs, acs_in = (1 if input_once else T) * 4 * H * I * elements, 0.0
        else:
            macs, acs_in = 0.0, r.get("in_nonzero", 0.0) / samples * 4 * H
        acs_rec = r.get("spikes_h", 0.0) / samples * 4 * H
        ew = 3 * H * elements
        neuron_steps = max(elements * T * H, 1.0)
        rates = {n: r.get(f"spikes_{n}", 0.0) / samples / neuron_steps for n in NEURONS}
        layers.append({"name": f"layer{l}", "macs": macs, "acs": acs_in + acs_rec, "acs_input": acs_in,
                       "acs_recurrent": acs_rec, "elementwise": ew, "spike_rates": rates,
                       "energy_pj": em.energy_pj(macs, acs_in + acs_rec, ew)})
    C = model.readout.out_features
    acs = rec["readout"].get("in_spikes", 0.0) / samples * C
    layers.append({"name": "readout", "macs": 0.0, "acs": acs, "elementwise": 0.0, "energy_pj": em.energy_pj(0.0, acs)})
    return {"layers": layers, "energy_pj": sum(r["energy_pj"] for r in layers)}


@torch.no_grad()
def record_counts(model, loader, device: torch.device, max_batches: Optional[int] = None) -> tuple[dict, float]:
    """Run ``model`` over (part of) ``loader`` with the recorder on; returns ``(record, elements per sample)``."""
    model = model.to(device).eval()
    rec = model.start_recording()
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            model(batch[0].to(device), batch[2].to(device))
    finally:
        model.stop_recording()
    samples = max(float(rec["readout"].get("calls", 0.0)), 1.0)
    return rec, rec["layers"][0].get("elements", 0.0) / samples


def energy_report(model, rec: dict, elements_per_sample: float, e_mul_pj: float = 3.7) -> dict:
    """SNN and LSTM per-layer tables and the SNN/LSTM energy ratio, with element-wise products priced at
    ``e_mul_pj`` (``ratio``), unpriced (``ratio_gates_only``), and with the direct input current computed once per
    element (``ratio_input_once``)."""
    out = {}
    for key, em, once in (("", EnergyModel(e_mul_pj=e_mul_pj), False), ("_gates_only", EnergyModel(), False),
                          ("_input_once", EnergyModel(e_mul_pj=e_mul_pj), True)):
        snn, lstm = snn_energy(model, rec, em, once), lstm_energy(model, elements_per_sample, em)
        out["snn" + key], out["lstm" + key] = snn, lstm
        out["ratio" + key] = snn["energy_pj"] / max(lstm["energy_pj"], 1e-30)
    return out
