"""CIFAR-10 array-copy module (``<data_dir>/cifar10/``) on tiny file sets written in that folder's format."""
import lzma

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import common.data.cifar10_arrays as ca
from common.data.base import CorruptDatasetError, MissingDatasetError
from common.data.cache import file_sha256
from common.data.cifar import CIFAR_NORM, CIFAR10DataModule, CIFARDataset, load_cifar, write_fake_cifar
from common.data.cifar10_arrays import (CIFAR10ArraysDataModule, load_cifar10_arrays, write_cifar10_arrays,
                                        write_fake_cifar10_arrays)

FILES = ["SHA256SUMS", "SHA256SUMS.decompressed", "classes.txt", "test_jpeg_fallback.npy", "test_x.npy.xz",
         "test_y.npy", "train_jpeg_fallback.npy", "train_x.npy.xz", "train_y.npy"]


def _arrays(n: int, seed: int, flagged=()):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = np.repeat(np.arange(10, dtype=np.uint8), -(-n // 10))[:n]  # class-major, as stored
    fallback = np.zeros(n, dtype=bool)
    fallback[list(flagged)] = True
    return x, y, fallback


@pytest.fixture()
def small(tmp_path):
    """A 30-train / 12-test set in the folder's format; test images 1, 5 and 11 flagged as JPEG-recovered."""
    train, test = _arrays(30, 1, flagged=(3,)), _arrays(12, 2, flagged=(1, 5, 11))
    write_cifar10_arrays(tmp_path / "data", {"train": train, "test": test})
    return tmp_path / "data", tmp_path / "cache", train, test


def _dm(data, cache, **kw):
    kw.setdefault("val_size", 6)
    return CIFAR10ArraysDataModule(data_dir=str(data), cache_dir=str(cache), batch_size=4, **kw)


def test_reads_the_folder_format_and_decompresses_once(small, monkeypatch):
    data, cache, train, test = small
    folder = data / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == FILES
    # the stored images are a plain xz stream of an .npy (the folder's SOURCE.md loader reads them)
    with lzma.open(folder / "test_x.npy.xz") as f:
        assert np.array_equal(np.load(f), test[0])
    x, y, fallback, classes = load_cifar10_arrays(data, "test", cache)
    assert x.dtype == torch.uint8 and x.shape == (12, 3, 32, 32)
    assert torch.equal(x, torch.from_numpy(test[0]).permute(0, 3, 1, 2))
    assert y.dtype == torch.int64 and y.tolist() == test[1].tolist()
    assert fallback.tolist() == test[2].tolist()
    assert classes[0] == "airplane" and classes[-1] == "truck" and len(classes) == 10
    cached = sorted(p.name for p in (cache / "cifar10_arrays").iterdir())
    assert len(cached) == 1 and cached[0].startswith("test_x-") and cached[0].endswith(".npy")  # no temp file left
    # the second read uses the cache: decompressing again would fail
    monkeypatch.setattr(ca, "_decompress", lambda *a, **k: pytest.fail("decompressed twice"))
    x2, *_ = load_cifar10_arrays(data, "test", cache)
    assert torch.equal(x, x2)


def test_damaged_cache_file_is_rebuilt(small):
    data, cache, _, test = small
    load_cifar10_arrays(data, "test", cache)
    (cached,) = (cache / "cifar10_arrays").iterdir()
    cached.write_bytes(cached.read_bytes()[:200])
    x, *_ = load_cifar10_arrays(data, "test", cache)
    assert torch.equal(x, torch.from_numpy(test[0]).permute(0, 3, 1, 2))


def test_normalisation_and_augmentation_equal_the_cifar_module(tmp_path):
    # the same images in the official pickle format and in the array format: both modules give the same tensors
    write_fake_cifar(tmp_path / "data", "cifar10", per_batch=6, n_test=7)
    xtr, ytr, _ = load_cifar(tmp_path / "data", "cifar10", "train", verify_md5=False)
    xte, yte, _ = load_cifar(tmp_path / "data", "cifar10", "test", verify_md5=False)
    hwc = lambda x: x.permute(0, 2, 3, 1).numpy()  # noqa: E731
    write_cifar10_arrays(tmp_path / "data", {"train": (hwc(xtr), ytr.numpy(), np.zeros(30, bool)),
                                             "test": (hwc(xte), yte.numpy(), np.zeros(7, bool))})
    ref = CIFAR10DataModule(data_dir=str(tmp_path / "data"), val_size=5, verify_md5=False, data_seed=3)
    arr = CIFAR10ArraysDataModule(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), val_size=5,
                                  data_seed=3)
    assert arr.mean == ref.mean == CIFAR_NORM["cifar10"][0] and arr.std == ref.std == CIFAR_NORM["cifar10"][1]
    # the array module interleaves the (class-major) test files by one fixed order; the pickle module keeps file order
    test_order = torch.randperm(7, generator=torch.Generator().manual_seed(ca.TEST_ORDER_SEED))
    for split in ("train", "val", "test"):
        a, r = arr.split(split), ref.split(split)
        assert isinstance(a, CIFARDataset) and len(a) == len(r)
        for i in range(len(r)):
            torch.manual_seed(i)  # augmentation (train) draws from the global RNG
            xa, ya = a[i]
            torch.manual_seed(i)
            xr, yr = r[int(test_order[i]) if split == "test" else i]
            assert torch.equal(xa, xr) and int(ya) == int(yr)
    # normalised values: (pixel / 255 - mean) / std with the module's constants
    x0, _ = arr.split("test")[0]
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in CIFAR_NORM["cifar10"])
    assert torch.allclose(x0, (xte[int(test_order[0])].float() / 255 - mean) / std, atol=1e-6)
    # augmentation is on for training only and changes the image (crop + flip)
    torch.manual_seed(0)
    outs = torch.stack([arr.split("train")[0][0] for _ in range(20)])
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
    assert torch.equal(arr.split("val")[0][0], arr.split("val")[0][0])


def test_lossless_only_test_removes_the_flagged_images(small):
    data, cache, _, test = small
    full, lossless = _dm(data, cache), _dm(data, cache, lossless_only_test=True)
    full.setup(), lossless.setup()
    assert len(full.split("test")) == 12 and len(lossless.split("test")) == 9
    def key(img):  # a test image, identified by its (normalised, rounded) pixels
        return img.mul(1e3).round().to(torch.int64).numpy().tobytes()

    full_imgs = {key(full.split("test")[i][0]): i for i in range(12)}
    assert len(full_imgs) == 12
    flagged_imgs = {key(CIFAR10ArraysDataModule(data_dir=str(data), cache_dir=str(cache), augment=False)
                        .split("test")[i][0]) for i in range(12)} - {key(lossless.split("test")[j][0]) for j in range(9)}
    assert len(flagged_imgs) == 3  # exactly the three flagged images are gone, every lossless one is there
    stored = torch.from_numpy(test[0]).permute(0, 3, 1, 2).float().div(255)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in CIFAR_NORM["cifar10"])
    flagged_stored = {key((stored[i] - mean) / std) for i in np.flatnonzero(test[2])}
    assert flagged_imgs == flagged_stored
    assert full.lossless == lossless.lossless == {"train": (29, 30), "test": (9, 12)}
    assert full.test_images == 12 and lossless.test_images == 9
    # training images keep their flagged ones; a test subset is drawn from the lossless images
    assert len(lossless.split("train")) + len(lossless.split("val")) == 30
    sub = _dm(data, cache, lossless_only_test=True, test_subset=4)
    sub.setup()
    assert sub.test_images == 4
    lossless_imgs = torch.stack([lossless.split("test")[j][0] for j in range(9)])
    for j in range(4):
        assert (lossless_imgs == sub.split("test")[j][0]).flatten(1).all(1).any()


def test_splits_and_subsets_follow_data_seed_not_seed(small):
    data, cache, _, _ = small

    def val_labels_and_first(**kw):
        dm = _dm(data, cache, augment=False, train_subset=10, **kw)
        return [dm.split("val")[i][0] for i in range(6)], [dm.split("train")[i][0] for i in range(10)]

    a, b, c = val_labels_and_first(seed=0), val_labels_and_first(seed=1), val_labels_and_first(data_seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a[0] + a[1], b[0] + b[1]))
    assert not all(torch.equal(u, v) for u, v in zip(a[0], c[0]))
    # the class-major test files are interleaved by one fixed order: the same for every seed and data_seed
    def test_labels(**kw):
        dm = _dm(data, cache, **kw)
        return [int(dm.split("test")[i][1]) for i in range(12)]

    order = test_labels()
    assert order == test_labels(seed=1) == test_labels(data_seed=1)
    assert sorted(order) == sorted(int(v) for v in _arrays(12, 2)[1]) and order != sorted(order)


def test_truncated_xz_is_named(small):
    data, cache, _, _ = small
    src = data / "cifar10" / "train_x.npy.xz"
    src.write_bytes(src.read_bytes()[:-500])
    with pytest.raises(CorruptDatasetError, match=r"cifar10/train_x\.npy\.xz does not match its sha256 in .*SHA256SUMS"):
        _dm(data, cache).setup()
    # without the checksum the decoder's failure names the file
    with pytest.raises(CorruptDatasetError, match=r"cannot decompress .*cifar10/train_x\.npy\.xz.*truncated"):
        _dm(data, cache, verify_sha256=False).setup()
    assert not list((cache / "cifar10_arrays").glob("*train_x*"))  # no partial cache file left behind


def test_missing_files_are_named(small):
    data, cache, _, _ = small
    (data / "cifar10" / "train_y.npy").unlink()
    with pytest.raises(MissingDatasetError, match=r"train_y\.npy under .*cifar10"):
        _dm(data, cache).setup()
    with pytest.raises(MissingDatasetError, match="train_x.npy.xz, train_y.npy, train_jpeg_fallback.npy"):
        _dm(data / "nowhere", cache).setup()
    # the checksum list is required unless verification is off
    write_fake_cifar10_arrays(data, n_train=10, n_test=10)
    (data / "cifar10" / "SHA256SUMS").unlink()
    with pytest.raises(MissingDatasetError, match="SHA256SUMS"):
        _dm(data, cache, val_size=2).setup()
    dm = _dm(data, cache, val_size=2, verify_sha256=False)
    dm.setup()
    assert dm.test_images == 10


def test_checksum_mismatch_is_an_error(small):
    data, cache, _, _ = small
    folder = data / "cifar10"
    y = np.load(folder / "test_y.npy")
    y[0] = (y[0] + 1) % 10  # still a valid label file, but not the listed one
    np.save(folder / "test_y.npy", y)
    with pytest.raises(CorruptDatasetError, match=r"test_y\.npy does not match its sha256"):
        _dm(data, cache).setup()
    _dm(data, cache, verify_sha256=False).setup()  # readable: only the checksum was wrong
    # the decompressed images are checked against SHA256SUMS.decompressed
    write_fake_cifar10_arrays(data, n_train=10, n_test=10)
    sums = folder / "SHA256SUMS.decompressed"
    sums.write_text(sums.read_text().replace("test_x.npy", "other.npy").replace("  train_x.npy", "  test_x.npy"))
    with pytest.raises(CorruptDatasetError, match=r"test_x\.npy\.xz decompresses to data that does not match"):
        load_cifar10_arrays(data, "test", cache)
    # a label file with a wrong shape or dtype is refused, naming it (checksum off)
    np.save(folder / "test_jpeg_fallback.npy", np.zeros(3, dtype=bool))
    with pytest.raises(CorruptDatasetError, match=r"test_jpeg_fallback\.npy: expected bool of shape \(10,\)"):
        load_cifar10_arrays(data, "test", cache, verify_sha256=False)


def test_fake_option_and_config(tmp_path, repo_root):
    dm = CIFAR10ArraysDataModule(fake=True, fake_size=8, val_size=4, batch_size=2)
    x, y = dm.sample_batch("train", 3)
    assert x.shape == (3, 3, 32, 32) and y.shape == (3,) and dm.num_classes == 10
    assert str(dm.cache_dir).startswith(str(dm.data_dir))  # fake data never fills the user's cache
    with pytest.raises(ValueError, match="verify_sha256"):
        CIFAR10ArraysDataModule(data_dir=str(tmp_path), verify_md5=False)
    # configs/data/cifar10_arrays.yaml builds the module (drop-in for data=cifar10)
    write_fake_cifar10_arrays(tmp_path / "data", n_train=20, n_test=10)
    cfg = OmegaConf.create({"paths": {"data_dir": str(tmp_path / "data")}, "seed": 0, "data_seed": 0,
                            "data": OmegaConf.load(repo_root / "configs" / "data" / "cifar10_arrays.yaml")})
    cfg.data.val_size, cfg.data.cache_dir = 5, str(tmp_path / "cache")
    dm = instantiate(cfg.data)
    assert isinstance(dm, CIFAR10ArraysDataModule) and not dm.lossless_only_test and dm.augment
    dm.setup()
    assert len(dm.split("train")) == 15 and dm.test_images == 10
    assert set(OmegaConf.load(repo_root / "configs" / "data" / "cifar10.yaml")) - {"_target_", "verify_md5"} <= set(cfg.data)


def test_real_folder_labels_flags_and_first_images(data_dir):
    folder = data_dir / "cifar10"
    if not folder.is_dir():
        pytest.skip(f"no CIFAR-10 array copy under {folder}")
    sums = ca._read_sums(folder / "SHA256SUMS")
    for split, n, lossy in (("train", 50_000, 941), ("test", 10_000, 194)):
        f = ca.cifar10_array_files(split)
        for name in (f["y"], f["fallback"]):
            assert file_sha256(folder / name) == sums[name]
        y = ca._load_npy(folder / f["y"], np.uint8, n)
        fallback = ca._load_npy(folder / f["fallback"], np.bool_, n)
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10 and np.all(np.diff(y.astype(int)) >= 0)  # class-major
        assert int(fallback.sum()) == lossy
        with lzma.open(folder / f["x"]) as fh:  # only the header and the first few images
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            assert shape == (n, 32, 32, 3) and not fortran and dtype == np.uint8
            first = np.frombuffer(fh.read(4 * 3072), dtype=np.uint8).reshape(4, 32, 32, 3)
        assert 20 < first.mean() < 235 and first.std() > 10  # real images, not padding
    assert (folder / "classes.txt").read_text().split()[8] == "ship"
