"""CIFAR-10 from the official python tarball, without torchvision.

Layout under ``root`` (default :func:`~dat_edu.data.download.default_data_root`)::

    root/cifar-10-python.tar.gz        the download (kept, so a broken extraction can be redone)
    root/cifar-10-batches-py/          data_batch_1..5, test_batch, batches.meta

Each batch file is a pickled dict with ``b"data"``: (N, 3072) uint8 rows, channel-major
(1024 red, 1024 green, 1024 blue values, each a row-major 32x32 image), and ``b"labels"``.
:func:`load_cifar10` returns ``images`` uint8 (N, 3, 32, 32) and ``labels`` int64 (N,).
A prepared folder is reused; nothing is downloaded twice.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .download import DownloadError, default_data_root, download_url, extract_tar, md5sum

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_SIZE",
    "CIFAR10_FILENAME",
    "CIFAR10_FOLDER",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR10_CLASSES",
    "prepare_cifar10",
    "read_cifar_batch",
    "load_cifar10",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_SIZE = 170_498_071  # bytes
CIFAR10_FILENAME = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)
CIFAR10_REQUIRED = CIFAR10_TRAIN_FILES + CIFAR10_TEST_FILES + ("batches.meta",)

# Per-channel statistics of the 50,000 training images in [0, 1]. The std (0.2023, 0.1994,
# 0.2010) copied around many repositories is miscomputed (it averages per-image stds).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def _folder_complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in CIFAR10_REQUIRED)


def prepare_cifar10(
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    url: str = CIFAR10_URL,
    md5: str | None = CIFAR10_MD5,
    size: int | None = None,
    opener=None,
    progress: bool = True,
) -> Path:
    """Make sure ``root/cifar-10-batches-py`` exists and is complete; return its path.

    Order: reuse the extracted folder; else verify and extract an archive already in ``root``
    (e.g. one you placed there by hand); else download it (if ``download``) and extract.
    ``url``/``md5``/``size``/``opener`` exist so tests can use a small archive of their own;
    ``size=None`` checks the official size (170,498,071 bytes) when ``url`` is the official one.
    """
    if size is None and url == CIFAR10_URL:
        size = CIFAR10_SIZE
    root = Path(root) if root is not None else default_data_root()
    folder = root / CIFAR10_FOLDER
    if _folder_complete(folder):
        return folder
    archive = root / CIFAR10_FILENAME
    if archive.is_file():
        digest = md5sum(archive)
        if md5 is not None and digest != md5.lower():
            raise DownloadError(
                f"{archive} exists but its md5 is {digest}, expected {md5} (truncated or not the "
                f"official file). Delete it and run again, or place a good copy from {url} there."
            )
    elif not download:
        raise DownloadError(
            f"CIFAR-10 not found in {root} and download=False. Place {CIFAR10_FILENAME} "
            f"(from {url}) in {root}, or call with download=True."
        )
    else:
        kwargs = {} if opener is None else {"opener": opener}
        download_url(url, archive, md5=md5, size=size, progress=progress, **kwargs)
    return extract_tar(archive, root, CIFAR10_FOLDER, required=CIFAR10_REQUIRED)


def read_cifar_batch(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one pickled CIFAR batch -> (uint8 (N, 3, 32, 32), int64 (N,)), with clear errors."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")  # written by Python 2: keys are bytes
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DownloadError(f"{path} is not a readable CIFAR batch ({err}); delete the folder "
                            f"{path.parent} and run again to re-extract it") from err
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DownloadError(f"{path} has no b'data'/b'labels' entries: not a CIFAR-10 batch file")
    data = np.asarray(d[b"data"], dtype=np.uint8)
    labels = np.asarray(d[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise DownloadError(
            f"{path}: data has shape {data.shape} and {labels.shape[0]} labels; expected "
            "(N, 3072) uint8 rows and N labels"
        )
    # rows are channel-major then row-major: a plain reshape gives (N, C, H, W)
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


def load_cifar10(
    root: str | os.PathLike | None = None,
    train: bool = True,
    download: bool = True,
    **prepare_kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 split as tensors: images uint8 (N, 3, 32, 32), labels int64 (N,).

    ``train=True``: 50,000 images from data_batch_1..5; ``False``: 10,000 from test_batch.
    Extra keyword arguments go to :func:`prepare_cifar10` (``url``, ``md5``, ``opener``, ...).
    """
    folder = prepare_cifar10(root, download=download, **prepare_kwargs)
    files = CIFAR10_TRAIN_FILES if train else CIFAR10_TEST_FILES
    parts = [read_cifar_batch(folder / name) for name in files]
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return images, labels


def read_cifar_classes(folder: str | os.PathLike) -> tuple[str, ...]:
    """Class names from ``batches.meta`` (falls back to :data:`CIFAR10_CLASSES`)."""
    try:
        with open(Path(folder) / "batches.meta", "rb") as f:
            meta = pickle.load(f, encoding="bytes")
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"])
    except (OSError, KeyError, pickle.UnpicklingError, EOFError):
        return CIFAR10_CLASSES
