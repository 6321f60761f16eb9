"""Google Speech Commands v0.01 / v0.02 in the official folder layout, with the features of :mod:`common.data.audio`.

Files: ``<root>/<word>/<speaker>_nohash_<n>.wav`` (16 kHz mono 16-bit), ``<root>/testing_list.txt``,
``<root>/validation_list.txt`` and optionally ``<root>/_background_noise_/*.wav``, where ``<root>`` is
``speech_commands_<version>`` under ``<data_dir>/speech_commands``, ``<data_dir>`` or ``<data_dir>/SpeechCommands``
(torchaudio's place). Split (official): a clip listed in ``testing_list.txt`` is test, one listed in
``validation_list.txt`` is validation, every other clip is train (list entries whose file is absent are skipped:
the copy in ``../shared/data`` is a 300-clip subset).

Label sets (``classes``):

- ``"all"``: every word of the version is a class (35 for v0.02, 30 for v0.01), sorted alphabetically.
- ``"12"``: the ten command words + ``_silence_`` + ``_unknown_``, in TensorFlow's order (``_silence_`` = 0,
  ``_unknown_`` = 1, then yes, no, up, down, left, right, on, off, stop, go). As in TensorFlow's
  ``speech_commands/input_data.py``, per split ``ceil(unknown_fraction * K)`` clips of the other words
  are drawn as ``_unknown_`` and ``ceil(silence_fraction * K)`` silence clips are added (K = command-word
  clips in the split; ``unknown_fraction: null`` keeps every other-word clip). A silence clip is a 1 s crop of a
  ``_background_noise_`` recording scaled by ``U(0, silence_volume)`` (all zeros when that folder is absent, as
  TensorFlow's evaluation silence). Draws are fixed by ``data_seed``.

Each clip is padded with zeros (or cut) to ``clip_s`` = 1 s. Batches are :class:`~common.data.sequence.SeqBatch`
with ``x`` ``[T, B, F]`` (T = 101 frames at the default 10 ms hop).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset

from .audio import AudioClipDataset, AudioFeatures, read_wav, write_wav
from .base import ArrayDataModule, missing_dataset
from .sequence import collate_classification

__all__ = ["SpeechCommandsDataModule", "WORDS", "COMMANDS", "SILENCE", "UNKNOWN", "LIST_FILES", "write_fake_speech_commands",
           "SC_SAMPLE_RATE"]

SC_SAMPLE_RATE = 16000
_V1 = ("bed bird cat dog down eight five four go happy house left marvin nine no off on one right seven sheila six "
       "stop three tree two up wow yes zero").split()
WORDS = {"v0.01": tuple(sorted(_V1)),
         "v0.02": tuple(sorted(_V1 + ["backward", "follow", "forward", "learn", "visual"]))}
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
LIST_FILES = {"test": "testing_list.txt", "val": "validation_list.txt"}
NOISE_DIR = "_background_noise_"


def _find(root: Path, version: str) -> Optional[Path]:
    name = f"speech_commands_{version}"
    for folder in (root / "speech_commands" / name, root / name, root / "SpeechCommands" / name):
        if folder.is_dir():
            return folder
    return None


def write_fake_speech_commands(root: Path, version: str = "v0.01", words=("yes", "no", "up", "bed", "cat"),
                               per_word: int = 6, noise: bool = True, seed: int = 0) -> Path:
    """A tiny Speech Commands in the official layout (tones, one list entry per word in each list file)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "speech_commands" / f"speech_commands_{version}"
    lists: dict[str, list[str]] = {"test": [], "val": []}
    for w, word in enumerate(words):
        for i in range(per_word):
            rel = f"{word}/{i:08x}_nohash_0.wav"
            n = int(rng.integers(12000, SC_SAMPLE_RATE + 1))
            t = np.arange(n) / SC_SAMPLE_RATE
            write_wav(folder / rel, 0.3 * np.sin(2 * np.pi * (300 + 200 * w) * t), SC_SAMPLE_RATE)
            if i == 0:
                lists["test"].append(rel)
            elif i == 1:
                lists["val"].append(rel)
    lists["test"].append("absent/ffffffff_nohash_0.wav")  # the official lists name clips a subset lacks
    for split, name in LIST_FILES.items():
        (folder / name).write_text("\n".join(lists[split]) + "\n")
    if noise:
        write_wav(folder / NOISE_DIR / "white_noise.wav", rng.uniform(-0.5, 0.5, 3 * SC_SAMPLE_RATE), SC_SAMPLE_RATE)
    return Path(root)


class SpeechCommandsDataModule(ArrayDataModule):
    """Speech Commands (see module docstring). Feature settings are those of :class:`AudioFeatures`."""

    def __init__(self, version: str = "v0.02", classes: str = "12", kind: str = "logmel", n_mels: int = 40,
                 n_mfcc: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0, n_fft: Optional[int] = None,
                 fmin: float = 20.0, fmax: Optional[float] = None, clip_s: float = 1.0,
                 unknown_fraction: Optional[float] = 0.1, silence_fraction: float = 0.1, silence_volume: float = 0.1,
                 cache: bool = True, **kwargs):
        kwargs.setdefault("collate_fn", collate_classification)
        super().__init__(**kwargs)
        if version not in WORDS:
            raise ValueError(f"Speech Commands version must be one of {tuple(WORDS)}, got {version!r}")
        classes = str(classes)
        if classes not in ("12", "all"):
            raise ValueError(f"Speech Commands classes must be '12' or 'all', got {classes!r}")
        if (unknown_fraction is not None and unknown_fraction < 0) or silence_fraction < 0 or silence_volume < 0:
            raise ValueError("unknown_fraction, silence_fraction and silence_volume must be >= 0")
        self.version, self.classes = version, classes
        self.unknown_fraction, self.silence_fraction = unknown_fraction, float(silence_fraction)
        self.silence_volume, self.cache = float(silence_volume), bool(cache)
        self.features = AudioFeatures(SC_SAMPLE_RATE, kind, n_mels, n_mfcc, win_ms, hop_ms, n_fft, fmin, fmax, clip_s)
        self.input_size = self.features.num_features
        self.label_names = (SILENCE, UNKNOWN) + COMMANDS if classes == "12" else WORDS[version]

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def _root(self) -> Path:
        folder = _find(self.data_dir, self.version)
        name = f"speech_commands_{self.version}"
        how = (f"Unpack the official speech_commands_{self.version}.tar.gz (http://download.tensorflow.org/data/) into "
               "that folder.")
        if folder is None:
            raise missing_dataset(f"Speech Commands {self.version}", self.data_dir / "speech_commands" / name,
                                  list(LIST_FILES.values()) + ["<word>/*.wav"], how)
        absent = [f for f in LIST_FILES.values() if not (folder / f).is_file()]
        if absent:
            raise missing_dataset(f"Speech Commands {self.version}", folder, absent, how)
        return folder

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        root = self._root()
        listed = {split: {ln.strip() for ln in (root / name).read_text().splitlines() if ln.strip()}
                  for split, name in LIST_FILES.items()}
        clips: dict[str, list[tuple[Path, str]]] = {"train": [], "val": [], "test": []}
        for word in WORDS[self.version]:
            for p in sorted((root / word).glob("*.wav")):
                rel = f"{word}/{p.name}"
                split = "test" if rel in listed["test"] else "val" if rel in listed["val"] else "train"
                clips[split].append((p, word))
        if not any(clips.values()):
            raise missing_dataset(f"Speech Commands {self.version}", root, ["<word>/*.wav"], "No clip of any word found.")
        noise = [read_wav(p)[0] for p in sorted((root / NOISE_DIR).glob("*.wav"))]
        if self.classes == "12" and self.silence_fraction > 0 and not noise:
            warnings.warn(f"{root / NOISE_DIR} not found: the _silence_ clips are all zeros")
        return tuple(self._dataset(clips[s], noise, i) for i, s in enumerate(("train", "val", "test")))  # type: ignore

    def _dataset(self, clips: list, noise: list, split_index: int) -> AudioClipDataset:
        index = {w: i for i, w in enumerate(self.label_names)}
        if self.classes == "all":
            return AudioClipDataset([p for p, _ in clips], [index[w] for _, w in clips], self.features, self.cache)
        g = np.random.default_rng(self.split_seed * 10 + split_index)
        known = [(p, index[w]) for p, w in clips if w in COMMANDS]
        unknown = [(p, index[UNKNOWN]) for p, w in clips if w not in COMMANDS]
        if self.unknown_fraction is not None:
            n_unk = min(len(unknown), math.ceil(len(known) * self.unknown_fraction))
            unknown = [unknown[i] for i in sorted(g.permutation(len(unknown))[:n_unk])]
        n_sil = math.ceil(len(known) * self.silence_fraction) if clips else 0
        n = self.features.clip_samples or SC_SAMPLE_RATE
        silence = []
        for _ in range(n_sil):
            if noise:
                src = noise[int(g.integers(len(noise)))]
                start = int(g.integers(max(1, len(src) - n + 1)))
                seg = np.pad(src[start:start + n], (0, max(0, n - len(src))))
                silence.append((seg * g.uniform(0, self.silence_volume)).astype(np.float32))
            else:
                silence.append(np.zeros(n, np.float32))
        items = known + unknown
        files = [p for p, _ in items] + [None] * n_sil
        labels = [y for _, y in items] + [index[SILENCE]] * n_sil
        return AudioClipDataset(files, labels, self.features, self.cache, [None] * len(items) + silence)
