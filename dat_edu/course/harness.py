"""The grading harness: runs one learner's notebook inside the sandbox and answers the judge.

It imports nothing of the checks and decides nothing. It executes the learner's code cells in
order in an IPython shell (magics and display work), with a soft time limit per cell and capped
output, and reports each cell's outcome. Where a check cell stands it tells the judge "part N
reached" and serves requests until the judge says "continue": look up the names the check uses,
call a learner function on the judge's inputs (with the forbidden functions raising, if the check
asks), run a backward pass through a call. Everything crosses as plain data (see
:mod:`dat_edu.course.wire`). The notebook's code can tamper with all of this: it runs in this
process. That gains it nothing: the judge, in another process, computes what is right.
"""
from __future__ import annotations

import os
import random
import resource
import signal
import sys
import time
from typing import Any

from dat_edu.course import codec, wire
from dat_edu.course.intercept import Intercept, Target, lookup


class _Capture:
    """Stand-in for sys.stdout / sys.stderr: keeps the first ``cap`` characters of a cell's text."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str, cap: int):
        self.name, self.cap = name, cap
        self.parts: list[str] = []
        self.kept = self.dropped = 0

    def write(self, text: Any) -> int:
        text = str(text)
        room = self.cap - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters not kept]\n"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class _Publisher:
    """IPython display publisher that keeps text/plain and small PNGs for the review notebook."""

    def __init__(self, harness: "Harness"):
        self.harness = harness
        self.is_publishing = False

    def publish(self, data: dict, metadata: dict | None = None, *args: Any, **kwargs: Any) -> None:
        keep = {}
        if isinstance(data, dict):
            if isinstance(data.get("text/plain"), str):
                keep["text/plain"] = data["text/plain"][:2000]
            png = data.get("image/png")
            if isinstance(png, str) and len(png) < 300_000:
                keep["image/png"] = png
        if keep and len(self.harness.displays) < 20:
            self.harness.displays.append(keep)

    def clear_output(self, wait: bool = False) -> None:
        pass


class Harness:
    def __init__(self, read_fd: int, write_fd: int):
        self.channel = wire.Channel(read_fd, write_fd, self.serve)
        self.handles = codec.Handles()
        self.grads: dict[int, tuple[list, list]] = {}
        self.originals: dict[str, tuple] = {}
        self.cell_timeout = 60.0
        self.budget = 0.0
        self.in_learner = False
        self.timed_out = False
        self.displays: list[dict] = []
        self.shell = None

    # -- time limits: SIGALRM interrupts learner code (again every half second if it is swallowed)
    def _alarm(self, signum: int, frame: Any) -> None:
        if self.in_learner:
            self.timed_out = True
            raise KeyboardInterrupt("time limit")

    def _learner(self, limit: float, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.timed_out = False
        self.in_learner = True
        signal.setitimer(signal.ITIMER_REAL, max(limit, 0.01), 0.5)
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.in_learner = False
            self.budget -= time.monotonic() - start

    # -- the notebook
    def main(self) -> None:
        signal.signal(signal.SIGALRM, self._alarm)
        self.channel.send({"op": "hello", "python": sys.version.split()[0]})
        run, _ = self.channel.recv()
        if run.get("op") != "run":
            return
        self.cell_timeout = float(run.get("cell_timeout", 60))
        self.out_cap = int(run.get("output_cap", 20_000))
        for dotted in run.get("resolve", []):
            found = lookup(dotted)
            if found is not None:
                self.originals[dotted] = found
        self.shell = _make_shell(self)
        self.stdout, self.stderr = _Capture("stdout", self.out_cap), _Capture("stderr", self.out_cap)
        for cell in run.get("cells", []):
            if cell.get("kind") == "check":
                self.serve_part(int(cell["part"]), int(cell.get("seed", 0)))
            else:
                self.channel.send(self.run_cell(cell))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.channel.send({"op": "done", "cpu": usage.ru_utime + usage.ru_stime})

    def run_cell(self, cell: dict) -> dict:
        self.displays = []
        sys.stdout, sys.stderr = self.stdout, self.stderr
        status, ename, evalue = "ok", "", ""
        try:
            result = self._learner(self.cell_timeout, self.shell.run_cell, cell.get("source", ""), store_history=True)
            err = result.error_before_exec or result.error_in_exec
        except BaseException as exc:  # an interrupt outside the cell's own code
            err = exc
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        if err is not None:
            status, ename, evalue = "error", type(err).__name__, _describe(err)
            if self.timed_out and isinstance(err, KeyboardInterrupt):
                status = "timeout"
        _close_figures()
        out = {"stdout": self.stdout.take(), "stderr": self.stderr.take()}
        return {"op": "cell", "index": cell.get("index"), "status": status, "ename": ename[:100],
                "evalue": evalue[:1000], "outputs": out, "displays": self.displays}

    def serve_part(self, part: int, seed: int) -> None:
        _seed(seed)
        self.budget = self.cell_timeout
        self.displays = []
        self.channel.send({"op": "reached", "part": part})
        while True:
            request, blobs = self.channel.recv()
            if request.get("op") == "continue":
                break
            self.channel.send(*self.serve(request, blobs))
        self.stdout.take(), self.stderr.take()
        self.grads.clear()

    # -- requests from the judge
    def serve(self, request: dict, blobs: list) -> tuple[dict, list]:
        op = request.get("op")
        try:
            if op == "names":
                return self._names(request.get("names", []))
            if op == "call":
                return self._call(request, blobs)
            if op == "backward":
                return self._backward(request, blobs)
            raise wire.WireError(f"unknown request {op!r}")
        except Exception as exc:
            return {"op": "raise", "exc": wire.exception_node(exc), "internal": True}, []

    def _encoder(self) -> codec.Encoder:
        return codec.Encoder(handle=self.handles.number)

    def _names(self, names: list) -> tuple[dict, list]:
        enc, out = self._encoder(), {}
        for name in names:
            if not isinstance(name, str) or name not in self.shell.user_ns:
                out[str(name)] = {"missing": True}
                continue
            try:
                out[name] = {"value": enc.encode(self.shell.user_ns[name])}
            except codec.Unsendable as exc:
                out[name] = {"unsendable": str(exc)}
        return {"op": "reply", "names": out}, enc.blobs

    def _callback(self, handle: int, is_module: bool) -> Any:
        harness = self

        def call(*args: Any, **kwargs: Any) -> Any:
            enc = harness._encoder()
            header = {"op": "callback", "handle": handle, "args": enc.encode(list(args)), "kwargs": enc.encode(kwargs)}
            was, harness.in_learner = harness.in_learner, False  # the judge's time is not the notebook's
            try:
                reply, blobs = harness.channel.request(header, enc.blobs)
            finally:
                harness.in_learner = was
            if reply.get("op") == "raise":
                raise wire.rebuild_exception(reply.get("exc"))
            value, _ = codec.decode(reply.get("value"), blobs, handle=harness._callback, untrusted=False)
            return value

        if not is_module:
            return call
        import torch

        class JudgeModule(torch.nn.Module):
            """A module of the check's (such as a stand-in for DropPath); calls run in the judge."""

            def forward(self, *args: Any, **kwargs: Any) -> Any:
                return call(*args, **kwargs)

        return JudgeModule()

    def _call(self, request: dict, blobs: list) -> tuple[dict, list]:
        fn = self.handles.objects.get(request.get("handle"))
        if fn is None:
            raise wire.WireError("call of an unknown handle")
        dec = codec.Decoder(blobs, handle=self._callback, own=self.handles.objects.get, untrusted=False)
        args, kwargs = dec.decode(request.get("args", [])), dec.decode(request.get("kwargs", {"D": []}))
        before = [_state(o) for o in dec.objects]
        hook = self._intercept(request.get("intercept"))
        grad = bool(request.get("grad"))
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            result = self._learner(self.budget, self._run, fn, args, kwargs, hook, grad)
            error = None
        except BaseException as exc:
            error = exc
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        enc = self._encoder()
        if error is not None:
            timeout = self.timed_out and isinstance(error, KeyboardInterrupt)
            return {"op": "raise", "exc": wire.exception_node(error), "timeout": timeout, **self._info(enc, hook)}, enc.blobs
        try:
            value = enc.encode(result)
            mutated = [[k, _mutation(enc, o, s)] for k, (o, s) in enumerate(zip(dec.objects, before)) if _changed(o, s)]
        except codec.Unsendable as exc:
            enc = self._encoder()
            return {"op": "raise", "unsendable": str(exc), **self._info(enc, hook)}, enc.blobs
        reply = {"op": "reply", "value": value, "mutated": mutated, **self._info(enc, hook)}
        inputs = [o for o in dec.objects if _requires_grad(o)]
        outputs = wire.tensors_in(result)
        if grad and inputs and outputs:
            grad_id = len(self.grads) + 1
            self.grads[grad_id] = (inputs, outputs)
            reply["grad_id"] = grad_id
        return reply, enc.blobs

    def _info(self, enc: codec.Encoder, hook: Intercept | None) -> dict:
        """What the call printed and what the interception saw (encoded last: no tensors)."""
        printed = (self.stdout.take() + self.stderr.take())[: self.out_cap]
        if hook is None:
            return {"hits": [], "calls": [], "printed": printed}
        return {"hits": list(hook.hits), "calls": enc.encode(hook.calls), "printed": printed}

    @staticmethod
    def _run(fn: Any, args: Any, kwargs: Any, hook: Intercept | None, grad: bool) -> Any:
        import contextlib

        torch = sys.modules.get("torch")
        mode = torch.set_grad_enabled(grad) if torch is not None else contextlib.nullcontext()
        with mode, (hook or contextlib.nullcontext()):
            return fn(*args, **kwargs)

    def _intercept(self, spec: Any) -> Intercept | None:
        if not spec:
            return None
        targets = []
        for label, dotted in spec.get("python", []):
            found = self.originals.get(dotted) or lookup(dotted)
            if found is not None:
                targets.append(Target(str(label), *found))
        return Intercept(targets, dict(spec.get("aten", {})), spec.get("mode", "forbid"), [self.shell.user_ns])

    def _backward(self, request: dict, blobs: list) -> tuple[dict, list]:
        import torch

        inputs, outputs = self.grads[request.get("grad_id")]
        grads, _ = codec.decode(request.get("grads"), blobs, untrusted=False)
        pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
        try:
            if not pairs:
                raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
            got = self._learner(self.budget, torch.autograd.grad, [o for o, _ in pairs], inputs,
                                [g for _, g in pairs], allow_unused=True)
        except BaseException as exc:
            return {"op": "raise", "exc": wire.exception_node(exc)}, []
        enc = codec.Encoder()
        return {"op": "reply", "value": enc.encode(list(got))}, enc.blobs


def _state(obj: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return ("tensor", obj._version, tuple(obj.shape), obj.dtype)
    return ("module", bool(getattr(obj, "training", False)))


def _changed(obj: Any, state: Any) -> bool:
    return _state(obj) != state


def _mutation(enc: codec.Encoder, obj: Any, state: Any) -> Any:
    if state[0] == "tensor":
        return enc.encode(obj)
    return {"training": bool(obj.training)}


def _requires_grad(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor) and obj.requires_grad


def _describe(err: BaseException) -> str:
    if isinstance(err, SyntaxError):
        return f"{err.msg} (line {err.lineno})"
    return " ".join(str(err).split())


def _seed(seed: int) -> None:
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % (2**32))


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:
            pass


def _make_shell(harness: Harness) -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = _Publisher(harness)
    for p in ("", "."):  # the working folder never shadows an installed package
        while p in sys.path:
            sys.path.remove(p)
    return shell


def main(argv: list[str]) -> None:
    """Serve the judge on file descriptors ``argv[0]`` (read) and ``argv[1]`` (write)."""
    Harness(int(argv[0]), int(argv[1])).main()
    os._exit(0)  # no waiting for threads the notebook left running
