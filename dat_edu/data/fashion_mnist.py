"""Fashion-MNIST from IDX files, as installed by Debian's ``dataset-fashion-mnist`` package.

``apt-get install dataset-fashion-mnist`` puts four gzip'd IDX files in
``/usr/share/datasets/fashion-mnist/``: ``train-images-idx3-ubyte.gz`` (60,000 x 28 x 28),
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` (10,000) and
``t10k-labels-idx1-ubyte.gz``. Set ``$DAT_EDU_FASHION_MNIST`` to read them from elsewhere.

IDX format: 4-byte magic ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte), then ``ndim``
big-endian uint32 sizes, then the data in row-major order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IDXError",
    "read_idx",
    "load_fashion_mnist",
    "pad_to_32",
    "fashion_mnist_root",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
# Statistics of the 60,000 training images in [0, 1], measured on the 28x28 originals and on
# the 32x32 zero-padded copies that :func:`pad_to_32` makes (the padding lowers the mean).
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
FASHION_MNIST_MEAN_32 = (0.2190,)
FASHION_MNIST_STD_32 = (0.3318,)

_FILES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class IDXError(ValueError):
    """An IDX file is malformed (bad magic number, wrong size, label/image count mismatch)."""


def fashion_mnist_root() -> Path:
    """``$DAT_EDU_FASHION_MNIST`` if set, else ``/usr/share/datasets/fashion-mnist``."""
    env = os.environ.get("DAT_EDU_FASHION_MNIST")
    return Path(env) if env else FASHION_MNIST_DIR


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzip'd) into a uint8 numpy array.

    ``ndim``: expected number of dimensions (1 for labels, 3 for images); a mismatch raises
    :class:`IDXError`, as do a bad magic number and a data length that does not match the
    header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip raises BadGzipFile (an OSError) / EOFError
        raise IDXError(f"{path}: cannot read ({err}); the file is corrupt or truncated") from err
    if len(raw) < 4:
        raise IDXError(f"{path}: only {len(raw)} bytes; not an IDX file")
    zero0, zero1, dtype_code, dims = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(f"{path}: bad magic number {raw[:4].hex()}; an IDX file starts with 0000")
    if dtype_code != 0x08:
        raise IDXError(f"{path}: data type 0x{dtype_code:02x}; only unsigned byte (0x08) is supported")
    if ndim is not None and dims != ndim:
        raise IDXError(
            f"{path}: magic number {raw[:4].hex()} says {dims} dimensions, expected {ndim} "
            f"(magic 0000080{ndim}); are image and label files swapped?"
        )
    header = 4 + 4 * dims
    if len(raw) < header:
        raise IDXError(f"{path}: header truncated ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = int(np.prod(shape)) if shape else 1
    if len(raw) - header != expected:
        raise IDXError(
            f"{path}: header says shape {shape} ({expected:,} bytes of data) but the file holds "
            f"{len(raw) - header:,}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(
    root: str | os.PathLike | None = None, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST split -> images uint8 (N, 1, 28, 28), labels int64 (N,)."""
    root = Path(root) if root is not None else fashion_mnist_root()
    img_name, lbl_name = _FILES[train]
    img_path, lbl_path = root / img_name, root / lbl_name
    for p in (img_path, lbl_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} not found. Install the data with `apt-get install dataset-fashion-mnist` "
                "(Debian/Ubuntu), or set DAT_EDU_FASHION_MNIST to a folder holding "
                f"{img_name} and {lbl_name}"
            )
    images = read_idx(img_path, ndim=3)
    labels = read_idx(lbl_path, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise IDXError(f"{img_path} holds {images.shape[0]} images but {lbl_path} {labels.shape[0]} labels")
    if images.shape[1:] != (28, 28):
        raise IDXError(f"{img_path}: images are {images.shape[1:]}, expected 28x28")
    if labels.size and labels.max() > 9:
        raise IDXError(f"{lbl_path}: label {int(labels.max())} outside 0..9")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def pad_to_32(images: torch.Tensor, value: int = 0) -> torch.Tensor:
    """Zero-pad (N, C, 28, 28) images by 2 pixels per side to (N, C, 32, 32) (keeps dtype)."""
    if images.ndim != 4 or images.shape[-2:] != (28, 28):
        raise ValueError(f"expected (N, C, 28, 28) images, got {tuple(images.shape)}")
    return F.pad(images, (2, 2, 2, 2), value=value)
