import gzip

import pytest
import torch

from common.data import CorruptDatasetError, MissingDatasetError
from common.data.mnist import MNISTDataModule, load_mnist, read_idx


def test_mnist_views(data_dir):
    shapes = {"static": (1, 28, 28), "sequential": (28, 28), "permuted": (784, 1)}
    xs = {}
    for view, shape in shapes.items():
        dm = MNISTDataModule(view=view, data_dir=str(data_dir), train_subset=64, test_subset=64, normalize=False)
        x, y = dm.split("test")[0]
        assert tuple(x.shape) == shape and 0 <= int(y) < 10
        xs[view] = x
    img = xs["static"][0]
    assert torch.equal(xs["sequential"], img)  # row t of the sequence is image row t
    # the permuted view is a fixed permutation of the same 784 pixels, identical across instances
    assert torch.equal(xs["permuted"].flatten().sort().values, img.flatten().sort().values)
    again = MNISTDataModule(view="permuted", data_dir=str(data_dir), test_subset=64, normalize=False).split("test")[0][0]
    assert torch.equal(again, xs["permuted"])
    assert not torch.equal(xs["permuted"].flatten(), img.flatten())


def test_mnist_official_split_sizes(data_dir):
    x, y = load_mnist(data_dir, "test")
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8 and y.shape == (10000,)
    dm = MNISTDataModule(data_dir=str(data_dir), val_size=5000)
    assert len(dm.split("train")) == 55000 and len(dm.split("val")) == 5000


def test_missing_mnist_names_path_and_files(tmp_path):
    with pytest.raises(MissingDatasetError) as e:
        MNISTDataModule(data_dir=str(tmp_path)).setup()
    msg = str(e.value)
    assert str(tmp_path / "mnist") in msg and "t10k-images-idx3-ubyte.gz" in msg and "download" in msg


def test_truncated_idx_file_names_the_file(tmp_path, data_dir):
    src = data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.open(src).read()
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(raw[:5000])
    with pytest.raises(CorruptDatasetError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(bad)
    garbage = tmp_path / "junk.gz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDatasetError, match="junk.gz"):
        read_idx(garbage)
