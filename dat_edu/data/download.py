"""Safe download and extraction helpers (standard library only, no torchvision).

Two promises, both kept by writing to a temporary name in the *same* folder and renaming at the
end with :func:`os.replace` (atomic on one file system):

* :func:`download_url` streams a URL into ``<dest>.part-XXXX``, checks the size and the MD5 and
  only then renames it to ``dest``. An interrupted or corrupt download leaves no ``dest``.
* :func:`extract_tar` unpacks into a hidden temporary folder, checks that every member is a
  plain file or folder inside the archive's top folder and that the required members exist,
  and only then renames the top folder into place. A corrupt archive leaves nothing behind.

Both raise :class:`DownloadError` (a ``RuntimeError``) with a message that says what went wrong
and what to do about it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["DownloadError", "md5sum", "download_url", "extract_tar", "default_data_root"]

_CHUNK = 1 << 20  # 1 MiB: large enough for speed, small enough for a smooth progress bar


class DownloadError(RuntimeError):
    """A download or extraction failed; the message says why and how to fix it."""


def default_data_root() -> Path:
    """Folder for downloaded data sets: ``$DAT_EDU_DATA`` if set, else ``~/.cache/dat_edu``."""
    env = os.environ.get("DAT_EDU_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dat_edu"


def md5sum(path: str | os.PathLike, chunk_size: int = _CHUNK) -> str:
    """Hex MD5 digest of a file, read in chunks (the CIFAR-10 tarball is 170 MB)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _manual_hint(url: str, dest: Path) -> str:
    return (
        f"download it yourself from {url} on a machine with internet access and place the file "
        f"as {dest} (file name {dest.name!r} in folder {dest.parent}), then run again"
    )


def download_url(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    size: int | None = None,
    *,
    opener: Callable | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``size`` (bytes) and ``md5`` if given.

    ``opener`` is ``urllib.request.urlopen`` (looked up at call time) by default; tests pass a
    fake one (or a ``file://`` URL) because no test machine can reach the real servers.
    Returns ``dest``.
    Raises :class:`DownloadError` for no network, a short download, or a wrong checksum; in
    every failure case the temporary file is removed and ``dest`` is not created.
    """
    dest = Path(dest)
    opener = opener or urllib.request.urlopen
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".part-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        try:
            response = opener(url, timeout=timeout)
        except (urllib.error.URLError, OSError) as err:  # URLError: no network / DNS / refused
            raise DownloadError(
                f"could not reach {url} ({err}). No network? To continue offline, "
                + _manual_hint(url, dest)
            ) from err
        with response, os.fdopen(fd, "wb") as out:
            fd = -1  # now owned by `out`
            total = size
            header = getattr(response, "headers", None)
            if total is None and header is not None and header.get("Content-Length"):
                total = int(header.get("Content-Length"))
            bar = None
            if progress:
                try:
                    from tqdm.auto import tqdm
                except ImportError:  # core install without the course extra: no bar
                    tqdm = None
                if tqdm is not None:
                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False)
            h = hashlib.md5()
            got = 0
            try:
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except (urllib.error.URLError, OSError) as err:
                        raise DownloadError(
                            f"download of {url} broke off after {got:,} bytes ({err}); "
                            "run again to retry, or " + _manual_hint(url, dest)
                        ) from err
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if size is not None and got != size:
            raise DownloadError(
                f"download of {url} is truncated or wrong: got {got:,} bytes, expected {size:,}. "
                "Nothing was kept; run again to retry, or " + _manual_hint(url, dest)
            )
        digest = h.hexdigest()
        if md5 is not None and digest != md5.lower():
            raise DownloadError(
                f"checksum mismatch for {url}: md5 {digest}, expected {md5}. The file is corrupt "
                "or not the official one; nothing was kept. Run again, or " + _manual_hint(url, dest)
            )
        os.replace(tmp, dest)  # atomic: `dest` appears complete or not at all
        return dest
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp.exists():
            tmp.unlink()


def _check_member(member: tarfile.TarInfo, top: str, archive: Path) -> None:
    """Reject members that could write outside the target or are not plain files/folders."""
    name = member.name
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts:
        raise DownloadError(f"{archive}: unsafe member path {name!r}; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"{archive}: member {name!r} is a link or device; refusing to extract")
    if not parts or parts[0] != top:
        raise DownloadError(
            f"{archive}: member {name!r} is not inside the expected folder {top!r}; "
            "is this the right archive?"
        )


def extract_tar(
    archive: str | os.PathLike,
    root: str | os.PathLike,
    top: str,
    required: Iterable[str] = (),
) -> Path:
    """Extract ``archive`` (a .tar/.tar.gz whose members all live under ``top/``) into ``root``.

    Atomic: members go to a hidden temporary folder inside ``root``; after checking that each
    member is a plain file or folder under ``top`` and that every name in ``required`` (paths
    relative to ``top``) is present, the folder is renamed to ``root/top``. An existing
    ``root/top`` is replaced only after the new copy is complete. Returns ``root/top``.
    """
    archive, root = Path(archive), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}.extract-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()  # reads the whole index: catches truncation early
                for m in members:
                    _check_member(m, top, archive)
                names = {Path(m.name).as_posix() for m in members if m.isfile()}
                missing = [r for r in required if f"{top}/{r}" not in names]
                if missing:
                    raise DownloadError(
                        f"{archive} is incomplete: missing {', '.join(missing)} under {top}/. "
                        f"Delete {archive} and run again to download a fresh copy."
                    )
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            raise DownloadError(
                f"{archive} is corrupt or truncated ({err.__class__.__name__}: {err}); nothing was "
                f"extracted. Delete {archive} and run again to download a fresh copy."
            ) from err
        target = root / top
        if target.exists():  # an old (e.g. hand-edited) copy: swap, then delete it
            old = Path(tempfile.mkdtemp(prefix=f".{top}.old-", dir=root))
            os.replace(target, old / top)
            os.replace(tmp / top, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp / top, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
