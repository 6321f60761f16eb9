"""CIFAR-10 from the verified numpy-array copy in ``<data_dir>/cifar10/`` (not the official pickles).

Layout (see that folder's ``SOURCE.md``)::

    <data_dir>/cifar10/{train,test}_x.npy.xz          uint8 (N, 32, 32, 3) HWC RGB, xz-compressed .npy
    <data_dir>/cifar10/{train,test}_y.npy             uint8 (N,) label index into classes.txt
    <data_dir>/cifar10/{train,test}_jpeg_fallback.npy bool (N,): True = pixels recovered from a quality-75 JPEG
    <data_dir>/cifar10/classes.txt                    one class name per line (official order)
    <data_dir>/cifar10/SHA256SUMS                     sha256 of the stored files
    <data_dir>/cifar10/SHA256SUMS.decompressed        sha256 of the two ``*_x.npy`` after decompression (optional)

All 60,000 images with the official train/test membership; 98.1 % have their exact original pixels, the rest
(flagged per image) are JPEG-degraded. ``lossless_only_test=true`` tests on the lossless test images only
(9,806 of 10,000); the counts are kept in :attr:`CIFAR10ArraysDataModule.lossless`.

Every file read is checked against ``SHA256SUMS`` (``verify_sha256=false`` skips that). Each ``*_x.npy.xz`` is
decompressed once into ``<cache_dir>/cifar10_arrays/`` (``cache_dir``: config, else ``$SNN_REPRO_CACHE``, else
``~/.cache/snn_repro``), keyed by the compressed file's sha256, through a temporary file renamed into place.
The files are class-major: the training images are split and subset by ``data_seed``; the test images are
put in one fixed interleaved order (``TEST_ORDER_SEED``), so a test on the first N of them sees every class.
Normalisation and augmentation are those of :mod:`common.data.cifar` (the same class does them).
"""
from __future__ import annotations

import hashlib
import lzma
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from .base import CorruptDatasetError, missing_dataset
from .cifar import _CIFARDataModule
from .cache import default_cache_dir, file_sha256

__all__ = ["CIFAR10ArraysDataModule", "load_cifar10_arrays", "write_cifar10_arrays", "write_fake_cifar10_arrays",
           "CIFAR10_ARRAYS_FOLDER", "cifar10_array_files"]

CIFAR10_ARRAYS_FOLDER = "cifar10"
TEST_ORDER_SEED = 0  # the one fixed interleaving of the class-major test files (see CIFAR10ArraysDataModule.load_split)
_SUMS, _SUMS_DECOMPRESSED, _CLASSES = "SHA256SUMS", "SHA256SUMS.decompressed", "classes.txt"
_XZ_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 3}, {"id": lzma.FILTER_DELTA, "dist": 96},
               {"id": lzma.FILTER_LZMA2, "preset": 6}]  # the folder's chain (there with preset 9e; same format)
_HOW = ("It is the verified CIFAR-10 array copy described in shared/data/README.md (cifar10/SOURCE.md); for the "
        "official python pickles use data=cifar10 instead.")


def cifar10_array_files(split: str) -> dict[str, str]:
    """File names of one split: images (``x``), labels (``y``) and JPEG-fallback flags (``fallback``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return {"x": f"{split}_x.npy.xz", "y": f"{split}_y.npy", "fallback": f"{split}_jpeg_fallback.npy"}


def _read_sums(path: Path) -> dict[str, str]:
    """``sha256sum`` output (``<hex>  <name>`` or ``<hex> *<name>``) -> {name: hex}."""
    sums = {}
    for line in path.read_text().splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def _check_sum(path: Path, sums: Mapping[str, str], sums_file: Path, actual: Optional[str] = None) -> str:
    if path.name not in sums:
        raise CorruptDatasetError(f"{sums_file} has no checksum for {path.name}")
    actual = actual or file_sha256(path)
    if actual != sums[path.name]:
        raise CorruptDatasetError(f"{path} does not match its sha256 in {sums_file} (truncated or modified?): "
                                  f"expected {sums[path.name]}, got {actual}")
    return actual


def _load_npy(path: Path, dtype, n: Optional[int] = None) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - name the file that cannot be read
        raise CorruptDatasetError(f"cannot read {path}: {type(e).__name__}: {e} (truncated or not a .npy file?)") from e
    if a.ndim != 1 or a.dtype != np.dtype(dtype) or (n is not None and len(a) != n):
        raise CorruptDatasetError(f"{path}: expected {np.dtype(dtype)} of shape ({n if n is not None else 'N'},), "
                                  f"got {a.dtype} {a.shape}")
    return a


def _check_images(path: Path, a: np.ndarray, source: Path) -> None:
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[1:] != (32, 32, 3):
        raise CorruptDatasetError(f"{source}: expected uint8 images of shape (N, 32, 32, 3), got {a.dtype} {a.shape} "
                                  f"(decompressed into {path})")


def _decompress(src: Path, target: Path, expected: Optional[str], sums_file: Path, name: str) -> None:
    """``src`` (.npy.xz) -> ``target`` (.npy) through a temporary file renamed into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    h = hashlib.sha256()
    try:
        try:
            with lzma.open(src) as fin, open(tmp, "wb") as fout:
                for block in iter(lambda: fin.read(1 << 20), b""):
                    h.update(block)
                    fout.write(block)
        except (lzma.LZMAError, EOFError) as e:
            raise CorruptDatasetError(f"cannot decompress {src}: {e} (truncated or corrupt .xz?)") from e
        if expected is not None and h.hexdigest() != expected:
            raise CorruptDatasetError(f"{src} decompresses to data that does not match the sha256 of "
                                      f"{name} in {sums_file}: expected {expected}, "
                                      f"got {h.hexdigest()}")
        try:
            a = np.load(tmp, mmap_mode="r", allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise CorruptDatasetError(f"{src} does not hold a .npy array: {type(e).__name__}: {e}") from e
        _check_images(tmp, a, src)
        del a
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load_cifar10_arrays(data_dir: "str | os.PathLike", split: str, cache_dir: "Optional[str | os.PathLike]" = None,
                        verify_sha256: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """uint8 images ``[N, 3, 32, 32]``, int64 labels ``[N]``, bool JPEG-fallback flags ``[N]`` and the class names
    of one split of ``<data_dir>/cifar10/``, in the stored (class-major) order."""
    folder = Path(data_dir) / CIFAR10_ARRAYS_FOLDER
    files = cifar10_array_files(split)
    need = [*files.values(), _CLASSES] + ([_SUMS] if verify_sha256 else [])
    missing = [f for f in need if not (folder / f).is_file()]
    if missing:
        raise missing_dataset("CIFAR-10 (array copy)", folder, missing, _HOW)
    sums_file, dsums_file = folder / _SUMS, folder / _SUMS_DECOMPRESSED
    sums = _read_sums(sums_file) if verify_sha256 else {}
    dsums = _read_sums(dsums_file) if verify_sha256 and dsums_file.is_file() else {}
    if verify_sha256:
        for f in (files["y"], files["fallback"], _CLASSES):
            _check_sum(folder / f, sums, sums_file)

    classes = (folder / _CLASSES).read_text().split()
    if len(classes) != 10:
        raise CorruptDatasetError(f"{folder / _CLASSES}: expected 10 class names, got {len(classes)}")
    y = _load_npy(folder / files["y"], np.uint8)
    fallback = _load_npy(folder / files["fallback"], np.bool_, len(y))
    if len(y) and int(y.max()) >= len(classes):
        raise CorruptDatasetError(f"{folder / files['y']}: label {int(y.max())} is not a CIFAR-10 class")

    src = folder / files["x"]
    digest = file_sha256(src)
    if verify_sha256:
        _check_sum(src, sums, sums_file, digest)
    npy_name = files["x"][: -len(".xz")]
    cached = default_cache_dir(cache_dir) / "cifar10_arrays" / f"{npy_name[: -len('.npy')]}-{digest[:16]}.npy"
    if not cached.is_file():
        _decompress(src, cached, dsums.get(npy_name), dsums_file, npy_name)
    try:
        x = np.load(cached, allow_pickle=False)
        _check_images(cached, x, src)
    except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt once from the verified source
        cached.unlink(missing_ok=True)
        _decompress(src, cached, dsums.get(npy_name), dsums_file, npy_name)
        x = np.load(cached, allow_pickle=False)
    if len(x) != len(y):
        raise CorruptDatasetError(f"{src} holds {len(x)} images but {folder / files['y']} {len(y)} labels")
    return (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y.astype(np.int64)),
            torch.from_numpy(fallback.copy()), classes)


def write_cifar10_arrays(root: "str | os.PathLike", splits: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                         classes: Optional[Sequence[str]] = None) -> Path:
    """Write ``{split: (x uint8 [N,32,32,3], y [N], jpeg_fallback bool [N])}`` under ``<root>/cifar10/`` in that
    folder's format (xz-compressed images, checksum files included); returns ``root``."""
    folder = Path(root) / CIFAR10_ARRAYS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    classes = list(classes or ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    (folder / _CLASSES).write_text("".join(f"{c}\n" for c in classes))
    stored, decompressed = [_CLASSES], {}
    for split, (x, y, fallback) in splits.items():
        files = cifar10_array_files(split)
        x = np.ascontiguousarray(x, dtype=np.uint8)
        npy = folder / files["x"][: -len(".xz")]
        np.save(npy, x)
        decompressed[npy.name] = file_sha256(npy)
        with open(npy, "rb") as fin, lzma.open(folder / files["x"], "wb", format=lzma.FORMAT_XZ,
                                               check=lzma.CHECK_CRC64, filters=_XZ_FILTERS) as fout:
            fout.write(fin.read())
        npy.unlink()
        np.save(folder / files["y"], np.asarray(y, dtype=np.uint8))
        np.save(folder / files["fallback"], np.asarray(fallback, dtype=np.bool_))
        stored += [files["x"], files["y"], files["fallback"]]
    (folder / _SUMS).write_text("".join(f"{file_sha256(folder / f)}  {f}\n" for f in sorted(stored)))
    (folder / _SUMS_DECOMPRESSED).write_text("".join(f"{h}  {f}\n" for f, h in sorted(decompressed.items())))
    return Path(root)


def write_fake_cifar10_arrays(root: "str | os.PathLike", n_train: int = 100, n_test: int = 20,
                              seed: int = 0) -> Path:
    """A tiny random dataset in the array folder's format (class-major, about 1 in 5 images flagged as JPEG)."""
    rng = np.random.default_rng(seed)

    def split(n: int):
        y = np.sort(rng.integers(0, 10, n)).astype(np.uint8)
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), y, rng.random(n) < 0.2

    return write_cifar10_arrays(root, {"train": split(n_train), "test": split(n_test)})


class CIFAR10ArraysDataModule(_CIFARDataModule):
    """CIFAR-10 from ``<data_dir>/cifar10/`` (numpy arrays); options as :class:`common.data.cifar.CIFAR10DataModule`
    (``val_size``, ``augment``, ``mean``/``std``, subsets, ``fake``) plus:

    - ``lossless_only_test``: drop the test images whose pixels come from the JPEG copy (the 2 % flagged ones);
    - ``verify_sha256``: check every file against the folder's ``SHA256SUMS`` (default on);
    - ``cache_dir``: where the decompressed images are kept (default :func:`common.data.cache.default_cache_dir`).

    After :meth:`setup`, :attr:`lossless` holds the counts of the splits as read (before subsets):
    ``{"train": (lossless, total), "test": (lossless, total)}`` (test: the official 10,000, whether or not
    ``lossless_only_test`` drops the others) and :attr:`test_images` the number of images tested on.
    """

    variant = "cifar10"

    def __init__(self, lossless_only_test: bool = False, verify_sha256: bool = True,
                 cache_dir: Optional[str] = None, **kwargs):
        if "verify_md5" in kwargs:
            raise ValueError("verify_md5 is the official-pickle reader's option (data=cifar10); this module checks "
                             "the folder's SHA256SUMS (verify_sha256)")
        super().__init__(**kwargs)
        self.lossless_only_test, self.verify_sha256 = bool(lossless_only_test), bool(verify_sha256)
        # fake data is cached beside it, never in the user's cache
        self.cache_dir = (Path(self.data_dir) / "cache") if self.fake else default_cache_dir(cache_dir)
        self.lossless: dict[str, tuple[int, int]] = {}
        self.test_images: Optional[int] = None

    def _write_fake(self, root: Path) -> Path:
        return write_fake_cifar10_arrays(root.with_name(root.name + "_arrays"), n_train=5 * self.fake_size,
                                         n_test=self.fake_size, seed=0)

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, fallback, self.class_names = load_cifar10_arrays(self.data_dir, split, self.cache_dir, self.verify_sha256)
        self.lossless[split] = (int((~fallback).sum()), len(y))
        if split == "test":
            if self.lossless_only_test:
                x, y = x[~fallback], y[~fallback]
            # the files are class-major: interleave the test images by one fixed permutation, so that any "first N
            # test images" (a partial evaluation, op counting over a few batches) is a sample of every class
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(TEST_ORDER_SEED))
            x, y = x[order], y[order]
        return x, y

    def setup(self, stage: Optional[str] = None) -> None:
        super().setup(stage)
        assert self._splits is not None
        self.test_images = len(self._splits["test"])  # type: ignore[arg-type]
