"""Safe download and extraction helpers (standard library only, no torchvision).

Two promises, both kept by writing to a temporary name in the *same* folder and renaming at the
end with :func:`os.replace` (atomic on one file system):

* :func:`download_url` streams a URL into ``<dest>.part``, checks the size and the MD5 and only
  then renames it to ``dest``. An interrupted or corrupt download leaves no ``dest``; an
  interrupted one keeps ``<dest>.part`` and the next call resumes it (HTTP ``Range``).
* :func:`extract_tar` unpacks into a hidden temporary folder, checks that every member is a
  plain file or folder inside the archive's top folder and that the required members exist,
  and only then renames the top folder into place. A corrupt archive leaves nothing behind.

Both raise :class:`DownloadError` (a ``RuntimeError``) with a message that says what went wrong
and what to do about it.
"""

from __future__ import annotations

import hashlib
import os
import re
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


def _open_part(part: Path):
    """Open ``part`` for appending, locked against a second download of the same file."""
    fh = open(part, "ab")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one download at a time is then up to you
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise DownloadError(
            f"another process is downloading {part.name[: -len('.part')]} into {part.parent} right now; "
            "wait for it to finish, then run again"
        ) from None
    return fh


def _resumed_from(response) -> int | None:
    """Where a 206 (partial content) answer starts, from its Content-Range header; else None."""
    if getattr(response, "status", None) != 206:
        return None
    match = re.match(r"bytes (\d+)-", (getattr(response, "headers", None) or {}).get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _progress_bar(progress: bool, total: int | None, initial: int, desc: str):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: download silently
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=desc, leave=False)


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
    """Download ``url`` to ``dest`` atomically and resumably, checking ``size`` and ``md5`` if given.

    Bytes go to ``<dest>.part``; only a complete file whose size and MD5 match is renamed to
    ``dest``. A download that breaks off keeps ``<dest>.part``, and the next call asks the server
    for the rest (an HTTP ``Range`` request); a server that ignores it sends the whole file again.
    A wrong checksum deletes the partial file. ``opener`` is ``urllib.request.urlopen`` (looked
    up at call time) by default; it gets a ``urllib.request.Request`` and ``timeout=``.
    Returns ``dest``; raises :class:`DownloadError` (saying what to do) on every failure.
    """
    dest = Path(dest)
    opener = opener or urllib.request.urlopen
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    out = _open_part(part)
    try:
        with out:  # holds the lock until the file is renamed or given up
            have = os.fstat(out.fileno()).st_size
            if size is not None and have > size:  # not a prefix of this file: start again
                out.truncate(0)
                have = 0
            got = _fetch_into(out, url, dest, have, size, opener, progress, timeout)
            out.flush()
            if size is not None and got != size:
                raise DownloadError(
                    f"download of {url} is truncated: got {got:,} bytes, expected {size:,}. The {got:,} "
                    f"bytes are kept in {part}: run again to resume, or " + _manual_hint(url, dest)
                )
            digest = md5sum(part) if md5 is not None else None
            if digest is not None and digest != md5.lower():
                out.truncate(0)
                raise DownloadError(
                    f"checksum mismatch for {url}: md5 {digest}, expected {md5}. The file is corrupt "
                    "or not the official one; nothing was kept. Run again, or " + _manual_hint(url, dest)
                )
            os.replace(part, dest)  # atomic: `dest` appears complete or not at all
        return dest
    finally:
        if part.exists() and part.stat().st_size == 0:
            part.unlink()  # nothing worth resuming


def _fetch_into(out, url: str, dest: Path, have: int, size: int | None, opener, progress: bool,
                timeout: float) -> int:
    """Append the bytes of ``url`` after the ``have`` bytes already in ``out``; return the total."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    kept = f" ({have:,} bytes kept in {dest.name}.part for the next try)" if have else ""
    try:
        response = opener(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the partial file may be complete
            return have
        raise DownloadError(f"{url} answered HTTP {err.code} ({err.reason}){kept}; " + _manual_hint(url, dest)) from err
    except (urllib.error.URLError, OSError) as err:  # URLError: no network / DNS / refused
        raise DownloadError(
            f"could not reach {url} ({err}){kept}. No network? To continue offline, " + _manual_hint(url, dest)
        ) from err
    with response:
        if have and _resumed_from(response) != have:  # the server sent the whole file
            out.truncate(0)
            have = 0
        total = size
        header = getattr(response, "headers", None)
        if total is None and header is not None and header.get("Content-Length"):
            total = have + int(header.get("Content-Length"))
        bar = _progress_bar(progress, total, have, dest.name)
        got = have
        try:
            while True:
                try:
                    block = response.read(_CHUNK)
                except (urllib.error.URLError, OSError) as err:
                    out.flush()
                    raise DownloadError(
                        f"download of {url} broke off after {got:,} bytes ({err}); they are kept in "
                        f"{dest.name}.part: run again to resume, or " + _manual_hint(url, dest)
                    ) from err
                if not block:
                    return got
                out.write(block)
                got += len(block)
                if size is not None and got > size:
                    out.truncate(0)
                    raise DownloadError(
                        f"{url} sent more than the expected {size:,} bytes: not the official file; "
                        "nothing was kept. " + _manual_hint(url, dest).capitalize()
                    )
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()


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
