"""The classification LightningModule every paper configures (or subclasses).

Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/acc_best``, ``test/loss``,
``test/acc``; at validation and test it collects energy/activity metrics with hooks
(:mod:`common.metrics`) when ``energy=True``: ``<split>/energy/*`` and, for a model with spiking neurons,
``<split>/spikes_per_neuron_step``. The model maps a batch of inputs to logits; time
steps, encoders and readouts live inside the model. A model may define ``regularization_loss()``
(added to the training loss, e.g. SPSN's spike-count regulariser). Before every evaluation epoch the
model's stochastic modules are seeded with ``eval_seed`` (:func:`common.stochastic.seed_evaluation`; the
harness sets it to the run's ``seed``), so a stochastic evaluation repeats.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Optional

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from ..metrics.measure import energy_metrics
from ..neurons import constrain_parameters
from ..stochastic import seed_evaluation

__all__ = ["ClassificationModule", "NonFiniteLossError"]


def _numpy_state_to_plain(state) -> list:
    # checkpoints load with weights_only=True, which refuses numpy arrays: store plain tensors
    name, keys, pos, has_gauss, cached = state
    return [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def _numpy_state_from_plain(state: list):
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run stops, the last good checkpoint stays."""


class ClassificationModule(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: Optional[Callable[..., torch.optim.Optimizer]] = None,
        scheduler: Optional[Callable[..., Any]] = None,
        scheduler_interval: str = "epoch",
        energy: bool = False,
        eval_seed: int = 0,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"], logger=False)
        self.model = model
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_factory = scheduler
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        self.energy = energy
        self.eval_seed = int(eval_seed)
        self.label_smoothing = float(label_smoothing)
        self.acc = nn.ModuleDict({s: MulticlassAccuracy(num_classes, average="micro") for s in ("tr", "val", "test")})
        self.mean_loss = nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})
        self.val_acc_best = MaxMetric()
        self.monitor = None  # energy/activity monitor, attached during val/test
        self.energy_report: dict[str, Any] = {}

    # ------------------------------------------------------------------ core
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def _logits(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [N, classes], targets [N])`` of one batch; modules with other batch layouts
        (sequences, seq2seq) override only this, and reuse the loss, metrics and energy accounting."""
        x, y = batch
        return self(x), y

    def training_step(self, batch, batch_idx):
        logits, y = self._logits(batch)
        loss = self._loss(logits, y)
        reg = getattr(self.model, "regularization_loss", None)
        if callable(reg):
            r = reg()
            self.log("train/reg", r.detach(), on_step=False, on_epoch=True, batch_size=y.shape[0])
            loss = loss + r
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "stopping. The last good checkpoint (last.ckpt of the previous epoch) is kept; lower the "
                "learning rate or check the inputs, then rerun to resume from it."
            )
        self.acc["tr"](logits.detach(), y)
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=y.shape[0])
        self.log("train/acc", self.acc["tr"], on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        # clamping rules of trainable leaks/thresholds (e.g. DIET-SNN: leak <= 1 after every step)
        constrain_parameters(self.model)

    # ------------------------------------------------------------------ evaluation
    def _eval_start(self, split: str) -> None:
        seed_evaluation(self.model, self.eval_seed)
        if self.energy:
            from ..metrics import OpsMonitor

            self.monitor = OpsMonitor(self.model, batch_dim=None)
            self.monitor.attach()

    def _eval_step(self, batch, split: str):
        logits, y = self._logits(batch)
        if self.monitor is not None:
            self.monitor.update_samples(y.shape[0])  # samples = rows of the loss (tokens for seq2seq)
        loss = self._loss(logits, y)
        self.acc[split](logits, y)
        self.mean_loss[split](loss, weight=y.shape[0])
        self.log(f"{split}/loss", self.mean_loss[split], on_step=False, on_epoch=True, prog_bar=split == "val")
        self.log(f"{split}/acc", self.acc[split], on_step=False, on_epoch=True, prog_bar=True)

    def _eval_end(self, split: str) -> None:
        if self.monitor is not None:
            self.energy_report[split] = {"totals": self.monitor.compute(), "layers": self.monitor.table(),
                                         "activity": self.monitor.activity()}
            totals = self.energy_report[split]["totals"]
            for name, v in energy_metrics(totals, f"{split}/energy").items():
                self.log(name, v, on_step=False, on_epoch=True, sync_dist=False)
            if self.monitor.neurons:  # spiking model: mean spikes per neuron per time step, all spiking layers
                self.log(f"{split}/spikes_per_neuron_step", float(totals["spike_rate"]), on_step=False,
                         on_epoch=True, sync_dist=False)
            self.monitor.detach()
            self.monitor = None

    def on_validation_epoch_start(self) -> None:
        self._eval_start("val")

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")
        if not self.trainer.sanity_checking:
            self.val_acc_best(self.acc["val"].compute())
            self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self._eval_start("test")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # ------------------------------------------------------------------ optim
    def configure_optimizers(self):
        opt = self.optimizer_factory(self.model.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt),
                                                   "interval": self.scheduler_interval}}

    # ------------------------------------------------------------------ exact resume
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_states"] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state_to_plain(np.random.get_state()),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states:
            torch.set_rng_state(states["torch"])
            np.random.set_state(_numpy_state_from_plain(states["numpy"]))
            random.setstate(states["python"])
