"""Synthetic result files for the reporting tests (written by the tests themselves)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from common.harness.results import SCHEMA

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "tests.reporting.fake_paper"


def head_commit() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def write_result(root: Path, paper: str, row: str, seed: int, metrics: dict, scale: str = "mini",
                 commit: str | None = None, **extra) -> Path:
    d = {"schema": SCHEMA, "paper": paper, "scale": scale, "seed": seed, "data_seed": 0, "metrics": metrics,
         "row": {"id": row, "dataset": "D-mini", "architecture": "net", "time_steps": 4, "group": "",
                 "reported": {}, "scales": [scale]},
         "extras": {}, "stages": [], "config": {}, "wall_time_s": 1.0, "compute_time_s": 1.0,
         "provenance": {"git": {"commit": commit if commit is not None else head_commit(), "dirty": False},
                        "hardware": {"cpu": "test cpu", "torch_threads": 1}, "versions": {"torch": "x"}}}
    d.update(extra)
    path = Path(root) / paper / row / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
    return path


def write_fake_results(root: Path, acc_a=(0.90, 0.91, 0.92), acc_b=(0.80, 0.81, 0.79)) -> Path:
    """Three seeds of the fake paper's two mini rows."""
    for seed, (a, b) in enumerate(zip(acc_a, acc_b)):
        write_result(root, "zz_fake", "mini_a", seed, {"test/acc": a})
        write_result(root, "zz_fake", "mini_b", seed, {"test/acc": b})
    return Path(root)


def plugin_env(**extra) -> dict:
    env = dict(os.environ, SNN_REPRO_PLUGINS=PLUGIN, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env

