"""Small callbacks the harness adds to every trainer."""
from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Wall time of every training epoch (the SPSN speed table compares these)."""

    def __init__(self):
        self.train_epoch_seconds: list[float] = []
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train_epoch_seconds.append(time.perf_counter() - self._t0)

    def state_dict(self) -> dict:
        return {"train_epoch_seconds": list(self.train_epoch_seconds)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_epoch_seconds = list(state_dict.get("train_epoch_seconds", []))


class DtSchedule(L.Callback):
    """Anneal ``dt`` of every :class:`~common.neurons.quantize.QuantizingNeuron` of the module during training
    (the role of KerasSpiking's ``DtScheduler``: start near the non-spiking limit, end spiking).

    At progress ``k`` (the epoch, or the optimizer step with ``interval="step"``) ``dt`` is
    ``dt_start * (dt_end / dt_start) ** p`` (``schedule="geometric"``) or
    ``dt_start + (dt_end - dt_start) * p`` (``"linear"``), ``p = min(k / duration, 1)``: ``dt_start`` at
    ``k = 0`` and ``dt_end`` from ``k = duration`` on. ``duration=None``: the last epoch (``max_epochs - 1``)
    or the last step. The current ``dt`` is logged as ``log_name``; it lives in the neurons' buffers, so
    evaluation and checkpoints use the last value set.
    """

    SCHEDULES = ("geometric", "linear")
    INTERVALS = ("epoch", "step")

    def __init__(self, dt_start: float, dt_end: float, schedule: str = "geometric", interval: str = "epoch",
                 duration: "int | None" = None, log_name: str = "train/dt"):
        dt_start, dt_end = float(dt_start), float(dt_end)
        if not (dt_start > 0 and dt_end > 0):
            raise ValueError(f"dt_start and dt_end must be positive, got {dt_start}, {dt_end}")
        if schedule not in self.SCHEDULES:
            raise ValueError(f"schedule must be one of {self.SCHEDULES}, got {schedule!r}")
        if interval not in self.INTERVALS:
            raise ValueError(f"interval must be one of {self.INTERVALS}, got {interval!r}")
        if duration is not None and int(duration) < 0:
            raise ValueError(f"duration must be >= 0, got {duration}")
        self.dt_start, self.dt_end, self.schedule, self.interval = dt_start, dt_end, schedule, interval
        self.duration = None if duration is None else int(duration)
        self.log_name = log_name
        self.current: "float | None" = None

    def value(self, k: int, duration: int) -> float:
        """``dt`` at progress ``k`` of ``duration``."""
        p = 1.0 if duration <= 0 else min(max(k, 0) / duration, 1.0)
        if self.schedule == "geometric":
            return self.dt_start * (self.dt_end / self.dt_start) ** p
        return self.dt_start + (self.dt_end - self.dt_start) * p

    def _duration(self, trainer) -> int:
        if self.duration is not None:
            return self.duration
        if self.interval == "epoch":
            if trainer.max_epochs is None or trainer.max_epochs < 1:
                raise ValueError("DtSchedule(duration=None, interval='epoch') needs trainer.max_epochs")
            return trainer.max_epochs - 1
        return int(trainer.estimated_stepping_batches) - 1

    def _apply(self, trainer, pl_module) -> None:
        from common.neurons.quantize import quantizing_neurons

        neurons = quantizing_neurons(pl_module)
        if not neurons:
            raise ValueError("DtSchedule: the module has no QuantizingNeuron whose dt could be annealed")
        k = trainer.current_epoch if self.interval == "epoch" else trainer.global_step
        self.current = self.value(k, self._duration(trainer))
        for m in neurons:
            m.set_dt(self.current)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.interval == "epoch":
            self._apply(trainer, pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.interval == "step":
            self._apply(trainer, pl_module)
        if self.log_name and self.current is not None:
            pl_module.log(self.log_name, self.current, on_step=True, on_epoch=False)
