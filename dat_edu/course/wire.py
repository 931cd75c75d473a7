"""Frames between the grading judge and the sandboxed harness, and the calls they carry (never pickle).

A frame is ``>QI`` (total length, header length), a UTF-8 JSON header, then raw byte blobs whose
lengths the header lists under ``"_blobs"``; :func:`read_frame` checks every length against caps
and reads exactly one frame. How values (tensors, modules, callables) are written inside a header
is :mod:`dat_edu.course.codec`. :class:`Channel` carries nested requests both ways.
"""
from __future__ import annotations

import json
import os
import select
import struct
import sys
import time
from typing import Any, Callable

MAX_FRAME = 256 << 20  # bytes in one frame
MAX_HEADER = 16 << 20  # bytes of JSON in one frame
MAX_DEPTH = 48  # nesting of values
_PREFIX = struct.Struct(">QI")


class WireError(Exception):
    """A frame or value that breaks the format, a cap or an allow-list."""



# ---------------------------------------------------------------- frames ---------

def write_frame(fd: int, header: dict, blobs: list = (), deadline: float | None = None) -> None:
    """Write one frame; ``deadline`` (time.monotonic) bounds waiting for a full pipe."""
    head = dict(header)
    head["_blobs"] = [len(b) for b in blobs]
    text = json.dumps(head, separators=(",", ":"), allow_nan=True).encode("utf-8")
    total = _PREFIX.size + len(text) + sum(len(b) for b in blobs)
    parts = [_PREFIX.pack(total - _PREFIX.size, len(text)), text, *blobs]
    for part in parts:
        view = memoryview(part).cast("B")
        while view.nbytes:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [fd], [], left)[1]:
                    raise TimeoutError("the other side stopped reading")
            n = os.write(fd, view[: 1 << 20])
            view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        view[got: got + len(chunk)] = chunk
        got += len(chunk)
    return buf


def read_frame(fd: int, deadline: float | None = None, max_frame: int = MAX_FRAME) -> tuple[dict, list[bytearray]]:
    """Read exactly one frame (never more bytes than it holds). Raises WireError, EOFError, TimeoutError."""
    size, head_len = _PREFIX.unpack(bytes(_read_exact(fd, _PREFIX.size, deadline)))
    if size > max_frame or head_len > min(size, MAX_HEADER):
        raise WireError(f"a frame of {size} bytes (header {head_len}) is larger than allowed")
    data = _read_exact(fd, size, deadline)
    try:
        header = json.loads(bytes(data[:head_len]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"a frame header is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("a frame header is not a JSON object")
    lengths = header.pop("_blobs", [])
    if not isinstance(lengths, list) or not all(type(n) is int and n >= 0 for n in lengths):
        raise WireError("a frame lists malformed blob lengths")
    if head_len + sum(lengths) != size:
        raise WireError("a frame's blob lengths do not add up to its size")
    blobs, pos = [], head_len
    for n in lengths:
        blobs.append(data[pos: pos + n])
        pos += n
    return header, blobs



# ---------------------------------------------------------------- exceptions -----

BUILTIN_ERRORS = {
    e.__name__: e
    for e in (ArithmeticError, AssertionError, AttributeError, BufferError, EOFError, FloatingPointError,
              ImportError, IndexError, KeyError, LookupError, MemoryError, ModuleNotFoundError, NameError,
              NotImplementedError, OSError, OverflowError, RecursionError, RuntimeError, StopIteration,
              TypeError, UnboundLocalError, UnicodeError, ValueError, ZeroDivisionError, Exception)
}


def exception_node(exc: BaseException, limit: int = 500) -> dict:
    """Name, builtin bases and one-line message of an exception (what crosses the boundary)."""
    bases = [c.__name__ for c in type(exc).__mro__ if c.__name__ in BUILTIN_ERRORS and c.__module__ == "builtins"]
    text = " ".join(str(exc).split()) if not isinstance(exc, KeyError) else repr(exc.args[0]) if exc.args else ""
    return {"type": type(exc).__name__[:80], "bases": bases[:4], "msg": text[:limit]}


_DYNAMIC: dict[tuple[str, str], type] = {}


def rebuild_exception(node: Any) -> BaseException:
    """An exception like the one described: the builtin of that name, else a new class of that name."""
    if not isinstance(node, dict):
        return RuntimeError("an error that could not be described")
    name, msg = str(node.get("type", "Error"))[:80], str(node.get("msg", ""))[:500]
    bases = [b for b in node.get("bases", []) if isinstance(b, str) and b in BUILTIN_ERRORS]
    if name in BUILTIN_ERRORS and name in bases:
        return BUILTIN_ERRORS[name](msg)
    base = BUILTIN_ERRORS[bases[0]] if bases else Exception
    if not name.isidentifier():
        name = "LearnerError"
    key = (name, base.__name__)
    if key not in _DYNAMIC:
        _DYNAMIC[key] = type(name, (base,), {"__module__": "learner"})
    return _DYNAMIC[key](msg)


# ---------------------------------------------------------------- calls both ways

def tensors_in(value: Any) -> list:
    """Floating (or complex) tensors of a value, in a fixed order (for gradients across the boundary)."""
    torch = sys.modules.get("torch")
    out: list = []

    def walk(v: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if torch is not None and isinstance(v, torch.Tensor):
            if v.is_floating_point() or v.is_complex():
                out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x, depth + 1)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x, depth + 1)

    walk(value, 0)
    return out


class Channel:
    """Frames over two pipes, with nested requests: while waiting for its reply, a side serves the
    other side's requests (a learner function calling back into a check's stand-in, and so on)."""

    REPLIES = ("reply", "raise")

    def __init__(self, read_fd: int, write_fd: int, serve: Callable[[dict, list], tuple[dict, list]],
                 deadline: Callable[[], float | None] = lambda: None, max_depth: int = 24):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.serve = serve
        self.deadline = deadline
        self.max_depth = max_depth
        self._depth = 0

    def send(self, header: dict, blobs: list = ()) -> None:
        write_frame(self.write_fd, header, list(blobs), self.deadline())

    def recv(self) -> tuple[dict, list]:
        return read_frame(self.read_fd, self.deadline())

    def request(self, header: dict, blobs: list = ()) -> tuple[dict, list]:
        """Send a request; serve requests that arrive until its reply comes."""
        if self._depth >= self.max_depth:
            raise WireError("calls nested too deeply")
        self._depth += 1
        try:
            self.send(header, blobs)
            while True:
                reply, got = self.recv()
                if reply.get("op") in self.REPLIES:
                    return reply, got
                answer, out = self.serve(reply, got)
                self.send(answer, out)
        finally:
            self._depth -= 1

