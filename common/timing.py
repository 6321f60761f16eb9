"""Wall-clock timing for the benchmark scripts: one median, measured one way everywhere."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Optional


def time_calls(fn: Callable[[], object], reps: int, warmup: int = 1, budget_s: Optional[float] = None,
               sync: Optional[Callable[[], None]] = None) -> list[float]:
    """Milliseconds of ``reps`` calls of ``fn`` after ``warmup`` untimed ones.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs after every call, inside the timed span, so that
    asynchronous devices are measured to completion. With ``budget_s`` the loop stops early once at
    least five calls are timed and the budget is spent (long configurations keep the run bounded).
    """
    for _ in range(warmup):
        fn()
        if sync is not None:
            sync()
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < reps:
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(1000.0 * (time.perf_counter() - t0))
        if budget_s is not None and len(times) >= 5 and time.perf_counter() - t_start > budget_s:
            break
    return times


def median_ms(fn: Callable[[], object], reps: int, warmup: int = 1, **kwargs) -> float:
    """Median milliseconds per call of ``fn`` (see :func:`time_calls`)."""
    return statistics.median(time_calls(fn, reps, warmup, **kwargs))
