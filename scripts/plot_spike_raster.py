#!/usr/bin/env python
"""Raster plot of the auditory spike front end on one FSDD digit and one Heidelberg Digits recording.

    python scripts/plot_spike_raster.py --out /tmp/raster.png
    python scripts/plot_spike_raster.py --out raster.png --fsdd 3_theo_0.wav --hd lang-german_speaker-02_trial-0_digit-3.flac
    python scripts/plot_spike_raster.py --out raster.png --set threshold=0.6 --set adapt=0.2
    python scripts/plot_spike_raster.py --out raster.png --stats 60   # also compare 60 clips of each corpus

The front end's settings are those of ``configs/data/fsdd_spikes.yaml`` (the FSDD spike data module's), changed
by ``--set key=value``. The Heidelberg recording (48 kHz, SHD's source audio) is resampled to the front end's
8 kHz and goes through the same filters and encoder. Each column shows the waveform and the spike raster
(time in ms against channel, labelled by centre frequency); the title gives the spike count and density.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.data.auditory import AuditorySpikes, hd_audio_files, read_audio, spike_train_stats  # noqa: E402
from common.data.fsdd import FSDD_SAMPLE_RATE, _find, fsdd_files  # noqa: E402
from common.data.root import resolve_data_dir  # noqa: E402

FRONT_END_KEYS = ("channels", "fmin", "fmax", "dt_ms", "range_db", "min_peak", "tau_ms", "threshold", "adapt",
                  "tau_adapt_ms", "max_ms")


def front_end_from_config(overrides: list[str]) -> AuditorySpikes:
    cfg = yaml.safe_load((ROOT / "configs" / "data" / "fsdd_spikes.yaml").read_text())
    kw = {k: cfg[k] for k in FRONT_END_KEYS}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in FRONT_END_KEYS:
            raise SystemExit(f"--set {item}: unknown key {key!r}; one of {', '.join(FRONT_END_KEYS)}")
        kw[key] = yaml.safe_load(value)
    return AuditorySpikes(sample_rate=FSDD_SAMPLE_RATE, **kw)


def plot(out: Path, files: list[Path], fe: AuditorySpikes) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(files), figsize=(6 * len(files), 7), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 3]})
    cf = fe.centre_frequencies()
    ticks = [c for c in range(0, fe.channels, max(1, fe.channels // 7))]
    for j, path in enumerate(files):
        x, sr = read_audio(path)
        s = fe(x, sr).numpy()
        t, c = np.nonzero(s)
        T = s.shape[0]
        ax = axes[0, j]
        ax.plot(np.arange(len(x)) / sr * 1000, x, lw=0.5, color="0.3")
        ax.set_xlim(0, T * fe.dt_ms)
        ax.set_title(f"{path.name}\n{sr} Hz, {len(x) / sr:.2f} s")
        ax.set_ylabel("amplitude")
        ax = axes[1, j]
        ax.scatter(t * fe.dt_ms, c, s=1.5, marker="s", color="k", edgecolors="none", rasterized=True)
        ax.set_xlim(0, T * fe.dt_ms)
        ax.set_ylim(-0.5, fe.channels - 0.5)
        ax.set_yticks(ticks, [f"{c} ({cf[c]:.0f} Hz)" for c in ticks], fontsize=7)
        ax.set_xlabel(f"time (ms, {fe.dt_ms:g} ms bins)")
        ax.set_ylabel("channel (centre frequency)")
        ax.set_title(f"{len(t)} spikes, T={T} steps x {fe.channels} channels, density {s.mean():.4f}", fontsize=9)
    fig.suptitle("Auditory spike front end (gammatone bank -> hair-cell drive -> LIF per channel)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, metadata={"Software": None})  # no version stamp: the committed PNG repeats
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    ap.add_argument("--data-dir", default=None, help="data root (default: paths.data_dir / $SNN_REPRO_DATA / ../shared/data)")
    ap.add_argument("--fsdd", default="7_jackson_0.wav", help="file name in <data_dir>/fsdd/recordings")
    ap.add_argument("--hd", default="lang-english_speaker-00_trial-0_digit-7.flac",
                    help="file name in <data_dir>/hd_audio_subset/audio ('' to leave it out)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="front-end setting override")
    ap.add_argument("--stats", type=int, default=0, metavar="N",
                    help="also print spike statistics of N clips of each corpus (FSDD test split, every "
                         "len/N-th HD recording)")
    args = ap.parse_args(argv)
    root = resolve_data_dir(args.data_dir)
    fe = front_end_from_config(args.set)
    files = [root / "fsdd" / "recordings" / args.fsdd]
    if args.hd:
        files.append(root / "hd_audio_subset" / "audio" / args.hd)
    out = plot(args.out, files, fe)
    print(f"wrote {out}")
    if args.stats > 0:
        folder = _find(root)
        if folder is None:
            raise SystemExit(f"no FSDD recordings under {root}")
        test = fsdd_files(folder)["test"]
        corpora = {"fsdd (test split)": [p for p, _ in test[:: max(1, len(test) // args.stats)][: args.stats]]}
        if args.hd:
            hd = hd_audio_files(root / "hd_audio_subset")
            corpora["hd_audio_subset"] = [p for p, _ in hd[:: max(1, len(hd) // args.stats)][: args.stats]]
        for name, paths in corpora.items():
            st = spike_train_stats([fe.encode_file(p).numpy() for p in paths])
            print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in st.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
