"""CIFAR-10 / CIFAR-100 from the official python pickles.

Layout under the data root (what ``torchvision.datasets.CIFAR10/100`` download and extract)::

    <data_dir>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <data_dir>/cifar-100-python/train, test, meta

Training augmentation: random crop 32 with zero padding 4 and horizontal flip (on tensors, from the
global torch RNG, so seeded runs repeat); then per-dataset normalisation (DIET-SNN's constants by
default). ``val_size`` training images are held out (fixed split seed) for model selection.

``fake=True`` (smoke tests only): write a tiny dataset *in the official pickle format* into a
temporary folder (:func:`write_fake_cifar`) and read it through the same loader; no real data needed.
"""
from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset

__all__ = ["CIFAR10DataModule", "CIFAR100DataModule", "CIFARDataset", "load_cifar", "write_fake_cifar",
           "CIFAR_FILES", "CIFAR_NORM"]

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta"),
}
# DIET-SNN's (official code) normalisation constants
CIFAR_NORM = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def _get(d: dict, key: str):
    if key in d:
        return d[key]
    if key.encode() in d:
        return d[key.encode()]
    raise KeyError(key)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise CorruptDatasetError(f"cannot read {path}: {e} (truncated or not a CIFAR python pickle?)") from e


def load_cifar(data_dir: Path, variant: str, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 images ``[N, 3, 32, 32]``, int64 labels ``[N]`` and the class names of one split."""
    folder, train_files, test_files, meta = CIFAR_FILES[variant]
    root = Path(data_dir) / folder
    files = train_files if split == "train" else test_files
    need = files + [meta]
    if not all((root / f).is_file() for f in need):
        raise missing_dataset(
            variant.upper().replace("CIFAR", "CIFAR-"), root, need,
            f"Download and extract the official python version ({folder.split('-')[0]}-{folder.split('-')[1]} "
            "python tarball from https://www.cs.toronto.edu/~kriz/cifar.html), e.g. with torchvision's "
            f"{'CIFAR10' if variant == 'cifar10' else 'CIFAR100'}(root=<data_dir>, download=True).")
    xs, ys = [], []
    label_key = "labels" if variant == "cifar10" else "fine_labels"
    for f in files:
        d = _unpickle(root / f)
        try:
            data, labels = np.asarray(_get(d, "data"), dtype=np.uint8), np.asarray(_get(d, label_key), dtype=np.int64)
        except KeyError as e:
            raise CorruptDatasetError(f"{root / f} has no {e.args[0]!r} entry; not a {variant} batch") from e
        if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
            raise CorruptDatasetError(f"{root / f}: data {data.shape} / labels {labels.shape} are not CIFAR batches")
        xs.append(data)
        ys.append(labels)
    m = _unpickle(root / meta)
    names = [n.decode() if isinstance(n, bytes) else str(n)
             for n in _get(m, "label_names" if variant == "cifar10" else "fine_label_names")]
    x = torch.from_numpy(np.concatenate(xs).reshape(-1, 3, 32, 32).copy())
    y = torch.from_numpy(np.concatenate(ys))
    if int(y.max()) >= _NUM_CLASSES[variant] or int(y.min()) < 0:
        raise CorruptDatasetError(f"{root}: labels outside [0, {_NUM_CLASSES[variant]})")
    return x, y, names


def write_fake_cifar(root: Path, variant: str = "cifar10", per_batch: int = 20, n_test: int = 20,
                     seed: int = 0) -> Path:
    """Write a tiny CIFAR-10/100 in the official pickle format under ``root``; returns ``root``."""
    folder, train_files, test_files, meta = CIFAR_FILES[variant]
    d = Path(root) / folder
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = _NUM_CLASSES[variant]
    label_key = b"labels" if variant == "cifar10" else b"fine_labels"
    total_train = per_batch * len(train_files)
    for files, n in ((train_files, total_train // len(train_files)), (test_files, n_test)):
        for f in files:
            obj = {b"batch_label": f.encode(), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                   label_key: [int(v) for v in rng.integers(0, k, n)], b"filenames": [b"x.png"] * n}
            if variant == "cifar100":
                obj[b"coarse_labels"] = [int(v) % 20 for v in obj[label_key]]
            with open(d / f, "wb") as fh:
                pickle.dump(obj, fh, protocol=2)
    names_key = b"label_names" if variant == "cifar10" else b"fine_label_names"
    with open(d / meta, "wb") as fh:
        pickle.dump({names_key: [f"class{i}".encode() for i in range(k)]}, fh, protocol=2)
    return Path(root)


class CIFARDataset(Dataset):
    """uint8 images ``[N, 3, H, W]`` -> normalised float tensors, with optional crop/flip augmentation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 augment: bool = False, padding: int = 4):
        self.images, self.labels, self.augment, self.padding = images, labels, augment, int(padding)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255.0)
        if self.augment:
            p = self.padding
            h, w = x.shape[-2:]
            if p > 0:
                x = torch.nn.functional.pad(x, (p, p, p, p))
                top, left = (int(v) for v in torch.randint(0, 2 * p + 1, (2,)))
                x = x[:, top: top + h, left: left + w]
            if bool(torch.rand(()) < 0.5):
                x = x.flip(-1)
        return (x - self.mean) / self.std, self.labels[i]


class _CIFARDataModule(ArrayDataModule):
    variant = "cifar10"

    def __init__(self, val_size: int = 5000, augment: bool = True, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, fake: bool = False, fake_size: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.val_size, self.augment = int(val_size), bool(augment)
        m, s = CIFAR_NORM[self.variant]
        self.mean, self.std = tuple(mean or m), tuple(std or s)
        self.fake, self.fake_size = bool(fake), int(fake_size)
        if self.fake:  # smoke tests only: a tiny dataset in the official format, read by the same code
            self.data_dir = write_fake_cifar(Path(tempfile.gettempdir()) / f"snn_repro_fake_{self.variant}_{self.fake_size}",
                                             self.variant, per_batch=self.fake_size, n_test=self.fake_size, seed=0)
            self.val_size = min(self.val_size, max(1, self.fake_size // 4))

    @property
    def num_classes(self) -> int:
        return _NUM_CLASSES[self.variant]

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        xtr, ytr, self.class_names = load_cifar(self.data_dir, self.variant, "train")
        xte, yte, _ = load_cifar(self.data_dir, self.variant, "test")
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(12345))
        val_idx, train_idx = perm[: self.val_size], perm[self.val_size:]
        if self.val_size == 0:  # no held-out split: validate on the test set (the official code's practice)
            val = CIFARDataset(xte, yte, self.mean, self.std)
        else:
            val = CIFARDataset(xtr[val_idx], ytr[val_idx], self.mean, self.std)
        return (CIFARDataset(xtr[train_idx], ytr[train_idx], self.mean, self.std, augment=self.augment), val,
                CIFARDataset(xte, yte, self.mean, self.std))


class CIFAR10DataModule(_CIFARDataModule):
    variant = "cifar10"


class CIFAR100DataModule(_CIFARDataModule):
    variant = "cifar100"
