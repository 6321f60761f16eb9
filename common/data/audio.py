"""The one audio front end of the suite: WAV reading and log-mel / MFCC features (librosa).

Speech Commands and FSDD share it, so both datasets are featurised the same way. torchaudio has no
build for the pinned torch, hence librosa (installed with tonic).

:class:`AudioFeatures` maps a mono waveform to a time-first ``[frames, features]`` float tensor:

- the clip is zero-padded (or cut) at the end to ``clip_s`` seconds (``None``: keep its length);
- power mel spectrogram: ``n_fft`` (default: the window length rounded up to a power of two), a Hann
  window of ``win_ms``, hop ``hop_ms``, ``n_mels`` bands between ``fmin`` and ``fmax`` (default sr/2),
  ``center=True`` (frames = 1 + samples // hop);
- ``kind="logmel"``: ``log(mel + log_eps)``; ``kind="mfcc"``: the first ``n_mfcc`` DCT-II coefficients
  of the mel spectrogram in dB (``librosa.feature.mfcc`` on ``power_to_db(mel)``).
"""
from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import CorruptDatasetError

__all__ = ["read_wav", "write_wav", "AudioFeatures", "AudioClipDataset", "FEATURE_KINDS"]

FEATURE_KINDS = ("logmel", "mfcc")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """``(float32 samples in [-1, 1), sample_rate)`` of a 16-bit PCM WAV; mono (channels averaged).

    Raises :class:`CorruptDatasetError` naming the file if it is not a 16-bit WAV or holds fewer samples
    than its header announces (a truncated copy).
    """
    try:
        with wave.open(str(path), "rb") as w:
            sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError) as e:
        raise CorruptDatasetError(f"cannot read {path} as a WAV file: {e} (truncated or not a WAV?)") from e
    if width != 2:
        raise CorruptDatasetError(f"{path}: {8 * width}-bit samples, expected 16-bit PCM")
    if len(raw) != n * ch * width:
        raise CorruptDatasetError(f"{path} is truncated: {len(raw) // (ch * width)} of the {n} samples its header announces")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, sr


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float samples in [-1, 1] as a mono 16-bit PCM WAV (tests and fake datasets)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return path


class AudioFeatures:
    """Waveform ``[samples]`` -> features ``[frames, n_mels or n_mfcc]`` (see module docstring)."""

    def __init__(self, sample_rate: int = 16000, kind: str = "logmel", n_mels: int = 40, n_mfcc: int = 40,
                 win_ms: float = 25.0, hop_ms: float = 10.0, n_fft: Optional[int] = None, fmin: float = 20.0,
                 fmax: Optional[float] = None, clip_s: Optional[float] = 1.0, log_eps: float = 1e-6):
        if kind not in FEATURE_KINDS:
            raise ValueError(f"audio feature kind must be one of {FEATURE_KINDS}, got {kind!r}")
        if n_mels < 1 or win_ms <= 0 or hop_ms <= 0 or sample_rate <= 0:
            raise ValueError("n_mels, win_ms, hop_ms and sample_rate must be positive")
        if kind == "mfcc" and not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
        self.sample_rate, self.kind, self.n_mels, self.n_mfcc = int(sample_rate), kind, int(n_mels), int(n_mfcc)
        self.win_length = int(round(sample_rate * win_ms / 1000))
        self.hop_length = int(round(sample_rate * hop_ms / 1000))
        self.n_fft = int(n_fft) if n_fft else 2 ** math.ceil(math.log2(self.win_length))
        if self.n_fft < self.win_length:
            raise ValueError(f"n_fft={self.n_fft} is shorter than the window ({self.win_length} samples)")
        self.fmin, self.fmax = float(fmin), float(fmax) if fmax else sample_rate / 2
        self.clip_samples = None if clip_s is None else int(round(clip_s * sample_rate))
        self.log_eps = float(log_eps)

    @property
    def num_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def mel_centers(self) -> np.ndarray:
        """Centre frequency (Hz) of each mel band."""
        import librosa

        return librosa.mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self.fmax)[1:-1]

    def fit_length(self, x: np.ndarray) -> np.ndarray:
        if self.clip_samples is None:
            return x
        if len(x) >= self.clip_samples:
            return x[: self.clip_samples]
        return np.pad(x, (0, self.clip_samples - len(x)))

    def __call__(self, x: np.ndarray, sample_rate: Optional[int] = None) -> torch.Tensor:
        import librosa

        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            raise ValueError(f"audio at {sample_rate} Hz, features configured for sample_rate={self.sample_rate}")
        x = self.fit_length(np.asarray(x, dtype=np.float32))
        mel = librosa.feature.melspectrogram(
            y=x, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            window="hann", center=True, power=2.0, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        if self.kind == "logmel":
            feats = np.log(mel + self.log_eps)
        else:
            feats = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=self.n_mfcc)
        return torch.from_numpy(np.ascontiguousarray(feats.T, dtype=np.float32))


class AudioClipDataset(Dataset):
    """``(features [frames, F], label)`` for a list of WAV files; features computed on first access and
    kept in memory when ``cache`` (a clip's features never change). ``waveforms`` (optional, same length
    as ``files``) gives in-memory clips for entries whose file is ``None`` (e.g. Speech Commands' silence)."""

    def __init__(self, files: Sequence[Optional[Path]], labels: Sequence[int], features: AudioFeatures,
                 cache: bool = True, waveforms: Optional[Sequence[Optional[np.ndarray]]] = None):
        if len(files) != len(labels):
            raise ValueError("files and labels differ in length")
        self.files, self.labels, self.features, self.cache = list(files), torch.as_tensor(labels, dtype=torch.long), features, cache
        self.waveforms = list(waveforms) if waveforms is not None else [None] * len(self.files)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.files)

    def waveform(self, i: int) -> np.ndarray:
        if self.files[i] is None:
            return self.waveforms[i]  # type: ignore[return-value]
        x, sr = read_wav(self.files[i])  # type: ignore[arg-type]
        if sr != self.features.sample_rate:
            raise CorruptDatasetError(f"{self.files[i]}: {sr} Hz, expected {self.features.sample_rate} Hz")
        return x

    def __getitem__(self, i: int):
        x = self._cache.get(i)
        if x is None:
            x = self.features(self.waveform(i))
            if self.cache:
                self._cache[i] = x
        return x, self.labels[i]
