import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("PROJECT_ROOT", str(REPO))
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    from common.data import resolve_data_dir

    d = resolve_data_dir()
    if not (d / "mnist").is_dir():
        pytest.fail(f"real MNIST expected under {d}/mnist (set SNN_REPRO_DATA); the suite's tests need ../shared/data")
    return d


@pytest.fixture
def no_git(monkeypatch):
    """Smoke runs record provenance; keep them from calling git (a stub commit)."""
    import common.harness.pipeline as pipeline
    import common.harness.provenance as provenance

    stub = lambda *a, **k: {"commit": None, "dirty": False}  # noqa: E731
    monkeypatch.setattr(provenance, "git_state", stub)
    monkeypatch.setattr(pipeline, "git_state", stub)
