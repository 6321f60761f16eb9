"""Plain-text progress for long runs whose progress bar is off (log files): one line per quarter of a training
epoch and one per finished epoch, with the logged metrics and an estimate of the time left.

Enable it on any row (it changes nothing a run computes: ``result_neutral``, so it is not part of the run's hash)::

    python scripts/reproduce.py paper=lite_snn row=imdb_snn_t10_cpu trainer.enable_progress_bar=false \\
        '+callbacks.progress={_target_: common.lightning.progress.ProgressLog}'
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Optional

import lightning as L

__all__ = ["ProgressLog", "format_seconds"]


def format_seconds(s: float) -> str:
    """``3725 -> '1 h 02 min'``, ``95 -> '1 min 35 s'``, ``7 -> '7 s'``."""
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


class ProgressLog(L.Callback):
    """Print (rank 0) ``[stage] epoch e/E, batch b/B (p %) | <metrics> | <time> elapsed, ~<time> left`` at each
    ``every`` fraction of a training epoch and at its end (after its validation). ``metrics``: the names of the
    trainer's ``callback_metrics`` to show (a name ending in ``/``: every metric under it)."""

    result_neutral = True

    def __init__(self, every: float = 0.25, metrics: tuple[str, ...] = ("train/loss", "val/"),
                 printer: Optional[Callable[[str], None]] = None):
        if not 0 < every <= 1:
            raise ValueError(f"every must be in (0, 1], got {every}")
        self.every, self.metrics = every, tuple(metrics)
        self.printer = printer or (lambda msg: print(msg, flush=True))
        self._t0: Optional[float] = None
        self._epochs_done = 0  # epochs finished in this fit (a resumed fit starts at its checkpoint's epoch)
        self._marks: set[int] = set()

    def _say(self, trainer: L.Trainer, msg: str) -> None:
        if trainer.is_global_zero:
            self.printer(msg)

    def _metrics(self, trainer: L.Trainer) -> str:
        out = []
        for name, value in sorted(trainer.callback_metrics.items()):
            shown = any(name.startswith(m) if m.endswith("/") else name == m for m in self.metrics)
            if shown and getattr(value, "numel", lambda: 1)() == 1:
                out.append(f"{name} {float(value):.4g}")
        return ", ".join(out)

    @staticmethod
    def _total(trainer: L.Trainer) -> Optional[int]:
        return trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None

    def _left(self, trainer: L.Trainer, done_fraction_of_epoch: float) -> str:
        """Elapsed time and the time left at this fit's mean pace so far."""
        elapsed = time.perf_counter() - (self._t0 or time.perf_counter())
        done = self._epochs_done + done_fraction_of_epoch
        total = self._total(trainer)
        if total is None or done <= 0:
            return f"{format_seconds(elapsed)} elapsed"
        remaining = total - trainer.current_epoch - done_fraction_of_epoch
        return f"{format_seconds(elapsed)} elapsed, ~{format_seconds(elapsed / done * max(remaining, 0))} left"

    def _where(self, trainer: L.Trainer) -> str:
        total = self._total(trainer) or "?"
        return f"[{Path(trainer.default_root_dir).name}] epoch {trainer.current_epoch + 1}/{total}"

    def on_fit_start(self, trainer, pl_module) -> None:
        self._t0, self._epochs_done = time.perf_counter(), 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._marks = set()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = trainer.num_training_batches
        if not isinstance(n, int) or n <= 0 or math.isinf(n):
            return
        quarter = int((batch_idx + 1) / n / self.every)  # how many `every` fractions are complete
        if quarter >= 1 and batch_idx + 1 < n and quarter not in self._marks:
            self._marks.add(quarter)
            frac = (batch_idx + 1) / n
            metrics = self._metrics(trainer)
            self._say(trainer, f"{self._where(trainer)}, batch {batch_idx + 1}/{n} ({100 * frac:.0f} %)"
                               + (f" | {metrics}" if metrics else "") + f" | {self._left(trainer, frac)}")

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after this epoch's validation
        metrics = self._metrics(trainer)
        self._say(trainer, f"{self._where(trainer)} done" + (f" | {metrics}" if metrics else "")
                           + f" | {self._left(trainer, 1.0)}")
        self._epochs_done += 1
