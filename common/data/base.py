"""Shared data-module machinery: seeded per-epoch shuffling, clear missing/corrupt-data errors."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

__all__ = ["MissingDatasetError", "CorruptDatasetError", "EpochSeededSampler", "ArrayDataModule", "missing_dataset"]


class MissingDatasetError(FileNotFoundError):
    """A dataset's files are not where the data root says they should be."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but cannot be read (truncated, wrong format)."""


def missing_dataset(name: str, expected: Path, files: Sequence[str], how: str) -> MissingDatasetError:
    return MissingDatasetError(
        f"{name} not found: expected the files {', '.join(files)} under {expected}. "
        f"The data root is set by `paths.data_dir=...` (or the environment variable SNN_REPRO_DATA). "
        f"{how}"
    )


class EpochSeededSampler(Sampler[int]):
    """Random permutation that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at every epoch start, so a run resumed from a checkpoint
    sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _subset(ds: Dataset, n: Optional[int], seed: int) -> Dataset:
    if n is None or n >= len(ds):  # type: ignore[arg-type]
        return ds
    if n < 1:
        raise ValueError(f"subset size must be >= 1, got {n}")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]  # type: ignore[arg-type]
    return Subset(ds, sorted(idx.tolist()))


class ArrayDataModule(L.LightningDataModule):
    """Base data module: subclasses implement :meth:`build` returning (train, val, test) datasets.

    Common options: ``batch_size``, ``eval_batch_size``, ``num_workers``, ``train_subset`` /
    ``val_subset`` / ``test_subset`` (deterministic random subsets for reduced-scale runs).

    Two seeds: ``data_seed`` fixes the data itself (train/val split, subsets, test subset: identical for
    every training seed); ``seed`` drives the training shuffle (:class:`EpochSeededSampler`).
    """

    SPLIT_SEED = 12345  # base of every held-out split; ``data_seed`` is added to it

    def __init__(self, data_dir: Optional[str] = None, batch_size: int = 64, eval_batch_size: Optional[int] = None,
                 num_workers: int = 0, train_subset: Optional[int] = None, val_subset: Optional[int] = None,
                 test_subset: Optional[int] = None, seed: int = 0, data_seed: int = 0, download: bool = False,
                 collate_fn=None):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from .root import resolve_data_dir

        self.data_dir = resolve_data_dir(data_dir)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size or batch_size)
        self.num_workers, self.seed, self.download = int(num_workers), int(seed), bool(download)
        self.data_seed = int(data_seed)
        self.subsets = {"train": train_subset, "val": val_subset, "test": test_subset}
        self.collate_fn = collate_fn
        self._splits: Optional[dict[str, Dataset]] = None

    @property
    def split_seed(self) -> int:
        """Seed of a data module's held-out (train/val) split: fixed by ``data_seed``, never by ``seed``."""
        return self.SPLIT_SEED + self.data_seed

    # -- to implement -------------------------------------------------------------------------
    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        raise NotImplementedError

    # -- Lightning hooks ------------------------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        if self._splits is None:
            train, val, test = self.build()
            self._splits = {
                name: _subset(ds, self.subsets[name], self.data_seed + i)
                for i, (name, ds) in enumerate((("train", train), ("val", val), ("test", test)))
            }

    def split(self, name: str) -> Dataset:
        self.setup()
        assert self._splits is not None
        return self._splits[name]

    def _loader(self, name: str, train: bool) -> DataLoader:
        ds = self.split(name)
        return DataLoader(
            ds,
            batch_size=self.batch_size if train else self.eval_batch_size,
            sampler=EpochSeededSampler(len(ds), self.seed) if train else None,  # type: ignore[arg-type]
            shuffle=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=self.collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def sample_batch(self, split: str = "train", n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` samples of a split, stacked (e.g. DIET-SNN's 512 threshold-init images)."""
        ds = self.split(split)
        n = min(n, len(ds))  # type: ignore[arg-type]
        xs, ys = zip(*(ds[i] for i in range(n)))
        return torch.stack(xs), torch.as_tensor(ys)
