"""Auditory spike front end (issue 13): the SHD stand-in built from FSDD's real audio, and its data module."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from common.data import CorruptDatasetError, MissingDatasetError
from common.data import fsdd_spikes
from common.data.auditory import AuditorySpikes, erb_space, hd_audio_files, read_audio, spike_train_stats
from common.data.audio import read_wav
from common.data.fsdd import FSDDDataModule, write_fake_fsdd
from common.data.fsdd_spikes import FSDDSpikesDataModule
from common.data.sequence import SeqBatch

SR = 8000
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "data" / "fsdd_spikes.yaml"


def _tone(freq, on_ms, off_ms, total_ms, sr=SR, amp=0.5):
    t = np.arange(int(total_ms * sr / 1000)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    x[(t < on_ms / 1000) | (t >= off_ms / 1000)] = 0.0
    return x


def _channel_window(fe, f, erbs):
    """Channels whose centre lies within ``erbs`` ERB-rate units of ``f``."""
    e = 21.4 * np.log10(1 + 0.00437 * fe.centre_frequencies())
    return np.abs(e - 21.4 * np.log10(1 + 0.00437 * f)) <= erbs


def test_erb_space_endpoints_and_order():
    f = erb_space(50.0, 3500.0, 700)
    assert f[0] == pytest.approx(50.0) and f[-1] == pytest.approx(3500.0) and np.all(np.diff(f) > 0)
    assert np.diff(f)[-1] > 10 * np.diff(f)[0]  # denser at low frequencies, like the cochlea's map


def test_two_tones_land_in_their_channels_and_time_bins():
    fe = AuditorySpikes()  # the config's defaults: 700 channels, 1 ms bins
    x = _tone(500.0, 100, 300, 800) + _tone(2500.0, 450, 650, 800)
    s = fe(x, SR).numpy()
    assert s.shape == (800, 700) and set(np.unique(s)) <= {0.0, 1.0}
    per_t = s.sum(1)
    assert per_t[:100].sum() == 0 and per_t[340:450].sum() == 0 and per_t[690:].sum() == 0  # off: silent (after the filters ring down)
    assert (per_t[105:300] > 0).mean() > 0.8 and (per_t[455:650] > 0).mean() > 0.8  # on: spiking throughout
    erb = 21.4 * np.log10(1 + 0.00437 * fe.centre_frequencies())
    for on, freq in ((100, 500.0), (450, 2500.0)):
        per_c = s[on:on + 240].sum(0)  # the tone and its ring-down
        e0 = 21.4 * np.log10(1 + 0.00437 * freq)
        assert per_c.sum() > 1000
        assert abs((per_c * erb).sum() / per_c.sum() - e0) < 0.5  # spike-weighted centre within 0.5 ERB
        assert per_c[_channel_window(fe, freq, 2.0)].sum() > 0.8 * per_c.sum()  # most within 2 ERB
        steady = s[on + 50:on + 190].sum(0)  # without the broadband clicks of the abrupt on/offset
        assert steady[~_channel_window(fe, freq, 3.5)].sum() == 0


def test_spike_rate_follows_level():
    fe = AuditorySpikes(channels=200)
    x = _tone(500.0, 0, 300, 300) + _tone(2000.0, 0, 300, 300, amp=0.05)  # the 2 kHz tone 20 dB weaker
    per_c = fe(x, SR).numpy()[50:].sum(0)
    near = lambda f: per_c[_channel_window(fe, f, 0.5)].mean()  # noqa: E731
    assert near(2000.0) > 0 and near(500.0) > 1.25 * near(2000.0)  # ~275 vs ~190 spikes/s


def test_silence_gives_no_spikes():
    fe = AuditorySpikes(channels=128)
    assert fe(np.zeros(4000), SR).sum() == 0
    faint = 1e-4 * np.random.default_rng(0).standard_normal(4000)  # -80 dBFS: below min_peak, not normalised
    assert fe(faint, SR).sum() == 0
    loud = fe(0.3 * np.random.default_rng(0).standard_normal(4000), SR)
    assert loud.sum() > 1000  # the same noise at speech level does fire


def test_length_binning_and_cut():
    fe = AuditorySpikes(channels=16, max_ms=250)
    assert fe(np.zeros(8 * 100 + 3), SR).shape == (101, 16)  # ceil(803 / 8) bins of 1 ms
    assert fe(np.zeros(8 * 400), SR).shape == (250, 16)  # cut to max_ms
    with pytest.raises(ValueError, match="fmax"):
        AuditorySpikes(fmax=4500.0)
    with pytest.raises(ValueError, match="threshold"):
        AuditorySpikes(threshold=1.5)


def test_48k_flac_is_resampled_through_the_same_front_end(tmp_path):
    import soundfile as sf

    fe = AuditorySpikes(channels=200)
    x8 = _tone(1000.0, 50, 250, 300, sr=8000)
    x48 = _tone(1000.0, 50, 250, 300, sr=48000)
    p = tmp_path / "lang-german_speaker-03_trial-0_digit-7.flac"
    sf.write(str(p), x48, 48000, subtype="PCM_16")
    s48, s8 = fe.encode_file(p).numpy(), fe(x8, 8000).numpy()
    assert s48.shape == s8.shape == (300, 200)
    assert abs(int(s48.sum(0).argmax()) - int(s8.sum(0).argmax())) <= 3
    assert abs(s48.sum() - s8.sum()) <= 0.1 * s8.sum()
    assert hd_audio_files(tmp_path) == [(p, 17)]  # SHD's labels: digit + 10 for German
    raw = p.read_bytes()
    for cut in (len(raw) // 2, 200):  # cut mid-stream / in the header
        p.write_bytes(raw[:cut])
        with pytest.raises(CorruptDatasetError, match=p.name):
            fe.encode_file(p)
    with pytest.raises(MissingDatasetError, match="hd_audio_subset"):
        hd_audio_files(tmp_path / "nothing")


# -- data module ----------------------------------------------------------------------------------------
def _dm(root, **kw):
    kw = {"channels": 64, "val_size": 6, "batch_size": 5, "cache_dir": str(Path(root) / "cache"), **kw}
    return FSDDSpikesDataModule(data_dir=str(root), **kw)


def test_official_split_and_batches(tmp_path):
    write_fake_fsdd(tmp_path, takes=7)  # 10 digits x 2 speakers x takes 0..6
    dm = _dm(tmp_path)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (34, 6, 100)  # takes 0-4 -> test, 5-6 -> train
    assert all(int(p.stem.split("_")[2]) <= 4 for p in test.files)
    assert all(int(train.dataset.files[i].stem.split("_")[2]) >= 5 for i in train.indices + val.indices)
    ref = FSDDDataModule(data_dir=str(tmp_path), val_size=6)
    assert val.indices == ref.split("val").indices  # the same held-out clips as the feature module
    assert _dm(tmp_path, data_seed=1).split("val").indices != val.indices
    x, y = test[0]
    assert int(y) == int(test.files[0].name[0]) and x.shape[1] == 64
    assert torch.equal(x, dm.front_end(*read_wav(test.files[0])))  # the cache holds exactly the encoding
    b = next(iter(dm.train_dataloader()))
    assert isinstance(b, SeqBatch) and b.x.shape == (int(b.lengths.max()), 5, 64)
    assert len(set(b.lengths.tolist())) > 1  # clips keep their own lengths
    short = int(b.lengths.argmin())
    assert b.x[int(b.lengths[short]):, short].sum() == 0  # padded after the end
    bs = next(iter(_dm(tmp_path, pad="start").train_dataloader()))
    assert torch.equal(bs.lengths, b.lengths)
    T, n = bs.x.shape[0], int(bs.lengths[short])
    assert torch.equal(bs.x[T - n:, short], b.x[:n, short]) and bs.x[: T - n, short].sum() == 0


def test_cache_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    write_fake_fsdd(tmp_path, speakers=("theo",), takes=6)
    dm = _dm(tmp_path, val_size=0)
    dm.setup()
    path = dm.cache_path
    assert path is not None and path.is_file() and path.parent == tmp_path / "cache" / "fsdd_spikes"
    first = dm.split("test")[3][0]
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temporary file

    def boom(*a, **k):
        raise AssertionError("re-encoded although the cache file exists")

    monkeypatch.setattr(fsdd_spikes, "_encode", boom)
    again = _dm(tmp_path, val_size=0)
    again.setup()
    assert again.cache_path == path and torch.equal(again.split("test")[3][0], first)
    with pytest.raises(AssertionError, match="re-encoded"):  # another setting -> another key
        _dm(tmp_path, val_size=0, threshold=0.6).setup()
    monkeypatch.undo()
    other = _dm(tmp_path, val_size=0, threshold=0.6)
    other.setup()
    assert other.cache_path != path and other.cache_path.is_file()
    assert _dm(tmp_path, val_size=0, cache=False).split("test")[3][0].equal(first)
    path.write_bytes(path.read_bytes()[:100])  # a truncated cache file is rebuilt
    rebuilt = _dm(tmp_path, val_size=0)
    assert torch.equal(rebuilt.split("test")[3][0], first)
    assert np.load(path)["names"].shape == (60,)
    wav = tmp_path / "fsdd" / "recordings" / "4_theo_2.wav"
    raw = bytearray(wav.read_bytes())
    raw[-200:] = bytes(200)  # the same size, other samples: another cache file
    wav.write_bytes(bytes(raw))
    changed = _dm(tmp_path, val_size=0)
    changed.setup()
    assert changed.cache_path not in (path, other.cache_path)


def test_missing_and_truncated_wav(tmp_path):
    with pytest.raises(MissingDatasetError, match="recordings"):
        _dm(tmp_path).setup()
    write_fake_fsdd(tmp_path, speakers=("theo",), takes=6)
    p = tmp_path / "fsdd" / "recordings" / "3_theo_1.wav"
    p.write_bytes(p.read_bytes()[:-500])
    with pytest.raises(CorruptDatasetError, match="3_theo_1.wav"):
        _dm(tmp_path, val_size=0).setup()
    assert not list((tmp_path / "cache").rglob("*.npz"))  # nothing cached from a failed encoding


def test_config_instantiates(tmp_path):
    from hydra.utils import get_class

    cfg = yaml.safe_load(CONFIG.read_text())
    cls = get_class(cfg.pop("_target_"))
    cfg.update(data_dir=str(tmp_path), seed=0, data_seed=0)
    dm = cls(**cfg)
    assert dm.input_size == 700 and dm.num_classes == 10 and dm.front_end.max_bins == 1000
    fake = cls(**{**cfg, "fake": True, "channels": 32, "val_size": 4, "cache_dir": str(tmp_path / "cache")})
    b = next(iter(fake.train_dataloader()))
    assert b.x.shape[1:] == (36, 32) and b.x.sum() > 0 and len(fake.split("test")) == 100  # 40 train - 4 val


# -- the real recordings in ../shared/data ----------------------------------------------------------------
def test_real_fsdd_and_hd_recordings(data_dir):
    """One real FSDD digit and one real Heidelberg Digits recording (SHD's source audio) through the same front
    end: spikes during the word, in speech-band channels, with similar density for both corpora."""
    fsdd = data_dir / "fsdd" / "recordings" / "7_jackson_0.wav"
    hd = data_dir / "hd_audio_subset" / "audio" / "lang-english_speaker-00_trial-0_digit-7.flac"
    if not (fsdd.is_file() and hd.is_file()):
        pytest.skip("fsdd / hd_audio_subset not in the data root")
    fe = AuditorySpikes()
    stats = []
    for path in (fsdd, hd):
        x, sr = read_audio(path)
        s = fe(x, sr).numpy()
        assert s.shape[1] == 700 and s.shape[0] == min(1000, int(np.ceil(len(x) / sr * 1000)))
        per_c = s.sum(0)
        assert fe.centre_frequencies()[per_c > 0].min() < 500  # voiced speech reaches the low channels
        stats.append(spike_train_stats([s]))
    dens = [st["density"] for st in stats]
    assert all(st["active_channel_fraction"] > 0.3 for st in stats), stats  # many channels take part
    assert all(1e-3 < d < 0.1 for d in dens) and max(dens) / min(dens) < 5, dens  # alike for both corpora


def test_spike_train_stats():
    a = np.zeros((10, 4))
    a[2, 1] = a[3, 1] = a[5, 3] = 1
    st = spike_train_stats([a, np.zeros((30, 4))])
    assert st["clips"] == 2 and st["mean_steps"] == 20 and st["mean_spikes"] == 1.5
    assert st["density"] == pytest.approx(3 / 160) and st["active_channel_fraction"] == pytest.approx(0.25)
    assert st["mean_channel"] == pytest.approx(5 / 3)
