"""Holding a validation set out of a training split, the same way in every data module.

The held-out items are a fixed random draw of ``split_seed`` (from ``data_seed``: the same for every training
seed); both parts keep file order. ``val_size=0`` validates on the test split (monitoring only).
MNIST's ``train_val_indices`` draws the same permutation over indices (it feeds committed results: move it onto
this function with their next rerun); CIFAR, ImageNet and IMDB draw it inline over arrays, token lists or two
differently transformed copies of the training set, which this function does not cover.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

__all__ = ["hold_out"]


def hold_out(train: Dataset, test: Dataset, val_size: int, split_seed: int) -> tuple[Dataset, Dataset, Dataset]:
    """``(train minus val, val, test)`` with ``val_size`` items of ``train`` drawn by ``split_seed``."""
    n = len(train)  # type: ignore[arg-type]
    if val_size == 0:
        return train, test, test
    if not 0 < val_size < n:
        raise ValueError(f"val_size={val_size} must be in [0, {n}): the training split has {n} items")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed)).tolist()
    return Subset(train, sorted(perm[val_size:])), Subset(train, sorted(perm[:val_size])), test
