"""Fashion-MNIST (Zalando, MIT licence) from its four gzip'd IDX files, without torchvision.

The files: ``train-images-idx3-ubyte.gz`` (60,000 x 28 x 28), ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` (10,000) and ``t10k-labels-idx1-ubyte.gz``. Where they come from,
first match wins (:func:`find_fashion_mnist`):

1. ``$DAT_EDU_FASHION_MNIST``, a folder holding them;
2. ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``);
3. ``<data folder>/fashion-mnist/`` (``$DAT_EDU_DATA``, default ``~/.cache/dat_edu``), where
   :func:`prepare_fashion_mnist` downloads them on first use from the official source
   (:data:`FASHION_MNIST_URL`), resumably, checking each file's MD5 before it is kept.

:data:`FASHION_MNIST_SAMPLE` is a small real subset shipped inside the package (the first
:data:`SAMPLE_SIZES` training and test images of the official files, same format): the data the
course can always have, with no network and no package. The lessons' pinned mode uses it.

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
    "FASHION_MNIST_URL",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_SAMPLE",
    "SAMPLE_SIZES",
    "find_fashion_mnist",
    "prepare_fashion_mnist",
    "write_sample",
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
FASHION_MNIST_FOLDER = "fashion-mnist"  # under the data folder, for downloaded copies
# The official source and checksums, as published in the README of
# https://github.com/zalandoresearch/fashion-mnist ("Get the Data"). Debian's package recompresses
# the files (same IDX content, other gzip bytes), so these MD5s apply to downloads only.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_SAMPLE = Path(__file__).resolve().parent / "fashion_mnist_sample"
SAMPLE_SIZES = {True: 4000, False: 1000}  # train, test
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


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FASHION_MNIST_MD5)


def find_fashion_mnist() -> Path | None:
    """The first folder holding all four files (see the module docstring), or None.

    Looks only; downloads nothing. ``$DAT_EDU_FASHION_MNIST`` is the user's explicit choice: when
    set, it is returned as it is (the loader names any file missing there).
    """
    from .download import default_data_root

    env = os.environ.get("DAT_EDU_FASHION_MNIST")
    if env:
        return Path(env)
    return next((p for p in (FASHION_MNIST_DIR, default_data_root() / FASHION_MNIST_FOLDER) if _complete(p)), None)


def prepare_fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    url: str = FASHION_MNIST_URL,
    md5: dict[str, str] | None = None,
    opener=None,
    progress: bool = True,
) -> Path:
    """A folder with the four Fashion-MNIST files: found (:func:`find_fashion_mnist`) or fetched.

    ``root``: the folder to use (it holds the files, as for :func:`load_fashion_mnist`), without
    searching; default: the first folder found, else ``<data folder>/fashion-mnist``. Missing
    files are fetched (if ``download``) atomically and resumably, each kept only if its MD5
    matches (:func:`~dat_edu.data.download.download_url`). ``url``/``md5``/``opener`` let tests
    serve files of their own. Raises :class:`~dat_edu.data.download.DownloadError` saying what to do.
    """
    from .download import DownloadError, default_data_root, download_url

    if root is None:
        found = find_fashion_mnist()
        if found is not None:
            return found
    folder = Path(root) if root is not None else default_data_root() / FASHION_MNIST_FOLDER
    missing = [name for name in FASHION_MNIST_MD5 if not (folder / name).is_file()]
    if missing and not download:
        raise DownloadError(
            f"Fashion-MNIST not found (looked in {FASHION_MNIST_DIR} and {folder}) and download=False. "
            "Fetch it with `python -m dat_edu.data fashion_mnist` (or `make data`), install Debian's "
            "`dataset-fashion-mnist`, or set DAT_EDU_FASHION_MNIST to a folder holding the four files"
        )
    md5 = FASHION_MNIST_MD5 if md5 is None else md5
    kwargs = {} if opener is None else {"opener": opener}
    for name in missing:
        download_url(url + name, folder / name, md5=md5.get(name), progress=progress, **kwargs)
    return folder


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
    root: str | os.PathLike | None = None, train: bool = True, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST split -> images uint8 (N, 1, 28, 28), labels int64 (N,).

    ``root``: a folder holding the IDX files (e.g. :data:`FASHION_MNIST_SAMPLE`); None finds them
    or, if ``download``, fetches them on first use (:func:`prepare_fashion_mnist`).
    """
    root = Path(root) if root is not None else prepare_fashion_mnist(download=download)
    img_name, lbl_name = _FILES[train]
    img_path, lbl_path = root / img_name, root / lbl_name
    for p in (img_path, lbl_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} not found. Fetch Fashion-MNIST with `python -m dat_edu.data fashion_mnist` or "
                "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set DAT_EDU_FASHION_MNIST "
                f"to a folder holding {img_name} and {lbl_name}"
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


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_sample(source: str | os.PathLike, out: str | os.PathLike, sizes: dict[bool, int] = SAMPLE_SIZES) -> Path:
    """Write the first ``sizes[train]`` images and labels of each split of ``source`` to ``out``.

    Same file names and format as the originals; gzip with a zero timestamp, so the bytes depend
    only on the images (this is how :data:`FASHION_MNIST_SAMPLE` was made, from Debian's package).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for train, names in _FILES.items():
        n = sizes[train]
        for name, ndim in zip(names, (3, 1)):
            data = read_idx(Path(source) / name, ndim=ndim)[:n]
            (out / name).write_bytes(gzip.compress(_idx_bytes(data), compresslevel=9, mtime=0))
    return out


def pad_to_32(images: torch.Tensor, value: int = 0) -> torch.Tensor:
    """Zero-pad (N, C, 28, 28) images by 2 pixels per side to (N, C, 32, 32) (keeps dtype)."""
    if images.ndim != 4 or images.shape[-2:] != (28, 28):
        raise ValueError(f"expected (N, C, 28, 28) images, got {tuple(images.shape)}")
    return F.pad(images, (2, 2, 2, 2), value=value)
