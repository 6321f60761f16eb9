"""ImageNet (ILSVRC-2012) from the standard class-folder layout::

    <data_dir>/imagenet/train/<wnid>/*.JPEG
    <data_dir>/imagenet/val/<wnid>/*.JPEG      (validation images sorted into class folders)

Train: RandomResizedCrop(``image_size``) + horizontal flip; evaluation: Resize(``resize_size``) +
CenterCrop(``image_size``) (224 / 256 by default); ImageNet mean/std. Classes are the sorted wnids
of ``train/``; ``val/`` must use the same set. The validation folder is the test split and, unless
``val_size > 0`` images are held out of ``train/``, also the model-selection split (standard ImageNet practice).

``fake=True`` (smoke tests only): write a few random JPEGs in this layout into a temporary folder
(:func:`write_fake_imagenet`) and read them through the same loader.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset
from .fake import fake_data_root

__all__ = ["ImageNetDataModule", "write_fake_imagenet", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_EXT = (".jpeg", ".jpg", ".png")


def write_fake_imagenet(root: Path, classes: int = 3, per_class: int = 4, size: int = 40, seed: int = 0) -> Path:
    """Write ``imagenet/{train,val}/<wnid>/*.JPEG`` with random images under ``root``; returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in range(classes):
            d = Path(root) / "imagenet" / split / f"n{c:08d}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                p = d / f"{split}_{c}_{i}.JPEG"
                if not p.exists():
                    arr = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
                    Image.fromarray(arr).save(p, format="JPEG")
    return Path(root)


class _Checked(Dataset):
    """ImageFolder wrapper that names an unreadable image file."""

    def __init__(self, folder):
        self.folder = folder

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        try:
            return self.folder[i]
        except (OSError, ValueError) as e:
            raise CorruptDatasetError(f"cannot read {self.folder.samples[i][0]}: {e}") from e


class ImageNetDataModule(ArrayDataModule):
    def __init__(self, image_size: int = 224, resize_size: int = 256, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, val_size: int = 0, fake: bool = False, fake_classes: int = 3,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.resize_size = int(image_size), int(resize_size)
        self.mean, self.std, self.val_size = tuple(mean), tuple(std), int(val_size)
        self.fake = bool(fake)
        if self.fake:  # smoke tests only
            self.data_dir = fake_data_root(f"snn_repro_fake_imagenet_{int(fake_classes)}",
                                           lambda root: write_fake_imagenet(root, classes=int(fake_classes)))

    def _transforms(self, train: bool):
        from torchvision import transforms as T

        norm = [T.ToTensor(), T.Normalize(self.mean, self.std)]
        if train:
            return T.Compose([T.RandomResizedCrop(self.image_size), T.RandomHorizontalFlip(), *norm])
        return T.Compose([T.Resize(self.resize_size), T.CenterCrop(self.image_size), *norm])

    def build(self):
        from torchvision.datasets import ImageFolder

        root = Path(self.data_dir) / "imagenet"
        for split in ("train", "val"):
            d = root / split
            if not d.is_dir() or not any(p.is_dir() for p in d.iterdir()):
                raise missing_dataset("ImageNet", root, ["train/<wnid>/*.JPEG", "val/<wnid>/*.JPEG"],
                                      "Extract ILSVRC-2012 train and val and sort val images into class folders "
                                      "(e.g. with the common valprep.sh script).")
        train = ImageFolder(str(root / "train"), transform=self._transforms(True))
        val = ImageFolder(str(root / "val"), transform=self._transforms(False))
        if train.classes != val.classes:
            raise CorruptDatasetError(f"{root}: train/ and val/ have different class folders "
                                      f"({len(train.classes)} vs {len(val.classes)})")
        self.class_names = train.classes
        if self.val_size > 0:
            held = ImageFolder(str(root / "train"), transform=self._transforms(False))
            perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
            return (Subset(_Checked(train), sorted(perm[self.val_size:])),
                    Subset(_Checked(held), sorted(perm[: self.val_size])), _Checked(val))
        return _Checked(train), _Checked(val), _Checked(val)

    @property
    def num_classes(self) -> int:
        self.setup()
        return len(self.class_names)

    def sample_batch(self, split: str = "train", n: int = 512):
        return super().sample_batch(split, n)
