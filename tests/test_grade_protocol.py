"""The pieces under the grader: the wire format (in-process), the sandbox and the harness (a real
sandbox driven directly through :class:`dat_edu.course.remote.Session`, no judge)."""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dat_edu.course import codec, remote, sandbox, wire

ROOT = Path(__file__).resolve().parents[1]


# ---- the wire format ----------------------------------------------------------------------------

def roundtrip(value, **kw):
    node, blobs, _ = codec.encode(value)
    frame = json.loads(json.dumps(node))  # what crosses is JSON
    return codec.decode(frame, [bytearray(b) for b in blobs], **kw)[0]


def test_plain_values_keep_their_types():
    value = [None, True, 3, 2.5, float("inf"), "é", (1, (2,)), {"a": [1], 2: "b", (1, 2): None}, {1, 2}, 1 + 2j,
             torch.Size([2, 3]), torch.float64, torch.device("cpu"), np.int64(7), np.float32(0.5)]
    back = roundtrip(value)
    assert back == value and [type(x) for x in back] == [type(x) for x in value]
    assert math.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.uint8,
                                   torch.bool, torch.complex64])
def test_tensors(dtype):
    t = (torch.randn(3, 4) * 10).to(dtype)
    back = roundtrip(t[:, 1:])  # a non-contiguous view
    assert back.dtype == dtype and torch.equal(back, t[:, 1:])
    p = roundtrip(torch.nn.Parameter(torch.ones(2)))
    assert isinstance(p, torch.nn.Parameter) and p.requires_grad
    assert roundtrip(torch.empty(0, 3)).shape == (0, 3)
    meta = roundtrip(torch.nn.Linear(1000, 1000, device="meta"))
    assert meta.weight.is_meta and meta.weight.shape == (1000, 1000)  # shapes only
    a = torch.ones(2)
    x, y = roundtrip([a, a])
    assert x is y  # aliasing survives


def test_modules_by_structure():
    from dat_edu.deformable import DeformableAttention

    m = DeformableAttention(24, 4, 2, (6, 10)).eval()
    shared = torch.nn.Linear(3, 3)
    seq = torch.nn.Sequential(shared, torch.nn.GELU(), shared)
    back, seq2 = roundtrip([m, seq])
    x = torch.randn(1, 24, 6, 10)
    assert type(back) is DeformableAttention and not back.training and torch.equal(back(x), m(x))
    assert seq2[0] is seq2[2] and torch.equal(seq2(torch.ones(1, 3)), seq(torch.ones(1, 3)))


def test_what_has_no_wire_form():
    class Mine(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(codec.Unsendable):
        codec.encode(object())
    with pytest.raises(codec.Unsendable, match="not from torch.nn or dat_edu"):
        codec.encode(torch.nn.Sequential(Mine()), handle=lambda obj: 1)
    assert codec.encode(Mine(), handle=lambda obj: 7)[0] == {"handle": 7, "module": True}  # it stays where it is


@pytest.mark.parametrize("node, blobs, why", [
    ({"obj": "os:system"}, [], "not from torch or dat_edu"),
    ({"obj": "dat_edu.course.grade:main"}, [], "not from torch or dat_edu"),
    ({"obj": "torch.serialization:load"}, [], "may not be sent"),
    ({"module": {"cls": "builtins:dict"}, "ref": 0}, [], "not from torch or dat_edu"),
    ({"tensor": {"dtype": "float32", "shape": [1000, 1000], "blob": 0}, "ref": 0}, [b"1234"], "does not match"),
    ({"tensor": {"dtype": "object", "shape": [1], "blob": 0}, "ref": 0}, [b"1234"], "dtype"),
    ({"module": {"cls": "torch.nn.modules.linear:Identity", "training": True, "attrs": [["forward", {"handle": 1}]],
                 "params": [], "buffers": [], "children": []}, "ref": 0}, [], "holds a callable"),
    ({"handle": 3}, [], "where none is allowed"),
    ({"nope": 1}, [], "unknown value tag"),
    ({"T": [json.loads("[" * 60 + "1" + "]" * 60)]}, [], "nested"),
])
def test_decoding_untrusted_data_checks_everything(node, blobs, why):
    with pytest.raises(wire.WireError, match=why):
        codec.decode(node, [bytearray(b) for b in blobs], untrusted=True)


def test_frames_are_capped_and_checked():
    r, w = os.pipe()
    os.write(w, (2**40).to_bytes(8, "big") + (10).to_bytes(4, "big"))
    with pytest.raises(wire.WireError, match="larger than allowed"):
        wire.read_frame(r, time.monotonic() + 5)
    wire.write_frame(w, {"op": "x", "n": 1}, [b"abc"])
    assert wire.read_frame(r, time.monotonic() + 5) == ({"op": "x", "n": 1}, [bytearray(b"abc")])
    os.write(w, (5).to_bytes(8, "big") + (5).to_bytes(4, "big") + b"[1, 2")
    with pytest.raises(wire.WireError, match="not valid JSON"):
        wire.read_frame(r, time.monotonic() + 5)
    with pytest.raises(TimeoutError):
        wire.read_frame(r, time.monotonic() + 0.2)
    os.close(w)
    with pytest.raises(EOFError):
        wire.read_frame(r, time.monotonic() + 5)


def test_exceptions_cross_as_builtins_or_by_name():
    e = wire.rebuild_exception(wire.exception_node(ValueError("bad  letter\n X")))
    assert type(e) is ValueError and str(e) == "bad letter X"
    class EinopsError(RuntimeError):
        pass

    e = wire.rebuild_exception(wire.exception_node(EinopsError("bad pattern")))
    assert type(e).__name__ == "EinopsError" and isinstance(e, RuntimeError) and str(e) == "bad pattern"
    assert type(wire.rebuild_exception({"type": "x y", "bases": ["os.system"], "msg": "m"})).__name__ == "LearnerError"


def test_the_harness_imports_nothing_of_the_grading():
    code = "import sys, dat_edu.course.harness; print(sorted(m for m in sys.modules if m.startswith('dat_edu')))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["dat_edu", "dat_edu.course", "dat_edu.course.codec", "dat_edu.course.harness",
                         "dat_edu.course.intercept", "dat_edu.course.wire"]


# ---- a real sandbox, driven directly --------------------------------------------------------------

class Sandboxed:
    """A harness in a sandbox running ``cells``; ``session()`` serves the check position that follows."""

    def __init__(self, cells: list[str], cell_timeout: float = 10, sandboxed: bool = True):
        to_sandbox, self.w = os.pipe()
        self.r, from_sandbox = os.pipe()
        self.proc = sandbox.start(to_sandbox, from_sandbox, sandbox.Limits(memory_mb=2048, file_mb=16), sandboxed)
        os.close(to_sandbox)
        os.close(from_sandbox)
        self.deadline = time.monotonic() + 120
        assert wire.read_frame(self.r, self.deadline)[0]["op"] == "hello"
        run = [{"kind": "code", "index": i, "source": s} for i, s in enumerate(cells)]
        run.append({"kind": "check", "index": len(cells), "part": 1, "seed": 0})
        wire.write_frame(self.w, {"op": "run", "cells": run, "cell_timeout": cell_timeout,
                                  "resolve": ["torch.nn.functional.grid_sample"]})
        self.cells = [wire.read_frame(self.r, self.deadline)[0] for _ in cells]
        assert wire.read_frame(self.r, self.deadline)[0] == {"op": "reached", "part": 1}
        self.session = remote.Session(self.r, self.w, cell_timeout, self.deadline)

    def close(self) -> None:
        self.session.send({"op": "continue"})
        try:
            self.proc.wait(10)
        finally:
            self.proc.kill()
            os.close(self.r)
            os.close(self.w)

    def __enter__(self) -> "Sandboxed":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PROBE = """
import os, socket, sys, threading
probe = {"uid": os.getuid(), "cwd": os.getcwd(), "path": sys.path, "env": dict(os.environ),
         "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
         "repository": os.path.exists(REPO + "/solutions") or os.path.exists(REPO + "/tests"),
         "interfaces": [name for _, name in socket.if_nameindex()]}
def attempt(fn):
    try:
        fn()
        return "allowed"
    except BaseException as exc:
        return type(exc).__name__
probe["write library"] = attempt(lambda: open(LIBRARY + "/course/extra.py", "w"))
probe["write environment"] = attempt(lambda: open(sys.prefix + "/extra.txt", "w"))
probe["tmp"] = sorted(os.listdir("/tmp")), os.listdir("/tmp/work")
probe["ipc"] = os.readlink("/proc/self/ns/ipc")
import resource
probe["limits"] = {r: resource.getrlimit(getattr(resource, "RLIMIT_" + r))[0] for r in ("AS", "CPU", "FSIZE", "NOFILE", "CORE")}
probe["connect"] = attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
probe["fork"] = attempt(os.fork)
probe["thread"] = attempt(lambda: threading.Thread(target=print).start())
probe["big file"] = attempt(lambda: open("/tmp/work/big", "wb").write(b"x" * (20 << 20)))
probe["memory"] = attempt(lambda: bytearray(3 << 30))
import torch
torch.set_num_threads(2)
probe["torch threads"] = attempt(lambda: torch.ones(1000, 1000) @ torch.ones(1000, 1000))
"""


def test_what_the_sandbox_sees_and_may_do():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    os.environ["DAT_EDU_PROBE_CANARY"] = "secret"
    try:
        setup = f"REPO = {str(ROOT)!r}\nLIBRARY = {str(ROOT / 'dat_edu')!r}\nPORT = {srv.getsockname()[1]}"
        with Sandboxed([setup, PROBE]) as box:
            assert [c["status"] for c in box.cells] == ["ok", "ok"], box.cells
            kind, probe = box.session.names(["probe"])["probe"]
    finally:
        srv.close()
        os.environ.pop("DAT_EDU_PROBE_CANARY")
    assert kind == "value" and probe["uid"] == 65534 and probe["cwd"] == "/tmp/work"
    assert probe["processes"] <= 3 and probe["interfaces"] == ["lo"] and not probe["repository"]
    assert "DAT_EDU_PROBE_CANARY" not in probe["env"] and probe["env"]["HOME"] == "/tmp/home"
    assert "" not in probe["path"] and "/tmp/work" not in probe["path"]
    assert probe["write library"] == "OSError" and probe["connect"] in ("OSError", "ConnectionRefusedError")
    assert probe["fork"] == "PermissionError" and probe["thread"] == "allowed" and probe["torch threads"] == "allowed"
    assert probe["big file"] == "OSError" and probe["memory"] == "MemoryError"
    # /tmp is the sandbox's own: its two folders, and the environment's folders when it lives under /tmp
    tops = {p.split("/")[2] for p in sandbox.python_paths() if p.startswith("/tmp/")}
    assert probe["write environment"] == "OSError" and probe["tmp"] == (sorted({"home", "work"} | tops), [])
    assert probe["ipc"] != os.readlink("/proc/self/ns/ipc")  # its own ipc namespace
    assert probe["limits"] == {"AS": 2048 << 20, "CPU": sandbox.Limits().cpu_s, "FSIZE": 16 << 20, "NOFILE": 1024, "CORE": 0}


LEARNER = """
import torch
def scale_(t, k):
    t.mul_(k)            # in place: the judge's tensor must change too
    return t.sum()
def apply(f, x):
    return f(x) + 1      # f stays in the judge
def square(x):
    return x * x
def returns_mine():
    class Mine:
        pass
    return Mine()
def slow():
    while True:
        pass
def raises():
    raise KeyError("missing")
def to_eval(m):
    m.eval()
    return m.training
"""


def test_calls_copy_back_callbacks_and_gradients():
    with Sandboxed([LEARNER], cell_timeout=3) as box:
        names = box.session.names(["scale_", "apply", "square", "returns_mine", "slow", "raises", "to_eval", "nothing"])
        f = {k: v for k, (kind, v) in names.items() if kind == "value"}
        assert names["nothing"] == ("missing", None)
        t = torch.ones(3)
        assert f["scale_"](t, 2.0).item() == 6 and torch.equal(t, torch.full((3,), 2.0))
        assert f["apply"](lambda x: x * 10, 2) == 21
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        f["square"](x).sum().backward()
        assert torch.equal(x.grad, torch.tensor([2.0, 4.0]))
        with torch.no_grad():
            assert not f["square"](x).requires_grad
        m = torch.nn.Linear(2, 2)
        assert f["to_eval"](m) is False and not m.training
        with pytest.raises(TypeError, match="returned a .*Mine object, which the grader cannot receive"):
            f["returns_mine"]()
        with pytest.raises(KeyError, match="missing"):
            f["raises"]()
        with pytest.raises(remote.CallTimeout):
            f["slow"]()
        assert f["square"](3) == 9  # the sandbox is still fine after the interrupt
        with pytest.raises(AttributeError, match="can only call it"):
            f["square"].weight  # noqa: B018


def test_forbidden_functions_raise_in_the_sandbox():
    code = ("import torch, torch.nn.functional as F\nkeep = F.grid_sample\n"
            "def sneaky(x, g):\n    try:\n        return keep(x, g, align_corners=False)\n    except Exception:\n        return x\n")
    with Sandboxed([code]) as box:
        _, fn = box.session.names(["sneaky"])["sneaky"]
        spec = {"mode": "forbid", "python": [["torch.nn.functional.grid_sample"] * 2], "aten": {"aten::grid_sampler_2d": "F.grid_sample"}}
        value, hits, _ = fn._dat_edu_call((torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 2)), {}, intercept=spec)
        assert hits == ["torch.nn.functional.grid_sample"]  # caught although the exception was swallowed
        value, hits, _ = fn._dat_edu_call((torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 2)), {})
        assert hits == [] and value.shape == (1, 1, 1, 1)  # and back to normal after the call


def test_an_environment_under_tmp_stays_visible(monkeypatch):
    # a checkout and venv cloned under /tmp (as a CI runner may): the private /tmp must not hide them
    monkeypatch.setattr(sandbox, "python_paths", lambda: ["/tmp/clone/.venv", "/tmp/clone/dat_edu"])
    cmd = sandbox.bwrap_command(["python"], sandbox.Limits(), None)
    tmpfs = cmd.index("/tmp", cmd.index("--tmpfs"))
    for p in ("/tmp/clone/.venv", "/tmp/clone/dat_edu"):
        assert cmd.index(p) > tmpfs, f"{p} is bound before the private /tmp is mounted over it"
    monkeypatch.setattr(sandbox, "python_paths", lambda: ["/tmp/work/.venv"])
    with pytest.raises(sandbox.SandboxUnavailable, match="install the course somewhere else"):
        sandbox.bwrap_command(["python"], sandbox.Limits(), None)
