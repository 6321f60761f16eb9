"""The Free Spoken Digit Dataset (FSDD) with the audio features of :mod:`common.data.audio`.

Files: ``<data_dir>/fsdd/recordings/<digit>_<speaker>_<index>.wav`` (8 kHz mono 16-bit; also looked up in
``<data_dir>/free-spoken-digit-dataset/recordings`` and ``<data_dir>/recordings``). Official split (upstream
README): take ``index`` 0-4 -> test (300 clips), 5-49 -> train (2,700); every speaker is in both. A
validation set of ``val_size`` clips is held out of train by ``data_seed``. Label = the digit.

Clips last 0.14-2.28 s: ``clip_s`` pads/cuts every clip to a fixed length, ``clip_s=None`` keeps each
clip's length (the batch is padded by :func:`collate_classification` and carries the lengths).
Batches are :class:`~common.data.sequence.SeqBatch` with ``x`` ``[T, B, F]``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset

from .audio import AudioClipDataset, AudioFeatures, write_wav
from .base import ArrayDataModule, missing_dataset
from .sequence import collate_classification
from .splits import hold_out

__all__ = ["FSDDDataModule", "fsdd_files", "write_fake_fsdd", "FSDD_PATTERN", "FSDD_SAMPLE_RATE"]

FSDD_PATTERN = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
FSDD_SAMPLE_RATE = 8000
FSDD_TEST_INDICES = range(0, 5)  # official: takes 0-4 are the test set


def _find(root: Path) -> Optional[Path]:
    for folder in (root / "fsdd" / "recordings", root / "free-spoken-digit-dataset" / "recordings", root / "recordings"):
        if folder.is_dir() and any(folder.glob("*.wav")):
            return folder
    return None


def fsdd_files(folder: Path) -> dict[str, list[tuple[Path, int]]]:
    """``{"train": [(path, digit), ...], "test": [...]}`` by the official index rule, sorted by file name."""
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for p in sorted(folder.glob("*.wav")):
        m = FSDD_PATTERN.match(p.name)
        if m is None:
            continue
        digit, _, idx = m.groups()
        out["test" if int(idx) in FSDD_TEST_INDICES else "train"].append((p, int(digit)))
    return out


def official_files(data_dir: Path) -> dict[str, list[tuple[Path, int]]]:
    """:func:`fsdd_files` of the recordings under ``data_dir``, with a clear error when the folder or one of
    the official splits is missing (every FSDD data module reads the corpus through this)."""
    folder = _find(Path(data_dir))
    if folder is None:
        raise missing_dataset(
            "FSDD", Path(data_dir) / "fsdd" / "recordings", ["<digit>_<speaker>_<index>.wav"],
            "Copy the `recordings/` folder of https://github.com/Jakobovski/free-spoken-digit-dataset there.")
    files = fsdd_files(folder)
    if not files["train"] or not files["test"]:
        raise missing_dataset("FSDD", folder, ["<digit>_<speaker>_<index>.wav with index 0-4 (test) and 5-49 (train)"],
                              "The folder lacks one of the official splits.")
    return files


def write_fake_fsdd(root: Path, speakers=("jackson", "theo"), takes: int = 7, seed: int = 0) -> Path:
    """A tiny FSDD in the official naming (random tones, 8 kHz) under ``root/fsdd/recordings``."""
    rng = np.random.default_rng(seed)
    for d in range(10):
        for s in speakers:
            for i in range(takes):
                n = int(rng.integers(1200, 4000))
                t = np.arange(n) / FSDD_SAMPLE_RATE
                write_wav(Path(root) / "fsdd" / "recordings" / f"{d}_{s}_{i}.wav",
                          0.3 * np.sin(2 * np.pi * (200 + 150 * d) * t), FSDD_SAMPLE_RATE)
    return Path(root)


class FSDDDataModule(ArrayDataModule):
    """FSDD (see module docstring). Feature settings are those of :class:`AudioFeatures`."""

    def __init__(self, kind: str = "logmel", n_mels: int = 40, n_mfcc: int = 40, win_ms: float = 25.0,
                 hop_ms: float = 10.0, n_fft: Optional[int] = None, fmin: float = 20.0, fmax: Optional[float] = None,
                 clip_s: Optional[float] = 1.0, val_size: int = 300, cache: bool = True, **kwargs):
        kwargs.setdefault("collate_fn", collate_classification)
        super().__init__(**kwargs)
        self.features = AudioFeatures(FSDD_SAMPLE_RATE, kind, n_mels, n_mfcc, win_ms, hop_ms, n_fft, fmin, fmax, clip_s)
        if val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {val_size}")
        self.val_size, self.cache = int(val_size), bool(cache)
        self.input_size = self.features.num_features

    @property
    def num_classes(self) -> int:
        return 10

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        files = official_files(self.data_dir)
        train = AudioClipDataset(*zip(*files["train"]), self.features, self.cache)
        test = AudioClipDataset(*zip(*files["test"]), self.features, self.cache)
        return hold_out(train, test, self.val_size, self.split_seed)
