"""Spiking LSTM as cached stages (``runner: papers.spiking_lstm.pipeline.run``), the shape of
:mod:`papers.diet_snn.pipeline`:

1. ``lstm``: train the conversion-friendly source LSTM (``model``, ``lstm.*``); test it.
2. ``snn_T<T>_…`` for each ``snn.time_steps``: load the LSTM's weights; θ_h of every layer from activation
   statistics (``snn.threshold``: the percentile of ``|a|`` over training sequences); convert (gate thresholds =
   the LSTM's trained clips, leaks 1, bias shift ``snn.bias_shift``); test the converted SNN; then (``snn.max_epochs
   > 0``) fine-tune weights, thresholds (``snn.learn_threshold``) and leaks (``snn.learn_leak``) by BPTT over
   elements x T inner steps; test; count spikes and price the energy against the iso-architecture LSTM
   (:mod:`.energy`).

Rows sharing the LSTM settings share its cached stage (every SNN row of a dataset reuses one LSTM). Metrics of a
row with one T are unprefixed; with several T each gets ``T<T>/`` (and the first T also unprefixed).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from common.harness.context import RunContext
from common.stochastic import seed_evaluation

from .energy import energy_report, record_counts
from .latency import latency_table
from .model import SpikingLSTMNet, percentile_thresholds
from .module import SpikingLSTMModule

__all__ = ["run", "evaluate", "build_model"]


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _device(cfg: DictConfig) -> torch.device:
    acc = str(cfg.trainer.get("accelerator", "cpu"))
    return torch.device("cuda" if acc in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu")


def build_model(cfg: DictConfig) -> SpikingLSTMNet:
    return SpikingLSTMNet(**_plain(cfg.model))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device, max_batches: Optional[int] = None,
             seed: int = 0) -> float:
    """Top-1 accuracy over the first ``max_batches`` batches (all: None) of a SeqBatch loader."""
    model = model.to(device).eval()
    seed_evaluation(model, seed)
    correct = total = 0
    for batch in itertools.islice(loader, max_batches):
        x, y, lengths = batch[0].to(device), batch[1].to(device), batch[2].to(device)
        correct += int((model(x, lengths).argmax(1) == y).sum())
        total += int(y.numel())
    return correct / max(total, 1)


@torch.no_grad()
def conversion_error(snn: SpikingLSTMNet, src: SpikingLSTMNet, loader, device: torch.device, batches: int = 1) -> float:
    """Mean squared difference between the converted SNN's logits and its source LSTM's (``src``) over the first
    ``batches`` test batches (the conversion error, before any fine-tuning)."""
    src.to(device).eval()
    snn = snn.to(device).eval()
    total = n = 0.0
    for batch in itertools.islice(loader, batches):
        x, lengths = batch[0].to(device), batch[2].to(device)
        total += float(((snn(x, lengths) - src(x, lengths)) ** 2).sum())
        n += float(x.shape[1] * snn.readout.out_features)
    return total / max(n, 1.0)


def _limit(node, key: str) -> Optional[int]:
    v = (node or {}).get(key) if node is not None else None
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# ---------------------------------------------------------------------------------------- stages
def _lstm_stage(cfg: DictConfig, ctx: RunContext, d: Path) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dm = ctx.instantiate(cfg.data)
    model = build_model(cfg)
    module = SpikingLSTMModule(model, int(cfg.model.num_classes), optimizer=ctx.instantiate(cfg.lstm.optimizer),
                               eval_seed=int(cfg.seed))
    limits = dict(_plain(cfg.lstm.get("trainer") or {}))
    trainer = ctx.trainer(d, "lstm", max_epochs=int(cfg.lstm.max_epochs), **limits)
    best = ctx.fit(trainer, module, dm, d)
    metrics = ctx.test(trainer, module, dm, best or None)
    ctx.close_logger(trainer)
    if best:  # the best-val weights are the source of the conversion
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    torch.save(module.model.state_dict(), d / "lstm_model.pt")
    layers = [{"theta": l.theta.detach().tolist(), "theta_c": float(l.theta_c.detach())} for l in module.model.layers]
    return {"test_acc": metrics.get("test/acc"), "weights": str(d / "lstm_model.pt"), "clips": layers,
            "epochs": int(trainer.current_epoch),
            "train_epoch_seconds": ctx.extras.get("train_epoch_seconds", {}).get(d.name, [])}


def _snn_stage(cfg: DictConfig, ctx: RunContext, d: Path, lstm: dict, T: int) -> dict:
    ctx.seed_everything(int(cfg.seed))
    dev = _device(cfg)
    sc = cfg.snn
    dm = ctx.instantiate(cfg.data)
    dm.setup("fit")
    model = build_model(cfg)
    model.load_state_dict(torch.load(lstm["weights"], map_location="cpu"))
    # θ_h from activation statistics of the source LSTM over training sequences
    xs, _ = dm.sample_batch("train", int(sc.threshold.num_samples))
    theta_h = percentile_thresholds(model, xs.transpose(0, 1).float(), float(sc.threshold.percentile))
    model.to_snn(T, float(sc.bias_shift), bool(sc.learn_threshold), bool(sc.learn_leak), theta_h)
    test_batches = _limit(sc.get("trainer"), "limit_test_batches")
    converted = evaluate(model, dm.test_dataloader(), dev, test_batches, seed=int(cfg.seed))
    src = build_model(cfg)
    src.load_state_dict(torch.load(lstm["weights"], map_location="cpu"))
    err = conversion_error(model, src, dm.test_dataloader(), dev, int(sc.get("error_batches", 1)))
    ctx.log(f"T={T}: converted SNN (shift {float(sc.bias_shift)}) test acc {converted:.4f}, "
            f"conversion error (logit MSE) {err:.4g}")
    out = {"T": T, "theta_h_init": theta_h, "converted_acc": converted, "test_acc": converted, "epochs": 0,
           "conversion_error": err}
    if int(sc.max_epochs) > 0:
        model.train()
        module = SpikingLSTMModule(model, int(cfg.model.num_classes), optimizer=ctx.instantiate(sc.optimizer),
                                   eval_seed=int(cfg.seed))
        limits = dict(_plain(sc.get("trainer") or {}))
        tb = sc.get("train_batches")
        if tb is not None:
            limits["limit_train_batches"] = int(tb) if isinstance(tb, (int, float)) else int(_plain(tb)[T])
        trainer = ctx.trainer(d, f"snn_T{T}", max_epochs=int(sc.max_epochs), **limits)
        best = ctx.fit(trainer, module, dm, d)
        metrics = ctx.test(trainer, module, dm, best or None)
        ctx.close_logger(trainer)
        model = module.model
        out.update(test_acc=metrics.get("test/acc"), epochs=int(trainer.current_epoch),
                   train_epoch_seconds=ctx.extras.get("train_epoch_seconds", {}).get(d.name, []))
    rec, elements = record_counts(model, dm.test_dataloader(), dev, _limit(cfg.get("energy"), "max_batches"))
    energy = energy_report(model, rec, elements, float(cfg.energy.get("e_mul_pj", 3.7)))
    N = int(round(elements))  # elements per sequence (layer 0)
    out["latency"] = latency_table(N, len(model.layers), T) if N * len(model.layers) * T <= 200_000 else None
    out.update(energy=energy, energy_ratio=energy["ratio"], energy_ratio_gates_only=energy["ratio_gates_only"],
               energy_ratio_input_once=energy["ratio_input_once"],
               spike_rates={r["name"]: r["spike_rates"] for r in energy["snn"]["layers"] if "spike_rates" in r},
               learned=[{"theta": l.theta.detach().tolist(), "theta_c": float(l.theta_c.detach()),
                         "leak": l.leak.detach().tolist()} for l in model.layers])
    return out


# ---------------------------------------------------------------------------------------- runner
def run(cfg: DictConfig, ctx: RunContext) -> dict:
    trainer_key = {k: v for k, v in _plain(cfg.trainer).items()
                   if k not in ("enable_progress_bar", "enable_model_summary", "log_every_n_steps", "max_epochs")}
    lstm_dep = {"data": cfg.data, "model": cfg.model, "lstm": cfg.lstm, "trainer": trainer_key}
    lstm = ctx.stage("lstm", lambda d: _lstm_stage(cfg, ctx, d), lstm_dep)
    ctx.log(f"LSTM test acc {lstm['test_acc']:.4f}")
    metrics: dict[str, float] = {"lstm/test/acc": lstm["test_acc"]}
    extras: dict[str, Any] = {"lstm": lstm, "snn": {}}
    sc = cfg.get("snn")
    if sc is None or not sc.get("time_steps"):  # the LSTM-baseline row
        metrics["test/acc"] = lstm["test_acc"]
        return {"metrics": metrics, "extras": extras}
    Ts = sc.time_steps
    Ts = [int(t) for t in Ts] if not isinstance(Ts, (int, float)) else [int(Ts)]
    snn_common = {k: v for k, v in _plain(sc).items() if k != "time_steps"}
    tag = (f"s{float(sc.bias_shift):g}_{'thr' if sc.learn_threshold else 'fixthr'}_"
           f"{'leak' if sc.learn_leak else 'fixleak'}_e{int(sc.max_epochs)}")
    lstm_ref = lstm["test_acc"]
    test_batches = _limit(sc.get("trainer"), "limit_test_batches")
    if test_batches is not None:  # the SNN is tested on the first N test batches: compare on those
        ctx.seed_everything(int(cfg.seed))
        dm = ctx.instantiate(cfg.data)
        dm.setup("test")
        ref = build_model(cfg)
        ref.load_state_dict(torch.load(lstm["weights"], map_location="cpu"))
        lstm_ref = evaluate(ref, dm.test_dataloader(), _device(cfg), test_batches)
        metrics["lstm/test/acc_snn_test_samples"] = lstm_ref
    for i, T in enumerate(Ts):
        dep = {"lstm": lstm_dep, "snn": snn_common, "energy": cfg.get("energy"), "T": T}
        r = ctx.stage(f"snn_T{T}_{tag}", lambda d, T=T: _snn_stage(cfg, ctx, d, lstm, T), dep)
        extras["snn"][str(T)] = r
        ctx.log(f"T={T}: converted {r['converted_acc']:.4f} -> fine-tuned {r['test_acc']:.4f}; "
                f"energy SNN/LSTM {r['energy_ratio']:.3f} (gates only {r['energy_ratio_gates_only']:.3f})")
        for p in ([f"T{T}/"] if len(Ts) > 1 else []) + ([""] if i == 0 else []):
            metrics[f"{p}test/acc"] = r["test_acc"]
            metrics[f"{p}snn_converted/test/acc"] = r["converted_acc"]
            metrics[f"{p}lstm_minus_snn"] = lstm_ref - r["test_acc"]
            metrics[f"{p}lstm_minus_converted"] = lstm_ref - r["converted_acc"]
            metrics[f"{p}finetune_gain"] = r["test_acc"] - r["converted_acc"]
            metrics[f"{p}conversion_error"] = r["conversion_error"]
            metrics[f"{p}energy_ratio"] = r["energy_ratio"]
            metrics[f"{p}energy_ratio/gates_only"] = r["energy_ratio_gates_only"]
            metrics[f"{p}energy_ratio/input_once"] = r["energy_ratio_input_once"]
            rates = [v for layer in r["spike_rates"].values() for v in layer.values()]
            metrics[f"{p}spike_rate/mean"] = sum(rates) / max(len(rates), 1)
            leaks = [v for layer in r["learned"] for v in layer["leak"]]
            metrics[f"{p}leak/min"] = min(leaks)
            lat = r.get("latency")
            if lat:
                metrics[f"{p}latency/plain"] = float(lat["plain"])
                metrics[f"{p}latency/pipelined"] = float(lat["pipelined"])
                metrics[f"{p}latency/pipelined_sim_minus_model"] = float(lat["pipelined_sim"] - lat["pipelined"])
                metrics[f"{p}latency/wavefront"] = float(lat["lane"])
                metrics[f"{p}latency/pipelined_over_wavefront"] = lat["pipelined"] / lat["lane"]
    return {"metrics": metrics, "extras": extras}
