"""Where data modules keep what they derive from the raw files (extracted archives, decoded arrays, encoded
spike trains), and the content hash they key it by."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

__all__ = ["CACHE_ENV_VAR", "default_cache_dir", "file_sha256"]

CACHE_ENV_VAR = "SNN_REPRO_CACHE"


def default_cache_dir(cache_dir: "Optional[str | os.PathLike]" = None) -> Path:
    """``cache_dir`` if given, else ``$SNN_REPRO_CACHE``, else ``~/.cache/snn_repro``."""
    if cache_dir not in (None, ""):
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "snn_repro"


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
