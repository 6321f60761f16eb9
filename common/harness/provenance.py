"""Provenance of a run: commit, hardware, library versions, and every setting that affects results."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import platform
import sys
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "hydra-core", "numpy", "tonic", "triton", "wandb")


def git_state(repo: Path = REPO_ROOT) -> dict:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = run("rev-parse", "HEAD")
    dirty = bool(run("status", "--porcelain", "--untracked-files=no", "--", "common", "papers", "configs", "scripts"))
    return {"commit": commit or None, "dirty": dirty}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    hw = {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
        hw["gpu_count"] = torch.cuda.device_count()
    return hw


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def determinism() -> dict:
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


# repository files that do not change what a run measures: reports, claims and the paper tables' metadata
RESULT_NEUTRAL = ("common/reporting/", "common/claims.py", "papers/*/report.py", "papers/*/claims.py",
                  "papers/*/rows.py", "configs/logger/")


def blob_sha(path: Path) -> str:
    """Git's blob id of a file's content (``git hash-object``), computed without git."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _neutral(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pat + "*") if pat.endswith("/") else fnmatch.fnmatch(rel, pat)
               for pat in RESULT_NEUTRAL)


def source_files(paper: Optional[str] = None, repo: Path = REPO_ROOT) -> dict[str, str]:
    """``{path: blob id}`` of every repository file the run depended on: the Python modules it imported,
    the C++ kernel sources when the fused CPU kernels were loaded, the data-less scripts it ran from, and
    the configs (all of ``configs/`` except other papers' experiment folders). RESULTS.md calls a result
    stale when one of these differs at HEAD in a way a run can see: not in comments or docstrings, not in one
    of the paper's configs outside the row's defaults chain (:mod:`common.reporting.stale`)."""
    repo = Path(repo).resolve()
    files: set[Path] = set()
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f:
            files.add(Path(f).resolve())
    if "common.kernels.cpu" in sys.modules:
        files.update((repo / "common" / "kernels" / "csrc").glob("*"))
    files.add(repo / "scripts" / "reproduce.py")
    for f in (repo / "configs").rglob("*.yaml"):
        parts = f.relative_to(repo / "configs").parts
        other = paper is not None and len(parts) > 1 and (
            (parts[0] == "experiment" and parts[1] != paper) or (parts[0] not in _SHARED_CONFIG_GROUPS and parts[0] != paper))
        if not other:
            files.add(f)
    out = {}
    for f in files:
        try:
            rel = f.relative_to(repo).as_posix()
        except ValueError:
            continue  # outside the repository (site-packages, the standard library)
        if rel.startswith((".venv/", "tests/")) or "/site-packages/" in rel or _neutral(rel) or not f.is_file():
            continue
        out[rel] = blob_sha(f)
    return dict(sorted(out.items()))


# config groups every paper composes from (the other folders under configs/ belong to one paper each)
_SHARED_CONFIG_GROUPS = ("data", "trainer", "logger", "paths", "scale", "experiment")


def merge_stage_code(sources: dict[str, str], stage_code: list) -> dict[str, str]:
    """The blob ids a row's numbers come from: today's ``sources``, except where a stage it reused was
    produced by other code (that stage's recorded blob wins). A reused stage with no code record (made by
    an older harness) adds a pseudo-file that no checkout has, so the result can only be stale."""
    merged = dict(sources)
    for name, code in stage_code:
        if not code or not code.get("sources"):
            merged[f"<stage {name}: code not recorded>"] = "unknown"
            continue
        for path, sha in code["sources"].items():
            if path in merged and merged[path] != sha:
                merged[path] = sha
    return dict(sorted(merged.items()))


def provenance(paper: Optional[str] = None) -> dict:
    return {"git": git_state(), "hardware": hardware(), "versions": versions(), "determinism": determinism(),
            "sources": source_files(paper)}
