"""Fetch the data sets a learner may want: ``python -m dat_edu.data [NAME ...] [--status]``.

``make data`` runs it. With no names it fetches Fashion-MNIST (about 30 MB) and CIFAR-10
(170 MB) into the data folder (``$DAT_EDU_DATA``, default ``~/.cache/dat_edu``), each checked
against its published MD5 and resumable after an interruption; a data set already present (for
Fashion-MNIST also Debian's package or ``$DAT_EDU_FASHION_MNIST``) is not fetched again.
``--status`` only says where each data set is. Exit status 1 if any could not be had.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cifar import prepare_cifar10
from .download import DownloadError
from .fashion_mnist import FASHION_MNIST_FOLDER, FASHION_MNIST_SAMPLE, prepare_fashion_mnist

FETCHABLE = ("fashion_mnist", "cifar10")


def locate(name: str, download: bool, root: Path | None) -> Path:
    """The folder holding ``name``; fetched first if ``download``. Raises DownloadError."""
    if name == "fashion_mnist":
        return prepare_fashion_mnist(None if root is None else root / FASHION_MNIST_FOLDER, download=download)
    return prepare_cifar10(root, download=download)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"data sets to fetch: {', '.join(FETCHABLE)} (default: all)")
    ap.add_argument("--status", action="store_true", help="fetch nothing; say where each data set is")
    ap.add_argument("--root", type=Path, help="data folder (default: $DAT_EDU_DATA or ~/.cache/dat_edu)")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.names) - set(FETCHABLE))
    if unknown:
        ap.error(f"unknown data set(s) {', '.join(unknown)}: choose from {', '.join(FETCHABLE)}")
    failed = 0
    for name in args.names or FETCHABLE:
        try:
            folder = locate(name, download=not args.status, root=args.root)
            print(f"{name}: {folder}")
        except DownloadError as err:
            failed += 1
            print(f"{name}: {'not here' if args.status else 'FAILED'}: {err}", file=sys.stderr)
    if args.status:
        print(f"bundled Fashion-MNIST sample (pinned mode, always here): {FASHION_MNIST_SAMPLE}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
