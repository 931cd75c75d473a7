"""Downloads over real HTTP, against a loopback server serving files built here.

Covers what a learner's first `make data` meets: a clean download, a connection that drops and
is resumed with a Range request, a server that ignores Range, a corrupt file, a partial file that
belongs to another file, a second download of the same file at the same time, and no network.
"""
from __future__ import annotations

import hashlib
import os
import socket

import numpy as np
import pytest

from data_fixtures import FileServer, make_idx_split
from dat_edu.data import fashion_mnist as fm
from dat_edu.data import load_dataset
from dat_edu.data.__main__ import main as data_main
from dat_edu.data.download import DownloadError, download_url

PAYLOAD = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def server():
    with FileServer({"data.bin": PAYLOAD, "wrong.bin": PAYLOAD[:-1] + b"\0"}) as s:
        yield s


def test_clean_download(server, tmp_path):
    dest = download_url(server.url("data.bin"), tmp_path / "data.bin", md5=MD5, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert files_in(tmp_path) == ["data.bin"]
    assert server.requests == [("data.bin", None)]


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.cut_after["data.bin"] = 100_000
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="broke off|truncated"):
        download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert files_in(tmp_path) == ["data.bin.part"]  # never a half file under the real name
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert 0 < kept <= 100_000
    download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD and files_in(tmp_path) == ["data.bin"]
    assert server.requests[-1] == ("data.bin", f"bytes={kept}-")  # asked only for the rest


def test_server_ignoring_range_sends_everything_again(server, tmp_path):
    server.cut_after["data.bin"] = 50_000
    server.no_range.add("data.bin")
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError):
        download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD  # not 50,000 old bytes + the whole file


def test_corrupt_download_keeps_nothing_and_the_next_try_starts_over(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="checksum mismatch.*nothing was kept"):
        download_url(server.url("wrong.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert files_in(tmp_path) == []
    download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("data.bin", None)


def test_partial_file_of_another_file_is_caught_by_the_checksum(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)  # e.g. left by an older version
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert files_in(tmp_path) == []
    download_url(server.url("data.bin"), dest, md5=MD5, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_partial_file_is_verified_and_kept(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)  # interrupted just before the rename
    download_url(server.url("data.bin"), tmp_path / "data.bin", md5=MD5, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert server.requests == [("data.bin", f"bytes={len(PAYLOAD)}-")]  # answered 416: nothing to send


def test_second_download_of_the_same_file_waits_its_turn(server, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    part = tmp_path / "data.bin.part"
    with open(part, "ab") as other:  # another process downloading right now
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            download_url(server.url("data.bin"), tmp_path / "data.bin", md5=MD5, progress=False)
    assert server.requests == []


def test_no_network_says_what_to_do_and_keeps_nothing(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "data" / "data.bin"
    with pytest.raises(DownloadError) as info:
        download_url(f"http://127.0.0.1:{port}/data.bin", dest, md5=MD5, progress=False)
    msg = str(info.value)
    assert "No network?" in msg and str(dest.parent) in msg and "data.bin" in msg
    assert files_in(dest.parent) == []


# ---- Fashion-MNIST: fetched on first use, found when present ---------------------------------

@pytest.fixture
def fashion_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_idx_split(src, "train", 12)
    make_idx_split(src, "t10k", 6, seed=1)
    files = {p.name: p.read_bytes() for p in src.iterdir()}
    return files, {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """A machine without Debian's package and without DAT_EDU_FASHION_MNIST."""
    monkeypatch.setattr(fm, "FASHION_MNIST_DIR", tmp_path / "no-such-package")
    monkeypatch.delenv("DAT_EDU_FASHION_MNIST", raising=False)
    monkeypatch.setenv("DAT_EDU_DATA", str(tmp_path / "data"))


def test_fashion_mnist_is_fetched_on_first_use_then_found(fashion_files, no_system_copy, tmp_path):
    files, md5 = fashion_files
    assert fm.find_fashion_mnist() is None
    with FileServer(files) as server:
        folder = fm.prepare_fashion_mnist(url=server.url(), md5=md5, progress=False)
        assert folder == tmp_path / "data" / "fashion-mnist"
        assert files_in(folder) == sorted(files)
        assert fm.find_fashion_mnist() == folder
        n = len(server.requests)
        assert fm.prepare_fashion_mnist(url=server.url(), md5=md5, progress=False) == folder
        assert len(server.requests) == n  # nothing fetched twice
    bundle = load_dataset("fashion_mnist", download=False)
    assert len(bundle.train) == 12 and len(bundle.test) == 6 and bundle.img_size == 32


def test_fashion_mnist_corrupt_file_is_not_kept(fashion_files, no_system_copy, tmp_path):
    files, md5 = fashion_files
    bad = dict(files, **{"t10k-labels-idx1-ubyte.gz": b"\x1f\x8b broken"})
    with FileServer(bad) as server, pytest.raises(DownloadError, match="checksum mismatch.*t10k-labels"):
        fm.prepare_fashion_mnist(url=server.url(), md5=md5, progress=False)
    folder = tmp_path / "data" / "fashion-mnist"
    assert "t10k-labels-idx1-ubyte.gz" not in files_in(folder)
    assert fm.find_fashion_mnist() is None  # an incomplete folder is never used


def test_fashion_mnist_official_checksums_are_used_by_default(no_system_copy, monkeypatch):
    seen = []

    def record(url, dest, md5=None, **kwargs):
        seen.append((url, dest.name, md5))
        raise DownloadError("stop here")

    monkeypatch.setattr("dat_edu.data.download.download_url", record)
    with pytest.raises(DownloadError):
        fm.prepare_fashion_mnist(progress=False)
    assert seen == [(fm.FASHION_MNIST_URL + "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                     "8d4fb7e6c68d591d4c3dfef9ec88bf0d")]


def test_data_command_without_network(no_system_copy, capsys):
    assert data_main(["fashion_mnist"]) == 1  # the test guard answers like a machine offline
    err = capsys.readouterr().err
    assert "fashion_mnist: FAILED" in err and "No network?" in err and "place the file as" in err
    assert data_main(["--status"]) == 1
    out = capsys.readouterr()
    assert "fashion_mnist: not here" in out.err and "cifar10: not here" in out.err
    assert "bundled Fashion-MNIST sample" in out.out and str(fm.FASHION_MNIST_SAMPLE) in out.out
    with pytest.raises(SystemExit):
        data_main(["imagenet"])


def test_data_command_reports_a_present_data_set(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DAT_EDU_FASHION_MNIST", str(fm.FASHION_MNIST_SAMPLE))
    assert data_main(["fashion_mnist", "--status"]) == 0
    assert capsys.readouterr().out.startswith(f"fashion_mnist: {fm.FASHION_MNIST_SAMPLE}\n")
    assert os.environ["DAT_EDU_DATA"]  # (the tests' own data folder, never ~/.cache/dat_edu)
