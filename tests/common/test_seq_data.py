"""Sequence data modules (issue 12): audio front end, Speech Commands, FSDD, UCI HAR, DVS Gesture, sequential
MNIST and psMNIST. Each reads small official-format files the test writes (psMNIST: the real MNIST files)."""
import hashlib
import lzma
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from common.data import CorruptDatasetError, MissingDatasetError
from common.data.audio import AudioFeatures, read_wav, write_wav
from common.data.dvs_gesture import DVSGestureDataModule, write_fake_dvs_gesture
from common.data.fsdd import FSDDDataModule, write_fake_fsdd
from common.data.mnist import MNISTDataModule, load_mnist, nru_permutations
from common.data.sequence import SeqBatch
from common.data.speech_commands import COMMANDS, SILENCE, UNKNOWN, SpeechCommandsDataModule, write_fake_speech_commands
from common.data.uci_har import HAR_CHANNELS, UCIHARDataModule, load_har_split, write_fake_har

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


# -- audio front end -------------------------------------------------------------------------------
@pytest.mark.parametrize("sr,freq", [(16000, 1000.0), (16000, 3000.0), (8000, 500.0)])
def test_tone_energy_lands_in_its_mel_band(sr, freq):
    feats = AudioFeatures(sample_rate=sr, n_mels=40, clip_s=1.0)
    t = np.arange(int(0.6 * sr)) / sr
    x = feats(0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32), sr)
    assert x.shape == (101, 40) and x.dtype == torch.float32  # 1 s padded, 10 ms hop, center=True
    band = int(x[:50].mean(0).argmax())
    centres = feats.mel_centers()
    assert abs(band - int(np.abs(centres - freq).argmin())) <= 1, (band, centres[band])
    assert float(x[-20:].max()) == pytest.approx(math.log(1e-6), abs=1e-3)  # the zero padding is silent
    mfcc = AudioFeatures(sample_rate=sr, kind="mfcc", n_mels=40, n_mfcc=13)(np.sin(2 * np.pi * freq * t))
    assert mfcc.shape == (101, 13)


def test_wav_roundtrip_and_truncated_wav_names_the_file(tmp_path):
    x = np.sin(np.linspace(0, 100, 4000)) * 0.5
    p = write_wav(tmp_path / "a.wav", x, 8000)
    y, sr = read_wav(p)
    assert sr == 8000 and np.abs(y - x).max() < 1e-4
    raw = p.read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(CorruptDatasetError, match="cut.wav"):
        read_wav(tmp_path / "cut.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000junk")
    with pytest.raises(CorruptDatasetError, match="junk.wav"):
        read_wav(tmp_path / "junk.wav")


# -- FSDD -------------------------------------------------------------------------------------------
def test_fsdd_official_index_split(tmp_path):
    write_fake_fsdd(tmp_path, takes=7)  # 10 digits x 2 speakers x takes 0..6
    dm = FSDDDataModule(data_dir=str(tmp_path), val_size=6, batch_size=5, clip_s=None)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (40 - 6, 6, 100)  # takes 0-4 -> test, 5-6 -> train
    assert all(int(p.stem.split("_")[2]) <= 4 for p in test.files)
    tr_files = {train.dataset.files[i].name for i in train.indices} | {val.dataset.files[i].name for i in val.indices}
    assert len(tr_files) == 40 and all(int(n[:-4].split("_")[2]) >= 5 for n in tr_files)
    assert not set(val.indices) & set(train.indices)
    x, y = test[0]
    assert int(y) == int(test.files[0].name[0]) and x.shape[1] == 40
    b = next(iter(dm.train_dataloader()))  # clip_s=None: variable lengths, padded time-first
    assert isinstance(b, SeqBatch) and b.x.shape[:2] == (int(b.lengths.max()), 5) and len(set(b.lengths.tolist())) > 1
    again = FSDDDataModule(data_dir=str(tmp_path), val_size=6, data_seed=1).split("val").indices
    assert again != val.indices  # data_seed moves the held-out clips


def test_fsdd_missing_and_truncated(tmp_path):
    with pytest.raises(MissingDatasetError, match="recordings"):
        FSDDDataModule(data_dir=str(tmp_path)).setup()
    write_fake_fsdd(tmp_path, speakers=("theo",), takes=6)
    p = tmp_path / "fsdd" / "recordings" / "3_theo_1.wav"
    p.write_bytes(p.read_bytes()[:-500])
    dm = FSDDDataModule(data_dir=str(tmp_path), val_size=0)
    test = dm.split("test")
    with pytest.raises(CorruptDatasetError, match="3_theo_1.wav"):
        test[test.files.index(p)]


# -- Speech Commands --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sc_root(tmp_path_factory):
    return write_fake_speech_commands(tmp_path_factory.mktemp("sc"), per_word=6)


def test_speech_commands_all_words_official_lists(sc_root):
    dm = SpeechCommandsDataModule(data_dir=str(sc_root), version="v0.01", classes="all", batch_size=4)
    assert dm.num_classes == 30
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (20, 5, 5)  # take 0 listed as test, take 1 as validation
    assert all(p.name.startswith("00000000_") for p in test.files) and all(p.name.startswith("00000001_") for p in val.files)
    assert [dm.label_names[int(y)] for y in test.labels] == [p.parent.name for p in test.files]
    b = next(iter(dm.train_dataloader()))
    assert b.x.shape == (101, 4, 40) and torch.equal(b.lengths, torch.full((4,), 101))


def test_speech_commands_12_classes(sc_root):
    dm = SpeechCommandsDataModule(data_dir=str(sc_root), version="v0.01", classes="12", unknown_fraction=0.5,
                                  silence_fraction=0.25, kind="mfcc", n_mfcc=13)
    assert dm.num_classes == 12 and dm.label_names[:2] == (SILENCE, UNKNOWN) and dm.label_names[2:] == COMMANDS
    train = dm.split("train")
    labels = [dm.label_names[int(y)] for y in train.labels]
    known = sum(lab in COMMANDS for lab in labels)  # yes, no, up: 4 train clips each
    assert known == 12 and labels.count(UNKNOWN) == math.ceil(0.5 * 12) and labels.count(SILENCE) == math.ceil(0.25 * 12)
    x, y = train[len(train) - 1]  # a silence clip cut from _background_noise_
    assert dm.label_names[int(y)] == SILENCE and x.shape == (101, 13)
    ys = [int(y) for _, y in (train[i] for i in range(len(train) - 3, len(train)))]
    assert ys == [0, 0, 0]
    full = SpeechCommandsDataModule(data_dir=str(sc_root), version="v0.01", unknown_fraction=None).split("train")
    assert [dm.label_names[int(y)] for y in full.labels].count(UNKNOWN) == 8  # bed, cat: 4 train clips each


def test_speech_commands_missing_and_truncated(tmp_path):
    with pytest.raises(MissingDatasetError, match="speech_commands_v0.02"):
        SpeechCommandsDataModule(data_dir=str(tmp_path)).setup()
    write_fake_speech_commands(tmp_path, version="v0.02", words=("yes", "follow"), per_word=3, noise=False)
    folder = tmp_path / "speech_commands" / "speech_commands_v0.02"
    dm = SpeechCommandsDataModule(data_dir=str(tmp_path), classes="all")
    assert dm.num_classes == 35 and len(dm.split("train")) == 2
    p = folder / "follow" / "00000002_nohash_0.wav"
    p.write_bytes(p.read_bytes()[:2000])
    train = dm.split("train")
    with pytest.raises(CorruptDatasetError, match="00000002_nohash_0.wav"):
        train[train.files.index(p)]
    (folder / "validation_list.txt").unlink()
    with pytest.raises(MissingDatasetError, match="validation_list.txt"):
        SpeechCommandsDataModule(data_dir=str(tmp_path)).setup()


# -- UCI HAR ----------------------------------------------------------------------------------------
def test_uci_har_plain_and_xz_subject_split_and_normalisation(tmp_path):
    write_fake_har(tmp_path / "xz", compress=True)
    write_fake_har(tmp_path / "txt", compress=False)
    root = lambda d: tmp_path / d / "uci_har" / "UCI HAR Dataset"  # noqa: E731
    a, b = load_har_split(root("xz"), "train"), load_har_split(root("txt"), "train")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    x, y, subj = a
    assert x.shape == (12, 128, 9) and y.min() >= 0 and y.max() <= 5
    y_file = np.loadtxt(root("txt") / "train" / "y_train.txt").astype(int)
    assert np.array_equal(y, y_file - 1)
    sig = np.loadtxt(lzma.open(root("xz") / "train" / "Inertial Signals" / f"{HAR_CHANNELS[4]}_train.txt.xz"))
    assert np.allclose(x[..., 4], sig, rtol=1e-6)  # channel order body_acc xyz, body_gyro xyz, total_acc xyz

    dm = UCIHARDataModule(data_dir=str(tmp_path / "xz"), val_subjects=1, batch_size=3)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (8, 4, 8)  # 4 windows per subject; test = subjects 2, 4
    assert len(dm.val_subject_ids) == 1 and dm.val_subject_ids[0] in (1, 3, 5)
    xt = train.tensors[0]
    assert torch.allclose(xt.mean((0, 1)), torch.zeros(9), atol=1e-5) and torch.allclose(xt.std((0, 1), unbiased=False), torch.ones(9), atol=1e-4)
    xv = val.tensors[0] * torch.from_numpy(dm.std) + torch.from_numpy(dm.mean)
    assert torch.allclose(xv, torch.from_numpy(x[subj == dm.val_subject_ids[0]]), atol=1e-4)  # whole subject held out
    batch = next(iter(dm.train_dataloader()))
    assert batch.x.shape == (128, 3, 9) and torch.equal(batch.lengths, torch.full((3,), 128))


def test_uci_har_missing_and_truncated_files_are_named(tmp_path):
    with pytest.raises(MissingDatasetError, match="UCI HAR Dataset"):
        UCIHARDataModule(data_dir=str(tmp_path)).setup()
    write_fake_har(tmp_path, compress=True)
    sig = tmp_path / "uci_har" / "UCI HAR Dataset" / "test" / "Inertial Signals"
    (sig / "body_gyro_y_test.txt.xz").unlink()
    with pytest.raises(MissingDatasetError, match="body_gyro_y_test.txt"):
        UCIHARDataModule(data_dir=str(tmp_path)).setup()
    raw = (sig / "body_acc_x_test.txt.xz").read_bytes()
    (sig / "body_gyro_y_test.txt.xz").write_bytes(raw[: len(raw) // 2])  # truncated xz
    with pytest.raises(CorruptDatasetError, match="body_gyro_y_test.txt.xz"):
        UCIHARDataModule(data_dir=str(tmp_path)).setup()
    text = lzma.open(sig / "body_acc_x_test.txt.xz").read().decode()
    (sig / "body_gyro_y_test.txt.xz").unlink()
    (sig / "body_gyro_y_test.txt").write_text("".join(text.splitlines(True)[:-1]))  # plain text, one window short
    with pytest.raises(CorruptDatasetError, match="body_gyro_y_test.txt"):
        UCIHARDataModule(data_dir=str(tmp_path)).setup()


# -- DVS Gesture ------------------------------------------------------------------------------------
def test_dvs_gesture_frames_from_tonic_layout(tmp_path):
    write_fake_dvs_gesture(tmp_path, events=300)
    dm = DVSGestureDataModule(data_dir=str(tmp_path), n_time_bins=5, val_size=4, batch_size=2)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (18, 4, 11)  # 2 train users x 11 classes, 1 test user
    x, y = test[7]
    assert x.shape == (5, 2, 128, 128) and y == 7
    events = np.load(tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_fluorescent" / "7.npy")
    # every event counted once, except tonic's ToFrame(n_time_bins) leaves out the events at the last timestamp
    assert float(x.sum()) == len(events) - int((events[:, 3] == events[:, 3].max()).sum())
    on = events[events[:, 2] == 1]
    assert float(x[:, 1].sum(0)[on[0, 1], on[0, 0]]) >= 1  # polarity channel, [y, x] layout
    b = next(iter(dm.train_dataloader()))
    assert b.x.shape == (5, 2, 2, 128, 128) and torch.equal(b.lengths, torch.full((2,), 5))
    small = DVSGestureDataModule(data_dir=str(tmp_path), n_time_bins=3, sensor=(32, 32), clip=1.0).split("test")[0][0]
    assert small.shape == (3, 2, 32, 32) and float(small.max()) == 1.0


def test_dvs_gesture_missing_and_truncated(tmp_path):
    with pytest.raises(MissingDatasetError, match="ibmGestureTrain"):
        DVSGestureDataModule(data_dir=str(tmp_path)).setup()
    write_fake_dvs_gesture(tmp_path, users={"train": (1,), "test": (24,)}, events=50)
    p = tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_fluorescent" / "3.npy"
    p.write_bytes(p.read_bytes()[:200])
    test = DVSGestureDataModule(data_dir=str(tmp_path)).split("test")
    with pytest.raises(CorruptDatasetError, match="3.npy"):
        test[3]


# -- MNIST sequences --------------------------------------------------------------------------------
def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(a, dtype="<i8").tobytes()).hexdigest()


def test_psmnist_permutations_match_nru_checksums():
    perm, seq_perm = nru_permutations(50)
    assert seq_perm[:10].tolist() == [46, 466, 537, 44, 515, 589, 362, 765, 270, 539]
    assert _sha(seq_perm) == "dda347f72737de70dcf06700b3a567682e34166f6ae9c3ffde5463bdf224f8b6"
    assert perm[:10].tolist() == [6820, 11854, 9635, 45077, 18764, 22779, 11348, 49404, 27504, 45000]
    assert _sha(perm) == "fa99aca7e184d1a2e1cb7a2ceda0ae62e7d051aad6c37d1b0d2f70c30aab463a"


def test_psmnist_split_and_sequences(data_dir):
    dm = MNISTDataModule(view="permuted", normalize=False, data_dir=str(data_dir), batch_size=4)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (50000, 10000, 10000)
    perm, seq_perm = nru_permutations(50)
    xtr, ytr = load_mnist(data_dir, "train")
    for ds, i, src in ((train, 0, perm[0]), (train, 49999, perm[49999]), (val, 0, perm[50000]), (val, 9999, perm[-1])):
        x, y = ds[i]
        assert x.shape == (784, 1) and int(y) == int(ytr[src])
        assert torch.equal(x[:, 0], xtr[src].reshape(784)[torch.from_numpy(seq_perm)].float() / 255)
    b = next(iter(dm.test_dataloader()))
    assert isinstance(b, SeqBatch) and b.x.shape == (784, 4, 1) and torch.equal(b.lengths, torch.full((4,), 784))
    with pytest.raises(ValueError, match="val_size"):
        MNISTDataModule(view="permuted", val_size=5000)


def test_row_sequential_mnist_batches_time_first(data_dir):
    dm = MNISTDataModule(view="sequential", normalize=False, data_dir=str(data_dir), batch_size=3, test_subset=3)
    b = next(iter(dm.test_dataloader()))
    assert b.x.shape == (28, 3, 28) and torch.equal(b.lengths, torch.full((3,), 28))
    x0, _ = load_mnist(data_dir, "test")
    idx = dm.split("test").indices[0]
    assert torch.equal(b.x[:, 0], x0[idx].float() / 255)  # step t = image row t


# -- configs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["speech_commands", "fsdd", "uci_har", "dvs_gesture", "psmnist", "smnist"])
def test_data_configs_instantiate(name, tmp_path):
    from hydra.utils import get_class

    cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    cls = get_class(cfg.pop("_target_"))
    cfg.update(data_dir=str(tmp_path), seed=0, data_seed=0)
    dm = cls(**cfg)
    assert dm.batch_size == cfg["batch_size"] and dm.collate_fn is not None


# -- the real copies in ../shared/data ---------------------------------------------------------------
def test_real_copies_official_counts(data_dir):
    """FSDD 2,700/300, the Speech Commands subset's list split, UCI HAR 7,352/2,947 with a published value."""
    if not all((data_dir / d).is_dir() for d in ("fsdd", "speech_commands", "uci_har")):
        pytest.skip("fsdd / speech_commands / uci_har not in the data root")
    fsdd = FSDDDataModule(data_dir=str(data_dir), val_size=0)
    assert (len(fsdd.split("train")), len(fsdd.split("test"))) == (2700, 300)
    sc = SpeechCommandsDataModule(data_dir=str(data_dir), version="v0.01", classes="all")
    assert [len(sc.split(s)) for s in ("train", "val", "test")] == [205, 44, 51]  # SOURCE.md's counts
    x, y, subj = load_har_split(data_dir / "uci_har" / "UCI HAR Dataset", "train")
    assert x.shape == (7352, 128, 9) and len(np.unique(subj)) == 21
    assert x[0, 0, 6:].tolist() == pytest.approx([1.0128170, -0.1232167, 0.1029341], abs=1e-7)  # total_acc xyz
