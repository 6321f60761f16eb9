"""Hook-based collector of operation counts, energy and spike activity.

``OpsMonitor(model)`` registers forward hooks (model code unchanged) on every counted layer
(every module with a counter, :func:`common.metrics.ops.register_counter`: built in ``Linear``,
``Conv1d/2d/3d``, ``LSTM/GRU/RNN`` and their cells, ``Embedding``, :class:`common.products.MatMul` /
``Mul``; the descendants of a counted layer are not hooked) and every spiking neuron
(:class:`common.neurons.SpikingNeuron` with ``emits_spikes``; a neuron nested in another is not hooked
again), and accumulates the counts of
:mod:`common.metrics.ops` / :mod:`common.metrics.activity` into torchmetrics ``Metric`` states
(``dist_reduce_fx="sum"``), so that :meth:`OpsMonitor.compute` is DDP-correct.

**Samples.** Ops are reported *per sample per inference* (all ``T`` steps). Each hooked call
adds the ops of all its rows (a ``TimeDistributed`` layer sees ``T*B`` rows once, a
loop-over-time model calls the layer ``T`` times with ``B`` rows: both add ``T*B`` row-steps),
and the totals are divided by the number of samples. Samples are counted either

* automatically (``batch_dim=0``, default): a forward pre-hook on ``model`` itself adds
  ``x.shape[batch_dim]`` of its first tensor argument per call (``batch_dim=1`` for a model
  fed ``[T, B, ...]``). Only valid if ``model`` is called once per batch; or
* manually (``batch_dim=None``): call :meth:`OpsMonitor.update_samples` with ``B`` once per
  batch (e.g. in ``test_step``). Use this when ``model`` is called once per time step.

**Tokens.** For translation, ops per target token: call :meth:`OpsMonitor.update_tokens` with the
number of tokens of each batch (e.g. ``y_lengths.sum()``, the caller decides what counts) and read
``compute(per="token")``. Padded steps: a spiking layer's input is 0 there and costs nothing; an analog
layer counts them densely (count on unpadded or length-bucketed batches to keep that small).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn
from torchmetrics import Metric

from .activity import SpikeActivity
from .energy import EnergyModel
from .footprint import memory_footprint, parameter_count
from .ops import FIELDS, count_layer, find_counter, stack_counts

__all__ = ["LayerOps", "OpsMonitor"]

_F64 = torch.float64
_IDX = {k: i for i, k in enumerate(FIELDS)}


class LayerOps(Metric):
    """Summed per-layer op counts: state ``counts[num_layers, len(FIELDS)]`` + ``samples``."""

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, num_layers: int, **kwargs):
        kwargs.setdefault("compute_with_cache", False)
        super().__init__(**kwargs)
        self.num_layers = int(num_layers)
        self.add_state("counts", torch.zeros(self.num_layers, len(FIELDS), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("samples", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")
        self.add_state("tokens", torch.zeros((), dtype=_F64), dist_reduce_fx="sum")

    def update(self, index: int, counts: torch.Tensor) -> None:  # type: ignore[override]
        """Add one call's counts (a ``len(FIELDS)`` vector, see :func:`ops.stack_counts`) to layer ``index``."""
        self.counts[index] += counts.to(device=self.counts.device, dtype=_F64)

    def update_samples(self, n: int) -> None:
        self.samples += float(n)

    def update_tokens(self, n: int) -> None:
        self.tokens += float(n)

    def compute(self) -> dict[str, torch.Tensor]:
        """Per-layer counts per sample (``[num_layers]`` tensors keyed by field) plus raw sums."""
        n = self.samples.clamp_min(1)
        out = {k: self.counts[:, i] / n for i, k in enumerate(FIELDS)}
        out["raw"] = self.counts
        out["samples"] = self.samples
        out["tokens"] = self.tokens
        return out


def writable_states(metric: Metric) -> None:
    """Replace inference-mode state tensors by normal ones when outside ``torch.inference_mode``
    (Lightning validates/tests under inference mode; a ``reset()``/``.to()`` there would create
    inference tensors that cannot be updated in place later)."""
    if torch.is_inference_mode_enabled():
        return
    for name in metric._defaults:
        t = getattr(metric, name)
        if isinstance(t, torch.Tensor) and t.is_inference():
            setattr(metric, name, t.clone())


def _first_tensor(args: tuple, kwargs: dict) -> Optional[torch.Tensor]:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a
    return None


def _first_out(output: Any) -> Optional[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, nn.utils.rnn.PackedSequence):
        return output.data
    if isinstance(output, (tuple, list)) and output:
        return _first_out(output[0])
    return None


class OpsMonitor:
    """Collect MACs/ACs (papers' and NeuroBench's conventions), energy, and spike activity.

    Args:
        model: the network (SNN or ANN). It is *not* registered as a submodule.
        energy: :class:`EnergyModel` (default 4.6 pJ/MAC, 0.9 pJ/AC).
        batch_dim: dimension of ``model``'s first input that holds the batch (auto sample
            counting), or ``None`` to count samples with :meth:`update_samples`.
        layer_types: restrict counting to these module types (default ``None``: every module with a
            registered counter, see :func:`common.metrics.ops.register_counter`).
        exclude: names (as in ``model.named_modules()``) of modules not to hook.
        neurobench: also count NeuroBench's effective ops (for convs this costs one extra
            convolution per hooked call; ``False`` leaves ``nb_eff_*`` of convs at 0).
        graded: ``Linear``/``Conv`` layers (or custom counters that use ``unit``) fed with graded spikes
            (module docstring of :mod:`common.metrics.ops`): layer name
            -> the height of one spike (``1/dt``; 1 for integer counts), a zero-argument callable
            returning it, or the quantizing neuron itself (a module with a ``dt`` attribute: height
            ``1/dt``); read at every call, so an annealed ``dt`` is followed.

    Use ``with monitor: model(x)`` or ``monitor.attach() ... monitor.detach()``; then
    :meth:`compute` (totals per sample), :meth:`table` (per counted layer), :meth:`activity`
    (per spiking layer), :meth:`reset`. Hooks run under ``torch.no_grad()`` and never modify
    outputs. The metric states follow the device of the first hooked input.
    """

    def __init__(
        self,
        model: nn.Module,
        energy: Optional[EnergyModel] = None,
        batch_dim: Optional[int] = 0,
        layer_types: Optional[Sequence[type]] = None,
        exclude: Iterable[str] = (),
        neurobench: bool = True,
        graded: Optional[Mapping[str, Any]] = None,
    ):
        from common.neurons.modules import SpikingNeuron  # local: keep ops usable without neurons

        self.model = model
        self.energy = energy or EnergyModel()
        self.batch_dim = batch_dim
        self.neurobench = bool(neurobench)
        excl = set(exclude)
        self.layers: list[tuple[str, nn.Module]] = []
        self.neurons: list[tuple[str, nn.Module]] = []
        seen: set[int] = set()
        hooked: list[str] = []  # raw names of the hooked neurons
        counted: list[str] = []  # raw names of the counted layers
        self._units: list[Any] = []
        graded = dict(graded or {})
        for name, m in model.named_modules():
            if name in excl or id(m) in seen:
                continue
            if find_counter(m) is not None and (layer_types is None or isinstance(m, tuple(layer_types))):
                if any(outer == "" or name.startswith(f"{outer}.") for outer in counted):
                    continue  # inside a counted layer: its counter accounts for it
                counted.append(name)
                self.layers.append((name or type(m).__name__, m))
                self._units.append(graded.pop(name, None))
                seen.add(id(m))
            elif isinstance(m, SpikingNeuron) and getattr(m, "emits_spikes", True):
                if any(outer == "" or name.startswith(f"{outer}.") for outer in hooked):
                    continue  # a neuron inside a spiking neuron (e.g. SPSN's PaperLIF wraps a LIF): counted once
                hooked.append(name)
                self.neurons.append((name or type(m).__name__, m))
                seen.add(id(m))
        if graded:
            raise ValueError(f"graded: {sorted(graded)} are not counted layers of the model; counted: "
                             f"{[n for n, _ in self.layers]}")
        self.ops = LayerOps(len(self.layers))
        self.spikes = SpikeActivity(len(self.neurons))
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ hooks
    def _to(self, device: torch.device) -> None:
        if self.ops.counts.device != device:
            with torch.inference_mode(False):
                self.ops.to(device)
                self.spikes.to(device)
        writable_states(self.ops)
        writable_states(self.spikes)

    def _layer_hook(self, index: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            x = _first_tensor(args, kwargs)
            if x is None and not (args and isinstance(args[0], nn.utils.rnn.PackedSequence)):
                return
            dev = (x if x is not None else args[0].data).device
            with torch.no_grad(), torch.autocast(dev.type, enabled=False):
                counts = count_layer(module, args, kwargs, neurobench=self.neurobench, unit=self._unit(index))
                if counts is None:
                    return
                y = _first_out(output)
                if y is not None:
                    counts["out_zero"] = (y.detach() == 0).sum().to(_F64)
                    counts["out_numel"] = torch.as_tensor(y.numel(), dtype=_F64, device=y.device)
                self._to(dev)
                self.ops.update(index, stack_counts(counts, dev))
        return hook

    def _unit(self, index: int) -> Optional[float]:
        u = self._units[index]
        if u is None:
            return None
        if isinstance(u, nn.Module):
            return 1.0 / float(u.dt)
        return float(u()) if callable(u) else float(u)

    def _neuron_hook(self, index: int):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            y = _first_out(output)
            if y is None:
                return
            with torch.no_grad():
                self._to(y.device)
                self.spikes.update(index, y, getattr(module, "step_mode", "multi"))
        return hook

    def _root_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        x = _first_tensor(args, kwargs)
        if x is not None and self.batch_dim is not None:
            n = x.shape[self.batch_dim] if x.dim() > self.batch_dim else 1
            self._add_samples(n)

    def _add_samples(self, n: int) -> None:
        writable_states(self.ops)
        writable_states(self.spikes)
        self.ops.update_samples(n)
        self.spikes.update_samples(n)

    def attach(self) -> "OpsMonitor":
        if self._handles:
            return self
        for i, (_, m) in enumerate(self.layers):
            self._handles.append(m.register_forward_hook(self._layer_hook(i), with_kwargs=True))
        for i, (_, m) in enumerate(self.neurons):
            self._handles.append(m.register_forward_hook(self._neuron_hook(i)))
        if self.batch_dim is not None:
            self._handles.append(self.model.register_forward_pre_hook(self._root_hook, with_kwargs=True))
        return self

    def detach(self) -> "OpsMonitor":
        for h in self._handles:
            h.remove()
        self._handles = []
        return self

    def __enter__(self) -> "OpsMonitor":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    # ------------------------------------------------------------------ accounting
    def update_samples(self, n: int) -> None:
        """Count ``n`` more samples (one call per batch, with ``batch_dim=None``)."""
        if self.batch_dim is not None:
            raise RuntimeError("samples are counted automatically (batch_dim is set); "
                               "build the monitor with batch_dim=None to call update_samples")
        self._add_samples(int(n))

    def update_tokens(self, n: int) -> None:
        """Count ``n`` more tokens (the normaliser of ``compute(per="token")``; any ``batch_dim``)."""
        writable_states(self.ops)
        self.ops.update_tokens(int(n))

    def reset(self) -> None:
        with torch.inference_mode(False):  # keep states normal tensors (see writable_states)
            self.ops.reset()
            self.spikes.reset()

    @property
    def samples(self) -> int:
        return int(self.ops.samples.item())

    def _ops(self, per: str = "sample") -> dict[str, torch.Tensor]:
        # compute() syncs states across processes under DDP; silence "compute before update"
        self.ops._update_count = max(self.ops._update_count, 1)
        # (torchmetrics squeezes 1-element results: restore the per-layer shapes)
        out = {k: v.detach().cpu().reshape(-1) for k, v in self.ops.compute().items()}
        out["raw"] = out["raw"].reshape(len(self.layers), len(FIELDS))
        out["samples"] = out["samples"].reshape(())
        out["tokens"] = out["tokens"].reshape(())
        if per == "token":
            if float(out["tokens"]) <= 0:
                raise ValueError('compute(per="token"): no tokens counted; call update_tokens(n) once per batch')
            out.update({k: out["raw"][:, i] / out["tokens"] for i, k in enumerate(FIELDS)})
        elif per != "sample":
            raise ValueError(f'per must be "sample" or "token", got {per!r}')
        return out

    def _act(self) -> dict[str, torch.Tensor]:
        self.spikes._update_count = max(self.spikes._update_count, 1)
        out = {k: v.detach().cpu().reshape(-1) for k, v in self.spikes.compute().items()}
        out["samples"] = out["samples"].reshape(())
        return out

    def table(self, per: str = "sample") -> list[dict[str, Any]]:
        """One dict per counted layer; op counts are per sample (whole inference), or per token with
        ``per="token"``.

        Keys: ``name, type, params, input`` (``"spike"``/``"analog"``/``"graded"``/``"mixed"`` by the
        papers' {0,1} test, ``"index"`` for embeddings, ``"-"`` if never called), ``in_rate`` (fraction
        of non-zero inputs = input spike rate for spike inputs), ``out_sparsity`` (fraction of zero
        outputs), ``macs, acs, energy_pj`` (papers), ``nb_eff_macs, nb_eff_acs, nb_dense, energy_nb_pj``
        (NeuroBench), ``elementwise``, ``lookups``, ``calls``.
        """
        o = self._ops(per)
        raw = o["raw"]
        rows = []
        for i, (name, m) in enumerate(self.layers):
            r = {k: float(o[k][i]) for k in FIELDS}
            calls, analog = raw[i, _IDX["calls"]].item(), raw[i, _IDX["analog"]].item()
            graded, numel = raw[i, _IDX["graded"]].item(), raw[i, _IDX["in_numel"]].item()
            if calls == 0:
                kind = "-"
            elif numel == 0 and raw[i, _IDX["lookups"]].item() > 0:
                kind = "index"
            elif analog == calls:
                kind = "analog"
            elif graded == calls:
                kind = "graded"
            else:
                kind = "spike" if analog == 0 and graded == 0 else "mixed"
            rows.append({
                "name": name,
                "type": type(m).__name__,
                "params": sum(p.numel() for p in m.parameters()),
                "input": kind,
                "in_rate": raw[i, _IDX["in_nonzero"]].item() / max(raw[i, _IDX["in_numel"]].item(), 1),
                "out_sparsity": raw[i, _IDX["out_zero"]].item() / max(raw[i, _IDX["out_numel"]].item(), 1),
                "macs": r["paper_mac"],
                "acs": r["paper_ac"],
                "energy_pj": self.energy.energy_pj(r["paper_mac"], r["paper_ac"], r["elementwise"]),
                "nb_eff_macs": r["nb_mac"],
                "nb_eff_acs": r["nb_ac"],
                "nb_dense": r["nb_dense"],
                "energy_nb_pj": self.energy.energy_pj(r["nb_mac"], r["nb_ac"], r["elementwise"]),
                "elementwise": r["elementwise"],
                "lookups": r["lookups"],
                "calls": int(calls),
            })
        return rows

    def activity(self) -> list[dict[str, Any]]:
        """One dict per spiking layer: ``name, type, neurons, spike_rate`` (spikes per neuron per
        time step), ``spikes_per_neuron`` (per sample, all steps), ``spikes_per_sample``, ``sparsity``."""
        a = self._act()
        n = max(float(a["samples"]), 1.0)
        return [{
            "name": name,
            "type": type(m).__name__,
            "neurons": int(a["neurons"][i]),
            "spike_rate": float(a["spike_rate"][i]),
            "spikes_per_neuron": float(a["spikes_per_neuron"][i]),
            "spikes_per_sample": float(a["spikes"][i]) / n,
            "sparsity": float(a["sparsity"][i]),
        } for i, (name, m) in enumerate(self.neurons)]

    def compute(self, per: str = "sample") -> dict[str, float]:
        """Totals per sample (``per="token"``: op counts and energies per token, see
        :meth:`update_tokens`): ``macs, acs, energy_pj`` (papers), ``nb_eff_macs, nb_eff_acs,
        nb_dense, energy_nb_pj`` (NeuroBench), ``elementwise``, ``lookups``, ``samples``, ``tokens``
        (the raw counts of both normalisers), ``params_total``, ``params_trainable``, ``memory_bytes``, ``activation_sparsity`` (zeros among the inputs of
        all counted layers), ``spike_rate`` (all spiking layers: spikes per neuron per step),
        ``spikes_per_sample`` and ``spike_sparsity``."""
        o = self._ops(per)
        a = self._act()
        raw = o["raw"].sum(0)
        tot = {k: float(o[k].sum()) for k in FIELDS}
        pc = parameter_count(self.model)
        els = float(a["elements"].sum())
        spk = float(a["spikes"].sum())
        out = {
            "samples": float(o["samples"]),
            "macs": tot["paper_mac"],
            "acs": tot["paper_ac"],
            "energy_pj": self.energy.energy_pj(tot["paper_mac"], tot["paper_ac"], tot["elementwise"]),
            "nb_eff_macs": tot["nb_mac"],
            "nb_eff_acs": tot["nb_ac"],
            "nb_dense": tot["nb_dense"],
            "energy_nb_pj": self.energy.energy_pj(tot["nb_mac"], tot["nb_ac"], tot["elementwise"]),
            "elementwise": tot["elementwise"],
            "lookups": tot["lookups"],
            "tokens": float(o["tokens"]),
            "params_total": float(pc["total"]),
            "params_trainable": float(pc["trainable"]),
            "memory_bytes": float(memory_footprint(self.model)),
            "activation_sparsity": 1.0 - float(raw[_IDX["in_nonzero"]]) / max(float(raw[_IDX["in_numel"]]), 1.0),
            "spike_rate": spk / els if els else 0.0,
            "spikes_per_sample": spk / max(float(a["samples"]), 1.0),
            "spike_sparsity": 1.0 - spk / els if els else 0.0,
        }
        return out

    def format_table(self) -> str:
        """Human-readable per-layer table plus totals (for logs / the results README)."""
        rows = self.table()
        hdr = f"{'layer':<28}{'type':<10}{'params':>10}{'input':>8}{'in_rate':>9}{'MACs':>13}{'ACs':>13}{'E[pJ]':>13}{'NB_MACs':>13}{'NB_ACs':>13}"
        lines = [hdr, "-" * len(hdr)]
        for r in rows:
            lines.append(f"{r['name'][:27]:<28}{r['type'][:9]:<10}{r['params']:>10d}{r['input']:>8}{r['in_rate']:>9.4f}"
                         f"{r['macs']:>13.4g}{r['acs']:>13.4g}{r['energy_pj']:>13.4g}{r['nb_eff_macs']:>13.4g}{r['nb_eff_acs']:>13.4g}")
        t = self.compute()
        lines.append("-" * len(hdr))
        lines.append(f"{'total':<28}{'':<10}{int(t['params_total']):>10d}{'':>8}{1 - t['activation_sparsity']:>9.4f}"
                     f"{t['macs']:>13.4g}{t['acs']:>13.4g}{t['energy_pj']:>13.4g}{t['nb_eff_macs']:>13.4g}{t['nb_eff_acs']:>13.4g}")
        for r in self.activity():
            lines.append(f"  spikes {r['name']:<26} rate/step={r['spike_rate']:.4f} spikes/neuron/sample={r['spikes_per_neuron']:.3f}")
        return "\n".join(lines)
