"""Rank handling for runs under Lightning's DDP (``trainer=ddp``, ``trainer=ddp_cpu``, torchrun, SLURM).

Lightning's launcher starts the other processes of a node by re-executing the whole command with
``LOCAL_RANK``/``NODE_RANK``/``WORLD_SIZE`` set, when the first ``trainer.fit`` starts. Those processes
therefore also run everything outside the Trainer (stage checks, plain evaluation loops, result writing),
first alone (until their own first ``fit`` joins the process group) and then in lockstep with rank 0.
The rules every stage follows:

- the rank is known before any Trainer exists (:func:`is_global_zero`, from the launcher's environment as
  Lightning reads it), and only rank 0 writes files;
- once the process group exists, rank 0 decides and the others follow (:func:`broadcast`), and the others
  wait (:func:`barrier`) until rank 0 has written what they may read next;
- the command fails when any process fails (:func:`joined_ranks`).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from lightning.fabric.utilities.rank_zero import rank_zero_only

__all__ = ["is_global_zero", "world", "broadcast", "barrier", "on_rank_zero", "all_reduce_sum",
           "register_launched", "joined_ranks"]

T = TypeVar("T")
_launched: list[subprocess.Popen] = []  # processes Lightning's launcher started from this one (rank 0 of a node)


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised process group, ``(0, 1)`` before one exists."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_global_zero() -> bool:
    """Whether this process is global rank 0, also before any Trainer or process group exists.

    Uses Lightning's ``rank_zero_only.rank`` (``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``, ... read at import,
    later set by the Trainer) and, for processes started by Lightning's launcher on another node, ``NODE_RANK``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    node = os.environ.get("NODE_RANK") or os.environ.get("GROUP_RANK") or "0"
    return int(rank_zero_only.rank) == 0 and ("RANK" in os.environ or int(node) == 0)


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if world()[1] > 1:
        dist.barrier()


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every process (pickled; no-op without a process group)."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_rank_zero(fn: Callable[[], T]) -> T:
    """Run ``fn`` once, on rank 0, and return its result on every process.

    Before the process group exists every process runs ``fn`` itself (it is alone then). ``fn`` must not
    use collectives (it runs on one process)."""
    if world()[1] == 1:
        return fn()
    return broadcast(fn() if is_global_zero() else None)


def all_reduce_sum(*values: float) -> list[float]:
    """Sum numbers over all processes (unchanged without a process group)."""
    if world()[1] == 1:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def register_launched(trainer: Any) -> None:
    """Remember the processes the trainer's launcher started (rank 0 waits for them in :func:`joined_ranks`)."""
    procs = getattr(getattr(trainer.strategy, "launcher", None), "procs", None) or []
    _launched.extend(p for p in procs if p not in _launched)


@contextlib.contextmanager
def joined_ranks() -> Iterator[None]:
    """Wrap a whole command: at the end every process waits for the others, and rank 0 exits non-zero
    when a process it launched failed. On an error, rank 0 stops the processes it launched."""
    try:
        yield
    except BaseException:
        for p in _launched:
            if p.poll() is None:
                p.kill()
        raise
    barrier()
    failed = [(i + 1, p.wait()) for i, p in enumerate(_launched)]
    failed = [(r, rc) for r, rc in failed if rc != 0]
    if failed:
        raise SystemExit("error: " + "; ".join(f"the process of local rank {r} failed (exit code {rc})"
                                               for r, rc in failed))
