"""Run one registered row: compose its experiment config at a scale, call its runner, write its result."""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf, open_dict

from ..registry import Row, get_paper, get_row, SCALES
from .context import RunContext
from .provenance import provenance
from .results import build_result, write_result

__all__ = ["select_rows", "apply_scale", "run_row", "resolve_runner"]


def select_rows(paper: str, row: str, scale: str) -> list[Row]:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    p = get_paper(paper)
    if row in (None, "all"):
        rows = p.rows_for(scale)
        if not rows:
            raise ValueError(f"paper {paper!r} has no rows runnable at scale={scale}; rows: "
                             + ", ".join(f"{r.id} ({'/'.join(r.scales)})" for r in p.rows.values()))
        return rows
    r = get_row(paper, row)
    if scale not in r.scales:
        raise ValueError(f"row {paper}/{row} does not run at scale={scale}; it runs at: {', '.join(r.scales)}"
                         + (f". Not run here: {r.not_run_here}" if r.not_run_here else ""))
    return [r]


def apply_scale(cfg: DictConfig, scale: str, cli_overrides: list[str]) -> DictConfig:
    """experiment config < generic scale defaults < the row's ``scales.<scale>`` < command line."""
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)  # scale blocks may add keys (e.g. trainer.limit_train_batches)
    layers = [cfg]
    generic = cfg.get("scale_defaults", {}).get(scale)
    if generic:
        layers.append(generic)
    specific = cfg.get("scales", {}).get(scale)
    if specific:
        layers.append(specific)
    merged = OmegaConf.merge(*layers)
    OmegaConf.set_struct(merged, False)
    values = [o for o in cli_overrides if "=" in o and not o.startswith(("+", "~")) and "." in o.split("=", 1)[0]]
    if values:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        for ov in OverridesParser.create().parse_overrides(values):
            if not ov.is_sweep_override():
                OmegaConf.update(merged, ov.key_or_group, ov.value(), merge=True)
    with open_dict(merged):
        merged.scale = scale
    return merged


def resolve_runner(path: str) -> Callable[[DictConfig, RunContext], dict]:
    mod, _, fn = path.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"runner {path!r} cannot be imported: {e}") from e


def run_row(cfg: DictConfig, row: Row) -> dict[str, Any]:
    t0 = time.perf_counter()
    prov = provenance()  # taken before the run: the commit and settings the run starts from
    ctx = RunContext(cfg, row)
    ctx.log(f"scale={cfg.scale} seed={cfg.seed} run_dir={ctx.run_dir}")
    runner = resolve_runner(str(cfg.runner))
    out = runner(cfg, ctx)
    metrics, extras = dict(out.get("metrics", {})), {**ctx.extras, **out.get("extras", {})}
    result = build_result(paper=ctx.paper, row=row, scale=ctx.scale, seed=ctx.seed, metrics=metrics, extras=extras,
                          config=OmegaConf.to_container(cfg, resolve=True), wall_time_s=time.perf_counter() - t0,
                          stages=ctx.stage_log, provenance=prov, tolerance=OmegaConf.to_container(cfg.tolerance) if cfg.get("tolerance") else {})
    if ctx.is_global_zero:
        write_result(result, ctx.run_dir / "result.json")
        if ctx.scale != "smoke":
            path = write_result(result, Path(cfg.paths.results_dir) / ctx.paper / f"{row.id}.json")
            ctx.log(f"result written to {path}")
        bad = [k for k, v in result["tolerance"].items() if not v["ok"]]
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())
                            if isinstance(v, (int, float)) and (k.count("/") < 2 or k.endswith(("energy_pj", "spike_rate"))))
        ctx.log(f"done in {result['wall_time_s']:.0f}s: {summary}" + (f"  OUT OF TOLERANCE: {bad}" if bad else ""))
    return result
