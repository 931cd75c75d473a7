"""Data for training DAT without torchvision: CIFAR-10, Fashion-MNIST, synthetic shapes.

Every data set is held in memory as one uint8 tensor (N, C, H, W) plus int64 labels (N,);
:mod:`dat_edu.data.augment` augments whole batches of it. :func:`load_dataset` gives a
:class:`DataBundle` (train and test :class:`DataSplit` plus class names and normalization
statistics) for any of ``"cifar10"``, ``"fashion_mnist"``, ``"shapes"``, ``"synthetic"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .augment import augment_batch, cutmix, denormalize, normalize, random_crop, random_flip
from .cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10, prepare_cifar10
from .download import DownloadError, default_data_root, download_url, extract_tar, md5sum
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_SAMPLE,
    FASHION_MNIST_STD,
    FASHION_MNIST_MEAN_32,
    FASHION_MNIST_STD_32,
    IDXError,
    find_fashion_mnist,
    load_fashion_mnist,
    pad_to_32,
    prepare_fashion_mnist,
    read_idx,
)
from .shapes import (
    SHAPE_CLASSES,
    ShapesData,
    distance_to_centre,
    fraction_in_box,
    make_shapes,
    offset_alignment,
)

__all__ = [
    "DATASETS",
    "DataSplit",
    "DataBundle",
    "load_dataset",
    "make_synthetic",
    "augment_batch",
    "cutmix",
    "denormalize",
    "normalize",
    "random_crop",
    "random_flip",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "load_cifar10",
    "prepare_cifar10",
    "DownloadError",
    "default_data_root",
    "download_url",
    "extract_tar",
    "md5sum",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SAMPLE",
    "IDXError",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "prepare_fashion_mnist",
    "pad_to_32",
    "read_idx",
    "SHAPE_CLASSES",
    "ShapesData",
    "make_shapes",
    "distance_to_centre",
    "fraction_in_box",
    "offset_alignment",
]

DATASETS = ("cifar10", "fashion_mnist", "fashion_mnist_28", "shapes", "synthetic")


@dataclass
class DataSplit:
    """One split held in memory: images uint8 (N, C, H, W), labels int64 (N,).

    ``mean``/``std`` (one entry per channel, for [0, 1] pixels) say how to normalize;
    ``extra`` holds per-image side information (for ``shapes``: ``boxes_norm``, ``centres_norm``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, n: int | None) -> "DataSplit":
        """The first ``n`` images (all if ``n`` is None or larger than the split)."""
        if n is None or n >= len(self):
            return self
        extra = {k: v[:n] for k, v in self.extra.items()}
        return DataSplit(self.images[:n], self.labels[:n], self.mean, self.std, self.classes, extra)

    def to(self, device) -> "DataSplit":
        """Copy the tensors to ``device`` (e.g. to keep the whole data set on the GPU)."""
        extra = {k: v.to(device) for k, v in self.extra.items()}
        return DataSplit(self.images.to(device), self.labels.to(device), self.mean, self.std, self.classes, extra)

    def normalized(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Images ``start:stop`` as normalized float32 (B, C, H, W)."""
        return normalize(self.images[start:stop], self.mean, self.std)


@dataclass
class DataBundle:
    """Train and test splits of one data set plus what a model needs to know about it."""

    name: str
    train: DataSplit
    test: DataSplit

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @property
    def in_chans(self) -> int:
        return self.train.images.shape[1]

    @property
    def img_size(self) -> int:
        return self.train.images.shape[-1]


def make_synthetic(n: int, seed: int = 0, num_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Random CIFAR-format data (uint8 (N, 3, 32, 32), int64 labels): for throughput tests only."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, num_classes, (n,), generator=g)
    return x, y


def _shapes_split(n: int, seed: int, num_classes: int) -> DataSplit:
    d = make_shapes(n, seed=seed, num_classes=num_classes)
    # statistics of the generator's output, measured on 20,000 images; close enough for any seed
    mean, std = (0.3005, 0.3004, 0.3020), (0.1846, 0.1846, 0.1842)
    extra = {"boxes_norm": d.boxes_norm, "centres_norm": d.centres_norm}
    return DataSplit(d.images, d.labels, mean, std, d.classes, extra)


def load_dataset(
    name: str,
    *,
    root=None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    download: bool = True,
    **kwargs,
) -> DataBundle:
    """Load a data set by name as a :class:`DataBundle` (uint8 images, resident in memory).

    name: ``"cifar10"`` (downloads to ``root``, see :func:`prepare_cifar10`), ``"fashion_mnist"``
    (IDX files under ``root``, e.g. :data:`FASHION_MNIST_SAMPLE`, else found or fetched by
    :func:`prepare_fashion_mnist`; zero-padded to 32x32, the size of
    the CIFAR models), ``"fashion_mnist_28"`` (the same images at their own 28x28),
    ``"shapes"`` (generated, 4 classes, ``train_size`` default 8,000, ``test_size`` 2,000) or
    ``"synthetic"`` (random noise in CIFAR format, default 5,000 / 1,000).
    ``train_size``/``test_size`` keep the first N images of real data sets (CIFAR-10 and
    Fashion-MNIST files are already shuffled) and set the size of generated ones.
    """
    if name == "cifar10":
        x, y = load_cifar10(root, train=True, download=download, **kwargs)
        xt, yt = load_cifar10(root, train=False, download=download, **kwargs)
        tr = DataSplit(x, y, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES)
        te = DataSplit(xt, yt, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES)
    elif name in ("fashion_mnist", "fashion_mnist_28"):
        x, y = load_fashion_mnist(root, train=True, download=download)
        xt, yt = load_fashion_mnist(root, train=False, download=download)
        if name == "fashion_mnist":
            x, xt, m, s = pad_to_32(x), pad_to_32(xt), FASHION_MNIST_MEAN_32, FASHION_MNIST_STD_32
        else:
            m, s = FASHION_MNIST_MEAN, FASHION_MNIST_STD
        tr = DataSplit(x, y, m, s, FASHION_MNIST_CLASSES)
        te = DataSplit(xt, yt, m, s, FASHION_MNIST_CLASSES)
    elif name == "shapes":
        k = kwargs.get("num_classes", len(SHAPE_CLASSES))
        # different seeds for train and test so the test images are new ones
        tr = _shapes_split(train_size or 8000, seed * 2 + 1, k)
        te = _shapes_split(test_size or 2000, seed * 2 + 2, k)
    elif name == "synthetic":
        k = kwargs.get("num_classes", 10)
        classes = tuple(f"class_{i}" for i in range(k))
        x, y = make_synthetic(train_size or 5000, seed * 2 + 1, k)
        xt, yt = make_synthetic(test_size or 1000, seed * 2 + 2, k)
        tr = DataSplit(x, y, (0.5, 0.5, 0.5), (0.2898, 0.2898, 0.2898), classes)
        te = DataSplit(xt, yt, (0.5, 0.5, 0.5), (0.2898, 0.2898, 0.2898), classes)
    else:
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    return DataBundle(name, tr.subset(train_size), te.subset(test_size))
