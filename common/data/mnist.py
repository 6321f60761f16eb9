"""MNIST from the official idx files, in three views.

- ``static``:     ``[1, 28, 28]`` images (CNNs; DIET-SNN mini rows).
- ``sequential``: row-wise sequence ``[28, 28]`` (28 steps of 28 pixels; sequential MNIST).
- ``permuted``:   psMNIST exactly as the NRU benchmark defines it (apsarath/NRU ``PMNISTData``, task seed
  ``permutation_seed`` = 50): ``rng = np.random.RandomState(50)``; first ``perm = rng.permutation(60000)``
  shuffles the training set, then ``seq_perm = rng.permutation(784)`` orders the pixels; train = the first
  50,000 shuffled training images, val = the last 10,000, test = all 10,000 test images; sequences ``[784, 1]``
  (NRU's 785th label step dropped, as the LMU code does). Use ``normalize=false`` for NRU's pixels / 255.

Files are read from ``<data_dir>/mnist/`` (or torchvision's ``<data_dir>/MNIST/raw/``), gzipped
or not. ``static`` and ``sequential``: the 60k training images are split into train / val (``val_size``)
with a seed fixed by `data_seed`; ``permuted``: NRU's fixed split (``val_size`` must be 10000; ``data_seed``
plays no part). The sequence views batch time-first (:func:`~common.data.sequence.collate_classification`:
``SeqBatch`` with ``x`` ``[T, B, F]``, every length T).
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset

__all__ = ["MNISTDataModule", "read_idx", "load_mnist", "train_val_indices", "nru_permutations", "MNIST_FILES", "VIEWS"]

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


def nru_permutations(seed: int = 50, n_train: int = 60000) -> tuple[np.ndarray, np.ndarray]:
    """NRU's psMNIST ``(perm, seq_perm)``: the training-set shuffle, then the pixel order, from one
    ``np.random.RandomState(seed)`` in that order (``nru_project/task/mnist_task.py``)."""
    rng = np.random.RandomState(seed)
    perm = rng.permutation(n_train)
    return perm, rng.permutation(784)


PSMNIST_SIZES = (50000, 10000)  # NRU: train = shuffled[:50000], val = shuffled[-10000:]


def mnist_view(images: torch.Tensor, view: str, normalize: bool = True, permutation_seed: int = 50) -> torch.Tensor:
    """Float tensor in the requested view from uint8 images ``[N, 28, 28]`` (``permuted``: NRU's pixel order)."""
    x = images.float().div_(255.0)
    if normalize:
        x = (x - MEAN) / STD
    if view == "static":
        return x.unsqueeze(1)
    if view == "sequential":
        return x
    if view == "permuted":
        seq_perm = torch.from_numpy(nru_permutations(permutation_seed)[1])
        return x.reshape(-1, 784)[:, seq_perm].unsqueeze(-1)
    raise ValueError(f"MNIST view must be one of {VIEWS}, got {view!r}")


class MNISTDataModule(ArrayDataModule):
    """MNIST in the ``static`` / ``sequential`` / ``permuted`` view (see module docstring).

    ``val_size`` images are held out of the 60k training set (split seed fixed by `data_seed`) for model selection;
    the ``permuted`` view uses NRU's fixed 50k/10k split instead (``val_size`` None or 10000).
    """

    def __init__(self, view: str = "static", normalize: bool = True, val_size: Optional[int] = None,
                 permutation_seed: int = 50, **kwargs):
        if view in ("sequential", "permuted"):
            from .sequence import collate_classification

            kwargs.setdefault("collate_fn", collate_classification)
        super().__init__(**kwargs)
        if view not in VIEWS:
            raise ValueError(f"MNIST view must be one of {VIEWS}, got {view!r}")
        if view == "permuted" and val_size not in (None, PSMNIST_SIZES[1]):
            raise ValueError(f"psMNIST uses NRU's fixed 50k/10k split: val_size must be {PSMNIST_SIZES[1]}, got {val_size}")
        val_size = (PSMNIST_SIZES[1] if view == "permuted" else 5000) if val_size is None else val_size
        self.view, self.normalize, self.val_size, self.permutation_seed = view, normalize, int(val_size), permutation_seed

    @property
    def num_classes(self) -> int:
        return 10

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        xtr, ytr = load_mnist(self.data_dir, "train", self.download)
        xte, yte = load_mnist(self.data_dir, "test", self.download)
        xtr = mnist_view(xtr, self.view, self.normalize, self.permutation_seed)
        xte = mnist_view(xte, self.view, self.normalize, self.permutation_seed)
        if self.view == "permuted":
            perm = torch.from_numpy(nru_permutations(self.permutation_seed, len(xtr))[0])
            train_idx, val_idx = perm[: PSMNIST_SIZES[0]], perm[-PSMNIST_SIZES[1]:]
        else:
            train_idx, val_idx = train_val_indices(len(xtr), self.val_size, self.split_seed)
        return (TensorDataset(xtr[train_idx], ytr[train_idx]), TensorDataset(xtr[val_idx], ytr[val_idx]),
                TensorDataset(xte, yte))
