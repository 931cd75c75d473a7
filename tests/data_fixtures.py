"""Data the tests build themselves: CIFAR-format archives, IDX files, and a loopback file server.

No machine this course is tested on can reach the real download servers, so the download code
is tested against :class:`FileServer`, a real HTTP server on 127.0.0.1 that serves bytes the
test built, honours ``Range`` requests, and can cut a connection, ignore ``Range`` or corrupt a
file on purpose.

Also a command for CI, which runs the lessons with a data set present::

    python tests/data_fixtures.py --cifar DATA_FOLDER   # a small CIFAR-10 in the official layout
"""
from __future__ import annotations

import argparse
import gzip
import http.server
import io
import pickle
import re
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np

from dat_edu.data.cifar import CIFAR10_CLASSES, CIFAR10_FILENAME, CIFAR10_FOLDER


def _batch_bytes(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels}, protocol=2), data, labels


def make_cifar_archive(path: Path, n: int = 4, skip: tuple[str, ...] = (), extra: dict | None = None) -> dict:
    """Write a CIFAR-format .tar.gz with n images per batch; return the arrays put in."""
    content = {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            if name in skip:
                continue
            payload, data, labels = _batch_bytes(n, seed=i)
            content[name] = (data, labels)
            add(name, payload)
        if "batches.meta" not in skip:
            add("batches.meta", pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}))
        for name, payload in (extra or {}).items():
            add(name, payload)
    return content


def write_idx(path: Path, array: np.ndarray, magic: bytes | None = None, truncate: int = 0) -> Path:
    """Write ``array`` as an IDX file (gzip'd if the name ends in .gz)."""
    header = magic if magic is not None else bytes([0, 0, 0x08, array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if truncate:
        payload = payload[:-truncate]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def make_idx_split(root: Path, prefix: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random Fashion-MNIST-format images and labels as ``<prefix>-images/labels-idx?-ubyte.gz``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


class FileServer:
    """An HTTP server on 127.0.0.1 serving ``files`` (name -> bytes), with ``Range`` support.

    Faults, per file name: ``cut_after[name] = k`` sends k bytes of the body and then drops the
    connection (once); ``no_range`` ignores ``Range`` headers (answers 200 with the whole file).
    ``requests`` records (name, Range header or None) for every request.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.cut_after: dict[str, int] = {}
        self.no_range: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if match and name not in server.no_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.cut_after.pop(name, None)
                self.wfile.write(body[start:] if cut is None else body[start : start + cut])
                if cut is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def install_small_cifar(data_folder: Path, n: int = 64) -> Path:
    """Put a small, extracted CIFAR-10 (n images per batch) in ``data_folder``, as after a download."""
    data_folder.mkdir(parents=True, exist_ok=True)
    archive = data_folder / CIFAR10_FILENAME
    make_cifar_archive(archive, n=n)
    with tarfile.open(archive) as tar:
        tar.extractall(data_folder, filter="data")
    return data_folder / CIFAR10_FOLDER


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="build test data sets")
    ap.add_argument("--cifar", type=Path, required=True, help="data folder to put a small CIFAR-10 into")
    args = ap.parse_args()
    print(install_small_cifar(args.cifar))
