"""Staged pipelines: each stage checkpoints, finished stages are skipped on rerun, a killed stage resumes.

A stage is identified by its name and a hash of the settings it depends on, so two rows that
share a stage (e.g. DIET-SNN's ANN, used by every ablation row) train it once::

    ann = ctx.stage("ann", train_ann, depends={"data": cfg.data, "ann": cfg.ann, "seed": cfg.seed})

``fn(stage_dir)`` returns a JSON-serialisable dict; it is stored in ``<stage_dir>/done.json`` and
returned unchanged on every later call. ``done.json`` also records the code the stage ran with (commit and
the blob ids of its source files): a row that reuses a stage reports that code, not today's, so a stage
trained by older code makes the row's result stale (:func:`.provenance.merge_stage_code`). Training inside a stage goes through
:meth:`RunContext.fit`, which resumes from ``<stage_dir>/checkpoints/last.ckpt`` after a crash.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, ListConfig, OmegaConf

from .provenance import git_state, source_files

from .distributed import barrier, broadcast, is_global_zero, world

__all__ = ["config_hash", "run_stage"]


def _plain(obj: Any) -> Any:
    if isinstance(obj, (DictConfig, ListConfig)):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def config_hash(obj: Any, n: int = 10) -> str:
    blob = json.dumps(_plain(obj), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def run_stage(root: Path, name: str, fn: Callable[[Path], dict], depends: Any, log=print) -> tuple[dict, dict]:
    """Run or reuse a stage. Returns ``(result, info)``; ``info`` has the stage's own compute seconds
    (measured when it ran, also when it is reused now) and whether it was reused.

    Under DDP (see :mod:`.distributed`) rank 0 decides whether the stage is finished and writes its files
    (``depends.json``, ``done.json``); every rank runs ``fn`` (its Trainer needs all of them) and returns
    rank 0's result, received after rank 0 has written ``done.json``."""
    stage_dir = Path(root) / f"{name}-{config_hash(depends)}"
    done = stage_dir / "done.json"
    # a rank that looked at the file itself could see the marker rank 0 writes a moment later and skip
    # the stage the others run; a process still alone (before its first fit) can only look itself
    alone = world()[1] == 1
    stored = broadcast(json.loads(done.read_text()) if (alone or is_global_zero()) and done.is_file() else None)
    if stored is not None:
        log(f"[stage {name}] finished earlier, reusing {stage_dir}")
        return stored["result"], {"seconds": stored.get("seconds"), "reused": True, "code": stored.get("code")}
    if is_global_zero():
        stage_dir.mkdir(parents=True, exist_ok=True)
        (stage_dir / "depends.json").write_text(json.dumps(_plain(depends), indent=1, sort_keys=True, default=str))
    log(f"[stage {name}] running in {stage_dir}")
    t0 = time.perf_counter()
    result = fn(stage_dir)
    seconds = round(time.perf_counter() - t0, 2)
    barrier()  # every rank finished the stage (one that failed fails this barrier): only then it is done
    code = {"commit": git_state()["commit"], "sources": source_files()}  # what produced it, for reuse later
    if is_global_zero():
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stage": name, "result": result, "seconds": seconds, "code": code},
                                  indent=1, sort_keys=True))
        tmp.replace(done)
    result, seconds = broadcast((result, seconds))  # the others wait here until done.json is written
    return result, {"seconds": seconds, "reused": False, "code": code}
