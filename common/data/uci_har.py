"""UCI HAR (Human Activity Recognition Using Smartphones): the 9 raw inertial channels, 128 samples a window.

Files (official layout) under ``<data_dir>/uci_har/UCI HAR Dataset`` (or ``<data_dir>/UCI HAR Dataset``):
``{train,test}/Inertial Signals/<channel>_{train,test}.txt`` — plain or xz-compressed (``.txt.xz``, the form in
``../shared/data``) — one window per line, 128 values; ``{train,test}/y_{train,test}.txt`` (labels 1-6) and
``{train,test}/subject_{train,test}.txt``. Channels in the usual order: body_acc x/y/z, body_gyro x/y/z,
total_acc x/y/z. Labels are ``y - 1``.

Split: the official one by subject (21 train / 9 test subjects). ``val_subjects`` whole training subjects
(drawn by ``data_seed``) are held out for validation (0: validate on test, monitoring only). Each channel is
standardised with the mean and std of the training windows (after the validation subjects are removed).
A sample is ``x [128, 9]`` time-first; batches are :class:`~common.data.sequence.SeqBatch` ``[128, B, 9]``
with every length 128.
"""
from __future__ import annotations

import lzma
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset
from .sequence import collate_classification

__all__ = ["UCIHARDataModule", "load_har_split", "read_har_txt", "write_fake_har", "HAR_CHANNELS", "HAR_WINDOW"]

HAR_CHANNELS = tuple(f"{kind}_{axis}" for kind in ("body_acc", "body_gyro", "total_acc") for axis in "xyz")
HAR_WINDOW = 128
HAR_ACTIVITIES = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")


def _find(root: Path) -> Optional[Path]:
    for folder in (root / "uci_har" / "UCI HAR Dataset", root / "UCI HAR Dataset", root / "uci_har"):
        if (folder / "train").is_dir() or (folder / "test").is_dir():
            return folder
    return None


def read_har_txt(path: Path, width: Optional[int] = None) -> np.ndarray:
    """A whitespace-separated text file (plain or ``.xz``) as a float array ``[lines, width]``; raises
    :class:`CorruptDatasetError` naming the file when it is truncated or ragged."""
    try:
        raw = lzma.open(path, "rb").read() if path.suffix == ".xz" else path.read_bytes()
        lines = raw.split(b"\n")
        if lines and not lines[-1].strip():
            lines = lines[:-1]
        values = np.array(raw.split(), dtype=np.float64)
    except (lzma.LZMAError, EOFError, OSError, ValueError) as e:
        raise CorruptDatasetError(f"cannot read {path}: {e} (truncated or not a text file?)") from e
    n = len(lines)
    w = width if width is not None else (values.size // n if n else 0)
    if n == 0 or values.size != n * w:
        raise CorruptDatasetError(f"{path} is truncated or ragged: {values.size} values on {n} lines, expected {w} per line")
    return values.reshape(n, w)


def _file(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".xz"):
        if (folder / name).is_file():
            return folder / name
    raise missing_dataset("UCI HAR", folder, [stem + "[.xz]"],
                          "Get 'UCI HAR Dataset.zip' (UCI ML repository id 240) and unpack it so that the official "
                          "`UCI HAR Dataset/{train,test}/` folders are there; .txt or .txt.xz files are both read.")


def load_har_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x [N, 128, 9] float32, y [N] int64 in 0..5, subject [N] int64)`` of the official ``split``."""
    folder = root / split
    y = read_har_txt(_file(folder, f"y_{split}.txt"), 1)[:, 0].astype(np.int64) - 1
    subject = read_har_txt(_file(folder, f"subject_{split}.txt"), 1)[:, 0].astype(np.int64)
    chans = []
    for c in HAR_CHANNELS:
        path = _file(folder / "Inertial Signals", f"{c}_{split}.txt")
        x = read_har_txt(path, HAR_WINDOW)
        if len(x) != len(y):
            raise CorruptDatasetError(f"{path} has {len(x)} windows but y_{split}.txt has {len(y)} labels (truncated?)")
        chans.append(x)
    if len(subject) != len(y):
        raise CorruptDatasetError(f"{folder / f'subject_{split}.txt'}: {len(subject)} lines, y_{split}.txt has {len(y)}")
    if y.min() < 0 or y.max() >= len(HAR_ACTIVITIES):
        raise CorruptDatasetError(f"{folder / f'y_{split}.txt'}: labels outside 1..6")
    return np.stack(chans, axis=-1).astype(np.float32), y, subject


def write_fake_har(root: Path, subjects=None, windows: int = 4, compress: bool = True, seed: int = 0) -> Path:
    """A tiny UCI HAR in the official layout (``%.7e`` text, CRLF like the official signal files) under
    ``root/uci_har/UCI HAR Dataset``; ``subjects`` maps split -> subject ids (default: train 1, 3, 5; test 2, 4)."""
    rng = np.random.default_rng(seed)
    subjects = subjects or {"train": (1, 3, 5), "test": (2, 4)}
    base = Path(root) / "uci_har" / "UCI HAR Dataset"
    for split, subs in subjects.items():
        folder = base / split
        (folder / "Inertial Signals").mkdir(parents=True, exist_ok=True)
        subj = np.repeat(np.asarray(subs), windows)
        y = rng.integers(1, 7, len(subj))
        (folder / f"y_{split}.txt").write_text("".join(f"{v}\n" for v in y))
        (folder / f"subject_{split}.txt").write_text("".join(f"{v}\n" for v in subj))
        for c, name in enumerate(HAR_CHANNELS):
            x = rng.normal(c, 1 + c, (len(subj), HAR_WINDOW))
            text = "".join("".join(f"{v:16.7e}" for v in row) + "\r\n" for row in x).encode()
            path = folder / "Inertial Signals" / f"{name}_{split}.txt"
            if compress:
                with lzma.open(str(path) + ".xz", "wb") as f:
                    f.write(text)
            else:
                path.write_bytes(text)
    return Path(root)


class UCIHARDataModule(ArrayDataModule):
    """UCI HAR inertial signals (see module docstring)."""

    def __init__(self, val_subjects: int = 3, normalize: bool = True, **kwargs):
        kwargs.setdefault("collate_fn", collate_classification)
        super().__init__(**kwargs)
        if val_subjects < 0:
            raise ValueError(f"val_subjects must be >= 0, got {val_subjects}")
        self.val_subjects, self.normalize = int(val_subjects), bool(normalize)
        self.input_size, self.mean, self.std = len(HAR_CHANNELS), None, None

    @property
    def num_classes(self) -> int:
        return len(HAR_ACTIVITIES)

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        root = _find(self.data_dir)
        if root is None:
            raise missing_dataset("UCI HAR", self.data_dir / "uci_har" / "UCI HAR Dataset",
                                  ["{train,test}/Inertial Signals/*_{train,test}.txt[.xz]", "{train,test}/y_*.txt",
                                   "{train,test}/subject_*.txt"],
                                  "Get 'UCI HAR Dataset.zip' (UCI ML repository id 240) and unpack it there.")
        xtr, ytr, str_ = load_har_split(root, "train")
        xte, yte, _ = load_har_split(root, "test")
        subs = np.unique(str_)
        if self.val_subjects >= len(subs):
            raise ValueError(f"val_subjects={self.val_subjects} leaves no training subject (train has {len(subs)})")
        g = torch.Generator().manual_seed(self.split_seed)
        val_subs = subs[torch.randperm(len(subs), generator=g)[: self.val_subjects].numpy()]
        is_val = np.isin(str_, val_subs)
        self.val_subject_ids = sorted(int(s) for s in val_subs)
        fit = xtr[~is_val]
        self.mean = fit.mean(axis=(0, 1)) if self.normalize else np.zeros(len(HAR_CHANNELS), np.float32)
        self.std = fit.std(axis=(0, 1)) if self.normalize else np.ones(len(HAR_CHANNELS), np.float32)

        def ds(x, y):
            x = torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))
            return TensorDataset(x, torch.from_numpy(y))

        train = ds(xtr[~is_val], ytr[~is_val])
        test = ds(xte, yte)
        return train, (ds(xtr[is_val], ytr[is_val]) if self.val_subjects else test), test
