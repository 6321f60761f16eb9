"""Auditory front end that turns a waveform into SHD-like spike trains: ``[T, C]`` 0/1 frames at 1 ms.

SHD (Cramer et al., TNNLS 2020) was made from the Heidelberg Digits audio by the Lauscher pipeline: a
hydrodynamic basilar-membrane model read out at 700 places, a Meddis inner-hair-cell transmitter model per
place, and a population of leaky integrate-and-fire bushy cells per hair cell; SPSN bins its spike times at
1 ms (several spikes in a bin count once; see :mod:`common.data.shd`). No maintained Python package ships that
cochlea model (brian2hears, the nearest, has had no release since 2021 and needs Brian 2), so this front end
builds the same stages from scipy's and librosa's maintained parts:

1. **Resampling** (``librosa.resample``, soxr "hq") when the audio's rate differs from ``sample_rate``
   (the Heidelberg recordings are 48 kHz, FSDD 8 kHz: both go through the same filters at ``sample_rate``).
2. **Level normalisation**: the clip is scaled so its sample peak is 1 (full scale), unless the peak is
   below ``min_peak`` (default 1e-3, -60 dBFS): such a clip is taken as silence and left as it is. Lauscher
   does not normalise; FSDD's speakers were recorded at very different levels, so without it the spike
   count would say more about the microphone than the digit.
3. **Basilar membrane**: ``channels`` 4th-order gammatone filters (``scipy.signal.gammatone``, IIR, Slaney
   1993; unity gain at the centre frequency) with centre frequencies equally spaced on the ERB-rate scale
   (Glasberg & Moore 1990) from ``fmin`` to ``fmax``, the place-frequency map of the cochlea in the way a
   gammatone bank can model it. Default 700 channels, as SHD. FSDD's 8 kHz limits ``fmax`` to below 4 kHz
   (default 3.5 kHz, so the top filter's skirt stays below Nyquist); SHD's model covers the range of
   48 kHz audio, so high-frequency places (fricatives above 4 kHz) have no counterpart here. With 700
   channels over ~24 ERB, neighbouring channels overlap strongly (as SHD's places do).
4. **Inner hair cell**: half-wave rectification, averaged over each ``dt_ms`` bin (a 1 kHz box low-pass,
   which keeps phase locking below a few hundred Hz), scaled by pi (a sine of amplitude A at the centre
   frequency gives A), then log compression with a dynamic range of ``range_db``:
   ``drive = clip(1 + 20 log10(A) / range_db, 0, 1)`` - 0 at ``-range_db`` dB re full scale and below,
   1 at full scale. This replaces Meddis' transmitter model (its saturation and threshold are the clip).
5. **Spike encoder**: one leaky integrate-and-fire neuron per channel, stepped at ``dt_ms``:
   ``v = beta v + (1 - beta) drive`` (``beta = exp(-dt/tau_ms)``), a spike when ``v >= threshold + a``,
   hard reset to 0, and spike-frequency adaptation ``a = beta_a a + adapt * spike``
   (``beta_a = exp(-dt/tau_adapt_ms)``; ``adapt=0`` switches it off), which stands in for the hair cell's
   transmitter depletion (onset emphasis). At most one spike per bin, as SHD after 1 ms binning. SHD's
   population of bushy cells per place is replaced by one neuron per channel.
6. **Length**: ``T = ceil(samples / (sample_rate * dt_ms / 1000))`` bins, cut to ``max_ms`` (``None``: keep
   all). FSDD clips last 0.14-2.28 s (99 % under 0.92 s), so ``max_ms=1000`` gives up to 1,000 steps.

:func:`read_audio` reads FLAC (the Heidelberg Digits recordings, ``soundfile``) and WAV (:func:`read_wav`)
with errors that name the file; :func:`hd_audio_files` lists ``hd_audio_subset`` with SHD's 20 labels.

Measured with the defaults (``scripts/plot_spike_raster.py --stats 240``): FSDD's 300 test clips give
0.43 s mean length, ~9,000 spikes per clip, density 0.030 spikes per channel-step, 82 % of the channels active
in a clip; the 240 Heidelberg recordings (SHD's source audio, resampled to 8 kHz) 0.71 s, ~14,400 spikes,
density 0.029, 86 %. The spectro-temporal patterns (formants, harmonics, onsets) are visible in the raster
plot; fricative energy above ``fmax`` (e.g. the /s/ of "seven") is lost at 8 kHz.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .audio import read_wav
from .base import CorruptDatasetError, MissingDatasetError

__all__ = ["AuditorySpikes", "erb_space", "read_audio", "hd_audio_files", "spike_train_stats", "HD_PATTERN",
           "HD_SAMPLE_RATE", "AUDITORY_VERSION"]

AUDITORY_VERSION = 1  # bump when the encoding changes: it is part of every cache key
HD_SAMPLE_RATE = 48000
HD_PATTERN = re.compile(r"^lang-(english|german)_speaker-(\d+)_trial-(\d+)_digit-(\d)\.flac$")


def _erb_rate(f):
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f, dtype=np.float64))


def erb_space(fmin: float, fmax: float, n: int) -> np.ndarray:
    """``n`` frequencies (Hz, ascending) equally spaced on the ERB-rate scale from ``fmin`` to ``fmax``."""
    e = np.linspace(_erb_rate(fmin), _erb_rate(fmax), int(n))
    return (10.0 ** (e / 21.4) - 1.0) / 0.00437


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """``(float32 mono samples, sample_rate)`` of a WAV (16-bit PCM) or FLAC file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingDatasetError(f"audio file not found: {path}")
    if path.suffix.lower() == ".wav":
        return read_wav(path)
    import soundfile as sf

    try:
        announced = sf.info(str(path)).frames
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError on a bad or truncated file
        raise CorruptDatasetError(f"cannot read {path} as audio: {e} (truncated or not a FLAC/WAV file?)") from e
    if x.shape[0] == 0 or (announced > 0 and x.shape[0] < announced):
        raise CorruptDatasetError(f"{path} is truncated: {x.shape[0]} of the {announced} samples its header announces")
    return x.mean(axis=1), int(sr)


def hd_audio_files(folder: Path) -> list[tuple[Path, int]]:
    """``[(path, label), ...]`` of a Heidelberg Digits audio folder (``lang-*_speaker-*_trial-*_digit-*.flac``),
    sorted by name; label = digit + 10 for German (SHD's 20 classes)."""
    folder = Path(folder)
    if (folder / "audio").is_dir():
        folder = folder / "audio"
    out = []
    for p in sorted(folder.glob("*.flac")):
        m = HD_PATTERN.match(p.name)
        if m:
            out.append((p, int(m.group(4)) + (10 if m.group(1) == "german" else 0)))
    if not out:
        raise MissingDatasetError(
            f"no Heidelberg Digits recordings (lang-<english|german>_speaker-NN_trial-T_digit-D.flac) under {folder}; "
            "the data root's hd_audio_subset/audio holds 240 of them")
    return out


def spike_train_stats(trains) -> dict:
    """Summary of ``[T_i, C]`` 0/1 spike frames (e.g. FSDD's vs the Heidelberg recordings' through one front end):
    clips, mean steps, mean spikes per clip, density (spikes per channel-step), mean fraction of channels that
    fire at all in a clip, and the spike-weighted mean channel."""
    trains = [np.asarray(t) for t in trains]
    if not trains:
        raise ValueError("spike_train_stats: no spike trains")
    spikes = np.array([t.sum() for t in trains], dtype=np.float64)
    steps = np.array([t.shape[0] for t in trains], dtype=np.float64)
    per_c = sum(t.sum(0) for t in trains)
    return {"clips": len(trains), "mean_steps": float(steps.mean()), "mean_spikes": float(spikes.mean()),
            "density": float(spikes.sum() / (steps.sum() * trains[0].shape[1])),
            "active_channel_fraction": float(np.mean([(t.sum(0) > 0).mean() for t in trains])),
            "mean_channel": float((per_c * np.arange(len(per_c))).sum() / max(per_c.sum(), 1))}


class AuditorySpikes:
    """Waveform -> ``[T, channels]`` float 0/1 spike frames (see the module docstring for every stage)."""

    def __init__(self, sample_rate: int = 8000, channels: int = 700, fmin: float = 50.0, fmax: float = 3500.0,
                 dt_ms: float = 1.0, range_db: float = 60.0, min_peak: float = 1e-3, tau_ms: float = 5.0,
                 threshold: float = 0.4, adapt: float = 0.0, tau_adapt_ms: float = 50.0,
                 max_ms: Optional[float] = 1000.0):
        if sample_rate <= 0 or channels < 1 or dt_ms <= 0 or range_db <= 0 or tau_ms <= 0 or tau_adapt_ms <= 0:
            raise ValueError("sample_rate, channels, dt_ms, range_db, tau_ms and tau_adapt_ms must be positive")
        if not 0 < fmin < fmax < sample_rate / 2:
            raise ValueError(f"need 0 < fmin < fmax < sample_rate/2 = {sample_rate / 2}, got fmin={fmin}, fmax={fmax}")
        if threshold <= 0 or threshold >= 1:
            raise ValueError(f"threshold must be in (0, 1) (the drive is in [0, 1]), got {threshold}")
        if adapt < 0 or min_peak < 0:
            raise ValueError(f"adapt and min_peak must be >= 0, got {adapt}, {min_peak}")
        spb = sample_rate * dt_ms / 1000.0
        if abs(spb - round(spb)) > 1e-9 or round(spb) < 1:
            raise ValueError(f"dt_ms={dt_ms} must be a whole number of samples at {sample_rate} Hz")
        if max_ms is not None and max_ms < dt_ms:
            raise ValueError(f"max_ms must be >= dt_ms or null, got {max_ms}")
        self.sample_rate, self.channels, self.fmin, self.fmax = int(sample_rate), int(channels), float(fmin), float(fmax)
        self.dt_ms, self.range_db, self.min_peak = float(dt_ms), float(range_db), float(min_peak)
        self.tau_ms, self.threshold, self.adapt, self.tau_adapt_ms = float(tau_ms), float(threshold), float(adapt), float(tau_adapt_ms)
        self.max_ms = None if max_ms is None else float(max_ms)
        self.samples_per_bin = int(round(spb))
        self.max_bins = None if self.max_ms is None else int(math.floor(self.max_ms / self.dt_ms + 1e-9))
        self._filters: Optional[list] = None

    # -- settings ---------------------------------------------------------------------------------------
    def settings(self) -> dict:
        return {"version": AUDITORY_VERSION, "sample_rate": self.sample_rate, "channels": self.channels,
                "fmin": self.fmin, "fmax": self.fmax, "dt_ms": self.dt_ms, "range_db": self.range_db,
                "min_peak": self.min_peak, "tau_ms": self.tau_ms, "threshold": self.threshold, "adapt": self.adapt,
                "tau_adapt_ms": self.tau_adapt_ms, "max_ms": self.max_ms}

    def key(self) -> str:
        """A short hash of :meth:`settings` (cache keys)."""
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:16]

    def centre_frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each channel, ascending (channel 0 = ``fmin``)."""
        return erb_space(self.fmin, self.fmax, self.channels)

    def _bank(self) -> list:
        if self._filters is None:
            from scipy.signal import gammatone

            self._filters = [gammatone(float(f), "iir", fs=self.sample_rate) for f in self.centre_frequencies()]
        return self._filters

    # -- stages ---------------------------------------------------------------------------------------
    def prepare(self, x: np.ndarray, sample_rate: Optional[int] = None) -> np.ndarray:
        """Mono float64 waveform at ``sample_rate`` (resampled if needed), cut to ``max_ms``, peak-normalised."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"expected a mono waveform [samples], got shape {x.shape}")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            import librosa

            x = librosa.resample(x, orig_sr=int(sample_rate), target_sr=self.sample_rate, res_type="soxr_hq")
        if self.max_bins is not None:
            x = x[: self.max_bins * self.samples_per_bin]
        peak = float(np.abs(x).max()) if len(x) else 0.0
        if peak >= max(self.min_peak, 1e-12):
            x = x / peak
        return x

    def drive(self, x: np.ndarray, sample_rate: Optional[int] = None) -> np.ndarray:
        """Hair-cell drive ``[T, channels]`` in [0, 1] (stages 1-4)."""
        from scipy.signal import lfilter

        x = self.prepare(x, sample_rate)
        spb = self.samples_per_bin
        T = max(1, -(-len(x) // spb))
        x = np.pad(x, (0, T * spb - len(x)))
        out = np.empty((T, self.channels), dtype=np.float64)
        for c, (b, a) in enumerate(self._bank()):
            y = lfilter(b, a, x)
            out[:, c] = np.maximum(y, 0.0).reshape(T, spb).mean(axis=1)
        with np.errstate(divide="ignore"):
            level_db = 20.0 * np.log10(np.pi * out)
        return np.clip(1.0 + level_db / self.range_db, 0.0, 1.0)

    def encode_drive(self, drive: np.ndarray) -> np.ndarray:
        """LIF spike encoder per channel (stage 5): ``[T, C]`` drive -> ``[T, C]`` bool spikes."""
        drive = np.asarray(drive, dtype=np.float64)
        beta, beta_a = math.exp(-self.dt_ms / self.tau_ms), math.exp(-self.dt_ms / self.tau_adapt_ms)
        v = np.zeros(drive.shape[1])
        a = np.zeros(drive.shape[1])
        spikes = np.zeros(drive.shape, dtype=bool)
        for t in range(drive.shape[0]):
            v = beta * v + (1.0 - beta) * drive[t]
            s = v >= self.threshold + a
            spikes[t] = s
            v[s] = 0.0
            if self.adapt:
                a = beta_a * a + self.adapt * s
        return spikes

    def events(self, x: np.ndarray, sample_rate: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Sparse spikes: ``(bin index, channel, T)`` (int arrays sorted by time then channel)."""
        s = self.encode_drive(self.drive(x, sample_rate))
        t, c = np.nonzero(s)
        return t, c, s.shape[0]

    def __call__(self, x: np.ndarray, sample_rate: Optional[int] = None) -> torch.Tensor:
        """``[T, channels]`` float32 spike frames (1 = spike in that 1 ms bin)."""
        return torch.from_numpy(self.encode_drive(self.drive(x, sample_rate)).astype(np.float32))

    def encode_file(self, path: Path) -> torch.Tensor:
        """Spike frames of a WAV/FLAC file (resampled to ``sample_rate`` if it was recorded at another rate)."""
        x, sr = read_audio(path)
        return self(x, sr)
