"""A fork server for judges: one process imports torch and the solutions' modules once, then forks a
judge per notebook (milliseconds instead of seconds). Tasks come as JSON over a Unix socket; each
answer is the judge's pid and the read end of a pipe on which the judge writes JSON lines.

Started by the grader (:class:`ForkServer`); it never runs learner code (judges start the sandboxes
themselves) and exits when the grader closes the socket.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import struct
import subprocess
import threading

_LEN = struct.Struct(">I")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(sock: socket.socket, preload: list[str]) -> None:
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # judges are reaped automatically
    from dat_edu.course import judge

    sock.sendall(b"R")  # ready
    while True:
        try:
            size = _LEN.unpack(_recv_exact(sock, _LEN.size))[0]
            task = json.loads(_recv_exact(sock, size))
        except (EOFError, OSError):
            return
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                os.close(r)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                judge.main(task, w)
            finally:
                os._exit(0)
        os.close(w)
        socket.send_fds(sock, [_LEN.pack(pid)], [r])
        os.close(r)


class ForkServer:
    """The grader's handle on the fork server (thread-safe)."""

    def __init__(self, preload: list[str]):
        from dat_edu.course.sandbox import bootstrap

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            bootstrap("dat_edu.course.forkserver", str(child.fileno()), *preload),
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
        )
        child.close()
        self.sock = parent
        self._lock = threading.Lock()
        if self.sock.recv(1) != b"R":
            raise RuntimeError("the judges' fork server did not start")

    def start(self, task: dict) -> tuple[int, int]:
        """Fork a judge for ``task``: (pid, fd to read its JSON lines from)."""
        data = json.dumps(task).encode()
        with self._lock:
            self.sock.sendall(_LEN.pack(len(data)) + data)
            msg, fds, _, _ = socket.recv_fds(self.sock, _LEN.size, 1)
        if len(msg) != _LEN.size or len(fds) != 1:
            raise RuntimeError("the judges' fork server stopped")
        return _LEN.unpack(msg)[0], fds[0]

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> None:
    """Serve on the socket ``argv[0]`` after importing the modules ``argv[1:]``."""
    serve(socket.socket(fileno=int(argv[0])), argv[1:])
