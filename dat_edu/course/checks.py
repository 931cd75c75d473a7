"""Friendly, non-revealing checks for exercise check cells.

How a notebook author writes a check cell (in ``solutions/NN_name.ipynb``)
--------------------------------------------------------------------------
A check cell is a code cell with the cell tag ``check:partN`` (N = 1, 2, ...)
and, optionally, cell metadata ``{"dat_edu": {"points": 2}}`` (default 1
point). Its body is one ``with part(N, "short name"):`` block::

    from dat_edu.course.checks import part, check, check_shape, check_close, forbid_calls

    with part(1, "bilinear weights"):
        w = bilinear_weights(torch.tensor([0.25, 0.5]))
        check_shape(w, (4,), "the weights")
        check_close(w.sum(), 1.0, "the sum of the four weights", atol=1e-6)
        check(None, bool((w >= 0).all()), "every weight must be non-negative")
        ### BEGIN HIDDEN TESTS
        check_close(w, torch.tensor([0.375, 0.125, 0.375, 0.125]), "the weights", atol=1e-6)
        ### END HIDDEN TESTS

When the block finishes, it prints exactly ``Part 1 (bilinear weights): passed``
(the only output of a check cell, so nbval can compare it). If the learner's
code still raises ``NotImplementedError`` the cell fails with
``Part 1 is not done yet: replace `raise NotImplementedError()` ...``; any
other exception from the learner's code is reported as
``Part 1 (bilinear weights): your code raised TypeError: ...`` (the original
traceback stays attached). Every failed check raises
:class:`ExerciseCheckFailed` (an ``AssertionError``) whose message starts with
``Part N (<name>):`` and names the property that fails, never the expected
values. Write your own ``message``/``what`` texts the same way: say *what* is
wrong ("the weights do not sum to 1"), not *what the answer is*.

Hidden tests (between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN
TESTS``) may only appear in check cells; the exercise shows the comment
``# (more tests run here when your notebook is graded)`` in their place. Keep
at least one visible line in the ``with`` block so the exercise still parses. The grader runs the
solution's full check cell (visible + hidden) in place of the learner's copy.

Helpers (``part=None`` means "the innermost active ``with part(...)``"):

* ``part(n, name)`` -> :class:`Part` (context manager)
* ``check(part, condition, message)``
* ``check_shape(tensor, expected, what, part=None)`` (``None`` in ``expected`` = any size)
* ``check_close(actual, expected, what, atol=1e-6, rtol=0.0, part=None)``
* ``check_not_implemented(fn, part, *args, **kwargs)`` -> ``fn(*args, **kwargs)``
* ``forbid_calls(fn, *names, args=(), kwargs=None, part=None)`` -> result of the call
  (names such as ``"F.grid_sample"``, ``"torch.nn.functional.conv2d"``)
* ``passed(part)`` prints ``Part N (<name>): passed``

This module imports neither torch nor numpy at import time (kernels start fast).
"""
from __future__ import annotations

import dis
import importlib
import re
import sys
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = [
    "ExerciseCheckFailed",
    "Part",
    "part",
    "check",
    "check_shape",
    "check_close",
    "check_not_implemented",
    "forbid_calls",
    "passed",
]

NOT_DONE = (
    "Part {n} is not done yet: replace `raise NotImplementedError()` "
    "(and the `# YOUR CODE HERE` line) with your solution, run that cell, then run this check again."
)


class ExerciseCheckFailed(AssertionError):
    """A check in an exercise failed; the message starts with ``Part N (<name>):``."""


@dataclass(frozen=True)
class Part:
    """One graded part of an exercise; use as ``with part(1, "name"):``."""

    number: int
    name: str

    def __str__(self) -> str:
        return f"Part {self.number} ({self.name})"

    def fail(self, message: str) -> ExerciseCheckFailed:
        return ExerciseCheckFailed(f"{self}: {message}")

    def __enter__(self) -> "Part":
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
        for i in range(len(_ACTIVE) - 1, -1, -1):
            if _ACTIVE[i] is self:
                del _ACTIVE[i]
                break
        if exc is None:
            passed(self)
            return False
        if isinstance(exc, ExerciseCheckFailed):
            return False  # already a friendly message
        if isinstance(exc, NotImplementedError):
            raise ExerciseCheckFailed(NOT_DONE.format(n=self.number)) from None
        if isinstance(exc, Exception):
            raise self.fail(
                f"your code raised {type(exc).__name__}: {_one_line(exc)}"
                " (see the traceback above this message)"
            ) from exc
        return False  # KeyboardInterrupt, SystemExit: let them through


_ACTIVE: list[Part] = []


def part(number: int, name: str) -> Part:
    """Create a part; ``with part(1, "bilinear weights"):`` wraps its checks."""
    if not isinstance(number, int) or number < 1:
        raise ValueError(f"part number must be an int >= 1, got {number!r}")
    return Part(number, str(name))


def _resolve(p: "Part | tuple | str | None") -> Part:
    if isinstance(p, Part):
        return p
    if isinstance(p, tuple) and len(p) == 2:
        return Part(int(p[0]), str(p[1]))
    if isinstance(p, str):
        m = re.fullmatch(r"\s*Part\s+(\d+)\s*\((.*)\)\s*", p)
        if m:
            return Part(int(m.group(1)), m.group(2))
        raise ValueError(f"part {p!r} is not of the form 'Part N (name)'")
    if p is None:
        if _ACTIVE:
            return _ACTIVE[-1]
        raise ValueError(
            "no part given: pass part=part(N, 'name') or put the checks inside `with part(N, 'name'):`"
        )
    raise TypeError(f"part must be a Part, an (N, name) tuple or None, got {type(p).__name__}")


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def passed(p: "Part | tuple | None" = None) -> None:
    """Print the deterministic success line ``Part N (<name>): passed``."""
    print(f"{_resolve(p)}: passed")


def check(p: "Part | tuple | None", condition: Any, message: str) -> None:
    """Fail with ``Part N (<name>): <message>`` unless ``condition`` is true."""
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    resolved = _resolve(p)
    try:
        ok = bool(condition)
    except Exception as exc:  # e.g. bool() of a multi-element tensor
        raise resolved.fail(f"{message} (the check could not be evaluated: {_one_line(exc)})") from None
    if not ok:
        raise resolved.fail(message)


def _shape_of(x: Any) -> tuple | None:
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(s) for s in shape)
    except Exception:
        return None


def check_shape(tensor: Any, expected: tuple, what: str, part: "Part | tuple | None" = None) -> None:
    """Check ``tensor.shape`` against ``expected`` (``None`` entries match any size)."""
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    p = _resolve(part)
    shape = _shape_of(tensor)
    if shape is None:
        raise p.fail(f"{what} should be a tensor or array, but it is a {type(tensor).__name__}")
    expected = tuple(expected)
    shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
    if len(shape) != len(expected):
        raise p.fail(f"{what} has {len(shape)} dimensions {shape}, but should have {len(expected)} {shown}")
    bad = [i for i, (s, e) in enumerate(zip(shape, expected)) if e is not None and s != e]
    if bad:
        raise p.fail(f"{what} has shape {shape}, but should have shape {shown} (dimension {bad[0]} differs)")


def _to_numpy(x: Any):
    import numpy as np

    mod = type(x).__module__ or ""
    if mod.startswith("torch"):
        x = x.detach().cpu()
        if x.is_complex():
            return x.numpy()
        return x.double().numpy()
    return np.asarray(x, dtype=float)


def check_close(
    actual: Any,
    expected: Any,
    what: str,
    atol: float = 1e-6,
    rtol: float = 0.0,
    part: "Part | tuple | None" = None,
) -> None:
    """Check that ``actual`` matches ``expected`` elementwise within ``atol + rtol*|expected|``.

    The failure message says how many values are off and where the first one is,
    never the expected values.
    """
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    import numpy as np

    p = _resolve(part)
    try:
        a = _to_numpy(actual)
    except Exception:
        raise p.fail(f"{what} should be a number, tensor or array, but it is a {type(actual).__name__}") from None
    e = _to_numpy(expected)
    if e.ndim and a.shape != e.shape:
        raise p.fail(f"{what} has shape {tuple(a.shape)}, but should have shape {tuple(e.shape)}")
    if np.isnan(a).any():
        raise p.fail(f"{what} contains NaN (not a number) values")
    if np.isinf(a).any() and not np.array_equal(np.isinf(a), np.isinf(e) & (a == e)):
        raise p.fail(f"{what} contains infinite values")
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(a - e) <= atol + rtol * np.abs(e))
    bad &= ~((a == e) & np.isinf(e))  # equal infinities are fine
    if bad.any():
        n_bad, n = int(bad.sum()), int(bad.size)
        if a.ndim == 0:
            raise p.fail(f"{what} is not the expected value (tolerance {atol:g})")
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise p.fail(
            f"{what}: {n_bad} of {n} values are not close to the expected values "
            f"(first at index {first}, tolerance {atol:g})"
        )


def check_not_implemented(fn: Callable, part: "Part | tuple | None" = None, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)``; turn ``NotImplementedError`` into "Part N is not done yet"."""
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    p = _resolve(part)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseCheckFailed(NOT_DONE.format(n=p.number)) from None


# ---- forbid_calls -----------------------------------------------------------------

_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn", "np": "numpy"}
# Extra entry points that do the same work as a forbidden function.
_EQUIVALENTS = {
    "torch.nn.functional.grid_sample": ["torch.grid_sampler", "torch.grid_sampler_2d"],
    "torch.nn.functional.conv2d": ["torch.conv2d"],
    "torch.nn.functional.interpolate": ["torch._C._nn.upsample_bilinear2d"],
    "torch.nn.functional.scaled_dot_product_attention": [],
}


def _expand_name(name: str) -> str:
    head, _, rest = name.partition(".")
    return f"{_ALIASES[head]}.{rest}" if head in _ALIASES and rest else name


def _lookup(dotted: str) -> tuple[Any, str, Any] | None:
    """Return (owner, attribute, object) for a dotted name, or None if it does not exist."""
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


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _functions_of(fn: Any) -> list[types.FunctionType]:
    """The plain Python functions behind ``fn`` (a function, method, module or callable object)."""
    out = []
    if isinstance(fn, (types.FunctionType, types.MethodType)):
        out.append(getattr(fn, "__func__", fn))
    else:
        for attr in ("forward", "__call__"):
            f = getattr(type(fn), attr, None)
            if isinstance(f, types.FunctionType):
                out.append(f)
                break
    return out


_INHERITED = object()  # marker: the patched class inherited the attribute


def forbid_calls(
    fn: Callable,
    *names: str,
    args: tuple = (),
    kwargs: dict | None = None,
    part: "Part | tuple | None" = None,
) -> Any:
    """Prove that ``fn`` does not use the functions ``names`` (e.g. ``"F.grid_sample"``).

    1. Static: the names used in ``fn``'s bytecode (nested functions included)
       must not include the forbidden function names.
    2. Dynamic: ``fn(*args, **kwargs)`` runs with each forbidden function (and
       equivalent entry points such as ``torch.grid_sampler``, plus any global
       of ``fn`` bound to them) replaced by a recorder; any call fails the check.
    Returns the result of the call (``None`` if ``args``/``kwargs`` are not given
    and ``fn`` was not called).
    """
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    p = _resolve(part)
    if not names:
        raise ValueError("forbid_calls needs at least one name, e.g. 'F.grid_sample'")
    targets: dict[str, tuple[Any, str, Any]] = {}
    for name in names:
        full = _expand_name(name)
        for dotted in [full, *_EQUIVALENTS.get(full, [])]:
            found = _lookup(dotted)
            if found is not None:
                targets[dotted] = found
        if full not in targets:
            raise ValueError(f"forbid_calls: cannot find {name!r} (looked for {full!r})")
    pretty = {dotted: dotted for dotted in targets}

    # 1. static check on the learner's own code
    leaves = {dotted.rsplit(".", 1)[1] for dotted in targets}
    for f in _functions_of(fn):
        used = _code_names(f.__code__) & leaves
        if used:
            leaf = sorted(used)[0]
            raise p.fail(
                f"`{getattr(f, '__name__', 'your function')}` refers to `{leaf}`, which this part asks you not to use"
            )

    if not args and not kwargs:
        return None

    # 2. dynamic check: patch module attributes and globals bound to the originals
    calls: list[str] = []
    originals: dict[int, str] = {}
    for dotted, (_, _, obj) in targets.items():
        originals.setdefault(id(obj), dotted)  # F.conv2d is torch.conv2d: name it as asked

    def recorder(dotted: str) -> Callable:
        def _forbidden(*a: Any, **k: Any) -> Any:
            calls.append(dotted)
            raise ExerciseCheckFailed(f"{p}: your code called `{pretty[dotted]}`, which this part asks you not to use")

        return _forbidden

    # (namespace or owner, attr, original); original is _INHERITED when the owner (a class such as
    # torch.Tensor) did not define the attribute itself: then the patch is deleted, not copied in.
    patches: list[tuple[Any, str, Any]] = []
    try:
        for dotted, (owner, attr, obj) in targets.items():
            own = isinstance(owner, type) and attr not in vars(owner)
            patches.append((owner, attr, _INHERITED if own else obj))
            setattr(owner, attr, recorder(originals[id(obj)]))
        for f in _functions_of(fn):
            g = f.__globals__
            for key, value in list(g.items()):
                if id(value) in originals and not isinstance(value, types.ModuleType):
                    patches.append((g, key, value))
                    g[key] = recorder(originals[id(value)])
        try:
            result = fn(*args, **(kwargs or {}))
        except ExerciseCheckFailed:
            if calls:
                raise p.fail(f"your code called `{pretty[calls[0]]}`, which this part asks you not to use") from None
            raise
    finally:
        for owner, attr, obj in reversed(patches):
            if isinstance(owner, dict):
                owner[attr] = obj
            elif obj is _INHERITED:
                delattr(owner, attr)
            else:
                setattr(owner, attr, obj)
    if calls:  # the learner's code caught our exception
        raise p.fail(f"your code called `{pretty[calls[0]]}`, which this part asks you not to use")
    return result
