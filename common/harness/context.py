"""Everything a row's runner needs: config, directories, seeded trainers with resume, stages, logging."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from ..lightning.callbacks import EpochTimer
from ..registry import Row
from .distributed import broadcast, is_global_zero, register_launched
from .pipeline import config_hash, run_stage

__all__ = ["RunContext"]


class RunContext:
    """Per-row run state. ``runs_dir/<paper>/<row>/<scale>-seed<seed>-<hash>`` holds the row's stages."""

    def __init__(self, cfg: DictConfig, row: Row):
        self.cfg, self.row = cfg, row
        self.paper, self.scale, self.seed = str(cfg.paper), str(cfg.scale), int(cfg.seed)
        key = OmegaConf.to_container(cfg, resolve=True)
        for k in ("logger", "paths", "hydra", "seeds", "callbacks"):  # seeds: the list a command runs, not this run
            key.pop(k, None)  # type: ignore[union-attr]
        self.run_settings = self._run_settings(cfg)
        key["callbacks"] = self.run_settings["callbacks"]  # type: ignore[index]
        self.run_dir = Path(cfg.paths.runs_dir) / self.paper / row.id / f"{self.scale}-seed{self.seed}-{config_hash(key)}"
        self.stages_root = Path(cfg.paths.runs_dir) / self.paper / "_stages"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.extras: dict[str, Any] = {}  # per-layer tables, learned parameters, ... -> result JSON
        self.stage_log: list[dict] = []
        self.stage_code: list[tuple[str, Optional[dict]]] = []  # (stage, the code it ran with) per stage used
        self._resume_from: Optional[str] = cfg.get("ckpt_path")

    @property
    def is_global_zero(self) -> bool:
        """Rank 0 (known before a Trainer exists): the only process that writes files and prints."""
        return is_global_zero()

    @staticmethod
    def _run_settings(cfg: DictConfig) -> dict:
        """Settings outside a stage's own config that change what it computes, part of every stage's hash:
        the checkpoint a run starts from, extra callbacks (except those whose class sets
        ``result_neutral = True``), torch threads (epoch times) and the data seed."""
        callbacks, given = {}, cfg.get("callbacks")
        for name, cb in (OmegaConf.to_container(given, resolve=True) if given else {}).items():
            if cb is not None and not getattr(get_class(cb["_target_"]), "result_neutral", False):
                callbacks[name] = cb
        return {"ckpt_path": cfg.get("ckpt_path"), "callbacks": callbacks, "threads": cfg.get("threads"),
                "data_seed": cfg.get("data_seed", 0)}

    # ------------------------------------------------------------------ logging
    def log(self, msg: str) -> None:
        if self.is_global_zero:
            print(f"[{self.paper}/{self.row.id}] {msg}", flush=True)

    # ------------------------------------------------------------------ stages
    def stage(self, name: str, fn: Callable[[Path], dict], depends: Any) -> dict:
        """Run (or reuse) a stage; ``depends`` is what the stage's result depends on."""
        depends = {"scale": self.scale, "seed": self.seed, "run": self.run_settings, "stage": depends}
        result, info = run_stage(self.stages_root, name, fn, depends, log=self.log)
        code = info.pop("code", None)
        self.stage_code.append((name, code))
        self.stage_log.append({"stage": name, "hash": config_hash(depends),
                               "commit": (code or {}).get("commit"), **info})
        return result

    # ------------------------------------------------------------------ trainers
    def trainer(self, stage_dir: Path, name: str, monitor: Optional[str] = "val/acc", **overrides) -> L.Trainer:
        cfg = self.cfg
        ckpt_dir = Path(stage_dir) / "checkpoints"
        # last.ckpt has its own callback: Lightning's save_last=True writes it only when the monitored
        # checkpoint is saved in the same step, so it would stay at the best epoch whenever the last epoch is
        # worse (test_ckpt=last would test the best weights, a resume would restart from the best epoch). It saves
        # at every training epoch's end (after that epoch's validation), also when validation is rarer.
        callbacks = [ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max",
                                     save_top_k=1 if monitor else 0),
                     ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                     enable_version_counter=False, save_on_train_epoch_end=True)]
        callbacks.append(EpochTimer())
        for cb in (cfg.get("callbacks") or {}).values():
            if cb is not None:
                callbacks.append(instantiate(cb))
        logger = False
        if cfg.get("logger"):
            logger = instantiate(cfg.logger, save_dir=str(self.run_dir / "logs"), name=name,
                                 **self._logger_extra(name))
        trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
        trainer_cfg.update(overrides)  # type: ignore[union-attr]
        trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=logger, default_root_dir=str(stage_dir),
                              _convert_="all")
        return trainer

    def _logger_extra(self, name: str) -> dict:
        target = str(self.cfg.logger.get("_target_", ""))
        if target.endswith("WandbLogger"):
            return {"group": f"{self.paper}/{self.row.id}", "job_type": name,
                    "config": OmegaConf.to_container(self.cfg, resolve=True)}
        return {}

    def fit(self, trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
            stage_dir: Path) -> Optional[str]:
        """Fit, resuming from ``last.ckpt`` (or ``ckpt_path=``) when present. Returns the best checkpoint."""
        last = Path(stage_dir) / "checkpoints" / "last.ckpt"
        ckpt = None
        if self._resume_from:
            ckpt, self._resume_from = self._resume_from, None  # a user's ckpt_path resumes the first fit
        elif last.is_file():
            ckpt = str(last)
        ckpt = broadcast(ckpt)  # under DDP rank 0 decides (another rank might see a checkpoint it writes)
        if ckpt:
            self.log(f"resuming from {ckpt}")
            self.extras.setdefault("resumed_from", {})[Path(stage_dir).name] = ckpt
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
        register_launched(trainer)  # rank 0 waits for the processes DDP started at the end of the command
        timer = next((c for c in trainer.callbacks if isinstance(c, EpochTimer)), None)
        if timer is not None:
            self.extras.setdefault("train_epoch_seconds", {})[Path(stage_dir).name] = timer.train_epoch_seconds
        cb = trainer.checkpoint_callback
        return getattr(cb, "best_model_path", None) or None

    def test(self, trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
             ckpt: Optional[str] = None) -> dict:
        out = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
        return {k: float(v) for k, v in (out[0] if out else {}).items()}

    def log_energy_table(self, trainer: L.Trainer, report: Optional[dict], key: str = "test/energy_layers") -> None:
        """Send the per-layer op/energy table, spike rates and their plot to loggers that take them (W&B)."""
        if not report or not report.get("layers"):
            return
        for lg in trainer.loggers:
            if hasattr(lg, "log_table"):
                cols = list(report["layers"][0])
                lg.log_table(key=key, columns=cols, data=[[r[c] for c in cols] for r in report["layers"]])
                if report.get("activity"):
                    acols = list(report["activity"][0])
                    lg.log_table(key=key.replace("layers", "spikes"), columns=acols,
                                 data=[[r[c] for c in acols] for r in report["activity"]])
            if hasattr(lg, "log_image") and report.get("activity"):
                from ..reporting import plot_spike_rates

                png = self.run_dir / "plots" / f"{key.replace('/', '_')}_spike_rates.png"
                if plot_spike_rates([{"row": {"id": self.row.id}, "extras": {"energy": report}}], png,
                                    f"{self.paper}/{self.row.id}: per-layer spike rates"):
                    lg.log_image(key=key.replace("layers", "spike_rates"), images=[str(png)])

    @staticmethod
    def close_logger(trainer: L.Trainer) -> None:
        """Finish W&B runs so the next row/stage (and multirun jobs) start cleanly."""
        for lg in trainer.loggers:
            exp = getattr(lg, "_experiment", None)
            if exp is not None and hasattr(exp, "finish"):
                exp.finish()

    def instantiate(self, node: Any, **kwargs) -> Any:
        return instantiate(node, **kwargs)

    @staticmethod
    def seed_everything(seed: int) -> None:
        L.seed_everything(seed, workers=True, verbose=False)
        torch.use_deterministic_algorithms(True, warn_only=True)
