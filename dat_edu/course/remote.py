"""The judge's side of the boundary: stand-ins for the learner's functions, callbacks for the check's.

A check cell runs in the judge with each name it ``uses`` bound to what the learner's notebook
holds at that point: plain data is copied over; a function, class or other callable becomes a
:class:`LearnerFunction` whose calls run in the sandbox. Arguments go over as data (tensors by
value, ``torch.nn``/``dat_edu`` modules by structure); callables of the check (a ``Halve`` module
standing in for DropPath) stay here and are called back. In-place changes the learner's code makes
to argument tensors and module flags are copied back; gradients flow back through a call.
"""
from __future__ import annotations

import time
from typing import Any

from dat_edu.course import codec, wire

GRACE_S = 5.0  # beyond the notebook's own time limit, how long the judge waits for an answer


class GraderInterference(BaseException):
    """The notebook broke the protocol (or a cap): grading of this notebook stops."""


class SandboxGone(BaseException):
    """The notebook's process ended or stopped answering: grading of this notebook stops."""


class CallTimeout(BaseException):
    """A learner call ran past the part's time limit and was interrupted (the sandbox is fine)."""


class Session:
    """One part's conversation with the sandbox."""

    def __init__(self, read_fd: int, write_fd: int, limit_s: float, deadline: float):
        self.limit_s, self.notebook_deadline = limit_s, deadline
        self.channel = wire.Channel(read_fd, write_fd, self.serve, self._deadline)
        self.callbacks = codec.Handles()
        self.flags: list[str] = []
        self.printed: list[str] = []  # what the learner's code printed during this part's calls
        self.source_names: dict[str, frozenset | None] = {}

    def _deadline(self) -> float:
        return min(time.monotonic() + self.limit_s + GRACE_S, self.notebook_deadline)

    def request(self, header: dict, blobs: list = ()) -> tuple[dict, list]:
        try:
            return self.channel.request(header, blobs)
        except wire.WireError as exc:
            raise GraderInterference(f"the notebook interfered with the grader ({exc})") from None
        except TimeoutError:
            if time.monotonic() >= self.notebook_deadline:
                raise SandboxGone("the notebook time limit was reached") from None
            raise SandboxGone(f"the notebook stopped answering (a call ran past {self.limit_s:g} s even after "
                              "being interrupted)") from None
        except (EOFError, OSError):
            raise SandboxGone("the notebook's Python process ended during the check (a crash, running out of "
                              "memory, os._exit or a signal)") from None

    def send(self, header: dict) -> None:
        try:
            self.channel.send(header)
        except (OSError, TimeoutError):
            pass

    # -- handles both ways
    def own_handle(self, obj: Any) -> int | None:
        if isinstance(obj, LearnerFunction) and obj._session is self:
            return obj._handle
        return None

    def learner_object(self, handle: int, is_module: bool) -> "LearnerFunction":
        return LearnerFunction(self, handle, "the learner's function")

    def _callback(self, handle: int) -> Any:
        if handle not in self.callbacks.objects:
            raise wire.WireError("a callback that does not exist")
        return self.callbacks.objects[handle]

    def encoder(self) -> codec.Encoder:
        return codec.Encoder(handle=self.callbacks.number, own=self.own_handle)

    def decoder(self, blobs: list) -> codec.Decoder:
        return codec.Decoder(blobs, handle=self.learner_object, own=self._callback, untrusted=True)

    def serve(self, request: dict, blobs: list) -> tuple[dict, list]:
        """A learner function calls one of the check's callables."""
        if request.get("op") != "callback":
            raise wire.WireError(f"unexpected message {str(request.get('op'))[:40]!r}")
        fn = self._callback(request.get("handle"))
        dec = self.decoder(blobs)
        args, kwargs = dec.decode(request.get("args")), dec.decode(request.get("kwargs"))
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise wire.WireError("malformed callback arguments")
        try:
            result = fn(*args, **kwargs)
            enc = self.encoder()
            return {"op": "reply", "value": enc.encode(result)}, enc.blobs
        except (GraderInterference, SandboxGone, CallTimeout):
            raise
        except Exception as exc:
            return {"op": "raise", "exc": wire.exception_node(exc)}, []

    # -- the names a check uses
    def names(self, names: list[str]) -> dict[str, tuple[str, Any]]:
        """name -> ("missing", None) | ("value", value) | ("unsendable", what)."""
        reply, blobs = self.request({"op": "names", "names": list(names)})
        table = reply.get("names") if reply.get("op") == "reply" else None
        if not isinstance(table, dict):
            raise GraderInterference("the notebook interfered with the grader (a malformed answer)")
        dec, out = self.decoder(blobs), {}
        for name in names:
            entry = table.get(name)
            if not isinstance(entry, dict) or not entry:
                raise GraderInterference("the notebook interfered with the grader (a malformed answer)")
            if entry.get("missing"):
                out[name] = ("missing", None)
            elif "unsendable" in entry:
                out[name] = ("unsendable", str(entry["unsendable"])[:200])
            else:
                value = self._decode(dec, entry.get("value"))
                if isinstance(value, LearnerFunction):
                    value._rename(name, self.source_names.get(name))
                out[name] = ("value", value)
        return out

    def _decode(self, dec: codec.Decoder, node: Any) -> Any:
        try:
            return dec.decode(node)
        except wire.WireError as exc:
            raise GraderInterference(f"the notebook interfered with the grader ({exc})") from None


class LearnerFunction:
    """Stands for a callable in the learner's notebook; calling it runs it in the sandbox."""

    def __init__(self, session: Session, handle: int, name: str):
        self._session, self._handle = session, handle
        self.__dict__["__name__"] = name
        self._dat_edu_source_names: frozenset | None = None

    def _rename(self, name: str, source_names: frozenset | None) -> None:
        self.__dict__["__name__"] = name
        self._dat_edu_source_names = source_names

    def __repr__(self) -> str:
        return f"<the learner's {self.__name__}>"

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise AttributeError(f"`{self.__name__}` lives in the learner's notebook: the grader can only call it "
                             f"(the check reads `.{attr}`)")

    def _dat_edu_flag(self, reason: str) -> None:
        self._session.flags.append(reason)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._dat_edu_call(args, kwargs)[0]

    def _dat_edu_call(self, args: tuple, kwargs: dict, intercept: dict | None = None) -> tuple[Any, list, list]:
        """(result, forbidden calls made, recorded calls) of one call in the sandbox."""
        import sys

        torch = sys.modules.get("torch")
        s = self._session
        enc = s.encoder()
        header = {"op": "call", "handle": self._handle, "args": enc.encode(list(args)),
                  "kwargs": enc.encode(dict(kwargs)), "intercept": intercept}
        inputs = [o for o in enc.objects if torch is not None and isinstance(o, torch.Tensor) and o.requires_grad]
        grad = bool(torch is not None and torch.is_grad_enabled() and inputs)
        header["grad"] = grad
        if not grad:
            return self._finish(*s.request(header, enc.blobs), enc)
        box = _Call(self, header, enc)
        outs = _through().apply(box, *inputs)
        value = _replace(box.value, {id(o): new for o, new in zip(box.outs, outs)})
        return value, box.hits, box.calls

    def _finish(self, reply: dict, blobs: list, enc: codec.Encoder) -> tuple[Any, list, list]:
        s = self._session
        if isinstance(reply.get("printed"), str) and reply["printed"] and sum(map(len, s.printed)) < 50_000:
            s.printed.append(reply["printed"][:20_000])
        dec = s.decoder(blobs)
        hits = [str(h)[:200] for h in reply.get("hits", [])][:100] if isinstance(reply.get("hits"), list) else []
        if reply.get("op") == "raise":
            calls = s._decode(dec, reply.get("calls", []))
            if hits:
                return None, hits, calls if isinstance(calls, list) else []
            if reply.get("timeout"):
                raise CallTimeout(f"{self.__name__} did not finish in time")
            if "unsendable" in reply:
                raise TypeError(f"`{self.__name__}` returned {str(reply['unsendable'])[:200]}, which the grader cannot "
                                "receive: return tensors, numbers, strings, tuples, lists or dicts (modules made of "
                                "torch.nn and dat_edu layers are fine)")
            raise wire.rebuild_exception(reply.get("exc"))
        value = s._decode(dec, reply.get("value"))
        mutated = reply.get("mutated", [])
        for entry in mutated if isinstance(mutated, list) else []:
            _copy_back(s, dec, enc, entry)
        calls = s._decode(dec, reply.get("calls", []))
        return value, hits, calls if isinstance(calls, list) else []


def _copy_back(s: Session, dec: codec.Decoder, enc: codec.Encoder, entry: Any) -> None:
    """Apply an in-place change the learner's code made to an argument."""
    import torch

    if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int and 0 <= entry[0] < len(enc.objects)):
        raise GraderInterference("the notebook interfered with the grader (a malformed change to an argument)")
    target, node = enc.objects[entry[0]], entry[1]
    if isinstance(target, torch.nn.Module):
        if isinstance(node, dict) and isinstance(node.get("training"), bool):
            target.train(node["training"])
        return
    new = s._decode(dec, node)
    if not isinstance(new, torch.Tensor):
        raise GraderInterference("the notebook interfered with the grader (a malformed change to an argument)")
    with torch.no_grad():
        if new.shape == target.shape and new.dtype == target.dtype:
            target.copy_(new)
        else:
            target.set_(new.detach().clone())


def _replace(value: Any, new: dict[int, Any]) -> Any:
    if id(value) in new:
        return new[id(value)]
    if isinstance(value, list):
        return [_replace(v, new) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_replace(v, new) for v in value)
    if isinstance(value, dict):
        return {k: _replace(v, new) for k, v in value.items()}
    return value


class _Call:
    """A call whose result takes part in autograd: the backward pass runs in the sandbox."""

    def __init__(self, fn: LearnerFunction, header: dict, enc: codec.Encoder):
        self.fn, self.header, self.enc = fn, header, enc
        self.value, self.outs, self.hits, self.calls, self.grad_id = None, [], [], [], None

    def run(self) -> None:
        reply, blobs = self.fn._session.request(self.header, self.enc.blobs)
        self.value, self.hits, self.calls = self.fn._finish(reply, blobs, self.enc)
        self.grad_id = reply.get("grad_id")
        self.outs = wire.tensors_in(self.value)

    def backward(self, grads: tuple, inputs: list) -> list:
        import torch

        if self.grad_id is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        s = self.fn._session
        enc = codec.Encoder()
        header = {"op": "backward", "grad_id": self.grad_id, "grads": enc.encode(list(grads))}
        reply, blobs = s.request(header, enc.blobs)
        if reply.get("op") == "raise":
            raise wire.rebuild_exception(reply.get("exc"))
        got = s._decode(s.decoder(blobs), reply.get("value"))
        if not isinstance(got, list) or len(got) != len(inputs):
            raise GraderInterference("the notebook interfered with the grader (malformed gradients)")
        out = []
        for g, x in zip(got, inputs):
            if g is not None and (not isinstance(g, torch.Tensor) or g.shape != x.shape):
                raise RuntimeError("the notebook's code returned a gradient of the wrong shape")
            out.append(None if g is None else g.to(x.dtype))
        return out


_THROUGH = None


def _through() -> Any:
    global _THROUGH
    if _THROUGH is None:
        import torch

        class Through(torch.autograd.Function):
            @staticmethod
            def forward(ctx, box: _Call, *inputs: Any) -> Any:
                box.run()
                ctx.box, ctx.n = box, len(inputs)
                ctx.inputs = inputs
                return (*[o.detach() for o in box.outs], torch.zeros(()))

            @staticmethod
            def backward(ctx, *grads: Any) -> Any:
                return (None, *ctx.box.backward(grads[:-1], list(ctx.inputs)))

        _THROUGH = Through
    return _THROUGH
