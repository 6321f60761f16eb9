"""CIFAR-10 / CIFAR-100 from the official python pickles.

Layout under the data root (what ``torchvision.datasets.CIFAR10/100`` download and extract)::

    <data_dir>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <data_dir>/cifar-100-python/train, test, meta

Training augmentation: random crop 32 with zero padding 4 and horizontal flip (on tensors, from the
global torch RNG, so seeded runs repeat); then per-dataset normalisation (DIET-SNN's constants by
default). ``val_size`` training images are held out (split seed fixed by `data_seed`) for model selection.

Files are read by ``torchvision.datasets.CIFAR10/100`` after checking the official md5s
(``verify_md5=false`` skips that check). ``fake=True`` (smoke tests only): write a tiny dataset *in the
official pickle format* into a temporary folder (:func:`write_fake_cifar`) and read it through the same
loader, without the md5 check; no real data needed.
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


def _torchvision_class(variant: str):
    import torchvision

    return torchvision.datasets.CIFAR10 if variant == "cifar10" else torchvision.datasets.CIFAR100


def _find_unreadable(folder: Path, files: Sequence[str]) -> Optional[str]:
    """Error path only: the first file that is not a readable pickle."""
    for f in files:
        try:
            with open(folder / f, "rb") as fh:
                pickle.load(fh, encoding="latin1")
        except Exception as e:  # noqa: BLE001 - any failure means this file is the culprit
            return f"{folder / f}: {type(e).__name__}: {e}"
    return None


def load_cifar(data_dir: Path, variant: str, split: str, download: bool = False,
               verify_md5: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 images ``[N, 3, 32, 32]``, int64 labels ``[N]`` and the class names of one split.

    Read by ``torchvision.datasets.CIFAR10/100``. With ``verify_md5`` every file must match the official
    md5 (torchvision's check, reported per file here); ``verify_md5=False`` skips it (small files that
    tests write in the official format cannot match the official checksums).
    """
    from torchvision.datasets.utils import check_integrity

    cls = _torchvision_class(variant)
    folder = Path(data_dir) / cls.base_folder
    entries = list(cls.train_list if split == "train" else cls.test_list) + [(cls.meta["filename"], cls.meta["md5"])]
    need = [f for f, _ in entries]
    if not all((folder / f).is_file() for f in need) and download:
        cls(str(data_dir), train=split == "train", download=True)
    if not all((folder / f).is_file() for f in need):
        raise missing_dataset(
            variant.upper().replace("CIFAR", "CIFAR-"), folder, need,
            f"Download and extract the official python version ({cls.filename} from {cls.url}), or pass "
            "`data.download=true` to let torchvision download it into the data root.")
    if verify_md5:
        for f, md5 in entries:
            if not check_integrity(str(folder / f), md5):
                raise CorruptDatasetError(f"{folder / f} does not match the official md5 {md5} (truncated or "
                                          "modified?); delete it and download the dataset again")

    class _Reader(cls):  # the md5s were checked above (or deliberately not): skip torchvision's own checks
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            with open(folder / self.meta["filename"], "rb") as fh:
                self.classes = pickle.load(fh, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    try:
        ds = _Reader(str(data_dir), train=split == "train", download=False)
    except Exception as e:  # noqa: BLE001 - name the file that cannot be read
        bad = _find_unreadable(folder, need)
        raise CorruptDatasetError(f"cannot read {bad or folder}: not a CIFAR python pickle") from e
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    if len(y) != len(x) or int(y.max()) >= _NUM_CLASSES[variant] or int(y.min()) < 0:
        raise CorruptDatasetError(f"{folder}: labels do not fit {variant} ({len(x)} images, {len(y)} labels)")
    return x, y, list(ds.classes)


def write_fake_cifar(root: Path, variant: str = "cifar10", per_batch: int = 20, n_test: int = 20,
                     seed: int = 0) -> Path:
    """Write a tiny CIFAR-10/100 in the official pickle format under ``root``; returns ``root``."""
    folder, train_files, test_files, meta = CIFAR_FILES[variant]
    d = Path(root) / folder
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = _NUM_CLASSES[variant]
    label_key = "labels" if variant == "cifar10" else "fine_labels"
    total_train = per_batch * len(train_files)
    for files, n in ((train_files, total_train // len(train_files)), (test_files, n_test)):
        for f in files:
            obj = {"batch_label": f, "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                   label_key: [int(v) for v in rng.integers(0, k, n)], "filenames": ["x.png"] * n}
            if variant == "cifar100":
                obj["coarse_labels"] = [int(v) % 20 for v in obj[label_key]]
            with open(d / f, "wb") as fh:
                pickle.dump(obj, fh, protocol=2)
    names_key = "label_names" if variant == "cifar10" else "fine_label_names"
    with open(d / meta, "wb") as fh:
        pickle.dump({names_key: [f"class{i}" for i in range(k)]}, fh, protocol=2)
    return Path(root)


class CIFARDataset(Dataset):
    """uint8 images ``[N, 3, H, W]`` -> normalised float tensors; training augmentation with torchvision's
    ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip`` (global torch RNG: seeded runs repeat)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 augment: bool = False, padding: int = 4):
        from torchvision.transforms import v2

        self.images, self.labels = images, labels
        steps = [v2.RandomCrop(images.shape[-1], padding=int(padding)), v2.RandomHorizontalFlip()] if augment else []
        self.transform = v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


class _CIFARDataModule(ArrayDataModule):
    variant = "cifar10"

    def __init__(self, val_size: int = 5000, augment: bool = True, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, fake: bool = False, fake_size: int = 20,
                 verify_md5: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.val_size, self.augment = int(val_size), bool(augment)
        m, s = CIFAR_NORM[self.variant]
        self.mean, self.std = tuple(mean or m), tuple(std or s)
        self.fake, self.fake_size = bool(fake), int(fake_size)
        self.verify_md5 = bool(verify_md5) and not self.fake
        if self.fake:  # smoke tests only: a tiny dataset in the official format, read by the same code
            self.data_dir = self._write_fake(Path(tempfile.gettempdir()) / f"snn_repro_fake_{self.variant}_{self.fake_size}")
            self.val_size = min(self.val_size, max(1, self.fake_size // 4))

    @property
    def num_classes(self) -> int:
        return _NUM_CLASSES[self.variant]

    def _write_fake(self, root: Path) -> Path:
        """``fake=True``: write a tiny dataset in the format this module reads under ``root``; returns the data root."""
        return write_fake_cifar(root, self.variant, per_batch=self.fake_size, n_test=self.fake_size, seed=0)

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images ``[N, 3, 32, 32]`` and int64 labels of ``split`` (sets ``class_names``)."""
        x, y, self.class_names = load_cifar(self.data_dir, self.variant, split, self.download, self.verify_md5)
        return x, y

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        xtr, ytr = self.load_split("train")
        xte, yte = self.load_split("test")
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(self.split_seed))
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
