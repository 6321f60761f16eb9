"""Spiking MNIST stand-in for SHD (real MNIST turned into spike trains by a fixed, documented encoder).

Encoder ``row_scan`` (default): the image is scanned top to bottom, one row of 28 pixels per
``steps_per_row`` time steps, so ``T = 28 * steps_per_row`` (112 by default, >= 100) and the input has
28 channels (one per column). Within a row's window, step ``k`` (``0 <= k < K``) carries a spike on channel
``j`` iff the pixel intensity (in [0, 1]) exceeds ``(k + 0.5) / K`` - a thermometer (deterministic rate)
code of the intensity. Like SHD, a class is only recognisable by integrating the events over time; a
per-step non-spiking net sees one row at a time.

Encoder ``rate``: each of the 784 pixels fires a Bernoulli spike with probability = intensity at each of
``time_steps`` steps (seeded per sample index, so the encoding of a sample never changes).

Batches are ``[B, T, C]`` float spike tensors (batch first), labels int64. 5 000 (``val_size``) images of
the official 60k training set are held out as a validation split with a seed fixed by `data_seed`.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..encoders import rate_code
from .base import ArrayDataModule
from .mnist import load_mnist, train_val_indices

__all__ = ["SpikingMNISTDataModule", "encode_row_scan", "encode_rate", "ENCODERS"]

ENCODERS = ("row_scan", "rate")


def encode_row_scan(images: torch.Tensor, steps_per_row: int = 4) -> torch.Tensor:
    """uint8 ``[B, 28, 28]`` -> spikes ``[B, 28 * K, 28]`` (thermometer code per row; see module doc)."""
    x = images.float() / 255.0
    K = int(steps_per_row)
    levels = (torch.arange(K, dtype=torch.float32) + 0.5) / K
    s = (x[:, :, None, :] > levels[None, None, :, None]).float()  # [B, rows, K, cols]
    return s.reshape(x.shape[0], x.shape[1] * K, x.shape[2])


def encode_rate(images: torch.Tensor, index: torch.Tensor, time_steps: int = 100, seed: int = 0) -> torch.Tensor:
    """uint8 ``[B, 28, 28]`` -> Bernoulli rate-coded spikes ``[B, T, 784]``, seeded by each sample's index:
    :func:`common.encoders.rate_code` of the intensities with the sample's own generator (seed, index)."""
    p = (images.float() / 255.0).reshape(images.shape[0], -1)
    out = torch.empty(images.shape[0], time_steps, p.shape[1])
    for b in range(images.shape[0]):
        rate_code(p[b], time_steps, torch.Generator().manual_seed(seed * 1_000_003 + int(index[b])), out=out[b])
    return out


class _Indexed(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i], i


class SpikeCollate:
    def __init__(self, encoder: str, steps_per_row: int, time_steps: int, seed: int):
        self.encoder, self.steps_per_row, self.time_steps, self.seed = encoder, steps_per_row, time_steps, seed

    def __call__(self, batch):
        imgs = torch.stack([b[0] for b in batch])
        labels = torch.as_tensor([int(b[1]) for b in batch], dtype=torch.long)
        if self.encoder == "row_scan":
            return encode_row_scan(imgs, self.steps_per_row), labels
        idx = torch.as_tensor([int(b[2]) for b in batch])
        return encode_rate(imgs, idx, self.time_steps, self.seed), labels


class SpikingMNISTDataModule(ArrayDataModule):
    """MNIST as spike trains (see module docstring). ``input_size``/``time_steps`` describe the batches."""

    def __init__(self, encoder: str = "row_scan", steps_per_row: int = 4, time_steps: int = 100,
                 val_size: int = 5000, **kwargs):
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        kwargs.setdefault("collate_fn", SpikeCollate(encoder, int(steps_per_row), int(time_steps),
                                                     int(kwargs.get("data_seed", 0))))  # fixed data
        super().__init__(**kwargs)
        self.encoder, self.steps_per_row, self.val_size = encoder, int(steps_per_row), int(val_size)
        self.time_steps = 28 * self.steps_per_row if encoder == "row_scan" else int(time_steps)
        self.input_size = 28 if encoder == "row_scan" else 784

    @property
    def num_classes(self) -> int:
        return 10

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        xtr, ytr = load_mnist(self.data_dir, "train", self.download)
        xte, yte = load_mnist(self.data_dir, "test", self.download)
        train_idx, val_idx = train_val_indices(len(xtr), self.val_size, self.split_seed)
        return (_Indexed(xtr[train_idx], ytr[train_idx]), _Indexed(xtr[val_idx], ytr[val_idx]), _Indexed(xte, yte))
