"""Run scripts/reproduce.py in a subprocess with the selftest plugin paper and an isolated runs dir."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE_CONFIGS = Path(__file__).resolve().parent / "configs"


def reproduce(tmp: Path, *overrides: str, check: bool = True, timeout: int = 600, plugins: bool = True,
              multirun: bool = False):
    env = dict(os.environ)
    if plugins:
        env["SNN_REPRO_PLUGINS"] = "tests.harness_fixture.rows"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("WANDB_MODE", "offline")
    cmd = [sys.executable, str(REPO / "scripts" / "reproduce.py"), *(["-m"] if multirun else []),
           f"hydra.searchpath=[file://{FIXTURE_CONFIGS}]",
           f"paths.runs_dir={tmp / 'runs'}", f"paths.results_dir={tmp / 'results'}",
           f"paths.output_dir={tmp / 'outputs'}", *overrides]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"reproduce failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def results(tmp: Path, paper: str = "selftest", scale: str = "smoke") -> dict:
    out = {}
    for p in (tmp / "runs" / paper).glob(f"*/{scale}-seed*/result.json"):
        d = json.loads(p.read_text())
        out[d["row"]["id"]] = d
    return out
