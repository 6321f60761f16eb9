"""Logger factories."""
from __future__ import annotations

import os


def wandb_logger(save_dir: str, name: str, project: str = "snn-repro", entity=None, log_model: bool = False,
                 group=None, job_type=None, config=None):
    """W&B logger that runs offline unless an API key (or WANDB_MODE=online) is set."""
    from lightning.pytorch.loggers import WandbLogger

    offline = os.environ.get("WANDB_MODE", "") != "online" and not os.environ.get("WANDB_API_KEY")
    return WandbLogger(name=f"{group}/{name}" if group else name, save_dir=save_dir, project=project, entity=entity,
                       offline=offline, log_model=log_model, group=group, job_type=job_type, config=config)
