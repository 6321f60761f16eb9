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
