"""Spiking Heidelberg Digits (SHD) from the official h5 files, binned and augmented as the SPSN code does.

Files: ``shd_train.h5`` and ``shd_test.h5`` (official layout: ``spikes/times`` - per-sample float arrays of
spike times in seconds, ``spikes/units`` - per-sample channel ids in [0, 700), ``labels``), looked up in
``<data_dir>/shd``, ``<data_dir>/SHD``, ``<data_dir>/hdspikes`` or ``<data_dir>`` (tonic's SHD reader uses
the same files). Binning (official ``datasets.py``): ``dt`` = 1 ms; ``max_duration = ceil(max spike time of
the file / dt)``; ``bins = linspace(0, max_duration, max_duration + 1)``; a spike at time ``t`` goes to bin
``digitize(t / dt, bins, right=True)``; several spikes in one (bin, channel) count once (value 1). A sample
lasts up to its last occupied bin. Batches ``[B, T, 700]`` are zero-padded at the **start** of the sequence
to the batch's longest sample.

Augmentation (train split only, ``augment=true``): the official code's torchvision ``RandomAffine(degrees=0,
translate=(0.1, 0), scale=(0.7, 1.3))`` on the dense ``(1, T, 700)`` image: a shift along the channel axis of
up to 70 channels and a zoom ``s ~ U(0.7, 1.3)`` of both axes about the image centre, nearest-neighbour, zero
fill. Draws use the global torch RNG (seeded by the harness).

There is no validation split in the paper (final-epoch test accuracy is reported): ``val`` is the test
set, used for monitoring only (the SPSN rows test the last checkpoint).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset
from .fake import fake_data_root

__all__ = ["SHDDataModule", "SHDDataset", "write_shd_h5", "write_fake_shd", "load_shd_h5", "bin_spikes", "pad_start_collate", "random_affine",
           "SHD_FILES", "SHD_CHANNELS"]

SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
SHD_CHANNELS = 700


def _find(root: Path, name: str) -> Optional[Path]:
    for folder in (root / "shd", root / "SHD", root / "hdspikes", root):
        if (folder / name).is_file():
            return folder / name
    return None


def load_shd_h5(path: Path) -> tuple[list, list, np.ndarray]:
    """(times per sample [s], units per sample, labels) from an official SHD h5 file.

    Read with h5py rather than through ``tonic.datasets.SHD`` (which the ``download`` option uses): tonic
    converts spike times to integer microseconds, which moves spikes that sit on a bin edge and so changes
    the official ``digitize(t / dt, right=True)`` binning; reading the float seconds keeps it exact.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            times = [np.asarray(t, dtype=np.float64) for t in f["spikes"]["times"][:]]
            units = [np.asarray(u, dtype=np.int64) for u in f["spikes"]["units"][:]]
            labels = np.asarray(f["labels"][:], dtype=np.int64)
    except (OSError, KeyError) as e:
        raise CorruptDatasetError(f"cannot read {path} as an SHD h5 file (spikes/times, spikes/units, labels): {e}") from e
    if not (len(times) == len(units) == len(labels)):
        raise CorruptDatasetError(f"{path}: {len(times)} time arrays, {len(units)} unit arrays, {len(labels)} labels")
    return times, units, labels


def bin_spikes(times: list, units: list, dt: float = 1e-3) -> tuple[list, int]:
    """Per sample ``(bin_index, unit)`` int arrays (official 1 ms binning); returns them and ``max_duration``."""
    max_t = max((float(t.max()) for t in times if len(t)), default=0.0)
    max_d = int(np.ceil(max_t / dt - 1e-9))
    bins = np.linspace(0, max_d, max_d + 1)
    out = []
    for t, u in zip(times, units):
        idx = np.digitize(t / dt, bins, right=True)
        out.append((idx.astype(np.int64), u.astype(np.int64)))
    return out, max_d


def random_affine(x: torch.Tensor, shift: float, scale: float) -> torch.Tensor:
    """torchvision's nearest-neighbour affine of a dense ``(T, C)`` image: a shift of ``shift`` channels and
    a zoom ``scale`` of both axes about the centre, zero fill (what ``RandomAffine`` applies)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    return TF.affine(x[None], angle=0.0, translate=[float(shift), 0.0], scale=float(scale), shear=[0.0, 0.0],
                     interpolation=InterpolationMode.NEAREST, fill=0.0)[0]


class SHDDataset(Dataset):
    def __init__(self, events: list, labels: np.ndarray, channels: int = SHD_CHANNELS, augment: bool = False,
                 translate: float = 0.1, scale: tuple = (0.7, 1.3)):
        self.events, self.labels, self.channels = events, torch.as_tensor(labels), int(channels)
        self.augment = augment
        if augment:  # the official code's augmentation, on the dense (1, T, channels) image
            from torchvision.transforms import RandomAffine

            self.affine = RandomAffine(degrees=0, translate=(float(translate), 0.0), scale=tuple(scale))

    def __len__(self) -> int:
        return len(self.labels)

    def dense(self, i: int) -> torch.Tensor:
        idx, units = self.events[i]
        T = int(idx.max()) + 1 if len(idx) else 1
        x = torch.zeros(T, self.channels)
        x[torch.from_numpy(idx), torch.from_numpy(units)] = 1.0
        return x

    def __getitem__(self, i):
        x = self.dense(i)
        if self.augment:
            x = self.affine(x[None])[0]
        return x, self.labels[i]


def pad_start_collate(batch):
    """Stack ``(x [T_i, C], y)`` samples into ``[B, max T_i, C]``, zero padding at the start of each sequence."""
    T = max(x.shape[0] for x, _ in batch)
    C = batch[0][0].shape[1]
    out = torch.zeros(len(batch), T, C)
    for b, (x, _) in enumerate(batch):
        out[b, T - x.shape[0]:] = x
    return out, torch.as_tensor([int(y) for _, y in batch], dtype=torch.long)


def write_shd_h5(path: Path, times, units, labels) -> Path:
    """Write one SHD file in the official layout (``spikes/times``, ``spikes/units``, ``labels``)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        sp = f.create_group("spikes")
        ft, fu = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
        dt_ = sp.create_dataset("times", (len(times),), dtype=ft)
        du = sp.create_dataset("units", (len(units),), dtype=fu)
        for i, (t, u) in enumerate(zip(times, units)):
            dt_[i], du[i] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))
    return path


def write_fake_shd(root: Path, n: int = 10, seed: int = 0) -> Path:
    """A tiny SHD (random spikes over 50 ms) in the official h5 layout under ``root/shd`` (smoke runs, tests)."""
    rng = np.random.default_rng(seed)
    for name in SHD_FILES.values():
        times, units = [], []
        for _ in range(n):
            k = int(rng.integers(20, 60))
            times.append(np.sort(rng.uniform(0, 0.05, k)))
            units.append(rng.integers(0, SHD_CHANNELS, k))
        write_shd_h5(Path(root) / "shd" / name, times, units, rng.integers(0, 20, n))
    return Path(root)


class SHDDataModule(ArrayDataModule):
    """SHD (see module docstring). ``augment`` applies the official augmentation to the train split.

    ``fake=True`` (smoke runs only): write a tiny SHD in the official h5 layout into a temporary folder
    (:func:`write_fake_shd`) and read it through the same code; no real data needed.
    """

    def __init__(self, dt: float = 1e-3, augment: bool = False, translate: float = 0.1,
                 scale: tuple = (0.7, 1.3), fake: bool = False, fake_size: int = 16, **kwargs):
        kwargs.setdefault("collate_fn", pad_start_collate)
        super().__init__(**kwargs)
        if fake:
            self.data_dir = fake_data_root(f"snn_repro_fake_shd_{int(fake_size)}",
                                           lambda root: write_fake_shd(root, int(fake_size)))
        self.dt, self.augment, self.translate, self.scale = float(dt), bool(augment), float(translate), tuple(scale)
        self.input_size, self.max_duration = SHD_CHANNELS, None

    @property
    def num_classes(self) -> int:
        return 20

    def _split(self, name: str, augment: bool) -> SHDDataset:
        path = _find(self.data_dir, SHD_FILES[name])
        if path is None and self.download:
            import tonic

            # tonic's downloader puts (and unzips) the official files into <data_dir>/SHD/
            tonic.datasets.SHD(str(self.data_dir), train=name == "train")
            path = _find(self.data_dir, SHD_FILES[name])
        if path is None:
            raise missing_dataset(
                "SHD", self.data_dir / "shd", list(SHD_FILES.values()),
                "Download shd_train.h5.gz / shd_test.h5.gz from https://zenkelab.org/datasets/ and gunzip them "
                "into that folder, pass `+data.download=true` (tonic's downloader, into <data_dir>/SHD/), or pass "
                "data.data_dir=<folder with the two files>.")
        times, units, labels = load_shd_h5(path)
        events, max_d = bin_spikes(times, units, self.dt)
        self.max_duration = max(self.max_duration or 0, max_d)
        return SHDDataset(events, labels, SHD_CHANNELS, augment, self.translate, self.scale)

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        train = self._split("train", self.augment)
        test = self._split("test", False)
        return train, test, test
