"""Make chosen functions raise, or record their calls, while one call runs.

This knows nothing about grading: ``checks.forbid_calls`` uses it in the learner's own kernel, and
the grading harness uses it inside the sandbox for the calls the judge makes. Three layers, so that
holding on to another reference does not help:

* a Python function, method or constructor gets its ``__code__`` swapped: every alias of that
  function object (module attribute, ``from x import y``, a closure, a default argument) runs the
  hook;
* a built-in (``torch.conv2d``, ``Tensor.softmax``) is replaced on its owner and wherever a given
  namespace binds it;
* PyTorch operators (``aten::grid_sampler_2d``) are caught by a ``TorchDispatchMode`` below every
  Python path to them (``F.grid_sample``, ``torch.ops.aten...``, ``nn.Module`` code).

Code that tampers with the mechanism itself (dispatch-mode internals, saved ``__code__`` objects,
reloaded modules) is outside what this can prove; the judge scans the source for that.
"""
from __future__ import annotations

import importlib
import inspect
import itertools
import types
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ForbiddenCall", "Intercept", "Target", "lookup"]


class ForbiddenCall(Exception):
    """Raised by a forbidden function; ``label`` names it as the check asked."""

    def __init__(self, label: str):
        super().__init__(f"`{label}` may not be used here")
        self.label = label


@dataclass
class Target:
    """One thing to intercept: ``obj`` (found as ``owner.attr``), reported as ``label``."""

    label: str
    owner: Any
    attr: str
    obj: Any


def lookup(dotted: str) -> tuple[Any, str, Any] | None:
    """(owner, attribute, object) for a dotted name such as ``torch.nn.functional.grid_sample``, or None."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:-1]:
                owner = getattr(owner, attr)
            return owner, parts[-1], getattr(owner, parts[-1])
        except AttributeError:
            return None
    return None


_KEYS = itertools.count(1)
_LIVE: dict[int, tuple["Intercept", str, Callable]] = {}  # hook key -> (session, label, original)
_INHERITED = object()


def _hit(key: int, args: tuple, kwargs: dict) -> Any:
    """Entry point of every swapped function (found by import, so no global needs injecting)."""
    session, label, original = _LIVE[key]
    return session.called(label, original, args, kwargs)


def _hook_code(key: int, n_free: int) -> types.CodeType:
    """Code of ``def f(*args, **kwargs): return _hit(key, args, kwargs)`` with ``n_free`` free variables
    (``__code__`` can only be swapped for code with as many free variables as the function's closure)."""
    names = [f"_v{i}" for i in range(n_free)]
    lines = ["def _outer():"]
    if names:
        lines.append("    " + " = ".join(names) + " = None")
    lines.append("    def _hooked(*args, **kwargs):")
    if names:
        lines.append("        " + ", ".join(names))
    lines += [
        "        import dat_edu.course.intercept as _intercept",
        f"        return _intercept._hit({key}, args, kwargs)",
        "    return _hooked",
    ]
    ns: dict = {}
    exec(compile("\n".join(lines) + "\n", "<dat_edu intercept>", "exec"), ns)
    return ns["_outer"]().__code__


def _copy_function(fn: types.FunctionType) -> types.FunctionType:
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__dict__.update(fn.__dict__)
    return copy


def _plain(v: Any) -> Any:
    """A recorded argument as plain data: tensors become their shapes."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    shape = getattr(v, "shape", None)
    if shape is not None and type(v).__module__.startswith(("torch", "numpy")):
        return tuple(int(s) for s in shape)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return repr(v)[:200]


@dataclass
class Intercept:
    """``with Intercept(targets, aten, mode):`` makes the targets raise :class:`ForbiddenCall`
    (``mode="forbid"``) or records each call in ``calls`` and lets it through (``mode="record"``).

    ``aten`` maps operator names (``"aten::grid_sampler_2d"``) to labels; ``namespaces`` are dicts
    (a notebook's globals) whose bindings of built-in targets are replaced too. ``hits`` lists the
    labels of forbidden calls, even when the caller caught the exception.
    """

    targets: list[Target] = field(default_factory=list)
    aten: dict[str, str] = field(default_factory=dict)
    mode: str = "forbid"
    namespaces: list[dict] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("forbid", "record"):
            raise ValueError(f"mode must be 'forbid' or 'record', not {self.mode!r}")
        self._undo: list[Callable[[], None]] = []
        self._mode = None

    # -- what a hooked call does
    def called(self, label: str, original: Callable, args: tuple, kwargs: dict) -> Any:
        if self.mode == "forbid":
            self.hits.append(label)
            raise ForbiddenCall(label)
        try:
            bound = inspect.signature(original).bind(*args, **kwargs)
            bound.apply_defaults()
            recorded = {k: _plain(v) for k, v in bound.arguments.items()}
        except (TypeError, ValueError):
            recorded = {"args": [_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()}}
        self.calls.append({"name": label, "args": recorded})
        return original(*args, **kwargs)

    def aten_called(self, label: str, func: Any, args: tuple, kwargs: dict) -> Any:
        if self.mode == "forbid":
            self.hits.append(label)
            raise ForbiddenCall(label)
        names = [a.name for a in func._schema.arguments]
        recorded = {n: _plain(v) for n, v in zip(names, args)}
        recorded.update({k: _plain(v) for k, v in kwargs.items()})
        self.calls.append({"name": label, "op": func._schema.name, "args": recorded})
        return func(*args, **kwargs)

    # -- installing and removing the hooks
    def _swap(self, fn: types.FunctionType, label: str, done: set) -> None:
        if id(fn) in done:
            return
        done.add(id(fn))
        key = next(_KEYS)
        original_code = fn.__code__
        _LIVE[key] = (self, label, _copy_function(fn))
        fn.__code__ = _hook_code(key, len(original_code.co_freevars))

        def undo() -> None:
            fn.__code__ = original_code
            _LIVE.pop(key, None)

        self._undo.append(undo)

    def _wrapper(self, label: str, original: Any) -> Callable:
        session = self

        def _hooked(*args: Any, **kwargs: Any) -> Any:
            return session.called(label, original, args, kwargs)

        _hooked.__name__ = getattr(original, "__name__", label.rsplit(".", 1)[-1])
        return _hooked

    def _patch(self, owner: Any, attr: str, value: Any) -> None:
        if isinstance(owner, dict):
            old = owner[attr]
            owner[attr] = value
            self._undo.append(lambda: owner.__setitem__(attr, old))
            return
        inherited = isinstance(owner, type) and attr not in vars(owner)
        old = _INHERITED if inherited else getattr(owner, attr)
        setattr(owner, attr, value)
        self._undo.append(lambda: delattr(owner, attr) if old is _INHERITED else setattr(owner, attr, old))

    def _install(self, t: Target, done: set) -> None:
        obj = t.obj
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if isinstance(obj, types.FunctionType):
            self._swap(obj, t.label, done)
        elif isinstance(obj, type):
            own = vars(obj)
            for attr in ("__init__", "__new__", "forward", "__call__"):
                f = own.get(attr)
                if isinstance(f, staticmethod):
                    f = f.__func__
                if isinstance(f, types.FunctionType):
                    self._swap(f, t.label, done)
            if not isinstance(own.get("__init__"), types.FunctionType):
                self._patch(obj, "__init__", self._wrapper(t.label, obj.__init__))
        elif id(obj) not in done:
            done.add(id(obj))
            wrapper = self._wrapper(t.label, obj)
            if t.owner is not None:
                self._patch(t.owner, t.attr, wrapper)
            for ns in self.namespaces:
                for key, value in list(ns.items()):
                    if value is obj:
                        self._patch(ns, key, wrapper)

    def __enter__(self) -> "Intercept":
        done: set = set()
        try:
            for t in self.targets:
                self._install(t, done)
            if self.aten:
                self._mode = _dispatch_mode(self)
                self._mode.__enter__()
        except BaseException:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._mode is not None:
                mode, self._mode = self._mode, None
                mode.__exit__(None, None, None)
        finally:
            self._restore()


_MODE_CLASS = None


def _dispatch_mode(session: Intercept) -> Any:
    global _MODE_CLASS
    if _MODE_CLASS is None:
        from torch.utils._python_dispatch import TorchDispatchMode

        class _OperatorHook(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls) -> bool:  # the default wraps the hook with Dynamo (a 1.5 s import)
                return False

            def __init__(self, session: Intercept):
                super().__init__()
                self.session = session

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                label = self.session.aten.get(func._schema.name)
                if label is not None:
                    return self.session.aten_called(label, func, args, kwargs or {})
                return func(*args, **(kwargs or {}))

        _MODE_CLASS = _OperatorHook
    return _MODE_CLASS(session)
