"""How values cross between the judge and the sandbox: JSON with one-key tags, and raw blobs.

::

    None, bool, int, float (NaN/inf allowed), str, list    as JSON
    {"T": [...]} tuple   {"D": [[k, v], ...]} dict   {"S": [...]} torch.Size   {"set": [...]}
    {"tensor": {"dtype", "shape", "blob", "grad", "param"}, "ref": k}    {"ndarray": {...}}
    {"np": {"dtype", "v"}} numpy scalar   {"dtype": "float32"}   {"device": "cpu"}   {"complex": [re, im]}
    {"module": {"cls", "training", "attrs", "params", "buffers", "children"}, "ref": k}
    {"ref": k} the k-th tensor or module of this message again (aliasing, shared weights)
    {"obj": "torch.nn.functional:gelu"}  a class or function of torch / dat_edu, by name
    {"handle": h, "module": bool}  a callable that stays on the sender's side (calls come back)
    {"own": h}  the receiver's own handle h, sent back to it

Modules cross by structure (class, plain attributes, parameters, buffers, children) and only when
every class comes from ``torch`` or ``dat_edu`` (not ``dat_edu.course``); they are rebuilt with
``cls.__new__`` and ``nn.Module.__init__``, so no constructor runs. Decoding checks every size,
dtype and class against caps and allow-lists and raises :class:`~dat_edu.course.wire.WireError`
on anything else; a notebook may name only module classes and pure functions.
"""
from __future__ import annotations

import importlib
import math
import sys
import types
from typing import Any, Callable

from dat_edu.course.wire import MAX_DEPTH, WireError

MAX_NODES = 200_000  # values in one frame
MAX_STR = 4 << 20  # characters in one string
DTYPES = (
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "uint8", "int8", "int16", "int32", "int64", "bool",
)
NP_DTYPES = ("float16", "float32", "float64", "complex64", "complex128", "uint8", "uint16", "uint32",
             "uint64", "int8", "int16", "int32", "int64", "bool")
ALLOWED_ROOTS = ("torch", "dat_edu", "einops")  # where classes and functions crossing by name come from
_DENIED_ROOTS = ("dat_edu.course",)


class Unsendable(Exception):
    """A value that has no wire form (the message names its type)."""


class Handles:
    """Callables that stay on this side of the boundary, numbered from 1 (the same object, the same number)."""

    def __init__(self):
        self.objects: dict[int, Any] = {}
        self._numbers: dict[int, int] = {}

    def number(self, obj: Any) -> int:
        h = self._numbers.get(id(obj))
        if h is None:
            h = self._numbers[id(obj)] = len(self.objects) + 1
            self.objects[h] = obj
        return h


# ---------------------------------------------------------------- names ----------

def dotted_name(obj: Any) -> str | None:
    """``module.qualname`` of a class or function that can be found again by import, else None."""
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual:
        return None
    if not allowed_module(mod):
        return None
    try:
        if resolve(f"{mod}:{qual}") is obj:
            return f"{mod}:{qual}"
    except Exception:
        return None
    return None


def allowed_module(mod: str) -> bool:
    root_ok = any(mod == r or mod.startswith(r + ".") for r in ALLOWED_ROOTS)
    return root_ok and not any(mod == d or mod.startswith(d + ".") for d in _DENIED_ROOTS)


def resolve(name: str) -> Any:
    """The object named ``module:qualname`` (allow-listed modules only)."""
    if not isinstance(name, str) or name.count(":") != 1:
        raise WireError(f"malformed object name {name!r}")
    mod, qual = name.split(":")
    if not allowed_module(mod) or not all(p.isidentifier() for p in qual.split(".")):
        raise WireError(f"object {name!r} is not from torch or dat_edu")
    obj: Any = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _module_internals() -> frozenset:
    import torch

    return frozenset(vars(torch.nn.Module())) | {"training"}


# ---------------------------------------------------------------- encode ---------

class Encoder:
    """Turn a value into JSON + blobs. ``handle`` maps a callable with no wire form to a handle id."""

    def __init__(self, handle: Callable[[Any], int] | None = None, own: Callable[[Any], int | None] | None = None):
        self.blobs: list = []
        self.objects: list = []  # tensors and modules in reference order (for copy-back)
        self._memo: dict[int, int] = {}
        self._handle = handle
        self._own = own
        self._nodes = 0

    def encode(self, v: Any, depth: int = 0) -> Any:
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > MAX_NODES:
            raise Unsendable("a value nested too deeply or too large")
        if v is None or type(v) in (bool, str):
            if type(v) is str and len(v) > MAX_STR:
                raise Unsendable("a string longer than 4 million characters")
            return v
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            try:
                return int(v)
            except Exception:
                raise Unsendable(f"an int subclass ({type(v).__name__}) whose value cannot be read") from None
        if isinstance(v, float):
            return float(v)
        if isinstance(v, str):
            return self.encode(str.__str__(v), depth)
        if isinstance(v, complex):
            return {"complex": [v.real, v.imag]}
        if self._own is not None:
            h = self._own(v)
            if h is not None:
                return {"own": h}
        mod = type(v).__module__ or ""
        if mod.startswith("torch") or "torch" in sys.modules and _is_torch(v):
            node = self._torch(v, depth)
            if node is not None:
                return node
        if mod.startswith("numpy"):
            return self._numpy(v)
        if isinstance(v, list):
            return [self.encode(x, depth + 1) for x in v]
        if isinstance(v, tuple):
            return {"T": [self.encode(x, depth + 1) for x in tuple.__iter__(v)]}
        if isinstance(v, dict):
            return {"D": [[self.encode(k, depth + 1), self.encode(x, depth + 1)] for k, x in dict.items(v)]}
        if isinstance(v, (set, frozenset)):
            return {"set": [self.encode(x, depth + 1) for x in v]}
        if isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType)):
            name = dotted_name(v)
            if name is not None:
                return {"obj": name}
        if callable(v) and self._handle is not None:
            return {"handle": self._handle(v), "module": _is_module(v)}
        raise Unsendable(f"a {type(v).__module__}.{type(v).__qualname__} object")

    def _ref(self, v: Any) -> int | None:
        return self._memo.get(id(v))

    def _remember(self, v: Any) -> int:
        k = len(self.objects)
        self._memo[id(v)] = k
        self.objects.append(v)
        return k

    def _torch(self, v: Any, depth: int) -> Any:
        import torch

        if isinstance(v, torch.Tensor):
            k = self._ref(v)
            if k is not None:
                return {"ref": k}
            return {"tensor": self.tensor_node(v), "ref": self._remember(v)}
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).removeprefix("torch.")}
        if isinstance(v, torch.device):
            return {"device": str(v)}
        if isinstance(v, torch.Size):
            return {"S": [int(s) for s in v]}
        if isinstance(v, torch.nn.Module):
            return self._module(v, depth)
        return None

    def tensor_node(self, v: Any) -> dict:
        import torch

        dtype = str(v.dtype).removeprefix("torch.")
        if dtype not in DTYPES or v.layout != torch.strided or v.is_quantized:
            raise Unsendable(f"a tensor of dtype {dtype} / layout {v.layout}")
        node = {"dtype": dtype, "shape": [int(s) for s in v.shape], "grad": bool(v.requires_grad),
                "param": isinstance(v, torch.nn.Parameter)}
        if v.device.type == "meta":  # shapes only (a model built with torch.device("meta"))
            return {**node, "meta": True}
        t = torch.Tensor.detach(v).cpu().contiguous()
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        self.blobs.append(t.numpy().tobytes() if t.numel() else b"")
        return {**node, "blob": len(self.blobs) - 1}

    def _module(self, m: Any, depth: int) -> Any:
        k = self._ref(m)
        if k is not None:
            return {"ref": k}
        name = dotted_name(type(m))
        if name is None:
            return None  # the caller decides: a handle or unsendable
        internals = _module_internals()
        node = {"cls": name, "training": bool(m.training)}
        ref = self._remember(m)
        try:
            node["attrs"] = [[a, self._plain(x, depth + 1)] for a, x in vars(m).items() if a not in internals]
            node["params"] = [[a, None if p is None else self.encode(p, depth + 1)] for a, p in m._parameters.items()]
            persistent = set(m._buffers) - set(m._non_persistent_buffers_set)
            node["buffers"] = [[a, None if b is None else self.encode(b, depth + 1), a in persistent]
                               for a, b in m._buffers.items()]
            children = []
            for a, c in m._modules.items():
                child = None if c is None else self.encode(c, depth + 1)
                if isinstance(child, dict) and "handle" in child:
                    raise Unsendable(f"a module with a {type(c).__qualname__} layer (not from torch.nn or dat_edu)")
                children.append([a, child])
            node["children"] = children
        except Unsendable as exc:
            raise Unsendable(f"a {type(m).__qualname__} module holding {exc}") from None
        return {"module": node, "ref": ref}

    def _plain(self, v: Any, depth: int) -> Any:
        """A module attribute: plain data only (no handles)."""
        handle, self._handle = self._handle, None
        try:
            return self.encode(v, depth)
        finally:
            self._handle = handle

    def _numpy(self, v: Any) -> Any:
        import numpy as np

        if isinstance(v, np.ndarray):
            if v.dtype.name not in NP_DTYPES:
                raise Unsendable(f"a numpy array of dtype {v.dtype}")
            self.blobs.append(np.ascontiguousarray(v).tobytes())
            return {"ndarray": {"dtype": v.dtype.name, "shape": list(v.shape), "blob": len(self.blobs) - 1}}
        if isinstance(v, np.generic) and v.dtype.name in NP_DTYPES:
            return {"np": {"dtype": v.dtype.name, "v": self.encode(v.item())}}
        raise Unsendable(f"a numpy {type(v).__name__}")


def _is_torch(v: Any) -> bool:
    import torch

    return isinstance(v, (torch.Tensor, torch.nn.Module))


def _is_module(v: Any) -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and isinstance(v, torch.nn.Module))


def encode(value: Any, **kw) -> tuple[Any, list, Encoder]:
    enc = Encoder(**kw)
    return enc.encode(value), enc.blobs, enc


# ---------------------------------------------------------------- decode ---------

class Decoder:
    """Rebuild values from JSON + blobs, checking every cap and allow-list (raises WireError)."""

    def __init__(self, blobs: list, handle: Callable[[int, bool], Any] | None = None,
                 own: Callable[[int], Any] | None = None, untrusted: bool = True):
        self.blobs = blobs
        self.untrusted = untrusted
        self.objects: list = []
        self._handle = handle
        self._own = own
        self._nodes = 0

    def decode(self, node: Any, depth: int = 0) -> Any:
        try:
            return self._decode(node, depth)
        except WireError:
            raise
        except Exception as exc:  # any surprise in untrusted data is a format error
            raise WireError(f"a malformed value ({type(exc).__name__}: {exc})"[:300]) from None

    def _decode(self, node: Any, depth: int) -> Any:
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > MAX_NODES:
            raise WireError("a value nested too deeply or too large")
        if node is None or type(node) in (bool, int, float, str):
            if type(node) is str and len(node) > MAX_STR:
                raise WireError("a string that is too long")
            return node
        if type(node) is list:
            return [self._decode(x, depth + 1) for x in node]
        if type(node) is not dict or not node:
            raise WireError(f"an unknown value of type {type(node).__name__}")
        tag = next(iter(node))
        body = node[tag]
        if tag == "T":
            return tuple(self._decode(x, depth + 1) for x in _list(body))
        if tag == "D":
            out = {}
            for pair in _list(body):
                k, v = _list(pair, 2)
                out[self._decode(k, depth + 1)] = self._decode(v, depth + 1)
            return out
        if tag == "set":
            return {self._decode(x, depth + 1) for x in _list(body)}
        if tag == "complex":
            re, im = _list(body, 2)
            return complex(float(re), float(im))
        if tag == "ref":
            return self.objects[_int(body)]
        if tag == "tensor":
            return self._tensor(body, node)
        if tag == "module":
            return self._module(body, node, depth)
        if tag == "S":
            import torch

            return torch.Size([_int(s) for s in _list(body)])
        if tag == "dtype":
            import torch

            if body not in DTYPES:
                raise WireError(f"dtype {body!r} is not allowed")
            return getattr(torch, body)
        if tag == "device":
            import torch

            if body not in ("cpu", "meta"):
                raise WireError(f"device {body!r} is not allowed")
            return torch.device(body)
        if tag == "ndarray":
            return self._ndarray(body)
        if tag == "np":
            import numpy as np

            if not isinstance(body, dict) or body.get("dtype") not in NP_DTYPES:
                raise WireError("a malformed numpy scalar")
            return np.dtype(body["dtype"]).type(self._decode(body.get("v"), depth + 1))
        if tag == "obj":
            obj = resolve(body)
            if self.untrusted and not _safe_ref(obj):
                raise WireError(f"{body!r} may not be sent by the notebook")
            return obj
        if tag == "handle":
            if self._handle is None:
                raise WireError("a callable where none is allowed")
            return self._handle(_int(body), bool(node.get("module")))
        if tag == "own":
            if self._own is None:
                raise WireError("a handle where none is allowed")
            return self._own(_int(body))
        raise WireError(f"an unknown value tag {tag!r}")

    def _blob(self, body: dict) -> bytearray:
        blob = self.blobs[_int(body.get("blob"))]
        return blob if isinstance(blob, bytearray) else bytearray(blob)

    def _tensor(self, body: Any, node: dict) -> Any:
        import torch

        if not isinstance(body, dict) or body.get("dtype") not in DTYPES:
            raise WireError("a tensor with a malformed or disallowed dtype")
        dtype = getattr(torch, body["dtype"])
        shape = [_int(s) for s in _list(body.get("shape"))]
        if len(shape) > 32:
            raise WireError("a tensor with more than 32 dimensions")
        if body.get("meta") is True:
            return self._finish_tensor(body, node, torch.empty(shape, dtype=dtype, device="meta"))
        blob = self._blob(body)
        numel = math.prod(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel * itemsize != len(blob):
            raise WireError("a tensor whose data does not match its shape")
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            raw = torch.int16 if dtype == torch.bfloat16 else dtype
            t = torch.frombuffer(blob, dtype=raw).reshape(shape)
            if dtype == torch.bfloat16:
                t = t.view(torch.bfloat16)
        return self._finish_tensor(body, node, t)

    def _finish_tensor(self, body: dict, node: dict, t: Any) -> Any:
        import torch

        if body.get("param"):
            t = torch.nn.Parameter(t, requires_grad=bool(body.get("grad")) and (t.is_floating_point() or t.is_complex()))
        elif body.get("grad") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        self._register(node, t)
        return t

    def _register(self, node: dict, obj: Any) -> None:
        if node.get("ref") != len(self.objects):
            raise WireError("references out of order")
        self.objects.append(obj)

    def _ndarray(self, body: Any) -> Any:
        import numpy as np

        if not isinstance(body, dict) or body.get("dtype") not in NP_DTYPES:
            raise WireError("a numpy array with a disallowed dtype")
        shape = [_int(s) for s in _list(body.get("shape"))]
        dt = np.dtype(body["dtype"])
        blob = self._blob(body)
        if math.prod(shape) * dt.itemsize != len(blob):
            raise WireError("a numpy array whose data does not match its shape")
        return np.frombuffer(bytes(blob), dtype=dt).reshape(shape).copy()

    def _module(self, body: Any, node: dict, depth: int) -> Any:
        import torch

        if not isinstance(body, dict):
            raise WireError("a malformed module")
        cls = resolve(body.get("cls"))
        if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
            raise WireError(f"{body.get('cls')!r} is not a module class")
        m = cls.__new__(cls)
        torch.nn.Module.__init__(m)
        self._register(node, m)
        m.training = bool(body.get("training"))
        internals = _module_internals()
        for name, value in _pairs(body.get("attrs")):
            if name in internals or name.startswith("__"):
                raise WireError(f"module attribute {name!r} is not allowed")
            if _has_handle(value):
                raise WireError(f"module attribute {name!r} holds a callable")
            m.__dict__[name] = self._decode(value, depth + 1)
        for name, value in _pairs(body.get("params")):
            p = None if value is None else self._decode(value, depth + 1)
            if p is not None and not isinstance(p, torch.nn.Parameter):
                p = torch.nn.Parameter(p, requires_grad=p.requires_grad)
            m.register_parameter(name, p)
        for entry in _list(body.get("buffers")):
            name, value, persistent = _list(entry, 3)
            m.register_buffer(_name(name), None if value is None else self._decode(value, depth + 1), persistent=bool(persistent))
        for name, value in _pairs(body.get("children")):
            child = None if value is None else self._decode(value, depth + 1)
            if child is not None and not isinstance(child, torch.nn.Module):
                raise WireError(f"child {name!r} is not a module")
            m.add_module(name, child)
        return m


def _has_handle(node: Any) -> bool:
    if type(node) is list:
        return any(_has_handle(x) for x in node)
    if type(node) is dict:
        return "handle" in node or "own" in node or any(_has_handle(x) for x in node.values())
    return False


def _list(v: Any, n: int | None = None) -> list:
    if type(v) is not list or (n is not None and len(v) != n):
        raise WireError("a malformed list")
    return v


def _int(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise WireError("a malformed index or size")
    return v


def _name(v: Any) -> str:
    if type(v) is not str or not v.isidentifier() and not v.isdigit():
        raise WireError(f"a malformed name {v!r}")
    return v


def _pairs(v: Any) -> list[tuple[str, Any]]:
    return [(_name(a), b) for a, b in (_list(p, 2) for p in _list(v))]


_SAFE_FUNCTION_MODULES = ("torch", "torch.nn.functional", "torch._C._nn", "torch._C._VariableFunctions", "torch.functional",
                          "einops.einops")


def _safe_ref(obj: Any) -> bool:
    """What a notebook may name: module classes, and pure functions of torch.nn.functional, torch, dat_edu."""
    import torch

    if isinstance(obj, type):
        return issubclass(obj, torch.nn.Module)
    mod = getattr(obj, "__module__", None) or ""
    return mod in _SAFE_FUNCTION_MODULES or (mod.startswith("dat_edu.") and not mod.startswith("dat_edu.course"))


def decode(node: Any, blobs: list, **kw) -> tuple[Any, Decoder]:
    dec = Decoder(blobs, **kw)
    return dec.decode(node), dec


