"""FSDD as spike trains: an SHD stand-in built from FSDD's real audio by :class:`~common.data.auditory.AuditorySpikes`.

Recordings, labels and the official split are those of :mod:`common.data.fsdd` (takes 0-4 -> test, 300
clips; 5-49 -> train, 2,700; ``val_size`` clips held out of train by ``data_seed``, the very clips
:class:`~common.data.fsdd.FSDDDataModule` holds out). Each clip becomes ``[T_i, channels]`` 0/1 frames at
``dt_ms`` (1 ms: T_i up to ``max_ms`` = 1,000 steps; 700 channels by default, as SHD).

Cache: the spike trains of every clip in the folder are encoded once and kept as one ``.npz`` file
(sparse ``(bin, channel)`` events per clip) under ``<cache_dir>/fsdd_spikes/`` (``cache_dir`` default:
``$SNN_REPRO_CACHE`` or ``~/.cache/snn_repro``). The file name is a hash of the front-end settings
(:meth:`AuditorySpikes.settings`, which include the encoder version) and of the recordings' names and contents,
so changing a setting or the data gives a new file; it is written atomically (temporary file, then rename).
An unreadable cache file is rebuilt. ``cache=False`` encodes in memory only.

Batches are :class:`~common.data.sequence.SeqBatch`: ``x`` ``[T, B, channels]`` (time-first, zero padded
after each clip's end, or before its start with ``pad="start"``, as the SPSN code pads SHD), ``y`` ``[B]``
digits, ``lengths`` ``[B]``.

``fake=True`` (smoke runs only; the harness refuses it at mini/full): a tiny FSDD of tones in the official naming
(:func:`~common.data.fsdd.write_fake_fsdd`: 10 digits x 2 speakers x 7 takes) in a temporary folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .auditory import AuditorySpikes
from .audio import read_wav
from .base import ArrayDataModule, CorruptDatasetError
from .fake import fake_data_root
from .fsdd import FSDD_SAMPLE_RATE, official_files, write_fake_fsdd
from .sequence import SeqBatch, collate_classification
from .cache import default_cache_dir
from .splits import hold_out

__all__ = ["FSDDSpikesDataModule", "SpikeTrainDataset", "encode_clips", "collate_pad_start", "PAD_MODES"]

PAD_MODES = ("end", "start")


class SpikeTrainDataset(Dataset):
    """``(x [T_i, channels] float 0/1, label)`` from sparse events ``(bins, channels)`` per clip."""

    def __init__(self, events: Sequence[tuple[np.ndarray, np.ndarray]], lengths: Sequence[int], labels: Sequence[int],
                 channels: int, files: Optional[Sequence[Path]] = None):
        if not (len(events) == len(lengths) == len(labels)):
            raise ValueError("events, lengths and labels differ in length")
        self.events, self.lengths = list(events), [int(n) for n in lengths]
        self.labels, self.channels = torch.as_tensor(labels, dtype=torch.long), int(channels)
        self.files = list(files) if files is not None else None

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int):
        t, c = self.events[i]
        x = torch.zeros(self.lengths[i], self.channels)
        x[torch.from_numpy(t.astype(np.int64)), torch.from_numpy(c.astype(np.int64))] = 1.0
        return x, self.labels[i]


def collate_pad_start(batch) -> SeqBatch:
    """Like :func:`collate_classification` but zero padding goes **before** each clip (the SPSN code's SHD
    padding), so every clip ends at the last step; ``lengths`` are still the clips' own lengths."""
    xs, ys = zip(*batch)
    T = max(int(x.shape[0]) for x in xs)
    out = xs[0].new_zeros((T, len(xs), *xs[0].shape[1:]))
    for b, x in enumerate(xs):
        out[T - x.shape[0]:, b] = x
    return SeqBatch(out, torch.as_tensor(ys, dtype=torch.long), torch.tensor([int(x.shape[0]) for x in xs]))


def _files_key(files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def _encode(front_end: AuditorySpikes, files: Sequence[Path]) -> dict[str, np.ndarray]:
    ts, cs, lengths = [], [], []
    for p in files:
        x, sr = read_wav(p)  # CorruptDatasetError names a truncated file
        if sr != FSDD_SAMPLE_RATE:
            raise CorruptDatasetError(f"{p}: {sr} Hz, expected {FSDD_SAMPLE_RATE} Hz (FSDD)")
        t, c, T = front_end.events(x, sr)
        if T > np.iinfo(np.uint16).max or front_end.channels > np.iinfo(np.uint16).max:
            raise ValueError(f"{p}: {T} bins x {front_end.channels} channels do not fit the cache's uint16 events; set max_ms")
        ts.append(t.astype(np.uint16)), cs.append(c.astype(np.uint16)), lengths.append(T)
    offsets = np.cumsum([0] + [len(t) for t in ts]).astype(np.int64)
    cat = lambda a: np.concatenate(a) if a else np.zeros(0, np.uint16)  # noqa: E731
    return {"names": np.array([p.name for p in files]), "lengths": np.asarray(lengths, np.int64),
            "offsets": offsets, "t": cat(ts), "c": cat(cs),
            "settings": np.array(json.dumps(front_end.settings(), sort_keys=True))}


def _atomic_savez(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, names: Sequence[str]) -> Optional[dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in ("names", "lengths", "offsets", "t", "c")}
    except Exception:  # truncated / foreign file: rebuilt by the caller
        return None
    if d["names"].tolist() != list(names):
        return None
    return d


def encode_clips(front_end: AuditorySpikes, files: Sequence[Path], cache_dir: Optional[Path] = None,
                 cache: bool = True) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int], Optional[Path]]:
    """Sparse spike trains of WAV ``files`` (``[(bins, channels), ...]``, lengths, cache path or None).

    With ``cache``, read from / written to ``<cache_dir>/fsdd_spikes/<settings key>-<files key>.npz``."""
    files = [Path(p) for p in files]
    path = None
    d = None
    if cache:
        root = default_cache_dir(cache_dir) / "fsdd_spikes"
        path = root / f"{front_end.key()}-{_files_key(files)}.npz"
        if path.is_file():
            d = _load(path, [p.name for p in files])
    if d is None:
        d = _encode(front_end, files)
        if path is not None:
            _atomic_savez(path, d)
    off = d["offsets"]
    events = [(d["t"][off[i]:off[i + 1]], d["c"][off[i]:off[i + 1]]) for i in range(len(files))]
    return events, [int(n) for n in d["lengths"]], path


class FSDDSpikesDataModule(ArrayDataModule):
    """FSDD spike trains (see module docstring); front-end settings are those of :class:`AuditorySpikes`."""

    def __init__(self, channels: int = 700, fmin: float = 50.0, fmax: float = 3500.0, dt_ms: float = 1.0,
                 range_db: float = 60.0, min_peak: float = 1e-3, tau_ms: float = 5.0, threshold: float = 0.4,
                 adapt: float = 0.0, tau_adapt_ms: float = 50.0, max_ms: Optional[float] = 1000.0,
                 val_size: int = 300, pad: str = "end", cache: bool = True, cache_dir: Optional[str] = None,
                 fake: bool = False, **kwargs):
        if pad not in PAD_MODES:
            raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
        kwargs.setdefault("collate_fn", collate_pad_start if pad == "start" else collate_classification)
        super().__init__(**kwargs)
        if fake:  # smoke runs only: a tiny FSDD of tones in the official naming, read through the same code
            self.data_dir = fake_data_root("snn_repro_fake_fsdd", write_fake_fsdd)
        self.front_end = AuditorySpikes(FSDD_SAMPLE_RATE, channels, fmin, fmax, dt_ms, range_db, min_peak, tau_ms,
                                        threshold, adapt, tau_adapt_ms, max_ms)
        if val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {val_size}")
        self.val_size, self.pad, self.cache, self.cache_dir = int(val_size), pad, bool(cache), cache_dir
        self.input_size = self.front_end.channels
        self.cache_path: Optional[Path] = None

    @property
    def num_classes(self) -> int:
        return 10

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        files = official_files(self.data_dir)
        everything = files["train"] + files["test"]
        events, lengths, self.cache_path = encode_clips(self.front_end, [p for p, _ in everything], self.cache_dir, self.cache)
        n = len(files["train"])
        C = self.front_end.channels
        train = SpikeTrainDataset(events[:n], lengths[:n], [y for _, y in files["train"]], C, [p for p, _ in files["train"]])
        test = SpikeTrainDataset(events[n:], lengths[n:], [y for _, y in files["test"]], C, [p for p, _ in files["test"]])
        return hold_out(train, test, self.val_size, self.split_seed)  # the same clips as FSDDDataModule
