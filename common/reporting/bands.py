"""Regression bands: catch drift between a new run (the nightly) and the committed results.

A band is set from the seed spread of the committed runs, not from one measured value:
``mean ± max(3 · std, floor)``, where the floor depends on the kind of metric (:func:`floor`).
Bands are never a claim's verdict; :func:`compare` reports every metric of a new run that leaves
its band and every claim whose verdict changed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..claims import Stat, fmt_value, seed_stats

__all__ = ["floor", "band", "compare_metrics", "compare_verdicts"]

ABS_FLOOR_PCT = 0.01  # accuracies and accuracy gaps (fractions): 1 point
REL_FLOOR_TIME = 0.5  # wall-clock metrics (machine load): 50 % of the mean
REL_FLOOR = 0.05  # everything else: 5 % of the mean


def floor(metric: str, mean: float) -> float:
    """The smallest half-width of a band, by kind of metric."""
    if "seconds" in metric or metric.endswith("_s"):
        return REL_FLOOR_TIME * abs(mean)
    if metric.endswith("acc") or "/acc" in metric or metric.endswith("ann_minus_snn"):
        return ABS_FLOOR_PCT
    return max(REL_FLOOR * abs(mean), 1e-9)


def band(metric: str, stat: Stat) -> tuple[float, float]:
    half = max(3 * stat.std, floor(metric, stat.mean))
    return stat.mean - half, stat.mean + half


def _stats(runs: Sequence[Mapping]) -> dict[str, Stat]:
    names = sorted({k for m in runs for k, v in m.items() if isinstance(v, (int, float))})
    return {n: seed_stats([float(m[n]) for m in runs if isinstance(m.get(n), (int, float))]) for n in names}


def compare_metrics(current: Mapping[tuple, Sequence[Mapping]], reference: Mapping[tuple, Sequence[Mapping]]) -> list[str]:
    """Problems of ``current`` against the bands of ``reference``; both map (paper, row, scale) to the
    per-seed ``metrics`` dicts. A row or metric of the reference missing from the current run is a problem."""
    problems = []
    for key in sorted(reference):
        label = "/".join(key)
        if key not in current:
            problems.append(f"{label}: no result in the new run")
            continue
        cur = _stats(current[key])
        for name, ref in _stats(reference[key]).items():
            lo, hi = band(name, ref)
            got = cur.get(name)
            if got is None:
                problems.append(f"{label} {name}: missing from the new run")
            elif not lo <= got.mean <= hi:
                problems.append(f"{label} {name}: {fmt_value(name, got.mean, got.std, got.n)} left its regression band "
                                f"[{fmt_value(name, lo)}, {fmt_value(name, hi)}] (committed "
                                f"{fmt_value(name, ref.mean, ref.std, ref.n)})")
    return problems


def compare_verdicts(current: Mapping[str, str], reference: Mapping[str, str]) -> list[str]:
    """Claims (``paper/claim`` -> verdict) whose verdict differs between the committed and the new run."""
    return [f"claim {k}: verdict changed from '{reference[k]}' to '{current.get(k, 'missing')}'"
            for k in sorted(reference) if current.get(k) != reference[k]]
