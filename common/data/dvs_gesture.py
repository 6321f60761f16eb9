"""DVS128 Gesture through tonic, as event frames ``[T, 2, 128, 128]``.

Files: tonic's layout of the official recordings (tonic's ``DVSGesture``: the official ``.aedat`` files cut
into one recording per gesture, time in ms):
``<data_dir>/DVSGesture/ibmGesture{Train,Test}/user<NN>_<lighting>/<label>.npy``, each an ``[N, 4]`` array
of events ``(x, y, polarity, t_ms)``; 11 classes (label = file stem, 0-10; 10 = "other gestures"); official
split by user (train users 1-23, test 24-29). Read by ``tonic.datasets.DVSGesture`` itself (which turns ms
into µs); ``download=true`` lets tonic fetch and unpack its archives into ``<data_dir>/DVSGesture``.

Frames: tonic's ``ToFrame`` (:func:`common.encoders.event_frames`) with ``n_time_bins`` = T equal-duration bins
over each recording (event counts per pixel and polarity; as in every tonic pipeline, the events at a
recording's very last timestamp fall outside the last bin and are left out), optionally preceded by ``Downsample`` to a coarser
``sensor`` grid and followed by ``clip`` (counts clamped to at most ``clip``; 0 = no clamp). A validation set of
``val_size`` recordings is held out of train by ``data_seed`` (0: validate on test). Batches are
:class:`~common.data.sequence.SeqBatch` with ``x`` ``[T, B, 2, H, W]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset
from .sequence import collate_classification
from .splits import hold_out

__all__ = ["DVSGestureDataModule", "DVSGestureFrames", "write_fake_dvs_gesture", "GESTURE_FOLDERS", "GESTURE_CLASSES"]

GESTURE_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
GESTURE_CLASSES = 11
SENSOR = (128, 128, 2)


def _tonic_dataset(root: Path, train: bool, download: bool):
    """tonic's DVSGesture over ``root/DVSGesture``. tonic re-downloads unless its archive and >= 100 recordings
    are present; for a local copy (or the small files of the tests) that check is replaced by "the folder exists"."""
    import tonic

    if download:
        ds = tonic.datasets.DVSGesture(str(root), train=train)
        _sort_recordings(ds)
        return ds

    class DVSGesture(tonic.datasets.DVSGesture):  # same class name: tonic derives the folder from it
        def _check_exists(self):
            return True

    ds = DVSGesture(str(root), train=train)
    _sort_recordings(ds)
    return ds


def _sort_recordings(ds) -> None:
    """tonic lists a folder's files in file-system order; sort by (user, lighting, label) so every machine
    sees the same order."""
    order = sorted(range(len(ds.data)), key=lambda i: (ds.users[i], ds.lighting[i], ds.targets[i]))
    for name in ("data", "targets", "users", "lighting"):
        setattr(ds, name, [getattr(ds, name)[i] for i in order])


def write_fake_dvs_gesture(root: Path, users=None, events: int = 300, seed: int = 0) -> Path:
    """A tiny DVS Gesture in tonic's layout (random events over 1 s, every class per user) under ``root/DVSGesture``."""
    rng = np.random.default_rng(seed)
    users = users or {"train": (1, 2), "test": (24,)}
    for split, us in users.items():
        for u in us:
            folder = Path(root) / "DVSGesture" / GESTURE_FOLDERS[split] / f"user{u:02d}_fluorescent"
            folder.mkdir(parents=True, exist_ok=True)
            for label in range(GESTURE_CLASSES):
                ev = np.stack([rng.integers(0, 128, events), rng.integers(0, 128, events), rng.integers(0, 2, events),
                               np.sort(rng.integers(0, 1000, events))], axis=1).astype(np.int64)
                np.save(folder / f"{label}.npy", ev)
    return Path(root)


class DVSGestureFrames(Dataset):
    """``(frames [T, 2, H, W] float32, label)`` from a tonic DVSGesture dataset."""

    def __init__(self, tonic_ds, n_time_bins: int, sensor: tuple = (128, 128), clip: float = 0.0):
        import tonic.transforms as tt

        from ..encoders import event_frames

        self.ds, self.clip = tonic_ds, float(clip)
        self.downsample = None
        if tuple(sensor) != SENSOR[:2]:
            self.downsample = tt.Downsample(spatial_factor=sensor[0] / SENSOR[0])
        self.frames = event_frames((*sensor, 2), n_time_bins=n_time_bins)
        self.labels = torch.as_tensor(tonic_ds.targets, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        try:
            events, label = self.ds[i]
        except (ValueError, OSError, EOFError) as e:
            raise CorruptDatasetError(f"cannot read {self.ds.data[i]}: {e} (truncated or not an event array?)") from e
        if self.downsample is not None:
            events = self.downsample(events)
        x = self.frames(events)
        if self.clip > 0:
            x = x.clamp_(max=self.clip)
        return x, int(label)


class DVSGestureDataModule(ArrayDataModule):
    """DVS128 Gesture (see module docstring)."""

    def __init__(self, n_time_bins: int = 20, sensor: tuple = (128, 128), clip: float = 0.0, val_size: int = 0,
                 **kwargs):
        kwargs.setdefault("collate_fn", collate_classification)
        super().__init__(**kwargs)
        sensor = tuple(int(s) for s in sensor)
        if len(sensor) != 2 or sensor[0] != sensor[1] or SENSOR[0] % sensor[0]:
            raise ValueError(f"sensor must be a square grid dividing 128, got {sensor}")
        self.n_time_bins, self.sensor, self.clip, self.val_size = int(n_time_bins), sensor, float(clip), int(val_size)
        self.input_shape = (2, *sensor)

    @property
    def num_classes(self) -> int:
        return GESTURE_CLASSES

    def _split(self, name: str) -> DVSGestureFrames:
        folder = self.data_dir / "DVSGesture" / GESTURE_FOLDERS[name]
        if not folder.is_dir() and not self.download:
            raise missing_dataset("DVS128 Gesture", folder, ["user<NN>_<lighting>/<label>.npy"],
                                  "Pass `data.download=true` (tonic's downloader; figshare archives ibmGestureTrain.tar.gz "
                                  "and ibmGestureTest.tar.gz, unpacked into <data_dir>/DVSGesture).")
        ds = _tonic_dataset(self.data_dir, name == "train", self.download)
        if len(ds) == 0:
            raise missing_dataset("DVS128 Gesture", folder, ["user<NN>_<lighting>/<label>.npy"], "The folder holds no recording.")
        return DVSGestureFrames(ds, self.n_time_bins, self.sensor, self.clip)

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        train, test = self._split("train"), self._split("test")
        return hold_out(train, test, self.val_size, self.split_seed)
