"""Friendly, non-revealing checks for exercise check cells.

How a notebook author writes a check cell (in ``solutions/NN_name.ipynb``)
--------------------------------------------------------------------------
A check cell is a code cell with the cell tag ``check:partN`` (N = 1, 2, ...) and cell metadata
``{"dat_edu": {"points": 2, "uses": ["bilinear_weights"]}}`` (points default to 1; ``uses`` lists
the learner's names the check reads). Its body is one ``with part(N, "short name"):`` block::

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
at least one visible line in the ``with`` block so the exercise still parses. When a notebook is
graded, the solution's full check cell (visible + hidden) runs in the grader's judge process and the
learner's functions run in a sandbox: what a check may do with them is in the docstring of
:mod:`dat_edu.course.exercises` ("How a check cell is graded").

Helpers (``part=None`` means "the innermost active ``with part(...)``"):

* ``part(n, name)`` -> :class:`Part` (context manager)
* ``check(part, condition, message)``
* ``check_shape(tensor, expected, what, part=None)`` (``None`` in ``expected`` = any size)
* ``check_close(actual, expected, what, atol=1e-6, rtol=0.0, part=None)``
* ``check_not_implemented(fn, part, *args, **kwargs)`` -> ``fn(*args, **kwargs)``
* ``forbid_calls(fn, *names, args=(), kwargs=None, part=None)`` -> result of the call
  (names such as ``"F.grid_sample"``, ``"torch.nn.functional.conv2d"``)
* ``record_calls(fn, *names, args=(), kwargs=None, part=None)`` -> ``(result, calls)``, one dict of
  arguments per call (``"F.conv2d"``: the ``aten::convolution`` arguments, ``groups`` included)
* ``passed(part)`` prints ``Part N (<name>): passed``

This module imports neither torch nor numpy at import time (kernels start fast).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "ExerciseCheckFailed",
    "Part",
    "part",
    "check",
    "check_shape",
    "check_close",
    "check_not_implemented",
    "forbid_calls",
    "record_calls",
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
                f"your code raised {type(exc).__name__}: {one_line(exc)}"
                " (see the traceback above this message)"
            ) from exc
        return False  # KeyboardInterrupt, SystemExit: let them through


_ACTIVE: list[Part] = []


def part(number: int, name: str) -> Part:
    """Create a part; ``with part(1, "bilinear weights"):`` wraps its checks."""
    if not isinstance(number, int) or number < 1:
        raise ValueError(f"part number must be an int >= 1, got {number!r}")
    return Part(number, str(name))


def resolve_part(p: "Part | tuple | str | None") -> Part:
    """The part a helper reports to: a Part, an (N, name) tuple, "Part N (name)", or None for the
    innermost active ``with part(...)``."""
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


def one_line(text: object, limit: int = 200) -> str:
    """``text`` (an exception or any object) on one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def passed(p: "Part | tuple | None" = None) -> None:
    """Print the deterministic success line ``Part N (<name>): passed``."""
    print(f"{resolve_part(p)}: passed")


def check(p: "Part | tuple | None", condition: Any, message: str) -> None:
    """Fail with ``Part N (<name>): <message>`` unless ``condition`` is true."""
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    resolved = resolve_part(p)
    try:
        ok = bool(condition)
    except Exception as exc:  # e.g. bool() of a multi-element tensor
        raise resolved.fail(f"{message} (the check could not be evaluated: {one_line(exc)})") from None
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
    p = resolve_part(part)
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

    p = resolve_part(part)
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
    p = resolve_part(part)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseCheckFailed(NOT_DONE.format(n=p.number)) from None


# forbid_calls and record_calls live in dat_edu.course.forbid (they need the interception machinery).
from dat_edu.course.forbid import forbid_calls, record_calls  # noqa: E402
