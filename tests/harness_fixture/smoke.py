"""Running a paper's rows at ``scale=smoke`` inside the test process, shared by the papers' test files.

The default suite runs a few rows per paper that together cover each pipeline branch and model kind; the others
run in the nightly job (marker ``slow``, ``scripts/nightly.sh``), so every row still runs at smoke every night.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def smoke_row_params(rows: Iterable, default: Iterable[str]) -> list:
    """``pytest.param`` per row id (rows or ids): ids in ``default`` run by default, the rest are ``slow``."""
    ids = [getattr(r, "id", r) for r in rows]
    default = set(default)
    unknown = default - set(ids)
    if unknown:
        raise ValueError(f"default smoke rows that are not rows: {sorted(unknown)}")
    return [pytest.param(i, id=i, marks=() if i in default else pytest.mark.slow) for i in ids]


def run_smoke_row(paper: str, row: str, tmp_path: Path, *overrides: str) -> dict:
    """Compose ``row`` at ``scale=smoke`` with its runs, results and outputs under ``tmp_path``; run it; return
    the result dict (``metrics``, ``extras``, ...)."""
    from hydra import initialize_config_dir

    from common.harness.run import compose_row, run_row
    from common.registry import get_row

    over = [f"paths.runs_dir={tmp_path}/runs", f"paths.results_dir={tmp_path}/res",
            f"paths.output_dir={tmp_path}/out", "logger=none", *overrides]
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose_row(paper, row, "smoke", over)
    return run_row(cfg, get_row(paper, row))
