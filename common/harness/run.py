"""Run one registered row: compose its experiment config at a scale, call its runner, write its result."""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
from hydra import compose
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig, OmegaConf

from ..registry import Row, get_paper, get_row, SCALES
from .context import RunContext
from .distributed import barrier
from .provenance import merge_stage_code, provenance
from .results import build_result, result_path, write_result

__all__ = ["select_rows", "register_row_keys", "compose_row", "seeds_to_run", "run_row", "resolve_runner"]

# keys that select what runs; scripts/reproduce.py sets them per row
_SELECTION = ("paper", "row", "scale", "experiment")


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


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


ROW_KEYS = "row_keys"  # config group of the open schema below: "open" (the driver's composition) | "none" (a row's)
ConfigStore.instance().store(group=ROW_KEYS, name="none", node={}, package="_global_")


def register_row_keys(config_dir: str | Path) -> list[str]:
    """Let the driver's own composition accept overrides of row keys (``ann.max_epochs=3``,
    ``module.optimizer.lr=1e-4``) before a row is chosen: every top-level key that a row config under
    ``config_dir`` sets becomes an open (non-struct) node of the config ``row_keys/open``, which
    ``configs/reproduce.yaml`` lists as an optional default. :func:`compose_row` selects ``none``, so a row is
    composed strictly (a misspelt key is an error there). Returns the keys."""
    import yaml

    root = Path(config_dir)
    driver = set((yaml.safe_load((root / "reproduce.yaml").read_text()) or {}))
    groups = {"trainer", "logger", "paths", "data", "scale", "hydra"}
    keys: dict[str, bool] = {}
    for f in sorted(root.rglob("*.yaml")):
        if f.parent == root or f.relative_to(root).parts[0] in groups or "@package _global_" not in f.read_text():
            continue
        for k, v in (yaml.safe_load(f.read_text()) or {}).items():
            if k not in driver and k not in ("defaults", "scales", "hydra", "paths", "logger"):
                keys[k] = keys.get(k, False) or isinstance(v, dict)  # data/trainer too: rows add keys to them
    node = OmegaConf.create({k: ({} if is_dict else None) for k, is_dict in keys.items()})
    for k, is_dict in keys.items():
        if is_dict:
            OmegaConf.set_struct(node[k], False)
    ConfigStore.instance().store(group=ROW_KEYS, name="open", node=node, package="_global_")
    return sorted(keys)


def compose_row(paper: str, row: str, scale: str, overrides: Sequence[str] = (), seed: Optional[int] = None) -> DictConfig:
    """The config one row runs with (needs an initialised Hydra: inside ``@hydra.main`` or ``initialize_*``).

    Hydra composes ``reproduce.yaml < experiment=<paper>/<row> < scale=<scale> < the row's scales.<scale>
    block < overrides`` (command-line overrides are applied after every config, so they win for every key).
    The row's block is registered as the config ``row_scale/<paper>.<row>.<scale>`` and appended to the
    defaults list. ``overrides`` may hold ``hydra.searchpath=...``; paper/row/scale/experiment in it are ignored.
    """
    user = [o for o in overrides if _key(o) not in _SELECTION] + [f"{ROW_KEYS}=none"]
    if seed is not None:
        user = [o for o in user if _key(o) != "seed"] + [f"seed={seed}"]
    select = [f"paper={paper}", f"row={row}", f"scale={scale}", f"experiment={paper}/{row}"]
    try:
        cfg = compose(config_name="reproduce", overrides=[*user, *select])
        block = (cfg.get("scales") or {}).get(scale)
        if block:
            name = f"{paper}.{row}.{scale}"
            ConfigStore.instance().store(group="row_scale", name=name, node=OmegaConf.to_container(block),
                                         package="_global_")
            cfg = compose(config_name="reproduce", overrides=[*user, *select, f"+row_scale={name}"])
    except MissingConfigException as e:
        if e.missing_cfg_file != f"experiment/{paper}/{row}":
            raise
        raise SystemExit(f"error: no experiment config for row {row}: expected "
                         f"configs/experiment/{paper}/{row}.yaml with a `runner:` entry") from None
    except ConfigCompositionException as e:  # e.g. an override of a key the row does not have (a typo)
        raise SystemExit(f"error: row {paper}/{row}: {e}") from None
    OmegaConf.set_struct(cfg, False)  # runners may add keys to copies of sub-configs
    cfg.pop("scales", None)  # applied above; the other scales' blocks do not belong to this run
    _check(cfg, user)
    return cfg


def _check(cfg: DictConfig, user: Sequence[str]) -> None:
    if "runner" not in cfg:
        raise SystemExit(f"error: no experiment config for row {cfg.row}: expected "
                         f"configs/experiment/{cfg.paper}/{cfg.row}.yaml with a `runner:` entry")
    if cfg.scale != "smoke" and cfg.get("data") is not None and cfg.data.get("fake"):
        raise SystemExit(f"error: data.fake=true makes up a tiny dataset for wiring checks; it runs at scale=smoke "
                         f"only, not at scale={cfg.scale} (its results would be written as real ones)")
    # settings a row sets per stage (e.g. DIET-SNN's ann.max_epochs / snn.max_epochs) would silently
    # replace the generic key: refuse it and name the keys to use
    given = {_key(o) for o in user if "=" in o}
    for key, use in (cfg.get("stage_keys") or {}).items():
        if key in given:
            raise SystemExit(f"error: {key} is set per stage in {cfg.paper}/{cfg.row}: use "
                             + " and ".join(f"{k}=..." for k in use) + " instead")


def seeds_to_run(cfg: DictConfig, overrides: Sequence[str]) -> list[int]:
    """``seed=N`` on the command line (also each job of ``-m seed=0,1``) runs that seed; otherwise ``seeds``."""
    if any(_key(o) == "seed" for o in overrides):
        return [int(cfg.seed)]
    seeds = cfg.get("seeds")
    return [int(s) for s in seeds] if seeds else [int(cfg.seed)]


def resolve_runner(path: str) -> Callable[[DictConfig, RunContext], dict]:
    mod, _, fn = path.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"runner {path!r} cannot be imported: {e}") from e


def run_row(cfg: DictConfig, row: Row) -> dict[str, Any]:
    t0 = time.perf_counter()
    ctx = RunContext(cfg, row)
    ctx.log(f"scale={cfg.scale} seed={cfg.seed} data_seed={cfg.get('data_seed', 0)} run_dir={ctx.run_dir}")
    runner = resolve_runner(str(cfg.runner))
    threads_before = torch.get_num_threads()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    try:
        out = runner(cfg, ctx)
        prov = provenance(ctx.paper)  # after the run: the threads and determinism flags it ran with
        prov["sources"] = merge_stage_code(prov["sources"], ctx.stage_code)  # reused stages: the code that made them
    finally:
        torch.set_num_threads(threads_before)
    metrics, extras = dict(out.get("metrics", {})), {**ctx.extras, **out.get("extras", {})}
    result = build_result(paper=ctx.paper, row=row, scale=ctx.scale, seed=ctx.seed,
                          data_seed=int(cfg.get("data_seed", 0)), metrics=metrics, extras=extras,
                          config=OmegaConf.to_container(cfg, resolve=True), wall_time_s=time.perf_counter() - t0,
                          stages=ctx.stage_log, provenance=prov)
    if ctx.is_global_zero:
        write_result(result, ctx.run_dir / "result.json")
        if ctx.scale != "smoke":
            path = write_result(result, result_path(cfg.paths.results_dir, ctx.paper, row.id, ctx.seed))
            ctx.log(f"result written to {path}")
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())
                            if isinstance(v, (int, float)) and (k.count("/") < 2 or k.endswith(("energy_pj", "spike_rate"))))
        ctx.log(f"done in {result['wall_time_s']:.0f}s: {summary}")
    barrier()  # under DDP the other ranks wait until rank 0 has written the result files
    return result
