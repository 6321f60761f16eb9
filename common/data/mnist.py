"""MNIST from the official idx files, in three views.

- ``static``:     ``[1, 28, 28]`` images (CNNs; DIET-SNN mini rows).
- ``sequential``: row-wise sequence ``[28, 28]`` (28 steps of 28 pixels; sequential MNIST).
- ``permuted``:   pixel-wise permuted sequence ``[784, 1]`` with a fixed permutation drawn from
  ``permutation_seed`` (psMNIST; identical on every machine).

Files are read from ``<data_dir>/mnist/`` (or torchvision's ``<data_dir>/MNIST/raw/``), gzipped
or not. The 60k training images are split into train / val with a seed fixed by `data_seed`.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset

__all__ = ["MNISTDataModule", "read_idx", "load_mnist", "train_val_indices", "MNIST_FILES", "VIEWS"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
VIEWS = ("static", "sequential", "permuted")
MEAN, STD = 0.1307, 0.3081


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally .gz); raise :class:`CorruptDatasetError` naming the file if bad."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise CorruptDatasetError(f"cannot read {path}: {e} (truncated or not a valid file?)") from e
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise CorruptDatasetError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise CorruptDatasetError(f"{path} is truncated or corrupt: {len(data)} bytes, header says {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Optional[Path]:
    for folder in (root / "mnist", root / "MNIST" / "raw", root):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def load_mnist(data_dir: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images ``[N, 28, 28]`` and int64 labels ``[N]`` of the official split."""
    img_stem, lbl_stem = MNIST_FILES[split]
    paths = [_find(data_dir, img_stem), _find(data_dir, lbl_stem)]
    if None in paths and download:
        import torchvision

        torchvision.datasets.MNIST(str(data_dir), train=split == "train", download=True)
        paths = [_find(data_dir, img_stem), _find(data_dir, lbl_stem)]
    if None in paths:
        raise missing_dataset(
            "MNIST", data_dir / "mnist", [s + ".gz" for pair in MNIST_FILES.values() for s in pair],
            "Get the four official idx files (http://yann.lecun.com/exdb/mnist/ or any mirror) into that "
            "folder, or pass `data.download=true` to let torchvision download them into <data_dir>/MNIST/raw.",
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise CorruptDatasetError(f"{paths[0]} and {paths[1]} disagree: {images.shape} images, {labels.shape} labels")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def train_val_indices(n: int, val_size: int, seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed split of MNIST's 60k training images into (train, val) indices, shared by every view."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:], perm[:val_size]


def mnist_view(images: torch.Tensor, view: str, normalize: bool = True, permutation_seed: int = 92916) -> torch.Tensor:
    """Float tensor in the requested view from uint8 images ``[N, 28, 28]``."""
    x = images.float().div_(255.0)
    if normalize:
        x = (x - MEAN) / STD
    if view == "static":
        return x.unsqueeze(1)
    if view == "sequential":
        return x
    if view == "permuted":
        perm = torch.randperm(784, generator=torch.Generator().manual_seed(permutation_seed))
        return x.reshape(-1, 784)[:, perm].unsqueeze(-1)
    raise ValueError(f"MNIST view must be one of {VIEWS}, got {view!r}")


class MNISTDataModule(ArrayDataModule):
    """MNIST in the ``static`` / ``sequential`` / ``permuted`` view (see module docstring).

    ``val_size`` images are held out of the 60k training set (split seed fixed by `data_seed`) for model selection.
    """

    def __init__(self, view: str = "static", normalize: bool = True, val_size: int = 5000,
                 permutation_seed: int = 92916, **kwargs):
        super().__init__(**kwargs)
        if view not in VIEWS:
            raise ValueError(f"MNIST view must be one of {VIEWS}, got {view!r}")
        self.view, self.normalize, self.val_size, self.permutation_seed = view, normalize, int(val_size), permutation_seed

    @property
    def num_classes(self) -> int:
        return 10

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        xtr, ytr = load_mnist(self.data_dir, "train", self.download)
        xte, yte = load_mnist(self.data_dir, "test", self.download)
        xtr = mnist_view(xtr, self.view, self.normalize, self.permutation_seed)
        xte = mnist_view(xte, self.view, self.normalize, self.permutation_seed)
        train_idx, val_idx = train_val_indices(len(xtr), self.val_size, self.split_seed)
        return (TensorDataset(xtr[train_idx], ytr[train_idx]), TensorDataset(xtr[val_idx], ytr[val_idx]),
                TensorDataset(xte, yte))
