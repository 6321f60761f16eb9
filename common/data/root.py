"""The suite's single data-root setting."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV_VAR = "SNN_REPRO_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_data_dir(data_dir: "Optional[str | os.PathLike]" = None) -> Path:
    """``data_dir`` if given, else ``$SNN_REPRO_DATA``, else ``<repo>/../shared/data``."""
    if data_dir not in (None, ""):
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return (REPO_ROOT.parent / "shared" / "data").resolve()
