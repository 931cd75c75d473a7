"""IDX reader and Fashion-MNIST loader, on tiny IDX files written here (plus the real files if present)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dat_edu.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_SAMPLE,
    SAMPLE_SIZES,
    IDXError,
    load_fashion_mnist,
    pad_to_32,
    read_idx,
    write_sample,
)
from data_fixtures import make_idx_split as make_split, write_idx


def test_reads_debian_layout(tmp_path):
    images, labels = make_split(tmp_path, "train", 5)
    make_split(tmp_path, "t10k", 3, seed=1)
    x, y = load_fashion_mnist(tmp_path, train=True)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64 and y.tolist() == labels.tolist()
    assert np.array_equal(x[:, 0].numpy(), images)
    xt, _ = load_fashion_mnist(tmp_path, train=False)
    assert xt.shape == (3, 1, 28, 28)


def test_env_var_root(tmp_path, monkeypatch):
    make_split(tmp_path, "t10k", 2)
    monkeypatch.setenv("DAT_EDU_FASHION_MNIST", str(tmp_path))
    assert load_fashion_mnist(train=False)[0].shape[0] == 2


def test_uncompressed_idx(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.idx", a), ndim=3), a)


def test_bad_magic(tmp_path):
    p = write_idx(tmp_path / "x.gz", np.zeros((2, 28, 28)), magic=b"\x01\x02\x08\x03")
    with pytest.raises(IDXError, match="magic"):
        read_idx(p)


def test_wrong_dtype_code(tmp_path):
    p = write_idx(tmp_path / "x.gz", np.zeros((2, 28, 28)), magic=b"\x00\x00\x0d\x03")
    with pytest.raises(IDXError, match="unsigned byte"):
        read_idx(p)


def test_swapped_files_are_detected(tmp_path):
    p = write_idx(tmp_path / "labels.gz", np.zeros(4))
    with pytest.raises(IDXError, match="swapped"):
        read_idx(p, ndim=3)


def test_truncated_data(tmp_path):
    p = write_idx(tmp_path / "x.gz", np.zeros((2, 28, 28)), truncate=10)
    with pytest.raises(IDXError, match="truncated"):
        read_idx(p)


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(IDXError, match="corrupt"):
        read_idx(p)


def test_count_mismatch(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(2))
    with pytest.raises(IDXError, match="3 images but"):
        load_fashion_mnist(tmp_path)


def test_label_range(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 12]))
    with pytest.raises(IDXError, match="outside 0..9"):
        load_fashion_mnist(tmp_path)


def test_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def test_pad_to_32():
    x = torch.randint(1, 256, (2, 1, 28, 28), dtype=torch.uint8)
    p = pad_to_32(x)
    assert p.shape == (2, 1, 32, 32) and p.dtype == torch.uint8
    assert torch.equal(p[:, :, 2:30, 2:30], x)
    assert p[:, :, :2].sum() == 0 and p[:, :, :, -2:].sum() == 0
    with pytest.raises(ValueError, match="28, 28"):
        pad_to_32(torch.zeros(1, 1, 32, 32))


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist to test the real files")
def test_real_files():
    x, y = load_fashion_mnist(train=False)
    assert x.shape == (10000, 1, 28, 28)
    assert torch.equal(y.bincount(), torch.full((10,), 1000))


def test_bundled_sample_is_real_and_licensed():
    x, y = load_fashion_mnist(FASHION_MNIST_SAMPLE, train=True)
    xt, yt = load_fashion_mnist(FASHION_MNIST_SAMPLE, train=False)
    assert x.shape == (SAMPLE_SIZES[True], 1, 28, 28) and xt.shape == (SAMPLE_SIZES[False], 1, 28, 28)
    assert y.bincount(minlength=10).min() > 300 and yt.bincount(minlength=10).min() > 80  # every class
    assert 0.25 < x.float().mean().item() / 255 < 0.32  # clothes on black, not noise (noise: 0.5)
    licence = (FASHION_MNIST_SAMPLE / "LICENSE").read_text()
    assert "MIT License" in licence and "Zalando SE" in licence
    size = sum(p.stat().st_size for p in FASHION_MNIST_SAMPLE.iterdir())
    assert size < 2_300_000, f"the bundled sample grew to {size:,} bytes"
    assert len(FASHION_MNIST_CLASSES) == 10


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist to compare with the real files")
def test_bundled_sample_is_the_start_of_the_official_files(tmp_path):
    """Rebuilt from Debian's package, the sample has the same bytes: it holds the first images."""
    rebuilt = write_sample(FASHION_MNIST_DIR, tmp_path)
    for path in sorted(FASHION_MNIST_SAMPLE.glob("*.gz")):
        assert (rebuilt / path.name).read_bytes() == path.read_bytes(), path.name


def test_load_dataset_at_28_or_padded_to_32(tmp_path):
    from dat_edu.data import load_dataset
    from dat_edu.data.fashion_mnist import FASHION_MNIST_MEAN, FASHION_MNIST_MEAN_32

    images, _ = make_split(tmp_path, "train", 4)
    make_split(tmp_path, "t10k", 2, seed=1)
    own = load_dataset("fashion_mnist_28", root=tmp_path)
    padded = load_dataset("fashion_mnist", root=tmp_path)
    assert own.img_size == 28 and padded.img_size == 32 and own.in_chans == padded.in_chans == 1
    assert own.train.mean == FASHION_MNIST_MEAN and padded.train.mean == FASHION_MNIST_MEAN_32
    assert torch.equal(padded.train.images[:, :, 2:30, 2:30], own.train.images)
    assert np.array_equal(own.train.images[:, 0].numpy(), images) and len(own.test) == 2
