"""Machine-readable row results: one JSON per (paper, row), the only source of RESULTS.md's numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from ..registry import Row
from .provenance import provenance as current_provenance

SCHEMA = 1


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


def check_tolerance(metrics: dict, tolerance: dict) -> dict:
    """``{metric: {"value", "band", "ok"}}``; a missing metric fails its band."""
    out = {}
    for name, band in (tolerance or {}).items():
        lo, hi = band
        v = metrics.get(name)
        ok = v is not None and (lo is None or v >= lo) and (hi is None or v <= hi)
        out[name] = {"value": v, "band": [lo, hi], "ok": bool(ok)}
    return out


def build_result(*, paper: str, row: Row, scale: str, seed: int, metrics: dict, extras: dict, config: dict,
                 wall_time_s: float, stages: list, tolerance: Optional[dict] = None,
                 provenance: Optional[dict] = None) -> dict:
    return _clean({
        "schema": SCHEMA,
        "paper": paper,
        "row": row.to_dict(),
        "scale": scale,
        "seed": seed,
        "metrics": metrics,
        "reported": row.reported,
        "tolerance": check_tolerance(metrics, tolerance or {}),
        "extras": extras,
        "stages": stages,
        "wall_time_s": round(wall_time_s, 1),  # this invocation (reused stages cost ~0)
        "compute_time_s": round(sum(st.get("seconds") or 0.0 for st in stages), 1),  # the stages' own run time
        "provenance": provenance or current_provenance(),
        "config": config,
    })


def write_result(result: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def load_results(root: Path) -> list[dict]:
    out = []
    for p in sorted(Path(root).glob("*/*.json")):
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"result file {p} is not valid JSON: {e}") from e
        if isinstance(d, dict) and d.get("schema") == SCHEMA and "row" in d:
            d["_path"] = str(p)
            out.append(d)
    return out
