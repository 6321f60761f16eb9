"""DIET-SNN's hybrid training as three cached stages (``runner: papers.diet_snn.pipeline.run``).

1. ``ann``: train the ReLU network (bias-free VGG/ResNet, avg pooling, dropout); test; count its ops.
2. ``threshold``: load the ANN weights into the SNN, initialise thresholds layer by layer from the
   99.7th percentile of each layer's input current over ``threshold.num_images`` training images,
   simulated with leak 1 for ``threshold.time_steps`` steps (:mod:`.threshold`).
3. ``snn_T<T>``: thresholds x ``snn.scaling_factor``, leaks = ``snn.leak``; test the converted SNN
   (before training), then train weights, leaks and thresholds with BPTT at ``T`` steps; test;
   count ops/spikes.

Rows sharing a stage's settings share its cached result (e.g. every mini row reuses one ANN and
one threshold search per encoding). ``snn.time_steps`` may be a list (the encoding ablation trains
one SNN per T); metrics are then prefixed ``T<T>/``.

Energy (both conventions, SNN / ANN, per test sample):

- ``energy_ratio/papers`` — DIET-SNN's formula: a layer fed by analog values (the direct-encoded
  first layer) costs ``T x FLOPs_l`` MACs (4.6 pJ); a layer fed by spikes costs
  ``spike_rate x T x FLOPs_l`` ACs (0.9 pJ), ``spike_rate`` being spikes per neuron per step of
  the LIF layer whose output (possibly average-pooled) it receives; ANN: ``sum FLOPs_l`` MACs.
  (A Poisson-encoded first layer is fed by input spikes: ACs at the input spike rate.)
- ``energy_ratio/neurobench`` — :class:`common.metrics.OpsMonitor`'s NeuroBench effective ops;
  average-pooled spikes are not in {-1,0,1}, so layers after a pool count as MACs there.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from common.harness.context import RunContext
from common.harness.distributed import all_reduce_sum, barrier, is_global_zero, world
from common.lightning import ClassificationModule
from common.metrics import EnergyModel
from common.metrics.measure import measure_ops
from common.stochastic import seed_evaluation

from .models import build_model, to_snn, weight_parameter_count
from .threshold import chunked_forward, find_thresholds, set_thresholds

__all__ = ["run", "count_test_ops", "diet_energy", "evaluate"]


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _model_kwargs(cfg: DictConfig) -> dict:
    kw = dict(_plain(cfg.model))
    kw.pop("arch")
    return kw


def _device(cfg: DictConfig) -> torch.device:
    acc = str(cfg.trainer.get("accelerator", "cpu"))
    return torch.device("cuda" if acc in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu")


def _optim(ctx: RunContext, node) -> Any:
    return ctx.instantiate(node) if node is not None else None


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device, max_batches: Optional[int] = None,
             time_steps: Optional[int] = None, chunk: Optional[int] = None, seed: int = 0) -> float:
    """Top-1 accuracy; with ``time_steps``/``chunk`` the SNN is simulated in chunks (long T).

    Under DDP every rank takes every ``world``-th batch and the counts are summed over ranks, so all
    ranks return the accuracy over the same (first ``max_batches``) batches."""
    model = model.to(device).eval()
    seed_evaluation(model, seed)
    correct = total = 0
    for x, y in _my_batches(loader, max_batches):
        x, y = x.to(device), y.to(device)
        out = chunked_forward(model, x, time_steps, chunk) if time_steps else model(x)
        correct += int((out.argmax(1) == y).sum())
        total += int(y.numel())
    correct, total = all_reduce_sum(correct, total)
    return correct / max(total, 1)


def _my_batches(loader, max_batches: Optional[int]):
    """This rank's share of the loader's first ``max_batches`` batches (all of them without DDP)."""
    rank, size = world()
    return itertools.islice(loader, rank, max_batches, size)


def count_test_ops(model: torch.nn.Module, loader, device: torch.device, max_batches: Optional[int] = None,
                   seed: int = 0) -> dict:
    """:func:`common.metrics.measure.measure_ops` over this rank's share of the loader's first ``max_batches``
    batches on ``device`` (under DDP the monitor's states are summed over ranks)."""
    batches = ((x.to(device), y) for x, y in _my_batches(loader, max_batches))
    return measure_ops(model.to(device), batches, eval_seed=seed)


def diet_energy(ann_ops: dict, snn_ops: dict, feeders: dict, T: int, encoding: str = "direct",
                energy: Optional[EnergyModel] = None) -> dict:
    """DIET-SNN's energy formula (see module docstring): per-layer MACs/ACs and the SNN/ANN ratio, priced by
    ``energy`` (default :class:`common.metrics.EnergyModel`: 4.6 pJ/MAC, 0.9 pJ/AC)."""
    em = energy or EnergyModel()
    flops = {r["name"]: r["macs"] for r in ann_ops["layers"]}
    rates = {a["name"]: a["spike_rate"] for a in snn_ops["activity"]}
    in_rate = {r["name"]: r["in_rate"] for r in snn_ops["layers"]}
    layers, e_snn = [], 0.0
    for name, f in flops.items():
        src = feeders.get(name)
        if src is None and encoding == "direct":
            macs, acs, rate = T * f, 0.0, None
        else:
            rate = rates[src] if src is not None else in_rate[name]
            macs, acs = 0.0, rate * T * f
        e = em.energy_pj(macs, acs)
        e_snn += e
        layers.append({"name": name, "flops": f, "fed_by": src or "input", "input_rate": rate, "macs": macs,
                       "acs": acs, "energy_pj": e, "ann_energy_pj": em.energy_pj(f, 0.0)})
    e_ann = em.energy_pj(sum(flops.values()), 0.0)
    return {"layers": layers, "snn_energy_pj": e_snn, "ann_energy_pj": e_ann, "ratio": e_snn / e_ann}


# ---------------------------------------------------------------------------------------- stages
def _ann_stage(cfg: DictConfig, ctx: RunContext, d: Path) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dm = ctx.instantiate(cfg.data)
    model = build_model(str(cfg.model.arch), mode="ann", **_model_kwargs(cfg))
    module = ClassificationModule(model, int(cfg.model.num_classes), optimizer=_optim(ctx, cfg.ann.optimizer),
                                  scheduler=_optim(ctx, cfg.ann.get("scheduler")))
    trainer = ctx.trainer(d, "ann", max_epochs=int(cfg.ann.max_epochs))
    best = ctx.fit(trainer, module, dm, d)
    metrics = ctx.test(trainer, module, dm, best or None)
    ctx.close_logger(trainer)
    if is_global_zero():
        torch.save(module.model.state_dict(), d / "ann_model.pt")
    barrier()  # under DDP the other ranks read the weights later
    ops = count_test_ops(module.model, dm.test_dataloader(), _device(cfg), cfg.energy.get("max_batches"))
    return {"test_acc": metrics.get("test/acc"), "weights": str(d / "ann_model.pt"), "ops": ops,
            "epochs": int(trainer.current_epoch), "weight_params": weight_parameter_count(model),
            "train_epoch_seconds": ctx.extras.get("train_epoch_seconds", {}).get(d.name, [])}


def _snn_kwargs(cfg: DictConfig, T: int, **over) -> dict:
    kw = _model_kwargs(cfg)
    kw.update(time_steps=int(T), encoding=str(cfg.snn.encoding), leak=float(cfg.snn.leak),
              learn_leak=bool(cfg.snn.learn_leak), learn_threshold=bool(cfg.snn.learn_threshold))
    data_norm = cfg.snn.get("rate_norm")
    if data_norm is not None:
        kw.update(rate_mean=list(data_norm.mean), rate_std=list(data_norm.std))
    kw.update(over)
    return kw


def _threshold_stage(cfg: DictConfig, ctx: RunContext, d: Path, ann: dict) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dev = _device(cfg)
    tc = cfg.threshold
    dm = ctx.instantiate(cfg.data)
    snn = to_snn(torch.load(ann["weights"], map_location="cpu"), str(cfg.model.arch),
                 **_snn_kwargs(cfg, int(tc.time_steps), leak=1.0)).to(dev)
    x, _ = dm.sample_batch("train", int(tc.num_images))
    t0 = time.perf_counter()
    thr = find_thresholds(snn, x.to(dev), int(tc.time_steps), float(tc.percentile), int(tc.chunk), log=ctx.log)
    seconds = time.perf_counter() - t0
    out = {"thresholds": thr, "seconds": round(seconds, 1)}
    if int(tc.get("eval_batches") or 0) > 0:  # the pure conversion (leak 1, unscaled thresholds, long T)
        out["converted_long_acc"] = evaluate(snn, dm.test_dataloader(), dev, int(tc.eval_batches),
                                             time_steps=int(tc.time_steps), chunk=int(tc.chunk))
    return out


def _scaling(cfg: DictConfig, T: int) -> float:
    s = cfg.snn.scaling_factor
    if isinstance(s, (int, float)):
        return float(s)
    s = _plain(s)
    return float(s.get(T, s.get(str(T))))


def leak_gradients(make_snn, loader, device: torch.device, batches: int) -> dict:
    """dL/d(leak) of every LIF layer of ``make_snn()`` (training mode, cross-entropy on the summed output, no
    optimizer step) over the first ``batches`` batches of ``loader``: per layer the mean gradient and the fraction
    of batches whose gradient is negative. A negative gradient makes the optimizer *raise* the leak, which the
    ``<= 1`` clamp then holds at 1; a positive one lowers it (the neurons become leaky)."""
    model = make_snn().to(device).train()
    grads: dict[str, list[float]] = {n: [] for n, _ in model.neurons()}
    for x, y in itertools.islice(loader, batches):
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
        for n, m in model.neurons():
            grads[n].append(float(m.leak.grad) if m.leak.grad is not None else float("nan"))
    return {n: {"mean": sum(g) / max(len(g), 1), "frac_negative": sum(v < 0 for v in g) / max(len(g), 1),
                "batches": len(g)} for n, g in grads.items()}


def _snn_stage(cfg: DictConfig, ctx: RunContext, d: Path, ann: dict, thr: dict, T: int) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dev = _device(cfg)
    dm = ctx.instantiate(cfg.data)
    weights = torch.load(ann["weights"], map_location="cpu")

    def make_snn(scale: float, leak: float = float(cfg.snn.leak)) -> torch.nn.Module:
        net = to_snn(weights, str(cfg.model.arch), **_snn_kwargs(cfg, T, leak=leak, learn_leak=True))
        set_thresholds(net, thr["thresholds"], scale=scale, leak=leak)
        return net

    scale = _scaling(cfg, T)
    probe, grad_probe = cfg.snn.get("leak_gradient"), {}
    if probe and int(probe.get("batches") or 0) > 0 and T in [int(t) for t in probe.get("time_steps") or ()]:  # where the leak gradient points at the start of DIET training
        dm.setup("fit")
        for s in sorted({scale, *[float(v) for v in probe.get("scaling_factors") or ()]}):
            grad_probe[str(s)] = leak_gradients(lambda: make_snn(s), dm.train_dataloader(), dev, int(probe.batches))
            ctx.log(f"T={T}: leak gradient at scaling {s}: " + ", ".join(
                f"{n} {g['mean']:+.2e} ({g['frac_negative']:.0%} < 0)" for n, g in grad_probe[str(s)].items()))
        ctx.seed_everything(int(cfg.seed))  # the probe leaves training's RNG streams as they were
    snn = to_snn(weights, str(cfg.model.arch), **_snn_kwargs(cfg, T))
    set_thresholds(snn, thr["thresholds"], scale=scale, leak=float(cfg.snn.leak))
    eb = cfg.snn.get("converted_eval_batches")
    converted = evaluate(snn, dm.test_dataloader(), dev, None if eb is None else int(eb), seed=int(cfg.seed))
    ctx.log(f"T={T}: converted SNN (before DIET training) test acc {converted:.4f}")
    snn.train()
    module = ClassificationModule(snn, int(cfg.model.num_classes), optimizer=_optim(ctx, cfg.snn.optimizer),
                                  scheduler=_optim(ctx, cfg.snn.get("scheduler")), eval_seed=int(cfg.seed))
    limits = dict(_plain(cfg.snn.get("trainer") or {}))
    tb = cfg.snn.get("train_batches")
    if tb is not None:  # per-T training budget (mini rows): {T: batches} or one number
        limits["limit_train_batches"] = int(tb) if isinstance(tb, (int, float)) else int(_plain(tb)[T])
    trainer = ctx.trainer(d, f"snn_T{T}", max_epochs=int(cfg.snn.max_epochs), **limits)
    best = ctx.fit(trainer, module, dm, d)
    metrics = ctx.test(trainer, module, dm, best or None)
    ctx.close_logger(trainer)
    ops = count_test_ops(module.model, dm.test_dataloader(), dev, cfg.energy.get("max_batches"), seed=int(cfg.seed))
    energy = diet_energy(ann["ops"], ops, module.model.feeders(), T, str(cfg.snn.encoding))
    nb = ops["totals"]["energy_nb_pj"] / max(ann["ops"]["totals"]["energy_nb_pj"], 1e-30)
    monitor_papers = ops["totals"]["energy_pj"] / max(ann["ops"]["totals"]["energy_pj"], 1e-30)
    return {
        "T": T, "scaling_factor": scale, "converted_acc": converted, "test_acc": metrics.get("test/acc"),
        "epochs": int(trainer.current_epoch),
        "energy_ratio_papers": energy["ratio"], "energy_ratio_neurobench": nb,
        "energy_ratio_papers_monitor": monitor_papers, "energy_layers": energy["layers"],
        "spike_rates": {a["name"]: a["spike_rate"] for a in ops["activity"]},
        "mean_spike_rate": ops["totals"]["spike_rate"], "spikes_per_sample": ops["totals"]["spikes_per_sample"],
        "learned": module.model.neuron_parameters(),
        "initial_thresholds": {k: v * scale for k, v in thr["thresholds"].items()},
        "leak_gradient_at_init": grad_probe,
        "snn_totals": ops["totals"],
        "train_epoch_seconds": ctx.extras.get("train_epoch_seconds", {}).get(d.name, []),
    }


# ---------------------------------------------------------------------------------------- runner
def run(cfg: DictConfig, ctx: RunContext) -> dict:
    trainer_key = {k: v for k, v in _plain(cfg.trainer).items()
                   if k not in ("enable_progress_bar", "enable_model_summary", "log_every_n_steps", "max_epochs")}
    ann_dep = {"data": cfg.data, "model": cfg.model, "ann": cfg.ann, "trainer": trainer_key, "energy": cfg.energy}
    ann = ctx.stage("ann", lambda d: _ann_stage(cfg, ctx, d), ann_dep)
    ctx.log(f"ANN test acc {ann['test_acc']:.4f}")
    thr_dep = {"ann": ann_dep, "threshold": cfg.threshold, "encoding": cfg.snn.encoding,
               "rate_norm": cfg.snn.get("rate_norm")}
    thr = ctx.stage(f"threshold_{cfg.snn.encoding}", lambda d: _threshold_stage(cfg, ctx, d, ann), thr_dep)
    Ts = cfg.snn.time_steps
    Ts = [int(t) for t in Ts] if not isinstance(Ts, (int, float)) else [int(Ts)]
    snn_common = {k: v for k, v in _plain(cfg.snn).items() if k not in ("time_steps", "scaling_factor")}
    results = {}
    for T in Ts:
        dep = {"threshold": thr_dep, "snn": snn_common, "T": T, "scaling_factor": _scaling(cfg, T)}
        results[T] = ctx.stage(f"snn_{cfg.snn.encoding}_T{T}", lambda d, T=T: _snn_stage(cfg, ctx, d, ann, thr, T), dep)
        r = results[T]
        ctx.log(f"T={T}: converted {r['converted_acc']:.4f} -> DIET {r['test_acc']:.4f}; "
                f"energy SNN/ANN papers {r['energy_ratio_papers']:.3f} neurobench {r['energy_ratio_neurobench']:.3f}")

    metrics: dict[str, float] = {"ann/test/acc": ann["test_acc"]}
    # the SNN may be tested on the first N test batches only (mini: snn.trainer.limit_test_batches);
    # then the ANN is also evaluated on exactly those images, and the gap uses that number
    ann_ref = ann["test_acc"]
    limit = (cfg.snn.get("trainer") or {}).get("limit_test_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        dm = ctx.instantiate(cfg.data)
        ann_model = build_model(str(cfg.model.arch), mode="ann", **_model_kwargs(cfg))
        ann_model.load_state_dict(torch.load(ann["weights"], map_location="cpu"))
        ann_ref = evaluate(ann_model, dm.test_dataloader(), _device(cfg), limit)
        metrics["ann/test/acc_snn_test_images"] = ann_ref
    if thr.get("converted_long_acc") is not None:
        metrics[f"snn_converted_T{int(cfg.threshold.time_steps)}_unscaled/test/acc"] = thr["converted_long_acc"]
    for i, (T, r) in enumerate(results.items()):
        prefixes = [""] if len(results) == 1 else [f"T{T}/"] + ([""] if i == 0 else [])
        for p in prefixes:
            metrics[f"{p}test/acc"] = r["test_acc"]
            metrics[f"{p}snn_converted/test/acc"] = r["converted_acc"]
            metrics[f"{p}ann_minus_snn"] = ann_ref - r["test_acc"]
            metrics[f"{p}energy_ratio/papers"] = r["energy_ratio_papers"]
            metrics[f"{p}energy_ratio/neurobench"] = r["energy_ratio_neurobench"]
            metrics[f"{p}spike_rate/mean"] = r["mean_spike_rate"]
            # where DIET training moved the leaks (from cfg.snn.leak) and thresholds (from their init)
            leaks = [q["leak"] for q in r["learned"].values() if q.get("leak") is not None]
            if leaks:
                metrics[f"{p}leak/min"], metrics[f"{p}leak/max"] = min(leaks), max(leaks)
                metrics[f"{p}leak/max_abs_change"] = max(abs(v - float(cfg.snn.leak)) for v in leaks)
            init = r["initial_thresholds"]
            rel = [abs(q["threshold"] - init[n]) / abs(init[n]) for n, q in r["learned"].items()
                   if q.get("threshold") is not None and init.get(n)]
            if rel:
                metrics[f"{p}threshold/max_rel_change"] = max(rel)
    extras = {
        "encoding": str(cfg.snn.encoding), "learn_leak": bool(cfg.snn.learn_leak),
        "parameters": {"weights": ann["weight_params"], "arch": str(cfg.model.arch)},
        "ann": {"test_acc": ann["test_acc"], "epochs": ann["epochs"], "ops_totals": ann["ops"]["totals"],
                "train_epoch_seconds": ann["train_epoch_seconds"]},
        "thresholds_unscaled": thr["thresholds"], "threshold_search_seconds": thr["seconds"],
        "snn": {str(T): r for T, r in results.items()},
    }
    return {"metrics": metrics, "extras": extras}
