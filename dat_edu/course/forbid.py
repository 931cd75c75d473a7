"""``forbid_calls`` and ``record_calls``: checks about *how* a learner's function works.

Both take names such as ``"F.grid_sample"``, ``"nn.Conv2d"`` or
``"dat_edu.sampling.reference_grid"`` (``F``, ``nn``, ``np`` are the usual aliases). A name also
covers the other entry points and PyTorch operators listed for it in :data:`EQUIVALENTS` (the one
table; the grader sends what it resolves to into the sandbox), so ``F.grid_sample`` covers
``torch.grid_sampler`` and ``aten::grid_sampler_2d`` however they are reached.

In the learner's kernel the function runs here under :class:`dat_edu.course.intercept.Intercept`.
When the grader runs the check, ``fn`` is a stand-in for the learner's function in the sandbox:
the call (with the same interception) happens there, and the static part reads the learner's
source, which the grader parsed.
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from dat_edu.course.intercept import ForbiddenCall, Intercept, Target, lookup

if TYPE_CHECKING:
    from dat_edu.course.checks import Part

__all__ = ["forbid_calls", "record_calls", "EQUIVALENTS", "resolve_names"]

ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn", "np": "numpy"}

_SOFTMAX = (("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.special.softmax"),
            ("aten::_softmax", "aten::softmax"))
_CONV = ("aten::convolution", "aten::_convolution", "aten::conv2d", "aten::mkldnn_convolution")
_SDPA = ("aten::scaled_dot_product_attention", "aten::_scaled_dot_product_flash_attention_for_cpu",
         "aten::_scaled_dot_product_attention_math", "aten::_scaled_dot_product_flash_attention",
         "aten::_scaled_dot_product_efficient_attention")
_UPSAMPLE = tuple(f"aten::{op}" for op in (
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_bicubic2d", "upsample_trilinear3d", "_upsample_nearest_exact1d", "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d", "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa"))

# full name -> (other Python entry points doing the same work, PyTorch operators it runs)
EQUIVALENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "torch.nn.functional.grid_sample": (("torch.grid_sampler", "torch.grid_sampler_2d"),
                                        ("aten::grid_sampler_2d", "aten::grid_sampler_3d", "aten::grid_sampler")),
    "torch.nn.functional.conv2d": (("torch.conv2d",), _CONV),
    "torch.nn.functional.interpolate": (("torch._C._nn.upsample_bilinear2d",), _UPSAMPLE),
    "torch.nn.functional.softmax": _SOFTMAX,
    "torch.softmax": _SOFTMAX,
    "torch.Tensor.softmax": _SOFTMAX,
    "torch.nn.functional.scaled_dot_product_attention": ((), _SDPA),
    "torch.nn.functional.gelu": ((), ("aten::gelu",)),
    "torch.nn.functional.layer_norm": (("torch.layer_norm",), ("aten::native_layer_norm", "aten::layer_norm")),
    "torch.nn.functional.group_norm": (("torch.group_norm",), ("aten::native_group_norm", "aten::group_norm")),
}

REPLAY_LOG: list | None = None  # the judge sets a list: which part used which names (read before grading)


def expand_name(name: str) -> str:
    head, _, rest = name.partition(".")
    return f"{ALIASES[head]}.{rest}" if head in ALIASES and rest else name


@dataclass
class Plan:
    """What a list of forbidden names resolves to."""

    python: list[tuple[str, str]] = field(default_factory=list)  # (label, dotted name), first label wins
    aten: dict[str, str] = field(default_factory=dict)  # operator -> label
    leaves: set[str] = field(default_factory=set)  # last name parts, for the static check

    def wire(self, mode: str) -> dict:
        python = [] if mode == "record" and self.aten else self.python
        return {"mode": mode, "python": [list(p) for p in python], "aten": dict(self.aten)}

    def targets(self, mode: str) -> list[Target]:
        out = []
        for label, dotted in self.wire(mode)["python"]:
            owner, attr, obj = lookup(dotted)
            out.append(Target(label, owner, attr, obj))
        return out


def resolve_names(names: tuple[str, ...]) -> Plan:
    """Resolve forbidden names (and their equivalents); ValueError names one that does not exist."""
    if not names:
        raise ValueError("forbid_calls needs at least one name, e.g. 'F.grid_sample'")
    plan = Plan()
    seen: set[str] = set()
    for name in names:
        full = expand_name(name)
        if lookup(full) is None:
            raise ValueError(f"forbid_calls: cannot find {name!r} (looked for {full!r})")
        extra, ops = EQUIVALENTS.get(full, ((), ()))
        for dotted in (full, *extra):
            if dotted not in seen and lookup(dotted) is not None:
                seen.add(dotted)
                plan.python.append((dotted, dotted))
                plan.leaves.add(dotted.rsplit(".", 1)[1])
        for op in ops:
            plan.aten.setdefault(op, full)
    return plan


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _functions_of(fn: Any) -> list[types.FunctionType]:
    """The plain Python functions behind ``fn`` (a function, method or callable object)."""
    if isinstance(fn, (types.FunctionType, types.MethodType)):
        return [getattr(fn, "__func__", fn)]
    for attr in ("forward", "__call__"):
        f = getattr(type(fn), attr, None)
        if isinstance(f, types.FunctionType):
            return [f]
    return []


def _static_check(fn: Any, plan: Plan, p: Part) -> None:
    remote = getattr(fn, "_dat_edu_call", None)
    if remote is not None:
        found = [(fn.__name__, fn._dat_edu_source_names)]
    else:
        found = [(getattr(f, "__name__", "your function"), _code_names(f.__code__)) for f in _functions_of(fn)]
    for fname, used in found:
        if used is None:
            fn._dat_edu_flag(f"the source of `{fname}` was not found, so its names could not be checked")
            continue
        bad = sorted(used & plan.leaves)
        if bad:
            raise p.fail(f"`{fname}` refers to `{bad[0]}`, which this part asks you not to use")


def _run(fn: Callable, plan: Plan, mode: str, args: tuple, kwargs: dict) -> tuple[Any, list[str], list[dict]]:
    """Call ``fn`` under the plan: (result, labels of forbidden calls, recorded calls)."""
    remote = getattr(fn, "_dat_edu_call", None)
    if remote is not None:
        return remote(args, kwargs, intercept=plan.wire(mode))
    spaces = [f.__globals__ for f in _functions_of(fn)]
    hook = Intercept(plan.targets(mode), dict(plan.aten), mode, spaces)
    try:
        with hook:
            result = fn(*args, **kwargs)
    except ForbiddenCall:
        result = None
    return result, hook.hits, hook.calls


def _log(p: Part, plan: Plan, mode: str) -> None:
    if REPLAY_LOG is not None:
        REPLAY_LOG.append({"part": p.number, "mode": mode, "python": [d for _, d in plan.python]})


def forbid_calls(
    fn: Callable,
    *names: str,
    args: tuple = (),
    kwargs: dict | None = None,
    part: "Part | tuple | None" = None,
) -> Any:
    """Prove that ``fn`` does not use the functions ``names`` (e.g. ``"F.grid_sample"``).

    1. Static: the names ``fn``'s code refers to (nested functions included) must not include
       the forbidden functions' names.
    2. Dynamic: ``fn(*args, **kwargs)`` runs with every forbidden function, its equivalents and
       its PyTorch operators raising; any call fails the check, even one the code caught.
    Returns the result of the call (``None`` if ``args``/``kwargs`` are not given: then ``fn`` is
    not called).
    """
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    from dat_edu.course.checks import resolve_part  # here: checks imports this module

    p = resolve_part(part)
    plan = resolve_names(names)
    _log(p, plan, "forbid")
    _static_check(fn, plan, p)
    if not args and not kwargs:
        return None
    result, hits, _ = _run(fn, plan, "forbid", tuple(args), dict(kwargs or {}))
    if hits:
        raise p.fail(f"your code called `{hits[0]}`, which this part asks you not to use")
    return result


def record_calls(
    fn: Callable,
    *names: str,
    args: tuple = (),
    kwargs: dict | None = None,
    part: "Part | tuple | None" = None,
) -> tuple[Any, list[dict]]:
    """Call ``fn(*args, **kwargs)`` and record every call of the functions ``names``.

    Returns ``(result, calls)``; each call is ``{"name": ..., "args": {argument: value}}`` with
    tensors given as their shapes. A name that runs PyTorch operators (``"F.conv2d"``) is recorded
    at the operator, whatever path reached it (``nn.Conv2d``, ``torch.conv2d``...): the arguments
    are then the operator's (``aten::convolution``: ``input, weight, bias, stride, padding,
    dilation, transposed, output_padding, groups``). Other names are recorded at the Python function
    with its own argument names (defaults filled in).
    """
    __tracebackhide__ = True  # pytest (and IPython's debugger) hide this helper frame
    from dat_edu.course.checks import resolve_part  # here: checks imports this module

    p = resolve_part(part)
    plan = resolve_names(names)
    _log(p, plan, "record")
    result, _, calls = _run(fn, plan, "record", tuple(args), dict(kwargs or {}))
    return result, calls
