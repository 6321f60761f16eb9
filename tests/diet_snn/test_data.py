"""CIFAR-10/100 and ImageNet data modules on tiny files written in the official formats."""
import pickle

import numpy as np
import pytest
import torch

from common.data.base import CorruptDatasetError, MissingDatasetError
from common.data.cifar import CIFAR10DataModule, CIFAR100DataModule, CIFAR_NORM, write_fake_cifar
from common.data.imagenet import ImageNetDataModule, write_fake_imagenet


@pytest.mark.parametrize("variant,cls", [("cifar10", CIFAR10DataModule), ("cifar100", CIFAR100DataModule)])
def test_cifar_reads_official_pickles(tmp_path, variant, cls):
    write_fake_cifar(tmp_path, variant, per_batch=6, n_test=7)
    folder = tmp_path / ("cifar-10-batches-py" if variant == "cifar10" else "cifar-100-python")
    names = {"cifar10": ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"],
             "cifar100": ["train", "test", "meta"]}[variant]
    assert all((folder / n).is_file() for n in names)
    dm = cls(data_dir=str(tmp_path), val_size=4, batch_size=4, augment=False, verify_md5=False)
    dm.setup()
    n_train = 30 if variant == "cifar10" else 6
    assert len(dm.split("train")) == n_train - 4 and len(dm.split("val")) == 4 and len(dm.split("test")) == 7
    x, y = dm.split("test")[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    # normalisation: the raw pixel of the pickle, scaled and normalised with the paper's constants
    with open(folder / names[-2], "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    label_key = "labels" if variant == "cifar10" else "fine_labels"
    mean, std = CIFAR_NORM[variant]
    px = raw["data"][0].reshape(3, 32, 32)[:, 0, 0] / 255.0
    assert torch.allclose(x[:, 0, 0], torch.tensor((px - np.array(mean)) / np.array(std), dtype=torch.float32), atol=1e-5)
    assert int(y) == raw[label_key][0]
    assert dm.num_classes == (10 if variant == "cifar10" else 100)
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape[1:] == (3, 32, 32) and xb.shape[0] == min(4, n_train - 4)


def test_cifar_augmentation_crop_and_flip(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", per_batch=2, n_test=2)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), val_size=0, augment=True, verify_md5=False)
    ds = dm.split("train")
    torch.manual_seed(0)
    outs = torch.stack([ds[0][0] for _ in range(20)])
    assert outs.shape == (20, 3, 32, 32)
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])


def test_cifar_missing_and_corrupt(tmp_path):
    with pytest.raises(MissingDatasetError, match="cifar-10-batches-py"):
        CIFAR10DataModule(data_dir=str(tmp_path)).setup()
    write_fake_cifar(tmp_path, "cifar100", per_batch=2, n_test=2)
    # files that do not match the official md5s are refused by default, naming the file
    with pytest.raises(CorruptDatasetError, match=r"cifar-100-python/train does not match the official md5"):
        CIFAR100DataModule(data_dir=str(tmp_path)).setup()
    # an unreadable pickle is named too (md5 check off, as for files written in the official format)
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(CorruptDatasetError, match=r"cifar-100-python/train: UnpicklingError"):
        CIFAR100DataModule(data_dir=str(tmp_path), verify_md5=False).setup()


def test_cifar_fake_option_for_smoke():
    dm = CIFAR10DataModule(fake=True, fake_size=8, val_size=4, batch_size=2)
    x, y = dm.sample_batch("train", 3)
    assert x.shape == (3, 3, 32, 32) and y.shape == (3,)


def test_imagenet_folder_layout(tmp_path):
    write_fake_imagenet(tmp_path, classes=3, per_class=2, size=40)
    assert len(list((tmp_path / "imagenet" / "train" / "n00000001").glob("*.JPEG"))) == 2
    dm = ImageNetDataModule(data_dir=str(tmp_path), image_size=32, resize_size=36, batch_size=2)
    dm.setup()
    assert dm.num_classes == 3 and dm.class_names == ["n00000000", "n00000001", "n00000002"]
    assert len(dm.split("train")) == 6 and len(dm.split("test")) == 6
    x, y = dm.split("test")[5]
    assert x.shape == (3, 32, 32) and y == 2
    xb, _ = next(iter(dm.train_dataloader()))
    assert xb.shape == (2, 3, 32, 32)


def test_imagenet_missing(tmp_path):
    with pytest.raises(MissingDatasetError, match="ImageNet"):
        ImageNetDataModule(data_dir=str(tmp_path)).setup()
