"""CIFAR-10 download/extract/parse against small archives built here (no network needed)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from dat_edu.data import cifar
from dat_edu.data.cifar import CIFAR10_FILENAME, CIFAR10_FOLDER, load_cifar10, prepare_cifar10
from dat_edu.data.download import DownloadError, download_url, extract_tar
from data_fixtures import make_cifar_archive as make_archive


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict]:
    src = tmp_path / "server" / CIFAR10_FILENAME
    src.parent.mkdir()
    content = make_archive(src)
    return src, content


def test_good_archive_downloads_extracts_and_parses(archive, tmp_path):
    src, content = archive
    root = tmp_path / "data"
    x, y = load_cifar10(root, train=True, url=src.as_uri(), md5=md5_of(src), size=src.stat().st_size, progress=False)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (20,) and y.dtype == torch.int64
    # rows are CHW: pixel (c, i, j) of image k is data[k, c*1024 + i*32 + j]
    data, labels = content["data_batch_1"]
    assert x[1, 2, 5, 7].item() == data[1, 2 * 1024 + 5 * 32 + 7]
    assert x[0, 0, 0, 1].item() == data[0, 1]
    assert y[:4].tolist() == labels
    xt, yt = load_cifar10(root, train=False, url=src.as_uri(), md5=md5_of(src), progress=False)
    assert xt.shape == (4, 3, 32, 32)
    assert torch.equal(xt.reshape(4, -1), torch.from_numpy(content["test_batch"][0]))
    assert leftovers(root) == sorted([CIFAR10_FILENAME, CIFAR10_FOLDER])  # no temp files
    assert cifar.read_cifar_classes(root / CIFAR10_FOLDER) == cifar.CIFAR10_CLASSES


def test_prepared_root_is_reused_without_download(archive, tmp_path):
    src, _ = archive
    root = tmp_path / "data"
    prepare_cifar10(root, url=src.as_uri(), md5=md5_of(src), progress=False)

    def no_network(*a, **k):
        raise AssertionError("must not download again")

    x, _ = load_cifar10(root, opener=no_network, md5=md5_of(src), progress=False)
    assert x.shape[0] == 20
    # an archive placed by hand (no extracted folder) is extracted, not downloaded
    root2 = tmp_path / "manual"
    root2.mkdir()
    (root2 / CIFAR10_FILENAME).write_bytes(src.read_bytes())
    x2, _ = load_cifar10(root2, opener=no_network, md5=md5_of(src), progress=False)
    assert torch.equal(x, x2)


def test_wrong_checksum_keeps_nothing(archive, tmp_path):
    src, _ = archive
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        prepare_cifar10(root, url=src.as_uri(), md5="0" * 32, size=None, progress=False)
    assert leftovers(root) == []


def test_truncated_download_keeps_only_the_partial_file(archive, tmp_path):
    src, _ = archive
    short = tmp_path / "short.tar.gz"
    short.write_bytes(src.read_bytes()[:-100])
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="truncated.*run again to resume"):
        prepare_cifar10(root, url=short.as_uri(), md5=md5_of(src), size=src.stat().st_size, progress=False)
    assert leftovers(root) == [CIFAR10_FILENAME + ".part"]  # no archive, no folder: resumable bytes only


def test_truncated_archive_with_matching_md5_extracts_nothing(archive, tmp_path):
    # the checksum cannot catch a file whose expected md5 was computed on the broken file;
    # extraction must still fail cleanly and leave no half-written folder
    src, _ = archive
    short = tmp_path / "short.tar.gz"
    short.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="corrupt or truncated"):
        prepare_cifar10(root, url=short.as_uri(), md5=md5_of(short), size=None, progress=False)
    assert CIFAR10_FOLDER not in leftovers(root)
    assert not any(name.startswith(".") for name in leftovers(root))


def test_missing_member_is_named(tmp_path):
    src = tmp_path / CIFAR10_FILENAME
    make_archive(src, skip=("test_batch",))
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="missing test_batch"):
        prepare_cifar10(root, url=src.as_uri(), md5=md5_of(src), progress=False)
    assert CIFAR10_FOLDER not in leftovers(root)


def test_unsafe_member_is_refused(tmp_path):
    src = tmp_path / CIFAR10_FILENAME
    with tarfile.open(src, "w:gz") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DownloadError, match="unsafe"):
        extract_tar(src, tmp_path / "out", CIFAR10_FOLDER)
    assert not (tmp_path / "evil").exists()


def test_no_network_message_names_url_file_and_folder(tmp_path):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        prepare_cifar10(root, opener=offline, progress=False)
    msg = str(info.value)
    assert cifar.CIFAR10_URL in msg and CIFAR10_FILENAME in msg and str(root) in msg
    assert "No network" in msg
    assert leftovers(root) == []


def test_download_false_without_files_says_where(tmp_path):
    with pytest.raises(DownloadError, match="download=False"):
        prepare_cifar10(tmp_path, download=False)


def test_corrupt_archive_in_root_is_reported(tmp_path):
    (tmp_path / CIFAR10_FILENAME).write_bytes(b"not a tarball")
    with pytest.raises(DownloadError, match="md5"):
        prepare_cifar10(tmp_path, progress=False)


def test_connection_drop_mid_stream(archive, tmp_path):
    src, _ = archive
    payload = src.read_bytes()

    class Broken(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

        def read(self, n=-1):
            if self.tell() > 10:
                raise ConnectionResetError("reset by peer")
            return super().read(11)

    dest = tmp_path / "out" / "file.tar.gz"
    with pytest.raises(DownloadError, match="broke off.*run again to resume"):
        download_url("http://example.invalid/file", dest, opener=lambda u, timeout: Broken(payload), progress=False)
    assert leftovers(dest.parent) == ["file.tar.gz.part"]
    assert (dest.parent / "file.tar.gz.part").read_bytes() == payload[:11]


def test_bad_batch_file_is_clear(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DownloadError, match="3072"):
        cifar.read_cifar_batch(p)
    p.write_bytes(b"garbage")
    with pytest.raises(DownloadError, match="not a readable CIFAR batch"):
        cifar.read_cifar_batch(p)


def test_statistics_are_the_correct_ones():
    assert cifar.CIFAR10_MEAN == (0.4914, 0.4822, 0.4465)
    assert cifar.CIFAR10_STD == (0.2470, 0.2435, 0.2616)  # not the miscomputed 0.2023...
