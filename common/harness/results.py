"""Machine-readable row results: one JSON per (paper, row, seed), the only source of RESULTS.md's numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from ..registry import Row
from .provenance import provenance as current_provenance

SCHEMA = 2  # 2: one file per seed (<paper>/<row>/seed<seed>.json), `data_seed` recorded


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return _clean(obj.item())
        except (ValueError, RuntimeError):
            return _clean(obj.tolist())
    return obj


def build_result(*, paper: str, row: Row, scale: str, seed: int, data_seed: int, metrics: dict, extras: dict,
                 config: dict, wall_time_s: float, stages: list, provenance: Optional[dict] = None) -> dict:
    return _clean({
        "schema": SCHEMA,
        "paper": paper,
        "row": row.to_dict(),
        "scale": scale,
        "seed": seed,
        "data_seed": data_seed,  # data splits / subsets / test subset (the same for every seed)
        "metrics": metrics,
        "reported": row.reported,
        "extras": extras,
        "stages": stages,
        "wall_time_s": round(wall_time_s, 1),  # this invocation (reused stages cost ~0)
        "compute_time_s": round(sum(st.get("seconds") or 0.0 for st in stages), 1),  # the stages' own run time
        "provenance": provenance or current_provenance(),
        "config": config,
    })


def result_path(results_dir: str | Path, paper: str, row: str, seed: int) -> Path:
    """Where a committed result lives: one file per seed, ``<results_dir>/<paper>/<row>/seed<seed>.json``."""
    return Path(results_dir) / paper / row / f"seed{int(seed)}.json"


def write_result(result: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def load_results(root: Path) -> list[dict]:
    """Every result file ``<root>/<paper>/<row>/seed<seed>.json``, sorted by path, each with its
    path under ``"_path"``. A result file of another schema (including the old one-level layout
    ``<root>/<paper>/<row>.json``) is an error, never skipped."""
    root = Path(root)
    out = []
    for p in sorted(root.glob("*/*.json")):
        d = _read(p) if p.parent.name != "bench" else {}
        if isinstance(d, dict) and "schema" in d:
            raise ValueError(f"result file {p} has schema {d['schema']!r} in the old layout; this "
                             f"version reads schema {SCHEMA} files at <results>/<paper>/<row>/seed<seed>.json")
    for p in sorted(root.glob("*/*/seed*.json")):
        d = _read(p)
        if not isinstance(d, dict) or d.get("schema") != SCHEMA or "row" not in d:
            schema = d.get("schema") if isinstance(d, dict) else None
            raise ValueError(f"result file {p} has unknown schema {schema!r} (this version reads schema {SCHEMA} "
                             "with a 'row' entry): regenerate it with scripts/reproduce.py")
        d["_path"] = str(p)
        out.append(d)
    return out


def _read(p: Path) -> Any:
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"result file {p} is not valid JSON: {e}") from e
